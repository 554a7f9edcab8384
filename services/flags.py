"""Feature flags (§14): whether a feature is on for a user, and the operators' changes.

    from services import flags
    if flags.is_enabled("push", user_id): ...   # any process: web, worker, beat
    flags.require("batch", user_id)             # a use case: FeatureDisabled (403) when off

The flags: `batch`, `export`, `share`, `push`, and `style:<styleId>` for every style. A flag no
operator has set is on for everyone. Questions go through the OpenFeature client with the user's
id as the targeting key; the provider (`services/flag_provider.py`) reads the service's own
table, and the rule is `FlagState.is_on_for` (models/feature_flags.py).
"""

from __future__ import annotations

from typing import Any

from openfeature import api as openfeature
from openfeature.evaluation_context import EvaluationContext

from models.audit import record_flag_change
from models.errors import FeatureDisabled, NotFound
from models.feature_flags import FlagState, known_flag_names, read_flags, style_flag
from models.feature_flags import set_flag as write_flag
from services.flag_provider import TableFlagProvider
from services.flag_table import announce_change, flag_table
from services.unit_of_work import read_only, unit_of_work

DOMAIN = "headshots"  # the OpenFeature domain this service's provider is bound to
openfeature.set_provider_and_wait(TableFlagProvider(), DOMAIN)
_client = openfeature.get_client(DOMAIN)

__all__ = ["features", "is_enabled", "list_flags", "require", "require_style", "set_flag"]


def is_enabled(flag: str, user_id: int) -> bool:
    """Whether the feature is on for the user. A flag nobody set, or an answer the provider
    could not give, is on: flags turn features down, they never stand between a user and a
    feature by accident."""
    return _client.get_boolean_value(flag, True, EvaluationContext(targeting_key=str(user_id)))


def require(flag: str, user_id: int) -> None:
    """Refuse the use case (403 feature_disabled) when the feature is off for the user; call it
    before anything is charged or written."""
    if not is_enabled(flag, user_id):
        raise FeatureDisabled(flag)


def require_style(style_id: str, user_id: int) -> None:
    require(style_flag(style_id), user_id)


def features(user_id: int) -> dict[str, bool]:
    """Every flag's answer for the user (`GET /api/me`)."""
    return {name: is_enabled(name, user_id) for name in flag_table().snapshot().names}


def list_flags() -> list[FlagState]:
    """Every flag an operator can set, as stored now (untouched ones as their default)."""
    with read_only() as db_session:
        stored = read_flags(db_session)
        return [stored.get(name) or FlagState.default(name)
                for name in known_flag_names(db_session)]


def set_flag(*, operator_id: int, name: str, enabled: bool, percentage: int | None,
             users: list[int] | None) -> FlagState:
    """An operator's change: written with its audit entry in one transaction, then announced
    to every process. An unknown name is a 404."""
    with unit_of_work() as db_session:
        if name not in known_flag_names(db_session):
            raise NotFound(f"no feature flag named {name!r}")
        before, after = write_flag(db_session, name, enabled=enabled, percentage=percentage,
                                   users=users, operator_id=operator_id)
        record_flag_change(db_session, operator_id=operator_id, flag_name=name,
                           before=_audited(before), after=_audited(after))
        db_session.commit()
    announce_change()
    return after


def _audited(state: FlagState) -> dict[str, Any]:
    """What the audit keeps of a flag; `stored` is false for a flag nobody had set."""
    return {"enabled": state.enabled, "percentage": state.percentage,
            "users": sorted(state.users), "stored": state.updated_at is not None}
