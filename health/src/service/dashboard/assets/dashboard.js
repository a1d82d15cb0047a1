// The clinic's dashboard: a snapshot of the ward, then its changes, as server-sent events
// from the dashboard process (which decrypted them with the clinic's key). No framework, no
// network beyond the page's own origin.
"use strict";

const ward = {
  patients: new Map(), // device id -> { summary, points: Map(seq -> point) }
  analyses: new Map(), // analysis id -> view
  cohorts: new Map(), // request -> view
  quietAfterMs: 10000,
  lateAfterMs: 3000,
  history: 3600, // readings kept per patient
  clockOffsetMs: 0, // the dashboard's clock minus this browser's
};

const ROWS = [
  ["heart_rate", "heart rate"],
  ["spo2", "SpO2"],
  ["any", "any"],
  ["sustained", "sustained"],
];

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function now() {
  return Date.now() + ward.clockOffsetMs;
}

function mergePatient(p) {
  let entry = ward.patients.get(p.device_id);
  if (!entry) {
    entry = { summary: p, points: new Map() };
    ward.patients.set(p.device_id, entry);
  }
  const points = p.points || [];
  entry.summary = p;
  for (const pt of points) entry.points.set(pt.seq, pt);
  // The kept history: what the dashboard keeps, the oldest dropped.
  const keep = ward.history;
  if (entry.points.size > keep) {
    const seqs = [...entry.points.keys()].sort((a, b) => a - b);
    for (const s of seqs.slice(0, seqs.length - keep)) entry.points.delete(s);
  }
}

function load(snapshot) {
  ward.patients.clear();
  ward.analyses.clear();
  ward.cohorts.clear();
  ward.quietAfterMs = snapshot.quiet_after_ms;
  ward.lateAfterMs = snapshot.late_after_ms;
  ward.history = snapshot.history;
  ward.clockOffsetMs = snapshot.now_ms - Date.now();
  merge(snapshot);
  setLink(snapshot.link_error ? "error" : "live", snapshot.link_error);
}

function merge(update) {
  for (const p of update.patients || []) mergePatient(p);
  for (const a of update.analyses || []) ward.analyses.set(a.id, a);
  for (const c of update.cohorts || []) ward.cohorts.set(c.request, c);
  if ("link_error" in update) setLink(update.link_error ? "error" : "live", update.link_error);
}

function setLink(state, detail) {
  const el = document.getElementById("link");
  el.className = "link " + state;
  el.dataset.link = state;
  el.textContent = {
    live: "live",
    connecting: "connecting…",
    lost: "reconnecting to the dashboard…",
    error: "cannot reach or read the clinic's server: " + (detail || ""),
  }[state];
}

