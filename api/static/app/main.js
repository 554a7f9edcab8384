// The web client's shell: sign-in, the hash router and the navigation. Each screen is a module
// of its own (screens/*.js) with `show(params)` and, when it keeps something running, `leave()`.
// Hash routes keep the page one document the service serves at /app; no token is in them.

import { api, forgetToken, inWords, setToken, token } from "./api.js";
import { $, clearMessages, notify, showError } from "./ui.js";
import * as account from "./screens/account.js";
import * as batch from "./screens/batch.js";
import * as credits from "./screens/credits.js";
import * as headshot from "./screens/headshot.js";
import * as library from "./screens/library.js";
import * as newHeadshot from "./screens/new.js";
import * as progress from "./screens/progress.js";

// "#/headshot/12" -> the headshot screen with ["12"]. The plural names are those of a push
// notification's `url` (§13: /app/#/headshots/{id}, /app/#/batches/{batchId}).
const ROUTES = {
  new: newHeadshot,
  progress,
  library,
  headshot,
  headshots: headshot,
  batch,
  batches: batch,
  credits,
  account,
};
const SCREEN_OF = { headshots: "headshot", batches: "batch" };

let current = null;
let pendingNotice = "";

// Opens a screen; `notice` is said on it (what just happened on the screen left).
export function go(hash, notice = "") {
  pendingNotice = notice;
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  if (current && current.leave) current.leave();
  current = null;
  clearMessages();
  notify(pendingNotice);
  pendingNotice = "";
  const [name, ...params] = location.hash.replace(/^#\/?/, "").split("/");
  const screenName = token() ? (ROUTES[name] ? SCREEN_OF[name] || name : "new") : "sign-in";
  for (const section of document.querySelectorAll(".screen")) {
    section.hidden = section.id !== `screen-${screenName}`;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.screen === screenName) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  $("nav").hidden = !token();
  const section = $(`screen-${screenName}`);
  document.title = `${section.dataset.title} · Headshots`;
  document.body.dataset.screen = screenName;
  document.body.dataset.state = "loading";
  if (screenName === "sign-in") {
    document.body.dataset.state = "ready";
    $("token").focus();
    return;
  }
  current = ROUTES[screenName];
  try {
    await current.show(params.map(decodeURIComponent));
  } catch (error) {
    failed(error);
  }
  document.body.dataset.state = "ready";
}

// A refused token sends the person back to sign in; any other error is said in words.
export function failed(error) {
  if (error && error.status === 401) {
    signOut(inWords(error));
    return;
  }
  showError(inWords(error));
}

export function signOut(reason) {
  forgetToken();
  go("#/sign-in");
  if (reason) setTimeout(() => showError(reason), 0);
}

export async function refreshBalance() {
  const me = await api.me();
  $("nav-balance").textContent = `${me.credits}`;
  $("nav-balance").setAttribute("aria-label", `${me.credits} credits`);
  return me;
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = $("token").value.trim().replace(/^Bearer\s+/i, "");
  if (!value) return;
  setToken(value);
  $("token").value = "";
  try {
    await refreshBalance();  // the token is checked by the service, not by this page
  } catch (error) {
    forgetToken();
    showError(error.status === 401 ? "That token was refused. Check it and try again." : inWords(error));
    return;
  }
  go(location.hash && !location.hash.startsWith("#/sign-in") ? location.hash : "#/new");
});

window.addEventListener("hashchange", route);
if (token()) refreshBalance().catch(failed);
route();
