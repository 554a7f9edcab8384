"""JSON shapes of the API guide (§4, §6, §11): camelCase, ISO 8601 UTC times, freshly signed
URLs; for the API's responses and the webhooks' payloads alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from media.signed_urls import MediaUrlSigner, SignedUrl
from models.admin_reads import Failure
from models.audit import AuditEntry
from models.credits import CreditEntry
from models.devices import Device
from models.feature_flags import FlagState
from models.job.snapshot import StatusSnapshot
from models.job.table import Job
from models.styles import Style
from models.uploads import Upload
from models.users import User
from services.accounts import Account
from services.admin import FailurePage
from services.analytics import Report
from services.batches import BatchView
from services.pagination import Page, Row, encode_cursor, encode_time_cursor
from services.status import PolledStatus, shown_progress
from services.status_stream_urls import status_stream_url


def iso(moment: datetime | float | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat()


def _urls(signer: MediaUrlSigner, keys: list[str]) -> list[str]:
    return [signer.sign(key).url for key in keys]


def _image(url: str, size: list[int] | tuple[int, int] | None) -> dict[str, Any]:
    """An image as the API shows it beside its URL (§12): where it is and its size in
    pixels, from what was recorded when it was written (null: not recorded, older images)."""
    width, height = size if size else (None, None)
    return {"url": url, "width": width, "height": height}


def _results(urls: list[str], sizes: list[list[int]] | None) -> list[dict[str, Any]]:
    known = sizes if sizes and len(sizes) == len(urls) else [None] * len(urls)
    return [_image(url, size) for url, size in zip(urls, known, strict=True)]


def _sized(url: str | None, size: list[int] | tuple[int, int] | None) -> dict[str, Any] | None:
    return _image(url, size) if url else None


def _size(width: int | None, height: int | None) -> tuple[int, int] | None:
    return (width, height) if width is not None and height is not None else None


def _error(code: str | None, message: str | None) -> dict[str, str] | None:
    return {"code": code, "message": message or ""} if code else None


def signed_original(upload: Upload | None, signer: MediaUrlSigner) -> SignedUrl | None:
    """A URL of the original that expires no later than the original itself, if it is there."""
    if upload is None or not upload.available:
        return None
    now = time.time()
    # The window's expiry unless the original goes sooner: either way the same for every read
    # within the window, so the URL (and the ETag of the answer carrying it) stays the same.
    expires = min(upload.expires_at.timestamp(), signer.window_expiry(now))
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


def headshot_json(job: Job, signer: MediaUrlSigner) -> dict[str, Any]:
    upload = job.upload
    original = signed_original(upload, signer)
    result_urls = _urls(signer, job.result_keys or [])
    thumbnail_url = signer.sign(job.thumbnail_key).url if job.thumbnail_key else None
    original_url = original.url if original else None
    # The job's own before image, cut to its shape (§13); older jobs show the upload's preview.
    if job.before_key:
        before_url: str | None = signer.sign(job.before_key).url
        before_size = _size(job.before_width, job.before_height)
    elif upload is not None and upload.preview_key:
        before_url = signer.sign(upload.preview_key).url
        before_size = _size(upload.preview_width, upload.preview_height)
    else:
        before_url, before_size = None, None
    return {
        "id": job.id,
        "style": job.style,
        "aspectRatio": job.aspect_ratio,
        "status": job.status,
        "progress": shown_progress(StatusSnapshot.of(job)),
        "resultUrls": result_urls,
        "thumbnailUrl": thumbnail_url,
        "originalImageUrl": original_url,
        "beforeImageUrl": before_url,
        # The same URLs, each with its size in pixels.
        "results": _results(result_urls, job.result_sizes),
        "thumbnail": _sized(thumbnail_url, _size(job.thumbnail_width, job.thumbnail_height)),
        "originalImage": _sized(original_url, _size(upload.width, upload.height)
                                if upload is not None else None),
        "beforeImage": _sized(before_url, before_size),
        "isFavorite": job.is_favorite,
        "error": _error(job.error_code, job.error_message),
        "retryCount": job.retry_count,
        "batchId": str(job.batch_id) if job.batch_id else None,
        "creditCost": job.credit_cost,
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "completedAt": iso(job.completed_at),
        "metadata": {**(job.meta or {}), "attempts": job.attempts_this_round},
        "statusStreamUrl": status_stream_url(job.user_id, job.id),
    }


def status_json(job_status: PolledStatus, signer: MediaUrlSigner, *, stream_url: bool = True
                ) -> dict[str, Any]:
    """The status object; without `stream_url`, short of its last field, `statusStreamUrl`
    (a stream compares bodies without it: its URL's expiry moves on)."""
    snapshot = job_status.snapshot
    result_urls = _urls(signer, snapshot.result_keys)
    thumbnail_url = signer.sign(snapshot.thumbnail_key).url if snapshot.thumbnail_key else None
    body = {
        "id": snapshot.id,
        "status": snapshot.status,
        "progress": job_status.progress,
        "resultUrls": result_urls,
        "thumbnailUrl": thumbnail_url,
        "results": _results(result_urls, snapshot.result_sizes),
        "thumbnail": _sized(thumbnail_url, snapshot.thumbnail_size),
        "error": _error(snapshot.error_code, snapshot.error_message),
        "queuePosition": job_status.queue_position,
        "etaSeconds": job_status.eta_seconds,
    }
    return with_stream_url(body, snapshot.user_id, snapshot.id) if stream_url else body


def with_stream_url(status_body: dict[str, Any], user_id: int, job_id: int) -> dict[str, Any]:
    """A status object built without its `statusStreamUrl`, completed."""
    return {**status_body, "statusStreamUrl": status_stream_url(user_id, job_id)}


def style_json(style: Style) -> dict[str, Any]:
    return {
        "id": style.id,
        "name": style.name,
        "description": style.description,
        "creditCost": style.credit_cost,
    }


def balance_json(user: User) -> dict[str, Any]:
    """Who the user is and where their credits stand: the head of `/api/me` and of a support
    lookup alike."""
    return {
        "id": user.id,
        "email": user.email,
        "credits": user.credits,
        "totalHeadshotsGenerated": user.total_headshots_generated,
        "totalCreditsSpent": user.total_credits_spent,
    }


def account_json(account: Account) -> dict[str, Any]:
    return {
        **balance_json(account.user),
        "devices": [device_json(device) for device in account.devices],
        "features": account.features,
        "push": {
            "platforms": sorted(account.push.platforms),
            "webPush": {"publicKey": account.push.web_push_key}
            if account.push.web_push_key else None,
        },
    }


def flag_json(flag: FlagState) -> dict[str, Any]:
    return {
        "name": flag.name,
        "enabled": flag.enabled,
        "percentage": flag.percentage,
        "users": sorted(flag.users),
        "updatedAt": iso(flag.updated_at),
        "updatedBy": flag.updated_by,
    }


def device_json(device: Device) -> dict[str, Any]:
    """Never its token or keys: they are the device's to know, and the worker's to use."""
    return {"id": device.id, "platform": device.platform, "createdAt": iso(device.created_at)}


def audit_entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "operatorId": entry.operator_id,
        "action": entry.action,
        "userId": entry.user_id,
        "generationId": entry.generation_id,
        "amount": entry.amount,
        "reason": entry.reason,
        "createdAt": iso(entry.created_at),
    }


