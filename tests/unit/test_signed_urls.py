"""Signed media URLs: issuing, verifying, and refusing URLs the service did not issue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from media.signed_urls import MediaUrlSigner, SignedUrl
from media.storage import InvalidKey

KEY = b"k" * 32
BASE = "http://localhost:8000"
NOW = 1_750_000_000.0
STORAGE_KEY = "originals/42/0123456789abcdef0123456789abcdef.jpg"
OTHER_KEY = "originals/43/0123456789abcdef0123456789abcdef.jpg"


@pytest.fixture
def signer() -> MediaUrlSigner:
    return MediaUrlSigner(key=KEY, public_base_url=BASE, ttl_seconds=3600)


def exp_and_sig(url: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(url).query)
    return query["exp"][0], query["sig"][0]


def signed_path_and_query(signer: MediaUrlSigner, key: str = STORAGE_KEY) -> str:
    """`/media/<key>?exp=..&sig=..` of a freshly signed URL, to graft onto other origins."""
    url = signer.sign(key, now=NOW).url
    assert url.startswith(BASE)
    return url[len(BASE) :]


def test_round_trip(signer: MediaUrlSigner) -> None:
    signed = signer.sign(STORAGE_KEY, now=NOW)
    assert isinstance(signed, SignedUrl)
    assert signed.url.startswith(f"{BASE}/media/{STORAGE_KEY}?exp=")
    whole_hour = 1_750_006_800  # NOW + 3600 is 1_750_003_600, 1 h 07 min before a whole hour
    assert signed.expires_at == datetime.fromtimestamp(whole_hour, UTC)
    exp, sig = exp_and_sig(signed.url)
    assert exp == str(whole_hour)
    assert len(sig) == 43 and "=" not in sig  # unpadded url-safe base64 of 32 bytes
    assert set(sig) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert signer.verify(STORAGE_KEY, exp, sig, now=NOW)
    assert signer.storage_key_from_url(signed.url, now=NOW) == STORAGE_KEY
    assert signer.storage_key_from_url(signed.url, now=whole_hour - 1) == STORAGE_KEY
    assert signer.storage_key_from_url(signed.url, now=whole_hour) is None  # expired


def test_urls_signed_within_an_hour_are_the_same(signer: MediaUrlSigner) -> None:
    """The app's image cache keeps a URL: reads within the window must not change it."""
    window_end = 1_750_003_200.0  # its ttl later is a whole hour: 1_750_006_800
    seconds = [*range(0, 3600, 7), 3599]
    urls = {signer.sign(STORAGE_KEY, now=window_end - second).url for second in seconds}
    assert len(urls) == 1
    url = urls.pop()
    assert signer.sign(STORAGE_KEY, now=window_end + 1).url != url  # the next window's
    assert signer.sign(OTHER_KEY, now=window_end).url != url
    exp, sig = exp_and_sig(url)
    assert int(exp) % 3600 == 0 and int(exp) == signer.window_expiry(window_end)
    # Handed out at the window's last second, it still lives its whole ttl; at its first, up
    # to an hour more.
    assert int(exp) - window_end == signer.ttl_seconds
    assert signer.verify(STORAGE_KEY, exp, sig, now=window_end + signer.ttl_seconds - 1)
    assert not signer.verify(STORAGE_KEY, exp, sig, now=window_end + signer.ttl_seconds)
    # Still a signature over this key and this expiry: another expiry on the grid is refused.
    assert not signer.verify(STORAGE_KEY, str(int(exp) + 3600), sig, now=window_end)
    assert not signer.verify(OTHER_KEY, exp, sig, now=window_end)


def test_real_clock_round_trip(signer: MediaUrlSigner) -> None:
    signed = signer.sign(STORAGE_KEY)
    assert signer.storage_key_from_url(signed.url) == STORAGE_KEY
    assert signed.expires_at > datetime.now(UTC) + timedelta(minutes=59)


def test_explicit_expiry(signer: MediaUrlSigner) -> None:
    expires_at = datetime.fromtimestamp(NOW, UTC) + timedelta(days=7)
    signed = signer.sign(STORAGE_KEY, now=NOW, expires_at=expires_at)
    assert signed.expires_at == expires_at
    assert signer.storage_key_from_url(signed.url, now=NOW + 6 * 86400) == STORAGE_KEY
    assert signer.storage_key_from_url(signed.url, now=NOW + 7 * 86400) is None
    naive = datetime.fromtimestamp(NOW + 60, UTC).replace(tzinfo=None)
    assert signer.sign(STORAGE_KEY, now=NOW, expires_at=naive).expires_at.timestamp() == NOW + 60


