"""The dashboard checker finds what it claims to find.

    python3 -m unittest discover -s scripts/tests -v
"""

from __future__ import annotations

import copy
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grafana_dashboard as gd  # noqa: E402

SHIPPED = gd.load(gd.DEFAULT_DASHBOARD)
ACTIONS = "Guard actions in the time range"
SYNC_METRICS = ("feature_flags_sync_version", "feature_flags_sync_database_version",
                "feature_flags_sync_last_success_timestamp_seconds", "feature_flags_sync_errors_total",
                "feature_flags_sync_up")


def dashboard() -> dict:
    return copy.deepcopy(SHIPPED)


def panel(dash: dict, title: str) -> dict:
    return next(p for p in gd.all_panels(dash) if p.get("title") == title)


def row_panels(dash: dict, title: str) -> list[dict]:
    """The top-level panels between the row `title` and the next row."""
    out, inside = [], False
    for p in dash["panels"]:
        if p["type"] == "row":
            inside = p["title"] == title
        elif inside:
            out.append(p)
    return out


def problems_mentioning(dash: dict, text: str) -> list[str]:
    return [p for p in gd.check(dash) if text in p]


class ShippedDashboard(unittest.TestCase):
    def test_passes_every_check(self):
        self.assertEqual(gd.check(dashboard()), [])

    def test_has_the_five_rows_in_order(self):
        rows = [p["title"] for p in SHIPPED["panels"] if p["type"] == "row"]
        self.assertEqual(rows, list(gd.REQUIRED_ROWS))

    def test_every_row_queries_the_families_it_is_about(self):
        # Which metric each row is built on, so that a row cannot quietly
        # lose its subject: the Rollout row shows the configured percentage,
        # Health the outcome rules, Feedback complaints, Guard the guard,
        # Fleet sync every metric the sync exports.
        exprs_by_row = {}
        row = None
        for p in SHIPPED["panels"]:
            if p["type"] == "row":
                row = p["title"]
                continue
            exprs_by_row.setdefault(row, []).extend(t["expr"] for t in p["targets"])
        expected = {
            "Rollout": ["feature_flags_flag_rollout_percentage", "rollout_decisions_on:ratio_rate10m",
                        "feature_flags_file_info", "feature_flags_last_reload_successful"],
            "Health by cohort": ["feature_flags_outcomes_errors:ratio_rate5m",
                                 "feature_flags_outcome_duration_seconds:p95_rate5m"],
            "Feedback": ["feature_flags_complaints:increase1h"],
            "Guard": ["feature_flags_guard_plan_state", "feature_flags_guard_plan_phase",
                      "feature_flags_guard_trigger_value", "feature_flags_guard_trigger_threshold",
                      "feature_flags_guard_actions_total"],
            "Fleet sync": list(SYNC_METRICS),
        }
        for row, needles in expected.items():
            text = "\n".join(exprs_by_row[row])
            for needle in needles:
                self.assertIn(needle, text, f"row {row!r}")

    def test_health_panels_draw_the_deployment_plan_thresholds(self):
        for title, value in [("Error share, on vs off (5m)", 0.05), ("p95 duration, on vs off (5m)", 5)]:
            defaults = panel(SHIPPED, title)["fieldConfig"]["defaults"]
            self.assertEqual(defaults["custom"]["thresholdsStyle"]["mode"], "line", title)
            self.assertIn(value, [s["value"] for s in defaults["thresholds"]["steps"]], title)


    def test_sync_panels_select_syncs_not_bots(self):
        # A sync's target is its server's --sync --listen address: the bots'
        # $job and $instance never offer it, so a sync query filtered by them
        # would show nothing once an operator picks a bot.
        sync_queries = [(p["title"], t["expr"]) for p in gd.all_panels(SHIPPED) for t in p.get("targets", [])
                        if "feature_flags_sync_" in t["expr"]]
        for title, expr in sync_queries:
            used = set(gd.referenced_variables(expr))
            self.assertTrue({"sync_job", "sync_instance"} <= used, f"{title}: {expr}")
            self.assertFalse({"job", "instance"} & used, f"{title}: {expr}")
        for name in SYNC_METRICS:
            self.assertTrue(any(name in expr for _, expr in sync_queries), name)
        self.assertTrue(all(p in row_panels(SHIPPED, "Fleet sync") for p in gd.all_panels(SHIPPED)
                            if any("feature_flags_sync_" in t["expr"] for t in p.get("targets", []))))

    def test_sync_variables_come_from_the_syncs(self):
        variables = gd.variables(SHIPPED)
        self.assertEqual(gd.variable_query(variables["sync_job"]), 'label_values(feature_flags_sync_up{environment=~"$environment"}, job)')
        self.assertEqual(gd.variable_query(variables["sync_instance"]),
                         'label_values(feature_flags_sync_up{environment=~"$environment", job=~"$sync_job"}, instance)')

    def test_sync_panels_turn_red_where_the_alerts_fire(self):
        # alerts.yml: FeatureFlagsSyncBehind at 1 version behind,
        # FeatureFlagsSyncStale after 300 s without a success.
        def red_from(title):
            steps = panel(SHIPPED, title)["fieldConfig"]["defaults"]["thresholds"]["steps"]
            return next(s["value"] for s in steps if s["color"] == "red")
        self.assertEqual(red_from("Versions behind the database"), 1)
        self.assertEqual(red_from("Since the last successful sync"), 300)
        self.assertEqual(panel(SHIPPED, "Since the last successful sync")["fieldConfig"]["defaults"]["unit"], "s")

    def test_sync_state_maps_every_value_its_query_gives(self):
        # 1 connected, 0 database unreachable, -1 Prometheus cannot scrape the
        # sync (then it exports nothing, and only `up` tells).
        p = panel(SHIPPED, "Sync connected to the database")
        (expr,) = [t["expr"] for t in p["targets"]]
        connected, sep, scrape_failed = expr.partition("\nor\n")
        self.assertTrue(sep, expr)
        self.assertIn("feature_flags_sync_up{", connected)
        self.assertRegex(scrape_failed, r"(?<!\w)up\{[^}]*\} == 0")
        # Only the syncs' failed scrapes: "All" jobs also matches the bots'.
        self.assertRegex(scrape_failed, r"and on \(job, instance\)\s+last_over_time\(feature_flags_sync_up\{")
        self.assertTrue(scrape_failed.rstrip().endswith("- 1"), scrape_failed)
        mapped = set(p["fieldConfig"]["defaults"]["mappings"][0]["options"])
        self.assertEqual(mapped, {"1", "0", "-1"})

    def test_guard_actions_show_the_rollback_trigger(self):
        # actions_total has {flag, action, trigger}; every combination exists
        # at 0 from the guard's first check, so increase() over the range
        # counts the first action, and rollbacks are told apart by trigger.
        targets = panel(SHIPPED, ACTIONS)["targets"]
        rollbacks = [t for t in targets if 'action="rolled_back"' in t["expr"]]
        self.assertEqual(len(rollbacks), 1)
        self.assertIn("by (flag, trigger)", rollbacks[0]["expr"])
        self.assertIn("{{trigger}}", rollbacks[0]["legendFormat"])
        others = [t for t in targets if t not in rollbacks]
        self.assertTrue(others)
        for t in others:
            self.assertIn('action!="rolled_back"', t["expr"])
            self.assertNotIn("trigger", t["expr"] + t["legendFormat"])
        for t in targets:
            self.assertIn("increase(feature_flags_guard_actions_total{", t["expr"])
            self.assertIn("[$__range]", t["expr"])
            self.assertTrue(t["instant"])


