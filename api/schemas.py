"""Request models: every query string and body is parsed here before a route uses it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from config import get_settings
from media.export import MAX_LONG_SIDE, MAX_WATERMARK_CHARS, MIN_LONG_SIDE
from media.signed_urls import MAX_URL_LENGTH, SIGNED_URL_PATTERN
from models import devices
from models.credits import EntryType
from models.job.table import AspectRatio, JobStatus
from models.shares import DEFAULT_LIFETIME_HOURS, MAX_LIFETIME_HOURS
from services.pagination import CURSOR_REGEX, decode_cursor, decode_time_cursor

StyleId = Annotated[str, StringConstraints(min_length=1, max_length=50)]
ImageUrl = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH,
                                            pattern=SIGNED_URL_PATTERN),
                     Field(description="the `imageUrl` of an upload of the caller's, unexpired")]
MAX_PAGE = 100
MAX_FLAG_USERS = 1000  # an allow-list names testers and staff, not a segment
MAX_USER_ID = 2**63 - 1  # a BIGINT


KIB = 1024


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)
    # The longest JSON body a route taking this model reads (api/body_limits.py): room for
    # every field at its longest, each character written as a `\uXXXX` escape, and for
    # whitespace. A longer body is refused (413) before it is read.
    max_body_bytes: ClassVar[int] = 4 * KIB

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL text cannot hold NUL: refuse it here (400), not at the query (500).
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL (0x00) characters")
        return value


class GenerateRequest(Request):
    max_body_bytes: ClassVar[int] = 16 * KIB  # a 2048-character URL, escaped

    imageUrl: ImageUrl
    style: StyleId
    aspectRatio: AspectRatio = AspectRatio.RATIO_1_1


MAX_BATCH_STYLES = 10


def _whole_number(value: object) -> object:
    """A JSON integer: not `true`, not `"1"`, not `1.5`. `5.0` is one: JSON Schema's `integer`
    (the document's) is any number without a fraction, and a client may well send it so."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    return value


def _whole_number_or_none(value: object) -> object:
    return value if value is None else _whole_number(value)


def _query_digits(value: object) -> object:
    """pydantic's lax int takes " 5", "5.0", "+5" and "1_0"; a query string gets digits only."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a whole number, in digits")
    return value


class BatchRequest(Request):
    max_body_bytes: ClassVar[int] = 16 * KIB  # a 2048-character URL and ten styles, escaped

    imageUrl: ImageUrl
    styles: list[StyleId] = Field(min_length=1, max_length=MAX_BATCH_STYLES,
                                  json_schema_extra={"uniqueItems": True})
    aspectRatio: AspectRatio = AspectRatio.RATIO_1_1

    @field_validator("styles")
    @classmethod
    def _distinct(cls, styles: list[str]) -> list[str]:
        repeated = sorted({style for style in styles if styles.count(style) > 1})
        if repeated:
            raise ValueError(f"each style at most once; repeated: {', '.join(repeated)}")
        return styles


class ShareRequest(Request):
    expiresInHours: int = Field(default=DEFAULT_LIFETIME_HOURS, ge=1, le=MAX_LIFETIME_HOURS)

    _whole = field_validator("expiresInHours", mode="before")(_whole_number)


class ExportQuery(Request):
    format: Literal["jpeg", "png", "webp"] = "jpeg"
    size: int | None = Field(default=None, ge=MIN_LONG_SIDE, le=MAX_LONG_SIDE,
                             description="the longest the long side may be, in pixels; capped at "
                             "the headshot's own (never upscaled): X-Image-Width and "
                             "X-Image-Height say the size returned")
    watermark: Annotated[str, StringConstraints(max_length=MAX_WATERMARK_CHARS)] | None = None

    _digits = field_validator("size", mode="before")(_query_digits)


class RefundRequest(Request):
    max_body_bytes: ClassVar[int] = 8 * KIB  # a 500-character reason, escaped

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


# A flat object, bounded by its shape (which the document can state) rather than by its
# serialized size (which it cannot): at most 20 x (40 + 100) characters.
MAX_EVENT_PROPERTIES = 20
MAX_PROPERTY_NAME = 40
MAX_PROPERTY_TEXT = 100
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
EVENT_PROPERTIES_SCHEMA = {
    "type": "object", "maxProperties": MAX_EVENT_PROPERTIES,
    "propertyNames": {"maxLength": MAX_PROPERTY_NAME, "pattern": NO_NUL},
    "additionalProperties": {"anyOf": [
        {"type": "string", "maxLength": MAX_PROPERTY_TEXT, "pattern": NO_NUL},
        {"type": "number"}, {"type": "boolean"}, {"type": "null"}]},
    "description": f"a flat object: strings (at most {MAX_PROPERTY_TEXT} characters), numbers, "
                   f"booleans or null, under names of at most {MAX_PROPERTY_NAME} characters",
}


class EventRequest(Request):
    max_body_bytes: ClassVar[int] = 8 * KIB  # the properties' 2048 bytes, pretty-printed

    event: Literal["headshot_downloaded", "user_shared", "style_selected"]
    generationId: int | None = Field(default=None, ge=1, le=999_999_999_999_999_999)
    # Checked by `_flat` (one message naming the property, not one per type it could have
    # been); the document states the same rules as EVENT_PROPERTIES_SCHEMA.
    properties: Annotated[dict[str, Any], WithJsonSchema(EVENT_PROPERTIES_SCHEMA)] = Field(
        default_factory=dict)

    _whole = field_validator("generationId", mode="before")(_whole_number_or_none)

    @field_validator("properties")
    @classmethod
    def _flat(cls, properties: dict[str, Any]) -> dict[str, Any]:
        if len(properties) > MAX_EVENT_PROPERTIES:
            raise ValueError(f"at most {MAX_EVENT_PROPERTIES} properties")
        for key, value in properties.items():
            if len(key) > MAX_PROPERTY_NAME:
                raise ValueError(f"names of at most {MAX_PROPERTY_NAME} characters")
            if not isinstance(value, str | int | float | bool) and value is not None:
                raise ValueError(f"{key!r}: values are strings, numbers, booleans or null")
            if isinstance(value, str) and len(value) > MAX_PROPERTY_TEXT:
                raise ValueError(f"{key!r}: strings of at most {MAX_PROPERTY_TEXT} characters")
            if "\x00" in key or (isinstance(value, str) and "\x00" in value):
                raise ValueError("must not contain NUL (0x00) characters")
        return properties


MAX_ANALYTICS_DAYS = 366
# A calendar day, YYYY-MM-DD, as a pattern (so the document says which days exist): years
# 0001-9999, each month's days, 29 February of leap years only.
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
_LEAP_YEAR = ("(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])"
              "|(?:0[48]|[2468][048]|[13579][26])00)")
_MONTH_DAY = ("(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
              "|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)")
CALENDAR_DAY = f"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)$"
IsoDate = Annotated[str, StringConstraints(pattern=CALENDAR_DAY)]


class AnalyticsQuery(Request):
    from_: IsoDate = Field(alias="from", description="first UTC day, YYYY-MM-DD")
    to: IsoDate = Field(description="last UTC day, YYYY-MM-DD, inclusive")

    @model_validator(mode="after")
    def _a_range_of_at_most_a_year(self) -> AnalyticsQuery:
        first, last = _as_date("from", self.from_), _as_date("to", self.to)
        if last < first:
            raise ValueError("to: before from")
        if (last - first).days >= MAX_ANALYTICS_DAYS:
            raise ValueError(f"to: a range of at most {MAX_ANALYTICS_DAYS} days")
        return self

    @property
    def first(self) -> date:
        return date.fromisoformat(self.from_)

    @property
    def last(self) -> date:
        return date.fromisoformat(self.to)


def _as_date(field: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field}: not a calendar day") from None


class GrantCreditsRequest(Request):
    max_body_bytes: ClassVar[int] = 8 * KIB  # a 500-character reason, escaped

    amount: int = Field(gt=0, le=1_000_000)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]

    _whole = field_validator("amount", mode="before")(_whole_number)


class FlagUpdateRequest(Request):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Room for the longest allow-list: MAX_FLAG_USERS ids of up to 19 digits each.
    max_body_bytes: ClassVar[int] = 32 * KIB

    enabled: bool
    percentage: int | None = Field(default=None, ge=0, le=100,
                                   description="left out: kept (100 for a flag never set)")
    users: list[Annotated[int, Field(ge=1, le=MAX_USER_ID),
                          BeforeValidator(_whole_number)]] | None = Field(
        default=None, max_length=MAX_FLAG_USERS,
        description="the allow-list, replaced whole; left out: kept")

    @field_validator("enabled", mode="before")
    @classmethod
    def _boolean(cls, value: object) -> object:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    _whole = field_validator("percentage", mode="before")(_whole_number_or_none)


MAX_ID = 999_999_999_999_999_999  # a BIGINT id, in at most 18 digits
ErrorCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Moment = Annotated[str, StringConstraints(max_length=40)]


def _moment(field: str, value: str, *, end_of_day: bool) -> datetime:
    """A UTC day (`YYYY-MM-DD`: its first moment, or with `end_of_day` its last) or an ISO 8601
    time with its UTC offset."""
    try:
        if len(value) == 10:
            day = datetime.combine(date.fromisoformat(value), time.min, UTC)
            return day + timedelta(days=1, microseconds=-1) if end_of_day else day
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field}: not a day (YYYY-MM-DD) nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{field}: an ISO 8601 time needs its UTC offset (Z or +00:00)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is past the last day a datetime holds
        raise ValueError(f"{field}: out of range") from None


class FailuresQuery(Request):
    from_: Moment | None = Field(default=None, alias="from",
                                 description="failed at or after: a UTC day or ISO 8601 time")
    to: Moment | None = Field(default=None, description="failed at or before: a UTC day (all "
                                                        "of it) or ISO 8601 time")
    code: ErrorCode | None = Field(default=None, description="the error code; `cancelled` "
                                   "lists the users' own cancels, left out otherwise")
    style: StyleId | None = None
    userId: int | None = Field(default=None, ge=1, le=MAX_ID)
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    cursor: Annotated[str, StringConstraints(max_length=64)] | None = None

    _digits = field_validator("limit", "userId", mode="before")(_query_digits)

    @field_validator("cursor")
    @classmethod
    def _known_cursor(cls, value: str | None) -> str | None:
        if value:
            decode_time_cursor(value)
        return value or None

    @model_validator(mode="after")
    def _a_range_in_order(self) -> FailuresQuery:
        first, last = self.failed_from, self.failed_to
        if first is not None and last is not None and last < first:
            raise ValueError("to: before from")
        return self

    @property
    def failed_from(self) -> datetime | None:
        return _moment("from", self.from_, end_of_day=False) if self.from_ else None

    @property
    def failed_to(self) -> datetime | None:
        return _moment("to", self.to, end_of_day=True) if self.to else None

    @property
    def after(self) -> tuple[datetime, int] | None:
        return decode_time_cursor(self.cursor) if self.cursor else None


class UserEmailQuery(Request):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320,
                                            pattern=r"^[^@\s]+@[^@\s]+$")] = Field(
        description="the whole address, any case (no partial match)")


class PageQuery(Request):
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    # Empty is the first page, as is no cursor at all.
    cursor: Annotated[str, StringConstraints(max_length=64, pattern=f"^(?:{CURSOR_REGEX})?$")
                      ] | None = Field(default=None,
                                       description="the `nextCursor` of the page before")

    _digits = field_validator("limit", mode="before")(_query_digits)

    @field_validator("cursor")
    @classmethod
    def _known_cursor(cls, value: str | None) -> str | None:
        if value:
            decode_cursor(value)
        return value or None

    @property
    def before_id(self) -> int | None:
        return decode_cursor(self.cursor) if self.cursor else None


class FavoritesQuery(PageQuery):
    status: JobStatus | None = None
    style: StyleId | None = None


class HistoryQuery(FavoritesQuery):
    favorite: bool | None = None


class CreditHistoryQuery(PageQuery):
    type: EntryType | None = None


class WebPushKeys(Request):
    p256dh: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    auth: Annotated[str, StringConstraints(min_length=1, max_length=50)]

    @field_validator("p256dh")
    @classmethod
    def _public_key(cls, value: str) -> str:
        return _refuse(value, devices.key_problem(value, devices.P256DH_BYTES))

    @field_validator("auth")
    @classmethod
    def _auth_secret(cls, value: str) -> str:
        return _refuse(value, devices.key_problem(value, devices.AUTH_BYTES))


class WebPushSubscription(Request):
    """A browser's `PushSubscription.toJSON()` (its `expirationTime`, if any, is ignored)."""

    endpoint: Annotated[str, StringConstraints(min_length=1,
                                               max_length=devices.MAX_ADDRESS_LENGTH)]
    keys: WebPushKeys

    @field_validator("endpoint")
    @classmethod
    def _push_service(cls, value: str) -> str:
        allow = get_settings().push_allow_loopback_endpoints
        return _refuse(value, devices.endpoint_problem(value, allow_loopback=allow))


class DeviceRequest(Request):
    # A subscription is an endpoint of at most 2 KiB and two short keys; more is not a device.
    max_body_bytes: ClassVar[int] = 8 * KIB
    platform: devices.Platform
    subscription: WebPushSubscription | None = Field(
        default=None, description="`web` only: the browser's push subscription")
    token: Annotated[str, StringConstraints(min_length=1, max_length=devices.MAX_TOKEN_LENGTH)] \
        | None = Field(default=None, description="`android`: the FCM registration token; "
                                                 "`ios`: the APNs device token (hex)")

    @model_validator(mode="after")
    def _one_address(self) -> DeviceRequest:
        if self.platform is devices.Platform.WEB:
            if self.subscription is None:
                raise ValueError("subscription: required for platform web")
            if self.token is not None:
                raise ValueError("token: not for platform web (send subscription)")
            return self
        if self.subscription is not None:
            raise ValueError(f"subscription: only for platform web, not {self.platform}")
        if self.token is None:
            raise ValueError(f"token: required for platform {self.platform}")
        problem = devices.token_problem(self.platform, self.token)
        if problem:
            raise ValueError(f"token: {problem}")
        return self


def _refuse(value: str, problem: str | None) -> str:
    if problem:
        raise ValueError(problem)
    return value
