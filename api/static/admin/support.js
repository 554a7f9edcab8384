// The dashboard's Support view (§14): find one user by id or email and show what a ticket needs:
// the balance, the headshots with their failures and refunds, the ledger with what each entry
// paid for, the events, the live share links, the webhook deliveries, the devices push
// notifications go to and those notifications' deliveries. A file of its own (the
// page's CSP refuses inline scripts); it uses the operator's token that dashboard.js keeps in
// sessionStorage, and every lookup it makes is written to the audit log by the API.
(function () {
  "use strict";

  var TOKEN_KEY = "headshots.adminToken";  // dashboard.js signs in and keeps it there

  function $(id) { return document.getElementById(id); }

  function lookup(query) {
    var path = /^[0-9]+$/.test(query)
      ? "/api/admin/users/" + encodeURIComponent(query)
      : "/api/admin/users?email=" + encodeURIComponent(query);
    return fetch(path, {
      headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) },
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (response.ok) return json;
        var error = json.error || {};
        throw { status: response.status, code: error.code || "",
          message: error.message || response.statusText };
      });
    });
  }

  // ---- drawing ------------------------------------------------------------------------------

  var when = window.adminPage.when;  // dashboard.js's, like badge
  var badge = window.adminPage.badge;

  // Cells are set with textContent: emails, errors and descriptions are data, never markup.
  function fillTable(id, rows, cellsOf, empty, classOf) {
    var table = $(id);
    var body = table.tBodies[0];
    body.replaceChildren();
    if (rows.length === 0) {
      var cell = body.insertRow().insertCell();
      cell.colSpan = table.tHead.rows[0].cells.length;
      cell.className = "empty";
      cell.textContent = empty;
      return;
    }
    rows.forEach(function (item) {
      var row = body.insertRow();
      if (classOf) row.className = classOf(item);
      row.dataset.id = item.id;
      cellsOf(item).forEach(function (value) {
        var cell = row.insertCell();
        if (value instanceof Node) cell.appendChild(value); else cell.textContent = value;
      });
    });
  }

  function note(id, list) {
    $(id).textContent = list.truncated ? "(the latest " + list.data.length + "; older ones " +
      "exist)" : "(" + list.data.length + ")";
  }

  var STATUS_KIND = { completed: "ok", failed: "code", queued: "warn", processing: "warn" };

  function showHeadshots(list) {
    note("support-headshots-note", list);
    fillTable("support-headshots", list.data, function (h) {
      return ["#" + h.id, h.style, badge(h.status, STATUS_KIND[h.status] || "warn"),
        h.error ? h.error.code + ": " + h.error.message : "", h.attempts,
        h.creditsCharged, h.creditsRefunded
          ? badge(h.creditsRefunded + " refunded", "ok") : "0",
        when(h.createdAt), when(h.completedAt)];
    }, "No headshots.", function (h) { return h.status === "failed" ? "failed" : ""; });
  }

  function paidFor(headshot) {
    if (!headshot) return "–";
    return "#" + headshot.id + " " + (headshot.style || "?") + " (" + (headshot.status || "?") +
      (headshot.deleted ? ", deleted" : "") + ")";
  }

  function showLedger(list) {
    note("support-ledger-note", list);
    fillTable("support-ledger", list.data, function (e) {
      return [when(e.createdAt), badge(e.type, e.type === "refund" ? "ok" : "plain"),
        (e.amount > 0 ? "+" : "") + e.amount, e.balanceAfter, paidFor(e.headshot),
        e.description];
    }, "No ledger entries.");
  }

  function showRest(file) {
    note("support-events-note", file.events);
    fillTable("support-events", file.events.data, function (e) {
      return [when(e.createdAt), e.name, e.source,
        e.generationId ? "#" + e.generationId : "–"];
    }, "No events.");
    note("support-shares-note", file.shareLinks);
    fillTable("support-shares", file.shareLinks.data, function (s) {
      return ["#" + s.generationId, s.style, when(s.createdAt), when(s.expiresAt)];
    }, "No live share links.");
    note("support-deliveries-note", file.webhookDeliveries);
    fillTable("support-deliveries", file.webhookDeliveries.data, function (d) {
      return [when(d.createdAt), d.eventType, d.generationId ? "#" + d.generationId : "–",
        badge(d.state, STATE_KIND[d.state] || "warn"),
        d.attempts, d.lastError || ""];
    }, "No webhook deliveries.");
  }

  var STATE_KIND = { delivered: "ok", pending: "warn", gave_up: "code" };

  // Only what the API gives: a device's id, platform and times, never its address or keys.
  function showPush(file) {
    var platforms = {};
    file.devices.data.forEach(function (d) { platforms[d.id] = d.platform; });
    note("support-devices-note", file.devices);
    fillTable("support-devices", file.devices.data, function (d) {
      return ["#" + d.id, d.platform, when(d.createdAt), when(d.lastSeenAt)];
    }, "No devices.");
    note("support-push-note", file.pushDeliveries);
    fillTable("support-push", file.pushDeliveries.data, function (p) {
      var device = p.deviceId === null ? "–" : "#" + p.deviceId + " " +
        (platforms[p.deviceId] || "(removed)");
      return [when(p.createdAt), p.eventType, device, badge(p.state, STATE_KIND[p.state] || "warn"),
        p.attempts, p.lastError || ""];
    }, "No push deliveries.");
  }

  function showFile(file) {
    var charged = 0;
    var refunded = 0;
    file.headshots.data.forEach(function (h) {
      charged += h.creditsCharged;
      refunded += h.creditsRefunded;
    });
    $("support-user").textContent = "#" + file.id;
    $("support-email").textContent = file.email || "–";
    $("support-balance").textContent = file.credits + " credits";
    $("support-moved").textContent = charged + " / " + refunded;
    $("support-since").textContent = when(file.createdAt);
    var same = $("support-same-email");
    same.hidden = file.sameEmailUserIds.length === 0;
    same.textContent = "Other users with this email: " +
      file.sameEmailUserIds.map(function (id) { return "#" + id; }).join(", ");
    showHeadshots(file.headshots);
    showLedger(file.ledger);
    showRest(file);
    showPush(file);
    $("support-file").hidden = false;
  }

  // ---- the form -----------------------------------------------------------------------------

  function status(kind, text) {
    var box = $("support-status");
    box.className = "result " + kind;
    box.textContent = text;
  }

  $("support-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var query = $("support-query").value.trim();
    var view = $("support");
    if (!/^[0-9]+$/.test(query) && query.indexOf("@") < 1) {
      status("error", "Enter a user id (digits) or a whole email address.");
      view.dataset.state = "error";
      return;
    }
    view.dataset.state = "loading";
    status("", "Looking up…");
    lookup(query).then(function (file) {
      showFile(file);
      status("ok", "User #" + file.id + " (this lookup is in the audit log).");
      view.dataset.state = "ready";  // what a test waits for
    }).catch(function (error) {
      $("support-file").hidden = true;
      status("error", error.status === 404 ? "Nobody found: " + error.message + "." :
        "Lookup failed (" + (error.status || "network") + " " + (error.code || "") + "): " +
        (error.message || error));
      view.dataset.state = "error";
    });
  });
})();
