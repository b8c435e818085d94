// The chart page: candles + volume with lightweight-charts, fed by Server-Sent
// Events from scripts/chart.ts (a snapshot on connect, then candle updates).
// globalThis.chartData holds what is drawn, for tests and curious people.
import { formatPrice, priceDecimals } from "./format.js";

const { createChart, CandlestickSeries, HistogramSeries } = LightweightCharts;
const params = new URLSearchParams(location.search);
const view = {
  coin: params.get("coin") ?? "",
  interval: params.get("interval") ?? "5m",
  utc: params.get("tz") === "utc",
};
/** Candles asked for per scroll to the left. */
const PAGE = 500;
const paging = { loading: false, exhausted: false };

// Times in the viewer's time zone, or UTC with the switch. Candle times stay
// UTC instants; only their labels change.
function timeZone() {
  return view.utc ? "UTC" : undefined;
}
function formatTime(seconds, options) {
  return new Intl.DateTimeFormat(undefined, {
    timeZone: timeZone(),
    ...options,
  })
    .format(new Date(seconds * 1000));
}
function tickMark(seconds, type) {
  // lightweight-charts TickMarkType: 0 year, 1 month, 2 day of month, 3 time, 4 time with seconds
  if (type === 0) return formatTime(seconds, { year: "numeric" });
  if (type === 1) return formatTime(seconds, { month: "short" });
  if (type === 2) {
    return formatTime(seconds, { day: "numeric", month: "short" });
  }
  return formatTime(seconds, {
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });
}
const el = (id) => document.getElementById(id);

const chart = createChart(el("chart"), {
  autoSize: true,
  layout: { background: { color: "#111418" }, textColor: "#d8dee9" },
  grid: { vertLines: { color: "#1f252d" }, horzLines: { color: "#1f252d" } },
  timeScale: {
    timeVisible: true,
    secondsVisible: false,
    barSpacing: 12,
    rightOffset: 4,
    tickMarkFormatter: tickMark,
  },
  localization: {
    timeFormatter: (seconds) =>
      formatTime(seconds, {
        dateStyle: "medium",
        timeStyle: "short",
        hour12: false,
      }),
  },
});
const candleSeries = chart.addSeries(CandlestickSeries, {
  upColor: "#26a69a",
  downColor: "#ef5350",
  borderVisible: false,
  wickUpColor: "#26a69a",
  wickDownColor: "#ef5350",
});
// Volume sits in the bottom fifth, on an overlay scale without labels of its
// own on the price scale (no last-value label, no price line), and the
// candles keep above it.
const VOLUME_TOP = 0.8;
const volumeSeries = chart.addSeries(HistogramSeries, {
  priceFormat: { type: "volume" },
  priceScaleId: "",
  lastValueVisible: false,
  priceLineVisible: false,
});
volumeSeries.priceScale().applyOptions({
  scaleMargins: { top: VOLUME_TOP, bottom: 0 },
});
candleSeries.priceScale().applyOptions({
  scaleMargins: { top: 0.08, bottom: 1 - VOLUME_TOP + 0.04 },
});
// For tests: the chart and its series.
globalThis.chartView = {
  chart,
  candleSeries,
  volumeSeries,
  VOLUME_TOP,
  formatTime,
};

// latencies: ms from a tick's event time to its candle update here (last 500).
globalThis.chartData = {
  latencies: [],
  coin: "",
  interval: "",
  candles: [],
  source: "",
  state: "connecting",
};
let events;
let lastEventAt = 0;
/** What the server says of Kafka: state (connecting, reachable, unreachable), since, error. */
let kafka;

function bar(c) {
  return {
    time: c.time / 1000,
    open: c.open,
    high: c.high,
    low: c.low,
    close: c.close,
  };
}

function volumeBar(c) {
  return {
    time: c.time / 1000,
    value: c.volume,
    color: c.close >= c.open ? "#26a69a80" : "#ef535080",
  };
}

