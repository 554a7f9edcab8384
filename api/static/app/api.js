// The public API as the mobile app uses it: a bearer token in a header (never in a URL), JSON
// in and out, and every error in the §3 shape {"error": {"code", "message"}} turned into words.

const TOKEN_KEY = "headshots.token";

export function token() { return sessionStorage.getItem(TOKEN_KEY); }
export function setToken(value) { sessionStorage.setItem(TOKEN_KEY, value); }
export function forgetToken() { sessionStorage.removeItem(TOKEN_KEY); }

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// What a person is told for the codes a client branches on; any other error shows the
// API's own message, which is written for people (§3).
const IN_WORDS = {
  unauthorized: "Your session has ended. Sign in again.",
  insufficient_credits: "You do not have enough credits for this. Nothing was charged.",
  rate_limited: "Too many requests in a short time.",
  too_many_streams: "Too many live views are open; this one will refresh every few seconds.",
  not_found: "This headshot no longer exists.",
  original_expired: "The original photo has been cleaned up; upload it again to retry.",
  already_finished: "This headshot has already finished.",
  not_completed: "Only a finished headshot can be shared or exported.",
  nothing_completed: "No style of this batch has finished yet.",
  unsupported_media_type: "That file is not a photo we can read (use JPEG, PNG, WebP, HEIC or AVIF).",
  image_too_large: "That photo is too large (10 MB at most).",
  payload_too_large: "That photo is too large (10 MB at most).",
  service_unavailable: "The service is busy right now; nothing was charged. Try again shortly.",
  storage_unavailable: "The service is busy right now; nothing was charged. Try again shortly.",
};

export function inWords(error) {
  if (!(error instanceof ApiError)) return "Cannot reach the service. Check your connection.";
  let text = IN_WORDS[error.code] || error.message || "Something went wrong.";
  if (error.code === "rate_limited" && error.retryAfter) {
    text += ` Try again in ${error.retryAfter} s.`;
  } else if (IN_WORDS[error.code] && error.message && error.status === 400) {
    text += ` (${error.message})`;
  }
  return text;
}

async function send(method, path, { json, form, headers = {} } = {}) {
  const options = { method, headers: { Authorization: `Bearer ${token()}`, ...headers } };
  if (json !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(json);
  } else if (form !== undefined) {
    options.body = form;
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, "network", "");
  }
  if (response.ok) return response;
  const body = await response.json().catch(() => ({}));
  const error = body.error || {};
  throw new ApiError(response.status, error.code || "", error.message || response.statusText,
                     response.headers.get("Retry-After"));
}

export async function call(method, path, options) {
  const response = await send(method, path, options);
  return response.status === 204 ? null : response.json();
}

export async function blob(path) {
  const response = await send("GET", path);
  const disposition = response.headers.get("Content-Disposition") || "";
  const named = /filename="?([^";]+)"?/.exec(disposition);
  return { blob: await response.blob(), filename: named ? named[1] : "download" };
}

// One key per user action: a generate repeated after a lost answer is not charged twice.
export function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)),
                    (b) => b.toString(16).padStart(2, "0")).join("");
}

export const api = {
  me: () => call("GET", "/api/me"),
  styles: () => call("GET", "/api/headshots/styles"),
  upload: (file) => {
    const form = new FormData();
    form.append("image", file);
    return call("POST", "/api/uploads", { form });
  },
  generate: (body) => call("POST", "/api/headshots/generate",
                           { json: body, headers: { "Idempotency-Key": idempotencyKey() } }),
  batch: (body) => call("POST", "/api/headshots/batch",
                        { json: body, headers: { "Idempotency-Key": idempotencyKey() } }),
  status: (id) => call("GET", `/api/headshots/status/${id}`),
  headshot: (id) => call("GET", `/api/headshots/history/${id}`),
  library: (favorites, cursor) => {
    const query = new URLSearchParams({ limit: "20" });
    if (cursor) query.set("cursor", cursor);
    return call("GET", `/api/headshots/${favorites ? "favorites" : "history"}?${query}`);
  },
  favorite: (id, on) => call(on ? "POST" : "DELETE", `/api/headshots/${id}/favorite`),
  share: (id) => call("POST", `/api/headshots/${id}/share`, { json: {} }),
  exportImage: (id, params) => blob(`/api/headshots/${id}/export?${new URLSearchParams(params)}`),
  retry: (id) => call("POST", `/api/headshots/${id}/retry`,
                      { headers: { "Idempotency-Key": idempotencyKey() } }),
  cancel: (id) => call("POST", `/api/headshots/${id}/cancel`),
  remove: (id) => call("DELETE", `/api/headshots/history/${id}`),
  batchOf: (batchId) => call("GET", `/api/headshots/batch/${batchId}`),
  batchZip: (batchId) => blob(`/api/headshots/batch/${batchId}/download`),
  ledger: (cursor) => call("GET", `/api/credits/history?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
  deleteMyData: () => call("DELETE", "/api/me"),
  registerDevice: (subscription) => call("POST", "/api/me/devices",
                                         { json: { platform: "web", subscription } }),
};
