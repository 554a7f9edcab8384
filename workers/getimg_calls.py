"""Which GetImg calls are billed, as the worker reads GetImg's answer, and the call's row in the
ledger (docs/getimg.md "What a call costs").

GetImg bills a generation it accepted. An answer with images is billed at its reported cost
(after that, whatever becomes of the images: a failed download or a cancel, the call is paid).
A call GetImg accepted but never answered to us is assumed billed: abandoned on a cancel (§6),
timed out, or answered 200 in a shape we cannot read. A refusal (4xx), a 429, a 5xx or a call
that never connected is not billed: GetImg made no image.

An answered call's row rides on the attempt's completion (one transaction, as before the
ledger); if the attempt does not complete, `write_pending` writes it on its own. A call that
ended without images is written at once, in a transaction of its own (those are rare).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from models.clock import utcnow
from models.getimg_calls import ABANDONED, ANSWERED, CallRow
from services.getimg_calls import record_call
from services.jobs import Claimed
from workers.getimg_client import GenerationResponse
from workers.getimg_errors import MALFORMED, TIMEOUT

log = logging.getLogger(__name__)

BILLED_WITHOUT_A_PRICE = frozenset({ABANDONED, TIMEOUT, MALFORMED})


class CallRecord:
    """One generation call of an attempt: started when made, its row written once."""

    def __init__(self, job: Claimed, *, resolution: str, output_format: str) -> None:
        self.job = job
        self.resolution = resolution
        self.output_format = output_format
        self.started_at = utcnow()
        # An answered call's row until the completion (or `write_pending`) takes it.
        self.pending: CallRow | None = None

    def answered(self, response: GenerationResponse) -> None:
        cost = None if response.total_cost is None else Decimal(str(response.total_cost))
        self.pending = self._row(ANSWERED, billed=True, cost=cost,
                                 request_id=response.request_id)

    def ended_without_images(self, outcome: str) -> None:
        """GetImg's error code, or ABANDONED: written now."""
        self._write(self._row(outcome, billed=outcome in BILLED_WITHOUT_A_PRICE, cost=None,
                              request_id=None))

    def write_pending(self) -> None:
        """The answered call's row, if the completion did not take it."""
        if self.pending is not None:
            row, self.pending = self.pending, None
            self._write(row)

    def _row(self, outcome: str, *, billed: bool, cost: Decimal | None,
             request_id: str | None) -> CallRow:
        job = self.job
        return CallRow(generation_id=job.id, attempt=job.attempt, style=job.style,
                       model=job.model, resolution=self.resolution,
                       output_format=self.output_format, outcome=outcome, billed=billed,
                       cost=cost, request_id=request_id, started_at=self.started_at,
                       ended_at=utcnow())

    def _write(self, row: CallRow) -> None:
        # Never the attempt's failure: a lost row is a cost missing from the figures, while an
        # exception here would send the job back to GetImg for another paid call.
        try:
            record_call(row)
        except Exception:
            log.exception("job %s attempt %s: could not record its GetImg call (%s)",
                          self.job.id, self.job.attempt, row.outcome)