function setState(state) {
  globalThis.chartData.state = state;
  const badge = el("state");
  badge.textContent = state === "live"
    ? "live"
    : state === "down"
    ? "reconnecting…"
    : state === "stale"
    ? "no data for 20 s"
    : state === "kafka-unreachable"
    ? `Kafka unreachable since ${sinceLabel(kafka.since)}`
    : state === "kafka-connecting"
    ? "connecting to Kafka…"
    : "connecting…";
  badge.title = state === "kafka-unreachable" && kafka.error
    ? `${kafka.error}; the server keeps retrying`
    : "";
  badge.className = `badge state-${state}`;
}

/** When an outage began: its time, with the date when it is not today. */
function sinceLabel(iso) {
  const seconds = Date.parse(iso) / 1000;
  const day = { year: "numeric", month: "2-digit", day: "2-digit" };
  const today = formatTime(Date.now() / 1000, day) === formatTime(seconds, day);
  return formatTime(seconds, {
    ...(today ? {} : { day: "numeric", month: "short" }),
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });
}

// The badge follows the EventSource itself: "live" while it is open and
// events arrive (the server pings every 15 s), "reconnecting…" while the
// browser retries, never a stale word left by an earlier error. While the
// server cannot reach Kafka (its `kafka` events), it says so instead.
function syncState() {
  if (!events) return setState("connecting");
  if (events.readyState === EventSource.CONNECTING) return setState("down");
  if (events.readyState === EventSource.CLOSED) return setState("down");
  if (kafka?.state === "unreachable") return setState("kafka-unreachable");
  if (kafka?.state === "connecting") return setState("kafka-connecting");
  setState(Date.now() - lastEventAt > 20_000 ? "stale" : "live");
}

/** The server's word on Kafka (snapshots, pings and `kafka` events). */
function setKafka(status) {
  if (!status) return;
  kafka = status;
  globalThis.chartData.kafka = status;
}

function heard() {
  lastEventAt = Date.now();
  syncState();
}

function showLast(last, source) {
  if (source) {
    globalThis.chartData.source = source;
    el("source").textContent = `source: ${source}`;
  }
  if (!last) return;
  el("price").textContent = formatPrice(last.price);
  const precision = priceDecimals(last.price);
  if (precision !== globalThis.chartData.precision) {
    globalThis.chartData.precision = precision;
    candleSeries.applyOptions({
      priceFormat: { type: "price", precision, minMove: 10 ** -precision },
    });
  }
  const pct = (last.change * 100).toFixed(2);
  el("change").textContent = `${last.change >= 0 ? "+" : ""}${pct}% 24h`;
  el("change").className = `change ${last.change >= 0 ? "up" : "down"}`;
}

function upsert(candle) {
  const list = globalThis.chartData.candles;
  const i = list.findIndex((c) => c.time === candle.time);
  if (i >= 0) list[i] = candle;
  else {
    list.push(candle);
    list.sort((a, b) => a.time - b.time);
  }
  if (list[list.length - 1].time === candle.time) {
    candleSeries.update(bar(candle));
    volumeSeries.update(volumeBar(candle));
  } else {
    candleSeries.setData(list.map(bar));
    volumeSeries.setData(list.map(volumeBar));
  }
}

