// My Headshots: a grid of thumbnails, newest first, paged by `nextCursor` as the person
// scrolls (an IntersectionObserver on a sentinel below the grid; a "Load more" button too, for
// keyboards and screen readers), a favorites filter, and the counters /api/me keeps.

import { api } from "../api.js";
import { failed, refreshBalance } from "../main.js";
import { $, el, styleName, when } from "../ui.js";

let cursor = null;
let loading = false;
let exhausted = false;
let generation = 0;  // a newer listing discards the answers of an older one
const observer = new IntersectionObserver((entries) => {
  if (entries.some((entry) => entry.isIntersecting)) loadMore();
}, { rootMargin: "400px" });

export async function show() {
  const me = await refreshBalance();
  const made = me.totalHeadshotsGenerated;
  $("library-counter").textContent =
    `You've generated ${made} headshot${made === 1 ? "" : "s"} · ` +
    `${me.totalCreditsSpent} credit${me.totalCreditsSpent === 1 ? "" : "s"} spent`;
  await restart();
  observer.observe($("library-sentinel"));
}

export function leave() {
  observer.disconnect();
  generation += 1;
}

async function restart() {
  generation += 1;
  cursor = null;
  exhausted = false;
  loading = false;
  $("grid").replaceChildren();
  $("library-empty").hidden = true;
  await loadMore();
}

async function loadMore() {
  if (loading || exhausted) return;
  loading = true;
  const mine = generation;
  try {
    const page = await api.library($("favorites-only").checked, cursor);
    if (mine !== generation) return;
    cursor = page.nextCursor;
    exhausted = !cursor;
    $("grid").append(...page.data.map(tile));
    $("library-empty").hidden = $("grid").children.length > 0;
    $("library-more").hidden = exhausted;
    document.body.dataset.loaded = String($("grid").children.length);
  } catch (error) {
    failed(error);
  } finally {
    if (mine === generation) loading = false;
  }
}

function tile(headshot) {
  const name = `${styleName(headshot.style)} headshot, ${when(headshot.createdAt)}`;
  const picture = headshot.thumbnailUrl
    ? el("img", { src: headshot.thumbnailUrl, alt: "", loading: "lazy" })
    : el("span", { class: `placeholder ${headshot.status}`, text: statusWord(headshot.status) });
  return el("li", { "data-id": headshot.id },
    el("a", { href: `#/headshot/${headshot.id}`, "aria-label":
              `${name}${headshot.isFavorite ? ", favorite" : ""}${headshot.status === "completed" ? "" : `, ${statusWord(headshot.status)}`}` },
      picture,
      headshot.isFavorite ? el("span", { class: "star", "aria-hidden": "true", text: "★" }) : ""));
}

function statusWord(status) {
  return { queued: "queued", processing: "in progress", failed: "failed" }[status] || status;
}

$("favorites-only").addEventListener("change", () => restart());
$("library-more").addEventListener("click", () => loadMore());
