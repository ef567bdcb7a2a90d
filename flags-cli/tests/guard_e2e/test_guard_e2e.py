"""End to end: a real bot process (bot.py: the `feature_flags` package with
synthetic traffic), the real `feature_flags` binary as guard and CLI, and,
for the fleet cases, a real Prometheus server. Short holds and windows
(seconds); every wait is bounded.

Run by scripts/test.sh with the project's virtualenv:
    FEATURE_FLAGS_BIN=target/debug/feature_flags python -m pytest flags-cli/tests/guard_e2e
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from e2e_support import (  # noqa: E402, F401
    BIN, PROMETHEUS, free_port, require, scrape_bots, start_prometheus, stop, wait_for, wait_scraped)

INTERVAL = 1.0  # the guard's --interval in every case
SUSTAIN = 2
MIN_SAMPLES = 50
# Healthy traffic's error share: under the deployment plan's default success
# criterion of the 2nd phase (error_rate<0.01).
HEALTHY = 0.005


class Lines:
    """A process's output lines, each with the time it arrived."""

    def __init__(self, stream):
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for raw in iter(stream.readline, ""):
            self.lines.append((time.monotonic(), raw.rstrip("\n")))

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def first(self, predicate):
        return next(((t, line) for t, line in list(self.lines) if predicate(line)), None)


