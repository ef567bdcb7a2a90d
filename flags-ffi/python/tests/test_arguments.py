"""Bad arguments are TypeError/ValueError raised before the C ABI is reached,
for every entry point; nothing crashes the interpreter."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from pathlib import Path

import feature_flags
import pytest

FLAGS = {
    "everyone": {"enabled": True},
    "beta": {"enabled": True, "rollout_percentage": 0, "user_groups": ["beta_testers"]},
    "private_only": {"enabled": True, "chat_types": ["private"]},
}


@pytest.fixture
def store(make_file):
    with feature_flags.FlagStore(make_file(FLAGS)) as opened:
        yield opened


# The three ways to ask, each taking the context keywords.
def call_is_enabled(store, **context):
    return store.is_enabled("everyone", **context)


def call_evaluate(store, **context):
    return store.evaluate("everyone", **context)


def call_for_message(store, **context):
    return store.for_message(**context)


ENTRY_POINTS = [call_is_enabled, call_evaluate, call_for_message]
entry_points = pytest.mark.parametrize("ask", ENTRY_POINTS, ids=lambda f: f.__name__[5:])


class TelegramChatType(str, enum.Enum):
    """Like python-telegram-bot's ChatType: a str subclass."""

    PRIVATE = "private"
    GROUP = "group"


class UserId(int):
    pass


@entry_points
@pytest.mark.parametrize("key", ["user_id", "chat_id"])
@pytest.mark.parametrize(
    "value, error",
    [
        ("123", TypeError),
        (1.0, TypeError),
        (True, TypeError),
        (False, TypeError),
        (b"1", TypeError),
        (2**63, ValueError),
        (-(2**63) - 1, ValueError),
        (2**64 + 5, ValueError),  # ctypes would silently wrap this to 5
        (10**100, ValueError),
    ],
)
def test_bad_ids(store, ask: Callable, key: str, value: object, error: type) -> None:
    with pytest.raises(error, match=key):
        ask(store, **{key: value})


@entry_points
def test_ids_at_the_i64_limits_and_int_subclasses_are_accepted(store, ask: Callable) -> None:
    ask(store, user_id=2**63 - 1, chat_id=-(2**63))
    ask(store, user_id=UserId(5), chat_id=None)


def test_the_edges_of_i64_evaluate_like_their_values(store) -> None:
    # Values that ctypes would wrap are rejected; the edges themselves work.
    top = store.evaluate("beta", user_id=2**63 - 1)
    bottom = store.evaluate("beta", user_id=-(2**63))
    assert top.reason == bottom.reason == "rollout"
    assert top.bucket is not None and bottom.bucket is not None


@entry_points
@pytest.mark.parametrize("value", ["Private", "PRIVATE", "sender", "", "private ", "dm"])
def test_unknown_chat_types_are_value_errors(store, ask: Callable, value: str) -> None:
    with pytest.raises(ValueError, match="chat_type"):
        ask(store, chat_type=value)


@entry_points
@pytest.mark.parametrize("value", [1, b"private", ["private"], object()])
def test_chat_types_that_are_not_str_are_type_errors(store, ask: Callable, value: object) -> None:
    with pytest.raises(TypeError, match="chat_type"):
        ask(store, chat_type=value)


def test_chat_type_accepts_str_subclasses_such_as_telegram_enums(store) -> None:
    assert store.is_enabled("private_only", chat_type=TelegramChatType.PRIVATE) is True
    assert store.is_enabled("private_only", chat_type=TelegramChatType.GROUP) is False
    assert store.for_message(chat_type=TelegramChatType.PRIVATE).is_enabled("private_only")
    for chat_type in feature_flags.CHAT_TYPES:
        expected = chat_type == "private"
        assert store.is_enabled("private_only", chat_type=chat_type) is expected
        # Built at run time, so not the interned literal.
        assert store.is_enabled("private_only", chat_type="".join(chat_type)) is expected


@entry_points
@pytest.mark.parametrize(
    "value, error",
    [
        ("beta_testers", TypeError),  # a bare str is a mistake, not 12 one-letter groups
        (b"beta_testers", TypeError),
        (5, TypeError),
        (["beta_testers", 5], TypeError),
        ((None,), TypeError),
        ([b"beta_testers"], TypeError),
        (["\ud800"], ValueError),  # a lone surrogate cannot be UTF-8
    ],
)
def test_bad_groups(store, ask: Callable, value: object, error: type) -> None:
    with pytest.raises(error):
        ask(store, groups=value)


@pytest.mark.parametrize(
    "groups",
    [
        ("beta_testers",),
        ["beta_testers"],
        {"beta_testers"},
        frozenset({"other", "beta_testers"}),
        (g for g in ["x", "beta_testers"]),
        {"beta_testers": 1},
        [f"g{i}" for i in range(40)] + ["beta_testers"],  # more than fit on the stack
    ],
    ids=["tuple", "list", "set", "frozenset", "generator", "dict", "many"],
)
def test_groups_accept_any_iterable_of_str(store, groups) -> None:
    assert tuple(store.evaluate("beta", user_id=1, groups=groups)) == (True, "group", None)


def test_no_groups(store) -> None:
    for groups in [(), [], None, iter(())]:
        assert store.evaluate("beta", user_id=1, groups=groups).reason == "rollout"


def test_a_generator_that_raises_propagates(store) -> None:
    def failing():
        yield "beta_testers"
        raise KeyError("from the generator")

    with pytest.raises(KeyError, match="from the generator"):
        store.is_enabled("beta", groups=failing())


