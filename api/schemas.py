"""Request models: every query string and body is parsed here before a route uses it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from models.credits import EntryType
from models.generations import AspectRatio, GenerationStatus
from services.pagination import decode_cursor

StyleId = Annotated[str, StringConstraints(min_length=1, max_length=50)]
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
    imageUrl: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    style: StyleId
    aspectRatio: AspectRatio = "1:1"


class GrantCreditsRequest(Request):
    amount: int = Field(gt=0, le=1_000_000)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]

    @field_validator("amount", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        return value


class PageQuery(Request):
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    cursor: Annotated[str, StringConstraints(max_length=64)] | None = None

    @field_validator("limit", mode="before")
    @classmethod
    def _plain_digits(cls, value: object) -> object:
        # pydantic's lax int takes " 5", "5.0", "+5" and "1_0"; a query string gets digits only.
        if isinstance(value, str) and not (value.isascii() and value.isdigit()):
            raise ValueError(f"must be a whole number from 1 to {MAX_PAGE}")
        return value

    @field_validator("cursor")
    @classmethod
    def _known_cursor(cls, value: str | None) -> str | None:
        if value:
            decode_cursor(value)
        return value or None

    @property
    def before_id(self) -> int | None:
        return decode_cursor(self.cursor) if self.cursor else None


class HistoryQuery(PageQuery):
    status: GenerationStatus | None = None
    style: StyleId | None = None
    favorite: bool | None = None


class CreditHistoryQuery(PageQuery):
    type: EntryType | None = None