class World:
    """One test's folder: the flag file, its bot(s), its guard."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.flags = tmp / "flags.json"
        self.flags.write_text('{"version": 1, "flags": {"gpt": {"enabled": true, "rollout_percentage": 0}}}\n')
        self.control = tmp / "control.json"
        self.shares = tmp / "shares.jsonl"
        self.procs: list[subprocess.Popen] = []
        self.bot: subprocess.Popen | None = None
        self.bot_port = free_port()
        self.guard: subprocess.Popen | None = None
        self.log: Lines | None = None
        self.status_url = ""

    def traffic(self, **control) -> None:
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(json.dumps({"rate": 1000, **control}))
        tmp.replace(self.control)

    def start_bot(self, *extra: str) -> None:
        self.bot = subprocess.Popen(
            [sys.executable, str(HERE / "bot.py"), "--flags", str(self.flags), "--flag", "gpt",
             "--port", str(self.bot_port), "--control", str(self.control), "--shares", str(self.shares),
             *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.procs.append(self.bot)
        line = wait_for("the bot to listen", lambda: self.bot.stdout.readline(), 30)
        assert line.startswith("listening"), line

    def stop_bot(self) -> None:
        stop(self.bot)

    def cli(self, *args: str) -> str:
        out = subprocess.run([BIN, "--file", str(self.flags), *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def plan(self, phases: str, window: str = "3s", triggers: str | None = None) -> None:
        args = ["--feature", "gpt", "--plan", phases, "--window", window,
                "--min-samples", str(MIN_SAMPLES), "--sustain", str(SUSTAIN)]
        if triggers:
            args += ["--triggers", triggers]
        self.cli(*args, "--start")

    def start_guard(self, *source: str) -> None:
        if not source:
            source = ("--scrape", f"http://127.0.0.1:{self.bot_port}/metrics")
        self.guard = subprocess.Popen(
            [BIN, "--file", str(self.flags), "--guard", "--interval", f"{INTERVAL:g}s",
             "--listen", "127.0.0.1:0", *source],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.procs.append(self.guard)
        self.log = Lines(self.guard.stdout)
        found = wait_for("the status page address", lambda: self.log.first(lambda l: "status page" in l), 10)
        self.status_url = re.search(r"http://\S+/", found[1]).group(0)

    def stop_guard(self) -> None:
        stop(self.guard)

    def rollout(self) -> dict:
        return json.loads((self.tmp / "flags.json.rollouts.json").read_text())["rollouts"]["gpt"]

    def flag(self) -> dict:
        return json.loads(self.flags.read_text())["flags"]["gpt"]

    def audit(self) -> list[dict]:
        path = self.tmp / "flags.json.audit.jsonl"
        return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []

    def guard_metrics(self) -> str:
        with urllib.request.urlopen(self.status_url + "metrics", timeout=5) as r:
            return r.read().decode()

    def close(self) -> None:
        for p in reversed(self.procs):
            stop(p)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()
    if w.log is not None:
        print("guard log:\n" + w.log.text())


SAMPLES = re.compile(r"error_rate [^;]*?, (\d+)/(\d+) samples")


def enough_samples(line: str) -> bool:
    m = SAMPLES.search(line)
    return bool(m) and int(m.group(1)) >= MIN_SAMPLES


def assert_rolled_back_on(world: World, trigger: str, timeout: float = 30) -> float:
    """Waits for the rollback; checks the reaction bound, the flag and the
    audit line. Returns the reaction time from the first check with data."""
    rolled = wait_for("a rollback", lambda: world.log.first(lambda l: "rolled back" in l), timeout)
    assert f": {trigger} " in rolled[1], rolled[1]
    if trigger in ("error_rate", "response_time"):
        first = world.log.first(enough_samples)
        assert first is not None, world.log.text()
        reaction = rolled[0] - first[0]
        assert reaction <= INTERVAL * SUSTAIN + 2, f"{reaction:.1f} s"
    else:
        reaction = float("nan")
    assert world.flag()["enabled"] is False
    assert world.rollout()["state"] == "rolled_back"
    entries = [e for e in world.audit() if e.get("action") == "rollback"]
    assert entries and all(e["user"] == "guard" for e in entries), world.audit()
    assert any(e.get("trigger") == trigger for e in entries), entries
    return reaction


def phase_spans(world: World, timeout: float) -> list[tuple[float, float, float]]:
    """Polls the flag file until the plan is done: (percentage, from, to)
    wall-clock spans of each percentage the bots were given."""
    spans = []
    current, since = world.flag()["rollout_percentage"], time.time()
    deadline = time.monotonic() + timeout
    while world.rollout()["state"] != "done":
        assert world.rollout()["state"] == "running", world.rollout()
        assert time.monotonic() < deadline, f"not done in {timeout} s: {world.rollout()}"
        pct = world.flag()["rollout_percentage"]
        if pct != current:
            spans.append((current, since, time.time()))
            current, since = pct, time.time()
        time.sleep(0.1)
    done_at = time.time()
    last = world.flag()["rollout_percentage"]
    if last != current:
        spans.append((current, since, done_at))
        since = done_at
    spans.append((last, since, done_at + 2))
    time.sleep(2.5)
    return spans


def on_share(world: World, start: float, end: float) -> float:
    on = total = 0
    for line in world.shares.read_text().splitlines():
        entry = json.loads(line)
        # A window that starts after the reload has settled (0.7 s) and ends
        # before the next change.
        if start + 0.7 <= entry["t"] - 0.5 and entry["t"] <= end:
            on += entry["on"]
            total += entry["all"]
    assert total >= 300, f"only {total} messages between {start} and {end}"
    return on / total


def check_healthy_rollout(world: World, timeout: float = 60, resumed: bool = False, from_phase: int = 1) -> None:
    spans = phase_spans(world, timeout)
    assert [s[0] for s in spans] == [5, 25, 50, 100][from_phase - 1:], spans
    # A resumed rollout's first phase was mostly held before: its hold is
    # over, so it may move on at the first check with data.
    for pct, start, end in spans[1:] if resumed else spans:
        share = on_share(world, start, end)
        assert abs(share - pct / 100) < 0.04, f"{pct} %: on share {share:.3f}"
    assert world.flag()["enabled"] is True
    assert [e["action"] for e in world.audit() if e.get("field") == "rollout_percentage"][-3:] == ["advance", "advance", "done"]


# ---- scraping guard -------------------------------------------------------


def test_healthy_plan_advances_to_done_and_the_on_share_follows(world):
    world.traffic(on_error=HEALTHY, off_error=HEALTHY)
    world.start_bot()
    world.plan("5:3s,25:3s,50:3s,100")
    world.start_guard()
    check_healthy_rollout(world)
    metrics = world.guard_metrics()
    assert 'feature_flags_guard_plan_state{flag="gpt",state="done"} 1' in metrics
    assert 'feature_flags_guard_actions_total{flag="gpt",action="advanced",trigger="none"} 2' in metrics
    assert 'feature_flags_guard_actions_total{flag="gpt",action="done",trigger="none"} 1' in metrics


def test_on_cohort_failing_is_rolled_back_on_error_rate(world):
    world.traffic(on_error=0.20, off_error=0.01)
    world.start_bot()
    world.plan("25:1h,100")
    world.start_guard()
    reaction = assert_rolled_back_on(world, "error_rate")
    print(f"reaction time from the first check with enough samples: {reaction:.2f} s")
    line = world.log.first(lambda l: "rolled back" in l)[1]
    assert re.search(r"rolled back to 0 % \(disabled\): error_rate \d+(\.\d)? % > 5 % \(off cohort \d+(\.\d)? %\), \d+ samples in 3s", line), line


def test_a_global_incident_rolls_nothing_back(world):
    world.traffic(on_error=0.20, off_error=0.20)
    world.start_bot()
    world.plan("25:1h,100")
    world.start_guard()
    wait_for("6 checks with data", lambda: sum(enough_samples(l) for _, l in world.log.lines) >= 6, 30)
    assert world.log.first(lambda l: "rolled back" in l) is None, world.log.text()
    assert world.rollout()["state"] == "running"
    assert world.flag() == {"enabled": True, "rollout_percentage": 25}


def test_slow_on_answers_are_rolled_back_on_response_time(world):
    world.traffic(on_error=0.01, off_error=0.01, on_seconds=7.0, off_seconds=0.3)
    world.start_bot()
    world.plan("25:1h,100")
    world.start_guard()
    assert_rolled_back_on(world, "response_time")


def test_complaints_reaching_the_threshold_roll_back(world):
    world.traffic(on_error=0.01, off_error=0.01)
    world.start_bot()
    world.plan("25:1h,100", triggers="complaints=10")
    world.start_guard()
    wait_for("a check with data", lambda: world.log.first(enough_samples), 20)
    world.traffic(on_error=0.01, off_error=0.01, complaints_per_second=5)
    assert_rolled_back_on(world, "complaints", timeout=20)


def test_a_stopped_bot_holds_the_plan_and_a_restarted_guard_continues(world):
    world.traffic(on_error=HEALTHY, off_error=HEALTHY)
    world.start_bot()
    world.plan("5:3s,25:3s,50:3s,100")
    world.start_guard()
    wait_for("a check with data", lambda: world.log.first(enough_samples), 20)
    world.stop_bot()
    before = (world.rollout()["state"], world.rollout()["phase"], world.flag())
    seen = len(world.log.lines)
    wait_for("3 reported source errors", lambda: sum("error: metrics source" in l for _, l in world.log.lines[seen:]) >= 3, 20)
    # The hold time is long over, but nothing moved while the bot was away.
    assert (world.rollout()["state"], world.rollout()["phase"], world.flag()) == before
    assert "feature_flags_guard_source_errors_total{source=" in world.guard_metrics()
    # The guard restarts mid-phase, the bot comes back: it carries on.
    world.stop_guard()
    world.start_bot()
    world.start_guard()
    # On a loaded machine the first check with data may come after the 5 %
    # phase's hold, and the first guard advances then: the restarted guard
    # carries on from the phase the plan was in when the bot went away.
    check_healthy_rollout(world, resumed=True, from_phase=before[1])


# ---- success criteria ------------------------------------------------------


def test_an_inconclusive_phase_holds_until_a_person_advances_it(world):
    # 3 % errors against 1 %: under the 5 % trigger (no rollback), over the
    # 25 % phase's default error_rate<0.01 (no advance).
    world.traffic(on_error=0.03, off_error=0.01)
    world.start_bot()
    # The 25 % phase is judged on at least 4 s of its own outcomes (some
    # 700 `on` ones): 3 % reads under 1 % about once in 10 000 checks. The
    # error_rate trigger is raised to 15 %: the 5 % phase judges some 50
    # `on` outcomes, where 3 % reads above 5 % on one check in ten (a
    # rollback on noise, which is not what this test is about).
    world.plan("5:1s,25:4s,50:2s,100", window="6s", triggers="error_rate=0.15")
    world.start_guard()
    at_25 = wait_for("the 25 % phase", lambda: world.flag()["rollout_percentage"] == 25, 30)
    assert at_25
    found = wait_for("an inconclusive check", lambda: world.log.first(lambda l: "inconclusive" in l), 20)
    line = found[1]
    m = re.search(r"holds at phase 2/4 \(25 %\): inconclusive: error_rate (\d+\.\d) % \(needs < 1 %\)", line)
    assert m, line
    assert 1.0 <= float(m.group(1)) <= 6.0, line
    # It stays: six more checks, neither the 50 % phase nor a rollback.
    seen = len(world.log.lines)
    wait_for("six more checks", lambda: len(world.log.lines) >= seen + 6, 20)
    assert world.rollout()["state"] == "running" and world.rollout()["phase"] == 2, world.rollout()
    assert world.flag() == {"enabled": True, "rollout_percentage": 25}
    assert world.log.first(lambda l: "rolled back" in l or "advanced to phase 3" in l) is None, world.log.text()
    # --status, the page and the metrics name the unmet criterion.
    status = world.cli("--status")
    assert re.search(r"inconclusive: error_rate \d+\.\d % \(needs < 1 %\)", status), status
    assert "or --advance" in status, status
    with urllib.request.urlopen(world.status_url, timeout=5) as r:
        page = r.read().decode()
    assert "inconclusive</b>" in page and "(needs &lt; 1 %)" in page, page
    metrics = world.guard_metrics()
    assert 'feature_flags_guard_plan_waiting{flag="gpt",reason="inconclusive"} 1' in metrics, metrics
    assert 'feature_flags_guard_plan_criterion_met{flag="gpt",criterion="error_rate"} 0' in metrics, metrics
    # A person decides: on to 50 %, audited under their name; typed twice,
    # the second is refused (the new phase's hold has just begun).
    out = world.cli("--feature", "gpt", "--advance")
    assert "advance to phase 3 (50%)" in out, out
    twice = subprocess.run([BIN, "--file", str(world.flags), "--feature", "gpt", "--advance"],
                           capture_output=True, text=True, timeout=30)
    assert twice.returncode != 0 and "holds it until" in twice.stderr, twice
    assert world.flag()["rollout_percentage"] == 50
    entry = [e for e in world.audit() if e.get("field") == "rollout_percentage"][-1]
    assert entry["action"] == "advance" and entry["user"] != "guard", entry
    assert entry["new"] == 50, entry
    # Healthy from now on: no degradation at 50 %, so it goes all the way.
    world.traffic(on_error=HEALTHY, off_error=HEALTHY)
    wait_for("done", lambda: world.rollout()["state"] == "done", 40)
    assert world.flag() == {"enabled": True, "rollout_percentage": 100}
    assert world.log.first(lambda l: "rolled back" in l) is None, world.log.text()
    # The post-rollout analysis: each phase, who ended it, its counts.
    report = json.loads(world.cli("--report", "gpt", "--json"))
    phases = report["phases"]
    assert [(p["percentage"], p["decision"]) for p in phases] == [(5, "advance"), (25, "advance"), (50, "done")], report
    assert phases[0]["by"] == "guard" and phases[2]["by"] == "guard", report
    assert phases[1]["by"] not in ("", "guard") and "by hand" in phases[1]["reason"], report
    for p in phases:
        on = p["on"]
        assert on is not None and on["outcomes"] > 0, json.dumps(world.rollout()["history"], indent=1)
        low, high = on["error_share_95"]
        assert low <= on["error_share"] <= high, p
    # The 25 % phase, measured up to the person's decision: worse than off.
    assert phases[1]["on"]["error_share"] > phases[1]["off"]["error_share"], phases[1]
    text = world.cli("--report", "gpt")
    assert "phase 2 at 25 %" in text and "on - off error share" in text, text


def test_a_bot_without_process_memory_is_named_as_what_holds_the_plan(world):
    """The real blocker of a held healthy plan: the bot exported no process
    memory. --start warns, the guard warns once, and the hold names it."""
    world.traffic(on_error=HEALTHY, off_error=HEALTHY)
    world.start_bot("--no-process-metrics")
    started = subprocess.run(
        [BIN, "--file", str(world.flags), "--feature", "gpt", "--plan", "50:2s,100", "--window", "3s",
         "--min-samples", str(MIN_SAMPLES), "--sustain", str(SUSTAIN), "--start"],
        capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, started.stderr
    assert "warning: gpt: the memory_usage trigger has data only if the bots export process_resident_memory_bytes" \
        in started.stderr, started.stderr
    world.start_guard("--scrape", f"http://127.0.0.1:{world.bot_port}/metrics", "--memory-limit", str(2 << 30))
    warning = ("warning: gpt: the memory_usage trigger has no data and holds the plan: "
               "no scraped process exports process_resident_memory_bytes")
    wait_for("the guard's warning", lambda: world.log.first(lambda l: warning in l), 15)
    held = ("holds at phase 1/2 (50 %): memory_usage: no data "
            "(no process exported process_resident_memory_bytes")
    wait_for("a hold on memory after enough samples",
             lambda: world.log.first(lambda l: held in l and enough_samples(l)), 20)
    # Past the 2 s hold, healthy otherwise: still held, on memory alone.
    time.sleep(3)
    assert held in world.log.lines[-1][1], world.log.text()
    assert sum(warning in l for _, l in world.log.lines) == 1, world.log.text()
    assert world.rollout()["state"] == "running" and world.flag()["rollout_percentage"] == 50
    status = world.cli("--status")
    assert "memory_usage: no data (no process exported process_resident_memory_bytes" in status, status


# ---- a fleet behind Prometheus ---------------------------------------------


@pytest.fixture
def prometheus(tmp_path):
    bot_port = free_port()
    for url in run_prometheus(tmp_path, [bot_port]):
        yield url, bot_port


@pytest.fixture
def prometheus_pair(tmp_path):
    """Prometheus scraping two bots' ports."""
    ports = [free_port(), free_port()]
    for url in run_prometheus(tmp_path, ports):
        yield url, ports


