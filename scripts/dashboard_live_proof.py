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
   traffic, outcomes in both cohorts and complaints, each with /metrics;
3. starts the guard (`feature_flags --guard --scrape ... --listen ...`) on
   those bots;
4. starts Prometheus (1 s scrapes and rule evaluations, temporary storage)
   with examples/prometheus/rules.yml and alerts.yml, scraping the bots (job
   `bot`) and the guard (job `feature-flags-guard`);
5. waits (bounded) until the guard has rolled the broken flag back and
   finished `voice_replies`, then stops one bot, so that the guard reports a
   source error;
6. runs every dashboard query (scripts/grafana_dashboard.py `prove`) with the
   variables at All and at concrete values, and every loaded rule, until all
   return data or the deadline passes;
7. checks that the prover does fail on a panel querying a metric that does
   not exist and on one that does not parse.

Every wait is bounded; every process it starts is stopped on the way out.
Exit 0 when everything was proven; 1 with every failure listed otherwise.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grafana_dashboard as gd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RULE_FILES = [ROOT / "examples/prometheus/rules.yml", ROOT / "examples/prometheus/alerts.yml"]
BOT_JOB = "bot"
GUARD_JOB = "feature-flags-guard"

FLAGS = {
    "version": 1,
    "flags": {
        "new_gpt_model": {"description": "healthy, holds its first phase", "enabled": True, "rollout_percentage": 0},
        "voice_replies": {"description": "healthy, finishes its plan", "enabled": True, "rollout_percentage": 0},
        "enhanced_video_download": {"description": "broken on purpose", "enabled": True, "rollout_percentage": 0},
    },
}
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """The processes this proof started, each logging to a file; all of them
    are stopped (terminate, then kill) on the way out."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: dict[str, subprocess.Popen] = {}

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


def run(argv: list[str], timeout: float = 30) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
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


def prometheus_config(folder: Path, bots: list[int], guard: int) -> Path:
    # Prometheus reads YAML, and JSON is YAML: no YAML library needed.
    scrape = [
        {"job_name": BOT_JOB, "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in bots]}]},
        {"job_name": GUARD_JOB, "static_configs": [{"targets": [f"127.0.0.1:{guard}"]}]},
    ]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "scrape_configs": scrape,
    }
    path = folder / "prometheus.yml"
    path.write_text(json.dumps(config, indent=2))
    return path


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

        prometheus_port = free_port()
        processes.start("prometheus", [
            args.prometheus,
            f"--config.file={prometheus_config(folder, bots, guard_port)}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ])
        url = f"http://127.0.0.1:{prometheus_port}"
        prometheus = gd.Prometheus(url, timeout=5)
        wait_for("Prometheus to be ready",
                 lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200,
                 deadline, processes)
        expected_up = len(bots) + 1
        wait_for(f"{expected_up} targets up",
                 lambda: len(prometheus.instant("up == 1")) == expected_up, deadline, processes)
        print(f"  prometheus {url}, bots on {bots}, guard on {guard_port}")
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
        # A bot goes away: the guard cannot read it and says so.
        processes.stop("bot2")
        wait_for("the guard to report a source error",
                 lambda: prometheus.instant("feature_flags_guard_source_errors_total > 0"),
                 deadline, processes)
        print(f"  guard: source error reported after {time.monotonic() - started:.0f}s")

        concrete = {"job": BOT_JOB, "instance": f"127.0.0.1:{bots[0]}", "flag": CONCRETE_FLAG}
        failures = prove_until(dashboard, prometheus, concrete, deadline, processes)
        # One last pass with the log on, so that what was proven is visible.
        print(f"  queries and rules, with how many series each returned "
              f"(after {time.monotonic() - started:.0f}s):")
        failures = gd.prove(dashboard, prometheus, concrete, log=print)
        if failures:
            raise Failed(f"{len(failures)} queries or rules failed:\n" + "\n".join(failures))
        prover_catches_broken_panels(dashboard, prometheus, concrete)
        print("  the prover reports a panel without data and one that does not parse")
    except (Failed, gd.DashboardError, subprocess.TimeoutExpired) as error:
        print(f"error: {error}", file=sys.stderr)
        for name in ["prometheus", "guard", "bot1", "bot2"]:
            tail = processes.log_tail(name)
            if tail:
                print(f"--- {name} log (last lines) ---\n{tail}", file=sys.stderr)
        return 1
    finally:
        processes.stop_all()
        if args.keep:
            print(f"  kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"ok: every dashboard query and Prometheus rule returned data ({time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
