"""The OpenFeature provider of the service's own flags table (§14).

Code asks about a flag through the standard OpenFeature client (`services/flags.py`), with the
user's id as the targeting key; this provider answers from the process's copy of the table
(`services/flag_table.py`) by the rule in `models/feature_flags.py`. Moving to a flag service
later means another provider, not other callers. The flags are booleans only: any other type is
answered with the caller's default and a TYPE_MISMATCH error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from services.flag_table import flag_table

Value = TypeVar("Value")


class TableFlagProvider(AbstractProvider):
    def get_metadata(self) -> Metadata:
        return Metadata(name="headshots feature_flags table")

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        user_id = _user_id(evaluation_context)
        if user_id is None:
            return FlagResolutionDetails(
                default_value, reason=Reason.ERROR, error_code=ErrorCode.TARGETING_KEY_MISSING,
                error_message="the targeting key must be the user's id")
        state = flag_table().snapshot().state(flag_key)
        on = state.is_on_for(user_id)
        if state.updated_at is None:
            reason = Reason.DEFAULT
        elif not state.enabled:
            reason = Reason.DISABLED
        elif user_id in state.users:
            reason = Reason.TARGETING_MATCH
        else:
            reason = Reason.SPLIT
        return FlagResolutionDetails(on, variant="on" if on else "off", reason=reason)

    def resolve_string_details(
        self, flag_key: str, default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return _not_boolean(default_value)

    def resolve_integer_details(
        self, flag_key: str, default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return _not_boolean(default_value)

    def resolve_float_details(
        self, flag_key: str, default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return _not_boolean(default_value)

    def resolve_object_details(
        self, flag_key: str, default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return _not_boolean(default_value)


def _user_id(context: EvaluationContext | None) -> int | None:
    key = context.targeting_key if context is not None else None
    if key is None or not key.isascii() or not key.isdigit():
        return None
    return int(key)


def _not_boolean(default_value: Value) -> FlagResolutionDetails[Value]:
    return FlagResolutionDetails(default_value, reason=Reason.ERROR,
                                 error_code=ErrorCode.TYPE_MISMATCH,
                                 error_message="this provider serves boolean flags only")