def run_prometheus(tmp_path, bot_ports):
    require(PROMETHEUS, "prometheus")
    with start_prometheus(scrape_bots(bot_ports), tmp_path) as prometheus:
        yield prometheus.url


def test_prometheus_healthy_plan_advances_to_done(world, prometheus):
    url, world.bot_port = prometheus
    world.traffic(on_error=HEALTHY, off_error=HEALTHY)
    world.start_bot()
    # The report reads each phase's span back from Prometheus: the first
    # phase (3 s) must not start before Prometheus scrapes the bot.
    wait_scraped(url, 1)
    world.plan("5:3s,25:3s,50:3s,100", window="5s")
    # One check and out (cron style) holds: no history yet, nothing moves.
    once = subprocess.run([BIN, "--file", str(world.flags), "--guard", "--once", "--prometheus", url,
                           "--selector", '{job="bot"}', "--memory-limit", str(2 << 30)],
                          capture_output=True, text=True, timeout=30)
    assert once.returncode == 0, once.stderr
    assert once.stdout.startswith("gpt: holds at phase 1/4 (5 %)"), once.stdout
    world.start_guard("--prometheus", url, "--selector", '{job="bot"}', "--memory-limit", str(2 << 30))
    check_healthy_rollout(world, timeout=90)
    # The post-rollout analysis from Prometheus: each phase's span.
    report = json.loads(world.cli("--report", "gpt", "--prometheus", url, "--selector", '{job="bot"}', "--json"))
    assert report["counts_from"] == "prometheus", report
    phases = report["phases"]
    assert [p["percentage"] for p in phases] == [5, 25, 50], report
    for p in phases:
        assert p["by"] == "guard", p
        assert p["on"]["outcomes"] > 0 and p["off"]["outcomes"] > 0, p
        assert p["on"]["error_share"] < 0.05, p


