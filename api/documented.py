"""`@documented`: a route's OpenAPI operation, written beside the route it describes.

    @headshots.post("/generate")
    @documented(operation_id="generateHeadshot", summary="...", tag="headshots",
                responses={202: Reply("queued", r.Headshot, headers=("Location",))},
                body=GenerateRequest, idempotency_key=True, rate_limited=True)
    @write_budget
    def generate() -> ...:

The decorator only attaches an `Operation` to the view function and returns the function itself:
nothing changes at request time (parsing stays in `api/parsing.py`, errors in `api/errors.py`).
`api/openapi.py` walks `app.url_map` and builds the document from the operations it finds there;
a route without one makes the build, and `tests/test_openapi.py`, fail.

Put it right under the blueprint's route decorator, so the registered function carries it. (Below
another decorator works too when that decorator uses `functools.wraps`, which copies the
function's attributes, as Flask-Limiter's does.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from media.formats import CONTENT_TYPES

REF = "#/components/schemas/{model}"
JSON = "application/json"
HTML = "text/html"
EVENT_STREAM = "text/event-stream"

Auth = Literal["public", "user", "admin"]
View = TypeVar("View", bound=Callable[..., Any])

OPERATION_ATTRIBUTE = "openapi_operation"

# ---- bodies that are not JSON, for `Reply(content=...)` ----------------------------------------

IMAGE_BYTES = {media_type: {"type": "string", "format": "binary"} for media_type in CONTENT_TYPES}
HTML_PAGE = {HTML: {"type": "string"}}
ZIP_ARCHIVE = {"application/zip": {"type": "string", "format": "binary"}}

class MediaQuery(BaseModel):
    """The query of a signed media URL (checked by hand: any wrong, missing or expired value
    is the same 404)."""

    exp: str = Field(description="expiry, unix seconds")
    sig: str = Field(description="signature over the key and the expiry")


@dataclass(frozen=True)
class Reply:
    """A success response: a JSON body (`model`), other content, or none."""

    description: str
    model: type[BaseModel] | None = None
    content: Mapping[str, Any] | None = None  # media type -> schema, for non-JSON bodies
    headers: tuple[str, ...] = ()  # names in `api.openapi.HEADERS`, all sent on this response


@dataclass(frozen=True)
class Operation:
    """What the code of a route cannot say by itself; the rest (path, path parameters, the
    schemas of its models) the builder reads from the Flask rule and the models."""

    operation_id: str
    summary: str
    tag: str
    responses: Mapping[int, Reply]
    auth: Auth = "user"
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    upload: bool = False  # multipart/form-data with one file field, `image`
    idempotency_key: bool = False  # accepts an `Idempotency-Key` header
    rate_limited: bool = False  # 429 with Retry-After past the caller's limit
    byte_ranges: bool = False  # answers `Range`: 206 (Content-Range), or 416 if unsatisfiable
    revalidated: bool = False  # `@revalidated`: an ETag on its 200, 304 on `If-None-Match`
    errors: Mapping[int, str] = field(default_factory=dict)  # the route's own error statuses
    bad_input_status: int = 400  # what invalid parameters or bodies get
    description: str | None = None
    # The longest body the route reads (a longer one is a 413, unread); None: the body model's
    # own, the upload limit, or a few bytes for a route without a body (api/body_limits.py).
    max_body_bytes: int | None = None


def documented(*, operation_id: str, summary: str, tag: str, responses: Mapping[int, Reply],
               auth: Auth = "user", query: type[BaseModel] | None = None,
               body: type[BaseModel] | None = None, upload: bool = False,
               idempotency_key: bool = False, rate_limited: bool = False,
               byte_ranges: bool = False, revalidated: bool = False,
               errors: Mapping[int, str] | None = None, bad_input_status: int = 400,
               description: str | None = None,
               max_body_bytes: int | None = None) -> Callable[[View], View]:
    """Attach the route's `Operation` to its view function (see the module's docstring)."""
    operation = Operation(
        operation_id=operation_id, summary=summary, tag=tag, responses=responses, auth=auth,
        query=query, body=body, upload=upload, idempotency_key=idempotency_key,
        rate_limited=rate_limited, byte_ranges=byte_ranges, revalidated=revalidated,
        errors=errors or {},
        bad_input_status=bad_input_status,
        description=description, max_body_bytes=max_body_bytes,
    )

    def attach(view: View) -> View:
        if operation_of(view) is not None:
            raise ValueError(f"{view.__qualname__} is documented twice")
        setattr(view, OPERATION_ATTRIBUTE, operation)
        return view

    return attach


def operation_of(view: Callable[..., Any]) -> Operation | None:
    operation = getattr(view, OPERATION_ATTRIBUTE, None)
    return operation if isinstance(operation, Operation) else None
