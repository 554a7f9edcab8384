"""Keyset pages, newest first: a page of rows and where the next one starts."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
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
