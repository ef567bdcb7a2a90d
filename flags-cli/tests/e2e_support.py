"""What every end-to-end suite here (guard_e2e, guard_faults, alerts_e2e,
fleet_e2e) needs: the binary under test, Prometheus, a free loopback port,
a bounded wait, and stopping a process for sure.

A suite puts this folder on sys.path and imports from here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
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


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    """Ends `proc` with `sig`, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
