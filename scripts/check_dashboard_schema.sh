#!/usr/bin/env bash
# Type-checks examples/grafana/feature-flags.json against Grafana's published
# dashboard types (npm: @grafana/schema, pinned in grafana-schema/), as the
# closest check to loading it into Grafana that this project's registries
# allow: no Grafana server is packaged in them. Needs node and npm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dashboard="$here/../examples/grafana/feature-flags.json"
cd "$here/grafana-schema"
if [ ! -x node_modules/.bin/tsc ]; then
    timeout 300 npm ci --no-audit --no-fund --loglevel=error
fi

typed() { cat header.ts; cat "$1"; echo ";"; }

typed "$dashboard" > dashboard.gen.ts
timeout 120 node_modules/.bin/tsc -p .

# The check must look at the dashboard: a panel with a key Grafana's panel
# type does not have, and a variable of a type Grafana does not know, fail.
python3 - "$dashboard" > broken.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["panels"][1]["not_a_panel_key"] = 1
d["templating"]["list"][1]["type"] = "querry"
print(json.dumps(d))
PY
typed broken.json > dashboard.gen.ts
rm -f broken.json
if out=$(timeout 120 node_modules/.bin/tsc -p . 2>&1); then
    echo "error: tsc accepted a dashboard with an unknown panel key and variable type" >&2
    exit 1
fi
for expected in not_a_panel_key querry; do
    grep -q "$expected" <<<"$out" || { echo "error: tsc did not report $expected:" >&2; echo "$out" >&2; exit 1; }
done
rm -f dashboard.gen.ts
echo "ok: $(basename "$dashboard") type-checks against @grafana/schema $(node -p "require('@grafana/schema/package.json').version"); a broken copy does not"
