"""Signed status-stream URLs (§12): one job of one user, for an hour, and never a media URL's
signature (nor theirs a stream's), though both are made with the same key."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from media.signed_urls import MediaUrlSigner
from services.status_stream_urls import StatusStreamSigner, stream_path

KEY = b"k" * 32
BASE = "https://api.example.com"
NOW = 1_800_000_010.0


def signer() -> StatusStreamSigner:
    return StatusStreamSigner(key=KEY, public_base_url=BASE + "/")


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_a_url_opens_its_own_job_for_its_owner_for_an_hour() -> None:
    url = signer().url(42, 7, now=NOW)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE and parts.path == stream_path(7)
    fields = query(url)
    assert set(fields) == {"user", "exp", "sig"} and fields["user"] == "42"
    exp = int(fields["exp"])
    assert NOW + 3600 <= exp < NOW + 7200 and exp % 3600 == 0  # one URL for the hour window
    assert signer().url(42, 7, now=NOW + 30) == url
    assert signer().owner(7, **fields, now=NOW) == 42
    assert signer().owner(7, **fields, now=exp - 1) == 42
    assert signer().owner(7, **fields, now=exp) is None  # expired


def test_another_job_user_key_or_purpose_is_refused() -> None:
    fields = query(signer().url(42, 7, now=NOW))
    assert signer().owner(8, **fields, now=NOW) is None  # another job's path
    assert signer().owner(7, **{**fields, "user": "43"}, now=NOW) is None
    other_key = StatusStreamSigner(key=b"o" * 32, public_base_url=BASE)
    assert other_key.owner(7, **fields, now=NOW) is None
    # A media URL signed with the same key, for a key spelled like the stream's message.
    media = MediaUrlSigner(key=KEY, public_base_url=BASE)
    assert not media.verify("originals/42/" + "a" * 32 + ".jpg", fields["exp"], fields["sig"],
                            now=NOW)
    image = query(media.sign("originals/42/" + "a" * 32 + ".jpg", now=NOW).url)
    assert signer().owner(7, user="42", exp=image["exp"], sig=image["sig"], now=NOW) is None


@pytest.mark.parametrize("change", [
    {"sig": "A" * 43}, {"sig": ""}, {"sig": "A" * 44}, {"sig": "A" * 42 + "="},
    {"exp": ""}, {"exp": "-1"}, {"exp": "1e9"}, {"exp": " 1800003660"}, {"exp": "9" * 13},
    {"user": ""}, {"user": "042"}, {"user": "0"}, {"user": "-42"}, {"user": "1" * 19},
    {"user": "42 "},
])
def test_malformed_values_are_refused(change: dict[str, str]) -> None:
    fields = {**query(signer().url(42, 7, now=NOW)), **change}
    assert signer().owner(7, **fields, now=NOW) is None


def test_a_url_issued_further_ahead_than_an_hour_is_refused() -> None:
    """Signed with our key, but not by this signer's rules (a leaked key's forgery, or a longer
    lifetime configured elsewhere): refused rather than living for ever."""
    far = query(signer().url(42, 7, now=NOW + 7200))
    assert signer().owner(7, **far, now=NOW) is None
    assert signer().owner(7, **far, now=NOW + 7200) == 42