// The state shown: the latest reading's, or quiet after the limit without one.
function stateOf(summary) {
  if (summary.last_seen_ms != null && now() - summary.last_seen_ms > ward.quietAfterMs) return "quiet";
  return summary.last_state;
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return s + " s ago";
  if (s < 7200) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

function sortedPatients() {
  return [...ward.patients.values()].sort((a, b) =>
    a.summary.patient.localeCompare(b.summary.patient, undefined, { numeric: true }));
}

function renderWard() {
  const cards = [];
  const counts = {};
  for (const e of sortedPatients()) {
    const s = e.summary;
    const state = stateOf(s);
    counts[state] = (counts[state] || 0) + 1;
    const latest = e.points.size ? Math.max(...e.points.keys()) : null;
    const since = s.last_seen_ms == null ? "no reading yet" : "last reading " + ago(now() - s.last_seen_ms);
    const before = state === "quiet" ? ` (was ${esc(s.last_state)})` : "";
    cards.push(
      `<div class="card state-${state} was-${esc(s.last_state)}" data-device="${s.device_id}" data-patient="${esc(s.patient)}" data-state="${state}">` +
        `<div class="name">${esc(s.patient)}</div>` +
        `<div class="state">${state}</div><span class="detail">${before}</span>` +
        `<div class="since">${since}</div>` +
        `<div class="detail">${latest == null ? "" : "second " + latest + " · " + e.points.size + " readings"}</div>` +
        `</div>`);
  }
  document.getElementById("ward").innerHTML = cards.join("") || '<p class="empty">no devices yet</p>';
  document.getElementById("ward-summary").textContent = Object.entries(counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(" · ");
}

function renderTimeline(e, span) {
  const s = e.summary;
  const seqs = [...e.points.keys()].sort((a, b) => a - b);
  const last = seqs.length ? seqs[seqs.length - 1] : 0;
  const first = Math.max(seqs.length ? seqs[0] : 0, last - span + 1);
  const count = Math.min(Math.max(last - first + 1, 1), span);
  const left = 84, top = 16, rowH = 16, gap = 4;
  const width = Math.max(900, Math.min(1400, left + 12 + count * 6));
  const cell = (width - left - 12) / Math.max(count, 1);
  const marksY = top + ROWS.length * (rowH + gap);
  const height = marksY + rowH + 22;
  const x = (seq) => left + (seq - first) * cell;
  const parts = [];
  ROWS.forEach(([, label], i) => {
    parts.push(`<text x="4" y="${top + i * (rowH + gap) + 12}">${label}</text>`);
  });
  parts.push(`<text x="4" y="${marksY + 12}">marks</text>`);
  const missing = s.missing || [];
  const isMissing = (seq) => missing.some(([from, to]) => seq >= from && seq <= to);
  // By index: the loop ends after `count` steps whatever the numbers' size.
  for (let i = 0; i < count; i++) {
    const seq = first + i;
    const p = e.points.get(seq);
    if (!p) {
      if (isMissing(seq)) {
        parts.push(`<rect class="missing" data-seq="${seq}" data-mark="missing" x="${x(seq)}" y="${top}" width="${Math.max(cell - 1, 1)}" height="${ROWS.length * (rowH + gap) - gap}"><title>second ${seq}: no reading</title></rect>`);
      }
      continue;
    }
    if (p.failed != null) {
      parts.push(`<text class="failed" data-seq="${seq}" data-mark="failed" x="${x(seq)}" y="${marksY + 12}">✕<title>second ${seq} failed: ${esc(p.failed)}</title></text>`);
    } else {
      ROWS.forEach(([flag], i) => {
        const on = p[flag] === true;
        const cls = "pt " + (on ? "on" : "off") + (on && flag === "sustained" ? " sustained" : "");
        parts.push(`<rect class="${cls}" data-seq="${seq}" data-flag="${flag}" data-on="${on ? 1 : 0}" x="${x(seq)}" y="${top + i * (rowH + gap)}" width="${Math.max(cell - 1, 1)}" height="${rowH}"><title>second ${seq} · ${flag}: ${on ? "ALERT" : "normal"}</title></rect>`);
      });
    }
    if (p.late) {
      parts.push(`<circle class="late" data-seq="${seq}" data-mark="late" cx="${x(seq) + cell / 2}" cy="${marksY + 8}" r="5"><title>second ${seq} came late</title></circle>`);
    }
  }
  // Seconds along the bottom: about eight ticks.
  const step = Math.max(1, Math.ceil(count / 8));
  for (let i = 0; i < count; i += step) {
    const seq = first + i;
    parts.push(`<line class="axis" x1="${x(seq)}" x2="${x(seq)}" y1="${top - 4}" y2="${marksY + rowH}"/>`);
    parts.push(`<text x="${x(seq)}" y="${height - 4}">${seq}</text>`);
  }
  parts.push(`<text x="4" y="${height - 4}">second</text>`);
  return `<figure class="timeline" data-device="${s.device_id}" data-patient="${esc(s.patient)}">` +
    `<figcaption>${esc(s.patient)}</figcaption>` +
    `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="timeline of ${esc(s.patient)}">${parts.join("")}</svg>` +
    `</figure>`;
}

function renderTimelines() {
  const span = Number(document.getElementById("span").value) || 300;
  document.getElementById("timelines").innerHTML = sortedPatients()
    .filter((e) => e.points.size > 0)
    .map((e) => renderTimeline(e, span))
    .join("");
}

function yesNo(b) {
  return b ? '<td class="yes">yes</td>' : "<td>no</td>";
}

function renderAnalyses() {
  const rows = [...ward.analyses.values()].sort((a, b) =>
    a.patient.localeCompare(b.patient) || a.test.localeCompare(b.test) || a.date.localeCompare(b.date) || a.id - b.id);
  document.querySelector("#analyses tbody").innerHTML = rows.map((a) => {
    const x = a.analysis;
    const cells = x
      ? yesNo(x.above_max) + yesNo(x.changed) +
        `<td class="num">${a.gap_to_mean == null ? "–" : a.gap_to_mean.toFixed(2)} (k = ${x.window})</td>`
      : '<td colspan="3">first record of the series</td>';
    return `<tr data-analysis="${a.id}" data-patient="${esc(a.patient)}" data-test="${esc(a.test)}" data-date="${esc(a.date)}">` +
      `<td>${esc(a.patient)}</td><td>${esc(a.test)}</td><td>${esc(a.date)}</td><td class="num">${a.version}</td>${cells}</tr>`;
  }).join("");
  document.getElementById("analyses-empty").hidden = rows.length > 0;
}

function renderCohorts() {
  const rows = [...ward.cohorts.values()].sort((a, b) => b.request - a.request);
  document.querySelector("#cohorts tbody").innerHTML = rows.map((c) => {
    const r = c.result;
    const figures = r
      ? `<td class="num">${r.patients}</td><td class="num">${r.count_above}</td>` +
        `<td class="num">${(r.sum_above / Math.max(r.count_above, 1)).toFixed(1)}</td>` +
        `<td class="num">${(r.sum_all / Math.max(r.patients, 1)).toFixed(1)}</td>`
      : `<td colspan="4">${c.error ? esc(c.error) : "computing on ciphertexts…"}</td>`;
    return `<tr data-cohort="${c.request}" data-status="${c.status}"><td>${c.request}</td><td>${esc(c.test)}</td>` +
      `<td class="num">${c.threshold}</td><td>${c.status}</td>${figures}</tr>`;
  }).join("");
}

function render() {
  renderWard();
  renderTimelines();
  renderAnalyses();
  renderCohorts();
}

// Updates can come many a second on a large ward: drawn once per frame.
let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("snapshot", (e) => {
    load(JSON.parse(e.data));
    scheduleRender();
  });
  events.addEventListener("update", (e) => {
    merge(JSON.parse(e.data));
    scheduleRender();
  });
  events.onerror = () => {
    // A refusal (401: no or a wrong cookie) closes the stream for good; a lost link retries.
    if (events.readyState === EventSource.CLOSED) {
      setLink("error", "the dashboard refused this page: open the address it printed at start");
    } else {
      setLink("lost");
    }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("span").addEventListener("change", renderTimelines);
  document.getElementById("cohort-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = document.getElementById("cohort-error");
    error.textContent = "";
    const body = {
      test: document.getElementById("cohort-test").value,
      threshold: Number(document.getElementById("cohort-threshold").value),
    };
    try {
      const r = await fetch("/api/cohorts", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!r.ok) error.textContent = await r.text();
    } catch (err) {
      error.textContent = String(err);
    }
  });
  connect();
  // Times since the last reading, and quiet devices, move with the clock.
  setInterval(renderWard, 1000);
});
