// One headshot: full size, before/after with a slider (an <input type=range> over two stacked
// images: draggable, swipeable and keyboard-operable), favorite, share, export, download, and
// what its state allows: retry a failed one, cancel a running one, delete (after a question).

import { api } from "../api.js";
import { failed, go, refreshBalance } from "../main.js";
import { $, confirmAction, notify, saveBlob, sentence, styleName, when } from "../ui.js";

const RUNNING = new Set(["queued", "processing"]);
let headshot = null;

export async function show(params) {
  headshot = await api.headshot(params[0]);
  render();
}

export function leave() { headshot = null; }

function render() {
  const h = headshot;
  const result = (h.resultUrls || [])[0] || null;
  $("headshot-title").textContent = `${styleName(h.style)} headshot`;
  const state = {
    completed: `Made ${when(h.completedAt)} · ${h.aspectRatio} · ${h.creditCost} credit${h.creditCost === 1 ? "" : "s"}`,
    failed: h.error && h.error.code === "cancelled"
      ? "Cancelled; the credits were refunded."
      : `Failed: ${sentence((h.error && h.error.message) || "unknown error")} ` +
        "The credits were refunded.",
    queued: "Waiting in the queue…",
    processing: `Generation in progress… ${h.progress} %`,
  }[h.status];
  $("headshot-state").textContent = state || h.status;
  document.body.dataset.headshotStatus = h.status;

  const comparable = Boolean(result && h.beforeImageUrl);
  $("compare").hidden = !comparable;
  if (comparable) {
    $("compare-before").src = h.beforeImageUrl;
    $("compare-after").src = result;
    $("compare").dataset.ratio = h.aspectRatio;
    setSplit(Number($("compare-slider").value));
  }
  $("headshot-full").hidden = !result || comparable;
  if (result) {
    $("headshot-full").src = result;
    $("headshot-full").alt = `${styleName(h.style)} headshot`;
  }

  const favorite = $("favorite");
  favorite.setAttribute("aria-pressed", String(h.isFavorite));
  favorite.textContent = h.isFavorite ? "★ Favorite" : "☆ Favorite";
  favorite.hidden = h.status !== "completed";
  $("download").hidden = !result;
  if (result) {
    $("download").href = result;
    $("download").setAttribute("download", `headshot-${h.id}.jpg`);
  }
  $("share").hidden = h.status !== "completed";
  $("export-form").hidden = h.status !== "completed";
  $("share-box").hidden = true;
  $("retry").hidden = h.status !== "failed";
  $("cancel").hidden = !RUNNING.has(h.status);
  $("watch").hidden = !RUNNING.has(h.status);
  $("watch").href = `#/progress/${h.id}`;
  $("batch-link").hidden = !h.batchId;
  if (h.batchId) $("batch-link").firstElementChild.href = `#/batch/${h.batchId}`;
}

function setSplit(value) {
  // The after image shows right of the divider; a CSS variable set through the CSSOM, which
  // the page's CSP (no inline style attributes) allows.
  $("compare").style.setProperty("--split", `${value}%`);
  $("compare-slider").setAttribute("aria-valuetext", `${100 - value} % after`);
}

$("compare-slider").addEventListener("input", (event) => setSplit(Number(event.target.value)));

async function act(work) {
  try {
    await work();
  } catch (error) {
    failed(error);
  }
}

$("favorite").addEventListener("click", () => act(async () => {
  headshot = await api.favorite(headshot.id, !headshot.isFavorite);
  render();
  notify(headshot.isFavorite ? "Added to favorites." : "Removed from favorites.");
}));

$("share").addEventListener("click", () => act(async () => {
  const link = await api.share(headshot.id);
  $("share-url").value = link.shareUrl;
  $("share-box").hidden = false;
  notify(`Share link ready, valid until ${when(link.expiresAt)}.`);
  if (navigator.share) {
    navigator.share({ title: "My headshot", url: link.shareUrl }).catch(() => {});
  }
}));

$("copy-link").addEventListener("click", async () => {
  const input = $("share-url");
  try {
    await navigator.clipboard.writeText(input.value);
    notify("Link copied.");
  } catch {
    input.select();  // the person copies it themselves
    notify("Select the link and copy it.");
  }
});

$("export-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act(async () => {
    const params = { format: $("export-format").value };
    if ($("export-size").value) params.size = $("export-size").value;
    if ($("export-watermark").value) params.watermark = $("export-watermark").value;
    const file = await api.exportImage(headshot.id, params);
    saveBlob(file);
    notify(`Exported ${file.filename}.`);
  });
});

$("retry").addEventListener("click", () => act(async () => {
  const job = await api.retry(headshot.id);
  refreshBalance().catch(() => {});
  go(`#/progress/${job.id}`);
}));

$("cancel").addEventListener("click", () => act(async () => {
  try {
    headshot = await api.cancel(headshot.id);
  } catch (error) {
    if (error.code !== "rate_limited") throw error;
    notify("This headshot is already being made and will arrive shortly.");
    return;
  }
  render();
  refreshBalance().catch(() => {});
  notify("Cancelled; the credits are back on your balance.");
}));

$("delete").addEventListener("click", () => act(async () => {
  const running = RUNNING.has(headshot.status);
  const question = running
    ? "Delete this headshot? It is still being made: it will be cancelled and refunded."
    : "Delete this headshot for good? Its images and its share link go too.";
  if (!(await confirmAction(question))) return;
  await api.remove(headshot.id);
  go("#/library", "Headshot deleted.");
}));