def test_prometheus_on_cohort_failing_is_rolled_back(world, prometheus):
    url, world.bot_port = prometheus
    world.traffic(on_error=0.20, off_error=0.01)
    world.start_bot()
    world.plan("25:1h,100", window="5s")
    world.start_guard("--prometheus", url, "--selector", '{job="bot"}', "--memory-limit", str(2 << 30))
    reaction = assert_rolled_back_on(world, "error_rate", timeout=40)
    print(f"reaction time (Prometheus) from the first check with enough samples: {reaction:.2f} s")


def test_prometheus_response_time_has_data_once_enough_samples(world, prometheus):
    """The 357-of-50 case: healthy traffic behind Prometheus, only the
    response_time trigger. Once the window holds more than min_samples `on`
    outcomes, response_time has a verdict (never "no data")."""
    url, world.bot_port = prometheus
    world.traffic(on_error=HEALTHY, off_error=HEALTHY, on_seconds=0.2, off_seconds=0.2)
    world.start_bot()
    world.plan("10:1h,100", window="5s", triggers="response_time=2")
    world.start_guard("--prometheus", url, "--selector", '{job="bot"}')
    rt = re.compile(r"response_time [^;]*?, (\d+)/(\d+) samples")

    def enough(line: str) -> bool:
        m = rt.search(line)
        return bool(m) and int(m.group(1)) >= 2 * MIN_SAMPLES

    wait_for("a check with enough response_time samples", lambda: world.log.first(enough), 30)
    time.sleep(6 * INTERVAL)
    lines = [l for _, l in world.log.lines if enough(l)]
    assert lines, world.log.text()
    no_data = [l for l in lines if "response_time: no data" in l]
    assert not no_data, "\n".join(no_data)
    # No --memory-limit: memory_usage never has data, which the guard says
    # once, and every hold line names.
    warning = "warning: gpt: the memory_usage trigger has no data and holds the plan: no --memory-limit"
    assert sum(warning in l for _, l in world.log.lines) == 1, world.log.text()
    assert "memory_usage: no data (no process exported process_resident_memory_bytes" in lines[-1], lines[-1]


