"""Loading, hot reload and reload(), seen from Python."""

from __future__ import annotations

import json
from pathlib import Path

import feature_flags
import pytest
from support import flag_file, replace_file, wait_until

ON = {"new_gpt_model": {"enabled": True}}
OFF = {"new_gpt_model": {"enabled": False}}


def test_a_bad_file_at_start_names_every_problem(make_file) -> None:
    path = make_file(
        {
            "new_gpt_model": {"enabled": True, "rollout_percentage": 150},
            "video": {"enabled": True, "rollout_percentag": 5},
        }
    )
    with pytest.raises(feature_flags.FlagFileError) as raised:
        feature_flags.FlagStore(path)
    message = str(raised.value)
    assert "flags.new_gpt_model.rollout_percentage: 150 is not in 0..=100" in message
    # The unknown field is named by its path, with the field it probably meant.
    assert "flags.video.rollout_percentag" in message
    assert "rollout_percentage" in message.split("flags.video.rollout_percentag", 1)[1]


def test_a_missing_file_at_start_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(feature_flags.FlagFileError, match="absent.json"):
        feature_flags.FlagStore(path)


def test_text_that_is_not_json_at_start(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"version": 1, "flags": {', encoding="utf-8")
    with pytest.raises(feature_flags.FlagFileError):
        feature_flags.FlagStore(str(path))
    with pytest.raises(feature_flags.FlagFileError):
        feature_flags.FlagStore.from_json("[]")


def test_generation_fingerprint_and_last_error_after_opening(make_file) -> None:
    path = make_file(ON)
    with feature_flags.FlagStore(path, watch=False) as store:
        assert store.generation == 1
        assert store.last_error is None
        assert len(store.fingerprint) == 16
        int(store.fingerprint, 16)
        assert store.path == str(path)


def test_the_fingerprint_is_xxh3_of_the_file_bytes(make_file) -> None:
    xxhash = pytest.importorskip("xxhash")
    path = make_file(ON)
    with feature_flags.FlagStore(path, watch=False) as store:
        assert store.fingerprint == f"{xxhash.xxh3_64_intdigest(path.read_bytes()):016x}"


def test_a_replaced_file_is_picked_up_by_the_watcher(make_file) -> None:
    path = make_file(OFF)
    with feature_flags.FlagStore(path) as store:
        assert store.generation == 1
        before = store.fingerprint
        assert not store.is_enabled("new_gpt_model")
        replace_file(path, flag_file(ON))
        wait_until(lambda: store.generation == 2, "the watcher to load the new file")
        assert store.is_enabled("new_gpt_model")
        assert "new_gpt_model" in store.for_message()
        assert store.fingerprint != before
        assert store.last_error is None


def test_a_bad_file_keeps_the_old_flags_and_sets_last_error(make_file) -> None:
    path = make_file(ON)
    with feature_flags.FlagStore(path) as store:
        replace_file(path, flag_file({"new_gpt_model": {"enabled": "yes"}}))
        wait_until(lambda: store.last_error is not None, "the watcher to report the bad file")
        assert "flags.new_gpt_model.enabled" in store.last_error
        assert store.generation == 1
        assert store.is_enabled("new_gpt_model")
        assert store.for_message().is_enabled("new_gpt_model")
        # A good file afterwards loads and clears the error.
        replace_file(path, flag_file(OFF))
        wait_until(lambda: store.generation == 2, "the good file to load")
        assert store.last_error is None
        assert not store.is_enabled("new_gpt_model")


def test_reload_loads_a_changed_file(make_file) -> None:
    path = make_file(OFF)
    with feature_flags.FlagStore(path, watch=False) as store:
        replace_file(path, flag_file(ON))
        assert store.generation == 1  # not watched: nothing happens by itself
        assert store.reload() is None
        assert store.generation == 2
        assert store.is_enabled("new_gpt_model")
        store.reload()  # the same bytes: no new version
        assert store.generation == 2


def test_reload_raises_on_a_bad_file_and_keeps_the_old_flags(make_file) -> None:
    path = make_file(ON)
    with feature_flags.FlagStore(path, watch=False) as store:
        message_before = store.for_message(user_id=1)
        path.write_text(
            json.dumps(
                {
                    "version": 1,
                    "flags": {"new_gpt_model": {"enabled": True, "rollout_percentage": 150}},
                }
            ),
            encoding="utf-8",
        )
        with pytest.raises(feature_flags.FlagFileError) as raised:
            store.reload()
        problem = "flags.new_gpt_model.rollout_percentage: 150 is not in 0..=100"
        assert problem in str(raised.value)
        assert problem in store.last_error
        assert store.generation == 1
        assert store.is_enabled("new_gpt_model")
        assert store.for_message(user_id=1).enabled_flags() == message_before.enabled_flags()


def test_reload_raises_when_the_file_is_gone(make_file) -> None:
    path = make_file(ON)
    with feature_flags.FlagStore(path, watch=False) as store:
        path.unlink()
        with pytest.raises(feature_flags.FlagFileError, match=path.name):
            store.reload()
        assert store.is_enabled("new_gpt_model")


def test_a_message_keeps_the_version_it_was_made_from(make_file) -> None:
    path = make_file(ON)
    with feature_flags.FlagStore(path, watch=False) as store:
        old = store.for_message()
        replace_file(path, flag_file({"renamed": {"enabled": True}, **OFF}))
        store.reload()
        new = store.for_message()
        assert old.generation == 1 and new.generation == 2
        assert old.enabled_flags() == ["new_gpt_model"]
        assert new.enabled_flags() == ["renamed"]
        assert "renamed" not in old and "renamed" in new