def test_expiry_in_the_past_or_absurdly_far_cannot_be_signed(signer: MediaUrlSigner) -> None:
    with pytest.raises(ValueError):
        signer.sign(STORAGE_KEY, now=NOW, expires_at=datetime.fromtimestamp(NOW - 1, UTC))
    with pytest.raises(ValueError):
        signer.sign(STORAGE_KEY, now=NOW, expires_at=datetime(2100, 1, 1, tzinfo=UTC))


def test_signing_a_malformed_key_is_refused(signer: MediaUrlSigner) -> None:
    for key in ("../etc/passwd", "originals/1/x.jpg", STORAGE_KEY + "?a=b"):
        with pytest.raises(InvalidKey):
            signer.sign(key, now=NOW)


def test_tampered_signature_is_refused(signer: MediaUrlSigner) -> None:
    url = signer.sign(STORAGE_KEY, now=NOW).url
    exp, sig = exp_and_sig(url)
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert not signer.verify(STORAGE_KEY, exp, flipped, now=NOW)
    assert signer.storage_key_from_url(url.replace(sig, flipped), now=NOW) is None
    assert not signer.verify(STORAGE_KEY, exp, sig + "=", now=NOW)  # padded form
    assert not signer.verify(STORAGE_KEY, exp, sig[:-1], now=NOW)
    assert not signer.verify(STORAGE_KEY, exp, "", now=NOW)


def test_signature_is_bound_to_key_and_expiry(signer: MediaUrlSigner) -> None:
    exp, sig = exp_and_sig(signer.sign(STORAGE_KEY, now=NOW).url)
    assert not signer.verify(OTHER_KEY, exp, sig, now=NOW)
    assert not signer.verify(STORAGE_KEY, str(int(exp) + 1), sig, now=NOW)
    moved = signer.sign(STORAGE_KEY, now=NOW).url.replace("originals/42/", "originals/43/")
    assert signer.storage_key_from_url(moved, now=NOW) is None


def test_other_signing_key_is_refused(signer: MediaUrlSigner) -> None:
    other = MediaUrlSigner(key=b"x" * 32, public_base_url=BASE)
    url = other.sign(STORAGE_KEY, now=NOW).url
    assert signer.storage_key_from_url(url, now=NOW) is None


def test_expired_urls_are_refused(signer: MediaUrlSigner) -> None:
    url = signer.sign(STORAGE_KEY, now=NOW).url
    exp, sig = exp_and_sig(url)
    assert signer.storage_key_from_url(url, now=int(exp) - 1) == STORAGE_KEY
    assert signer.storage_key_from_url(url, now=int(exp)) is None  # exactly at expiry
    assert signer.storage_key_from_url(url, now=NOW + 86400) is None
    assert not signer.verify(STORAGE_KEY, exp, sig, now=int(exp) + 1)


@pytest.mark.parametrize(
    "exp",
    [
        "",
        "abc",
        "12a",
        "-1",
        "+1750003600",
        " 1750003600",
        "1750003600 ",
        "1.5e9",
        "١٧٥٠٠٠٣٦٠٠",
        "1_750_003_600",
        "0x68531E10",
        "99999999999",
        "9" * 40,
    ],
)
def test_non_numeric_or_absurd_expiry_is_refused(signer: MediaUrlSigner, exp: str) -> None:
    _, sig = exp_and_sig(signer.sign(STORAGE_KEY, now=NOW).url)
    assert not signer.verify(STORAGE_KEY, exp, sig, now=NOW)


def test_verify_refuses_malformed_keys_and_non_strings(signer: MediaUrlSigner) -> None:
    exp, sig = exp_and_sig(signer.sign(STORAGE_KEY, now=NOW).url)
    assert not signer.verify("../" + STORAGE_KEY, exp, sig, now=NOW)
    assert not signer.verify(STORAGE_KEY, int(exp), sig, now=NOW)  # type: ignore[arg-type]
    assert not signer.verify(STORAGE_KEY, exp, None, now=NOW)  # type: ignore[arg-type]


