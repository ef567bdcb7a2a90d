"""The pure-Python baseline the benchmark compares against.

The same rule as docs/spec.md "Evaluation" and "Bucketing", written the way a bot
developer would without the library: a dict of flags with precomputed seeds,
thresholds and frozensets, and xxhash for the bucket. tests/test_baseline.py
checks it against the golden evaluation cases, so the benchmark compares two
implementations that give the same answers.

Needs `xxhash` from PyPI (a benchmark-only dependency).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class BaselineFlag:
    enabled: bool
    threshold: int
    seed: int
    bucket_by_chat: bool
    chat_types: frozenset[str]
    exclude_chats: frozenset[int]
    user_groups: tuple[str, ...]
    group_members: frozenset[int]  # user ids of the file's groups named by user_groups


def bucket(key: int, seed: int) -> int:
    h = xxhash.xxh3_64_intdigest(key.to_bytes(8, "little", signed=True), seed)
    return (h * BUCKETS) >> 64


class BaselineFlags:
    """Loads a flag file (assumed valid) and evaluates it in pure Python."""

    def __init__(self, document: dict[str, Any]) -> None:
        groups = {name: frozenset(ids) for name, ids in document.get("groups", {}).items()}
        self.flags: dict[str, BaselineFlag] = {}
        for name, flag in document["flags"].items():
            user_groups = tuple(flag.get("user_groups", ()))
            members = frozenset().union(*(groups.get(g, ()) for g in user_groups))
            self.flags[name] = BaselineFlag(
                enabled=flag["enabled"],
                threshold=round(flag.get("rollout_percentage", 100) * 1000),
                seed=xxhash.xxh3_64_intdigest(flag.get("salt", name).encode()),
                bucket_by_chat=flag.get("bucket_by", "user") == "chat",
                chat_types=frozenset(flag.get("chat_types", ())),
                exclude_chats=frozenset(int(c) for c in flag.get("exclude_chats", ())),
                user_groups=user_groups,
                group_members=members,
            )

    @classmethod
    def load(cls, path: str | Path) -> BaselineFlags:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def evaluate(
        self,
        name: str,
        user_id: int | None = None,
        chat_id: int | None = None,
        chat_type: str | None = None,
        groups: Iterable[str] = (),
        default: bool = False,
    ) -> tuple[bool, str, int | None]:
        flag = self.flags.get(name)
        if flag is None:
            return default, "unknown_flag", None
        if not flag.enabled:
            return False, "disabled", None
        if chat_id is not None and chat_id in flag.exclude_chats:
            return False, "chat_excluded", None
        if flag.chat_types and chat_type not in flag.chat_types:
            return False, "chat_type", None
        if flag.user_groups and (
            (user_id is not None and user_id in flag.group_members)
            or any(g in flag.user_groups for g in groups)
        ):
            return True, "group", None
        if flag.threshold == BUCKETS:
            return True, "rollout", None
        key = chat_id if flag.bucket_by_chat else user_id
        if key is None:
            return False, "missing_key", None
        b = bucket(key, flag.seed)
        return b < flag.threshold, "rollout", b

    def is_enabled(
        self,
        name: str,
        user_id: int | None = None,
        chat_id: int | None = None,
        chat_type: str | None = None,
        groups: Iterable[str] = (),
        default: bool = False,
    ) -> bool:
        """The hot path, inlined: what a hand-written check would cost."""
        flag = self.flags.get(name)
        if flag is None:
            return default
        if not flag.enabled or (chat_id is not None and chat_id in flag.exclude_chats):
            return False
        if flag.chat_types and chat_type not in flag.chat_types:
            return False
        if flag.user_groups and (
            (user_id is not None and user_id in flag.group_members)
            or any(g in flag.user_groups for g in groups)
        ):
            return True
        if flag.threshold == BUCKETS:
            return True
        key = chat_id if flag.bucket_by_chat else user_id
        if key is None:
            return False
        h = xxhash.xxh3_64_intdigest(key.to_bytes(8, "little", signed=True), flag.seed)
        return (h * BUCKETS) >> 64 < flag.threshold