@pytest.mark.parametrize("name", [None, 5, b"everyone", ["everyone"]])
def test_flag_names_must_be_str(store, name: object) -> None:
    with pytest.raises(TypeError, match="flag name"):
        store.is_enabled(name)
    with pytest.raises(TypeError, match="flag name"):
        store.evaluate(name)
    message = store.for_message()
    with pytest.raises(TypeError, match="flag name"):
        message.is_enabled(name)
    with pytest.raises(TypeError, match="flag name"):
        name in message  # noqa: B015


def test_flag_names_that_cannot_be_utf8_are_value_errors(store) -> None:
    with pytest.raises(ValueError):
        store.is_enabled("\udc80")


def test_odd_flag_names_are_just_unknown(store) -> None:
    for name in ["", "a\x00b", "new gpt", "é" * 200, "x" * 10_000]:
        assert store.is_enabled(name) is False
        assert store.evaluate(name).reason == "unknown_flag"
        assert name not in store.for_message()


@pytest.mark.parametrize("value", [1, 0, None, "yes"])
def test_default_must_be_a_bool(store, value: object) -> None:
    with pytest.raises(TypeError, match="default"):
        store.is_enabled("x", default=value)
    with pytest.raises(TypeError, match="default"):
        store.for_message().is_enabled("x", default=value)


def test_signature_errors(store) -> None:
    with pytest.raises(TypeError, match="missing required argument 'name'"):
        store.is_enabled()
    with pytest.raises(TypeError, match="missing required argument 'name'"):
        store.evaluate(user_id=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'user'"):
        store.is_enabled("everyone", user=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'name'"):
        store.for_message(name="everyone")
    with pytest.raises(TypeError, match="multiple values for argument 'user_id'"):
        store.is_enabled("everyone", 1, user_id=1)
    with pytest.raises(TypeError, match="at most 6 positional"):
        store.is_enabled("everyone", 1, 2, "private", (), False, 7)
    with pytest.raises(TypeError, match="at most 4 positional"):
        store.for_message(1, 2, "private", (), False)
    with pytest.raises(TypeError):
        store.for_message().is_enabled()
    with pytest.raises(TypeError):
        store.for_message().is_enabled("a", False, 3)
    with pytest.raises(TypeError):
        store.for_message().is_enabled("a", dflt=True)


def test_positional_arguments_follow_the_signature(store) -> None:
    assert store.is_enabled("private_only", 1, 2, "private", (), False) is True
    assert store.is_enabled("private_only", 1, 2, "group") is False
    assert store.is_enabled("missing", None, None, None, (), True) is True
    assert store.for_message(1, 2, "private", ()).is_enabled("private_only")


def test_opening_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        feature_flags.FlagStore(5)
    with pytest.raises(TypeError):
        feature_flags.FlagStore()
    with pytest.raises(ValueError):
        feature_flags.FlagStore("flags\x00.json")
    with pytest.raises(TypeError):
        feature_flags.FlagStore(tmp_path / "x.json", True)  # watch is keyword-only
    with pytest.raises(TypeError):
        feature_flags.FlagStore.from_json(5)


def test_messages_cannot_be_made_directly() -> None:
    with pytest.raises(TypeError):
        feature_flags.Message()


class Unhashable(str):
    __hash__ = None  # type: ignore[assignment]


ODD_VALUES = [
    None, True, 0, -1, 2**63, -(2**63) - 1, 1.5, float("nan"), "", "private", "x" * 1000,
    "\udc80", Unhashable("everyone"), b"x", bytearray(b"x"), [], ["a"], ("a", 1), {}, set(),
    object(), UserId(3), TelegramChatType.GROUP, range(3), iter(["beta_testers"]),
]  # fmt: skip


@pytest.mark.parametrize("slot", ["name", "user_id", "chat_id", "chat_type", "groups", "default"])
def test_any_value_in_any_argument_is_answered_or_rejected_cleanly(store, slot: str) -> None:
    for value in ODD_VALUES:
        arguments = {"name": "beta", "user_id": 1, "chat_id": 2, "chat_type": "group"}
        arguments[slot] = value
        name = arguments.pop("name")
        context = {k: v for k, v in arguments.items() if k != "default"}
        ask_every_way(store, name, arguments, context)


def ask_every_way(store, name: object, arguments: dict, context: dict) -> None:
    calls = [
        lambda: store.is_enabled(name, **arguments),
        lambda: store.evaluate(name, **arguments),
        lambda: store.for_message(**context).is_enabled(name),
        lambda: name in store.for_message(**context),
    ]
    for call in calls:
        try:
            call()
        except (TypeError, ValueError):
            pass


def test_calls_keep_the_reference_counts_of_their_arguments(store) -> None:
    name = "".join(["bet", "a"])  # not interned: its count is ours alone
    groups = ["beta_testers", "".join(["x", "y"])]
    big = 2**40 + 1
    bad_id = 2**64
    bad_type = "".join(["dm"])
    before = [sys.getrefcount(o) for o in (name, groups, groups[1], big, bad_id, bad_type)]
    for _ in range(1000):
        store.is_enabled(name, user_id=big, groups=groups)
        store.evaluate(name, user_id=big, groups=groups)
        message = store.for_message(user_id=big, groups=groups)
        message.is_enabled(name)
        name in message  # noqa: B015
        for bad in ({"user_id": bad_id}, {"chat_type": bad_type}):
            with pytest.raises(ValueError):
                store.is_enabled(name, groups=groups, **bad)
    del message, bad
    after = [sys.getrefcount(o) for o in (name, groups, groups[1], big, bad_id, bad_type)]
    assert after == before
