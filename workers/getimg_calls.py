"""Which GetImg calls are billed, as the worker reads GetImg's answer, and the call's row in the
ledger (docs/getimg.md "What a call costs").

GetImg bills a generation it accepted. An answer with images is billed at its reported cost
(after that, whatever becomes of the images: a failed download or a cancel, the call is paid).
A call GetImg accepted but never answered to us is assumed billed: abandoned on a cancel (§6),
timed out, or answered 200 in a shape we cannot read. A refusal (4xx), a 429, a 5xx or a call
that never connected is not billed: GetImg made no image.
"""

from __future__ import annotations

import logging

from models.clock import utcnow
from models.getimg_calls import ABANDONED, ANSWERED
from services.getimg_calls import record_call
from services.jobs import Claimed
from workers.getimg_client import GenerationResponse
from workers.getimg_errors import MALFORMED, TIMEOUT

log = logging.getLogger(__name__)

BILLED_WITHOUT_A_PRICE = frozenset({ABANDONED, TIMEOUT, MALFORMED})


class CallRecord:
    """One generation call of an attempt: started when made, written once when it ends."""

    def __init__(self, job: Claimed, *, resolution: str, output_format: str) -> None:
        self.job = job
        self.resolution = resolution
        self.output_format = output_format
        self.started_at = utcnow()

    def answered(self, response: GenerationResponse) -> None:
        self._write(ANSWERED, billed=True, cost=response.total_cost,
                    request_id=response.request_id)

    def ended_without_images(self, outcome: str) -> None:
        """GetImg's error code, or ABANDONED."""
        self._write(outcome, billed=outcome in BILLED_WITHOUT_A_PRICE, cost=None,
                    request_id=None)

    def _write(self, outcome: str, *, billed: bool, cost: float | None,
               request_id: str | None) -> None:
        # Never the attempt's failure: a lost row is a cost missing from the figures, while an
        # exception here would send the job back to GetImg for another paid call.
        try:
            record_call(generation_id=self.job.id, attempt=self.job.attempt,
                        style=self.job.style, model=self.job.model,
                        resolution=self.resolution, output_format=self.output_format,
                        outcome=outcome, billed=billed, cost=cost, request_id=request_id,
                        started_at=self.started_at, ended_at=utcnow())
        except Exception:
            log.exception("job %s attempt %s: could not record its GetImg call (%s)",
                          self.job.id, self.job.attempt, outcome)
