"""feature_flags.openfeature through the OpenFeature SDK's own client
(api.set_provider, client.get_boolean_details), not by calling the provider."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import feature_flags
import pytest

if os.environ.get("CI"):
    import openfeature  # noqa: F401  (in CI the extra must be installed: fail, do not skip)
else:
    pytest.importorskip("openfeature")

from feature_flags.openfeature import FeatureFlagsProvider  # noqa: E402
from openfeature import api  # noqa: E402
from openfeature.evaluation_context import EvaluationContext  # noqa: E402
from openfeature.exception import ErrorCode  # noqa: E402
from openfeature.flag_evaluation import Reason  # noqa: E402

FLAGS = {
    "version": 1,
    "groups": {"beta_testers": [111]},
    "flags": {
        "half": {"enabled": True, "rollout_percentage": 50},
        "off": {"enabled": False, "rollout_percentage": 100},
        "private_only": {"enabled": True, "rollout_percentage": 100, "chat_types": ["private"]},
        "beta": {"enabled": True, "rollout_percentage": 0, "user_groups": ["beta_testers"]},
        "no_bad_chat": {"enabled": True, "rollout_percentage": 100, "exclude_chats": [-100]},
        "by_chat": {"enabled": True, "rollout_percentage": 50, "bucket_by": "chat"},
    },
}


@pytest.fixture
def store():
    with feature_flags.FlagStore.from_json(json.dumps(FLAGS)) as opened:
        yield opened


@pytest.fixture
def client(store: feature_flags.FlagStore):
    domain = f"feature-flags-test-{uuid.uuid4()}"
    api.set_provider(FeatureFlagsProvider(store), domain)
    yield api.get_client(domain)
    api.clear_providers()


def message(user_id=None, **attributes) -> EvaluationContext:
    key = None if user_id is None else str(user_id)
    return EvaluationContext(targeting_key=key, attributes=attributes)


def users_on_and_off(store: feature_flags.FlagStore, flag: str) -> tuple[int, int]:
    """A user in the rollout of `flag` and one out of it, by the library itself."""
    on = next(u for u in range(1, 1000) if store.is_enabled(flag, user_id=u))
    off = next(u for u in range(1, 1000) if not store.is_enabled(flag, user_id=u))
    return on, off


def test_rollout_users_in_and_out_are_a_split(client, store) -> None:
    on, off = users_on_and_off(store, "half")
    inside = client.get_boolean_details("half", False, message(on))
    assert (inside.value, inside.reason, inside.variant) == (True, Reason.SPLIT, "on")
    assert inside.error_code is None
    assert inside.flag_metadata["reason"] == "rollout"
    assert inside.flag_metadata["bucket"] == store.evaluate("half", user_id=on).bucket
    outside = client.get_boolean_details("half", True, message(off))
    assert (outside.value, outside.reason, outside.variant) == (False, Reason.SPLIT, "off")


def test_every_reason_maps(client) -> None:
    cases = [
        ("off", message(5), False, Reason.DISABLED),
        ("private_only", message(5, chat_type="group", chat_id=-5), False, Reason.TARGETING_MATCH),
        ("beta", message(111, groups=["beta_testers"]), True, Reason.TARGETING_MATCH),
        ("beta", message(112, groups=["beta_testers"]), True, Reason.TARGETING_MATCH),
        ("no_bad_chat", message(5, chat_id=-100), False, Reason.TARGETING_MATCH),
        ("half", message(), False, Reason.DEFAULT),  # no user id: missing_key
    ]
    for flag, context, value, reason in cases:
        details = client.get_boolean_details(flag, not value, context)
        assert (details.value, details.reason, details.error_code) == (value, reason, None), flag


def test_chat_attributes_reach_the_store(client, store) -> None:
    on = next(c for c in range(-1, -1000, -1) if store.is_enabled("by_chat", chat_id=c))
    off = next(c for c in range(-1, -1000, -1) if not store.is_enabled("by_chat", chat_id=c))
    assert client.get_boolean_value("by_chat", False, message(1, chat_id=on)) is True
    assert client.get_boolean_value("by_chat", True, message(1, chat_id=off)) is False
    # chat_id as integer text works too, as targeting keys are text.
    assert client.get_boolean_value("by_chat", False, message(1, chat_id=str(on))) is True


def test_chat_type_accepts_python_telegram_bots_enum(client) -> None:
    telegram = pytest.importorskip("telegram")
    private = client.get_boolean_details(
        "private_only", False, message(1, chat_type=telegram.constants.ChatType.PRIVATE)
    )
    assert private.value is True


def test_unknown_flag_is_the_default_with_flag_not_found(client) -> None:
    for default in (True, False):
        details = client.get_boolean_details("no_such_flag", default, message(1))
        assert details.value is default
        assert details.error_code == ErrorCode.FLAG_NOT_FOUND
        assert details.reason == Reason.ERROR


def test_other_types_are_a_type_mismatch(client) -> None:
    for get, default in [
        (client.get_string_details, "x"),
        (client.get_integer_details, 3),
        (client.get_float_details, 0.5),
        (client.get_object_details, {"a": 1}),
    ]:
        details = get("half", default, message(1))
        assert details.value == default
        assert details.error_code == ErrorCode.TYPE_MISMATCH


@pytest.mark.parametrize(
    "context",
    [
        message("alice"),  # not an integer
        message("12.5"),
        message(" 12"),
        message(str(2**63)),  # out of i64
        message(1, chat_id="general"),
        message(1, chat_type="dm"),
        message(1, chat_type=3),
        message(1, groups="beta_testers"),  # a bare str
        message(1, groups=[1, 2]),
    ],
)
def test_a_bad_context_is_invalid_context_with_the_default(client, context) -> None:
    for default in (True, False):
        details = client.get_boolean_details("half", default, context)
        assert details.value is default
        assert details.error_code == ErrorCode.INVALID_CONTEXT, details


def test_a_closed_store_answers_the_default(client, store) -> None:
    store.close()
    details = client.get_boolean_details("half", True, message(1))
    assert details.value is True
    assert details.error_code == ErrorCode.PROVIDER_FATAL


def test_async_client_calls(client, store) -> None:
    import asyncio

    on, _ = users_on_and_off(store, "half")
    details = asyncio.run(client.get_boolean_details_async("half", False, message(on)))
    assert (details.value, details.reason) == (True, Reason.SPLIT)


def test_matches_the_golden_cases(cases: dict, tmp_path: Path) -> None:
    """Every golden case with a known flag, asked through OpenFeature."""
    with feature_flags.FlagStore.from_json(json.dumps(cases["file"])) as store:
        domain = f"feature-flags-golden-{uuid.uuid4()}"
        api.set_provider(FeatureFlagsProvider(store), domain)
        golden = api.get_client(domain)
        checked = 0
        for case in cases["cases"]:
            if case["expect"]["reason"] == "unknown_flag":
                continue
            c = case["context"]
            attributes = {k: c[k] for k in ("chat_id", "chat_type", "groups") if c.get(k) is not None}
            got = golden.get_boolean_value(case["flag"], False, message(c.get("user_id"), **attributes))
            assert got is case["expect"]["enabled"], case
            checked += 1
        api.clear_providers()
    assert checked > 10
