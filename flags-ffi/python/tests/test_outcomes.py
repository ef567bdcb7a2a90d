"""Outcomes (docs/spec.md "Outcomes"): exposure through msg.is_enabled, `in` and
msg.evaluate; msg.record and msg.track once per message; complaints; bad
arguments; threads and an asyncio handler."""

from __future__ import annotations

import asyncio
import math
import re
import sys
import threading
import time

import feature_flags
import pytest
from support import DEADLINE_SECONDS, flag_file

FLAGS = {
    "on": {"enabled": True},
    "control": {"enabled": True, "rollout_percentage": 0},
    "killed": {"enabled": False},
    "private_only": {"enabled": True, "chat_types": ["private"]},
    "half": {"enabled": True, "rollout_percentage": 50},
}
COHORTS = ("on", "off")
RESULTS = ("ok", "error")
BOUNDS = ("0.025", "0.05", "0.1", "0.25", "0.5", "1", "2", "5", "10", "30", "+Inf")

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')


def samples(store: feature_flags.FlagStore) -> dict:
    out = {}
    for line in store.metrics_text().splitlines():
        if line and not line.startswith("#"):
            name, labels, value = SAMPLE.match(line).groups()
            out[(name, frozenset(LABEL.findall(labels or "")))] = float(value)
    return out


def outcomes(store, flag: str, cohort: str, result: str) -> float:
    """A cohort's outcomes of one result, summed over its segments (via and
    chat type), as `sum by (flag, cohort, result)` reads them."""
    want = {("flag", flag), ("cohort", cohort), ("result", result)}
    found = [
        value
        for (name, labels), value in samples(store).items()
        if name == "feature_flags_outcomes_total" and want <= labels
    ]
    assert len(found) == 5 * (2 if cohort == "on" else 1), found
    return sum(found)


def segment(store, flag: str, cohort: str, via: str, chat_type: str, result: str) -> float:
    """One segment's outcomes of one result."""
    key = frozenset({("flag", flag), ("cohort", cohort), ("via", via), ("chat_type", chat_type),
                     ("result", result)})
    return samples(store)[("feature_flags_outcomes_total", key)]


def histogram(store, flag: str, cohort: str) -> tuple[list[float], float, float]:
    s = samples(store)
    base = {("flag", flag), ("cohort", cohort)}
    buckets = [
        s[("feature_flags_outcome_duration_seconds_bucket", frozenset(base | {("le", le)}))]
        for le in BOUNDS
    ]
    total = s[("feature_flags_outcome_duration_seconds_sum", frozenset(base))]
    count = s[("feature_flags_outcome_duration_seconds_count", frozenset(base))]
    return buckets, total, count


def all_outcomes(store) -> dict:
    return {
        (flag, cohort, result): outcomes(store, flag, cohort, result)
        for flag in FLAGS
        for cohort in COHORTS
        for result in RESULTS
    }


@pytest.fixture
def store():
    with feature_flags.FlagStore.from_json(flag_file(FLAGS)) as store:
        yield store


def test_every_series_is_there_at_zero_before_any_message(store) -> None:
    assert set(all_outcomes(store).values()) == {0}
    for flag in FLAGS:
        for cohort in COHORTS:
            assert histogram(store, flag, cohort) == ([0] * len(BOUNDS), 0, 0)
    assert samples(store)[("feature_flags_complaints_total", frozenset({("flag", "on")}))] == 0


def test_each_way_of_asking_exposes_only_that_flag_in_its_cohort(store) -> None:
    msg = store.for_message(user_id=5, chat_id=-1, chat_type="group")
    assert msg.is_enabled("on")
    assert "control" not in msg
    decision = msg.evaluate("killed")
    assert decision == (False, "disabled", None)
    assert not msg.is_enabled("private_only")  # chat_type: no cohort
    assert not msg.is_enabled("not_in_the_file")
    assert msg.evaluate("not_in_the_file", default=True) == (True, "unknown_flag", None)
    msg.enabled_flags()  # lists, asks nothing
    repr(msg)
    assert msg.record(error=True, seconds=0.3) is True
    counted = {key: value for key, value in all_outcomes(store).items() if value}
    assert counted == {("on", "on", "error"): 1, ("control", "off", "error"): 1}


