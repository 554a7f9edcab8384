// A batch's results side by side (one per style, §6), and all of them as one ZIP.

import { api } from "../api.js";
import { failed } from "../main.js";
import { $, el, notify, saveBlob, styleName } from "../ui.js";

let batchId = null;

export async function show(params) {
  batchId = params[0];
  const batch = await api.batchOf(batchId);
  const done = batch.generations.filter((job) => job.status === "completed").length;
  $("batch-state").textContent =
    `${done} of ${batch.generations.length} styles ready (${batch.status}).`;
  $("batch-grid").replaceChildren(...batch.generations.map((job) => {
    const name = `${styleName(job.style)}`;
    const result = (job.resultUrls || [])[0];
    const picture = result
      ? el("img", { src: result, alt: `${name} headshot` })
      : el("span", { class: `placeholder ${job.status}`, text: job.status });
    return el("li", { "data-style": job.style },
      el("a", { href: `#/headshot/${job.id}` }, picture, el("span", { class: "caption", text: name })));
  }));
  $("batch-zip").disabled = done === 0;
}

$("batch-zip").addEventListener("click", async () => {
  try {
    const file = await api.batchZip(batchId);
    saveBlob(file);
    notify(`Downloaded ${file.filename}.`);
  } catch (error) {
    failed(error);
  }
});
