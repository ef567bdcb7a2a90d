#!/usr/bin/env python3
"""Check the Grafana rollout dashboard and list (or run) every query in it.

    python3 scripts/grafana_dashboard.py check   [DASHBOARD]
    python3 scripts/grafana_dashboard.py queries [DASHBOARD] [--var NAME=VALUE]...
    python3 scripts/grafana_dashboard.py prove   [DASHBOARD] --prometheus URL [--var NAME=VALUE]...

`check` validates the dashboard's structure: the current schema, a
Prometheus data source variable that every panel and query uses, the
`environment` variable that every query filters by (its All, `.*`, matches
series without the label), the `job`,
`instance` and `flag` variables (the bots) and `sync_job` and `sync_instance`
(the fleet's syncs) from label_values, the five rows in order,
a layout on Grafana's 24-column grid without overlaps, and no reference to
an undefined variable.

`queries` lists every query the dashboard would send (each panel target, each
variable's label_values, each annotation), one JSON object a line, with the
template variables expanded: to the variable's "All" regex, or to a concrete
value given with --var. Queries are read from the JSON, so a panel added
later is listed (and proved) without editing anything here.

`prove` runs every query against a live Prometheus' HTTP API, twice: with
every variable at "All", then with the --var values (which must be among
the values the variable's own label_values query returns). It also runs
every rule Prometheus has loaded (/api/v1/rules). It fails when a query
errors or returns no series, when a rule is unhealthy, or when a recording
rule's query returns no series. Alerting rules only have to evaluate: an
alert's expression is empty until it fires.

Python standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DASHBOARD = Path(__file__).resolve().parent.parent / "examples/grafana/feature-flags.json"

REQUIRED_ROWS = ("Rollout", "Health by cohort", "Feedback", "Guard", "Fleet sync")
# The syncs have their own job and instance: their targets are the servers'
# `--sync --listen` addresses, which the bots' $instance never offers.
REQUIRED_QUERY_VARIABLES = ("environment", "job", "instance", "flag", "sync_job", "sync_instance")
# Environments sharing one Prometheus stay apart: every query filters by
# $environment, whose "All" (.*) also matches series without the label, so
# a single environment needs none (and its variable may offer no value).
ENVIRONMENT = "environment"
MIN_SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_TYPES = {
    "row", "timeseries", "stat", "table", "state-timeline", "bargauge", "gauge",
    "barchart", "status-history", "text", "heatmap", "piechart",
}
GRID_COLUMNS = 24

# Grafana's global variables, at values a proof over a few minutes of 1 s
# scrapes can answer ($__rate_interval is at least 4 scrape intervals).
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# $name, ${name}, ${name:format} and the deprecated [[name]].
VARIABLE_REFERENCE = re.compile(
    r"\$\{(?P<braced>\w+)(?::\w+)?\}|\[\[(?P<bracketed>\w+)\]\]|\$(?P<plain>\w+)"
)


class DashboardError(Exception):
    """The dashboard is malformed; the message lists every problem."""


@dataclass(frozen=True)
class Query:
    """One query the dashboard sends, before variable expansion."""

    where: str  # e.g. 'panel 3 "Error share, on vs off (5m)" A'
    expr: str
    kind: str  # "panel", "variable" or "annotation"
    instant: bool = False


def load(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DashboardError(f"{path}: {error}") from error


def all_panels(dashboard: dict) -> list[dict]:
    """Every panel, including those nested in collapsed rows, in order."""
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []) if panel.get("type") == "row" else [])
    return out


def variables(dashboard: dict) -> dict[str, dict]:
    return {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}


def variable_query(variable: dict) -> str:
    query = variable.get("query")
    return query.get("query", "") if isinstance(query, dict) else (query or "")


def queries(dashboard: dict) -> list[Query]:
    """Every query in the dashboard, in the order Grafana shows them."""
    out = []
    for name, variable in variables(dashboard).items():
        if variable.get("type") == "query":
            out.append(Query(f"variable ${name}", variable_query(variable), "variable"))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        # Grafana 10+ keeps a Prometheus annotation's query in `target`;
        # older dashboards have it at the top level.
        expr = (annotation.get("target") or {}).get("expr") or annotation.get("expr")
        if expr:
            out.append(Query(f'annotation "{annotation.get("name")}"', expr, "annotation"))
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("hide"):
                continue
            where = f'panel {panel.get("id")} "{panel.get("title")}" {target.get("refId")}'
            instant = bool(target.get("instant")) and not target.get("range")
            out.append(Query(where, target.get("expr", ""), "panel", instant))
    return out


def check(dashboard: dict) -> list[str]:
    """Every structural problem of the dashboard (empty when it is fine)."""
    problems = []

    def problem(text: str) -> None:
        problems.append(text)

    for key in ("title", "uid", "panels", "templating", "schemaVersion"):
        if key not in dashboard:
            problem(f"missing top-level key {key!r}")
    version = dashboard.get("schemaVersion")
    if not isinstance(version, int) or version < MIN_SCHEMA_VERSION:
        problem(f"schemaVersion {version!r}: want an int >= {MIN_SCHEMA_VERSION} (current Grafana)")
    if dashboard.get("id") is not None:
        problem("id must be null so that importing creates a new dashboard")

    defined = variables(dashboard)
    sources = [v for v in defined.values() if v.get("type") == "datasource"]
    if not any(v.get("name") == "datasource" and v.get("query") == "prometheus" for v in sources):
        problem('no data source variable named "datasource" of type prometheus')
    for name in REQUIRED_QUERY_VARIABLES:
        variable = defined.get(name)
        if variable is None:
            problem(f"missing variable ${name}")
            continue
        if variable.get("type") != "query":
            problem(f"variable ${name} is of type {variable.get('type')!r}, want query")
        if variable.get("datasource") != DATASOURCE:
            problem(f"variable ${name} does not query ${{datasource}}")
        if not variable_query(variable).startswith("label_values("):
            problem(f"variable ${name} does not come from label_values(...)")
        if not (variable.get("includeAll") and variable.get("multi")):
            problem(f"variable ${name} should allow several values and All")

    rows = [p for p in dashboard.get("panels", []) if p.get("type") == "row"]
    titles = tuple(row.get("title") for row in rows)
    if titles != REQUIRED_ROWS:
        problem(f"rows are {list(titles)}, want {list(REQUIRED_ROWS)}")

    seen_ids = set()
    placed = []
    for panel in all_panels(dashboard):
        name = f'panel {panel.get("id")} "{panel.get("title")}"'
        if not isinstance(panel.get("id"), int) or panel["id"] in seen_ids:
            problem(f"{name}: id must be a unique int")
        seen_ids.add(panel.get("id"))
        if panel.get("type") not in PANEL_TYPES:
            problem(f"{name}: unknown panel type {panel.get('type')!r}")
        if not panel.get("title"):
            problem(f"{name}: no title")
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "xywh"):
            problem(f"{name}: gridPos needs int x, y, w, h")
            continue
        if grid["x"] < 0 or grid["y"] < 0 or grid["w"] < 1 or grid["h"] < 1 or grid["x"] + grid["w"] > GRID_COLUMNS:
            problem(f"{name}: gridPos {grid} is off the {GRID_COLUMNS}-column grid")
        for other_name, other in placed:
            if (grid["x"] < other["x"] + other["w"] and other["x"] < grid["x"] + grid["w"]
                    and grid["y"] < other["y"] + other["h"] and other["y"] < grid["y"] + grid["h"]):
                problem(f"{name} overlaps {other_name}")
        placed.append((name, grid))
        if panel.get("type") == "row":
            continue
        if panel.get("datasource") != DATASOURCE:
            problem(f"{name}: datasource is {panel.get('datasource')!r}, want {DATASOURCE}")
        targets = panel.get("targets", [])
        if not targets:
            problem(f"{name}: no queries")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            problem(f"{name}: refIds {refs} must be present and unique")
        for target in targets:
            if not target.get("expr", "").strip():
                problem(f"{name} {target.get('refId')}: empty expr")
            if target.get("datasource", DATASOURCE) != DATASOURCE:
                problem(f"{name} {target.get('refId')}: datasource is not ${{datasource}}")

    # Every panel sits in a row: below its row's header, above the next one.
    top_level = dashboard.get("panels", [])
    row_ys = [p.get("gridPos", {}).get("y", -1) for p in top_level if p.get("type") == "row"]
    for panel in top_level:
        if panel.get("type") == "row" or not row_ys:
            continue
        y = panel.get("gridPos", {}).get("y", -1)
        if y <= row_ys[0]:
            problem(f'panel {panel.get("id")} "{panel.get("title")}" is above the first row')
    for index, row in enumerate(rows):
        start = row.get("gridPos", {}).get("y", 0)
        end = row_ys[index + 1] if index + 1 < len(row_ys) else float("inf")
        inside = [p for p in top_level if p.get("type") != "row" and start < p.get("gridPos", {}).get("y", -1) < end]
        if not inside and not row.get("panels"):
            problem(f'row "{row.get("title")}" has no panels')

    for query in queries(dashboard):
        for name in referenced_variables(query.expr):
            if name not in defined and name not in BUILTINS:
                problem(f"{query.where}: undefined variable ${name}")
        own = query.where == f"variable ${ENVIRONMENT}"
        if not own and ENVIRONMENT not in referenced_variables(query.expr):
            problem(f"{query.where}: does not filter by ${ENVIRONMENT}")
    if all_value(defined.get(ENVIRONMENT, {})) != ".*":
        problem(f"variable ${ENVIRONMENT}: its All must be .* (series without the label too)")
    return problems


def referenced_variables(expr: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in VARIABLE_REFERENCE.finditer(expr)]


def all_value(variable: dict) -> str:
    """The regex Grafana sends for "All"."""
    return variable.get("allValue") or ".*"


def expand(expr: str, values: dict[str, str]) -> str:
    """expr with every variable replaced by values[name] (or a built-in)."""

    def replace(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        if name in values:
            return values[name]
        if name in BUILTINS:
            return BUILTINS[name]
        raise DashboardError(f"no value for ${name} in {expr!r}")

    return VARIABLE_REFERENCE.sub(replace, expr)


def all_values(dashboard: dict) -> dict[str, str]:
    return {name: all_value(v) for name, v in variables(dashboard).items() if v.get("type") == "query"}


def parse_vars(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise DashboardError(f"--var {pair!r}: want NAME=VALUE")
        out[name] = value
    return out


# ---- a live Prometheus --------------------------------------------------------


class Prometheus:
    """Just enough of Prometheus' HTTP API, with a timeout on every call."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, **params: str) -> object:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as reply:
                body = json.loads(reply.read(16 << 20))
        except urllib.error.HTTPError as error:
            try:
                body = json.loads(error.read(1 << 20))
            except (ValueError, OSError):
                raise DashboardError(f"{path}: HTTP {error.code}") from error
        if body.get("status") != "success":
            raise DashboardError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def instant(self, expr: str) -> list[dict]:
        return self.get("/api/v1/query", query=expr)["result"]

    def label_values(self, expr: str) -> list[str]:
        """What Grafana's label_values(selector, label) gives."""
        match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", expr, re.S)
        if match is None:
            raise DashboardError(f"not a label_values(selector, label) query: {expr!r}")
        selector, label = match.groups()
        return self.get(f"/api/v1/label/{label}/values", **{"match[]": selector})

    def rules(self) -> list[dict]:
        return [rule for group in self.get("/api/v1/rules")["groups"] for rule in group["rules"]]


