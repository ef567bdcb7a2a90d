"""close(), the context manager, and what happens to a closed store."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import feature_flags
import pytest
from support import wait_until

FLAGS = {"everyone": {"enabled": True}}


def closed_calls(store: feature_flags.FlagStore):
    return {
        "is_enabled": lambda: store.is_enabled("everyone"),
        "evaluate": lambda: store.evaluate("everyone"),
        "for_message": lambda: store.for_message(user_id=1),
        "reload": store.reload,
        "generation": lambda: store.generation,
        "fingerprint": lambda: store.fingerprint,
        "last_error": lambda: store.last_error,
        "enter": lambda: store.__enter__(),
    }


def test_every_call_after_close_raises_closed_error(make_file) -> None:
    store = feature_flags.FlagStore(make_file(FLAGS))
    message = store.for_message(user_id=1)
    store.close()
    assert store.closed
    for name, call in closed_calls(store).items():
        with pytest.raises(feature_flags.ClosedError, match="closed"):
            call()
            pytest.fail(f"{name} did not raise")
    # ClosedError is a RuntimeError, not an argument error.
    assert issubclass(feature_flags.ClosedError, RuntimeError)
    assert not issubclass(feature_flags.ClosedError, ValueError)
    # Answers already given stay valid.
    assert message.is_enabled("everyone")
    store.close()  # idempotent
    assert "closed" in repr(store)


def test_closed_is_checked_before_the_arguments(make_file) -> None:
    store = feature_flags.FlagStore(make_file(FLAGS))
    store.close()
    with pytest.raises(feature_flags.ClosedError):
        store.is_enabled("everyone", user_id=2**70)


def test_the_context_manager_closes(make_file) -> None:
    with feature_flags.FlagStore(make_file(FLAGS)) as store:
        assert not store.closed
        assert store.is_enabled("everyone")
        assert "generation=1" in repr(store)
    assert store.closed


def test_the_context_manager_closes_on_errors(make_file) -> None:
    with pytest.raises(KeyError):
        with feature_flags.FlagStore(make_file(FLAGS)) as store:
            raise KeyError("boom")
    assert store.closed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_dropping_stores_stops_their_watchers(make_file) -> None:
    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    path: Path = make_file(FLAGS)
    gc.collect()
    before = threads()
    stores = [feature_flags.FlagStore(path) for _ in range(10)]
    assert threads() > before
    closed_explicitly = stores[:5]
    for store in closed_explicitly:
        store.close()
    del store, stores, closed_explicitly
    gc.collect()
    wait_until(lambda: threads() <= before, "the watcher threads to end")


def test_library_version_is_reported() -> None:
    assert feature_flags.library_version
    assert feature_flags.__version__ == "0.1.0"
