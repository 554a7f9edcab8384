"""Media: where images live (`storage`), who may see them (`signed_urls`), what is done to them
(`images`, Pillow), and the formats (`formats`). The process's storage and signer are here."""


from config import get_settings, per_settings
from media.signed_urls import MediaUrlSigner
from media.storage import LocalStorage, Storage


@per_settings
def get_storage() -> Storage:
    return LocalStorage(get_settings().media_root)


@per_settings
def get_signer() -> MediaUrlSigner:
    settings = get_settings()
    return MediaUrlSigner(
        key=settings.media_signing_key,
        public_base_url=settings.public_base_url,
        ttl_seconds=settings.media_url_ttl_seconds,
        extra_allowed_bases=settings.allowed_image_bases,
    )
