"""A python-telegram-bot (v20+) bot whose handlers ask feature_flags for every update.

    pip install feature_flags-*.whl python-telegram-bot   # the wheel: docs/bots.md, "Python"
    TELEGRAM_BOT_TOKEN=123:abc python examples/python/ptb_bot.py [--flags config/feature_flags.json]

Each handler makes one `for_message` call (every flag, one native call, one
version of the file) from the update's user and chat, then checks flags on
the result at the cost of a dict lookup each. The chat type is passed as
python-telegram-bot gives it, `update.effective_chat.type`, a
`telegram.constants.ChatType` (a StrEnum): the library takes str subclasses.

- any text: answered "with" the new GPT model when `new_gpt_model` is on for
  this user and chat, else with the current one;
- /video: the enhanced or the standard video download (`enhanced_video_download`,
  bucketed by chat, so a whole group chat gets the same answer);
- /feedback: a complaint about the new model, counted when it was on for the
  user (`feature_flags_complaints_total`, a trigger of the rollout guard).

Each answer is timed with `with flags.track():`, which reports the outcome
(ok, or error when the block raises, and how long it took) for every flag
the handler asked about, in the flag's cohort: what the rollout guard and
the dashboard compare.

`build_application(flags, builder)` is what a bot (and the test, which feeds
real `Update` objects offline) uses; `main()` adds the token and polling.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import feature_flags
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

FLAGS = "feature_flags"  # the FlagStore's key in application.bot_data
DEFAULT_FLAGS = Path(os.environ.get("FEATURE_FLAGS_FILE", "config/feature_flags.json"))


def flags_for(update: Update, context: ContextTypes.DEFAULT_TYPE) -> feature_flags.Message:
    """Every flag for this update's message, from one version of the flag file."""
    chat, user = update.effective_chat, update.effective_user
    return context.bot_data[FLAGS].for_message(
        user_id=user.id if user else None,  # None for channel posts
        chat_id=chat.id if chat else None,
        chat_type=chat.type if chat else None,  # ChatType.PRIVATE etc., a str
    )


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    flags = flags_for(update, context)
    with flags.track():  # times the answer; an exception in it counts as an error
        text = update.effective_message.text or ""
        if flags.is_enabled("new_gpt_model"):
            answer = f"[new GPT model] {text}"  # the code path being rolled out
        else:
            answer = f"[current model] {text}"
        await update.effective_message.reply_text(answer)


async def on_video(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    flags = flags_for(update, context)
    with flags.track():
        if "enhanced_video_download" in flags:
            answer = "enhanced video download"
        else:
            answer = "standard video download"
        await update.effective_message.reply_text(answer)


async def on_feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if flags_for(update, context).is_enabled("new_gpt_model"):
        context.bot_data[FLAGS].complaint("new_gpt_model", user_id=user.id if user else None)
    await update.effective_message.reply_text("thanks, noted")


def build_application(flags: feature_flags.FlagStore, builder: ApplicationBuilder) -> Application:
    application = builder.build()
    application.bot_data[FLAGS] = flags
    application.add_handler(CommandHandler("video", on_video))
    application.add_handler(CommandHandler("feedback", on_feedback))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", type=Path, default=DEFAULT_FLAGS, help="the flag file")
    arguments = parser.parse_args()
    token = os.environ.get("TELEGRAM_BOT_TOKEN")
    if not token:
        raise SystemExit("error: set TELEGRAM_BOT_TOKEN to the bot's token")
    try:
        flags = feature_flags.FlagStore(arguments.flags)  # watched: edits apply live
    except feature_flags.FlagFileError as error:
        raise SystemExit(f"error: bad flag file {arguments.flags}:\n{error}") from None
    with flags:
        build_application(flags, Application.builder().token(token)).run_polling(
            allowed_updates=Update.ALL_TYPES
        )


if __name__ == "__main__":
    main()