function connect() {
  events?.close();
  const query = new URLSearchParams({ interval: view.interval });
  if (view.coin) query.set("coin", view.coin);
  history.replaceState(
    null,
    "",
    `?${query}${view.utc ? "&tz=utc" : ""}`,
  );
  Object.assign(paging, { loading: false, exhausted: false });
  events = new EventSource(`/events?${query}`);
  events.addEventListener("snapshot", (e) => {
    const snap = JSON.parse(e.data);
    view.coin = snap.coin;
    Object.assign(globalThis.chartData, {
      coin: snap.coin,
      interval: snap.interval,
      candles: snap.candles,
    });
    candleSeries.setData(snap.candles.map(bar));
    volumeSeries.setData(snap.candles.map(volumeBar));
    chart.timeScale().scrollToRealTime();
    showLast(snap.last, snap.source);
    setKafka(snap.kafka);
    heard();
    refreshCoins();
  });
  events.addEventListener("candle", (e) => {
    const update = JSON.parse(e.data);
    upsert(update.candle);
    if (update.last) {
      globalThis.chartData.latencies = [
        ...globalThis.chartData.latencies.slice(-499),
        Date.now() - update.last.time,
      ];
    }
    showLast(update.last, update.source);
    heard();
  });
  events.addEventListener("ping", (e) => {
    setKafka(JSON.parse(e.data).kafka);
    heard();
  });
  events.addEventListener("kafka", (e) => {
    setKafka(JSON.parse(e.data));
    heard();
  });
  events.onopen = heard;
  events.onerror = syncState;
}

/** Prepends the candles before the oldest shown, keeping the view where it is. */
async function loadOlder() {
  const list = globalThis.chartData.candles;
  if (paging.loading || paging.exhausted || list.length === 0) return;
  paging.loading = true;
  const { coin, interval } = globalThis.chartData;
  try {
    const query = new URLSearchParams({
      coin,
      interval,
      to: String(list[0].time - 1),
      limit: String(PAGE),
    });
    const answer = await (await fetch(`/api/candles?${query}`)).json();
    if (coin !== globalThis.chartData.coin) return; // switched meanwhile
    if (interval !== globalThis.chartData.interval) return;
    const older = answer.candles.filter((c) => c.time < list[0].time);
    if (older.length < PAGE) paging.exhausted = true;
    if (older.length === 0) return;
    const range = chart.timeScale().getVisibleLogicalRange();
    globalThis.chartData.candles = [...older, ...list];
    candleSeries.setData(globalThis.chartData.candles.map(bar));
    volumeSeries.setData(globalThis.chartData.candles.map(volumeBar));
    if (range) {
      chart.timeScale().setVisibleLogicalRange({
        from: range.from + older.length,
        to: range.to + older.length,
      });
    }
  } catch {
    // the server is restarting; the next scroll asks again
  } finally {
    paging.loading = false;
  }
}
globalThis.chartView.loadOlder = loadOlder;
chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
  if (range && range.from < 10) loadOlder();
});

el("utc").addEventListener("click", () => {
  view.utc = !view.utc;
  markUtc();
  // new formatter functions make the chart draw its time labels again
  chart.applyOptions({
    timeScale: { tickMarkFormatter: (t, type) => tickMark(t, type) },
    localization: {
      timeFormatter: (t) =>
        formatTime(t, {
          dateStyle: "medium",
          timeStyle: "short",
          hour12: false,
        }),
    },
  });
  const query = new URLSearchParams(location.search);
  if (view.utc) query.set("tz", "utc");
  else query.delete("tz");
  history.replaceState(null, "", `?${query}`);
});
function markUtc() {
  el("utc").setAttribute("aria-pressed", String(view.utc));
  syncState(); // the outage's time in the chosen zone
}
markUtc();

async function refreshCoins() {
  try {
    const status = await (await fetch("/api/status")).json();
    const select = el("coin");
    const known = [...select.options].map((o) => o.value);
    for (const coin of status.coins) {
      if (!known.includes(coin)) select.add(new Option(coin, coin));
    }
    select.value = view.coin;
  } catch {
    // The server is restarting; the next snapshot refreshes the list.
  }
}

el("coin").addEventListener("change", (e) => {
  view.coin = e.target.value;
  connect();
});
for (const button of document.querySelectorAll("[data-interval]")) {
  button.addEventListener("click", () => {
    view.interval = button.dataset.interval;
    markInterval();
    connect();
  });
}

function markInterval() {
  for (const b of document.querySelectorAll("[data-interval]")) {
    b.setAttribute(
      "aria-pressed",
      String(b.dataset.interval === view.interval),
    );
  }
}

markInterval();
connect();
setInterval(syncState, 1000);
