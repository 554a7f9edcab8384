"""Media: where images live (`storage`: on disk, or `s3_storage`), who may see them
(`signed_urls`), what is done to them (`images`, Pillow), and the formats (`formats`). The
process's storage (chosen by STORAGE_BACKEND) and signer are here."""


from config import get_settings, per_settings
from media.signed_urls import MediaUrlSigner
from media.storage import LocalStorage, Storage


@per_settings
def get_storage() -> Storage:
    settings = get_settings()
    if settings.storage_backend == "s3":
        from media.s3_storage import S3Storage  # boto3 is only imported where it is used

        assert settings.s3_bucket is not None  # Settings refuses s3 without a bucket
        return S3Storage(settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
                         region=settings.s3_region,
                         max_connections=max(10, settings.worker_concurrency + 4))
    return LocalStorage(settings.media_root)


@per_settings
def get_signer() -> MediaUrlSigner:
    settings = get_settings()
    return MediaUrlSigner(
        key=settings.media_signing_key,
        public_base_url=settings.public_base_url,
        ttl_seconds=settings.media_url_ttl_seconds,
        extra_allowed_bases=settings.allowed_image_bases,
    )
