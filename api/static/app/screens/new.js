// New headshot: a selfie (file or camera), one style or several, an aspect ratio. The cost of
// what is picked is weighed against the balance BEFORE anything is sent, so a person short of
// credits is told so and nothing is uploaded or charged. One style is a generate, several a
// batch (§6); then the progress screen follows it.

import { api } from "../api.js";
import { failed, go, refreshBalance } from "../main.js";
import { offerNotifications } from "../push.js";
import { $, el, notify, showError, styleName } from "../ui.js";

let styles = [];
let balance = 0;
let previewUrl = null;

export async function show() {
  const [list, me] = await Promise.all([api.styles(), refreshBalance()]);
  styles = list.data;
  balance = me.credits;
  const box = $("styles");
  const picked = new Set(Array.from(box.querySelectorAll("input:checked"), (input) => input.value));
  box.replaceChildren(...styles.map((style, index) => {
    const id = `style-${style.id}`;
    const input = el("input", { type: "checkbox", id, name: "style", value: style.id,
                                "aria-describedby": `${id}-about` });
    input.checked = picked.size ? picked.has(style.id) : index === 0;
    return el("div", { class: "style" }, input,
      el("label", { for: id },
        el("strong", { text: style.name || styleName(style.id) }),
        el("span", { class: "price", text: ` ${style.creditCost} credit${style.creditCost === 1 ? "" : "s"}` })),
      el("p", { class: "hint", id: `${id}-about`, text: style.description || "" }));
  }));
  updateCost();
}

function chosenStyles() {
  return Array.from($("styles").querySelectorAll("input:checked"), (input) => input.value);
}

function totalCost() {
  const chosen = new Set(chosenStyles());
  return styles.filter((style) => chosen.has(style.id))
    .reduce((sum, style) => sum + style.creditCost, 0);
}

function updateCost() {
  const cost = totalCost();
  const count = chosenStyles().length;
  const line = $("cost");
  const short = cost > balance;
  line.classList.toggle("short", short);
  if (!count) {
    line.textContent = `Pick at least one style. Balance: ${balance} credits.`;
  } else if (short) {
    line.textContent = `This costs ${cost} credits and you have ${balance}: not enough. ` +
      "Pick fewer styles or get more credits. Nothing has been charged.";
  } else {
    line.textContent = `Cost: ${cost} credit${cost === 1 ? "" : "s"} · balance: ${balance} ` +
      `→ ${balance - cost} after.`;
  }
  $("generate").disabled = !count || short;
  $("generate").textContent = count > 1 ? `Generate ${count} styles` : "Generate";
}

$("styles").addEventListener("change", updateCost);

$("selfie").addEventListener("change", () => {
  const file = $("selfie").files[0];
  const preview = $("selfie-preview");
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = file ? URL.createObjectURL(file) : null;
  preview.hidden = !file;
  if (file) preview.src = previewUrl;
});

$("new-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const file = $("selfie").files[0];
  const chosen = chosenStyles();
  if (!file) {
    showError("Choose a selfie first: upload a photo or take one.");
    $("selfie").focus();
    return;
  }
  if (!chosen.length || totalCost() > balance) {
    updateCost();
    return;
  }
  const button = $("generate");
  button.disabled = true;
  try {
    notify("Uploading your selfie…");
    const upload = await api.upload(file);
    const body = { imageUrl: upload.imageUrl, aspectRatio: $("aspect-ratio").value };
    let next;
    if (chosen.length === 1) {
      const job = await api.generate({ ...body, style: chosen[0] });
      next = `#/progress/${job.id}`;
    } else {
      const accepted = await api.batch({ ...body, styles: chosen });
      next = `#/progress/batch/${accepted.batchId}`;
    }
    notify("");
    refreshBalance().catch(() => {});
    go(next);
    offerNotifications();  // after the first generate: now the question makes sense
  } catch (error) {
    notify("");
    failed(error);
  } finally {
    button.disabled = false;
    updateCost();
  }
});
