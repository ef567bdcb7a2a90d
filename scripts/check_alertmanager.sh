#!/usr/bin/env bash
# The Alertmanager example against Alertmanager's own checker: the config and
# its templates load (`amtool check-config`), and every alert of
# examples/prometheus/alerts.yml reaches the receiver that
# examples/alertmanager/routes_test.txt expects (`amtool config routes test`),
# with the severity the rule sets (an alert without a route test, or a test
# for an alert that does not exist, fails); and the templates render each
# case of examples/alertmanager/template_tests as expected.
#   bash scripts/check_alertmanager.sh
set -euo pipefail
cd "$(dirname "$0")/.."

config=examples/alertmanager/alertmanager.yml
table=examples/alertmanager/routes_test.txt
rules=examples/prometheus/alerts.yml

amtool check-config "$config"

# alert name -> severity, from the rules file (each rule's first `severity:`
# after its `- alert:` line).
declare -A severity=()
current=""
while IFS= read -r line; do
    if [[ $line =~ ^[[:space:]]*-[[:space:]]alert:[[:space:]]*([A-Za-z0-9_]+) ]]; then
        current=${BASH_REMATCH[1]}
        severity[$current]=""
    elif [[ -n $current && -z ${severity[$current]} && $line =~ ^[[:space:]]+severity:[[:space:]]*([a-z]+) ]]; then
        severity[$current]=${BASH_REMATCH[1]}
    fi
done <"$rules"
if [ ${#severity[@]} -eq 0 ]; then
    echo "error: no alert found in $rules" >&2
    exit 1
fi

failures=0
declare -A tested=()
while IFS= read -r line; do
    [[ -z $line || $line == \#* ]] && continue
    if [[ ! $line =~ ^([A-Za-z0-9_]+)(.*)[[:space:]]-\>[[:space:]]*([a-z0-9,_-]+)$ ]]; then
        echo "error: $table: cannot read: $line" >&2
        failures=$((failures + 1))
        continue
    fi
    alert=${BASH_REMATCH[1]}
    read -r -a labels <<<"${BASH_REMATCH[2]}"
    expected=${BASH_REMATCH[3]}
    if [[ ! -v severity[$alert] ]]; then
        echo "error: $table tests $alert, which $rules does not define" >&2
        failures=$((failures + 1))
        continue
    fi
    if [ -z "${severity[$alert]}" ]; then
        echo "error: $alert in $rules has no severity label" >&2
        failures=$((failures + 1))
        continue
    fi
    tested[$alert]=1
    if out=$(amtool config routes test --config.file="$config" --verify.receivers="$expected" \
        "alertname=$alert" "severity=${severity[$alert]}" "${labels[@]}" 2>&1); then
        echo "ok: $alert (severity ${severity[$alert]}) -> $expected"
    else
        echo "error: $alert (severity ${severity[$alert]}) should reach $expected; amtool: $(echo "$out" | grep -v '^Warning: --config.file' | tr '\n' ' ')" >&2
        failures=$((failures + 1))
    fi
done <"$table"

for alert in "${!severity[@]}"; do
    if [[ ! -v tested[$alert] ]]; then
        echo "error: $alert has no route test in $table" >&2
        failures=$((failures + 1))
    fi
done

# The notification text: each template_tests/NAME.json (Alertmanager's
# template data: a group of alerts as a receiver gets it) renders the title,
# the Slack colour and the text exactly as NAME.expected says.
cases=(examples/alertmanager/template_tests/*.json)
if [ ! -e "${cases[0]}" ]; then
    echo "error: no template test in examples/alertmanager/template_tests" >&2
    failures=$((failures + 1))
fi
for data in "${cases[@]}"; do
    [ -e "$data" ] || continue
    expected=${data%.json}.expected
    if ! rendered=$(amtool template render --template.glob='examples/alertmanager/templates/*.tmpl' \
        --template.data="$data" --template.text='{{ template "feature_flags.title" . }}
{{ template "feature_flags.color" . }}
{{ template "feature_flags.text" . }}' 2>&1); then
        echo "error: $data does not render: $rendered" >&2
        failures=$((failures + 1))
    elif ! difference=$(diff <(printf '%s\n' "$rendered") "$expected"); then
        echo "error: $data renders differently from $expected:" >&2
        echo "$difference" >&2
        failures=$((failures + 1))
    else
        echo "ok: $data renders as expected"
    fi
done

if [ "$failures" -gt 0 ]; then
    echo "$failures problem(s)" >&2
    exit 1
fi
echo "ok: ${#severity[@]} alerts, each routed as $table expects; ${#cases[@]} template tests"
