#!/usr/bin/env python3
"""Throwaway PostgreSQL clusters for tests: the one recipe, for Python
(the fleet's suites, benches, the doc and dashboard checks) and for Rust
(flags-postgres's `testing` module runs `serve` below).

`initdb` in a temporary folder, a free loopback port, the socket in the
folder, run as the `postgres` OS user when the tests run as root. The
superuser `postgres` logs in over the socket without a password; the role
`flags` (password PASSWORD, scram) over TCP, with the database `bot`.

    with Cluster.primary() as db:
        standby = db.standby()            # pg_basebackup -R, streaming
        db.psql("SELECT 1")
        db.stop(); standby.promote()
        url = two_host_url(standby, db)   # target_session_attrs=read-write
        ca = db.enable_tls()              # TLS only, a certificate for localhost

From another language:

    python3 scripts/pg_cluster.py serve [--standby-of SOCKET_DIR PORT]

starts a primary (or a streaming standby of the given cluster) and prints one
JSON line, {"port", "dir" (the socket's folder), "data", "log", "bin"} (or
{"error"}); then answers each command line on its standard input (`stop`,
`start`, `promote`, `tls`) with one JSON line ({"ok": true}, `tls` adding
{"ca": path}; or {"error"}), and when its standard input closes (the client
ended, however it ended) stops the cluster and removes its folder. No
password is printed.

`python3 scripts/pg_cluster.py bin-dir` prints the PostgreSQL binaries'
folder; `python3 scripts/pg_cluster.py selftest` checks the helper itself.
"""

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# The role `flags`'s password; flags-postgres/src/testing.rs's PASSWORD is
# the same (its tests connect with it).
PASSWORD = "s3cret-Pw0rd"
TIMEOUT = 30  # seconds for any pg_ctl / psql call


def bin_dir():
    """The newest PostgreSQL's binaries: $FLAGS_PG_BIN, else /usr/lib/postgresql/N/bin."""
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
        return Cluster.standby_of(self.dir, self.port, name)

    @classmethod
    def standby_of(cls, socket_dir, port, name="standby"):
        """A streaming standby of the cluster whose socket is in `socket_dir`."""
        s = cls(name)
        try:
            # A spread checkpoint would take minutes.
            s._run("pg_basebackup", "-h", socket_dir, "-p", str(port), "-U", "postgres",
                   "-D", s.data, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
            with open(os.path.join(s.data, "postgresql.conf"), "a") as f:
                f.write(f"\nunix_socket_directories = '{s.dir}'\n")
            s.start()
        except BaseException:
            s.destroy()
            raise
        return s

    def enable_tls(self):
        """Makes the server TLS-only (`hostnossl ... reject`) with a certificate
        for `localhost` signed by a new CA (the openssl command); restarts it
        and returns the CA certificate's path (its key, ca.key, beside it)."""
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._openssl("req", "-x509", "-days", "2", "-subj", "/CN=flags test CA",
                      "-keyout", "ca.key", "-out", "ca.crt", *ec)
        self._openssl("req", "-new", "-subj", "/CN=localhost", "-keyout", "server.key",
                      "-out", "server.csr", *ec)
        with open(os.path.join(self.dir, "san.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost\n")
        self._openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                      "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
        for name in ("server.crt", "server.key"):
            target = os.path.join(self.data, name)
            shutil.copy(os.path.join(self.dir, name), target)
            if self.as_postgres:
                shutil.chown(target, "postgres", "postgres")
        os.chmod(os.path.join(self.data, "server.key"), 0o600)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("ssl = on\n")
        hba = os.path.join(self.data, "pg_hba.conf")
        with open(hba) as f:
            rest = f.read()
        with open(hba, "w") as f:
            f.write(f"hostnossl all all 127.0.0.1/32 reject\n{rest}")
        self.stop()
        self.start()
        return os.path.join(self.dir, "ca.crt")

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
            said = f"{program} {' '.join(args)}: {out.stdout}{out.stderr}"
            raise RuntimeError(said.replace(PASSWORD, "***"))
        return out

    def _openssl(self, *args):
        out = subprocess.run(["openssl", *args], cwd=self.dir, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=TIMEOUT)
        if out.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)}: {out.stderr}")


