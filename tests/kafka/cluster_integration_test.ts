import assert from "node:assert/strict";
import {
  describeQuorumLeader,
  parseQuorumLeader,
  quorumRequest,
} from "@cryptocandles/kafka";
import { testConfig } from "../support.ts";

Deno.test("describeQuorumLeader() names the node Kafka's own kafka-metadata-quorum calls LeaderId", async () => {
  const brokers = testConfig().kafka.brokers;
  const ours = await describeQuorumLeader(["127.0.0.1:1", ...brokers]);
  const tool = await new Deno.Command(".stack/jdk/bin/java", {
    args: [
      "-cp",
      ".stack/libs/*",
      "org.apache.kafka.tools.MetadataQuorumCommand",
      "--bootstrap-server",
      brokers[0],
      "describe",
      "--status",
    ],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(tool.stdout);
  assert.equal(tool.code, 0, new TextDecoder().decode(tool.stderr));
  const leader = Number(/LeaderId:\s+(\d+)/.exec(text)?.[1]);
  assert.equal(ours, leader, text);
});

Deno.test("parseQuorumLeader() reads a recorded DescribeQuorum v0 answer and refuses an error code", () => {
  // Recorded from this stack's broker (size prefix dropped): leader 3.
  const hex =
    "00000007 00 0000 02 13 5f5f636c75737465725f6d65746164617461 02 00000000 0000 00000003 00000016";
  const answer = Uint8Array.from(
    hex.replaceAll(" ", "").match(/../g)!.map((b) => parseInt(b, 16)),
  );
  assert.equal(parseQuorumLeader(answer), 3);
  const failed = answer.slice();
  failed[6] = 0x3a; // error code NOT_CONTROLLER-like, not 0
  assert.equal(parseQuorumLeader(failed), undefined);
  const request = quorumRequest("demo", 7);
  assert.equal(new DataView(request.buffer).getInt32(0), request.length - 4);
  assert.deepEqual([...request.slice(4, 8)], [0, 55, 0, 0], "api key 55 v0");
});
