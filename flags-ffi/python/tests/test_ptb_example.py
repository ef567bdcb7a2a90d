"""examples/python/ptb_bot.py: real python-telegram-bot Update objects (built
with Update.de_json) go through the example's Application offline. The bot's
request layer answers the Bot API locally and records each call, so the test
sees what the handlers sent for users in and out of the rollout."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import os
from typing import Any

import feature_flags
import pytest
from support import REPO_ROOT

if os.environ.get("CI"):
    import telegram  # noqa: F401  (in CI the example's library must be installed)
else:
    pytest.importorskip("telegram")

from telegram import Update  # noqa: E402
from telegram.constants import ChatType  # noqa: E402
from telegram.ext import Application  # noqa: E402
from telegram.request import BaseRequest, RequestData  # noqa: E402

EXAMPLE = REPO_ROOT / "examples" / "python" / "ptb_bot.py"

FLAGS = {
    "version": 1,
    "groups": {"beta_testers": [7]},
    "flags": {
        "new_gpt_model": {
            "enabled": True,
            "rollout_percentage": 50,
            "user_groups": ["beta_testers"],
            "chat_types": ["private"],
        },
        "enhanced_video_download": {
            "enabled": True,
            "rollout_percentage": 50,
            "exclude_chats": [-1001234567890],
            "bucket_by": "chat",
        },
    },
}


def load_example():
    spec = importlib.util.spec_from_file_location("ptb_bot", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RecordingRequest(BaseRequest):
    """The Bot API, answered here: records every call, sends nothing."""

    def __init__(self, failing_chats: frozenset[int] = frozenset()) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.message_ids = itertools.count(1000)
        self.failing_chats = failing_chats  # sendMessage there fails, as a blocked chat does

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **_timeouts: Any
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        parameters = dict(request_data.parameters) if request_data else {}
        self.calls.append((endpoint, parameters))
        if endpoint == "getMe":
            result: Any = {"id": 1, "is_bot": True, "first_name": "Flags", "username": "flags_bot"}
        elif endpoint == "sendMessage" and int(parameters["chat_id"]) in self.failing_chats:
            return 400, json.dumps({"ok": False, "description": "Bad Request: chat not found"}).encode()
        elif endpoint == "sendMessage":
            result = {
                "message_id": next(self.message_ids),
                "date": 1_700_000_000,
                "chat": {"id": parameters["chat_id"], "type": "private"},
                "text": parameters["text"],
            }
        else:
            return 400, json.dumps({"ok": False, "description": f"unexpected {endpoint}"}).encode()
        return 200, json.dumps({"ok": True, "result": result}).encode()


update_ids = itertools.count(1)


def text_update(user_id: int | None, chat_id: int, chat_type: str, text: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": next(update_ids),
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": chat_type, "title": "chat"},
        "text": text,
    }
    if user_id is not None:
        message["from"] = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": next(update_ids), "message": message}


def run_updates(
    store: feature_flags.FlagStore,
    updates: list[dict[str, Any]],
    failing_chats: frozenset[int] = frozenset(),
) -> list[str]:
    """The texts the bot sent, in order, for these updates."""
    example = load_example()
    request = RecordingRequest(failing_chats)

    async def go() -> None:
        builder = (
            Application.builder()
            .token("123456:TEST")
            .request(request)
            .get_updates_request(RecordingRequest())
            .updater(None)
        )
        application = example.build_application(store, builder)
        async with application:  # initialize: getMe, answered by the recorder
            for data in updates:
                update = Update.de_json(data, application.bot)
                if update.effective_chat.type == "private":
                    assert isinstance(update.effective_chat.type, ChatType)
                await application.process_update(update)

    asyncio.run(go())
    assert {endpoint for endpoint, _ in request.calls} <= {"getMe", "sendMessage"}
    return [
        parameters["text"]
        for endpoint, parameters in request.calls
        if endpoint == "sendMessage" and int(parameters["chat_id"]) not in failing_chats
    ]


def sample(store: feature_flags.FlagStore, series: str) -> float:
    """The value of one series (name{labels}) in the store's metrics text."""
    for line in store.metrics_text().splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {series} in the metrics")


@pytest.fixture
def store():
    with feature_flags.FlagStore.from_json(json.dumps(FLAGS)) as opened:
        yield opened


def test_users_in_and_out_of_the_rollout_get_different_answers(store) -> None:
    users = range(100, 400)
    inside = [u for u in users if store.is_enabled("new_gpt_model", user_id=u, chat_id=u, chat_type="private")][:3]
    outside = [u for u in users if not store.is_enabled("new_gpt_model", user_id=u, chat_id=u, chat_type="private")][:3]
    assert len(inside) == 3 and len(outside) == 3
    sent = run_updates(store, [text_update(u, u, "private", "hello") for u in inside + outside])
    assert sent == ["[new GPT model] hello"] * 3 + ["[current model] hello"] * 3


