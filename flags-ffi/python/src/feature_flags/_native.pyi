from collections.abc import Iterable
from os import PathLike
from types import TracebackType
from typing import Final, Literal, final

# "private", "group", "supergroup" or "channel" (python-telegram-bot types Chat.type as str).
ChatType = str
Reason = Literal[
    "unknown_flag", "disabled", "chat_excluded", "chat_type", "group", "rollout", "missing_key"
]

library_version: Final[str]

class FlagFileError(Exception):
    """The flag file could not be read or is invalid; the message lists every problem."""

class ClosedError(RuntimeError):
    """The FlagStore was closed."""

@final
class Decision(tuple[bool, Reason, int | None]):
    @property
    def enabled(self) -> bool: ...
    @property
    def reason(self) -> Reason: ...
    @property
    def bucket(self) -> int | None: ...
    n_fields: Final[int]
    n_sequence_fields: Final[int]
    n_unnamed_fields: Final[int]

@final
class Track:
    """`with msg.track():` (or `async with`) times the block and records the message's outcome."""
    def __enter__(self) -> Track: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...
    async def __aenter__(self) -> Track: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...

@final
class Message:
    @property
    def generation(self) -> int: ...
    def is_enabled(self, name: str, default: bool = False) -> bool: ...
    def evaluate(self, name: str, default: bool = False) -> Decision: ...
    def enabled_flags(self) -> list[str]: ...
    def __contains__(self, name: object) -> bool: ...
    def record(self, error: bool, seconds: float) -> bool: ...
    def track(self) -> Track: ...

@final
class FlagStore:
    def __new__(
        cls,
        path: str | bytes | PathLike[str] | PathLike[bytes],
        *,
        watch: bool = True,
        count_decisions: bool = True,
        count_outcomes: bool = True,
    ) -> FlagStore: ...
    @classmethod
    def from_json(cls, text: str | bytes) -> FlagStore: ...
    def is_enabled(
        self,
        name: str,
        user_id: int | None = None,
        chat_id: int | None = None,
        chat_type: ChatType | None = None,
        groups: Iterable[str] | None = (),
        default: bool = False,
    ) -> bool: ...
    def evaluate(
        self,
        name: str,
        user_id: int | None = None,
        chat_id: int | None = None,
        chat_type: ChatType | None = None,
        groups: Iterable[str] | None = (),
        default: bool = False,
    ) -> Decision: ...
    def for_message(
        self,
        user_id: int | None = None,
        chat_id: int | None = None,
        chat_type: ChatType | None = None,
        groups: Iterable[str] | None = (),
    ) -> Message: ...
    def complaint(self, name: str, user_id: int | None = None) -> bool: ...
    def metrics_text(self) -> str: ...
    def reload(self) -> None: ...
    def close(self) -> None: ...
    @property
    def generation(self) -> int: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def path(self) -> str | None: ...
    def __enter__(self) -> FlagStore: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...
