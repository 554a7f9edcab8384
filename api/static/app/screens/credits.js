// Credits: the balance and the ledger, newest first, each entry saying what it paid for.

import { api } from "../api.js";
import { failed, refreshBalance } from "../main.js";
import { $, el, when } from "../ui.js";

let cursor = null;

const KIND = { headshot: "Paid for", refund: "Refunded", grant: "Credits added" };

export async function show() {
  const me = await refreshBalance();
  $("credits-balance").textContent = `${me.credits} credit${me.credits === 1 ? "" : "s"}`;
  $("ledger").replaceChildren();
  cursor = null;
  await loadMore();
}

async function loadMore() {
  const page = await api.ledger(cursor);
  cursor = page.nextCursor;
  $("ledger").append(...page.data.map(entry));
  if (!$("ledger").children.length) {
    $("ledger").append(el("li", { class: "hint", text: "No credit movements yet." }));
  }
  $("ledger-more").hidden = !cursor;
}

function entry(item) {
  const amount = item.amount > 0 ? `+${item.amount}` : `${item.amount}`;
  const what = el("span", { class: "what" },
    el("strong", { text: KIND[item.type] || item.type }), " ",
    (item.description || "").replace(new RegExp(`^${item.type}:\\s*`, "i"), ""));
  if (item.generationId) {
    what.append(" · ", el("a", { href: `#/headshot/${item.generationId}`,
                                 text: `headshot #${item.generationId}` }));
  }
  return el("li", { class: item.amount > 0 ? "credit" : "debit" },
    what,
    el("span", { class: "amount", text: amount, "aria-label": `${amount} credits` }),
    el("span", { class: "hint", text: `${when(item.createdAt)} · balance ${item.balanceAfter}` }));
}

$("ledger-more").addEventListener("click", () => loadMore().catch(failed));
