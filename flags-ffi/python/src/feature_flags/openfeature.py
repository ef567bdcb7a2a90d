"""An OpenFeature provider over a FlagStore (`pip install feature_flags[openfeature]`).

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from feature_flags.openfeature import FeatureFlagsProvider

    api.set_provider(FeatureFlagsProvider(flags))
    client = api.get_client()
    context = EvaluationContext(
        targeting_key=str(user.id),
        attributes={"chat_id": chat.id, "chat_type": chat.type, "groups": ["beta_testers"]},
    )
    client.get_boolean_value("new_gpt_model", False, context)

Boolean flags are resolved natively (one `FlagStore.evaluate`). The targeting
key is the user id (an integer, as text or int); the attributes `chat_id`
(int, or integer text), `chat_type` (private, group, supergroup, channel) and
`groups` (a list of str) are the rest of the message's context; other
attributes are ignored.

| feature_flags reason | OpenFeature |
|---|---|
| disabled | reason DISABLED |
| rollout | reason SPLIT |
| group, chat_excluded, chat_type | reason TARGETING_MATCH |
| missing_key (no id to bucket by: off) | reason DEFAULT |
| unknown_flag | the default value, error FLAG_NOT_FOUND |

The variant is "on" or "off"; the flag metadata carries the library's own
`reason` and, when the rollout step hashed, the `bucket`. String, integer,
float and object flags do not exist here: TYPE_MISMATCH with the default.
A context the store refuses (a targeting key that is not an integer, an
unknown chat type, an id out of range) gives INVALID_CONTEXT with the default
value, and a closed store PROVIDER_FATAL: the provider never raises into the
bot. It does not own the store: shutting the provider down leaves it open.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.exception import ErrorCode
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as missing:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "feature_flags.openfeature needs the OpenFeature SDK: "
        "pip install 'feature_flags[openfeature]' (or openfeature-sdk)"
    ) from missing

import feature_flags

__all__ = ["FeatureFlagsProvider"]

REASONS: Mapping[str, str] = {
    "disabled": Reason.DISABLED,
    "rollout": Reason.SPLIT,
    "group": Reason.TARGETING_MATCH,
    "chat_excluded": Reason.TARGETING_MATCH,
    "chat_type": Reason.TARGETING_MATCH,
    "missing_key": Reason.DEFAULT,
}

# Strict: int() would also take " 12", "1_000" and "+5".
_INTEGER = re.compile(r"-?[0-9]+")


class InvalidContext(ValueError):
    """An evaluation context this provider cannot turn into a message."""


def _integer(value: Any, what: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidContext(f"{what} must be an integer, not a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise InvalidContext(f"{what} must be an integer (a Telegram id), not {value!r}")


def _groups(value: Any) -> Sequence[str]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidContext(f"the groups attribute must be a list of str, not {value!r}")
    if not all(isinstance(group, str) for group in value):
        raise InvalidContext(f"the groups attribute must contain only str, not {value!r}")
    return tuple(value)


def _message(context: EvaluationContext | None) -> dict[str, Any]:
    """FlagStore keyword arguments from an evaluation context."""
    if context is None:
        return {}
    attributes = context.attributes or {}
    chat_type = attributes.get("chat_type")
    if chat_type is not None and not isinstance(chat_type, str):
        raise InvalidContext(f"the chat_type attribute must be a str, not {chat_type!r}")
    return {
        "user_id": _integer(context.targeting_key, "the targeting key (user id)"),
        "chat_id": _integer(attributes.get("chat_id"), "the chat_id attribute"),
        "chat_type": chat_type,
        "groups": _groups(attributes.get("groups")),
    }


def _error(default_value: Any, code: ErrorCode, message: str) -> FlagResolutionDetails[Any]:
    return FlagResolutionDetails(
        value=default_value, reason=Reason.ERROR, error_code=code, error_message=message
    )


class FeatureFlagsProvider(AbstractProvider):
    """OpenFeature provider answering from a feature_flags.FlagStore."""

    def __init__(self, store: feature_flags.FlagStore) -> None:
        super().__init__()
        if not isinstance(store, feature_flags.FlagStore):
            raise TypeError(f"FeatureFlagsProvider needs a feature_flags.FlagStore, not {store!r}")
        self.store = store

    def get_metadata(self) -> Metadata:
        return Metadata(name="feature_flags")

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        try:
            decision = self.store.evaluate(
                flag_key, default=bool(default_value), **_message(evaluation_context)
            )
        except feature_flags.ClosedError as error:
            return _error(default_value, ErrorCode.PROVIDER_FATAL, str(error))
        except (TypeError, ValueError) as error:  # InvalidContext, or the store's checks
            return _error(default_value, ErrorCode.INVALID_CONTEXT, str(error))
        except Exception as error:  # never into the bot  # noqa: BLE001
            return _error(default_value, ErrorCode.GENERAL, f"{type(error).__name__}: {error}")
        if decision.reason == "unknown_flag":
            return _error(
                default_value, ErrorCode.FLAG_NOT_FOUND, f"no flag {flag_key!r} in the flag file"
            )
        metadata: dict[str, str | int] = {"reason": decision.reason}
        if decision.bucket is not None:
            metadata["bucket"] = decision.bucket
        return FlagResolutionDetails(
            value=decision.enabled,
            reason=REASONS.get(decision.reason, Reason.UNKNOWN),
            variant="on" if decision.enabled else "off",
            flag_metadata=metadata,
        )

    def _type_mismatch(self, flag_key: str, default_value: Any, kind: str) -> FlagResolutionDetails[Any]:
        return _error(
            default_value,
            ErrorCode.TYPE_MISMATCH,
            f"{flag_key!r}: feature_flags has boolean flags only, not {kind}",
        )

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._type_mismatch(flag_key, default_value, "string")

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return self._type_mismatch(flag_key, default_value, "integer")

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._type_mismatch(flag_key, default_value, "float")

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Any,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Any]:
        return self._type_mismatch(flag_key, default_value, "object")
