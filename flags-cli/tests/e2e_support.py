"""What every end-to-end suite here (guard_e2e, guard_faults, alerts_e2e,
guard_credentials, fleet_e2e, fleet_faults) needs: the binary under test, a
real Prometheus (`start_prometheus`), a free loopback port, a bounded wait,
and stopping a process for sure.

A suite puts this folder on sys.path and imports from here (so does
scripts/dashboard_live_proof.py, for Prometheus).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("FEATURE_FLAGS_BIN", str(ROOT / "target" / "debug" / "feature_flags"))
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, predicate, timeout: float, step: float = 0.1):
    """`predicate()`'s first true value, or AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def wait_scraped(prometheus_url: str, targets: int, job: str = "bot", timeout: float = 20) -> None:
    """Waits until Prometheus has scraped `targets` targets of `job` up: a
    phase that starts before the first scrape has no data for its first
    seconds, and a span that ends there holds one sample or two."""
    query = urllib.parse.quote(f'count(up{{job="{job}"}} == 1)')

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{prometheus_url}/api/v1/query?query={query}", timeout=2) as r:
                result = json.load(r)["data"]["result"]
        except (OSError, ValueError, KeyError):
            return False
        return bool(result) and float(result[0]["value"][1]) >= targets

    wait_for(f"Prometheus to scrape {targets} {job} target(s)", up, timeout)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    """Ends `proc` with `sig`, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def send_body(handler, body: bytes, content_type: str = "application/json") -> None:
    """Answers an http.server handler's request: 200 with `body`."""
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def require(binary: str, package: str) -> None:
    """Skips the calling test when `binary` is missing; fails it when CI is
    set (.ci/run installs Debian's `package`)."""
    if not Path(binary).exists():
        import pytest

        if os.environ.get("CI"):
            pytest.fail(f"CI must have {binary} (.ci/run installs {package})")
        pytest.skip(f"{binary} is not installed")


class Prometheus:
    """A Prometheus that `start_prometheus` started: `proc`, `port`, `url`;
    `stop()` (or leaving a `with` block) ends it."""

    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        stop(self.proc)

    def __enter__(self) -> "Prometheus":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def scrape_bots(ports, interval: str = "1s") -> str:
    """A Prometheus configuration scraping the bots on these loopback ports
    as job `bot`, every `interval`."""
    targets = ", ".join(f"'127.0.0.1:{p}'" for p in ports)
    return (f"global:\n  scrape_interval: {interval}\n  scrape_timeout: 1s\n"
            f"scrape_configs:\n  - job_name: bot\n    static_configs:\n      - targets: [{targets}]\n")


def start_prometheus(config: str, folder: Path, *, args: tuple[str, ...] | list[str] = (),
                     headers: dict[str, str] | None = None, timeout: float = 30,
                     binary: str = PROMETHEUS) -> Prometheus:
    """A real Prometheus on a free loopback port, ready: `config` (YAML; JSON
    is YAML) goes to FOLDER/prometheus.yml, its storage to FOLDER/tsdb and
    its output to FOLDER/prometheus.log; `args` are more flags (say
    `--web.config.file=...`), `headers` go with the readiness checks (say
    credentials). Returns once /-/ready answers 200; if it does not within
    `timeout` s, or Prometheus exits, stops it and raises AssertionError with
    the log's last lines."""
    folder = Path(folder)
    (folder / "prometheus.yml").write_text(config)
    port = free_port()
    with open(folder / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn", *args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    prometheus = Prometheus(proc, port)

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {proc.returncode}")
        request = urllib.request.Request(prometheus.url + "/-/ready", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for("prometheus to be ready", ready, timeout, step=0.2)
    except BaseException as e:
        prometheus.stop()
        if not isinstance(e, AssertionError):
            raise
        said = (folder / "prometheus.log").read_text(errors="replace").splitlines()[-20:]
        raise AssertionError("\n".join([str(e), *said])) from None
    return prometheus
