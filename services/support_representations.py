"""The JSON of a support lookup (§14): one user's file, camelCase, ISO 8601 UTC times. It
carries no media URLs: support answers questions about credits and jobs, and needs no photo;
nor a device's push address or keys, which would let whoever reads it send to the device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.devices import Device
from models.events import Event
from models.outbox import OutboxEvent
from models.support_reads import JobCredits, Latest, LedgerLine, LiveShare, Row
from services.representations import balance_json, device_json, iso
from services.support import UserFile


def user_file_json(found: UserFile) -> dict[str, Any]:
    return {
        **balance_json(found.user),
        "createdAt": iso(found.user.created_at),
        "sameEmailUserIds": found.same_email_user_ids,
        "ledger": _latest(found.ledger, _ledger_line_json),
        "headshots": _latest(found.headshots, _headshot_json),
        "events": _latest(found.events, _event_json),
        "shareLinks": _latest(found.share_links, _share_json),
        "webhookDeliveries": _latest(found.webhook_deliveries, _delivery_json),
        "devices": _latest(found.devices, _device_json),
        "pushDeliveries": _latest(found.push_deliveries, _push_delivery_json),
    }


def _latest(rows: Latest[Row], item_json: Callable[[Row], dict[str, Any]]) -> dict[str, Any]:
    return {"data": [item_json(row) for row in rows.rows], "truncated": rows.truncated}


def _ledger_line_json(line: LedgerLine) -> dict[str, Any]:
    entry = line.entry
    return {
        "id": entry.id,
        "type": entry.type,
        "amount": entry.amount,
        "balanceAfter": entry.balance_after,
        "description": entry.description,
        "createdAt": iso(entry.created_at),
        "headshot": None if entry.generation_id is None else {
            "id": entry.generation_id,
            "round": entry.generation_round,
            "style": line.style,
            "status": line.status,
            "deleted": line.deleted,
        },
    }


def _headshot_json(row: JobCredits) -> dict[str, Any]:
    job = row.job
    return {
        "id": job.id,
        "style": job.style,
        "aspectRatio": job.aspect_ratio,
        "status": job.status,
        "progress": job.progress,
        "error": {"code": job.error_code, "message": job.error_message or ""}
        if job.error_code else None,
        "attempts": job.attempts,
        "attemptsThisRound": job.attempts_this_round,
        "retryCount": job.retry_count,
        "creditCost": job.credit_cost,
        "creditsCharged": row.charged,
        "creditsRefunded": row.refunded,
        "batchId": str(job.batch_id) if job.batch_id else None,
        "metadata": job.meta or {},
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "completedAt": iso(job.completed_at),
    }


def _event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "source": event.source,
        "generationId": event.generation_id,
        "properties": event.properties or {},
        "vouched": event.vouched,
        "createdAt": iso(event.created_at),
    }


def _share_json(live: LiveShare) -> dict[str, Any]:
    share = live.share
    return {
        "id": share.id,
        "generationId": share.generation_id,
        "style": live.style,
        "createdAt": iso(share.created_at),
        "expiresAt": iso(share.expires_at),
    }


def _delivery_json(event: OutboxEvent) -> dict[str, Any]:
    state = ("delivered" if event.delivered_at else "gave_up" if event.gave_up_at
             else "pending")
    return {
        "id": event.id,
        "messageId": event.message_id,
        "eventType": event.event_type,
        "generationId": event.generation_id,
        "batchId": str(event.batch_id) if event.batch_id else None,
        "state": state,
        "attempts": event.attempts,
        "createdAt": iso(event.created_at),
        "nextAttemptAt": iso(event.next_attempt_at) if state == "pending" else None,
        "deliveredAt": iso(event.delivered_at),
        "gaveUpAt": iso(event.gave_up_at),
        "lastError": event.last_error,
    }


def _device_json(device: Device) -> dict[str, Any]:
    return {**device_json(device), "lastSeenAt": iso(device.last_seen_at)}


def _push_delivery_json(event: OutboxEvent) -> dict[str, Any]:
    # The device may be gone (a provider said so, or the user removed it): its id stays.
    return {**_delivery_json(event), "deviceId": event.device_id}
