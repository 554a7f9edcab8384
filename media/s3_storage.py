"""Images in an S3-compatible object store (AWS S3, Cloudflare R2, MinIO), through boto3.

Same keys and the same rules as `LocalStorage` (media/storage.py): a key is validated before it
reaches the store, and its extension decides its content type. Clients never get the bytes
through us: `/media/...` checks our own signature, then redirects to a presigned GET that lives
a few minutes (`presigned_url`). Credentials come the standard AWS way (environment variables,
shared config files, an instance or task role), never from our settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from media.storage import (
    Storage,
    StorageNotFound,
    StorageUnavailable,
    content_type_for_key,
    validate_key,
)

# What S3 and its look-alikes answer for a missing object: HEAD has no body, so only a status.
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING_CODES


@contextmanager
def _store_errors(key: str) -> Iterator[None]:
    """A missing object is StorageNotFound; any other failure of the store (down, throttling,
    wrong credentials) is StorageUnavailable, which the API answers with a 503."""
    try:
        yield
    except ClientError as error:
        if _is_missing(error):
            raise StorageNotFound(key) from error
        code = error.response.get("Error", {}).get("Code")
        raise StorageUnavailable(f"the object store refused {key}: {code}") from error
    except BotoCoreError as error:
        raise StorageUnavailable(f"the object store is unavailable: "
                                 f"{type(error).__name__}") from error


class S3Storage(Storage):
    """Objects in `bucket`, under the same keys as on disk (`results/42/<hex>-0.png`)."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None,
                 region: str | None = None, max_connections: int = 20) -> None:
        if not bucket:
            raise ValueError("S3_BUCKET is required with STORAGE_BACKEND=s3")
        self._bucket = bucket
        config = Config(
            signature_version="s3v4",
            # Path-style for a custom endpoint (MinIO, moto, most self-hosted stores need it;
            # R2 accepts it); AWS itself picks what it wants.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=30,
            # One connection per worker thread, so 16 threads never queue for a socket.
            max_pool_connections=max_connections,
        )
        # A session of our own: boto3's default session is not thread-safe to create clients
        # from; the client itself is safe to share between threads.
        session = boto3.session.Session()
        self._client: Any = session.client("s3", endpoint_url=endpoint_url or None,
                                           region_name=region or None, config=config)

    @property
    def bucket(self) -> str:
        return self._bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if content_type != content_type_for_key(key):
            raise ValueError(f"content type {content_type!r} does not match key {key!r}")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("data must be bytes")
        # A PUT replaces the object atomically: a reader sees the old bytes or the new ones.
        with _store_errors(key):
            self._client.put_object(Bucket=self._bucket, Key=key, Body=bytes(data),
                                    ContentType=content_type)

    def get(self, key: str) -> bytes:
        validate_key(key)
        with _store_errors(key):
            answer = self._client.get_object(Bucket=self._bucket, Key=key)
            with answer["Body"] as body:
                data: bytes = body.read()
        return data

    def delete(self, key: str) -> bool:
        # S3's DELETE says nothing about whether the object was there; ask first.
        existed = self.exists(key)
        with _store_errors(key):
            self._client.delete_object(Bucket=self._bucket, Key=key)
        return existed

    def exists(self, key: str) -> bool:
        validate_key(key)
        try:
            with _store_errors(key):
                self._client.head_object(Bucket=self._bucket, Key=key)
        except StorageNotFound:
            return False
        return True

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

    def presigned_url(self, key: str, *, ttl_seconds: int) -> str | None:
        validate_key(key)
        if not 1 <= ttl_seconds <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"ttl_seconds must be 1 to {MAX_PRESIGN_SECONDS}")
        name = key.rsplit("/", 1)[1]
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket, "Key": key,
                # What the store answers with, whatever the object's own metadata says.
                "ResponseContentType": content_type_for_key(key),
                "ResponseContentDisposition": f'inline; filename="{name}"',
                "ResponseCacheControl": f"private, max-age={ttl_seconds}",
            },
            ExpiresIn=ttl_seconds,
        )
        return url

    def check(self) -> None:
        """Raises (botocore's errors) unless the bucket is there and these credentials reach it."""
        with _store_errors(self._bucket):
            self._client.head_bucket(Bucket=self._bucket)

    def keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        with _store_errors(prefix):
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)