def test_chat_type_and_groups_from_the_update(store) -> None:
    sent = run_updates(
        store,
        [
            text_update(7, 7, "private", "hi"),  # a beta tester: on through the group
            text_update(7, -1009876543210, "supergroup", "hi"),  # private chats only
            text_update(None, -1005555555555, "channel", "news"),  # a channel post: no user
        ],
    )
    assert sent == ["[new GPT model] hi", "[current model] hi", "[current model] news"]


def test_video_command_follows_the_chat_bucket(store) -> None:
    chats = range(-1001000000000, -1001000000300, -1)
    on = next(c for c in chats if store.is_enabled("enhanced_video_download", chat_id=c))
    off = next(c for c in chats if not store.is_enabled("enhanced_video_download", chat_id=c))
    sent = run_updates(
        store,
        [
            text_update(42, on, "group", "/video"),
            text_update(43, on, "group", "/video"),  # same chat, another user: same answer
            text_update(42, off, "group", "/video"),
            text_update(42, -1001234567890, "group", "/video"),  # excluded
        ],
    )
    assert sent == [
        "enhanced video download",
        "enhanced video download",
        "standard video download",
        "standard video download",
    ]


def test_an_edit_of_the_flag_file_changes_the_answers(tmp_path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(FLAGS), encoding="utf-8")
    with feature_flags.FlagStore(path, watch=False) as store:
        before = run_updates(store, [text_update(7, 7, "private", "x")])
        changed = json.loads(json.dumps(FLAGS))
        changed["flags"]["new_gpt_model"]["enabled"] = False
        path.write_text(json.dumps(changed), encoding="utf-8")
        store.reload()
        after = run_updates(store, [text_update(7, 7, "private", "x")])
    assert (before, after) == (["[new GPT model] x"], ["[current model] x"])


def test_outcomes_are_reported_per_cohort(store) -> None:
    """Each answer's outcome counts for new_gpt_model in the user's cohort; a
    reply that fails (the Bot API refuses it) counts as an error."""
    users = range(100, 400)
    inside = [u for u in users if store.is_enabled("new_gpt_model", user_id=u, chat_id=u, chat_type="private")][:3]
    outside = [u for u in users if not store.is_enabled("new_gpt_model", user_id=u, chat_id=u, chat_type="private")][:2]
    sent = run_updates(
        store,
        [text_update(u, u, "private", "hello") for u in inside + outside],
        failing_chats=frozenset({inside[0]}),
    )
    assert sent == ["[new GPT model] hello"] * 2 + ["[current model] hello"] * 2
    flag = 'flag="new_gpt_model"'
    # Users in the percentage's share, in private chats: on via the rollout.
    on = f'{flag},cohort="on",via="rollout",chat_type="private"'
    off = f'{flag},cohort="off",via="rollout",chat_type="private"'
    assert sample(store, f'feature_flags_outcomes_total{{{on},result="ok"}}') == 2
    assert sample(store, f'feature_flags_outcomes_total{{{on},result="error"}}') == 1
    assert sample(store, f'feature_flags_outcomes_total{{{off},result="ok"}}') == 2
    assert sample(store, f'feature_flags_outcome_duration_seconds_count{{{flag},cohort="off"}}') == 2
    # /video asked only enhanced_video_download: new_gpt_model counts nothing more.
    run_updates(store, [text_update(42, -1001000000001, "group", "/video")])
    assert sample(store, f'feature_flags_outcomes_total{{{on},result="ok"}}') == 2
    # A beta tester gets the model through the group: a segment of its own.
    beta = f'{flag},cohort="on",via="group",chat_type="private"'
    assert sample(store, f'feature_flags_outcomes_total{{{beta},result="ok"}}') == 0
    assert run_updates(store, [text_update(7, 7, "private", "hi")]) == ["[new GPT model] hi"]
    assert sample(store, f'feature_flags_outcomes_total{{{beta},result="ok"}}') == 1
    assert sample(store, f'feature_flags_outcome_duration_seconds_count{{{flag},cohort="on"}}') == 4


def test_feedback_counts_a_complaint_only_when_the_model_was_on(store) -> None:
    users = range(100, 400)
    inside = next(u for u in users if store.is_enabled("new_gpt_model", user_id=u, chat_id=u, chat_type="private"))
    outside = next(u for u in users if not store.is_enabled("new_gpt_model", user_id=u, chat_id=u, chat_type="private"))
    sent = run_updates(
        store,
        [text_update(inside, inside, "private", "/feedback"), text_update(outside, outside, "private", "/feedback")],
    )
    assert sent == ["thanks, noted", "thanks, noted"]
    assert sample(store, 'feature_flags_complaints_total{flag="new_gpt_model"}') == 1