def start_second_bot(world: World, port: int, **control) -> None:
    """Another bot process on the same flag file, with its own traffic."""
    path = world.tmp / "control-2.json"
    path.write_text(json.dumps({"rate": 1000, **control}))
    bot = subprocess.Popen(
        [sys.executable, str(HERE / "bot.py"), "--flags", str(world.flags), "--flag", "gpt",
         "--port", str(port), "--control", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    world.procs.append(bot)
    line = wait_for("the second bot to listen", lambda: bot.stdout.readline(), 30)
    assert line.startswith("listening"), line


def assert_rollback_names(world: World, bad: str, good: str) -> None:
    rolled = wait_for("a rollback", lambda: world.log.first(lambda l: "rolled back" in l), 40)
    line = rolled[1]
    assert ": error_rate " in line and "; worst: " in line, line
    worst = line.split("; worst: ", 1)[1]
    assert worst.startswith(bad + " "), line
    entries = [e for e in world.audit() if e.get("action") == "rollback" and e.get("trigger") == "error_rate"]
    assert entries, world.audit()
    for e in entries:
        assert f"; worst: {bad} " in e["reason"], e
        assert e["worst"][0]["instance"] == bad, e
        assert e["worst"][0]["value"] > 0.2, e
        # The healthy one, if named, reads lower.
        assert all(w["value"] < 0.1 for w in e["worst"][1:] if w["instance"] == good), e


def test_one_failing_instance_of_two_is_named_by_the_rollback(world):
    world.traffic(on_error=HEALTHY, off_error=HEALTHY)
    world.start_bot()
    bad_port = free_port()
    start_second_bot(world, bad_port, on_error=0.5, off_error=HEALTHY)
    world.plan("25:1h,100", window="5s", triggers="error_rate=0.05")
    world.start_guard("--scrape", f"http://127.0.0.1:{world.bot_port}/metrics",
                      "--scrape", f"http://127.0.0.1:{bad_port}/metrics")
    assert_rollback_names(world, f"127.0.0.1:{bad_port}", f"127.0.0.1:{world.bot_port}")


def test_prometheus_rollback_names_the_failing_instance(world, prometheus_pair):
    url, (good_port, bad_port) = prometheus_pair
    world.bot_port = good_port
    world.traffic(on_error=HEALTHY, off_error=HEALTHY)
    world.start_bot()
    start_second_bot(world, bad_port, on_error=0.5, off_error=HEALTHY)
    world.plan("25:1h,100", window="5s", triggers="error_rate=0.05")
    world.start_guard("--prometheus", url, "--selector", '{job="bot"}', "--memory-limit", str(2 << 30))
    assert_rollback_names(world, f"127.0.0.1:{bad_port}", f"127.0.0.1:{good_port}")
