#!/usr/bin/env python3
"""Throwaway PostgreSQL clusters for end-to-end tests (the fleet).

The same recipe as flags-postgres's `testing` module: `initdb` in a temporary
folder, a free loopback port, the socket in the folder, run as the `postgres`
OS user when the tests run as root. The superuser `postgres` logs in over the
socket without a password; the role `flags` (password PASSWORD, scram) over
TCP, with the database `bot`.

    with Cluster.primary() as db:
        standby = db.standby()            # pg_basebackup -R, streaming
        db.psql("SELECT 1")
        db.stop(); standby.promote()
        url = two_host_url(standby, db)   # target_session_attrs=read-write

`python3 scripts/pg_cluster.py selftest` checks the helper itself.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PASSWORD = "s3cret-Pw0rd"
TIMEOUT = 30  # seconds for any pg_ctl / psql call


def bin_dir():
    if os.environ.get("FLAGS_PG_BIN"):
        return os.environ["FLAGS_PG_BIN"]
    found = sorted(
        (int(os.path.basename(os.path.dirname(d))), d)
        for d in glob.glob("/usr/lib/postgresql/*/bin")
        if os.path.exists(os.path.join(d, "initdb"))
    )
    if not found:
        raise RuntimeError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)")
    return found[-1][1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, name):
        self.name = name
        self.bin = bin_dir()
        self.as_postgres = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix=f"flags-pg-{name}-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, f"{name}.log")
        self.port = free_port()
        if self.as_postgres:
            subprocess.run(["chown", "-R", "postgres:postgres", self.dir], check=True)

    @classmethod
    def primary(cls, name="primary"):
        c = cls(name)
        try:
            c._run("initdb", "-D", c.data, "-U", "postgres", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C")
            with open(os.path.join(c.data, "postgresql.conf"), "a") as f:
                f.write(
                    f"\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{c.dir}'\n"
                    "fsync = off\nfull_page_writes = off\n"
                    "shared_buffers = 16MB\nmax_connections = 60\nwal_level = replica\n"
                    "max_wal_senders = 4\nlog_min_messages = warning\n")
            c.start()
            c.psql(f"CREATE ROLE flags LOGIN PASSWORD '{PASSWORD}'")
            c.psql("CREATE DATABASE bot OWNER flags")
        except BaseException:
            c.destroy()
            raise
        return c

    def standby(self, name="standby"):
        """A streaming standby of this cluster, started."""
        s = Cluster(name)
        try:
            s._run("pg_basebackup", "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                   "-D", s.data, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
            with open(os.path.join(s.data, "postgresql.conf"), "a") as f:
                f.write(f"\nunix_socket_directories = '{s.dir}'\n")
            s.start()
        except BaseException:
            s.destroy()
            raise
        return s

    def url(self, db="bot", password=True):
        pw = f":{PASSWORD}" if password else ""
        return f"postgres://flags{pw}@127.0.0.1:{self.port}/{db}?sslmode=disable"

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", f"-p {self.port}",
                  "-w", "-t", str(TIMEOUT), "start")

    def stop(self):
        """Immediate stop (a crash, as far as clients can tell)."""
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)

    def promote(self):
        self._run("pg_ctl", "-D", self.data, "-w", "-t", str(TIMEOUT), "promote")

    def running(self):
        return self._run("pg_ctl", "-D", self.data, "status", check=False).returncode == 0

    def psql(self, sql, db="postgres"):
        """Runs SQL as the superuser over the socket; returns the output (unaligned)."""
        out = self._run("psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                        "-d", db, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
        return out.stdout.strip()

    def destroy(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    def _run(self, program, *args, check=True):
        cmd = [os.path.join(self.bin, program), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, cwd=self.dir, stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=TIMEOUT + 10)
        if check and out.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)}: {out.stdout}{out.stderr}")
        return out


def two_host_url(first, second, db="bot"):
    """A writer's URL over two servers: whichever is read-write is used."""
    return (f"postgres://flags:{PASSWORD}@127.0.0.1:{first.port},127.0.0.1:{second.port}/{db}"
            "?target_session_attrs=read-write&sslmode=disable")


def selftest():
    started = time.monotonic()
    with Cluster.primary() as primary:
        primary.psql("CREATE TABLE t (v text); INSERT INTO t VALUES ('one')", db="bot")
        # The test role over TCP with its password (scram), as the CLI connects.
        who = subprocess.run(["psql", primary.url(), "-X", "-A", "-t", "-c", "SELECT current_user"],
                             capture_output=True, text=True, timeout=TIMEOUT, check=True)
        assert who.stdout.strip() == "flags", who
        standby = primary.standby()
        try:
            deadline = time.monotonic() + 10
            while standby.psql("SELECT count(*) FROM t", db="bot") != "1":
                assert time.monotonic() < deadline, "the standby never caught up"
                time.sleep(0.05)
            assert standby.psql("SELECT pg_is_in_recovery()") == "t"
            primary.stop()
            assert not primary.running()
            standby.promote()
            assert standby.psql("SELECT pg_is_in_recovery()") == "f"
            standby.psql("INSERT INTO t VALUES ('two')", db="bot")
            assert standby.psql("SELECT string_agg(v, ',' ORDER BY v) FROM t", db="bot") == "one,two"
            primary.start()  # the old primary comes back as a second writer: fine for the test
            assert primary.running()
        finally:
            standby.destroy()
        dirs = (primary.dir, standby.dir)
    assert not any(os.path.exists(d) for d in dirs), "folders left behind"
    print(f"pg_cluster selftest ok in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    if sys.argv[1:] == ["selftest"]:
        selftest()
    else:
        sys.exit(__doc__)
