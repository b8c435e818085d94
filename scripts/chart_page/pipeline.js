// The pipeline page: what Kafka-UI showed, drawn from the `pipeline` events
// of the chart server's SSE stream (scripts/chart.ts, one snapshot at most
// every 2 s). globalThis.pipelineData holds the last snapshot, for tests.
import { formatCount } from "./format.js";

const el = (id) => document.getElementById(id);
globalThis.pipelineData = { state: "connecting", snapshot: undefined };
const events = new EventSource("/events?pipeline=1");
let lastEventAt = 0;

const esc = (v) =>
  String(v ?? "").replace(
    /[&<>"']/g,
    (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[
        c
      ],
  );

function table(head, rows) {
  return `<div class="scroll"><table><thead><tr>${
    head.map((h) => `<th>${esc(h)}</th>`).join("")
  }</tr></thead><tbody>${rows.join("")}</tbody></table></div>`;
}

function fill(id, title, html, error) {
  el(id).innerHTML = `<h2>${esc(title)}</h2>${
    error ? `<div class="stale">stale: ${esc(error)}</div>` : ""
  }${html}`;
}

function ago(ms, now) {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 90 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

function brokers(snap) {
  const rows = snap.brokers.map((b) =>
    `<tr data-broker="${b.id}" data-state="${b.up ? "up" : "down"}">` +
    `<td>${b.id}</td><td>${esc(b.address)}</td>` +
    `<td>${b.controller ? "controller" : "broker"}</td>` +
    `<td class="${b.up ? "up" : "down"}">${b.up ? "up" : "down"}</td></tr>`
  );
  fill(
    "brokers",
    `Brokers (${
      snap.brokers.filter((b) => b.up).length
    }/${snap.brokers.length} up)`,
    table(["id", "address", "role", "state"], rows),
    snap.errors.brokers,
  );
}

function topics(snap) {
  const down = new Set(snap.brokers.filter((b) => !b.up).map((b) => b.id));
  const html = snap.topics.map((t) => {
    if (!t.exists) {
      return `<div class="topic" data-topic="${esc(t.name)}"><b>${
        esc(t.name)
      }</b> <span class="muted">(${t.role}: not created yet)</span></div>`;
    }
    const rows = t.partitions.map((p) => {
      const replica = (id) =>
        `<span class="${down.has(id) ? "down" : ""}">${id}</span>`;
      return `<tr data-topic="${
        esc(t.name)
      }" data-partition="${p.partition}" data-leader="${p.leader}" data-isr="${p.isr.length}" data-replicas="${p.replicas.length}">` +
        `<td>${p.partition}</td>` +
        `<td class="${p.leader < 0 || down.has(p.leader) ? "down" : ""}">${
          p.leader < 0 ? "none" : p.leader
        }</td>` +
        `<td>${p.replicas.map(replica).join(", ")}</td>` +
        `<td class="${p.underReplicated ? "under" : ""}">${p.isr.join(", ")}${
          p.underReplicated ? " (under-replicated)" : ""
        }</td>` +
        `<td>${formatCount(p.start)}</td><td>${formatCount(p.end)}</td>` +
        `<td>${p.rate.toFixed(1)}</td></tr>`;
    });
    return `<div class="topic" data-topic="${esc(t.name)}"><b>${
      esc(t.name)
    }</b> <span class="muted">${t.role}</span>${
      table([
        "partition",
        "leader",
        "replicas",
        "in sync",
        "start",
        "end",
        "rec/s",
      ], rows)
    }</div>`;
  }).join("");
  fill("topics", "Topics", html, snap.errors.topics);
}

function keys(snap) {
  const entries = Object.entries(snap.keys).sort(([a], [b]) =>
    a.localeCompare(b)
  );
  const rows = entries.map(([key, p]) =>
    `<tr data-key="${esc(key)}" data-partition="${p}"><td>${
      esc(key)
    }</td><td>${p}</td></tr>`
  );
  fill(
    "keys",
    "Keys → partition",
    rows.length
      ? table(["key", "partition"], rows)
      : `<p class="muted">no records seen yet</p>`,
  );
}

function group(snap) {
  const g = snap.group;
  if (!g) {
    fill(
      "group",
      "Consumer group",
      `<p class="muted">no such group yet</p>`,
      snap.errors.group,
    );
    return;
  }
  const lagOf = new Map(g.offsets.map((o) => [o.partition, o]));
  const members = g.members.map((m) =>
    `<tr data-member="${esc(m.clientId)}" data-partitions="${
      m.partitions.join(",")
    }">` +
    `<td>${esc(m.clientId)}</td><td>${esc(m.host)}</td><td>${
      m.partitions.join(", ") || "none"
    }</td>` +
    `<td>${
      m.partitions.map((p) => lagOf.get(p)?.lag ?? "–").join(", ")
    }</td></tr>`
  );
  const offsets = g.offsets.map((o) =>
    `<tr data-offset-partition="${o.partition}"><td>${o.partition}</td><td>${
      o.committed < 0 ? "none" : formatCount(o.committed)
    }</td><td>${formatCount(o.lag)}</td></tr>`
  );
  const when = g.rebalancedAt
    ? `last rebalance seen ${ago(g.rebalancedAt, snap.at)}`
    : "no rebalance seen since this page's server started";
  fill(
    "group",
    `Consumer group ${g.groupId}`,
    `<p><span id="group-state">${
      esc(g.state)
    }</span> · assignor <b id="assignor">${
      esc(g.assignor || "–")
    }</b> · <span class="muted">${when}</span></p>` +
      table(["member", "host", "partitions", "lag"], members) +
      table(["partition", "committed", "lag"], offsets),
    snap.errors.group,
  );
}

function sinks(snap) {
  const rows = snap.sinks.map((s) => {
    const written = Object.entries(s.written).map(([c, n]) =>
      `${esc(c)} ${formatCount(n)}`
    ).join("<br>");
    return `<tr data-sink="${esc(s.clientId)}"><td>${esc(s.clientId)}</td><td>${
      written || "–"
    }</td>` +
      `<td>${
        s.lastLatencyMs === undefined
          ? "–"
          : `${Math.round(s.lastLatencyMs)} ms`
      }</td>` +
      `<td>${
        s.influxDownSince ? `<span class="down">paused</span>` : "writing"
      }</td></tr>`;
  });
  fill(
    "sinks",
    "Sink (InfluxDB)",
    rows.length
      ? table(["consumer", "points written", "last latency", "state"], rows)
      : `<p class="muted">no consumer metrics endpoint answers</p>`,
    snap.errors.sinks,
  );
}

function dlq(snap) {
  const rows = snap.dlq.recent.map((d) =>
    `<tr data-reason="${esc(d.reason)}"><td>${
      esc(d.reason)
    }</td><td class="wrap">${esc(d.message)}</td><td>${
      esc(d.originalPartition)
    }/${esc(d.originalOffset)}</td></tr>`
  );
  fill(
    "dlq",
    `Dead letters (${formatCount(snap.dlq.count)})`,
    rows.length
      ? table(["reason", "message", "from"], rows)
      : `<p class="muted">none read</p>`,
  );
}

function registry(snap) {
  const html = snap.registry.map((s) =>
    `<div data-subject="${esc(s.subject)}"><b>${
      esc(s.subject)
    }</b> · versions ${s.versions.join(", ")} · ${
      esc(s.compatibility)
    } · latest v${s.latest.version} (id ${s.latest.id})<pre>${
      esc(s.latest.schema)
    }</pre></div>`
  ).join("");
  fill(
    "registry",
    "Schema registry",
    html || `<p class="muted">no subjects</p>`,
    snap.errors.registry,
  );
}

function render(snap) {
  globalThis.pipelineData.snapshot = snap;
  el("updated").textContent = `updated ${
    new Date(snap.at).toLocaleTimeString("en-GB")
  }`;
  for (const draw of [brokers, topics, keys, group, sinks, dlq, registry]) {
    draw(snap);
  }
}

function setState(state) {
  globalThis.pipelineData.state = state;
  const badge = el("state");
  badge.textContent = state === "live"
    ? "live"
    : state === "down"
    ? "reconnecting…"
    : state === "stale"
    ? "no data for 10 s"
    : "connecting…";
  badge.className = `badge state-${state}`;
}

// Live while the EventSource is open and snapshots keep coming (every 2 s).
function syncState() {
  if (events.readyState !== EventSource.OPEN) {
    return setState(lastEventAt ? "down" : "connecting");
  }
  setState(Date.now() - lastEventAt > 10_000 ? "stale" : "live");
}

function heard() {
  lastEventAt = Date.now();
  syncState();
}

events.addEventListener("pipeline", (e) => {
  render(JSON.parse(e.data));
  heard();
});
events.addEventListener("snapshot", heard);
events.addEventListener("ping", heard);
events.onopen = heard;
events.onerror = syncState;
setInterval(syncState, 1000);
