// The chart page: candles + volume with lightweight-charts, fed by Server-Sent
// Events from scripts/chart.ts (a snapshot on connect, then candle updates).
// globalThis.chartData holds what is drawn, for tests and curious people.
"use strict";

const { createChart, CandlestickSeries, HistogramSeries } = LightweightCharts;
const params = new URLSearchParams(location.search);
const view = {
  coin: params.get("coin") ?? "",
  interval: params.get("interval") ?? "5m",
};
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
  },
});
const candleSeries = chart.addSeries(CandlestickSeries, {
  upColor: "#26a69a",
  downColor: "#ef5350",
  borderVisible: false,
  wickUpColor: "#26a69a",
  wickDownColor: "#ef5350",
});
const volumeSeries = chart.addSeries(HistogramSeries, {
  priceFormat: { type: "volume" },
  priceScaleId: "",
});
volumeSeries.priceScale().applyOptions({
  scaleMargins: { top: 0.8, bottom: 0 },
});

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
    : "connecting…";
  badge.className = `badge state-${state}`;
}

function showLast(last, source) {
  if (source) {
    globalThis.chartData.source = source;
    el("source").textContent = `source: ${source}`;
  }
  if (!last) return;
  el("price").textContent = last.price.toLocaleString(undefined, {
    maximumFractionDigits: 6,
  });
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
  history.replaceState(null, "", `?${query}`);
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
    setState("live");
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
  });
  events.onopen = () => setState("live");
  events.onerror = () => setState("down");
}

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
