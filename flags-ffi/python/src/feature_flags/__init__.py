"""Feature flags for a busy Telegram bot.

    import feature_flags

    flags = feature_flags.FlagStore("config/feature_flags.json")   # loads, validates, watches
    msg = flags.for_message(user_id=user.id, chat_id=chat.id, chat_type=chat.type)
    if msg.is_enabled("new_gpt_model"):
        ...

FlagStore, Message and Decision live in the C extension `_native`, which
statically links the Rust library: there is no shared library to locate and
no environment variable to set. Every call checks its arguments before they
reach native code (TypeError/ValueError), holds no lock, and never blocks on
a reload, so it is safe from many threads and from asyncio code.

`flags.metrics_text()` renders reload health, flag settings and decision
counts in the Prometheus text format; `feature_flags.prometheus.register(flags)`
adds them to prometheus_client's registry (an optional dependency, imported
only by that module).
"""

from feature_flags._native import (
    ClosedError,
    Decision,
    FlagFileError,
    FlagStore,
    Message,
    library_version,
)

__all__ = [
    "CHAT_TYPES",
    "REASONS",
    "ClosedError",
    "Decision",
    "FlagFileError",
    "FlagStore",
    "Message",
    "library_version",
]

__version__ = "0.1.0"

#: The chat types a context may name (python-telegram-bot's Chat.type values).
CHAT_TYPES = ("private", "group", "supergroup", "channel")

#: Decision.reason values, in evaluation order.
REASONS = (
    "unknown_flag",
    "disabled",
    "chat_excluded",
    "chat_type",
    "group",
    "rollout",
    "missing_key",
)
