"""A python-telegram-bot style handler that asks feature_flags, run offline.

    pip install ./flags-ffi/python
    python examples/python/bot.py [--flags examples/feature_flags.json]

The handler has python-telegram-bot's shape (`async def handler(update,
context)`), and the small dataclasses below mimic the parts of Update,
Message, Chat and User it reads, so the example runs without Telegram or the
telegram package. With the real library, register it with
`application.add_handler(MessageHandler(filters.TEXT, on_message))` and put
the store in `application.bot_data["flags"]`.

The whole integration is three lines in the handler:

    chat, user = update.effective_chat, update.effective_user
    flags = context.bot_data["flags"].for_message(
        user_id=user.id if user else None, chat_id=chat.id, chat_type=chat.type)
    if flags.is_enabled("new_gpt_model"): ...

for_message evaluates every flag in one native call, on one version of the
file, so the checks that follow cost a dictionary lookup each and never
block the event loop.

Rollout monitoring takes one more line: `with flags.track():` around the
handler's work reports how handling went (its duration, and an error if an
exception escapes) for every flag the handler asked about, in the flag's
cohort, so the guard and the alerts can compare the users who got a feature
with those the rollout left out. It measures wall time, across awaits.
`/feedback` complaints go to `context.bot_data["flags"].complaint(name)`.

`--metrics` shows what the bot's Prometheus endpoint would serve about the
flags after these updates (needs prometheus_client). At startup a bot adds:

    import feature_flags.prometheus
    feature_flags.prometheus.register(flags)   # into prometheus_client's REGISTRY
    prometheus_client.start_http_server(9100)  # unless /metrics is served already
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feature_flags

DEFAULT_FLAGS = Path(__file__).resolve().parent.parent / "feature_flags.json"


# ---- just enough of python-telegram-bot's types -----------------------------


@dataclass(frozen=True)
class User:
    id: int
    first_name: str


@dataclass(frozen=True)
class Chat:
    id: int
    type: str  # "private", "group", "supergroup" or "channel", as in telegram.Chat


@dataclass(frozen=True)
class Message:
    text: str
    chat: Chat
    from_user: User | None  # None for channel posts


@dataclass(frozen=True)
class Update:
    update_id: int
    message: Message

    @property
    def effective_chat(self) -> Chat:
        return self.message.chat

    @property
    def effective_user(self) -> User | None:
        return self.message.from_user

    @property
    def effective_message(self) -> Message:
        return self.message


@dataclass
class CallbackContext:
    bot_data: dict[str, Any] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)


# ---- the handler --------------------------------------------------------------


async def on_message(update: Update, context: CallbackContext) -> None:
    chat, user = update.effective_chat, update.effective_user
    flags = context.bot_data["flags"].for_message(
        user_id=user.id if user else None, chat_id=chat.id, chat_type=chat.type
    )

    # Times the handler and records its outcome once, for the flags it asks
    # about below; an exception leaving the block counts as an error.
    with flags.track():
        text = update.effective_message.text
        if text.startswith("/feedback") and flags.is_enabled("new_gpt_model"):
            # A user unhappy with the new model: one complaint for the flag.
            context.bot_data["flags"].complaint("new_gpt_model", user_id=user.id if user else None)
        model = "new GPT model" if flags.is_enabled("new_gpt_model") else "current model"
        await asyncio.sleep(0)  # the real handler awaits the model's answer here
        reply = f"[{model}] you said {text!r}"
        if "enhanced_video_download" in flags:
            reply += " (enhanced video download on)"
        if flags.is_enabled("voice_replies"):
            reply += " (voice reply)"
        who = user.first_name if user else "channel"
        context.replies.append(
            f"update {update.update_id} from {who} in {chat.type} chat {chat.id}: {reply}"
        )


# ---- an offline run on simulated updates -------------------------------------

SIMULATED_UPDATES = [
    # A beta tester in a private chat: new_gpt_model through the group.
    Update(1, Message("hello", Chat(111111111, "private"), User(111111111, "Beta"))),
    # The same tester in a group chat: new_gpt_model is for private chats only.
    Update(2, Message("hi all", Chat(-1009876543210, "supergroup"), User(111111111, "Beta"))),
    # A chat excluded from enhanced_video_download, and one in its 25 % rollout.
    Update(3, Message("video?", Chat(-1001234567890, "group"), User(42, "Ann"))),
    Update(4, Message("video!", Chat(-1001000000094, "group"), User(42, "Ann"))),
    # A channel post has no user.
    Update(5, Message("news", Chat(-1005555555555, "channel"), None)),
    # Ordinary users in private chats: the 10 % rollout decides (1014 is in it).
    *(
        Update(10 + i, Message("ping", Chat(uid, "private"), User(uid, f"user{uid}")))
        for i, uid in enumerate([1013, 1014, 1015])
    ),
]


def expose_metrics(flags: feature_flags.FlagStore) -> None:
    try:
        import feature_flags.prometheus
    except ImportError as error:
        raise SystemExit(str(error)) from None
    feature_flags.prometheus.register(flags)


def scrape_flag_metrics() -> list[str]:
    """The flags' lines of what a scrape of prometheus_client's REGISTRY returns."""
    from prometheus_client import generate_latest

    return [line for line in generate_latest().decode().splitlines() if "feature_flags_" in line]


async def run(flags_path: Path, metrics: bool = False) -> tuple[list[str], list[str]]:
    with feature_flags.FlagStore(flags_path) as flags:
        if metrics:
            expose_metrics(flags)
        context = CallbackContext(bot_data={"flags": flags})
        for update in SIMULATED_UPDATES:
            await on_message(update, context)
        return context.replies, scrape_flag_metrics() if metrics else []


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the example handler on simulated updates.")
    parser.add_argument(
        "--flags", type=Path, default=DEFAULT_FLAGS, help=f"flag file (default: {DEFAULT_FLAGS})"
    )
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="then print the flags' Prometheus metrics (needs prometheus_client)",
    )
    arguments = parser.parse_args()
    try:
        replies, metrics = asyncio.run(run(arguments.flags, arguments.metrics))
    except feature_flags.FlagFileError as error:
        raise SystemExit(f"bad flag file {arguments.flags}:\n{error}") from None
    for line in replies + metrics:
        print(line)


if __name__ == "__main__":
    main()
