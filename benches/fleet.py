#!/usr/bin/env python3
"""The fleet's speed, measured with real processes: a local
PostgreSQL (scripts/pg_cluster.py), two "servers" each with its own
`feature_flags --sync` and bot (flags-cli/tests/fleet_e2e/fleet.py), the
real CLI. A benchmark, not a test: it prints, it asserts nothing about time.

    FEATURE_FLAGS_BIN=target/release/feature_flags target/py-venv/bin/python benches/fleet.py [--quick]

(a debug build, as scripts/test.sh runs it in quick mode, spends most of an
edit in unoptimised SCRAM hashing: its edit times are not the product's).

Needs the `feature_flags` Python package (the bots) and prometheus_client in
the interpreter that runs it. Prints:
  - one edit: the CLI process end to end (start, connect, the transaction,
    exit; median of N), beside `--version` (the process alone) and
    `--export` (process + connect + one read), and the in-database part
    (every statement of the edit's session as the server logs it with
    log_min_duration_statement = 0); goal <= 50 ms;
  - propagation: edit -> both bots answering the new way (median of 20);
    goal <= 2 s;
  - a sync's resident memory before and after 1,000 edits (/proc/PID/status).
--quick (for scripts/test.sh) does fewer of each.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flags-cli" / "tests" / "fleet_e2e"))

from fleet import BIN, Cluster, new_fleet, propagation, rss_kib, wait_for  # noqa: E402

import subprocess  # noqa: E402


def ms(seconds: list[float]) -> str:
    s = sorted(seconds)
    return f"median {statistics.median(s) * 1000:.1f} ms, p90 {s[int(len(s) * 0.9) - 1] * 1000:.1f} ms (n={len(s)})"


def timed(*cmd: str) -> float:
    started = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    edits, rounds, many = (10, 5, 100) if args.quick else (50, 20, 1000)
    started = time.monotonic()
    print(f"fleet bench ({'quick' if args.quick else 'full'}) with {BIN}")

    with Cluster.primary("bench") as cluster, tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        url = cluster.url()
        fleet = new_fleet(Path(tmp), url, extra=1)
        try:
            servers = [fleet.server(n, f"{url}&application_name=sync-{n}").start() for n in ("blue", "green")]
            fleet.converged()

            # One edit, end to end, and what the database spends on it.
            cluster.psql("ALTER SYSTEM SET log_min_duration_statement = 0")
            cluster.psql("ALTER SYSTEM SET log_line_prefix = '%m [%p] %a: '")
            cluster.psql("SELECT pg_reload_conf()")
            time.sleep(0.3)
            edit_url = f"{url}&application_name=bench-edit"
            walls = [fleet.cli("--feature", "f0", "--percentage", str(i % 100 + 1), url=edit_url).ok().seconds
                     for i in range(edits)]
            cluster.psql("ALTER SYSTEM RESET log_min_duration_statement")
            cluster.psql("SELECT pg_reload_conf()")
            per_session: dict[str, float] = {}
            for pid, duration in re.findall(r"\[(\d+)\] bench-edit: LOG:  duration: ([\d.]+) ms",
                                            Path(cluster.log).read_text()):
                per_session[pid] = per_session.get(pid, 0.0) + float(duration) / 1000
            version = [timed(BIN, "--version") for _ in range(edits)]
            export = [fleet.cli("--export").ok().seconds for _ in range(edits)]
            print(f"one edit, the CLI process end to end: {ms(walls)}  (goal <= 50 ms)")
            print(f"  of which the database's statements: {ms(list(per_session.values()))}"
                  f" over {len(per_session)} sessions")
            print(f"  for comparison, --version (the process alone): {ms(version)}")
            print(f"  and --export (process, connect with scram, one read): {ms(export)}")

            # Propagation: 0 % <-> 100 %, each bot's answers flip once.
            wait_for("both bots answering off", lambda: all(s.answering_since(False) for s in servers), 10)
            times = []
            for i in range(rounds):
                on = i % 2 == 0
                times.append(propagation(fleet, servers, on, "--feature", "gpt", "--percentage",
                                         "100" if on else "0"))
            print(f"propagation edit -> both bots answering the new way: median {statistics.median(times):.3f} s,"
                  f" max {max(times):.3f} s (n={rounds}; goal <= 2 s)")

            # A sync's memory over many edits.
            pid = servers[0].sync.pid
            before = rss_kib(pid)
            for i in range(many):
                fleet.cli("--feature", "f0", "--percentage", str(i % 100 + 1)).ok()
            fleet.converged()
            after = rss_kib(pid)
            written = sum("takes database version" in l for _, l in servers[0].sync_log.lines)
            print(f"sync RSS: {before} KiB before, {after} KiB after {many} edits "
                  f"({written} files written by it so far)")
            fleet.check_leaks()
        finally:
            fleet.close()
    print(f"fleet bench done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
