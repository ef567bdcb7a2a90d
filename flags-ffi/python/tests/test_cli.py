"""The feature_flags command-line tool installed with the package: the
`feature_flags` console script and `python -m feature_flags` run the Rust
binary in feature_flags/bin/ with the same arguments, output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import feature_flags
import pytest
from support import REPO_ROOT, flag_file

PACKAGED_BINARY = Path(feature_flags.__file__).parent / "bin" / "feature_flags"


def console_script() -> Path:
    """The `feature_flags` script pip put beside this interpreter."""
    for directory in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = directory / "feature_flags"
        if candidate.is_file():
            return candidate
    pytest.fail("pip installed no feature_flags console script")


# The three ways to run the tool, each a command prefix.
WAYS = {
    "console script": lambda: [str(console_script())],
    "python -m": lambda: [sys.executable, "-m", "feature_flags"],
    "binary": lambda: [str(PACKAGED_BINARY)],
    # The operators' habit, from a checkout: a shim that runs the installed tool.
    "scripts shim": lambda: [
        sys.executable,
        str(REPO_ROOT / "examples" / "python" / "scripts" / "feature_flags.py"),
    ],
}


def run(way: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WAYS[way](), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


@pytest.fixture
def flags_path(tmp_path: Path) -> Path:
    path = tmp_path / "flags.json"
    path.write_text(
        flag_file({"new_gpt_model": {"enabled": True, "rollout_percentage": 10}}),
        encoding="utf-8",
    )
    return path


def test_the_package_ships_an_executable_binary() -> None:
    assert PACKAGED_BINARY.is_file()
    assert os.access(PACKAGED_BINARY, os.X_OK)
    version = subprocess.run(
        [str(PACKAGED_BINARY), "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0
    assert version.stdout.startswith("feature_flags ")


@pytest.mark.parametrize("way", ["console script", "python -m", "scripts shim"])
def test_an_edit_through_the_python_entry_points(way: str, flags_path: Path) -> None:
    edited = run(way, "--file", str(flags_path), "--feature", "new_gpt_model", "--percentage", "50")
    assert edited.returncode == 0, edited.stderr
    assert "new_gpt_model" in edited.stdout
    document = json.loads(flags_path.read_text(encoding="utf-8"))
    assert document["flags"]["new_gpt_model"]["rollout_percentage"] == 50
    # The edit was audited next to the file, as the binary does.
    assert flags_path.with_name("flags.json.audit.jsonl").is_file()


@pytest.mark.parametrize(
    "args",
    [
        ["--check"],
        ["--list"],
        ["--list", "--json"],
        ["--feature", "new_gpt_model", "--explain", "--user", "123", "--chat-type", "private"],
        ["--feature", "no_such_flag"],  # an error: exit 1 with an error: line
        ["--percentage", "50"],  # an edit without --feature
        ["--no-such-option"],  # clap's usage error: exit 2
    ],
)
def test_same_output_and_exit_code_as_the_binary(args: list[str], flags_path: Path) -> None:
    full = ["--file", str(flags_path), *args]
    expected = run("binary", *full)
    for way in ("console script", "python -m", "scripts shim"):
        got = run(way, *full)
        assert (got.returncode, got.stdout, got.stderr) == (
            expected.returncode,
            expected.stdout,
            expected.stderr,
        ), way


def test_a_bad_file_fails_check_with_an_error_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        flag_file({"new_gpt_model": {"enabled": True, "rollout_percentage": 150}}), "utf-8"
    )
    before = path.read_bytes()
    checked = run("python -m", "--file", str(path), "--check")
    assert checked.returncode == 1
    assert "rollout_percentage" in checked.stdout + checked.stderr
    refused = run("console script", "--file", str(path), "--feature", "new_gpt_model", "--percentage", "5")
    assert refused.returncode != 0
    assert "error:" in refused.stderr
    assert path.read_bytes() == before


def test_usage_errors_exit_2() -> None:
    for way in ("console script", "python -m"):
        assert run(way, "--no-such-option").returncode == 2
