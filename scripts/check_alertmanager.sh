#!/usr/bin/env bash
# The Alertmanager example against Alertmanager's own checker: the config and
# its templates load (`amtool check-config`), and every alert of
# examples/prometheus/alerts.yml reaches the receiver that
# examples/alertmanager/routes_test.txt expects (`amtool config routes test`),
# with the severity the rule sets (an alert without a route test, or a test
# for an alert that does not exist, fails); and the templates render each
# case of examples/alertmanager/template_tests as expected; and, on a real
# Alertmanager (prometheus-alertmanager) with this config, that a rollback in
# one environment mutes that environment's rollout alerts only.
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

# Environments stay apart: on a real Alertmanager running this config, a
# rollback in staging mutes staging's rollout alert for the flag, and leaves
# production's alert for a flag of the same name active (inhibition matches
# on flag and environment; on the flag alone it would mute production too).
alertmanager_bin=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -z "$alertmanager_bin" ]; then
    echo "error: prometheus-alertmanager is not installed: the environment inhibition test needs it" >&2
    failures=$((failures + 1))
else
    work=$(mktemp -d)
    am_pid=""
    cleanup() {
        if [ -n "$am_pid" ]; then
            kill "$am_pid" 2>/dev/null || true
            wait "$am_pid" 2>/dev/null || true
        fi
        rm -rf "$work"
    }
    trap cleanup EXIT
    # The secrets' files in the test's own folder; nothing is sent anywhere
    # that answers (port 9 on loopback).
    sed -e "s#/etc/alertmanager/#$work/#g" "$config" >"$work/alertmanager.yml"
    cp -r examples/alertmanager/templates "$work/"
    echo 'http://127.0.0.1:9/slack' >"$work/slack_webhook_url"
    echo 'unused' >"$work/smtp_password"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    url="http://127.0.0.1:$port"
    "$alertmanager_bin" --config.file="$work/alertmanager.yml" --storage.path="$work/data" \
        --web.listen-address="127.0.0.1:$port" --cluster.listen-address= --log.level=warn \
        >"$work/log" 2>&1 &
    am_pid=$!
    ready=""
    for _ in $(seq 100); do
        if amtool config show --alertmanager.url="$url" >/dev/null 2>&1; then
            ready=1
            break
        fi
        sleep 0.2
    done
    if [ -z "$ready" ]; then
        echo "error: Alertmanager did not start within 20 s: $(tail -5 "$work/log")" >&2
        failures=$((failures + 1))
    else
        add() { amtool alert add --alertmanager.url="$url" severity=critical flag=new_gpt_model "$@"; }
        add alertname=FeatureFlagsGuardRolledBack environment=staging job=feature-flags-guard \
            instance=guard-staging:9181 trigger=error_rate
        add alertname=FeatureFlagRolloutErrorRate environment=staging job=bot
        add alertname=FeatureFlagRolloutErrorRate environment=production job=bot
        verdict=""
        for _ in $(seq 50); do
            # environment=state of each rollout alert, as Alertmanager holds it.
            verdict=$(amtool alert query --alertmanager.url="$url" --active --inhibited -o json \
                alertname=FeatureFlagRolloutErrorRate | python3 -c '
import json, sys
alerts = json.load(sys.stdin)
print(" ".join(sorted(a["labels"]["environment"] + "=" + a["status"]["state"] for a in alerts)))')
            [ "$verdict" = "production=active staging=suppressed" ] && break
            sleep 0.2
        done
        if [ "$verdict" = "production=active staging=suppressed" ]; then
            echo "ok: a rollback in staging mutes staging's FeatureFlagRolloutErrorRate, not production's"
        else
            echo "error: after a rollback in staging, FeatureFlagRolloutErrorRate should be production=active staging=suppressed; Alertmanager holds: $verdict" >&2
            failures=$((failures + 1))
        fi
    fi
fi

if [ "$failures" -gt 0 ]; then
    echo "$failures problem(s)" >&2
    exit 1
fi
echo "ok: ${#severity[@]} alerts, each routed as $table expects; ${#cases[@]} template tests"