def test_case_of_scheme_and_host_and_default_ports() -> None:
    signer = MediaUrlSigner(key=KEY, public_base_url="https://API.Example.com/")
    url = signer.sign(STORAGE_KEY, now=NOW).url
    assert url.startswith("https://API.Example.com/media/")
    tail = url[len("https://API.Example.com") :]
    assert signer.storage_key_from_url("HTTPS://api.example.COM" + tail, now=NOW) == STORAGE_KEY
    assert signer.storage_key_from_url("https://api.example.com:443" + tail, now=NOW)
    assert signer.storage_key_from_url("http://api.example.com" + tail, now=NOW) is None
    assert signer.storage_key_from_url("https://api.example.com:8443" + tail, now=NOW) is None
    assert signer.storage_key_from_url("https://api.example.com.:443" + tail, now=NOW) is None


def test_non_default_port_must_match(signer: MediaUrlSigner) -> None:
    tail = signed_path_and_query(signer)
    assert signer.storage_key_from_url("http://localhost" + tail, now=NOW) is None
    assert signer.storage_key_from_url("http://localhost:80" + tail, now=NOW) is None
    assert signer.storage_key_from_url("http://localhost:8001" + tail, now=NOW) is None
    assert signer.storage_key_from_url("http://localhost:08000" + tail, now=NOW) == STORAGE_KEY


HOSTILE_ORIGINS = [
    "http://evil.com",
    "http://localhost.evil.com",
    "http://localhost.evil.com:8000",
    "http://evil.com/localhost:8000",
    "http://localhost:8000@evil.com",
    "http://user@evil",
    "http://user:pass@localhost:8000",
    "http://localhost:8000:8000",
    "http://localhost:99999",
    "http://127.0.0.1:6379",
    "http://127.0.0.1:8000",
    "http://[::1]:8000",
    "http://169.254.169.254",
    "http://10.0.0.1:8000",
    "http://0.0.0.0:8000",
    "http://localhost%3A8000",
    "http://local%68ost:8000",
    "https://localhost:8000",
    "ftp://localhost:8000",
    "file://localhost:8000",
    "gopher://localhost:8000",
    "//localhost:8000",
    "localhost:8000",
    "",
]


@pytest.mark.parametrize("origin", HOSTILE_ORIGINS)
def test_validly_signed_paths_on_other_origins_are_refused(
    signer: MediaUrlSigner, origin: str
) -> None:
    url = origin + signed_path_and_query(signer)
    assert signer.storage_key_from_url(url, now=NOW) is None


def hostile_urls(signer: MediaUrlSigner) -> list[str]:
    good = signer.sign(STORAGE_KEY, now=NOW).url
    exp, sig = exp_and_sig(good)
    query = f"exp={exp}&sig={sig}"
    encoded_key = STORAGE_KEY.replace("/", "%2F")
    return [
        "file:///etc/passwd",
        f"file:///media/{STORAGE_KEY}?{query}",
        "javascript:alert(1)",
        f"data:image/jpeg;base64,/9j/?{query}",
        f"{BASE}/media/{encoded_key}?{query}",
        f"{BASE}/media%2F{STORAGE_KEY}?{query}",
        f"{BASE}/media/originals/42/%2e%2e/42/{STORAGE_KEY.rsplit('/', 1)[1]}?{query}",
        f"{BASE}/media/../media/{STORAGE_KEY}?{query}",
        f"{BASE}/x/../media/{STORAGE_KEY}?{query}",
        f"{BASE}//media/{STORAGE_KEY}?{query}",
        f"{BASE}/media//{STORAGE_KEY}?{query}",
        f"{BASE}/MEDIA/{STORAGE_KEY}?{query}",
        f"{BASE}/api/media/{STORAGE_KEY}?{query}",
        f"{BASE}\\media\\{STORAGE_KEY}?{query}",
        f"{BASE}\\@evil.com/media/{STORAGE_KEY}?{query}",
        f"{BASE}/media/{STORAGE_KEY}?{query}&next=http://evil.com/",
        f"{BASE}/media/{STORAGE_KEY}?{query}&redirect_uri=http%3A%2F%2F127.0.0.1",
        f"{BASE}/media/{STORAGE_KEY}?{query}&sig={sig}",
        f"{BASE}/media/{STORAGE_KEY}?exp={exp}",
        f"{BASE}/media/{STORAGE_KEY}?sig={sig}",
        f"{BASE}/media/{STORAGE_KEY}",
        f"{BASE}/media/{STORAGE_KEY}?exp={exp}&sig=garbage",
        f"{BASE}/media/{STORAGE_KEY}?exp={exp}&sig=",
        f"{BASE}/media/{STORAGE_KEY}?exp={exp}&sig={sig[:20]}%{sig[20:]}",
        f"{BASE}/media/{STORAGE_KEY}?exp=%3{exp[1:]}&sig={sig}",
        f"{BASE}/media/{STORAGE_KEY}?{query}#fragment",
        f"{BASE}/media/{STORAGE_KEY}#?{query}",
        f"{BASE}/media/{STORAGE_KEY}?{query};x=1",
        f" {good}",
        f"{good}\n",
        good.replace("/media/", "/me\tdia/"),
        good.replace("localhost", "locаlhost"),  # Cyrillic "а"
        good.replace(STORAGE_KEY, STORAGE_KEY + "\x00"),
        good.replace(STORAGE_KEY, STORAGE_KEY.upper()),
        good + "&" + "x" * 3000,
    ]


