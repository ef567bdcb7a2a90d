#!/usr/bin/env python3
"""Prove every query of the rollout dashboard and every Prometheus rule
against a real Prometheus scraping real processes.

    python3 scripts/dashboard_live_proof.py --bot-python target/py-venv/bin/python \\
        --feature-flags target/debug/feature_flags [--deadline 100]

On loopback, in a temporary folder, it:
1. writes a flag file with three flags and starts a rollout plan on each
   (`feature_flags --feature X --plan ... --start`): `new_gpt_model` holds for
   a day, `voice_replies` may advance after 5 s, `enhanced_video_download`
   is broken on purpose;
2. starts two bot processes (scripts/synthetic_bot.py) serving synthetic
   traffic, outcomes in both cohorts and in every segment (beta testers via
   their group, others via the rollout; private chats, groups and
   supergroups) and complaints, each with /metrics;
3. starts the guard (`feature_flags --guard --scrape ... --listen ...`) on
   those bots;
4. starts a throwaway PostgreSQL cluster (scripts/pg_cluster.py), loads the
   same flags into it (`--database URL --init`, `--import`) and starts one
   server's sync (`--database URL --sync --file ... --listen ...`) writing a
   file of its own; the password reaches the CLI through $PGPASSWORD, and
   this script's output masks it;
5. starts Prometheus (1 s scrapes and rule evaluations, temporary storage)
   with examples/prometheus/rules.yml and alerts.yml, scraping the bots (job
   `bot`), the guard (job `feature-flags-guard`) and the sync (job
   `feature-flags-sync`), then edits a flag through `--database` so that
   the sync's versions move;
6. waits (bounded) until the guard has rolled the broken flag back and
   finished `voice_replies`, and Prometheus has seen the sync take the edit,
   then stops one bot, so that the guard reports a source error;
7. runs every dashboard query (scripts/grafana_dashboard.py `prove`) with the
   variables at All and at concrete values, and every loaded rule, until all
   return data or the deadline passes, and checks that the segment panel
   shows the `on` cohort via group and via rollout in each chat type;
8. checks that the prover does fail on a panel querying a metric that does
   not exist and on one that does not parse;
9. stops the sync and checks that the connection panel shows it, and not
   the stopped bot, as not answering.

Every wait is bounded; every process it starts, and the database cluster,
is stopped on the way out. Last, no log of the CLI holds the password.
Exit 0 when everything was proven; 1 with every failure listed otherwise.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The end-to-end suites' helpers: the one Prometheus launcher.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "flags-cli" / "tests"))

import e2e_support  # noqa: E402
import grafana_dashboard as gd  # noqa: E402
import pg_cluster  # noqa: E402
from e2e_support import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RULE_FILES = [ROOT / "examples/prometheus/rules.yml", ROOT / "examples/prometheus/alerts.yml"]
BOT_JOB = "bot"
GUARD_JOB = "feature-flags-guard"
SYNC_JOB = "feature-flags-sync"

# Every flag targets the beta testers too (the bots say which users are in
# the group), so that outcomes come both via group and via rollout.
BETA = {"user_groups": ["beta_testers"]}
FLAGS = {
    "version": 1,
    "flags": {
        "new_gpt_model": {"description": "healthy, holds its first phase", "enabled": True, "rollout_percentage": 0,
                          **BETA},
        "voice_replies": {"description": "healthy, finishes its plan", "enabled": True, "rollout_percentage": 0,
                          **BETA},
        "enhanced_video_download": {"description": "broken on purpose", "enabled": True, "rollout_percentage": 0,
                                    **BETA},
    },
}
# The segments the "Error share by segment" panel must show: both ways into
# the `on` cohort, and the chat types the bots' messages come from.
SEGMENT_PANEL = "Error share by segment (5m)"
WANT_VIA = {"group", "rollout"}
WANT_CHAT_TYPES = {"private", "group", "supergroup"}
PLANS = {
    "new_gpt_model": "5:1d,25:3d,50:5d,100",
    "voice_replies": "50:5s,100",
    "enhanced_video_download": "50:1d,100",
}
# The flag the concrete pass selects: it has a plan, outcomes, complaints and
# a guard action (its rollback), so every panel has something to show for it.
CONCRETE_FLAG = "enhanced_video_download"


class Failed(Exception):
    pass


class Masking(io.TextIOBase):
    """A text stream that writes through to another with a secret masked:
    whatever prints (a failing command's output, a log tail, a traceback),
    the database password does not reach this script's output."""

    def __init__(self, stream, secret: str) -> None:
        self.stream, self.secret = stream, secret

    def write(self, text: str) -> int:
        self.stream.write(text.replace(self.secret, "***"))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


class Processes:
    """The processes this proof started, each logging to a file; all of them
    are stopped (terminate, then kill) on the way out."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: dict[str, subprocess.Popen] = {}
        self.cluster: pg_cluster.Cluster | None = None
        self.outputs: list[str] = []  # what the CLI printed on --database

    def start(self, name: str, argv: list[str], **kwargs) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        kwargs.setdefault("stdout", log)
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=log, **kwargs)
        self.running[name] = process
        return process

    def stop(self, name: str) -> None:
        process = self.running.pop(name)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                raise Failed(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.folder / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def run(argv: list[str], timeout: float = 30, env: dict | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)
    if result.returncode != 0:
        raise Failed(f"{' '.join(argv)} exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def wait_for(what: str, condition, deadline: float, processes: Processes, every: float = 0.5):
    """condition() until it returns something true, or fail at deadline."""
    last_error = None
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            value = condition()
            if value:
                return value
        except (OSError, gd.DashboardError, ValueError) as error:
            last_error = error
        time.sleep(every)
    raise Failed(f"timed out waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


def read_port_line(process: subprocess.Popen, name: str, deadline: float) -> int:
    """The `port N` line a synthetic bot prints first."""
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        if process.poll() is not None:
            break
        line += process.stdout.read(1) or b""
    if not line.startswith(b"port "):
        raise Failed(f"{name} did not print its port (got {line!r})")
    return int(line.split()[1])


def guard_options(feature_flags: str) -> dict[str, bool]:
    """What this build of feature_flags offers, from its --help."""
    result = subprocess.run([feature_flags, "--help"], capture_output=True, text=True, timeout=10)
    text = result.stdout + result.stderr
    return {option: option in text for option in ("--guard", "--plan", "--listen", "--interval")}


def bot_has_outcomes(python: str) -> bool:
    """Whether the Python package offers Message.record and FlagStore.complaint."""
    probe = ("import feature_flags as f; s = f.FlagStore.from_json('{\"version\": 1, \"flags\": {}}'); "
             "print(hasattr(s, 'complaint') and hasattr(s.for_message(user_id=1, chat_id=1, chat_type=\"private\"), 'record'))")
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise Failed(f"{python} cannot import feature_flags:\n{result.stderr}")
    return result.stdout.strip() == "True"


def prometheus_config(bots: list[int], guard: int, sync: int) -> str:
    # Prometheus reads YAML, and JSON is YAML: no YAML library needed.
    scrape = [
        {"job_name": BOT_JOB, "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in bots]}]},
        {"job_name": GUARD_JOB, "static_configs": [{"targets": [f"127.0.0.1:{guard}"]}]},
        {"job_name": SYNC_JOB, "static_configs": [{"targets": [f"127.0.0.1:{sync}"]}]},
    ]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "scrape_configs": scrape,
    }
    return json.dumps(config, indent=2)


def start_fleet(feature_flags: str, flag_file: Path, folder: Path, processes: Processes):
    """A database holding flag_file's flags and one server's sync of it:
    (URL without the password, environment with it, the sync's port). The
    cluster goes to processes.cluster as soon as it exists, so that the
    caller destroys it whatever fails after."""
    started = time.monotonic()
    cluster = pg_cluster.Cluster.primary("dashboard")
    processes.cluster = cluster
    url = cluster.url(password=False)
    env = {**os.environ, "PGPASSWORD": pg_cluster.PASSWORD}
    env.pop("FEATURE_FLAGS_DATABASE_URL", None)
    for argv in (["--init"], ["--import", str(flag_file)]):
        processes.outputs.append(run([feature_flags, "--database", url, *argv], env=env))
    server = folder / "server-1"
    server.mkdir()
    port = free_port()
    processes.start("sync", [feature_flags, "--database", url, "--sync", "--file", str(server / "feature_flags.json"),
                             "--poll", "1s", "--listen", f"127.0.0.1:{port}"], env=env)
    print(f"  fleet: PostgreSQL on {cluster.port} loaded and a sync on {port} in {time.monotonic() - started:.1f}s")
    return url, env, port


def sync_stops_answering(dashboard: dict, prometheus: gd.Prometheus, instance: str, deadline: float,
                         processes: Processes) -> None:
    """Stop the sync: the connection panel, at All, must show it (and only
    it: a bot's scrape fails too, bot2's) as not answering (-1)."""
    title = "Sync connected to the database"
    (query,) = [q for q in gd.queries(dashboard) if f'"{title}"' in q.where] or [None]
    if query is None:
        raise Failed(f"the dashboard has no single-query panel {title!r}")
    expr = gd.expand(query.expr, gd.all_values(dashboard))
    processes.stop("sync")

    def not_answering():
        series = prometheus.instant(expr)
        return series if series and all(float(s["value"][1]) == -1 for s in series) else None

    series = wait_for(f"{title!r} to show the stopped sync", not_answering, deadline, processes, every=0.25)
    shown = sorted(s["metric"].get("instance", "") for s in series)
    if shown != [instance]:
        raise Failed(f"{title!r} shows {shown} as not answering, want only the sync {instance}")


def segments_shown(dashboard: dict, prometheus: gd.Prometheus, deadline: float, processes: Processes) -> str:
    """The segment panel, at All, must show the `on` cohort both via group
    and via rollout, in every chat type the bots use; returns a summary."""
    (query,) = [q for q in gd.queries(dashboard) if f'"{SEGMENT_PANEL}"' in q.where] or [None]
    if query is None:
        raise Failed(f"the dashboard has no single-query panel {SEGMENT_PANEL!r}")
    expr = gd.expand(query.expr, gd.all_values(dashboard))

    def shown():
        on = [s["metric"] for s in prometheus.instant(expr) if s["metric"].get("cohort") == "on"]
        via = {m.get("via") for m in on}
        chat_types = {m.get("chat_type") for m in on}
        return (via, chat_types) if WANT_VIA <= via and WANT_CHAT_TYPES <= chat_types else None

    via, chat_types = wait_for(f"{SEGMENT_PANEL!r} to show every segment", shown, deadline, processes)
    return f"via {sorted(via)}, chat types {sorted(chat_types)}"


def password_leaks(folder: Path, outputs: list[str]) -> list[str]:
    """Where the database password shows in what the CLI printed."""
    places = [path.name for path in sorted(folder.glob("*.log"))
              if pg_cluster.PASSWORD in path.read_text(errors="replace")]
    return places + [f"output {i}" for i, text in enumerate(outputs) if pg_cluster.PASSWORD in text]


def prove_until(dashboard, prometheus, concrete, deadline, processes) -> list[str]:
    failures = []
    while True:
        processes.check_alive()
        failures = gd.prove(dashboard, prometheus, concrete, log=lambda _line: None)
        if not failures or time.monotonic() > deadline:
            return failures
        time.sleep(1)


def prover_catches_broken_panels(dashboard: dict, prometheus: gd.Prometheus, concrete: dict) -> None:
    """The prover must fail on a panel without data and one that does not
    parse, or the proof above proves nothing."""
    broken = copy.deepcopy(dashboard)
    template = next(p for p in gd.all_panels(broken) if p.get("type") == "timeseries")
    for offset, (title, expr) in enumerate([
        ("no such metric", 'feature_flags_no_such_metric{flag=~"$flag"}'),
        ("does not parse", 'sum by (flag (feature_flags_flag_enabled{flag=~"$flag"})'),
    ]):
        panel = copy.deepcopy(template)
        panel["id"], panel["title"] = 9000 + offset, title
        panel["gridPos"] = {"x": 0, "y": 9000 + 10 * offset, "w": 24, "h": 4}
        panel["targets"] = [{"refId": "A", "expr": expr, "datasource": gd.DATASOURCE}]
        broken["panels"].append(panel)
    failures = gd.prove(broken, prometheus, concrete, log=lambda _line: None)
    for title in ("no such metric", "does not parse"):
        if not any(f'"{title}"' in failure for failure in failures):
            raise Failed(f"the prover did not report the panel {title!r}; it reported: {failures}")
    unexpected = [f for f in failures if '"no such metric"' not in f and '"does not parse"' not in f]
    if unexpected:
        raise Failed(f"the prover reported more than the broken panels: {unexpected}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bot-python", required=True, help="a python with feature_flags and prometheus_client")
    parser.add_argument("--feature-flags", required=True, help="the feature_flags binary")
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus")
    parser.add_argument("--dashboard", type=Path, default=gd.DEFAULT_DASHBOARD)
    parser.add_argument("--deadline", type=float, default=100, help="seconds for the whole proof")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()

    started = time.monotonic()
    deadline = started + args.deadline
    folder = Path(tempfile.mkdtemp(prefix="dashboard-proof-"))
    processes = Processes(folder)
    try:
        dashboard = gd.load(args.dashboard)
        problems = gd.check(dashboard)
        if problems:
            raise Failed("the dashboard does not pass its static check:\n" + "\n".join(problems))

        flag_file = folder / "feature_flags.json"
        flag_file.write_text(json.dumps(FLAGS, indent=2) + "\n")
        # The database gets the same flags without the plans (those are the
        # file guard's business here), so that an edit through --database
        # meets no plan.
        fleet_file = folder / "fleet" / "feature_flags.json"
        fleet_file.parent.mkdir()
        shutil.copyfile(flag_file, fleet_file)
        options = guard_options(args.feature_flags)
        missing = [option for option, offered in options.items() if not offered]
        if missing:
            raise Failed(f"{args.feature_flags} does not offer {', '.join(missing)}: the Guard row cannot be proven")
        if not bot_has_outcomes(args.bot_python):
            raise Failed("the Python package has no outcomes API (Message.record, FlagStore.complaint): "
                         "the outcome and complaint queries cannot be proven")
        # The broken flag's plan starts once Prometheus watches the guard, so
        # that its rollback is a change Prometheus sees (the annotation).
        for flag, plan in PLANS.items():
            start = [] if flag == CONCRETE_FLAG else ["--start"]
            run([args.feature_flags, "--file", str(flag_file), "--feature", flag, "--plan", plan, *start])

        bots = []
        for index in (1, 2):
            process = processes.start(
                f"bot{index}",
                [args.bot_python, str(ROOT / "scripts/synthetic_bot.py"), "--flags", str(flag_file),
                 "--seconds", str(int(args.deadline) + 30), "--seed", str(index),
                 *[arg for flag in FLAGS["flags"] for arg in ("--flag", flag)]],
                stdout=subprocess.PIPE,
            )
            bots.append(read_port_line(process, f"bot{index}", deadline))

        guard_port = free_port()
        argv = [args.feature_flags, "--file", str(flag_file), "--guard", "--listen", f"127.0.0.1:{guard_port}",
                "--interval", "1s"]
        for port in bots:
            argv += ["--scrape", f"http://127.0.0.1:{port}/metrics"]
        processes.start("guard", argv)

        database_url, database_env, sync_port = start_fleet(args.feature_flags, fleet_file, folder, processes)

        try:
            server = e2e_support.start_prometheus(prometheus_config(bots, guard_port, sync_port), folder,
                                                  binary=args.prometheus,
                                                  timeout=max(1.0, deadline - time.monotonic()))
        except AssertionError as error:  # its log's tail is in the message
            raise Failed(str(error)) from None
        processes.running["prometheus"] = server.proc
        url = server.url
        prometheus = gd.Prometheus(url, timeout=5)
        expected_up = len(bots) + 2
        wait_for(f"{expected_up} targets up",
                 lambda: len(prometheus.instant("up == 1")) == expected_up, deadline, processes)
        print(f"  prometheus {url}, bots on {bots}, guard on {guard_port}, sync on {sync_port}")
        # An edit for the fleet: the sync's file and database versions move
        # while Prometheus watches.
        processes.outputs.append(run([args.feature_flags, "--database", database_url, "--feature", "new_gpt_model",
                                      "--description", "edited for the fleet"], env=database_env))
        edited = time.monotonic()
        wait_for(f"Prometheus to see {CONCRETE_FLAG}'s plan pending",
                 lambda: prometheus.instant(
                     f'feature_flags_guard_plan_state{{flag="{CONCRETE_FLAG}", state="pending"}} == 1'),
                 deadline, processes)
        run([args.feature_flags, "--file", str(flag_file), "--feature", CONCRETE_FLAG, "--start"])

        # The guard acts: the broken flag rolled back, the quick plan done.
        for flag, state in [("enhanced_video_download", "rolled_back"), ("voice_replies", "done")]:
            wait_for(f"the guard to mark {flag} {state}",
                     lambda: prometheus.instant(
                         f'feature_flags_guard_plan_state{{flag="{flag}", state="{state}"}} == 1'),
                     deadline, processes)
            print(f"  guard: {flag} {state} after {time.monotonic() - started:.0f}s")
        sync = f'{{job="{SYNC_JOB}"}}'
        wait_for("Prometheus to see the sync take the edit",
                 lambda: prometheus.instant(f"changes(feature_flags_sync_version{sync}[5m]) > 0 "
                                            f"and changes(feature_flags_sync_database_version{sync}[5m]) > 0 "
                                            f"and feature_flags_sync_database_version{sync} - feature_flags_sync_version{sync} == 0"),
                 deadline, processes)
        print(f"  sync: the edit seen by Prometheus within {time.monotonic() - edited:.0f}s of it")
        # A bot goes away: the guard cannot read it and says so.
        processes.stop("bot2")
        wait_for("the guard to report a source error",
                 lambda: prometheus.instant("feature_flags_guard_source_errors_total > 0"),
                 deadline, processes)
        print(f"  guard: source error reported after {time.monotonic() - started:.0f}s")

        concrete = {"job": BOT_JOB, "instance": f"127.0.0.1:{bots[0]}", "flag": CONCRETE_FLAG,
                    "sync_job": SYNC_JOB, "sync_instance": f"127.0.0.1:{sync_port}"}
        failures = prove_until(dashboard, prometheus, concrete, deadline, processes)
        # One last pass with the log on, so that what was proven is visible.
        print(f"  queries and rules, with how many series each returned "
              f"(after {time.monotonic() - started:.0f}s):")
        failures = gd.prove(dashboard, prometheus, concrete, log=print)
        if failures:
            raise Failed(f"{len(failures)} queries or rules failed:\n" + "\n".join(failures))
        print(f"  {SEGMENT_PANEL!r}, the on cohort: "
              f"{segments_shown(dashboard, prometheus, deadline, processes)}")
        prover_catches_broken_panels(dashboard, prometheus, concrete)
        print("  the prover reports a panel without data and one that does not parse")
        sync_stops_answering(dashboard, prometheus, f"127.0.0.1:{sync_port}", deadline, processes)
        print("  sync stopped: shown as not answering, and no bot with it")
        processes.stop_all()  # the sync's last words are in its log too
        leaks = password_leaks(folder, processes.outputs)
        if leaks:
            raise Failed(f"the database password shows in: {', '.join(leaks)}")
    except (Failed, gd.DashboardError, subprocess.TimeoutExpired, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        for name in ["prometheus", "guard", "sync", "bot1", "bot2"]:
            tail = processes.log_tail(name)
            if tail:
                print(f"--- {name} log (last lines) ---\n{tail}", file=sys.stderr)
        return 1
    finally:
        processes.stop_all()
        if processes.cluster is not None:
            processes.cluster.destroy()
        if args.keep:
            print(f"  kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"ok: every dashboard query and Prometheus rule returned data ({time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.stdout = Masking(sys.stdout, pg_cluster.PASSWORD)
    sys.stderr = Masking(sys.stderr, pg_cluster.PASSWORD)
    sys.exit(main())