def test_evaluate_exposes_in_the_cohort_of_its_decision(store) -> None:
    msg = store.for_message(user_id=5)
    assert msg.evaluate("control") == (False, "rollout", msg.evaluate("control").bucket)
    assert msg.evaluate("on").enabled
    assert msg.record(error=False, seconds=0)
    assert outcomes(store, "control", "off", "ok") == 1
    assert outcomes(store, "on", "on", "ok") == 1
    assert outcomes(store, "half", "on", "ok") + outcomes(store, "half", "off", "ok") == 0


def test_a_message_records_once(store) -> None:
    msg = store.for_message(user_id=1)
    msg.is_enabled("on")
    assert msg.record(error=False, seconds=0.01) is True
    assert msg.record(error=True, seconds=9.0) is False
    with msg.track():
        pass
    assert outcomes(store, "on", "on", "ok") == 1
    assert outcomes(store, "on", "on", "error") == 0
    # A message never recorded counts nothing.
    store.for_message(user_id=1).is_enabled("on")
    assert outcomes(store, "on", "on", "ok") == 1


def test_the_histogram_buckets_sum_and_count(store) -> None:
    durations = [0.0, 0.025, 0.07, 0.3, 1.0, 2.0, 2.5, 5.0, 5.01, 31]
    for seconds in durations:
        msg = store.for_message()
        msg.is_enabled("on")
        msg.record(error=False, seconds=seconds)
    buckets, total, count = histogram(store, "on", "on")
    assert buckets == [2, 2, 3, 3, 4, 5, 6, 8, 9, 9, 10]
    assert count == len(durations)
    assert math.isclose(total, sum(durations), rel_tol=1e-9)


def test_a_reload_of_the_file_between_check_and_record(make_file) -> None:
    path = make_file(FLAGS)
    with feature_flags.FlagStore(path, watch=False) as store:
        msg = store.for_message(user_id=5)
        assert not msg.is_enabled("control")
        # `control` goes to 100 % and moves to the front; `on` is removed.
        reordered = {"control": {"enabled": True}}
        reordered.update({k: v for k, v in FLAGS.items() if k not in ("on", "control")})
        path.write_text(flag_file(reordered), encoding="utf-8")
        store.reload()
        assert store.generation == 2
        assert msg.generation == 1
        assert msg.evaluate("control").enabled is False  # still the old version
        with msg.track():
            pass
        assert outcomes(store, "control", "off", "ok") == 1
        assert outcomes(store, "control", "on", "ok") == 0
        assert "flag=\"on\"" not in store.metrics_text()  # removed with its flag
        fresh = store.for_message(user_id=5)
        assert fresh.is_enabled("control")
        fresh.record(error=False, seconds=0.1)
        assert outcomes(store, "control", "on", "ok") == 1


def test_track_measures_the_block_and_counts_an_escaping_exception(store) -> None:
    msg = store.for_message()
    msg.is_enabled("on")
    with msg.track():
        time.sleep(0.06)
    buckets, total, count = histogram(store, "on", "on")
    assert count == 1 and 0.055 <= total < 5
    assert buckets[1] == 0 and buckets[2] == 1  # above 0.05 s, at most 0.1 s

    msg = store.for_message()
    msg.is_enabled("on")
    with pytest.raises(KeyError, match="boom"):
        with msg.track():
            raise KeyError("boom")
    assert outcomes(store, "on", "on", "error") == 1
    assert outcomes(store, "on", "on", "ok") == 1


