"""The benchmark's pure-Python baseline gives the golden answers, so the
benchmark compares equal work; and the benchmark script runs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from support import REPO_ROOT

xxhash = pytest.importorskip("xxhash", reason="the baseline needs xxhash (bench-only)")

BENCH_DIR = REPO_ROOT / "flags-ffi" / "python" / "bench"
sys.path.insert(0, str(BENCH_DIR))
from baseline import BaselineFlags  # noqa: E402


def test_the_baseline_matches_every_golden_case(cases: dict) -> None:
    baseline = BaselineFlags(cases["file"])
    mismatches = []
    for case in cases["cases"]:
        want = case["expect"]
        got = baseline.evaluate(case["flag"], **case["context"])
        if got != (want["enabled"], want["reason"], want["bucket"]):
            mismatches.append(f"{case['flag']} {case['context']}: {got} != {want}")
        if baseline.is_enabled(case["flag"], **case["context"]) is not want["enabled"]:
            mismatches.append(f"{case['flag']} {case['context']}: is_enabled disagrees")
    assert not mismatches, "\n".join(mismatches[:20])


def test_the_benchmark_runs_and_reports_every_measurement() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH_DIR / "bench.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    ns = json.loads(result.stdout)["ns_per_op"]
    # The collector's row needs prometheus_client.
    # 9 timed loops, msg.is_enabled, msg.record, msg.track, metrics_text, the collector.
    assert len(ns) == 13 + (importlib.util.find_spec("prometheus_client") is not None)
    assert "is_enabled, 1 flag (library, count_decisions=False)" in ns
    assert all(0 < value["best"] <= value["median"] for value in ns.values())
