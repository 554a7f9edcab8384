"""Request models: every query string and body is parsed here before a route uses it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from media.export import MAX_LONG_SIDE, MAX_WATERMARK_CHARS, MIN_LONG_SIDE
from media.signed_urls import MAX_URL_LENGTH, SIGNED_URL_PATTERN
from models.credits import EntryType
from models.job.table import AspectRatio, JobStatus
from models.shares import DEFAULT_LIFETIME_HOURS, MAX_LIFETIME_HOURS
from services.pagination import CURSOR_REGEX, decode_cursor

StyleId = Annotated[str, StringConstraints(min_length=1, max_length=50)]
ImageUrl = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH,
                                            pattern=SIGNED_URL_PATTERN),
                     Field(description="the `imageUrl` of an upload of the caller's, unexpired")]
MAX_PAGE = 100


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL text cannot hold NUL: refuse it here (400), not at the query (500).
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL (0x00) characters")
        return value


class GenerateRequest(Request):
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
                             description="the long side in pixels; never above the result's")
    watermark: Annotated[str, StringConstraints(max_length=MAX_WATERMARK_CHARS)] | None = None

    _digits = field_validator("size", mode="before")(_query_digits)


class RefundRequest(Request):
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
    amount: int = Field(gt=0, le=1_000_000)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]

    _whole = field_validator("amount", mode="before")(_whole_number)


class FailuresQuery(Request):
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)

    _digits = field_validator("limit", mode="before")(_query_digits)


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
