"""examples/python/bot.py runs offline and its handler follows the flag file."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support import REPO_ROOT, flag_file

BOT = REPO_ROOT / "examples" / "python" / "bot.py"


def run_bot(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BOT), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )


def test_the_bot_answers_every_simulated_update_from_the_example_file() -> None:
    result = run_bot()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 8
    # The beta tester gets the new model in private chats only.
    assert lines[0].startswith("update 1 from Beta in private chat")
    assert "[new GPT model]" in lines[0]
    assert "[current model]" in lines[1]
    # The excluded chat never gets enhanced video; the chat in the rollout does.
    assert "enhanced video" not in lines[2]
    assert "enhanced video" in lines[3]
    # A channel post has no user and still gets an answer.
    assert lines[4].startswith("update 5 from channel")
    # voice_replies is switched off in the example file.
    assert not any("voice reply" in line for line in lines)


def test_the_bot_follows_another_flag_file(tmp_path) -> None:
    path = tmp_path / "all_on.json"
    path.write_text(
        flag_file(
            {
                name: {"enabled": True}
                for name in ["new_gpt_model", "enhanced_video_download", "voice_replies"]
            }
        ),
        encoding="utf-8",
    )
    result = run_bot("--flags", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all("[new GPT model]" in line and "voice reply" in line for line in lines)


def test_the_bot_refuses_a_bad_flag_file(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"version": 1, "flags": {"x": {"enabled": 1}}}', encoding="utf-8")
    result = run_bot("--flags", str(path))
    assert result.returncode != 0
    assert "flags.x.enabled" in result.stderr


def test_the_bot_shows_its_flag_decisions_as_prometheus_metrics() -> None:
    pytest.importorskip("prometheus_client", reason="prometheus_client is not installed")
    result = run_bot("--metrics")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    replies, metrics = lines[:8], lines[8:]
    assert all(line.startswith("update ") for line in replies)
    assert 'feature_flags_reloads_total{result="success"} 1.0' in metrics
    assert "feature_flags_last_reload_successful 1.0" in metrics
    # Eight updates, one for_message each: beta tester in private (group), then
    # four non-private chats, then users 1013, 1014 (in the 10 % rollout), 1015.
    decisions = 'feature_flags_decisions_total{{flag="new_gpt_model",outcome="{}",reason="{}"}} {}'
    for outcome, reason, count in [
        ("on", "group", 1),
        ("off", "chat_type", 4),
        ("on", "rollout", 1),
        ("off", "rollout", 2),
        ("off", "disabled", 0),
    ]:
        assert decisions.format(outcome, reason, float(count)) in metrics
    assert (
        'feature_flags_decisions_total{flag="voice_replies",outcome="off",reason="disabled"} 8.0'
        in metrics
    )