def test_crafted_urls_are_refused(signer: MediaUrlSigner) -> None:
    for url in hostile_urls(signer):
        assert signer.storage_key_from_url(url, now=NOW) is None, url


@pytest.mark.parametrize("value", [None, 42, b"http://localhost:8000/media/x"])
def test_non_string_urls_are_refused(signer: MediaUrlSigner, value: object) -> None:
    assert signer.storage_key_from_url(value, now=NOW) is None  # type: ignore[arg-type]


def test_base_url_with_a_path_prefix() -> None:
    signer = MediaUrlSigner(key=KEY, public_base_url="https://example.com/headshots/")
    url = signer.sign(STORAGE_KEY, now=NOW).url
    assert url.startswith(f"https://example.com/headshots/media/{STORAGE_KEY}?exp=")
    assert signer.storage_key_from_url(url, now=NOW) == STORAGE_KEY
    unprefixed = url.replace("/headshots/media/", "/media/")
    assert signer.storage_key_from_url(unprefixed, now=NOW) is None


def test_extra_allowed_bases() -> None:
    signer = MediaUrlSigner(
        key=KEY,
        public_base_url=BASE,
        extra_allowed_bases=["https://cdn.example.com/assets", "http://api:8000"],
    )
    tail = signed_path_and_query(signer)
    assert signer.storage_key_from_url("https://cdn.example.com/assets" + tail, now=NOW)
    assert signer.storage_key_from_url("http://API:8000" + tail, now=NOW) == STORAGE_KEY
    assert signer.storage_key_from_url(BASE + tail, now=NOW) == STORAGE_KEY
    assert signer.storage_key_from_url("https://cdn.example.com" + tail, now=NOW) is None
    assert signer.storage_key_from_url("http://cdn.example.com/assets" + tail, now=NOW) is None
    assert signer.storage_key_from_url("http://api:8001" + tail, now=NOW) is None


def test_ipv6_base_url() -> None:
    signer = MediaUrlSigner(key=KEY, public_base_url="http://[::1]:8000")
    url = signer.sign(STORAGE_KEY, now=NOW).url
    assert signer.storage_key_from_url(url, now=NOW) == STORAGE_KEY


@pytest.mark.parametrize(
    "kwargs",
    [
        {"key": b"short", "public_base_url": BASE},
        {"key": "not-bytes" * 4, "public_base_url": BASE},
        {"key": KEY, "public_base_url": "ftp://example.com"},
        {"key": KEY, "public_base_url": "example.com"},
        {"key": KEY, "public_base_url": "http://user:pw@example.com"},
        {"key": KEY, "public_base_url": "http://example.com/?x=1"},
        {"key": KEY, "public_base_url": BASE, "ttl_seconds": 0},
        {"key": KEY, "public_base_url": BASE, "extra_allowed_bases": ["file:///srv"]},
    ],
)
def test_constructor_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MediaUrlSigner(**kwargs)  # type: ignore[arg-type]
