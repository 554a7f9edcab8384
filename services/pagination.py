"""Keyset pages, newest first: a page of rows and where the next one starts (after an id, or
after a time and an id)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Generic, TypeVar

Row = TypeVar("Row")


@dataclass(frozen=True)
class Page(Generic[Row]):
    items: list[Row]
    next_before_id: int | None  # None on the last page


def one_page(fetch: Callable[[int], list[Row]], *, limit: int,
             id_of: Callable[[Row], int] = attrgetter("id")) -> Page[Row]:
    """`fetch(n)` returns up to n rows in id order, newest first; one extra tells whether
    another page follows."""
    rows = fetch(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, id_of(rows[-1]) if more and rows else None)


# Exactly the cursors `encode_cursor` makes: unpadded base64url of `id:` and 1 to 18 digits,
# so the document can state what the routes accept. "id:" is `aWQ6`; each three digits (bytes
# 0x30-0x39) are four characters, the first two depending on each other; one or two left
# over are two or three characters whose unused low bits are zero.
_TWO_DIGIT_LEAD = "(?:[MN][DTjz]|O[DT])"
_TRIPLE = _TWO_DIGIT_LEAD + "[AEIMQUYcgk][w-z0-5]"
_REST = f"(?:[MN][AQgw]|O[AQ]|{_TWO_DIGIT_LEAD}[AEIMQUYcgk])"
CURSOR_REGEX = f"aWQ6(?:(?:{_TRIPLE}){{1,6}}|(?:{_TRIPLE}){{0,5}}{_REST})"


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "id" or not (number.isascii() and number.isdigit()) or len(number) > 18:
            raise ValueError
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor this service issued") from None


# Pages ordered by a time and then the id (the failures, by when each failed): the cursor holds
# both, the last row's time in microseconds since the epoch (UTC) and its id.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_time_cursor(moment: datetime, last_id: int) -> str:
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"at:{micros}:{last_id}".encode()).decode().rstrip("=")


def decode_time_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, micros, number = text.split(":")
        if prefix != "at" or not all(part.isascii() and part.isdigit() and len(part) <= 18
                                     for part in (micros, number)):
            raise ValueError
        return _EPOCH + timedelta(microseconds=int(micros)), int(number)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor this service issued") from None