def failure_json(failure: Failure) -> dict[str, Any]:
    return {
        "id": failure.id,
        "userId": failure.user_id,
        "style": failure.style,
        "errorCode": failure.error_code,
        "errorMessage": failure.error_message,
        "completedAt": iso(failure.completed_at),
        "refunded": failure.refunded,
    }


def failure_page_json(page: FailurePage) -> dict[str, Any]:
    return {
        "data": [failure_json(failure) for failure in page.items],
        "nextCursor": encode_time_cursor(*page.next_after) if page.next_after else None,
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


def page_json(page: Page[Row], item_json: Callable[[Row], dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": [item_json(item) for item in page.items],
        "nextCursor": encode_cursor(page.next_before_id) if page.next_before_id else None,
    }


def batch_json(view: BatchView, signer: MediaUrlSigner) -> dict[str, Any]:
    return {
        "batchId": str(view.batch_id),
        "status": view.status.value,
        "progress": view.progress,
        "generations": [headshot_json(job, signer) for job in view.jobs],
    }


def analytics_json(report: Report) -> dict[str, Any]:
    """The figures of docs/analytics.md (linked from §8); every rate a fraction from 0 to 1."""
    activity = report.activity
    users, active = activity["users"], activity["active_users"]
    funnel = activity["funnel"]
    processing = activity["processing"]
    return {
        "styles": [_style_figures_json(style) for style in report.styles],
        "daily": [{**_style_figures_json(day), "date": day["date"].isoformat(),
                   "p50ProcessingTime": _number(day["p50_processing_time"]),
                   "p95ProcessingTime": _number(day["p95_processing_time"]),
                   "failuresByCode": day["failures_by_code"]} for day in report.daily],
        "trend": [{"date": day["date"].isoformat(), "headshots": day["headshots"],
                   "activeUsers": day["active_users"]} for day in report.trend],
        "peakHours": activity["peak_hours"],
        "users": users,
        "activeUsers": active,
        "requests": activity["requests"],
        "headshots": activity["headshots"],
        "repeatUserRate": _share(activity["repeat_users"], users),
        "averageHeadshotsPerUser": round(activity["headshots"] / users, 2) if users else None,
        "averageRequestsPerUser": round(activity["requests"] / users, 2) if users else None,
        "favoriteUsageRate": _share(activity["favoriting_users"], users),
        "historyViewRate": _share(activity["history_viewing_users"], active),
        "processingTime": {"average": _number(processing["average"]),
                           "p50": _number(processing["p50"]),
                           "p95": _number(processing["p95"])},
        "failuresByCode": report.failures_by_code,
        "styleChoice": [{"style": row["style"], "selections": row["selections"],
                         "selectingUsers": row["selecting_users"],
                         "generated": row["generated"],
                         "generatingUsers": row["generating_users"]}
                        for row in activity["style_choice"]],
        "funnel": {"started": funnel.get("headshot_started", 0),
                   "completed": funnel.get("headshot_completed", 0),
                   "downloaded": funnel.get("headshot_downloaded", 0),
                   "shared": funnel.get("user_shared", 0)},
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _style_figures_json(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "style": figures["style"],
        "totalGenerations": figures["total_generations"],
        "completed": figures["completed"],
        "failed": figures["failed"],
        "cancelled": figures["cancelled"],
        "successRate": _number(figures["success_rate"]),
        "avgProcessingTime": figures["avg_processing_time"],
        "getimgCost": float(figures["getimg_cost"] or 0),
        "creditsCharged": figures["credits_charged"],
        "creditsRefunded": figures["credits_refunded"],
    }


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
