import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type Admin, AssignerProtocol } from "@cryptocandles/kafka";
import { createPipelineWatch, prettySchema } from "@cryptocandles/chart";
import { formatPrice, priceDecimals } from "../../scripts/chart_page/format.js";

/** An admin double answering like kafkajs with a 3-broker cluster, mutable per test. */
function fakeAdmin(state: {
  brokers: number[];
  ends: number[];
  leaders: number[];
  isr: number[][];
  hangTopics?: boolean;
  calls: number;
}): Admin {
  const assignment = (partitions: number[]) =>
    AssignerProtocol.MemberAssignment.encode({
      version: 0,
      assignment: { T: partitions },
      userData: Buffer.alloc(0),
    });
  const admin = {
    describeCluster: () => {
      state.calls++;
      return Promise.resolve({
        brokers: state.brokers.map((id) => ({
          nodeId: id,
          host: "127.0.0.1",
          port: 19089 + id,
        })),
        controller: state.brokers[0],
        clusterId: "c",
      });
    },
    listTopics: () => Promise.resolve(["T", "T.dlq"]),
    fetchTopicMetadata: () =>
      state.hangTopics ? new Promise(() => {}) : Promise.resolve({
        topics: [
          {
            name: "T",
            partitions: state.leaders.map((leader, i) => ({
              partitionId: i,
              leader,
              replicas: [1, 2, 3],
              isr: state.isr[i],
            })),
          },
          {
            name: "T.dlq",
            partitions: [{
              partitionId: 0,
              leader: 1,
              replicas: [1, 2, 3],
              isr: [1, 2, 3],
            }],
          },
        ],
      }),
    fetchTopicOffsets: (topic: string) =>
      Promise.resolve(
        topic === "T"
          ? state.ends.map((high, i) => ({
            partition: i,
            low: "0",
            high: String(high),
            offset: String(high),
          }))
          : [{ partition: 0, low: "2", high: "5", offset: "5" }],
      ),
    describeGroups: () =>
      Promise.resolve({
        groups: [{
          groupId: "Coins",
          state: "Stable",
          protocol: "range",
          protocolType: "consumer",
          errorCode: 0,
          members: [
            {
              memberId: "m2",
              clientId: "consumer-2",
              clientHost: "/127.0.0.1",
              memberAssignment: assignment([1]),
              memberMetadata: Buffer.alloc(0),
            },
            {
              memberId: "m1",
              clientId: "consumer-1",
              clientHost: "/127.0.0.1",
              memberAssignment: assignment([0]),
              memberMetadata: Buffer.alloc(0),
            },
          ],
        }],
      }),
    fetchOffsets: () =>
      Promise.resolve([{
        topic: "T",
        partitions: [{ partition: 0, offset: "90" }, {
          partition: 1,
          offset: "-1",
        }],
      }]),
  };
  return admin as unknown as Admin;
}

function rig(overrides: Partial<Parameters<typeof fakeAdmin>[0]> = {}) {
  const state = {
    brokers: [1, 2, 3],
    ends: [100, 40],
    leaders: [1, 2],
    isr: [[1, 2, 3], [1, 2, 3]],
    calls: 0,
    ...overrides,
  };
  let clock = 1_000_000;
  const down = new Set<number>();
  const watch = createPipelineWatch({
    admin: fakeAdmin(state),
    topics: { ticks: "T", dlq: "T.dlq", history: "T.candles" },
    group: "Coins",
    registryUrl: "http://registry.invalid",
    fetch: () => Promise.reject(new Error("no registry here")),
    now: () => clock,
    timeoutMs: 100,
    probe: (_host, port) => Promise.resolve(!down.has(port - 19089)),
  });
  return { state, watch, down, tick: (ms: number) => clock += ms };
}

