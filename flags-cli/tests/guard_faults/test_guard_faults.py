"""Fault injection: the released guard against metrics servers
that misbehave on purpose. Each case is one finding of the issue, and each
fails on the guard before the fix: a wrong reading must hold, never act.

Run by scripts/test.sh with the project's virtualenv:
    FEATURE_FLAGS_BIN=target/debug/feature_flags python -m pytest flags-cli/tests/guard_faults
"""

from __future__ import annotations

import json
import os
import re
import sys
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from servers import FakeBot, FakePrometheus, healthy_prometheus

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from e2e_support import BIN, PROMETHEUS, require, scrape_bots, start_prometheus, wait_for  # noqa: E402

# Per scrape: 40 `on` and 40 `off` outcomes, 1 % errors, all fast.
HEALTHY = {"on_ok": 40, "on_err": 0.4, "off_ok": 40, "off_err": 0.4}
# `on` fails: 30 % errors.
FAILING = {"on_ok": 28, "on_err": 12, "off_ok": 40, "off_err": 0.4}


class Guard:
    """A real `feature_flags --guard`, its output lines timed."""

    def __init__(self, flags: Path, *source: str, interval: str = "1s"):
        self.proc = subprocess.Popen(
            [BIN, "--file", str(flags), "--guard", "--interval", interval, "--listen", "127.0.0.1:0", *source],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()
        found = wait_for("the status page", lambda: self.first(lambda l: "status page" in l), 10)
        self.url = re.search(r"http://\S+/", found[1]).group(0)

    def _read(self) -> None:
        for raw in iter(self.proc.stdout.readline, ""):
            self.lines.append((time.monotonic(), raw.rstrip("\n")))

    def first(self, predicate):
        return next(((t, l) for t, l in list(self.lines) if predicate(l)), None)

    def count(self, predicate) -> int:
        return sum(1 for _, l in list(self.lines) if predicate(l))

    def text(self) -> str:
        return "\n".join(l for _, l in self.lines)

    def checks(self, n: int, timeout: float = 20) -> None:
        """Waits for n more decisions about gpt (or for the plan to stop
        running: a rollback or a move ends the decisions)."""
        start = self.count(lambda l: l.startswith("gpt: "))
        moved = lambda l: "rolled back" in l or "advanced" in l or "done at" in l
        wait_for(f"{n} checks", lambda: self.first(moved)
                 or self.count(lambda l: l.startswith("gpt: ")) >= start + n, timeout)

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class World:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.flags = tmp / "flags.json"
        self.flags.write_text('{"version": 1, "flags": {"gpt": {"enabled": true, "rollout_percentage": 0}}}\n')
        self.rollouts = tmp / "flags.json.rollouts.json"
        self.closers = []

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([BIN, "--file", str(self.flags), *args], capture_output=True, text=True, timeout=30)
        if ok:
            assert out.returncode == 0, out.stderr
        return out

    def plan(self, phases: str, window: str = "3s", min_samples: int = 20, sustain: int = 2,
             triggers: str | None = None) -> None:
        args = ["--feature", "gpt", "--plan", phases, "--window", window,
                "--min-samples", str(min_samples), "--sustain", str(sustain)]
        if triggers:
            args += ["--triggers", triggers]
        self.cli(*args, "--start")

    def bot(self, step: dict, **kw) -> FakeBot:
        b = FakeBot(step, **kw)
        self.closers.append(b.close)
        return b

    def guard(self, *source: str, interval: str = "1s") -> Guard:
        g = Guard(self.flags, *source, interval=interval)
        self.closers.append(g.stop)
        self.guards = getattr(self, "guards", []) + [g]
        return g

    def state(self) -> dict:
        return json.loads(self.rollouts.read_text())["rollouts"]["gpt"]

    def flag(self) -> dict:
        return json.loads(self.flags.read_text())["flags"]["gpt"]

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()
    for g in getattr(w, "guards", []):
        print("guard log:\n" + g.text())


def rolled_back(g: Guard) -> bool:
    return g.first(lambda l: "rolled back" in l) is not None


def assert_held(world: World, g: Guard, checks: int = 5) -> None:
    g.checks(checks)
    assert not rolled_back(g), g.text()
    assert g.first(lambda l: "advanced" in l or "done at" in l) is None, g.text()
    assert world.state()["state"] == "running", world.state()


# ---- 1. missing series are no data, not zero ------------------------------


# Too few `off` outcomes to compare with: the threshold alone decides.
FEW_OFF = {"on_ok": 40, "on_err": 0.4, "off_ok": 2}


def test_1_missing_duration_buckets_are_no_data_not_all_slow(world):
    bot = world.bot(FEW_OFF)
    bot.spoil = lambda n, lines: [l for l in lines if "_bucket" not in l]
    world.plan("25:1h,100")
    g = world.guard("--scrape", bot.url)
    assert_held(world, g)
    assert g.first(lambda l: "response_time no data" in l and "bad data" in l), g.text()
    assert 'feature_flags_guard_bad_samples_total{reason="missing"}' in g.metrics()
    assert not re.search(r'bad_samples_total\{reason="missing"\} 0\n', g.metrics())


def test_1_prometheus_without_buckets_is_no_data(world):
    prom = FakePrometheus(lambda q: healthy_prometheus(q, buckets=False, off=5))
    world.closers.append(prom.close)
    world.plan("25:1h,100")
    g = world.guard("--prometheus", prom.url, "--selector", '{job="bot"}', "--memory-limit", "2000000000")
    assert_held(world, g, checks=4)
    assert g.first(lambda l: "response_time no data" in l), g.text()


def test_1_a_nan_series_beside_a_real_one_is_no_data(world):
    bot = world.bot({"on_ok": 40, "on_err": 10, "off_ok": 2})
    nan_ok = re.compile(r'(cohort="on",result="ok"\}) \S+')
    bot.spoil = lambda n, lines: [nan_ok.sub(r"\1 NaN", l) for l in lines]
    world.plan("25:1h,100", triggers="response_time=off")
    g = world.guard("--scrape", bot.url)
    assert_held(world, g)
    assert g.first(lambda l: "error_rate no data" in l), g.text()


# ---- 2. a cut-off reply is a source error, not a counter reset -------------


def test_2_a_reply_cut_mid_number_is_a_source_error(world):
    bot = world.bot(HEALTHY, start_errors=50_000)
    on_error = 'cohort="on",result="error"'

    def last(n, lines):
        # The `on` errors line last, so the cut falls in its number.
        return [l for l in lines if on_error not in l] + [l for l in lines if on_error in l]

    bot.spoil = last
    bot.cut = lambda n: n % 3 == 0
    world.plan("25:1h,100")
    g = world.guard("--scrape", bot.url)
    assert_held(world, g, checks=7)
    assert g.first(lambda l: "does not end with a newline" in l), g.text()


# ---- 3. garbage values ------------------------------------------------------


def test_3_a_negative_sample_is_no_data_not_a_reset(world):
    bot = world.bot(HEALTHY, start_errors=50_000)
    on_error = re.compile(r'(cohort="on",result="error"\}) \S+')
    bot.spoil = lambda n, lines: [on_error.sub(r"\1 -1", l) for l in lines] if n == 3 else lines
    world.plan("25:1h,100")
    g = world.guard("--scrape", bot.url)
    assert_held(world, g, checks=7)
    assert re.search(r'bad_samples_total\{reason="negative"\} 1\n', g.metrics()), g.metrics()


def test_3_an_infinite_sample_never_passes_min_samples(world):
    # No `on` traffic at all: only garbage could make the phase advance.
    bot = world.bot({"off_ok": 40})
    on_ok = re.compile(r'(cohort="on",result="ok"\}) \S+')
    bot.spoil = lambda n, lines: [on_ok.sub(r"\1 +Inf", l) for l in lines] if n == 3 else lines
    world.plan("5:1s,100", triggers="error_rate=off,response_time=off,memory_usage=off")
    g = world.guard("--scrape", bot.url)
    assert_held(world, g, checks=6)
    assert world.flag()["rollout_percentage"] == 5
    assert re.search(r'bad_samples_total\{reason="infinite"\} 1\n', g.metrics()), g.metrics()


# ---- 4. limits that are the bots' only -------------------------------------


def test_4_prometheus_without_memory_limit_has_no_memory_data(world):
    prom = FakePrometheus(healthy_prometheus)
    world.closers.append(prom.close)
    world.plan("25:1h,100")
    g = world.guard("--prometheus", prom.url, "--selector", '{job="bot"}')
    g.checks(2)
    assert g.first(lambda l: "warning: no --memory-limit" in l), g.text()
    line = g.first(lambda l: l.startswith("gpt: holds"))[1]
    assert "memory_usage no data" in line, line
    assert not any("process_resident_memory_bytes" in q for q in prom.queries)


def test_4_prometheus_without_selector_is_refused(world):
    world.plan("25:1h,100")
    out = world.cli("--guard", "--once", "--prometheus", "http://127.0.0.1:1", "--memory-limit", "1000", ok=False)
    assert out.returncode == 2, out
    assert "--prometheus needs --selector" in out.stderr, out.stderr
    # An explicit '{}' is accepted (and here fails only on the source).
    out = world.cli("--guard", "--once", "--prometheus", "http://127.0.0.1:1", "--selector", "{}",
                    "--memory-limit", "1000", ok=False)
    assert "--selector" not in out.stderr, out.stderr


# ---- 5. a rollback never raises exposure -----------------------------------


def test_5_abort_of_a_hand_lowered_plan_keeps_the_lower_percentage(world):
    world.cli("--feature", "gpt", "--plan", "5:1h,25:1h,50:1h,100", "--on-trigger", "previous-phase", "--start")
    # The plan at phase 3 (50 %), as a guard would have left it.
    data = json.loads(world.rollouts.read_text())
    data["rollouts"]["gpt"]["phase"] = 3
    world.rollouts.write_text(json.dumps(data))
    world.cli("--feature", "gpt", "--percentage", "50")
    world.cli("--feature", "gpt", "--resume", ok=False)
    world.cli("--feature", "gpt", "--percentage", "10")
    assert world.state()["state"] == "paused", world.state()
    world.cli("--feature", "gpt", "--abort")
    assert world.flag()["rollout_percentage"] == 10, world.flag()
    assert world.state()["state"] == "rolled_back"


# ---- 6. streaks count observations, not checks -----------------------------


def test_6_two_guards_on_one_file_do_not_shorten_sustain(world):
    bot = world.bot(FAILING)
    world.plan("25:1h,100", sustain=3)
    a = world.guard("--scrape", bot.url)
    time.sleep(0.5)
    b = world.guard("--scrape", bot.url)
    tripped = lambda l: "tripped on 1 of 3" in l
    wait_for("a rollback", lambda: rolled_back(a) or rolled_back(b), 20)
    first = min(t for g in (a, b) for t, l in g.lines if tripped(l))
    done = min(g.first(lambda l: "rolled back" in l)[0] for g in (a, b) if rolled_back(g))
    # Three observations at least 0.9 s apart: 1.8 s from the first.
    assert done - first >= 1.7, f"rolled back {done - first:.2f} s after the first trip"


def test_6_a_guard_faster_than_prometheus_counts_each_scrape_once(world):
    bot = world.bot({"on_ok": 140, "on_err": 60, "off_ok": 200, "off_err": 2})
    port = int(bot.url.split(":")[2].split("/")[0])
    require(PROMETHEUS, "prometheus")
    prometheus = start_prometheus(scrape_bots([port], "5s"), world.tmp)
    world.closers.append(prometheus.stop)
    url = prometheus.url
    world.plan("25:1h,100", window="20s")
    g = world.guard("--prometheus", url, "--selector", '{job="bot"}', "--memory-limit", "2000000000")
    wait_for("a rollback", lambda: rolled_back(g), 60)
    first = g.first(lambda l: "tripped on 1 of 2" in l)
    assert first is not None, g.text()
    done = g.first(lambda l: "rolled back" in l)
    # Checks every second, Prometheus' data every 5 s: the second
    # observation is the next scrape, not the next check.
    assert done[0] - first[0] >= 3.5, f"{done[0] - first[0]:.2f} s: {g.text()}"
    assert g.count(lambda l: "tripped on 1 of 2" in l) >= 3, g.text()


# ---- 7. quiet and true --------------------------------------------------------


def test_7_a_phase_waiting_for_samples_does_not_rewrite_the_file(world):
    bot = world.bot(HEALTHY)
    # Only complaints judged, so the phase waits for samples, healthy.
    world.plan("25:1s,100", min_samples=1_000_000,
               triggers="error_rate=off,response_time=off,memory_usage=off")
    g = world.guard("--scrape", bot.url)
    wait_for("a wait for samples", lambda: g.count(lambda l: "on outcomes seen in the phase" in l) >= 2, 20)
    before = os.stat(world.rollouts)
    g.checks(4)
    after = os.stat(world.rollouts)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns), g.text()
    seen = [l for _, l in g.lines if "on outcomes seen in the phase" in l]
    assert len(set(seen)) > 1, seen  # the numbers did change


