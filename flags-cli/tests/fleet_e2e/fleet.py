"""A fleet for end-to-end tests and benches/fleet.py: PostgreSQL from
scripts/pg_cluster.py, and "servers" (a folder each, with its own
`feature_flags --sync` and its own bot process, guard_e2e/bot.py, reading the
mirrored file), all real processes. Every wait is bounded; `Fleet.close()`
stops every process it started, and `Fleet.leaks()` looks for the database
password in everything the processes printed or wrote.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(HERE.parent / "guard_e2e"))
sys.path.insert(0, str(HERE.parent))

import e2e_support  # noqa: E402
from e2e_support import PROMETHEUS, free_port, stop, wait_for  # noqa: E402, F401
from pg_cluster import PASSWORD, Cluster, two_host_url  # noqa: E402
from test_guard_e2e import Lines  # noqa: E402

BIN = os.environ.get("FEATURE_FLAGS_BIN", str(ROOT / "target" / "debug" / "feature_flags"))
if os.sep in BIN:
    BIN = os.path.abspath(BIN)  # the processes run in the servers' folders
BOT = HERE.parent / "guard_e2e" / "bot.py"
POLL = "1s"


def document(extra: int = 0) -> str:
    """The fleet's first flag document: `gpt` (the bots' flag) at 0 %, and
    `extra` more flags f0, f1, … for the racing edits."""
    flags = {"gpt": {"enabled": True, "rollout_percentage": 0}}
    for i in range(extra):
        flags[f"f{i}"] = {"enabled": True, "rollout_percentage": 0}
    return json.dumps({"version": 1, "flags": flags}, indent=2) + "\n"


STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")


def message(line: str) -> str:
    """A sync log line without its leading UTC time."""
    return STAMP.sub("", line, count=1)


def metric(text: str, name: str, labels: str = "") -> float | None:
    """One sample of a Prometheus text page (None if absent); the sync's
    `environment` label (every series has it) is not part of `labels`."""
    text = re.sub(r'\{environment="[^"]*",?', "{", text).replace("{}", "")
    pattern = "^" + re.escape(name + (f"{{{labels}}}" if labels else "")) + r" (\S+)$"
    m = re.search(pattern, text, re.M)
    return float(m.group(1)) if m else None


class Run:
    def __init__(self, args, out: subprocess.CompletedProcess, seconds: float):
        self.args, self.code, self.stdout, self.stderr, self.seconds = (
            args, out.returncode, out.stdout, out.stderr, seconds)

    def ok(self) -> Run:
        assert self.code == 0, f"{self.args}: {self.code}\n{self.stdout}{self.stderr}"
        return self

    def error_line(self) -> str:
        """A failed command: exactly one line, `error: …`."""
        assert self.code != 0, f"{self.args} succeeded: {self.stdout}"
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), self.stderr
        return lines[0]


class Fleet:
    """The processes and outputs of one test (or one bench run)."""

    def __init__(self, tmp: Path, url: str):
        self.tmp = tmp
        self.url = url
        self.procs: list[subprocess.Popen] = []
        self.outputs: list[str | Lines] = []
        self.servers: list[Server] = []

    def cli(self, *args: str, url: str | None = None, cwd: Path | None = None, timeout: float = 60) -> Run:
        cmd = [BIN, "--database", url or self.url, *args]
        started = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd or self.tmp,
                             stdin=subprocess.DEVNULL)
        run = Run(args, out, time.monotonic() - started)
        self.outputs += [out.stdout, out.stderr]
        return run

    def export(self) -> str:
        return self.cli("--export").ok().stdout

    def history(self) -> list[dict]:
        return json.loads(self.cli("--history", "--json").ok().stdout)

    def spawn(self, cmd: list[str], cwd: Path) -> tuple[subprocess.Popen, Lines]:
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        lines = Lines(proc.stdout)
        self.outputs.append(lines)
        return proc, lines

    def server(self, name: str, url: str | None = None, rate: int = 300) -> Server:
        server = Server(self, name, url or self.url, rate)
        self.servers.append(server)
        return server

    def converged(self, timeout: float = 10) -> str:
        """Waits until every server's file is the database's document, byte
        for byte; returns it."""
        def same():
            doc = self.export()
            return doc if all(s.text() == doc for s in self.servers) else None
        return wait_for("every file to equal --export", same, timeout, step=0.2)

    def close(self) -> None:
        for p in reversed(self.procs):
            stop(p)

    def check_leaks(self) -> None:
        leaks = self.leaks()
        assert not leaks, f"the database password leaked: {leaks}"

    def leaks(self) -> list[str]:
        """Where the database password appears: process outputs, then any
        file under the test's folder."""
        found = []
        for i, out in enumerate(self.outputs):
            text = out.text() if isinstance(out, Lines) else out
            if PASSWORD in text:
                found.append(f"output #{i}: {text[:300]!r}")
        for path in self.tmp.rglob("*"):
            if path.is_file() and path.stat().st_size < 64 << 20 and PASSWORD.encode() in path.read_bytes():
                found.append(str(path))
        return found


