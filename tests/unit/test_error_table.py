"""One table decides each domain error's HTTP status (the database's part:
tests/integration/test_error_table_database.py)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import api
import media
import models
import services
from api.errors import ERROR_STATUS, http_status
from media.images import ImageRejected, ImageTooLarge, InvalidImage, UnsupportedImage
from models.errors import (
    Conflict,
    DomainError,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    OriginalExpired,
    ServiceUnavailable,
)
from services.stream_slots import TooManyStreams


def _import_all(*packages: ModuleType) -> None:
    """Every module of the packages that raise domain errors: a class defined in one that no
    other test happened to import must be found all the same."""
    for package in packages:
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


def _all_subclasses(kind: type[DomainError]) -> set[type[DomainError]]:
    found = set(kind.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


@pytest.mark.parametrize(("error", "status", "code"), [
    (InvalidRequest("x"), 400, "invalid_request"),
    (InvalidImage("x"), 400, "invalid_image"),
    (InsufficientCredits("x"), 402, "insufficient_credits"),
    (NotFound("x"), 404, "not_found"),
    (Conflict("x", code="not_failed"), 409, "not_failed"),
    (OriginalExpired(), 409, "original_expired"),
    (ImageTooLarge("x"), 413, "image_too_large"),
    (UnsupportedImage("x"), 415, "unsupported_media_type"),
    (ServiceUnavailable("x"), 503, "service_unavailable"),
    (TooManyStreams("x", retry_after=30), 429, "too_many_streams"),
])
def test_each_domain_error_has_one_status(error: DomainError, status: int, code: str) -> None:
    assert (http_status(error), error.code) == (status, code)


def test_every_domain_error_class_is_covered_by_the_table() -> None:
    _import_all(api, media, models, services)
    for kind in _all_subclasses(DomainError) - {ImageRejected}:
        assert any(issubclass(kind, listed) for listed in ERROR_STATUS), kind
