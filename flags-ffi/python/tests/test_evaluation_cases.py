"""Every golden case of flags-core/tests/data/evaluation_cases.json, through
each Python entry point: is_enabled, evaluate and for_message."""

from __future__ import annotations

import json
from pathlib import Path

import feature_flags
import pytest


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, cases: dict):
    path = tmp_path_factory.mktemp("cases") / "evaluation_cases_file.json"
    path.write_text(json.dumps(cases["file"]), encoding="utf-8")
    with feature_flags.FlagStore(path, watch=False) as opened:
        yield opened


def expected(case: dict) -> tuple[bool, str, int | None]:
    e = case["expect"]
    return e["enabled"], e["reason"], e["bucket"]


def describe(case: dict, got: object) -> str:
    return f"{case['flag']} {case['context']}: expected {case['expect']}, got {got}"


def test_the_golden_file_covers_every_reason(cases: dict) -> None:
    reasons = {case["expect"]["reason"] for case in cases["cases"]}
    assert reasons == set(feature_flags.REASONS)


def test_evaluate_matches_every_case(store: feature_flags.FlagStore, cases: dict) -> None:
    mismatches = []
    for case in cases["cases"]:
        decision = store.evaluate(case["flag"], **case["context"])
        if tuple(decision) != expected(case):
            mismatches.append(describe(case, decision))
        assert isinstance(decision, feature_flags.Decision)
        assert (decision.enabled, decision.reason, decision.bucket) == tuple(decision)
    assert not mismatches, "\n".join(mismatches)


def test_is_enabled_matches_every_case(store: feature_flags.FlagStore, cases: dict) -> None:
    mismatches = []
    for case in cases["cases"]:
        enabled = store.is_enabled(case["flag"], **case["context"])
        if enabled is not case["expect"]["enabled"]:
            mismatches.append(describe(case, enabled))
    assert not mismatches, "\n".join(mismatches)


def test_for_message_matches_every_case(store: feature_flags.FlagStore, cases: dict) -> None:
    mismatches = []
    for case in cases["cases"]:
        message = store.for_message(**case["context"])
        want = case["expect"]["enabled"]
        if message.is_enabled(case["flag"]) is not want or (case["flag"] in message) is not want:
            mismatches.append(describe(case, message))
    assert not mismatches, "\n".join(mismatches)


def test_for_message_answers_every_flag_like_is_enabled(
    store: feature_flags.FlagStore, cases: dict
) -> None:
    contexts = {json.dumps(case["context"], sort_keys=True) for case in cases["cases"]}
    flags = list(cases["file"]["flags"])
    for context_text in contexts:
        context = json.loads(context_text)
        message = store.for_message(**context)
        on = [name for name in flags if store.is_enabled(name, **context)]
        assert message.enabled_flags() == on, context
        assert message.generation == store.generation


def test_unknown_flags_answer_the_default(store: feature_flags.FlagStore) -> None:
    assert store.is_enabled("no_such_flag", user_id=1) is False
    assert store.is_enabled("no_such_flag", user_id=1, default=True) is True
    assert tuple(store.evaluate("no_such_flag", user_id=1)) == (False, "unknown_flag", None)
    assert tuple(store.evaluate("no_such_flag", default=True)) == (True, "unknown_flag", None)
    message = store.for_message(user_id=1)
    assert message.is_enabled("no_such_flag") is False
    assert message.is_enabled("no_such_flag", default=True) is True
    assert message.is_enabled("no_such_flag", True) is True
    assert "no_such_flag" not in message


def test_from_json_evaluates_like_the_file(cases: dict) -> None:
    store = feature_flags.FlagStore.from_json(json.dumps(cases["file"]))
    for case in cases["cases"][:50]:
        assert tuple(store.evaluate(case["flag"], **case["context"])) == expected(case)
    assert store.path is None
    with pytest.raises(feature_flags.FlagFileError):
        store.reload()


def test_decision_reads_like_the_spec(store: feature_flags.FlagStore) -> None:
    decision = store.evaluate("everyone", user_id=1)
    assert repr(decision) == "feature_flags.Decision(enabled=True, reason='rollout', bucket=None)"


def test_many_flags_need_more_than_the_inline_bit_buffer(tmp_path: Path) -> None:
    # 700 flags: more than the 512 bits for_message evaluates without allocating.
    flags = {f"f{i:03d}": {"enabled": i % 3 == 0} for i in range(700)}
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"version": 1, "flags": flags}), encoding="utf-8")
    with feature_flags.FlagStore(path, watch=False) as store:
        message = store.for_message(user_id=1)
        assert message.enabled_flags() == [name for name in flags if int(name[1:]) % 3 == 0]
        assert "f699" in message and "f698" not in message


def test_a_file_without_flags_answers_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text('{"version": 1, "flags": {}}', encoding="utf-8")
    with feature_flags.FlagStore(path) as store:
        message = store.for_message(user_id=1, chat_id=2, chat_type="group")
        assert message.enabled_flags() == []
        assert message.is_enabled("anything", default=True) is True
        assert store.is_enabled("anything") is False
