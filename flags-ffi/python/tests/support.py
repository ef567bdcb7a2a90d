"""Helpers shared by the tests. Golden data is read from the repository, located relative
to this file (flags-ffi/python/tests -> repository root)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
EVALUATION_CASES = REPO_ROOT / "flags-core" / "tests" / "data" / "evaluation_cases.json"
EXAMPLE_FLAGS = REPO_ROOT / "examples" / "feature_flags.json"

# Generous: the machine running the tests may be loaded.
DEADLINE_SECONDS = 20.0


def load_cases() -> dict:
    return json.loads(EVALUATION_CASES.read_text(encoding="utf-8"))


def replace_file(path: Path, text: str) -> None:
    """Writes `text` beside `path` and renames it over, as editors and the CLI do."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def flag_file(flags: dict, groups: dict | None = None) -> str:
    document: dict = {"version": 1, "flags": flags}
    if groups is not None:
        document["groups"] = groups
    return json.dumps(document, indent=2)
