"""Per-call cost of feature_flags against a pure-Python baseline of the same rule.

    python flags-ffi/python/bench/bench.py            # about 10 s
    python flags-ffi/python/bench/bench.py --quick    # a smoke run: is it broken?

Prints the median (and best) ns per operation over several rounds. Every timed loop
includes the same Python `for` loop overhead, printed on its own line
(`empty loop`). The baseline (bench/baseline.py: a dict of flags, frozensets
and xxhash.xxh3_64_intdigest) is first checked to give the same answers as
the library, so both sides do the same work.

The library rows run on a store that counts decisions (the default) and, for
comparison, on one opened with count_decisions=False. metrics_text() and,
when prometheus_client is installed, the collector's collect() are timed
over fewer rounds: they run once per scrape, not per message.

Needs `xxhash` (pip install xxhash), a benchmark-only dependency.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import feature_flags  # noqa: E402
from baseline import BaselineFlags  # noqa: E402

# Ten flags, one of each kind a bot carries: rollouts by user and by chat,
# chat-type limits, exclusions, groups, a kill switch, a shared salt.
BENCH_FILE: dict[str, Any] = {
    "version": 1,
    "groups": {"beta_testers": [111111111, 222222222], "staff": [7, 8, 9]},
    "flags": {
        "new_gpt_model": {
            "enabled": True,
            "rollout_percentage": 10,
            "user_groups": ["beta_testers"],
            "chat_types": ["private"],
        },
        "enhanced_video_download": {
            "enabled": True,
            "rollout_percentage": 25,
            "exclude_chats": ["-1001234567890"],
            "bucket_by": "chat",
        },
        "voice_replies": {"enabled": False, "rollout_percentage": 0},
        "inline_search": {"enabled": True, "rollout_percentage": 50},
        "group_summaries": {
            "enabled": True,
            "rollout_percentage": 75,
            "chat_types": ["group", "supergroup"],
            "bucket_by": "chat",
        },
        "sticker_suggestions": {"enabled": True},
        "staff_tools": {"enabled": True, "rollout_percentage": 0, "user_groups": ["staff"]},
        "image_captions": {"enabled": True, "rollout_percentage": 5, "salt": "vision"},
        "image_editing": {"enabled": True, "rollout_percentage": 5, "salt": "vision"},
        "translation": {"enabled": True, "rollout_percentage": 99.5, "exclude_chats": [-100987]},
    },
}
FLAG_NAMES = list(BENCH_FILE["flags"])
HOT_FLAG = "inline_search"  # reaches the hashing step: the common, costliest path
USER_ID, CHAT_ID, CHAT_TYPE = 123456789, 123456789, "private"


def check_same_answers(store: feature_flags.FlagStore, baseline: BaselineFlags) -> None:
    rng = random.Random(5)
    chat_types = [None, *feature_flags.CHAT_TYPES]
    for _ in range(2000):
        context: dict[str, Any] = {
            "user_id": rng.choice([None, 7, 111111111, rng.randrange(-(2**63), 2**63)]),
            "chat_id": rng.choice([None, -1001234567890, -100987, rng.randrange(-(2**40), 2**40)]),
            "chat_type": rng.choice(chat_types),
            "groups": rng.choice([(), ("staff",), ("beta_testers", "x")]),
        }
        message = store.for_message(**context)
        for name in FLAG_NAMES:
            want = baseline.evaluate(name, **context)
            if tuple(store.evaluate(name, **context)) != want or (name in message) != want[0]:
                raise SystemExit(f"baseline and library disagree on {name} {context}")


def time_rounds(loop: Callable[[int], object], number: int, rounds: int) -> dict[str, float]:
    """Median and best ns per operation over `rounds` runs of `number` operations."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        loop(number)
        samples.append((time.perf_counter_ns() - start) / number)
    return {"median": statistics.median(samples), "best": min(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke run")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    arguments = parser.parse_args()
    number, rounds = (200, 3) if arguments.quick else (100_000, 15)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench_flags.json"
        path.write_text(json.dumps(BENCH_FILE), encoding="utf-8")
        store = feature_flags.FlagStore(path, watch=False)
        uncounted = feature_flags.FlagStore(path, watch=False, count_decisions=False)
        baseline = BaselineFlags(BENCH_FILE)
        check_same_answers(store, baseline)

        user_id, chat_id, chat_type = USER_ID, CHAT_ID, CHAT_TYPE
        names = FLAG_NAMES
        native_is_enabled = store.is_enabled
        baseline_is_enabled = baseline.is_enabled
        for_message = store.for_message
        uncounted_is_enabled = uncounted.is_enabled
        uncounted_for_message = uncounted.for_message
        metrics_text = store.metrics_text

        def empty_loop(n: int) -> None:
            for _ in range(n):
                pass

        def native_one(n: int) -> None:
            for _ in range(n):
                native_is_enabled(HOT_FLAG, user_id=user_id, chat_id=chat_id, chat_type=chat_type)

        def baseline_one(n: int) -> None:
            for _ in range(n):
                baseline_is_enabled(HOT_FLAG, user_id=user_id, chat_id=chat_id, chat_type=chat_type)

        def native_for_message(n: int) -> None:
            for _ in range(n):
                for_message(user_id=user_id, chat_id=chat_id, chat_type=chat_type)

        def uncounted_one(n: int) -> None:
            for _ in range(n):
                uncounted_is_enabled(
                    HOT_FLAG, user_id=user_id, chat_id=chat_id, chat_type=chat_type
                )

        def uncounted_message(n: int) -> None:
            for _ in range(n):
                uncounted_for_message(user_id=user_id, chat_id=chat_id, chat_type=chat_type)

        def scrape_text(n: int) -> None:
            for _ in range(n):
                metrics_text()

        def native_for_message_and_checks(n: int) -> None:
            for _ in range(n):
                message = for_message(user_id=user_id, chat_id=chat_id, chat_type=chat_type)
                for name in names:
                    message.is_enabled(name)

        def native_ten_calls(n: int) -> None:
            for _ in range(n):
                for name in names:
                    native_is_enabled(name, user_id=user_id, chat_id=chat_id, chat_type=chat_type)

        def baseline_ten(n: int) -> None:
            for _ in range(n):
                for name in names:
                    baseline_is_enabled(name, user_id=user_id, chat_id=chat_id, chat_type=chat_type)

        one_message = for_message(user_id=user_id, chat_id=chat_id, chat_type=chat_type)
        message_is_enabled = one_message.is_enabled

        def msg_is_enabled(n: int) -> None:
            for _ in range(n):
                message_is_enabled(HOT_FLAG)

        def fresh_messages(n: int) -> list:
            # Made before the timed loop: it times the report alone.
            messages = []
            for _ in range(n):
                message = for_message(user_id=user_id, chat_id=chat_id, chat_type=chat_type)
                for name in names[:3]:
                    message.is_enabled(name)
                messages.append(message)
            return messages

        def msg_record(n: int) -> float:
            messages = fresh_messages(n)
            start = time.perf_counter_ns()
            for message in messages:
                message.record(error=False, seconds=0.84)
            return time.perf_counter_ns() - start

        def msg_track(n: int) -> float:
            messages = fresh_messages(n)
            start = time.perf_counter_ns()
            for message in messages:
                with message.track():
                    pass
            return time.perf_counter_ns() - start

        timed = [
            ("empty loop", empty_loop),
            ("is_enabled, 1 flag (library)", native_one),
            ("is_enabled, 1 flag (library, count_decisions=False)", uncounted_one),
            ("is_enabled, 1 flag (pure-Python baseline)", baseline_one),
            ("for_message, 10 flags (library)", native_for_message),
            ("for_message, 10 flags (library, count_decisions=False)", uncounted_message),
            ("for_message + 10 msg.is_enabled (library)", native_for_message_and_checks),
            ("10 x is_enabled (library)", native_ten_calls),
            ("10 x is_enabled (pure-Python baseline)", baseline_ten),
        ]
        timed += [("msg.is_enabled, 1 flag (library)", msg_is_enabled)]
        results = {label: time_rounds(loop, number, rounds) for label, loop in timed}
        # Outcomes: the loops time themselves (their messages are made first).
        for label, loop in [
            ("msg.record(error=..., seconds=...), 3 flags exposed", msg_record),
            ("with msg.track(): pass, 3 flags exposed", msg_track),
        ]:
            samples = [loop(number) / number for _ in range(rounds)]
            results[label] = {"median": statistics.median(samples), "best": min(samples)}
        scrapes = [("metrics_text()", scrape_text)]
        collector = scrape_collector(store)
        if collector is not None:
            scrapes.append(("FlagCollector.collect(), parsed", collector))
        for label, loop in scrapes:
            results[label] = time_rounds(loop, max(number // 100, 10), rounds)
        store.close()
        uncounted.close()

    if arguments.json:
        print(json.dumps({"ns_per_op": results, "python": sys.version.split()[0]}, indent=2))
        return
    print(
        f"feature_flags {feature_flags.__version__} (library {feature_flags.library_version}),"
        f" Python {sys.version.split()[0]}; ns/op over {rounds} rounds of {number}"
    )
    print(f"  {'':<55} {'median':>9} {'best':>9}")
    for label, ns in results.items():
        print(f"  {label:<55} {ns['median']:>9.1f} {ns['best']:>9.1f}")
    one_native = results["is_enabled, 1 flag (library)"]["median"]
    one_baseline = results["is_enabled, 1 flag (pure-Python baseline)"]["median"]
    message = results["for_message + 10 msg.is_enabled (library)"]["median"]
    ten_baseline = results["10 x is_enabled (pure-Python baseline)"]["median"]
    print(f"  is_enabled: {one_baseline / one_native:.1f}x faster than the baseline (medians)")
    print(
        f"  for_message + 10 checks: {ten_baseline / message:.1f}x faster than 10 baseline"
        " checks (medians)"
    )


def scrape_collector(store: feature_flags.FlagStore) -> Callable[[int], object] | None:
    """A loop over the prometheus_client collector, or None without prometheus_client."""
    try:
        from feature_flags.prometheus import FlagCollector
    except ImportError:
        return None
    collect = FlagCollector(store).collect

    def loop(n: int) -> None:
        for _ in range(n):
            for _family in collect():
                pass

    return loop


if __name__ == "__main__":
    main()
