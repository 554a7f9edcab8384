// The operators' dashboard (`GET /admin`). A file of its own, not an inline script, so the
// page's Content-Security-Policy can refuse every inline script. It signs in with an operator's
// JWT kept in sessionStorage (gone with the tab, never in a URL) and reads the admin API.
(function () {
  "use strict";

  var TOKEN_KEY = "headshots.adminToken";
  var COLORS = {
    blue: "#2563eb", green: "#16a34a", red: "#dc2626", amber: "#d97706",
    grey: "#94a3b8", violet: "#7c3aed",
  };
  var charts = {};

  function $(id) { return document.getElementById(id); }

  // ---- the token and the API ----------------------------------------------------------------

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function ApiError(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  function api(method, path, body) {
    var options = { method: method, headers: { Authorization: "Bearer " + token() } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (response.ok) return json;
        var error = json.error || {};
        throw new ApiError(response.status, error.code || "", error.message || response.statusText);
      });
    });
  }

  // A refused token sends the operator back to the sign-in form with the reason.
  function failed(error) {
    if (error.status === 401) {
      signOut("The token was refused (" + error.message + "). Sign in again.");
    } else if (error.status === 403) {
      signOut("This token is not an operator's: the dashboard needs role \"admin\".");
    } else {
      show("error", "Request failed (" + (error.status || "network") + "): " + error.message);
    }
  }

  function show(kind, text) {
    var box = $("message");
    box.className = "message " + kind;
    box.textContent = text;
    box.hidden = !text;
  }

  function signOut(reason) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("dashboard").hidden = true;
    $("session").hidden = true;
    $("sign-in").hidden = false;
    $("token").value = "";
    show(reason ? "error" : "", reason || "");
  }

  function signedIn() {
    $("sign-in").hidden = true;
    $("dashboard").hidden = false;
    $("session").hidden = false;
    $("who").textContent = "Operator " + (subjectOf(token()) || "?");
    refresh();
  }

  // The token's `sub`, for the header only: the server checks the signature, not this page.
  function subjectOf(jwt) {
    try {
      var part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part)).sub;
    } catch (ignored) {
      return null;
    }
  }

  // ---- dates --------------------------------------------------------------------------------

  function isoDay(date) { return date.toISOString().slice(0, 10); }

  function daysBetween(first, last) {
    var days = [];
    for (var day = new Date(first + "T00:00:00Z"); isoDay(day) <= last;
      day.setUTCDate(day.getUTCDate() + 1)) {
      days.push(isoDay(day));
    }
    return days;
  }

  function defaultRange() {  // the last 30 UTC days, today included
    var today = new Date();
    var first = new Date(today.getTime() - 29 * 86400000);
    $("from").value = isoDay(first);
    $("to").value = isoDay(today);
  }

  // ---- figures ------------------------------------------------------------------------------

  // The API gives a row per day and style; the day charts show the days' totals.
  function perDay(daily, days) {
    var byDay = {};
    days.forEach(function (day) {
      byDay[day] = { completed: 0, failed: 0, seconds: 0, cost: 0, charged: 0, refunded: 0 };
    });
    daily.forEach(function (row) {
      var day = byDay[row.date];
      if (!day) return;
      day.completed += row.completed;
      day.failed += row.failed;
      day.seconds += (row.avgProcessingTime || 0) * row.completed;
      day.cost += row.getimgCost;
      day.charged += row.creditsCharged;
      day.refunded += row.creditsRefunded;
    });
    return days.map(function (date) {
      var day = byDay[date];
      var ended = day.completed + day.failed;
      return {
        date: date,
        successRate: ended ? Math.round(1000 * day.completed / ended) / 10 : null,
        avgTime: day.completed ? Math.round(day.seconds / day.completed) : null,
        cost: Math.round(day.cost * 10000) / 10000,
        charged: day.charged,
        refunded: day.refunded,
      };
    });
  }

  function totals(styles) {
    var sum = { total: 0, completed: 0, failed: 0, seconds: 0, cost: 0, charged: 0, refunded: 0 };
    styles.forEach(function (style) {
      sum.total += style.totalGenerations;
      sum.completed += style.completed;
      sum.failed += style.failed;
      sum.seconds += (style.avgProcessingTime || 0) * style.completed;
      sum.cost += style.getimgCost;
      sum.charged += style.creditsCharged;
      sum.refunded += style.creditsRefunded;
    });
    return sum;
  }

  function showTotals(report) {
    var sum = totals(report.styles);
    var ended = sum.completed + sum.failed;
    $("kpi-total").textContent = sum.total.toLocaleString("en-US");
    $("kpi-success").textContent = ended ? (100 * sum.completed / ended).toFixed(1) + " %" : "–";
    $("kpi-time").textContent = sum.completed ? Math.round(sum.seconds / sum.completed) + " s" : "–";
    $("kpi-cost").textContent = "$" + sum.cost.toFixed(2);
    $("kpi-credits").textContent = sum.charged + " / " + sum.refunded;
    $("kpi-active").textContent = report.activeUsers.toLocaleString("en-US");
    $("kpi-requests").textContent = report.requests.toLocaleString("en-US");
    $("kpi-per-user").textContent = report.averageHeadshotsPerUser === null ? "–"
      : report.averageHeadshotsPerUser.toFixed(2);
    var times = report.processingTime;
    $("kpi-percentiles").textContent = times.p50 === null ? "–"
      : seconds(times.p50) + " / " + seconds(times.p95);
    $("kpi-repeat").textContent = percent(report.repeatUserRate);
    $("kpi-favorites").textContent = percent(report.favoriteUsageRate);
    $("kpi-history").textContent = percent(report.historyViewRate);
  }

  function seconds(value) { return value.toFixed(1) + " s"; }

  function percent(rate) {
    return rate === null || rate === undefined ? "–" : (100 * rate).toFixed(1) + " %";
  }

  // ---- charts -------------------------------------------------------------------------------

  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false,
      animation: false, plugins: {} }, config.options || {});
    charts[id] = new Chart($(id), config);
  }

  // `grace`: headroom above the tallest bar, so it does not touch the frame.
  function axis(title, extra) {
    return Object.assign({ beginAtZero: true, grace: "5%",
      title: { display: !!title, text: title } }, extra || {});
  }

  // Day axes: "Mar 16" rather than the ISO day, unrotated; Chart.js skips what does not fit.
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
    "Dec"];
  function dayAxis(extra) {
    return Object.assign({ ticks: { maxRotation: 0, autoSkipPadding: 12, callback: function (i) {
      var day = this.getLabelForValue(i);
      return MONTHS[Number(day.slice(5, 7)) - 1] + " " + Number(day.slice(8, 10));
    } } }, extra || {});
  }

  function drawCharts(report, days) {
    var styles = report.styles;
    draw("chart-styles", {
      type: "bar",
      data: {
        labels: styles.map(function (s) { return s.style; }),
        datasets: [
          { label: "Completed", data: styles.map(function (s) { return s.completed; }),
            backgroundColor: COLORS.green },
          { label: "Failed", data: styles.map(function (s) { return s.failed; }),
            backgroundColor: COLORS.red },
          { label: "Other (cancelled, running)", backgroundColor: COLORS.grey,
            data: styles.map(function (s) { return s.totalGenerations - s.completed - s.failed; }) },
        ],
      },
      options: { scales: { x: { stacked: true }, y: axis("headshots", { stacked: true }) } },
    });

    var day = perDay(report.daily, days);
    draw("chart-daily", {
      type: "line",
      data: {
        labels: days,
        datasets: [
          { label: "Success rate (%)", data: day.map(function (d) { return d.successRate; }),
            borderColor: COLORS.green, backgroundColor: COLORS.green, yAxisID: "rate",
            spanGaps: true, clip: false },  // a 100 % point is drawn whole, not cut at the top
          { label: "Avg processing time (s)", data: day.map(function (d) { return d.avgTime; }),
            borderColor: COLORS.blue, backgroundColor: COLORS.blue, yAxisID: "seconds",
            spanGaps: true },
        ],
      },
      options: { scales: {
        x: dayAxis(),
        rate: axis("success rate, %", { position: "left", max: 100, grace: 0 }),
        seconds: axis("processing time, s", { position: "right", grid: { drawOnChartArea: false } }),
      } },
    });

    var trend = report.trend;
    draw("chart-trend", {
      data: {
        labels: trend.map(function (d) { return d.date; }),
        datasets: [
          { type: "bar", label: "Headshots asked for", yAxisID: "count", order: 1,
            data: trend.map(function (d) { return d.headshots; }),
            backgroundColor: COLORS.blue },
          // order 0: drawn over the bars, not hidden behind them
          { type: "line", label: "Active users", yAxisID: "count", order: 0,
            data: trend.map(function (d) { return d.activeUsers; }),
            borderColor: COLORS.amber, backgroundColor: COLORS.amber, borderWidth: 3 },
        ],
      },
      options: { scales: { x: dayAxis(), count: axis("per day", { position: "left" }) } },
    });

    var hours = [];
    for (var hour = 0; hour < 24; hour += 1) hours.push(0);
    report.peakHours.forEach(function (peak) { hours[peak.hour] = peak.generations; });
    draw("chart-hours", {
      type: "bar",
      data: {
        labels: hours.map(function (_, h) { return (h < 10 ? "0" : "") + h; }),
        datasets: [{ label: "Headshots started", data: hours, backgroundColor: COLORS.violet }],
      },
      options: { plugins: { legend: { display: false } }, scales: {
        x: { ticks: { maxRotation: 0 }, title: { display: true, text: "hour of day (UTC)" } },
        y: axis("headshots started"),
      } },
    });

    var funnel = report.funnel;
    draw("chart-funnel", {
      type: "bar",
      data: {
        labels: ["Started", "Completed", "Downloaded", "Shared"],
        datasets: [{ label: "Headshots",
          data: [funnel.started, funnel.completed, funnel.downloaded, funnel.shared],
          backgroundColor: [COLORS.blue, COLORS.green, COLORS.amber, COLORS.violet] }],
      },
      options: { indexAxis: "y", plugins: { legend: { display: false } },
        scales: { x: axis("headshots") } },
    });

    draw("chart-cost", {
      data: {
        labels: days,
        datasets: [
          { type: "bar", label: "Credits charged", yAxisID: "credits",
            data: day.map(function (d) { return d.charged; }), backgroundColor: COLORS.blue },
          { type: "bar", label: "Credits refunded", yAxisID: "credits",
            data: day.map(function (d) { return d.refunded; }), backgroundColor: COLORS.amber },
          { type: "line", label: "GetImg cost (USD)", yAxisID: "usd",
            data: day.map(function (d) { return d.cost; }), borderColor: COLORS.red,
            backgroundColor: COLORS.red },
        ],
      },
      options: { scales: {
        x: dayAxis(),
        credits: axis("credits", { position: "left" }),
        usd: axis("USD", { position: "right", grid: { drawOnChartArea: false } }),
      } },
    });
  }

  // ---- tables -------------------------------------------------------------------------------

  // Cells are set with textContent: error messages and reasons are data, never markup.
  function fillTable(id, rows, cellsOf, empty) {
    var body = $(id).tBodies[0];
    body.replaceChildren();
    if (rows.length === 0) {
      var row = body.insertRow();
      var cell = row.insertCell();
      cell.colSpan = $(id).tHead.rows[0].cells.length;
      cell.className = "empty";
      cell.textContent = empty;
      return;
    }
    rows.forEach(function (item) {
      var row = body.insertRow();
      cellsOf(item).forEach(function (value) {
        var cell = row.insertCell();
        if (value instanceof Node) cell.appendChild(value); else cell.textContent = value;
      });
    });
  }

  function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : "–"; }

  function badge(text, kind) {
    var span = document.createElement("span");
    span.className = "badge " + kind;
    span.textContent = text;
    return span;
  }

  function showFailures(page) {
    fillTable("failures", page.data, function (f) {
      return ["#" + f.id, f.userId, f.style, badge(f.errorCode || "–", "code"),
        f.errorMessage || "", when(f.completedAt),
        f.refunded ? badge("yes", "ok") : badge("no", "warn")];
    }, "No failed headshots.");
  }

  // The range's failed rounds per code, `cancelled` included (docs/analytics.md).
  function showFailureCodes(report) {
    var codes = Object.keys(report.failuresByCode);
    var all = codes.reduce(function (sum, code) { return sum + report.failuresByCode[code]; }, 0);
    fillTable("failure-codes", codes, function (code) {
      var rounds = report.failuresByCode[code];
      return [badge(code, "code"), rounds, percent(rounds / all)];
    }, "No failed rounds.");
  }

  function showStyleChoice(report) {
    fillTable("style-choice", report.styleChoice, function (s) {
      return [s.style, s.selections, s.selectingUsers, s.generated, s.generatingUsers];
    }, "No style picked or generated.");
  }

  function showAudit(page) {
    fillTable("audit", page.data, function (a) {
      return [when(a.createdAt), a.action, a.userId,
        a.generationId ? "#" + a.generationId : "–", a.amount, a.reason];
    }, "No operator actions yet.");
  }

  // ---- loading ------------------------------------------------------------------------------

  function refresh() {
    var first = $("from").value;
    var last = $("to").value;
    var query = "?from=" + encodeURIComponent(first) + "&to=" + encodeURIComponent(last);
    document.body.dataset.state = "loading";
    return Promise.all([
      api("GET", "/api/admin/analytics" + query),
      api("GET", "/api/admin/failures" + query + "&limit=10"),  // the range's, by failure time
      api("GET", "/api/admin/audit?limit=8"),
    ]).then(function (answers) {
      showTotals(answers[0]);
      drawCharts(answers[0], daysBetween(first, last));
      showFailureCodes(answers[0]);
      showStyleChoice(answers[0]);
      showFailures(answers[1]);
      showAudit(answers[2]);
      document.body.dataset.state = "ready";  // what a test waits for
    }).catch(function (error) {
      document.body.dataset.state = "error";
      failed(error);
    });
  }

  function refund(event) {
    event.preventDefault();
    var id = $("refund-id").value.trim();
    var result = $("refund-result");
    result.className = "result";
    result.textContent = "Refunding…";
    api("POST", "/api/admin/headshots/" + encodeURIComponent(id) + "/refund",
      { reason: $("refund-reason").value.trim() })
      .then(function (done) {
        result.className = "result ok";
        result.textContent = "Headshot #" + done.generationId + ": " + done.refundedAmount +
          " credit(s) refunded; the user's balance is now " + done.balance + ".";
        $("refund-form").reset();
        return refresh();
      })
      .catch(function (error) {
        if (error.status === 401 || error.status === 403) return failed(error);
        result.className = "result error";
        result.textContent = "Not refunded (" + error.status + " " + error.code + "): " +
          error.message;
      });
  }

  // ---- start --------------------------------------------------------------------------------

  $("sign-in-form").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    show("", "");
    signedIn();
  });
  $("sign-out").addEventListener("click", function () { signOut(""); });
  $("range").addEventListener("submit", function (event) {
    event.preventDefault();
    refresh();
  });
  $("refund-form").addEventListener("submit", refund);

  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif";
  Chart.defaults.color = "#475569";
  defaultRange();
  // What the page's other views (support.js, flags.js, loaded after this file) share with it.
  window.adminPage = { api: api, when: when, badge: badge };
  if (token()) signedIn(); else signOut("");
})();
