"""Many threads evaluating while the file is replaced: every answer comes
from one whole version of the file, and nothing fails or blocks."""

from __future__ import annotations

import threading

import feature_flags
from support import DEADLINE_SECONDS, flag_file, replace_file, wait_until

# Two versions with different flags in a different order, so a message whose
# bits came from one version and names from the other would be caught.
VERSION_A = {"a": {"enabled": True}, "b": {"enabled": False}, "c": {"enabled": True}}
VERSION_B = {
    "c": {"enabled": False},
    "b": {"enabled": True},
    "d": {"enabled": True},
    "a": {"enabled": False},
}
# The file starts as A (generation 1) and alternates, so odd generations are A.
ENABLED = {1: ["a", "c"], 0: ["b", "d"]}

THREADS = 8
REPLACEMENTS = 12


def test_eight_threads_evaluate_while_the_file_is_replaced(tmp_path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(flag_file(VERSION_A), encoding="utf-8")
    store = feature_flags.FlagStore(path)
    stop = threading.Event()
    started = threading.Barrier(THREADS + 1, timeout=DEADLINE_SECONDS)
    failures: list[str] = []
    iterations = [0] * THREADS

    def evaluate(index: int) -> None:
        started.wait()
        last_generation = 0
        try:
            while not stop.is_set():
                message = store.for_message(
                    user_id=index, chat_id=-100 - index, chat_type="group", groups=("staff",)
                )
                want = ENABLED[message.generation % 2]
                if message.enabled_flags() != want:
                    failures.append(
                        f"generation {message.generation}: {message.enabled_flags()} != {want}"
                    )
                if [name for name in ("a", "b", "c", "d") if name in message] != sorted(want):
                    failures.append(f"generation {message.generation}: `in` disagrees")
                if message.generation < last_generation:
                    failures.append(
                        f"generation went back {last_generation} -> {message.generation}"
                    )
                last_generation = message.generation
                store.is_enabled("a", user_id=index)
                decision = store.evaluate("b", user_id=index)
                if decision.reason != "disabled" and decision != (True, "rollout", None):
                    failures.append(f"unexpected decision {decision}")
                iterations[index] += 1
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            failures.append(repr(error))

    threads = [threading.Thread(target=evaluate, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        started.wait()
        for replacement in range(REPLACEMENTS):
            generation = replacement + 2
            replace_file(path, flag_file(VERSION_B if generation % 2 == 0 else VERSION_A))
            wait_until(
                lambda generation=generation: store.generation == generation,
                f"generation {generation} to load",
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join(DEADLINE_SECONDS)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures[:10]
    assert all(count > 0 for count in iterations), iterations
    store.close()


def test_closing_while_threads_evaluate_raises_only_closed_error(tmp_path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(flag_file(VERSION_A), encoding="utf-8")
    store = feature_flags.FlagStore(path)
    started = threading.Barrier(THREADS + 1, timeout=DEADLINE_SECONDS)
    outcomes: list[str] = []

    def evaluate() -> None:
        started.wait()
        while True:
            try:
                store.for_message(user_id=1)
                store.is_enabled("a", user_id=1)
            except feature_flags.ClosedError:
                outcomes.append("closed")
                return
            except Exception as error:  # noqa: BLE001 - reported by the main thread
                outcomes.append(repr(error))
                return

    threads = [threading.Thread(target=evaluate) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    started.wait()
    store.close()
    for thread in threads:
        thread.join(DEADLINE_SECONDS)
    assert outcomes == ["closed"] * THREADS
