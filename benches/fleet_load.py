#!/usr/bin/env python3
"""The fleet under load, with real processes on one real
PostgreSQL on loopback (scripts/pg_cluster.py): N syncs (`feature_flags
--sync`, one file each), 2 guards (`--guard` on the database, checking every
second) and 20 edits a second by the real CLI, for D seconds. A benchmark,
not a timed test: it prints the times and asserts only what a correct fleet
must do whatever the speed:

  - no edit lost: every CLI call succeeded, the audit table has one row per
    edit, and the document's version moved by exactly the number of edits;
  - every sync converges on the last version (file = --export, byte for byte);
  - no connection leak: while it runs, the cluster's connections to the
    database (pg_stat_activity) never exceed syncs + guards + CLI calls in
    flight, and at the end they are exactly syncs + guards;
and prints the propagation (commit -> each sync's file, p50/p99/max over
every edit and sync; goal p99 <= 1 s), the syncs' memory before and after,
and the connection counts.

    cargo build --release -p flags-cli --bin feature_flags
    FEATURE_FLAGS_BIN=target/release/feature_flags python3 benches/fleet_load.py          # 50 syncs, 60 s
    FEATURE_FLAGS_BIN=target/debug/feature_flags python3 benches/fleet_load.py --quick    # 5 syncs, 5 s

Commit times come from PostgreSQL itself (track_commit_timestamp, the
audit row's transaction), the sync's from its log line's UTC time: one
clock, the machine's.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flags-cli" / "tests" / "fleet_e2e"))

from fleet import BIN, Cluster, Fleet, metric, new_fleet, rss_kib, wait_for  # noqa: E402

RATE = 20  # edits per second
FLAGS = 10  # the edits go round f0..f9
GUARDS = 2
WRITTEN = re.compile(r"^(\S+Z) .* database version (\d+)")


def unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Load:
    """Edits at RATE a second from a pool (an edit may take longer than
    1/RATE s), counting the calls in flight."""

    def __init__(self, fleet: Fleet, url: str):
        self.fleet, self.url = fleet, url
        self.in_flight = 0
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.seconds: list[float] = []

    def edit(self, i: int) -> None:
        flag, value = f"f{i % FLAGS}", (i // FLAGS) % 100 + 1
        with self.lock:
            self.in_flight += 1
        try:
            run = self.fleet.cli("--feature", flag, "--percentage", str(value), url=self.url, timeout=60)
            with self.lock:
                self.seconds.append(run.seconds)
                if run.code != 0:
                    self.failures.append(f"edit {i}: {run.stderr.strip()}")
        finally:
            with self.lock:
                self.in_flight -= 1

    def run(self, duration: float) -> int:
        total = int(duration * RATE)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=48) as pool:
            for i in range(total):
                delay = started + i / RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self.edit, i)
        return total


def connections(cluster: Cluster) -> int:
    return int(cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'bot'"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--syncs", type=int)
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args()
    syncs = args.syncs or (5 if args.quick else 50)
    duration = args.seconds or (5.0 if args.quick else 60.0)
    started = time.monotonic()
    print(f"fleet load bench ({'quick' if args.quick else 'full'}): {syncs} syncs, {GUARDS} guards, "
          f"{RATE} edits/s for {duration:.0f} s, with {BIN}")

    with Cluster.primary("load") as cluster, tempfile.TemporaryDirectory(prefix="fleet-load-") as tmp:
        cluster.psql("ALTER SYSTEM SET max_connections = 200")
        cluster.psql("ALTER SYSTEM SET track_commit_timestamp = on")
        cluster.stop()
        cluster.start()
        url = cluster.url()
        fleet = new_fleet(Path(tmp), url, extra=FLAGS)
        try:
            servers = [fleet.server(f"s{i:02}") for i in range(syncs)]
            for s in servers:
                s.start_sync(poll="5s")
            for g in range(GUARDS):
                folder = Path(tmp) / f"guard{g}"
                folder.mkdir()
                # No running plan: each check reads both documents and
                # queries nothing (the URL is never called).
                fleet.spawn([BIN, "--database", url, "--guard", "--prometheus", "http://127.0.0.1:9/",
                             "--selector", '{job="bot"}', "--interval", "1s"], folder)
            fleet.converged(timeout=30)
            expected = syncs + GUARDS
            wait_for("every sync and guard connected", lambda: connections(cluster) == expected, 15, step=0.2)
            version_before = int(cluster.psql(
                "SELECT version FROM feature_flags.documents WHERE name = 'flags'", db="bot"))
            audit_before = int(cluster.psql("SELECT coalesce(max(id), 0) FROM feature_flags.audit", db="bot"))
            rss_before = {s.name: rss_kib(s.sync.pid) for s in servers}

            load = Load(fleet, url)
            samples: list[tuple[int, int, int]] = []  # (connections, in flight before, after)
            done = threading.Event()

            rss_middle: dict[str, int] = {}

            def watch():
                while not done.is_set():
                    if not rss_middle and time.monotonic() - load_started >= duration / 2:
                        rss_middle.update({s.name: rss_kib(s.sync.pid) for s in servers})
                    before = load.in_flight
                    n = connections(cluster)
                    samples.append((n, before, load.in_flight))
                    done.wait(0.5)
            load_started = time.monotonic()
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            edits = load.run(duration)
            wait_for("every edit to return", lambda: load.in_flight == 0 and len(load.seconds) == edits, 120)
            load_took = time.monotonic() - load_started
            done.set()
            watcher.join(timeout=5)

            # No edit lost.
            assert not load.failures, load.failures[:5]
            version = int(cluster.psql("SELECT version FROM feature_flags.documents WHERE name = 'flags'", db="bot"))
            rows = cluster.psql(
                "SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM feature_flags.audit "
                f"WHERE id > {audit_before} ORDER BY id", db="bot").split()
            assert len(rows) == edits, f"{len(rows)} audit rows for {edits} edits"
            assert version == version_before + edits, f"version {version}, expected {version_before + edits}"
            # Serialised by the documents' row locks: the k-th audit row is
            # the k-th new version.
            committed = {version_before + k + 1: float(t) for k, t in enumerate(rows)}

            # Every sync converges on the last version.
            final = fleet.converged(timeout=30)
            for s in servers:
                wait_for(f"{s.name} at version {version}",
                         lambda: metric(s.metrics(), "feature_flags_sync_version") == version, 10)
            assert json.loads(final)

            # Propagation: commit of version v -> the first file with >= v.
            delays = []
            for s in servers:
                writes = sorted((int(m.group(2)), unix(m.group(1)))
                                for _, line in s.sync_log.lines if (m := WRITTEN.match(line)))
                for v, at in committed.items():
                    t = next(t for w, t in writes if w >= v)
                    delays.append(max(0.0, t - at))

            # No connection leak.
            over = [(n, a, b) for n, a, b in samples if n > expected + max(a, b) + 1]
            after = connections(cluster)
            rss_after = {s.name: rss_kib(s.sync.pid) for s in servers}
            growth = [rss_after[n] - rss_before[n] for n in rss_before]

            edit_s = sorted(load.seconds)
            print(f"edits: {edits} in {load_took:.1f} s ({edits / load_took:.1f}/s achieved), all succeeded; "
                  f"audit rows {len(rows)}, version {version_before} -> {version}")
            print(f"  one edit, the CLI process: median {statistics.median(edit_s) * 1000:.0f} ms, "
                  f"p99 {quantile(edit_s, 0.99) * 1000:.0f} ms")
            print(f"propagation commit -> file, {len(delays)} (edit, sync) pairs: "
                  f"p50 {quantile(delays, 0.5) * 1000:.0f} ms, p99 {quantile(delays, 0.99) * 1000:.0f} ms, "
                  f"max {max(delays) * 1000:.0f} ms (goal p99 <= 1 s)")
            print(f"connections to the database: {min(n for n, _, _ in samples)}..{max(n for n, _, _ in samples)} "
                  f"during the load (syncs + guards = {expected}, CLI calls in flight up to "
                  f"{max(max(a, b) for _, a, b in samples)}), {after} after")
            middle = statistics.median(rss_middle.values()) if rss_middle else float("nan")
            print(f"sync RSS (median of the syncs): {statistics.median(rss_before.values()):.0f} KiB before, "
                  f"{middle:.0f} KiB half-way, {statistics.median(rss_after.values()):.0f} KiB after; "
                  f"growth over the run max {max(growth)} KiB, median {statistics.median(growth):.0f} KiB")
            assert not over, f"connections above syncs + guards + in flight: {over[:5]}"
            assert after == expected, f"{after} connections after the load, expected {expected}"
            fleet.check_leaks()
        finally:
            fleet.close()
    print(f"fleet load bench done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
