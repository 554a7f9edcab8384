"""Response models: the JSON bodies the API sends, for the OpenAPI document (`api/openapi.py`).

`services/representations.py` builds the bodies; these models only describe them, field for
field (camelCase, as emitted). Every field is always present, so every field is required;
`X | None` marks the ones that can be `null`. Objects are closed (`extra="forbid"` becomes
`additionalProperties: false`) so a serializer that grows a field without the document growing
with it fails the schema-conformance tests instead of going unnoticed; `metadata` is the one
open object, as the worker merges what it learns into it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from media.formats import ContentType
from models.audit import Action
from models.batches import BatchStatus
from models.credits import EntryType
from models.devices import Platform
from models.job.table import AspectRatio, JobStatus

NonNegative = Annotated[int, Field(ge=0)]
Progress = Annotated[int, Field(ge=0, le=100)]
SignedUrl = Annotated[str, Field(description="a signed media URL that expires")]
StatusStreamUrl = Annotated[str, Field(
    description="the headshot's status stream (Server-Sent Events), signed: it needs no "
                "`Authorization` header (a browser's `EventSource`); valid for an hour (§12)")]
Timestamp = Annotated[datetime, Field(description="ISO 8601 in UTC")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- errors ------------------------------------------------------------------------------------


class ErrorDetail(Body):
    code: str = Field(description="snake_case, stable: clients branch on it")
    message: str = Field(description="human readable; names the offending field for a 400")


class ErrorBody(Body):
    """Every error response (API guide §3)."""

    error: ErrorDetail


# ---- headshots (API guide §6) -------------------------------------------------------------------


class SizedImage(Body):
    """An image URL with the image's size in pixels (§12): an app can lay the image out before
    it arrives. The size is as recorded when the image was written; null for images stored
    before sizes were recorded."""

    url: SignedUrl
    width: int | None = Field(ge=1, description="pixels; null if not recorded")
    height: int | None = Field(ge=1, description="pixels; null if not recorded")


class LastError(Body):
    code: str
    message: str


class HeadshotMetadata(BaseModel):
    """What is known about the generation so far; more keys may appear."""

    model_config = ConfigDict(extra="allow")

    attempts: NonNegative
    quality: str | None = Field(default=None, description="headshots made before 2026-12-08 "
                                "only: a constant, not what GetImg was asked for")
    resolution: str | None = Field(default=None, description="as sent to GetImg, e.g. 1K")
    outputFormat: str | None = Field(default=None, description="as sent to GetImg, e.g. jpeg")
    getimgCost: float | None = Field(default=None, description="USD, the completing call's")
    getimgRequestId: str | None = None
    modelUsed: str | None = None
    processingTime: float | None = Field(
        default=None, description="seconds: the completing attempt, claim to results stored")
    queueTime: float | None = Field(
        default=None, description="seconds: the round's request (or retry) to that claim")
    totalTime: float | None = Field(default=None, description="queueTime + processingTime")
    lastError: LastError | None = None


class Headshot(Body):
    id: int = Field(ge=1)
    style: str
    aspectRatio: AspectRatio
    status: JobStatus
    progress: Progress = Field(description="100 exactly when completed")
    resultUrls: list[SignedUrl]
    thumbnailUrl: SignedUrl | None
    originalImageUrl: SignedUrl | None = Field(description="null once the original was deleted")
    beforeImageUrl: SignedUrl | None = Field(
        description="a small copy of the selfie (long side <= 512 px, no metadata), kept as "
                    "long as the headshot: the app's before/after")
    results: list[SizedImage] = Field(description="`resultUrls`, each with its size")
    thumbnail: SizedImage | None = Field(description="`thumbnailUrl` with its size")
    originalImage: SizedImage | None = Field(description="`originalImageUrl` with its size")
    beforeImage: SizedImage | None = Field(description="`beforeImageUrl` with its size")
    isFavorite: bool
    error: ErrorDetail | None
    retryCount: NonNegative
    batchId: uuid.UUID | None
    creditCost: NonNegative
    createdAt: Timestamp
    startedAt: Timestamp | None
    completedAt: Timestamp | None
    metadata: HeadshotMetadata
    statusStreamUrl: StatusStreamUrl


class BatchAccepted(Body):
    batchId: uuid.UUID
    generations: list[Headshot] = Field(description="one per style, in the order asked")


class Batch(Body):
    batchId: uuid.UUID
    status: BatchStatus = Field(description="partial: ended, some styles completed, some failed")
    progress: Progress = Field(description="the mean of its headshots' progress")
    generations: list[Headshot]


class ShareCreated(Body):
    shareUrl: str = Field(description="a public page: no token needed, no ids in it")
    expiresAt: Timestamp


class HeadshotStatus(Body):
    """What the app polls: `GET /api/headshots/status/{id}`."""

    id: int = Field(ge=1)
    status: JobStatus
    progress: Progress
    resultUrls: list[SignedUrl]
    thumbnailUrl: SignedUrl | None
    results: list[SizedImage] = Field(description="`resultUrls`, each with its size")
    thumbnail: SizedImage | None = Field(description="`thumbnailUrl` with its size")
    error: ErrorDetail | None
    queuePosition: NonNegative | None = Field(description="jobs ahead of this one, when queued")
    etaSeconds: NonNegative | None = Field(description="an estimate, while queued or processing")
    statusStreamUrl: StatusStreamUrl


class HeadshotPage(Body):
    data: list[Headshot]
    nextCursor: str | None = Field(description="the `cursor` of the next page; null at the end")


class StyleItem(Body):
    id: str
    name: str
    description: str
    creditCost: NonNegative


class StyleList(Body):
    data: list[StyleItem]


# ---- uploads (API guide §5) ---------------------------------------------------------------------


class UploadCreated(Body):
    id: uuid.UUID
    imageUrl: SignedUrl
    expiresAt: Timestamp
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    contentType: ContentType


# ---- credits (API guide §4) ---------------------------------------------------------------------


class Device(Body):
    id: int = Field(ge=1)
    platform: Platform
    createdAt: Timestamp


class WebPushSetup(Body):
    publicKey: str = Field(
        pattern=r"^[A-Za-z0-9_-]{87}$",
        description="the server's VAPID public key: base64url (unpadded) of the uncompressed "
                    "P-256 point, 65 bytes; `PushManager.subscribe`'s `applicationServerKey`")


class PushSetup(Body):
    """How a client subscribes a device to push notifications (§13)."""

    platforms: list[Platform] = Field(description="the platforms whose provider is set up: "
                                                  "a device on another is never notified")
    webPush: WebPushSetup | None = Field(description="null while Web Push is off")


class Me(Body):
    id: int = Field(ge=1)
    email: str | None
    credits: NonNegative
    totalHeadshotsGenerated: NonNegative
    totalCreditsSpent: int
    features: dict[str, bool] = Field(
        description="every feature flag's answer for the caller (§14): `batch`, `export`, "
                    "`share`, `push`, `style:<styleId>`")
    devices: list[Device] = Field(description="where push notifications go (§13); never "
                                              "their tokens or keys")
    push: PushSetup


class CreditEntryItem(Body):
    id: int = Field(ge=1)
    amount: int = Field(description="negative for a charge, positive for a grant or refund")
    type: EntryType
    generationId: int | None
    description: str
    balanceAfter: NonNegative
    createdAt: Timestamp


class CreditHistoryPage(Body):
    data: list[CreditEntryItem]
    nextCursor: str | None


class Refunded(Body):
    generationId: int = Field(ge=1)
    refundedAmount: int = Field(ge=0)
    balance: NonNegative


class AuditItem(Body):
    id: int = Field(ge=1)
    operatorId: int
    action: Action = Field(description="`view_user`: a support lookup (§14), which moves no "
                                       "credits; its reason says what was searched")
    userId: int | None = Field(description="null for a lookup that found nobody")
    generationId: int | None
    amount: int | None = Field(description="null for a lookup")
    reason: str
    createdAt: Timestamp


class AuditPage(Body):
    data: list[AuditItem]
    nextCursor: str | None


class EventAccepted(Body):
    status: Literal["accepted"]


class StyleFigures(Body):
    style: str
    totalGenerations: NonNegative = Field(description="headshots asked for")
    completed: NonNegative = Field(description="rounds that ended completed")
    failed: NonNegative = Field(description="rounds the generator failed (a retried one too)")
    cancelled: NonNegative = Field(description="rounds cancelled by their owner")
    successRate: float | None = Field(
        ge=0, le=1, description="completed / (completed + failed): a fraction, 0 to 1")
    avgProcessingTime: int | None = Field(description="seconds")
    getimgCost: float = Field(description="USD, every billed GetImg call (failed ones too)")
    creditsCharged: NonNegative
    creditsRefunded: NonNegative


class DailyFigures(StyleFigures):
    date: str = Field(description="UTC day, YYYY-MM-DD")
    p50ProcessingTime: float | None
    p95ProcessingTime: float | None
    failuresByCode: dict[str, int]


class PeakHour(Body):
    hour: int = Field(ge=0, le=23, description="UTC")
    generations: NonNegative


class Funnel(Body):
    started: NonNegative
    completed: NonNegative
    downloaded: NonNegative
    shared: NonNegative


class TrendDay(Body):
    date: str = Field(description="UTC day, YYYY-MM-DD")
    headshots: NonNegative = Field(description="headshots asked for that day")
    activeUsers: NonNegative


class ProcessingTimes(Body):
    average: float | None = Field(description="seconds")
    p50: float | None = Field(description="seconds")
    p95: float | None = Field(description="seconds")


class StyleChoice(Body):
    style: str
    selections: NonNegative = Field(description="the app's style_selected reports")
    selectingUsers: NonNegative
    generated: NonNegative = Field(description="headshots asked for in the style")
    generatingUsers: NonNegative


Share = Annotated[float | None, Field(ge=0, le=1)]


class Analytics(Body):
    styles: list[StyleFigures]
    daily: list[DailyFigures]
    trend: list[TrendDay] = Field(description="every day of the range")
    peakHours: list[PeakHour]
    users: NonNegative = Field(description="users who asked for a headshot in the range")
    activeUsers: NonNegative = Field(description="users with an activity event in the range")
    requests: NonNegative = Field(description="batches and single generates in the range")
    headshots: NonNegative
    repeatUserRate: Share = Field(description="users with 2+ requests / users")
    averageHeadshotsPerUser: float | None
    averageRequestsPerUser: float | None
    favoriteUsageRate: Share = Field(description="users with a favorite / users")
    historyViewRate: Share = Field(description="users who opened their history / active users")
    processingTime: ProcessingTimes = Field(description="rounds completed in the range")
    failuresByCode: dict[str, int] = Field(description="failed rounds, cancels too")
    styleChoice: list[StyleChoice]
    funnel: Funnel = Field(description="headshots started, completed, downloaded, shared")


class FailureItem(Body):
    id: int = Field(ge=1, description="the headshot")
    userId: int
    style: str
    errorCode: str | None
    errorMessage: str | None
    completedAt: Timestamp | None = Field(description="when it failed")
    refunded: bool = Field(description="its credits came back (a failure refunds itself)")


class Failures(Body):
    data: list[FailureItem]
    nextCursor: str | None


# ---- support (API guide §14) --------------------------------------------------------------------


class LedgerHeadshot(Body):
    id: int = Field(ge=1)
    round: int | None = Field(description="the round it charged or refunded (a retry opens one)")
    style: str | None
    status: JobStatus | None
    deleted: bool


class LedgerLine(Body):
    id: int = Field(ge=1)
    type: EntryType
    amount: int
    balanceAfter: NonNegative
    description: str
    createdAt: Timestamp
    headshot: LedgerHeadshot | None = Field(description="what it paid for; null for a grant")


class SupportHeadshot(Body):
    id: int = Field(ge=1)
    style: str
    aspectRatio: AspectRatio
    status: JobStatus
    progress: Progress
    error: LastError | None
    attempts: NonNegative = Field(description="every round's together")
    attemptsThisRound: NonNegative
    retryCount: NonNegative
    creditCost: NonNegative
    creditsCharged: NonNegative = Field(description="every round's charges together")
    creditsRefunded: NonNegative
    batchId: uuid.UUID | None
    metadata: HeadshotMetadata
    createdAt: Timestamp
    startedAt: Timestamp | None
    completedAt: Timestamp | None


class SupportEvent(Body):
    id: int = Field(ge=1)
    name: str
    source: Literal["client", "service"]
    generationId: int | None
    properties: dict[str, str | int | float | bool | None]
    vouched: bool
    createdAt: Timestamp


class SupportShareLink(Body):
    id: int = Field(ge=1)
    generationId: int = Field(ge=1)
    style: str
    createdAt: Timestamp
    expiresAt: Timestamp


class WebhookDelivery(Body):
    id: int = Field(ge=1)
    messageId: str
    eventType: str
    generationId: int | None
    batchId: uuid.UUID | None
    state: Literal["pending", "delivered", "gave_up"]
    attempts: NonNegative
    createdAt: Timestamp
    nextAttemptAt: Timestamp | None = Field(description="while pending")
    deliveredAt: Timestamp | None
    gaveUpAt: Timestamp | None
    lastError: str | None


class PushDelivery(WebhookDelivery):
    deviceId: int | None = Field(description="the device it went to; it may be gone since "
                                             "(not in `devices`)")


class SupportDevice(Device):
    lastSeenAt: Timestamp = Field(description="when it was last registered (registering it "
                                              "again refreshes it)")


class LatestLedger(Body):
    data: list[LedgerLine]
    truncated: bool = Field(description="older rows exist beyond these 100, the latest")


class LatestHeadshots(Body):
    data: list[SupportHeadshot]
    truncated: bool


class LatestEvents(Body):
    data: list[SupportEvent]
    truncated: bool


class LatestShareLinks(Body):
    data: list[SupportShareLink]
    truncated: bool


class LatestDeliveries(Body):
    data: list[WebhookDelivery]
    truncated: bool


class LatestDevices(Body):
    data: list[SupportDevice]
    truncated: bool


class LatestPushDeliveries(Body):
    data: list[PushDelivery]
    truncated: bool


class UserFile(Body):
    """One user as support sees them; each list the latest 100 rows, newest first."""

    id: int = Field(ge=1)
    email: str | None
    credits: NonNegative
    totalHeadshotsGenerated: NonNegative
    totalCreditsSpent: int
    createdAt: Timestamp
    sameEmailUserIds: list[int] = Field(description="a lookup by email: the other users with "
                                                    "it (this one is the newest)")
    ledger: LatestLedger
    headshots: LatestHeadshots = Field(description="not deleted ones")
    events: LatestEvents
    shareLinks: LatestShareLinks = Field(description="live ones: neither revoked nor expired")
    webhookDeliveries: LatestDeliveries
    devices: LatestDevices = Field(description="where push notifications go (§13); never "
                                               "their endpoints, tokens or keys")
    pushDeliveries: LatestPushDeliveries = Field(description="one per device and ending (§13)")


class FlagItem(Body):
    name: str = Field(description="`batch`, `export`, `share`, `push` or `style:<styleId>`")
    enabled: bool = Field(description="off: nobody, allow-list included")
    percentage: int = Field(ge=0, le=100, description="the share of users it is on for, by "
                                                      "a stable hash of the user's id (§14)")
    users: list[int] = Field(description="user ids it is on for whatever the percentage")
    updatedAt: Timestamp | None = Field(description="null: never set, on for everyone")
    updatedBy: int | None = Field(description="the operator who last set it")


class FlagList(Body):
    data: list[FlagItem]


class CreditsGranted(Body):
    userId: int = Field(ge=1)
    balance: NonNegative


# ---- operations (API guide §10) -----------------------------------------------------------------


class Health(Body):
    status: Literal["ok"]


class ReadinessChecks(Body):
    postgres: str = Field(description='"ok" or "unavailable: <error>"')
    redis: str
    storage: str | None = Field(default=None, description="with an object store "
                                "(`STORAGE_BACKEND=s3`): its bucket, like the others")


CONFIGURATION_WARNINGS = ("settings an operator must fix though everything answers, e.g. a "
                          "Redis `maxmemory-policy` that may evict queued jobs")


class Ready(Body):
    status: Literal["ready"]
    checks: ReadinessChecks
    warnings: list[str] = Field(default_factory=list, description=CONFIGURATION_WARNINGS)


class NotReady(Body):
    error: ErrorDetail
    checks: ReadinessChecks
    warnings: list[str] = Field(default_factory=list, description=CONFIGURATION_WARNINGS)
