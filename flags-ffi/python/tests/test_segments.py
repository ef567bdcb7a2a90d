"""Outcome segments: `feature_flags_outcomes_total` carries the step that put
a message in its cohort (`via` = group or rollout) and the message's chat type,
taken from the decisions the message already made; bot code is unchanged.
Histograms stay by cohort."""

from __future__ import annotations

import re

import feature_flags
import pytest
from support import flag_file

FLAGS = {
    "beta": {"enabled": True, "rollout_percentage": 0, "user_groups": ["beta"]},
    "half": {"enabled": True, "rollout_percentage": 50, "user_groups": ["staff"]},
    "everyone": {"enabled": True},
    "killed": {"enabled": False},
}
GROUPS = {"beta": [7, 8]}
KINDS = (("on", "group"), ("on", "rollout"), ("off", "rollout"))
CHAT_TYPES = ("private", "group", "supergroup", "channel", "none")
RESULTS = ("ok", "error")

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')


def outcome_series(store: feature_flags.FlagStore) -> dict[tuple[str, ...], float]:
    """(flag, cohort, via, chat_type, result) -> value of every outcome series;
    fails on a series with other labels."""
    out = {}
    for line in store.metrics_text().splitlines():
        match = SAMPLE.match(line)
        if line.startswith("#") or match is None or match.group(1) != "feature_flags_outcomes_total":
            continue
        labels = dict(LABEL.findall(match.group(2)))
        assert list(labels) == ["flag", "cohort", "via", "chat_type", "result"], line
        out[tuple(labels.values())] = float(match.group(3))
    return out


def changed(before: dict, after: dict) -> dict:
    return {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}


@pytest.fixture
def store():
    with feature_flags.FlagStore.from_json(flag_file(FLAGS, GROUPS)) as opened:
        yield opened


def test_every_segment_exists_at_zero_and_histograms_stay_by_cohort(store) -> None:
    series = outcome_series(store)
    expected = {
        (flag, cohort, via, chat_type, result)
        for flag in FLAGS
        for cohort, via in KINDS
        for chat_type in CHAT_TYPES
        for result in RESULTS
    }
    assert set(series) == expected
    assert set(series.values()) == {0}
    # Per flag: 30 outcome series, 2 x 13 histogram series, 1 complaints.
    text = store.metrics_text()
    for flag in FLAGS:
        lines = [line for line in text.splitlines()
                 if f'{{flag="{flag}",' in line or f'{{flag="{flag}"}}' in line]
        families = [line.split("{")[0] for line in lines if line.startswith("feature_flags_outcome")
                    or line.startswith("feature_flags_complaints")]
        assert len(families) == 30 + 26 + 1, flag
    assert 'feature_flags_outcome_duration_seconds_count{flag="beta",cohort="on"} 0' in text


@pytest.mark.parametrize(
    ("context", "flag", "segment"),
    [
        # A beta tester, by the file's membership or a group the bot names.
        ({"user_id": 7, "chat_id": 7, "chat_type": "private"}, "beta", ("on", "group", "private")),
        ({"user_id": 8, "chat_id": -5, "chat_type": "supergroup"}, "beta", ("on", "group", "supergroup")),
        ({"user_id": 99, "groups": ["beta"]}, "beta", ("on", "group", "none")),
        # Anyone else: the percentage rollout (0 %: the control group).
        ({"user_id": 99, "chat_id": -9, "chat_type": "group"}, "beta", ("off", "rollout", "group")),
        # A flag on for everyone is on through the rollout step.
        ({"user_id": 7, "chat_id": -1, "chat_type": "channel"}, "everyone", ("on", "rollout", "channel")),
        ({}, "everyone", ("on", "rollout", "none")),
        ({"user_id": 3, "chat_id": 3, "chat_type": "private", "groups": ["staff"]}, "half",
         ("on", "group", "private")),
        # No cohort, no segment.
        ({"user_id": 7, "chat_id": 7, "chat_type": "private"}, "killed", None),
    ],
)
@pytest.mark.parametrize("ask", ["is_enabled", "in", "evaluate"])
def test_each_message_lands_in_its_segment(store, context, flag, segment, ask) -> None:
    before = outcome_series(store)
    msg = store.for_message(**context)
    if ask == "is_enabled":
        msg.is_enabled(flag)
    elif ask == "in":
        _ = flag in msg
    else:
        msg.evaluate(flag)
    assert msg.record(error=True, seconds=0.3) is True
    want = {} if segment is None else {(flag, *segment, "error"): 1}
    assert changed(before, outcome_series(store)) == want


def test_the_rollout_splits_into_on_and_off_by_chat_type(store) -> None:
    before = outcome_series(store)
    chat_types = ["private", "group", "supergroup", "channel", None]
    expected: dict[tuple[str, ...], float] = {}
    for user in range(1000, 1400):
        chat_type = chat_types[user % len(chat_types)]
        msg = store.for_message(user_id=user, chat_id=-user, chat_type=chat_type)
        cohort = "on" if msg.is_enabled("half") else "off"
        with msg.track():
            pass
        key = ("half", cohort, "rollout", chat_type or "none", "ok")
        expected[key] = expected.get(key, 0) + 1
    assert changed(before, outcome_series(store)) == expected
    assert len(expected) == 10  # both cohorts in every chat type
    # The cohort's histogram counts every segment of it.
    text = store.metrics_text()
    on = sum(v for k, v in expected.items() if k[1] == "on")
    assert f'feature_flags_outcome_duration_seconds_count{{flag="half",cohort="on"}} {on}' in text


def test_one_message_counts_each_flag_in_its_own_segment(store) -> None:
    before = outcome_series(store)
    msg = store.for_message(user_id=7, chat_id=-100, chat_type="group", groups=["staff"])
    assert msg.is_enabled("beta") and msg.is_enabled("half") and msg.is_enabled("everyone")
    assert msg.record(error=False, seconds=1.5) is True
    assert msg.record(error=True, seconds=1.5) is False
    assert changed(before, outcome_series(store)) == {
        ("beta", "on", "group", "group", "ok"): 1,
        ("half", "on", "group", "group", "ok"): 1,
        ("everyone", "on", "rollout", "group", "ok"): 1,
    }