def two_host_url(first, second, db="bot"):
    """A writer's URL over two servers: whichever is read-write is used."""
    return (f"postgres://flags:{PASSWORD}@127.0.0.1:{first.port},127.0.0.1:{second.port}/{db}"
            "?target_session_attrs=read-write&sslmode=disable")


def serve(standby_of=None):
    """The `serve` command (see the module's doc): one cluster, kept while
    standard input stays open."""
    def reply(answer):
        print(json.dumps(answer), flush=True)

    # A client that goes away closes our standard input; a signal ends us as
    # cleanly (the cluster stopped, its folder removed).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    try:
        cluster = Cluster.standby_of(*standby_of) if standby_of else Cluster.primary()
    except Exception as e:  # noqa: BLE001 (told to the client)
        reply({"error": str(e)})
        return 1
    try:
        reply({"port": cluster.port, "dir": cluster.dir, "data": cluster.data,
               "log": cluster.log, "bin": cluster.bin})
        commands = {"stop": cluster.stop, "start": cluster.start, "promote": cluster.promote,
                    "tls": lambda: {"ca": cluster.enable_tls()}}
        for line in sys.stdin:
            command = commands.get(line.strip())
            if command is None:
                reply({"error": f"unknown command {line.strip()!r} (one of {', '.join(commands)})"})
                continue
            try:
                reply({"ok": True, **(command() or {})})
            except Exception as e:  # noqa: BLE001 (told to the client)
                reply({"error": str(e)})
    finally:
        cluster.destroy()
    return 0


def serve_selftest():
    """`serve` as a client sees it: the line, a command, TLS, and the folder
    gone once standard input closes."""
    with subprocess.Popen([sys.executable, __file__, "serve"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as proc:
        try:
            started = json.loads(proc.stdout.readline())
            assert "port" in started and PASSWORD not in json.dumps(started), started
            for command in ("stop", "start", "tls"):
                proc.stdin.write(command + "\n")
                proc.stdin.flush()
                answer = json.loads(proc.stdout.readline())
                assert answer.get("ok"), answer
            # Back after the stop, TLS only, the certificate good for localhost.
            tls = subprocess.run(
                ["psql", f"host=localhost port={started['port']} user=flags dbname=bot sslmode=verify-full "
                 f"sslrootcert={answer['ca']}", "-X", "-A", "-t", "-c", "SELECT ssl FROM pg_stat_ssl "
                 "WHERE pid = pg_backend_pid()"],
                env={**os.environ, "PGPASSWORD": PASSWORD}, capture_output=True, text=True,
                timeout=TIMEOUT)
            assert tls.stdout.strip() == "t", tls.stderr
        finally:
            proc.stdin.close()  # also on failure: `serve` cleans up
            try:
                code = proc.wait(timeout=TIMEOUT + 10)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert code == 0, f"serve exited {code}"
    assert not os.path.exists(started["dir"]), "serve left its folder behind"


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
    serve_selftest()
    print(f"pg_cluster selftest ok in {time.monotonic() - started:.1f} s")


def main(argv):
    if not argv:
        return __doc__  # `python3 -i scripts/pg_cluster.py`: the doc, then the prompt
    parser = argparse.ArgumentParser(description="Throwaway PostgreSQL clusters for tests.")
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="one cluster while standard input stays open")
    serving.add_argument("--standby-of", nargs=2, metavar=("SOCKET_DIR", "PORT"),
                         help="a streaming standby of this cluster instead of a primary")
    commands.add_parser("bin-dir", help="print the PostgreSQL binaries' folder")
    commands.add_parser("selftest", help="check this helper")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.standby_of)
    if args.command == "bin-dir":
        print(bin_dir())
        return 0
    selftest()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
