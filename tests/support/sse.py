"""A status stream (Server-Sent Events) read over HTTP as a client reads it: field lines, each
block ended by a blank line (the stream's framing, checked here rather than trusted)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class Block:
    """The fields of one block: an event (`event`, `id`, `data`), `retry`, or comments."""

    fields: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)

    @property
    def is_status(self) -> bool:
        return self.fields.get("event") == "status"

    @property
    def id(self) -> int:
        return int(self.fields["id"])

    def data(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.fields["data"])
        return body


def blocks(response: requests.Response) -> Iterator[Block]:
    """The stream's blocks as they arrive, until the server closes it. A field named twice in
    one block fails the test (the service never sends a multi-line `data`)."""
    block = Block()
    # chunk_size=1: a block is handed over as soon as its blank line arrives.
    for line in response.iter_lines(chunk_size=1, decode_unicode=True):
        if line == "":
            if block.fields or block.comments:
                yield block
            block = Block()
        elif line.startswith(":"):
            block.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            assert name not in block.fields, f"{name} twice in one block: {block}"
            block.fields[name] = value.removeprefix(" ")
    assert not block.fields, f"the stream ended inside a block: {block}"


def status_events(response: requests.Response) -> Iterator[Block]:
    return (block for block in blocks(response) if block.is_status)
