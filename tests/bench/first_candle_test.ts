/**
 * The pure parts of bench/first_candle.ts: launch's phases from its lines
 * (lines as a cold and a warm launch printed them, against a private stack
 * with the Bitfinex, InfluxDB and Grafana doubles) and the rows P6/P6w.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  firstCandleRow,
  launchPhases,
  type TimedLine,
} from "../../bench/first_candle.ts";

const lines = (text: string): TimedLine[] =>
  text.trim().split("\n").map((l) => {
    const [, at, rest] = /^\s*(\d+) (.*)$/.exec(l)!;
    return { at: Number(at), text: rest };
  });

const COLD = lines(`
680 launch: using Java 25 at the newest Java 21+ found java=.stack/jdk/bin/java
2940 launch: started kafka-1 pid=8907 ports=30215,30218
8400 launch: started kafka-2 pid=8966 ports=30216,30219
13240 launch: started kafka-3 pid=9193 ports=30217,30220
23820 launch: started registry pid=9654 ports=30228,30229
35820 launch: stack ready brokers=127.0.0.1:30215 registry=http://127.0.0.1:30228/apis/ccompat/v7
35840 launch: started influxdb3 pid=10876 port=25986
35870 launch: started grafana pid=10887 port=25987
36690 launch: influxdb3 ready url=http://127.0.0.1:25986
36700 launch: grafana ready url=http://127.0.0.1:25987
37120 [setup-schema] warn: kafkajs Connection: Response Metadata(key: 3, version: 6) error=This server does not host this topic-partition
37250 [setup-schema] topic CRIPTOMONEDAS created partitions=2 replication=3 minIsr=2
39720 [setup-schema] schema registered under CRIPTOMONEDAS.candles-value id=2 compatibility=BACKWARD
39800 launch: dashboard: http://127.0.0.1:25987/d/cryptocandles
39840 launch: pipeline started children=consumer-1,consumer-2,producer,chart
40590 [consumer-2] database criptomonedas created host=http://127.0.0.1:25986
40720 [chart] serving http://127.0.0.1:25988/ topic=CRIPTOMONEDAS
41090 [consumer-2] joined group group=Coins assignor=range partitions=CRIPTOMONEDAS:0,1
42330 [producer] backfill: done in 1.426 s sent={"tBTCUSD":1440} seconds=1.426
42330 [producer] sending source=bitfinex-ws topic=CRIPTOMONEDAS schemaId=1 coins=tBTCUSD
50260 [consumer-2] joined group group=Coins assignor=range partitions=CRIPTOMONEDAS:1
50260 [consumer-1] joined group group=Coins assignor=range partitions=CRIPTOMONEDAS:0
`);

Deno.test("launchPhases: a cold launch's phases, each at the line that ends it", () => {
  assert.deepEqual(launchPhases(COLD, "cold"), [
    { name: "brokers started", at: 13240 },
    { name: "brokers ready", at: 23820 },
    { name: "stack ready", at: 35820 },
    { name: "InfluxDB and Grafana ready", at: 36700 },
    { name: "schema ready", at: 39720 },
    { name: "children started", at: 39840 },
    { name: "chart serving", at: 40720 },
    { name: "first consumer joined", at: 41090 },
    { name: "consumers joined", at: 50260 },
    { name: "history sent", at: 42330 },
    { name: "producer live", at: 42330 },
  ]);
});

Deno.test("launchPhases: a warm launch has no start-up phases of the stack; a phase no line ended is null", () => {
  const warm = lines(`
660 launch: stack already running pids=kafka-1:11122,kafka-2:11123,kafka-3:11126,registry:11553
1070 [setup-schema] topic CRIPTOMONEDAS already there partitions=2 replication=3 minIsr=2
1800 [setup-schema] schema already registered under CRIPTOMONEDAS.candles-value id=2 version=1
1880 launch: pipeline started children=consumer-1,consumer-2,producer,chart
2720 [chart] serving http://127.0.0.1:25988/ topic=CRIPTOMONEDAS
3090 [consumer-2] joined group group=Coins assignor=range partitions=CRIPTOMONEDAS:0,1
`);
  const phases = launchPhases(warm, "warm");
  assert.deepEqual(phases.map((p) => p.name), [
    "stack ready",
    "schema ready",
    "children started",
    "chart serving",
    "first consumer joined",
    "consumers joined",
    "history sent",
    "producer live",
  ]);
  assert.deepEqual(phases.map((p) => p.at), [
    660,
    1800,
    1880,
    2720,
    3090,
    null,
    null,
    null,
  ]);
  assert.ok(launchPhases([], "cold").every((p) => p.at === null));
  // "brokers started" needs all three: kafka-2 alone is not it
  assert.equal(
    launchPhases(
      lines("2940 launch: started kafka-2 pid=1 ports=1,2"),
      "cold",
    )[0]
      .at,
    null,
  );
});

Deno.test("firstCandleRow: P6 cold against 30 s, P6w warm against 10 s, seconds to 0.1, phases without a better direction", () => {
  const cold = firstCandleRow({
    run: "cold",
    firstCandleMs: 44_449,
    firstLiveMs: 45_010,
    apiMs: 44_010,
    phases: launchPhases(COLD, "cold"),
    freshTopic: true,
  });
  assert.equal(cold.id, "P6");
  assert.equal(cold.target, "≤ 30 s");
  assert.equal(cold.met, false);
  assert.equal(cold.setup.coldStack, 1);
  assert.equal(cold.setup.freshTopic, 1);
  assert.deepEqual(cold.figures.slice(0, 4), [
    {
      name: "first candle on the page",
      value: 44.4,
      unit: "s",
      better: "lower",
    },
    {
      name: "first live tick on the page",
      value: 45,
      unit: "s",
      better: "lower",
    },
    { name: "first candle in /api/candles", value: 44, unit: "s" },
    { name: "phase: brokers started", value: 13.2, unit: "s" },
  ]);
  assert.match(cold.what, /Bitfinex double/);
  assert.match(cold.what, /InfluxDB and Grafana doubles/);

  const warm = firstCandleRow({
    run: "warm",
    firstCandleMs: 9_960,
    firstLiveMs: null,
    apiMs: 9_500,
    phases: [],
    freshTopic: false,
  });
  assert.equal(warm.id, "P6w");
  assert.equal(warm.met, true);
  assert.equal(warm.setup.coldStack, 0);
  assert.equal(warm.setup.freshTopic, 0);
  assert.match(warm.what, /again on the topic of the launch before/);
  assert.equal(warm.figures[1].value, null);

  const none = firstCandleRow({
    run: "warm",
    firstCandleMs: null,
    firstLiveMs: null,
    apiMs: null,
    phases: [],
    freshTopic: true,
    error: "launch exited 1 before a candle was on the page",
  });
  assert.equal(none.met, false);
  assert.match(none.what, /on a new topic/);
  assert.equal(none.figures[0].value, null);
});
