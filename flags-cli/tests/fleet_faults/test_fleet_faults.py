"""The fleet under faults that close nothing, with real processes:
real PostgreSQL clusters (scripts/pg_cluster.py: a primary and its
`pg_basebackup -R` standby), the real `feature_flags` binary, and a
forwarder of our own (forwarder.py) in front of a primary that, on command,
goes silent: it keeps every connection and accepts new ones, but forwards
nothing and closes nothing, as a primary without power does.

Every wait is bounded; the folder runs in about 90 s. Run by scripts/test.sh:
    FEATURE_FLAGS_BIN=target/debug/feature_flags python -m pytest flags-cli/tests/fleet_faults
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fleet_e2e"))

from fleet import (  # noqa: E402
    BIN,
    PASSWORD,
    Cluster,
    Fleet,
    finish,
    message,
    metric,
    needs_prometheus,
    new_fleet,
    start_prometheus,
    stop,
    wait_for,
)
from forwarder import Forwarder  # noqa: E402
from test_guard_e2e import enough_samples  # noqa: E402

POLL = 1.0
# The connection layer's default query deadline (docs/fleet.md,
# "Deadlines"); the sync enforces it too.
QUERY_DEADLINE = 10.0
CONNECT_TIMEOUT = 2


def url_of(*ports: int, db: str = "bot", extra: str = "") -> str:
    hosts = ",".join(f"127.0.0.1:{p}" for p in ports)
    return (f"postgres://flags:{PASSWORD}@{hosts}/{db}?sslmode=disable"
            f"&connect_timeout={CONNECT_TIMEOUT}{extra}")


def writer_url(*ports: int, db: str = "bot") -> str:
    return url_of(*ports, db=db, extra="&target_session_attrs=read-write")


def flags_version(cluster: Cluster) -> str:
    return cluster.psql("SELECT version FROM feature_flags.documents WHERE name = 'flags'", db="bot")


def percentage(text: str, flag: str = "f0") -> int:
    return json.loads(text)["flags"][flag]["rollout_percentage"]


# (a), (b) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def failover(tmp_path_factory):
    """A primary behind a forwarder, its streaming standby, and a fleet whose
    URL names both (the forwarder first)."""
    primary = Cluster.primary("faults-primary")
    standby = fwd = fleet = None
    try:
        standby = primary.standby("faults-standby")
        fwd = Forwarder(primary.port)
        fleet = new_fleet(tmp_path_factory.mktemp("failover"), writer_url(fwd.port, standby.port), extra=1)
        yield {"primary": primary, "standby": standby, "fwd": fwd, "fleet": fleet}
    finally:
        if fleet is not None:
            finish(fleet)
        if fwd is not None:
            fwd.close()
        if standby is not None:
            standby.destroy()
        primary.destroy()


def test_a_sync_follows_the_promoted_standby_when_the_primary_goes_silent(failover, capsys):
    primary, standby, fwd, fleet = (failover[k] for k in ("primary", "standby", "fwd", "fleet"))
    server = fleet.server("blue")
    server.start_sync(poll=f"{POLL:.0f}s")
    fleet.converged()
    wait_for("the standby to replay the document",
             lambda: flags_version(standby) == flags_version(primary), 10)
    connect_errors = server.errors("connect")

    fwd.silent()
    silent_at = time.monotonic()
    standby.promote()
    # An operator edits the new primary directly.
    fleet.cli("--feature", "f0", "--percentage", "30", url=writer_url(standby.port)).ok()
    bound = POLL + QUERY_DEADLINE + 2
    wait_for("the file to follow the promoted standby",
             lambda: percentage(server.text()) == 30, bound, step=0.05)
    took = time.monotonic() - silent_at
    with capsys.disabled():
        print(f"\n    silent primary -> file from the promoted standby in {took:.2f} s (bound {bound:.0f} s)")
    log = server.sync_log.text()
    assert "trying the next host" in log, log
    assert f"connected to 127.0.0.1:{standby.port}" in log, log
    assert server.errors("connect") > connect_errors
    wait_for("the sync to report success again",
             lambda: metric(server.metrics(), "feature_flags_sync_up") == 1.0, 5)
    # Every line starts with its UTC time (RFC 3339).
    for _, line in server.sync_log.lines:
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", line), line
    # It stays on the standby: a later edit arrives within the poll (a
    # standby that was promoted delivers notifications, too).
    fleet.cli("--feature", "f0", "--percentage", "40", url=writer_url(standby.port)).ok()
    wait_for("the next edit", lambda: percentage(server.text()) == 40, POLL + 2, step=0.05)


def test_b_an_edit_on_a_multi_host_url_finishes_on_the_next_host_when_the_first_is_silent(failover, capsys):
    """Needs the connection layer's connect deadline (TCP, TLS and
    authentication within connect_timeout)."""
    standby, fwd, fleet = (failover[k] for k in ("standby", "fwd", "fleet"))
    fwd.silent()
    if standby.psql("SELECT pg_is_in_recovery()") == "t":
        standby.promote()
    bound = CONNECT_TIMEOUT + 5
    started = time.monotonic()
    try:
        run = fleet.cli("--feature", "f0", "--percentage", "55", timeout=bound + 20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the edit hung for {bound + 20} s on the silent first host")
    took = time.monotonic() - started
    with capsys.disabled():
        print(f"\n    multi-host edit, first host silent: {took:.2f} s (bound {bound} s)")
    run.ok()
    assert took <= bound, f"{took:.1f} s > connect_timeout {CONNECT_TIMEOUT} s + 5 s"
    assert percentage(fleet.cli("--export", url=writer_url(standby.port)).ok().stdout) == 55
    rows = standby.psql("SELECT count(*) FROM feature_flags.audit WHERE new = '55'", db="bot")
    assert rows == "1", rows


# (c) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    with Cluster.primary("faults-guard") as c:
        yield c


def start_guard(fleet: Fleet, name: str, prometheus: str, url: str):
    folder = fleet.tmp / name
    folder.mkdir(exist_ok=True)
    proc, log = fleet.spawn([BIN, "--database", url, "--guard", "--prometheus", prometheus,
                             "--selector", '{job="bot"}', "--interval", "1s", "--listen", "127.0.0.1:0"],
                            folder)
    found = wait_for(f"{name}'s guard status page", lambda: log.first(lambda l: "/metrics" in l), 10)
    metrics_url = re.search(r"http://\S+/metrics", found[1]).group(0)
    return proc, log, metrics_url


def guard_metric(url: str, name: str, labels: str = "") -> float:
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as r:
        return metric(r.read().decode(), name, labels) or 0.0


def count(log, part: str) -> int:
    return sum(part in line for _, line in log.lines)


def test_c_two_guards_hold_through_a_database_outage_log_it_once_and_act_once(cluster, tmp_path, capsys):
    needs_prometheus()
    cluster.psql("CREATE DATABASE guards OWNER flags")
    fwd = Forwarder(cluster.port)
    fleet = new_fleet(tmp_path, url_of(cluster.port, db="guards"))
    try:
        server = fleet.server("blue").start()
        prometheus = start_prometheus(fleet, [server])
        fleet.cli("--feature", "gpt", "--plan", "25:1h,100", "--window", "5s", "--min-samples", "50",
                  "--sustain", "2", "--start").ok()
        wait_for("the bot at 25 %", lambda: server.flag()["rollout_percentage"] == 25, 10)
        guards = [start_guard(fleet, name, prometheus, url_of(fwd.port, db="guards"))
                  for name in ("guard-a", "guard-b")]
        for _, log, _ in guards:
            wait_for("a guard check with data", lambda: log.first(enough_samples), 30)

        fwd.down()
        down_at = time.monotonic()
        before = [(guard_metric(m, "feature_flags_guard_checks_total"),
                   guard_metric(m, "feature_flags_guard_source_errors_total", 'source="database"'))
                  for _, _, m in guards]
        assert all(errors == 0 for _, errors in before), before
        # The bad phase develops while the guards cannot reach the database.
        server.traffic(on_error=0.3, off_error=0.01)
        time.sleep(5)
        for (proc, log, m), (checks, _) in zip(guards, before):
            assert proc.poll() is None, log.text()
            errors = guard_metric(m, "feature_flags_guard_source_errors_total", 'source="database"')
            assert errors >= 3, log.text()
            assert guard_metric(m, "feature_flags_guard_checks_total") - checks >= errors - 1
            assert count(log, "database unreachable") == 1, log.text()
            assert count(log, "rolled back") == 0, log.text()
        status = fleet.cli("--status", "--json").ok().stdout
        assert '"running"' in status and "rolled_back" not in status, status

        fwd.forward()
        wait_for("a rollback", lambda: any(log.first(lambda l: "rolled back" in l) for _, log, _ in guards), 30)
        with capsys.disabled():
            print(f"\n    database outage: rolled back {time.monotonic() - down_at:.1f} s after it began"
                  " (5 s of it down)")
        time.sleep(3)  # three more checks each: nobody acts again
        logs = [log.text() for _, log, _ in guards]
        for text in logs:
            print(text)
            assert text.count("database reachable again after") == 1, text
            assert text.count("database unreachable") == 1, text
        applied = [text.count("rolled back to") for text in logs]
        assert sorted(applied) == [0, 1], logs
        rows = [r for r in fleet.history() if r.get("action") == "rollback"]
        assert sorted(r["field"] for r in rows) == ["enabled", "plan.state"], rows
        assert len({r["time"] for r in rows}) == 1, rows
    finally:
        finish(fleet)
        fwd.close()


def test_c_a_guard_on_a_silent_database_holds_and_counts_each_check(cluster, tmp_path, capsys):
    """Needs the connection layer's deadlines: without them a guard's read
    on a silent connection never returns."""
    needs_prometheus()
    cluster.psql("CREATE DATABASE silentguard OWNER flags")
    fwd = Forwarder(cluster.port)
    fleet = new_fleet(tmp_path, url_of(cluster.port, db="silentguard"))
    try:
        server = fleet.server("blue").start()
        prometheus = start_prometheus(fleet, [server])
        fleet.cli("--feature", "gpt", "--plan", "25:1h,100", "--window", "5s", "--min-samples", "50",
                  "--start").ok()
        proc, log, m = start_guard(fleet, "guard", prometheus, url_of(fwd.port, db="silentguard"))
        wait_for("a guard check", lambda: guard_metric(m, "feature_flags_guard_checks_total") >= 2, 15)
        fwd.silent()
        silent_at = time.monotonic()
        errors = wait_for(
            "a source error for the silent database",
            lambda: guard_metric(m, "feature_flags_guard_source_errors_total", 'source="database"') >= 2,
            QUERY_DEADLINE + 2 * (CONNECT_TIMEOUT + 1) + 5)
        with capsys.disabled():
            print(f"\n    guard on a silent database: 2 source errors {time.monotonic() - silent_at:.1f} s after "
                  "it went silent")
        assert errors
        assert count(log, "database unreachable") == 1, log.text()
        fwd.forward()
        wait_for("the end of the outage", lambda: log.first(lambda l: "database reachable again" in l),
                 QUERY_DEADLINE + 5)
        assert proc.poll() is None
        assert "rolled_back" not in fleet.cli("--status", "--json").ok().stdout
    finally:
        finish(fleet)
        fwd.close()


# (d) ------------------------------------------------------------------------


def sigterm_ends(proc: subprocess.Popen, bound: float = 1.0) -> float:
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("SIGTERM did not end the sync within 10 s")
    took = time.monotonic() - sent
    assert took <= bound, f"the sync took {took:.2f} s to stop"
    return took


def test_d_sigterm_ends_a_sync_within_1_s_during_a_silent_connect_and_a_silent_read(cluster, tmp_path, capsys):
    cluster.psql("CREATE DATABASE stopping OWNER flags")
    fwd = Forwarder(cluster.port)
    fleet = new_fleet(tmp_path, url_of(cluster.port, db="stopping"), extra=1)
    try:
        # Silent from the start: the sync is connecting when it is told to stop.
        fwd.silent()
        connecting = fleet.server("connecting", url_of(fwd.port, db="stopping"))
        proc, log = fleet.spawn([BIN, "--database", connecting.url, "--sync", "--file", str(connecting.file),
                                 "--poll", "1s"], connecting.dir)
        wait_for("the sync to start", lambda: log.first(lambda l: " sync " in l), 10)
        wait_for("a connection held by the silent host", lambda: fwd.connections() >= 1, 5)
        time.sleep(0.5)
        assert proc.poll() is None, log.text()
        during_connect = sigterm_ends(proc)

        # Connected, then silent: the sync is in a read (or a wait) when told to stop.
        fwd.forward()
        reading = fleet.server("reading", url_of(fwd.port, db="stopping"))
        reading.start_sync(poll="1s")
        fwd.silent()
        time.sleep(POLL + 1)
        assert reading.sync.poll() is None
        during_read = sigterm_ends(reading.sync)
        with capsys.disabled():
            print(f"\n    SIGTERM -> exit: {during_connect:.2f} s during a silent connect, "
                  f"{during_read:.2f} s during a silent read")
        assert message(reading.sync_log.lines[-1][1]) == "sync: stopped", reading.sync_log.text()
    finally:
        finish(fleet)
        fwd.close()


# (e) ------------------------------------------------------------------------


def as_unprivileged(cmd: list[str], folder: Path) -> list[str]:
    """Permissions bind root only through another user: under root the sync
    runs as `nobody`, its folder and a copy of the binary owned by it."""
    if os.geteuid() != 0:
        return cmd
    nobody = pwd.getpwnam("nobody")
    binary = folder.parent / "feature_flags"
    shutil.copy(BIN, binary)
    os.chmod(binary, 0o755)
    for path in (folder, *folder.iterdir()):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
            str(binary), *cmd[1:]]


def test_e_a_failed_mirror_write_keeps_the_old_file_is_counted_and_retried(cluster, capsys):
    cluster.psql("CREATE DATABASE writes OWNER flags")
    # Not under pytest's tmp_path: `nobody` must be able to reach the folder.
    top = Path(tempfile.mkdtemp(prefix="flags-faults-"))
    os.chmod(top, 0o755)
    fleet = new_fleet(top, url_of(cluster.port, db="writes"), extra=1)
    try:
        server = fleet.server("blue")
        cmd = as_unprivileged([BIN, "--database", server.url, "--sync", "--file", str(server.file),
                               "--poll", "1s", "--listen", "127.0.0.1:0"], server.dir)
        server.sync, server.sync_log = fleet.spawn(cmd, server.dir)
        found = wait_for("the sync's metrics address", lambda: server.sync_log.first(lambda l: "metrics at" in l), 10)
        server.metrics_url = re.search(r"http://\S+/metrics", found[1]).group(0)
        assert metric(server.metrics(), "feature_flags_sync_errors_total", 'kind="write"') == 0.0
        wait_for("the first mirror", server.file.exists, 15)
        fleet.converged()
        good = server.text()

        os.chmod(server.dir, 0o555)  # the folder cannot take a new file
        fleet.cli("--feature", "f0", "--percentage", "70").ok()
        wait_for("a write error", lambda: server.errors("write") >= 2, 5)
        assert server.text() == good, "the old file is intact"
        log = server.sync_log.text()
        assert log.count("error (write)") == 1, log

        os.chmod(server.dir, 0o755)
        wait_for("the retried write", lambda: percentage(server.text()) == 70, POLL + 2)
        wait_for("recovered", lambda: server.sync_log.first(lambda l: message(l).startswith("recovered")), 2)
        with capsys.disabled():
            print(f"\n    write errors counted while the folder was read-only: {server.errors('write'):.0f}")
    finally:
        os.chmod(top / "blue", 0o755)
        finish(fleet)
        shutil.rmtree(top, ignore_errors=True)
