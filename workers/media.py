"""The process's storage and media-URL signer, built once from the settings."""

from functools import lru_cache

from config import get_settings
from workers.signed_urls import MediaUrlSigner
from workers.storage import LocalStorage, Storage


@lru_cache(maxsize=1)
def get_storage() -> Storage:
    return LocalStorage(get_settings().media_root)


@lru_cache(maxsize=1)
def get_signer() -> MediaUrlSigner:
    settings = get_settings()
    return MediaUrlSigner(
        key=settings.media_signing_key,
        public_base_url=settings.public_base_url,
        ttl_seconds=settings.media_url_ttl_seconds,
        extra_allowed_bases=settings.allowed_image_bases,
    )
