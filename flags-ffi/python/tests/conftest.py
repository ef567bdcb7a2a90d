"""Fixtures shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import flag_file, load_cases


@pytest.fixture(scope="session")
def cases() -> dict:
    return load_cases()


@pytest.fixture
def make_file(tmp_path: Path):
    """Writes a flag file with the given flags and returns its path."""

    def make(flags: dict, groups: dict | None = None, name: str = "flags.json") -> Path:
        path = tmp_path / name
        path.write_text(flag_file(flags, groups), encoding="utf-8")
        return path

    return make