def run_query(prometheus: Prometheus, query: Query, expr: str) -> int:
    """How many series (or label values) the query returns."""
    if query.kind == "variable":
        return len(prometheus.label_values(expr))
    return len(prometheus.instant(expr))


def prove(dashboard: dict, prometheus: Prometheus, concrete: dict[str, str], log=print) -> list[str]:
    """Every failure of the dashboard's queries and of Prometheus' loaded
    rules against the live Prometheus; empty when every one returned data."""
    failures = []
    everything = all_values(dashboard)
    defined = variables(dashboard)
    for name, value in concrete.items():
        variable = defined.get(name)
        if variable is None:
            failures.append(f"--var {name}: the dashboard has no such variable")
            continue
        # The concrete value must be one the variable would offer.
        offered = prometheus.label_values(expand(variable_query(variable), {**everything, **concrete}))
        if value not in offered:
            failures.append(f"${name}={value!r} is not among the values its query offers: {offered}")
    passes = [("All", everything)]
    if concrete:
        passes.append(("concrete " + " ".join(f"{k}={v}" for k, v in concrete.items()), {**everything, **concrete}))
    for label, values in passes:
        for query in queries(dashboard):
            expr = expand(query.expr, values)
            try:
                count = run_query(prometheus, query, expr)
            except DashboardError as error:
                failures.append(f"[{label}] {query.where}: {error}\n    {expr}")
                continue
            log(f"  {count:4} [{label}] {query.where}")
            if count == 0 and query.where != f"variable ${ENVIRONMENT}":
                failures.append(f"[{label}] {query.where}: no series\n    {expr}")
    rules = prometheus.rules()
    if not rules:
        failures.append("Prometheus has no rules loaded")
    for rule in rules:
        where = f'{rule["type"]} rule {rule["name"]}'
        if rule.get("health") != "ok":
            failures.append(f"{where}: health {rule.get('health')!r}: {rule.get('lastError')}")
            continue
        try:
            count = len(prometheus.instant(rule["query"]))
        except DashboardError as error:
            failures.append(f"{where}: {error}")
            continue
        log(f"  {count:4} {where}")
        if rule["type"] == "recording" and count == 0:
            failures.append(f"{where}: no series\n    {rule['query']}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["check", "queries", "prove"])
    parser.add_argument("dashboard", nargs="?", type=Path, default=DEFAULT_DASHBOARD)
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--prometheus", metavar="URL")
    args = parser.parse_args(argv)
    try:
        dashboard = load(args.dashboard)
        problems = check(dashboard)
        if problems:
            raise DashboardError("\n".join(problems))
        values = {**all_values(dashboard), **parse_vars(args.var)}
        if args.command == "check":
            print(f"ok: {args.dashboard.name}: {len(all_panels(dashboard))} panels, {len(queries(dashboard))} queries")
        elif args.command == "queries":
            for query in queries(dashboard):
                print(json.dumps({"where": query.where, "kind": query.kind, "expr": expand(query.expr, values)}))
        else:
            if not args.prometheus:
                raise DashboardError("prove needs --prometheus URL")
            failures = prove(dashboard, Prometheus(args.prometheus), parse_vars(args.var))
            if failures:
                raise DashboardError(f"{len(failures)} failed:\n" + "\n".join(failures))
            print("ok: every query and rule returned data")
    except DashboardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
