"""A fake GetImg.ai v2 server for tests and the demo: `python -m fakes.getimg --port N`.

It speaks the documented wire format (https://docs.getimg.ai/api-reference/images/generate-an-image,
/guides/errors, /guides/rate-limits, /guides/media-responses, and the official SDK
getimg-ai/getimg-python `types/image_generate_params.py`, `image_generate_response.py`,
`usage.py`, `model_retrieve_response.py`, `billing_retrieve_balance_response.py`):
- `POST /v2/images/generations`, `Authorization: Bearer sk_...` (any `sk_` key; else 401
  `invalid_api_key`). Body <= 25 MiB; `images[].url` must be a data URL (bare base64 and remote
  URLs are refused here) of a PNG/JPEG/WebP <= 10 MiB decoded. Answers `{id: "req-<hex>",
  status, model, data: [{url, width, height, mime_type, deletes_at}], usage: {...}}`.
- Errors: `{"error": {message, type, param, code, doc_url}}` (parameter_missing,
  invalid_parameter, invalid_api_key, quota_exceeded, content_policy_violation, rate_limit).
- `X-RateLimit-Limit/-Remaining/-Reset` on every /v2 response; per-key requests-per-minute and
  concurrency limits answer 429 `rate_limit` with `Retry-After`.
- `GET /v2/downloads/<req-id>/<index>?exp=&sig=`: HMAC-signed, 403 on a bad signature, 410 once
  expired. `GET /v2/models` (a bare list, as the SDK types it), `GET /v2/models/<id>`,
  `GET /v2/billing/balance` (`{"balance": "<decimal>", "currency": "USD"}`).

The image is real: the first input image cropped to the aspect ratio (long side 1024 for 1K,
2048 for 2K) with a tint, vignette and border whose colours derive from a hash of the prompt.

Knobs (see DEFAULTS) are set at start from `GETIMG_FAKE_CONFIG` (JSON), `GETIMG_FAKE_<KNOB>`
env vars or `--<knob>` flags, and at runtime through `POST /_fake/config` (merged),
`POST /_fake/reset` (back to start-up config, stats cleared) and `GET /_fake/stats`.
Each generation takes its outcome from the `script` list if any is left, else fails with
`fail_status` at `fail_rate`, else draws from the weighted `mix` (seeded by `seed`), else "ok".

Modules: `wire` (request validation, error format), `state` (knobs, limits, stats, results),
`imaging` (the output picture), `app` (the routes), `__main__` (the command line; served by
gevent's WSGI server, which keeps connections alive, HTTP/1.1, as GetImg does).
"""

from fakes.getimg.app import create_app
from fakes.getimg.state import DEFAULTS, OUTCOMES, coerce_knob

__all__ = ["DEFAULTS", "OUTCOMES", "coerce_knob", "create_app"]
