/**
 * `deno task compile`: standalone binaries in dist/ of launch and each
 * script, each with its permission set of deno.json (the one table; read
 * with `@cryptocandles/launch/permissions`) and its task's V8 flags, and
 * the files they read at run time embedded.
 *
 * `deno compile` downloads the Deno runtime for the target on first use; on
 * a machine without internet that download fails, and this task says so.
 *
 * @module
 */
import {
  permissionSet,
  setFlags,
  v8FlagsOf,
} from "@cryptocandles/launch/permissions";
import { runInForeground } from "@cryptocandles/runtime";

/** Each binary: its permission set (the same name as its task) and its script. */
const BINARIES: Record<string, string> = {
  launch: "launch.ts",
  "setup-schema": "scripts/setup-schema.ts",
  producer: "scripts/producer.ts",
  consumer: "scripts/consumer.ts",
  "seed-grafana": "scripts/seed-grafana.ts",
  chart: "scripts/chart.ts",
};
/** Files read at run time, embedded with --include (launch reads its children's sets in deno.json). */
const INCLUDES = [
  "deno.json",
  "schemas",
  "scripts/chart_page",
  "node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js",
];

await Deno.mkdir("dist", { recursive: true });
for (const [name, script] of Object.entries(BINARIES)) {
  const args = [
    "compile",
    "-q",
    ...v8FlagsOf(name),
    ...setFlags(permissionSet(name)),
    ...INCLUDES.flatMap((path) => ["--include", path]),
    "--output",
    `dist/${name}`,
    script,
  ];
  console.error(`compile: deno ${args.join(" ")}`);
  const code = await runInForeground("deno", args);
  if (code !== 0) {
    console.error(
      `compile: ${name} failed (exit ${code}); without internet the Deno runtime download fails`,
    );
    Deno.exit(1);
  }
}
console.error(
  `compile: ${Object.keys(BINARIES).length} binaries in dist/`,
);
