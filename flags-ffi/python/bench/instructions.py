"""One operation repeated N times, for counting instructions under callgrind.

    python flags-ffi/python/bench/instructions.py OPERATION N

benches/instructions.py runs this under `valgrind --tool=callgrind` at two N
and divides the difference by the difference of N, so the interpreter's
start, the imports and the setup below cancel out. Run it with
PYTHONHASHSEED=0 so that two runs count the same instructions.

The library and the hand-written baseline (baseline.py) load the same ten
flags as bench.py, each flag given the same deny list of 1 000 chats; both
are checked to agree before anything is counted. Every loop is the same
Python `for` loop as bench.py's, so both sides include its cost.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import feature_flags  # noqa: E402
from baseline import BaselineFlags  # noqa: E402
from bench import BENCH_FILE, CHAT_ID, CHAT_TYPE, FLAG_NAMES, HOT_FLAG, USER_ID  # noqa: E402

DENY_LIST = [-1_001_000_000_000 - 13 * i for i in range(1000)]


def flag_file() -> dict:
    document = copy.deepcopy(BENCH_FILE)
    for flag in document["flags"].values():
        flag["exclude_chats"] = [*flag.get("exclude_chats", []), *DENY_LIST]
    return document


def main() -> None:
    operation, n = sys.argv[1], int(sys.argv[2])
    document = flag_file()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "flags.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        store = feature_flags.FlagStore(path, watch=False)
    baseline = BaselineFlags(document)
    user_id, chat_id, chat_type = USER_ID, CHAT_ID, CHAT_TYPE
    for context in [
        {"user_id": user_id, "chat_id": chat_id, "chat_type": chat_type},
        {"user_id": 7, "chat_id": DENY_LIST[500], "chat_type": "supergroup"},
        {"user_id": 42, "chat_id": -100987, "chat_type": "group"},
    ]:
        message = store.for_message(**context)
        for name in FLAG_NAMES:
            want = baseline.is_enabled(name, **context)
            if store.is_enabled(name, **context) != want or message.is_enabled(name) != want:
                raise SystemExit(f"baseline and library disagree on {name} {context}")

    names = FLAG_NAMES
    is_enabled = store.is_enabled
    for_message = store.for_message
    baseline_is_enabled = baseline.is_enabled
    on = 0
    if operation == "py_is_enabled":
        for _ in range(n):
            on += is_enabled(HOT_FLAG, user_id=user_id, chat_id=chat_id, chat_type=chat_type)
    elif operation == "py_baseline_is_enabled":
        for _ in range(n):
            on += baseline_is_enabled(
                HOT_FLAG, user_id=user_id, chat_id=chat_id, chat_type=chat_type
            )
    elif operation == "py_message":
        for _ in range(n):
            message = for_message(user_id=user_id, chat_id=chat_id, chat_type=chat_type)
            for name in names:
                on += message.is_enabled(name)
    elif operation == "py_baseline_message":
        for _ in range(n):
            for name in names:
                on += baseline_is_enabled(
                    name, user_id=user_id, chat_id=chat_id, chat_type=chat_type
                )
    else:
        raise SystemExit(f"unknown operation {operation!r}")
    store.close()
    print(operation, n, on)


if __name__ == "__main__":
    main()
