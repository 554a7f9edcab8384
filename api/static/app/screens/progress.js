// Progress: the percentage, the place in the queue, the ETA, live. Each headshot is followed
// by the stream when its object carries `statusStreamUrl` (a signed URL an EventSource can
// open: EventSource cannot send an Authorization header), else by polling its status every
// 1.5 s (§6). A batch shows one row per style; the page links to the results when all ended.

import { api, inWords } from "../api.js";
import { failed, refreshBalance } from "../main.js";
import { $, el, notify, seconds, sentence, styleName } from "../ui.js";

const POLL_MS = 1500;
const ENDED = new Set(["completed", "failed"]);
let trackers = [];
let batchId = null;

export async function show(params) {
  $("progress-done").hidden = true;
  $("progress-list").replaceChildren();
  let jobs;
  if (params[0] === "batch") {
    batchId = params[1];
    jobs = (await api.batchOf(batchId)).generations;
  } else {
    batchId = null;
    jobs = [await api.headshot(params[0])];
  }
  $("progress-title").textContent = jobs.length > 1
    ? "Your headshots are on their way" : "Your headshot is on its way";
  trackers = jobs.map((job) => new Tracker(job));
  $("progress-list").replaceChildren(...trackers.map((tracker) => tracker.row));
  describeTransport();
  checkAllEnded();
}

export function leave() {
  for (const tracker of trackers) tracker.stop();
  trackers = [];
}

function describeTransport() {
  const streamed = trackers.filter((tracker) => tracker.source).length;
  $("progress-transport").textContent = streamed
    ? "Live updates from the service."
    : "Checking every 1.5 seconds.";
}

function checkAllEnded() {
  if (!trackers.length || !trackers.every((tracker) => tracker.ended)) return;
  const link = $("progress-done");
  if (batchId) {
    link.href = `#/batch/${batchId}`;
    link.textContent = "See the results side by side";
  } else {
    const only = trackers[0];
    link.href = `#/headshot/${only.id}`;
    link.textContent = only.status === "completed" ? "See your headshot" : "See what happened";
  }
  link.hidden = false;
  refreshBalance().catch(() => {});
}

class Tracker {
  constructor(job) {
    this.id = job.id;
    this.style = job.style;
    this.status = job.status;
    this.ended = false;
    this.timer = null;
    this.source = null;
    const label = `${styleName(job.style)} headshot`;
    this.bar = el("progress", { max: "100", value: "0", "aria-label": `${label} progress` });
    this.percent = el("span", { class: "percent", text: "0 %" });
    this.line = el("p", { class: "state" });
    this.detail = el("p", { class: "hint" });
    this.cancelButton = el("button", { type: "button", class: "secondary small",
                                       text: "Cancel", "aria-label": `Cancel the ${label}` });
    this.cancelButton.addEventListener("click", () => this.cancel());
    this.row = el("article", { class: "progress-row card", "data-id": job.id },
      el("h2", { text: label }),
      el("div", { class: "meter" }, this.bar, this.percent),
      this.line, this.detail, this.cancelButton);
    this.render(job);
    if (ENDED.has(job.status)) return;
    if (job.statusStreamUrl && "EventSource" in window) this.stream(job.statusStreamUrl);
    else this.poll();
  }

  render(status) {
    this.status = status.status;
    const progress = status.progress ?? 0;
    this.bar.value = progress;
    this.percent.textContent = `${progress} %`;
    this.row.dataset.progress = String(progress);
    this.row.dataset.status = status.status;
    let line;
    let detail = "";
    if (status.status === "completed") {
      line = "Done!";
    } else if (status.status === "failed") {
      line = status.error && status.error.code === "cancelled"
        ? "Cancelled. Your credits were refunded."
        : `It failed: ${sentence((status.error && status.error.message) || "unknown error")} ` +
          "Your credits were refunded.";
    } else {
      line = "Generation in progress…";
      const parts = [];
      if (status.queuePosition) {
        parts.push(`${status.queuePosition} ahead of you in the queue`);
      } else if (status.status === "queued") {
        parts.push("next in line");
      }
      if (status.etaSeconds !== null && status.etaSeconds !== undefined) {
        parts.push(`ready in ${seconds(status.etaSeconds)}`);
      }
      detail = parts.join(" · ");
    }
    this.line.textContent = line;
    this.detail.textContent = detail;
    this.cancelButton.hidden = ENDED.has(status.status);
    if (ENDED.has(status.status) && !this.ended) {
      this.ended = true;
      this.stop();
      checkAllEnded();
    }
  }

  stream(url) {
    this.source = new EventSource(url);
    this.source.addEventListener("status", (event) => this.render(JSON.parse(event.data)));
    // While CONNECTING the browser reconnects by itself (with Last-Event-ID). CLOSED means
    // the service refused the stream (429 too_many_streams, an expired URL's 404) or the job
    // had ended: polling takes over, and the first status it reads says which.
    this.source.addEventListener("error", () => {
      if (!this.source || this.source.readyState !== EventSource.CLOSED) return;
      this.source = null;
      describeTransport();
      if (!this.ended) this.poll();
    });
  }

  poll() {
    const tick = async () => {
      try {
        this.render(await api.status(this.id));
      } catch (error) {
        if (error.status === 401 || error.status === 404) {
          failed(error);
          return;
        }
        // A passing error (429, 503, the network) is said and polling goes on.
        this.detail.textContent = inWords(error);
      }
      if (!this.ended && trackers.includes(this)) this.timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  async cancel() {
    try {
      this.render(await api.cancel(this.id));
      notify("Cancelled; the credits are back on your balance.");
    } catch (error) {
      if (error.code === "rate_limited") {
        notify("This headshot is already being made and will arrive shortly.");
      } else {
        failed(error);
      }
    }
  }

  stop() {
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }
}