Deno.test("priceDecimals() gives BTC two decimals and keeps XRP's five significant digits", () => {
  assert.equal(formatPrice(65939.319327), "65,939.32");
  assert.equal(formatPrice(3501.084491), "3,501.08");
  assert.equal(formatPrice(0.5234117), "0.52341");
  assert.equal(formatPrice(2.153449), "2.1534");
  assert.equal(priceDecimals(0), 2);
});

Deno.test("a pipeline snapshot has lag per committed offset, records per second, members' partitions and the DLQ count", async () => {
  const { state, watch, tick } = rig();
  const first = await watch.snapshot();
  assert.deepEqual(
    first.group?.members.map((m) => [m.clientId, m.partitions]),
    [["consumer-1", [0]], ["consumer-2", [1]]],
  );
  // lag = end - committed; nothing committed: end - start.
  assert.deepEqual(first.group?.offsets.map((o) => o.lag), [10, 40]);
  assert.equal(first.dlq.count, 3);
  assert.equal(first.topics.find((t) => t.name === "T.candles")?.exists, false);
  assert.ok(
    first.errors.registry,
    "the registry's failure is reported, not thrown",
  );
  state.ends = [120, 40];
  tick(2000);
  const second = await watch.snapshot();
  assert.deepEqual(second.topics[0].partitions.map((p) => p.rate), [10, 0]);
});

Deno.test("a pipeline watch asks the cluster at most once per interval however many callers ask", async () => {
  const { state, watch, tick } = rig();
  await Promise.all([watch.snapshot(), watch.snapshot(), watch.snapshot()]);
  tick(1999);
  await watch.snapshot();
  assert.equal(state.calls, 1);
  tick(1);
  await watch.snapshot();
  assert.equal(state.calls, 2);
});

Deno.test("a stopped broker shows down at the next snapshot, its partitions under-replicated, and a hanging part goes stale without holding the rest", async () => {
  const { state, watch, down, tick } = rig();
  await watch.snapshot();
  state.brokers = [1, 3];
  state.leaders = [1, 3];
  state.isr = [[1, 3], [1, 3]];
  down.add(2);
  tick(2000);
  const snap = await watch.snapshot();
  assert.deepEqual(snap.brokers.map((b) => [b.id, b.up]), [[1, true], [
    2,
    false,
  ], [3, true]]);
  assert.deepEqual(
    snap.topics[0].partitions.map((p) => [p.leader, p.underReplicated]),
    [[1, true], [3, true]],
  );
  state.hangTopics = true;
  tick(2000);
  const stale = await watch.snapshot();
  assert.match(stale.errors.topics, /no answer within 100 ms/);
  assert.equal(
    stale.topics[0].partitions[1].leader,
    3,
    "the last known topics stay",
  );
  assert.equal(stale.brokers.length, 3);
});

Deno.test("prettySchema() indents a schema and leaves other text alone", () => {
  assert.equal(prettySchema('{"type":"string"}'), '{\n  "type": "string"\n}');
  assert.equal(prettySchema("not json"), "not json");
});

Deno.test("the pipeline watch keeps each key's partition and the last dead letters, newest first", async () => {
  const { watch } = rig();
  watch.seen({ topic: "T", partition: 1, offset: "1", key: "tBTCUSD" });
  watch.seen({ topic: "T", partition: 0, offset: "2", key: "tETHUSD" });
  watch.seen({
    topic: "T.dlq",
    partition: 0,
    offset: "0",
    headers: {
      "error.reason": "magic",
      "error.message": "m",
      "original.partition": "1",
      "original.offset": "7",
    },
  });
  watch.seen({
    topic: "T.dlq",
    partition: 0,
    offset: "1",
    headers: { "error.reason": "truncated" },
  });
  const snap = await watch.snapshot();
  assert.deepEqual(snap.keys, { tBTCUSD: 1, tETHUSD: 0 });
  assert.deepEqual(snap.dlq.recent.map((d) => d.reason), [
    "truncated",
    "magic",
  ]);
  assert.equal(snap.dlq.recent[1].originalOffset, "7");
});