class Check(unittest.TestCase):
    def test_a_missing_row_is_reported(self):
        dash = dashboard()
        dash["panels"] = [p for p in dash["panels"] if p.get("title") != "Feedback"]
        self.assertTrue(problems_mentioning(dash, "rows are"))

    def test_a_missing_sync_row_is_reported(self):
        dash = dashboard()
        dash["panels"] = [p for p in dash["panels"] if p.get("title") != "Fleet sync"]
        self.assertTrue(problems_mentioning(dash, "rows are"))

    def test_a_missing_sync_variable_is_reported_with_every_use(self):
        dash = dashboard()
        dash["templating"]["list"] = [v for v in dash["templating"]["list"] if v["name"] != "sync_instance"]
        self.assertTrue(problems_mentioning(dash, "missing variable $sync_instance"))
        self.assertTrue(problems_mentioning(dash, "undefined variable $sync_instance"))

    def test_every_query_filters_by_environment_and_all_keeps_unlabelled_series(self):
        dash = dashboard()
        self.assertEqual(gd.variables(dash)["environment"]["allValue"], ".*")
        target = panel(dash, "Complaints per hour")["targets"][0]
        target["expr"] = target["expr"].replace('environment=~"$environment", ', "")
        self.assertTrue(problems_mentioning(dash, '"Complaints per hour" A: does not filter by $environment'))
        gd.variables(dash)["environment"]["allValue"] = ".+"
        self.assertTrue(problems_mentioning(dash, "its All must be .*"))

    def test_rows_out_of_order_are_reported(self):
        dash = dashboard()
        rows = [p for p in dash["panels"] if p["type"] == "row"]
        rows[0]["title"], rows[1]["title"] = rows[1]["title"], rows[0]["title"]
        self.assertTrue(problems_mentioning(dash, "rows are"))

    def test_a_missing_variable_is_reported_with_every_use(self):
        dash = dashboard()
        dash["templating"]["list"] = [v for v in dash["templating"]["list"] if v["name"] != "flag"]
        self.assertTrue(problems_mentioning(dash, "missing variable $flag"))
        self.assertTrue(problems_mentioning(dash, "undefined variable $flag"))

    def test_a_variable_not_from_label_values_is_reported(self):
        dash = dashboard()
        gd.variables(dash)["job"]["query"]["query"] = "query_result(up)"
        self.assertTrue(problems_mentioning(dash, "$job does not come from label_values"))

    def test_no_datasource_variable_is_reported(self):
        dash = dashboard()
        dash["templating"]["list"] = [v for v in dash["templating"]["list"] if v["type"] != "datasource"]
        self.assertTrue(problems_mentioning(dash, "no data source variable"))

    def test_a_hard_coded_datasource_is_reported(self):
        dash = dashboard()
        panel(dash, "Complaints per hour")["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
        self.assertTrue(problems_mentioning(dash, '"Complaints per hour": datasource'))

    def test_an_old_schema_is_reported(self):
        dash = dashboard()
        dash["schemaVersion"] = 27
        self.assertTrue(problems_mentioning(dash, "schemaVersion 27"))

    def test_overlapping_panels_are_reported(self):
        dash = dashboard()
        first, second = panel(dash, "Flag files in use"), panel(dash, "File fingerprint per instance")
        second["gridPos"] = dict(first["gridPos"])
        self.assertTrue(problems_mentioning(dash, "overlaps"))

    def test_a_panel_off_the_grid_is_reported(self):
        dash = dashboard()
        panel(dash, "Guard: complaints")["gridPos"]["w"] = 30
        self.assertTrue(problems_mentioning(dash, "off the 24-column grid"))

    def test_duplicate_ids_and_refids_are_reported(self):
        dash = dashboard()
        panel(dash, "Guard: complaints")["id"] = panel(dash, "Guard: error_rate")["id"]
        target = panel(dash, "Plans now")["targets"]
        target[1]["refId"] = target[0]["refId"]
        self.assertTrue(problems_mentioning(dash, "unique int"))
        self.assertTrue(problems_mentioning(dash, "refIds"))

    def test_an_empty_query_is_reported(self):
        dash = dashboard()
        panel(dash, ACTIONS)["targets"][0]["expr"] = " "
        self.assertTrue(problems_mentioning(dash, "empty expr"))


class Queries(unittest.TestCase):
    def test_a_new_panel_is_listed_without_editing_the_checker(self):
        dash = dashboard()
        new = copy.deepcopy(panel(dash, "Complaints per hour"))
        new["id"], new["title"] = 999, "A panel added later"
        new["gridPos"] = {"x": 0, "y": 1000, "w": 24, "h": 4}
        new["targets"] = [{"refId": "A", "expr": 'up{environment=~"$environment", job=~"$job"}', "datasource": gd.DATASOURCE}]
        dash["panels"].append(new)
        self.assertEqual(gd.check(dash), [])
        listed = [q for q in gd.queries(dash) if "A panel added later" in q.where]
        self.assertEqual([q.expr for q in listed], ['up{environment=~"$environment", job=~"$job"}'])

    def test_panels_in_collapsed_rows_are_listed(self):
        dash = dashboard()
        guard_row = next(p for p in dash["panels"] if p.get("title") == "Guard")
        inside = row_panels(dash, "Guard")
        guard_row["panels"], guard_row["collapsed"] = inside, True
        dash["panels"] = [p for p in dash["panels"] if p not in inside]
        self.assertEqual(gd.check(dash), [])
        self.assertIn(ACTIONS, " ".join(q.where for q in gd.queries(dash)))

    def test_hidden_targets_are_not_listed(self):
        dash = dashboard()
        panel(dash, ACTIONS)["targets"][0]["hide"] = True
        listed = " ".join(q.where for q in gd.queries(dash))
        self.assertNotIn(f'"{ACTIONS}" A', listed)
        self.assertIn(f'"{ACTIONS}" B', listed)

    def test_every_query_is_listed(self):
        listed = gd.queries(SHIPPED)
        targets = sum(len(p.get("targets", [])) for p in gd.all_panels(SHIPPED))
        self.assertEqual(len([q for q in listed if q.kind == "panel"]), targets)
        self.assertEqual({q.where for q in listed if q.kind == "variable"},
                         {"variable $environment", "variable $job", "variable $instance", "variable $flag",
                          "variable $sync_job", "variable $sync_instance"})


class Expand(unittest.TestCase):
    def test_every_reference_form(self):
        values = {"flag": "gpt", "job": ".+"}
        self.assertEqual(
            gd.expand('x{flag=~"$flag", job=~"${job}", a="${flag:regex}", b="[[flag]]"}[$__rate_interval]', values),
            'x{flag=~"gpt", job=~".+", a="gpt", b="gpt"}[1m]',
        )

    def test_a_longer_name_is_not_cut_at_a_shorter_one(self):
        self.assertEqual(gd.expand("$flags $flag", {"flag": "a", "flags": "b"}), "b a")

    def test_all_uses_the_variables_all_value(self):
        self.assertEqual(gd.all_values(SHIPPED), {"environment": ".*", "job": ".+", "instance": ".+", "flag": ".+", "sync_job": ".+",
                                                   "sync_instance": ".+"})

    def test_an_unknown_variable_is_an_error(self):
        with self.assertRaises(gd.DashboardError):
            gd.expand("up{x=~\"$nope\"}", {})

    def test_no_query_is_left_with_a_variable(self):
        for query in gd.queries(SHIPPED):
            self.assertNotIn("$", gd.expand(query.expr, gd.all_values(SHIPPED)), query.where)


if __name__ == "__main__":
    unittest.main()