def test_7_every_action_series_is_exported_from_the_first_check(world):
    bot = world.bot(HEALTHY)
    world.plan("25:1h,100")
    g = world.guard("--scrape", bot.url)
    g.checks(1)
    metrics = g.metrics()
    for action, trigger in [("advanced", "none"), ("done", "none"), ("rolled_back", "error_rate"),
                            ("rolled_back", "response_time"), ("rolled_back", "memory_usage"),
                            ("rolled_back", "complaints")]:
        line = f'feature_flags_guard_actions_total{{flag="gpt",action="{action}",trigger="{trigger}"}} 0'
        assert line in metrics, metrics


# ---- a real restart is still a reset ----------------------------------------


@pytest.mark.parametrize("step,rolls_back", [(FAILING, True), (HEALTHY, False)])
def test_a_bot_restart_mid_window_is_a_reset(world, step, rolls_back):
    bot = world.bot(step)
    world.plan("25:1h,100", window="4s", sustain=3)
    g = world.guard("--scrape", bot.url)
    g.checks(2)
    bot.restart()
    if rolls_back:
        wait_for("a rollback", lambda: rolled_back(g), 20)
        line = g.first(lambda l: "rolled back" in l)[1]
        assert ": error_rate " in line, line
        assert world.flag()["enabled"] is False
    else:
        assert_held(world, g, checks=5)
    metrics = g.metrics()
    assert re.search(r'bad_samples_total\{reason="decrease"\} 0\n', metrics), metrics
    metrics_rollback = 'actions_total{flag="gpt",action="rolled_back",trigger="error_rate"} '
    assert (metrics_rollback + ("1" if rolls_back else "0")) in metrics, metrics