def test_track_in_an_async_handler_measures_wall_time_across_awaits(store) -> None:
    async def handler(user_id: int, fail: bool) -> None:
        msg = store.for_message(user_id=user_id)
        with msg.track():
            if msg.is_enabled("on"):
                await asyncio.sleep(0.03)
            if fail:
                raise RuntimeError("handler failed")

    async def main() -> list:
        return await asyncio.gather(
            *(handler(user, fail=user % 4 == 0) for user in range(20)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert sum(isinstance(r, RuntimeError) for r in results) == 5
    assert outcomes(store, "on", "on", "error") == 5
    assert outcomes(store, "on", "on", "ok") == 15
    buckets, total, count = histogram(store, "on", "on")
    # Each handler slept 30 ms while the others ran: wall time, not CPU time.
    assert count == 20 and buckets[0] == 0 and total >= 20 * 0.029


def test_threads_count_exactly(store) -> None:
    threads_count, messages = 8, 2000
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    started = threading.Barrier(threads_count, timeout=DEADLINE_SECONDS)
    failures: list[str] = []
    halves = [[0, 0] for _ in range(threads_count)]

    def work(index: int) -> None:
        try:
            started.wait()
            for i in range(messages):
                msg = store.for_message(user_id=index * 100_000 + i)
                msg.is_enabled("on")
                halves[index][0 if "half" in msg else 1] += 1
                if not msg.record(error=i % 5 == 0, seconds=0.001):
                    failures.append("record returned False the first time")
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            failures.append(repr(error))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE_SECONDS)
    finally:
        sys.setswitchinterval(switch_interval)
    assert not failures, failures[:5]
    total = threads_count * messages
    assert outcomes(store, "on", "on", "error") == total // 5
    assert outcomes(store, "on", "on", "ok") == total - total // 5
    on = sum(h[0] for h in halves)
    assert outcomes(store, "half", "on", "ok") + outcomes(store, "half", "on", "error") == on
    assert outcomes(store, "half", "off", "ok") + outcomes(store, "half", "off", "error") == (
        total - on
    )


def test_complaints(store) -> None:
    store.complaint("control")
    store.complaint("control", user_id=123)
    store.complaint(name="on", user_id=None)
    s = samples(store)
    assert s[("feature_flags_complaints_total", frozenset({("flag", "control")}))] == 2
    assert s[("feature_flags_complaints_total", frozenset({("flag", "on")}))] == 1
    with pytest.raises(ValueError, match=r"no flag `contrl`.*did you mean `control`"):
        store.complaint("contrl")
    with pytest.raises(TypeError):
        store.complaint(42)
    with pytest.raises(TypeError):
        store.complaint("on", user_id="123")
    with pytest.raises(ValueError):
        store.complaint("on", user_id=2**63)
    with pytest.raises(TypeError):
        store.complaint()
    s = samples(store)
    assert s[("feature_flags_complaints_total", frozenset({("flag", "on")}))] == 1


def test_one_users_complaints_count_once_an_hour(store) -> None:
    # One angry user typing /feedback ten times is one complaint, not ten.
    assert [store.complaint("on", user_id=7) for _ in range(10)] == [True] + [False] * 9
    assert store.complaint("on", user_id=8) is True
    assert store.complaint("control", user_id=7) is True
    # Without a user each complaint counts.
    assert store.complaint("on") is True
    assert store.complaint("on") is True
    s = samples(store)
    assert s[("feature_flags_complaints_total", frozenset({("flag", "on")}))] == 4
    assert s[("feature_flags_complaints_total", frozenset({("flag", "control")}))] == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"error": False, "seconds": -0.1}, ValueError),
        ({"error": False, "seconds": float("nan")}, ValueError),
        ({"error": False, "seconds": float("inf")}, ValueError),
        ({"error": False, "seconds": 1e300}, ValueError),
        ({"error": False, "seconds": "1"}, TypeError),
        ({"error": False, "seconds": None}, TypeError),
        ({"error": False, "seconds": True}, TypeError),
        ({"error": 0, "seconds": 1.0}, TypeError),
        ({"error": None, "seconds": 1.0}, TypeError),
        ({"error": False}, TypeError),
        ({"seconds": 1.0}, TypeError),
        ({"error": False, "seconds": 1.0, "extra": 1}, TypeError),
    ],
)
def test_bad_record_arguments_are_refused_and_count_nothing(store, kwargs, error) -> None:
    msg = store.for_message()
    msg.is_enabled("on")
    with pytest.raises(error):
        msg.record(**kwargs)
    assert set(all_outcomes(store).values()) == {0}
    assert msg.record(False, 2) is True  # positional, an int: fine, and still the first


def test_outcomes_counted_without_decisions_unless_switched_off(make_file) -> None:
    path = make_file(FLAGS)
    with feature_flags.FlagStore(path, watch=False, count_decisions=False) as store:
        msg = store.for_message()
        msg.is_enabled("on")
        msg.record(error=False, seconds=0.2)
        assert outcomes(store, "on", "on", "ok") == 1
        assert "decisions_total" not in store.metrics_text()
    with feature_flags.FlagStore(path, watch=False, count_outcomes=False) as store:
        msg = store.for_message()
        msg.is_enabled("on")
        assert msg.record(error=False, seconds=0.2) is True
        store.complaint("on")
        text = store.metrics_text()
        assert "feature_flags_outcome" not in text
        assert "complaints" not in text


def test_a_message_outlives_its_closed_store(make_file) -> None:
    store = feature_flags.FlagStore(make_file(FLAGS), watch=False)
    msg = store.for_message()
    msg.is_enabled("on")
    store.close()
    assert msg.record(error=False, seconds=0.1) is True
    del store
    assert msg.generation == 1
