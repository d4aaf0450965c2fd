// The status page: fetch the health JSON every few seconds and render it (textContent only: nothing the
// gateway sends is ever parsed as HTML).
"use strict";

const MIB = 1024 * 1024;

function text(element, value) {
  element.textContent = value === null || value === undefined ? "–" : String(value);
  return element;
}

function cell(row, value, state) {
  const td = text(document.createElement("td"), value);
  if (state) td.dataset.state = state;
  row.appendChild(td);
  return td;
}

function dependency(check) {
  return check ? check.status + " (" + check.detail + ")" : null;
}

function outbox(lag) {
  return lag ? lag.backlog + " rows, oldest " + lag.oldest_age_seconds.toFixed(1) + " s" : null;
}

function memory(part) {
  return typeof part.rss_bytes === "number" ? Math.round(part.rss_bytes / MIB) + " MiB" : null;
}

function renderStatus(body) {
  const overall = document.getElementById("overall");
  text(overall, body.status).dataset.state = body.status;
  text(document.getElementById("checked-at"), "checked " + body.checked_at);
  const tbody = document.querySelector("#components tbody");
  const rows = [];
  let largest = null;
  for (const [name, part] of Object.entries(body.components)) {
    const row = document.createElement("tr");
    row.dataset.component = name;
    row.dataset.state = part.status;
    cell(row, name).className = "name";
    cell(row, part.status, part.status).className = "state";
    cell(row, part.detail).className = "detail";
    cell(row, dependency(part.database), part.database && part.database.status).className = "database";
    cell(row, dependency(part.redis), part.redis && part.redis.status).className = "redis";
    cell(row, outbox(part.outbox)).className = "outbox";
    cell(row, memory(part)).className = "memory";
    cell(row, part.latency_ms + " ms").className = "latency";
    rows.push(row);
    if (part.outbox && (largest === null || part.outbox.oldest_age_seconds > largest.lag.oldest_age_seconds)) {
      largest = { name: name, lag: part.outbox };
    }
  }
  tbody.replaceChildren(...rows);
  text(document.getElementById("outbox-lag"), largest ? largest.name + ": " + outbox(largest.lag) : null);
}

function renderMetrics(body) {
  text(document.getElementById("window"), "over the last " + body.window_seconds + " s");
  text(document.getElementById("request-rate"), body.requests_per_second + " req/s (" + body.requests + ")");
  text(document.getElementById("error-rate"), (body.error_ratio * 100).toFixed(2) + " % (" + body.errors + ")");
  text(document.getElementById("p99"), body.p99_ms === null ? null : body.p99_ms + " ms");
}

function renderHistory(body) {
  text(document.getElementById("history-note"), body.detail || "");
  const items = body.checks.map((check) => {
    const li = document.createElement("li");
    li.dataset.state = check.status;
    const down = Object.entries(check.components).filter(([, state]) => state !== "ok").map(([name]) => name);
    text(li, check.checked_at + " " + check.status + (down.length ? " (" + down.join(", ") + ")" : ""));
    return li;
  });
  document.getElementById("history").replaceChildren(...items);
}

async function json(path) {
  // A 503 (down) still carries the JSON to show.
  const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  return response.json();
}

async function refresh() {
  const error = document.getElementById("error");
  try {
    const [status, metrics, history] = await Promise.all([
      json("/health/status"),
      json("/health/metrics-summary"),
      json("/health/history"),
    ]);
    renderStatus(status);
    renderMetrics(metrics);
    renderHistory(history);
    error.hidden = true;
    document.body.dataset.loaded = "true";
  } catch (failure) {
    text(error, "the gateway did not answer: " + failure).hidden = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  refresh();
  setInterval(refresh, Number(document.body.dataset.refreshMs) || 3000);
});
