// The dashboard's "Flags" view (§14): every feature flag, a switch that turns it on or off at
// once, and its rollout percentage and allow-list. A file of its own beside dashboard.js (the
// page's CSP refuses inline scripts); it calls the API through dashboard.js (window.adminPage)
// and loads the flags whenever the dashboard is shown.
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  // dashboard.js's request; a refusal said as "(status code) message" in the view's notes.
  function api(method, path, body) {
    return window.adminPage.api(method, path, body).catch(function (error) {
      if (!error.status) throw error;  // the network's, not the API's
      throw new Error("(" + error.status + " " + error.code + ") " + error.message);
    });
  }

  function say(kind, text) {
    var result = $("flags-result");
    result.className = "result " + kind;
    result.textContent = text;
  }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // "12, 40 7" -> [12, 40, 7]; anything that is not a list of ids is left to the API to refuse
  // (its 400 names the field), so the page and the API never disagree on what is valid.
  function parseUsers(text) {
    return text.split(/[\s,]+/).filter(Boolean).map(function (part) {
      return /^[0-9]+$/.test(part) ? Number(part) : part;
    });
  }

  function row(flag) {
    var tr = element("tr", { "data-flag": flag.name });
    var name = element("td");
    name.appendChild(element("code", {}, flag.name));
    tr.appendChild(name);

    var enabled = element("input", { type: "checkbox", class: "flag-enabled",
                                     "aria-label": "enabled: " + flag.name });
    enabled.checked = flag.enabled;
    var toggle = element("label", { class: "switch" });
    toggle.appendChild(enabled);
    toggle.appendChild(element("span", { class: "state" }, flag.enabled ? "on" : "off"));
    var cell = element("td");
    cell.appendChild(toggle);
    tr.appendChild(cell);

    var percentage = element("input", { type: "number", min: "0", max: "100", step: "1",
                                        class: "flag-percentage",
                                        "aria-label": "percentage: " + flag.name });
    percentage.value = String(flag.percentage);
    cell = element("td");
    cell.appendChild(percentage);
    cell.appendChild(document.createTextNode(" %"));
    tr.appendChild(cell);

    var users = element("input", { type: "text", class: "flag-users", spellcheck: "false",
                                   placeholder: "e.g. 12, 40",
                                   "aria-label": "allow-list: " + flag.name });
    users.value = flag.users.join(", ");
    cell = element("td");
    cell.appendChild(users);
    tr.appendChild(cell);

    tr.appendChild(element("td", { class: "flag-changed" }, flag.updatedAt
      ? flag.updatedAt.slice(0, 16).replace("T", " ") + " by #" + flag.updatedBy
      : "never set (on for everyone)"));

    var save = element("button", { type: "button", class: "flag-save" }, "Save");
    cell = element("td");
    cell.appendChild(save);
    tr.appendChild(cell);

    // The switch acts at once (a kill switch must not wait for a second click); the
    // percentage and the allow-list are saved with the button.
    enabled.addEventListener("change", function () {
      put(flag.name, { enabled: enabled.checked });
    });
    save.addEventListener("click", function () {
      put(flag.name, { enabled: enabled.checked, percentage: Number(percentage.value),
                       users: parseUsers(users.value) });
    });
    return tr;
  }

  function show(flags) {
    var body = $("flags-table").tBodies[0];
    body.replaceChildren();
    flags.forEach(function (flag) { body.appendChild(row(flag)); });
  }

  function load() {
    document.body.dataset.flags = "loading";
    return api("GET", "/api/admin/flags").then(function (page) {
      show(page.data);
      document.body.dataset.flags = "ready";  // what a test waits for
    }).catch(function (error) {
      document.body.dataset.flags = "error";
      say("error", "Flags not loaded " + error.message);
    });
  }

  function put(name, body) {
    say("", "Saving " + name + "…");
    document.body.dataset.flags = "saving";
    api("PUT", "/api/admin/flags/" + encodeURIComponent(name), body).then(function (flag) {
      say("ok", flag.enabled
        ? flag.name + " is now on for " + flag.percentage + " % of users" +
          (flag.users.length ? " and " + flag.users.length + " listed user(s)." : ".")
        : flag.name + " is now off for everyone.");
      return load();
    }).catch(function (error) {
      say("error", name + " not saved " + error.message);
      return load();
    });
  }

  // dashboard.js shows the dashboard once an operator has signed in: load the flags then.
  var dashboard = $("dashboard");
  new MutationObserver(function () {
    if (!dashboard.hidden) load();
  }).observe(dashboard, { attributes: true, attributeFilter: ["hidden"] });
  if (!dashboard.hidden) load();
})();
