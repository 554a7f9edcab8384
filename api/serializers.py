"""JSON shapes of the contract (§4, §6): camelCase, ISO 8601 UTC times, freshly signed URLs."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from config import get_settings
from models.credits import CreditEntry
from models.generations import GenerationStatus, HeadshotGeneration, StatusSnapshot
from models.styles import Style
from models.uploads import Upload
from models.users import User
from workers.signed_urls import MediaUrlSigner, SignedUrl
from workers.status_cache import CachedStatus


def iso(moment: datetime | float | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat()


def _urls(signer: MediaUrlSigner, keys: list[str]) -> list[str]:
    return [signer.sign(key).url for key in keys]


def _error(code: str | None, message: str | None) -> dict[str, str] | None:
    return {"code": code, "message": message or ""} if code else None


def signed_original(upload: Upload | None, signer: MediaUrlSigner) -> SignedUrl | None:
    """A URL of the original that expires no later than the original itself, if it is there."""
    if upload is None or not upload.available:
        return None
    now = time.time()
    expires = min(upload.expires_at.timestamp(), now + signer.ttl_seconds)
    if expires - now < 1:
        return None
    return signer.sign(upload.storage_key, expires_at=datetime.fromtimestamp(expires, UTC))


def upload_json(upload: Upload, signer: MediaUrlSigner) -> dict[str, Any]:
    signed = signed_original(upload, signer)
    assert signed is not None  # a new upload is available for its whole retention
    return {
        "id": str(upload.id),
        "imageUrl": signed.url,
        "expiresAt": iso(signed.expires_at),
        "width": upload.width,
        "height": upload.height,
        "contentType": upload.content_type,
    }


def headshot_json(generation: HeadshotGeneration, signer: MediaUrlSigner) -> dict[str, Any]:
    original = signed_original(generation.upload, signer)
    snapshot = StatusSnapshot.of(generation)
    return {
        "id": generation.id,
        "style": generation.style,
        "aspectRatio": generation.aspect_ratio,
        "status": generation.status,
        "progress": snapshot.displayed_progress(time.time()),
        "resultUrls": _urls(signer, generation.result_keys or []),
        "thumbnailUrl": signer.sign(generation.thumbnail_key).url
        if generation.thumbnail_key else None,
        "originalImageUrl": original.url if original else None,
        "isFavorite": generation.is_favorite,
        "error": _error(generation.error_code, generation.error_message),
        "retryCount": generation.retry_count,
        "batchId": str(generation.batch_id) if generation.batch_id else None,
        "creditCost": generation.credit_cost,
        "createdAt": iso(generation.created_at),
        "startedAt": iso(generation.started_at),
        "completedAt": iso(generation.completed_at),
        "metadata": {**(generation.meta or {}), "attempts": generation.attempts},
    }


def status_json(
    snapshot: StatusSnapshot, cached: CachedStatus, signer: MediaUrlSigner
) -> dict[str, Any]:
    now = time.time()
    settings = get_settings()
    average = cached.average_seconds or settings.getimg_expected_seconds
    queue_position: int | None = None
    eta: int | None = None
    if snapshot.status == GenerationStatus.QUEUED:
        queue_position = cached.jobs_ahead if cached.jobs_ahead is not None else 0
        eta = math.ceil((queue_position // settings.worker_concurrency + 1) * average)
    elif snapshot.status == GenerationStatus.PROCESSING:
        elapsed = now - (snapshot.started_at or now)
        eta = max(1, math.ceil(average - elapsed))
    return {
        "id": snapshot.id,
        "status": snapshot.status,
        "progress": snapshot.displayed_progress(now),
        "resultUrls": _urls(signer, snapshot.result_keys),
        "thumbnailUrl": signer.sign(snapshot.thumbnail_key).url
        if snapshot.thumbnail_key else None,
        "error": _error(snapshot.error_code, snapshot.error_message),
        "queuePosition": queue_position,
        "etaSeconds": eta,
    }


def style_json(style: Style) -> dict[str, Any]:
    return {
        "id": style.id,
        "name": style.name,
        "description": style.description,
        "creditCost": style.credit_cost,
    }


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "credits": user.credits,
        "totalHeadshotsGenerated": user.total_headshots_generated,
        "totalCreditsSpent": user.total_credits_spent,
    }


def credit_entry_json(entry: CreditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "amount": entry.amount,
        "type": entry.type,
        "generationId": entry.generation_id,
        "description": entry.description,
        "balanceAfter": entry.balance_after,
        "createdAt": iso(entry.created_at),
    }
