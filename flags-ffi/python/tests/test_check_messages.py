"""FlagFileError carries the messages `feature_flags --check` prints. Runs
when the CLI has been built (CI builds it before the Python step)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import feature_flags
import pytest
from support import REPO_ROOT, flag_file


def is_the_cli(candidate: Path) -> bool:
    """A build of this checkout's CLI, not an older placeholder binary."""
    try:
        help_text = subprocess.run(
            [str(candidate), "--help"], capture_output=True, text=True, timeout=60
        ).stdout
    except OSError:
        return False
    return "--check" in help_text


def find_cli() -> Path | None:
    # The binary installed with the package, then a build in the checkout.
    packaged = Path(feature_flags.__file__).parent / "bin" / "feature_flags"
    if packaged.is_file() and is_the_cli(packaged):
        return packaged
    target_dirs = [Path(os.environ["CARGO_TARGET_DIR"])] if "CARGO_TARGET_DIR" in os.environ else []
    target_dirs.append(REPO_ROOT / "target")
    for target in target_dirs:
        for profile in ("debug", "release"):
            candidate = target / profile / "feature_flags"
            if candidate.is_file() and is_the_cli(candidate):
                return candidate
    found = shutil.which("feature_flags")
    return Path(found) if found and is_the_cli(Path(found)) else None


def test_file_errors_carry_every_problem_of_check(tmp_path: Path) -> None:
    cli = find_cli()
    if cli is None:
        pytest.skip("the feature_flags CLI is not built")
    path = tmp_path / "bad.json"
    path.write_text(
        flag_file(
            {
                "new_gpt_model": {"enabled": True, "rollout_percentage": 150},
                "video": {"enabled": True, "rollout_percentag": 5, "chat_types": ["dm"]},
            },
            groups={"beta testers": [1]},
        ),
        encoding="utf-8",
    )
    check = subprocess.run(
        [str(cli), "--file", str(path), "--check"], capture_output=True, text=True, timeout=60
    )
    assert check.returncode != 0
    with pytest.raises(feature_flags.FlagFileError) as raised:
        feature_flags.FlagStore(path)
    problems = str(raised.value).splitlines()
    assert len(problems) >= 4
    for problem in problems:
        assert problem in check.stderr + check.stdout