class Server:
    """One server's folder: its sync (mirroring the database into
    flags.json, metrics on a free port) and its bot reading that file."""

    def __init__(self, fleet: Fleet, name: str, url: str, rate: int):
        self.fleet = fleet
        self.name = name
        self.dir = fleet.tmp / name
        self.dir.mkdir()
        self.file = self.dir / "flags.json"
        self.control = self.dir / "control.json"
        self.flips = self.dir / "flips.jsonl"
        self.bot_port = free_port()
        self.url = url
        self.traffic(rate=rate)
        self.sync = self.sync_log = self.bot = self.bot_log = None
        self.metrics_url = ""

    def start_sync(self, poll: str = POLL) -> None:
        self.sync, self.sync_log = self.fleet.spawn(
            [BIN, "--database", self.url, "--sync", "--file", str(self.file), "--poll", poll,
             "--listen", "127.0.0.1:0"], self.dir)
        found = wait_for(f"{self.name}'s sync metrics address",
                         lambda: self.sync_log.first(lambda l: "metrics at" in l), 10)
        self.metrics_url = re.search(r"http://\S+/metrics", found[1]).group(0)
        wait_for(f"{self.name}'s file", self.file.exists, 15)

    def start_bot(self) -> None:
        self.bot, self.bot_log = self.fleet.spawn(
            [sys.executable, str(BOT), "--flags", str(self.file), "--flag", "gpt", "--port",
             str(self.bot_port), "--control", str(self.control), "--flips", str(self.flips)], self.dir)
        wait_for(f"{self.name}'s bot to listen", lambda: self.bot_log.first(lambda l: l.startswith("listening")), 30)
        if self.bot.poll() is not None:
            raise AssertionError(f"{self.name}'s bot exited: {self.bot_log.text()}")

    def start(self) -> Server:
        self.start_sync()
        self.start_bot()
        return self

    def traffic(self, **control) -> None:
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(json.dumps({"rate": 300, **control}))
        tmp.replace(self.control)

    def text(self) -> str:
        return self.file.read_text()

    def flag(self, name: str = "gpt") -> dict:
        return json.loads(self.text())["flags"][name]

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as r:
            return r.read().decode()

    def errors(self, kind: str) -> float:
        return metric(self.metrics(), "feature_flags_sync_errors_total", f'kind="{kind}"') or 0.0

    def answers(self) -> list[dict]:
        if not self.flips.exists():
            return []
        return [json.loads(l) for l in self.flips.read_text().splitlines() if l.endswith("}")]

    def answering_since(self, on: bool) -> float | None:
        """The wall-clock time from which every answer of the bot has been
        `on` (None if its latest answer is not)."""
        answers = self.answers()
        if not answers or answers[-1]["on"] != on:
            return None
        return answers[-1]["t"]

    def decisions(self) -> float:
        """The bot's decisions so far on `gpt` (from its /metrics)."""
        assert self.bot.poll() is None, f"{self.name}'s bot exited: {self.bot_log.text()}"
        with urllib.request.urlopen(f"http://127.0.0.1:{self.bot_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        found = re.findall(r'^feature_flags_decisions_total\{[^}]*flag="gpt"[^}]*\} (\S+)$', text, re.M)
        assert found, text[:2000]
        return sum(float(v) for v in found)


def propagation(fleet: Fleet, servers: list[Server], on: bool, *edit: str, timeout: float = 10) -> float:
    """Runs one edit; returns the seconds from its start until every bot
    answers `on` (the flag at 0 % or 100 %)."""
    started = time.time()
    fleet.cli(*edit).ok()

    def all_answer():
        times = [s.answering_since(on) for s in servers]
        return times if all(t is not None and t >= started for t in times) else None
    times = wait_for(f"every bot answering {'on' if on else 'off'}", all_answer, timeout, step=0.02)
    return max(times) - started



def new_fleet(tmp: Path, url: str, extra: int = 0) -> Fleet:
    """A fleet on `url`'s database, initialised with `document(extra)`."""
    fleet = Fleet(tmp, url)
    seed = tmp / "seed.json"
    seed.write_text(document(extra))
    fleet.cli("--init").ok()
    fleet.cli("--import", str(seed)).ok()
    return fleet


def finish(fleet: Fleet) -> None:
    """Stops the fleet, prints each server's sync log, and fails if the
    database password shows anywhere."""
    fleet.close()
    for server in fleet.servers:
        if server.sync_log is not None:
            print(f"{server.name}'s sync log:\n{server.sync_log.text()}")
    fleet.check_leaks()


def rss_kib(pid: int) -> int:
    """A process's resident memory (/proc/PID/status)."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", text, re.M).group(1))


def needs_prometheus() -> None:
    e2e_support.require(PROMETHEUS, "prometheus")


def start_prometheus(fleet: Fleet, servers: list[Server]) -> str:
    """A real Prometheus scraping every server's bot each second as job
    `bot`; stopped with the fleet. Returns its URL."""
    prometheus = e2e_support.start_prometheus(e2e_support.scrape_bots(s.bot_port for s in servers), fleet.tmp)
    fleet.procs.append(prometheus.proc)
    return prometheus.url
