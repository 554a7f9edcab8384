// The small DOM helpers every screen shares: messages, the confirm dialog, downloads, dates.

export const $ = (id) => document.getElementById(id);

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

// An error in words, at the top of the screen, announced (role=alert).
export function showError(text) {
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
  if (text) box.scrollIntoView({ block: "nearest" });
}

// A short confirmation of what just happened (role=status, polite).
export function notify(text) { $("notice").textContent = text; }

export function clearMessages() { showError(""); notify(""); }

// A modal question; resolves to true when the person confirms.
export function confirmAction(question, yesLabel = "Delete") {
  const dialog = $("confirm");
  $("confirm-text").textContent = question;
  $("confirm-yes").textContent = yesLabel;
  return new Promise((resolve) => {
    const answer = (yes) => (event) => {
      event.preventDefault();
      cleanup();
      dialog.close();
      resolve(yes);
    };
    const yes = answer(true);
    const no = answer(false);
    const escape = () => { cleanup(); resolve(false); };
    function cleanup() {
      $("confirm-yes").removeEventListener("click", yes);
      $("confirm-no").removeEventListener("click", no);
      dialog.removeEventListener("cancel", escape);
    }
    $("confirm-yes").addEventListener("click", yes);
    $("confirm-no").addEventListener("click", no);
    dialog.addEventListener("cancel", escape);
    dialog.showModal();
    $("confirm-no").focus();
  });
}

// Saves a blob the API answered (export, ZIP) under its Content-Disposition name.
export function saveBlob({ blob, filename }) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "";
}

export function styleName(id) {
  return id ? id.charAt(0).toUpperCase() + id.slice(1) : "";
}

export function seconds(total) {
  if (total === null || total === undefined) return "";
  return total < 60 ? `about ${Math.max(1, Math.round(total))} s` : `about ${Math.round(total / 60)} min`;
}

// "It failed: <message>." without doubling the message's own full stop.
export function sentence(text) { return `${text.replace(/[.\s]+$/, "")}.`; }
