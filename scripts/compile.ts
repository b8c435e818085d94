/**
 * `deno task compile`: standalone binaries in dist/ of launch and each
 * script, with the permissions of their deno.json task (one source of
 * truth) and the files they read at run time embedded.
 *
 * `deno compile` downloads the Deno runtime for the target on first use; on
 * a machine without internet that download fails, and this task says so.
 *
 * @module
 */
const TASKS = [
  "launch",
  "setup-schema",
  "producer",
  "consumer",
  "seed-grafana",
  "chart",
];
/** Files read at run time, embedded with --include. */
const INCLUDES = [
  "schemas",
  "scripts/chart_page",
  "node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js",
];

const config = JSON.parse(await Deno.readTextFile("deno.json"));
await Deno.mkdir("dist", { recursive: true });
for (const task of TASKS) {
  const command: string = config.tasks[task]?.command ?? "";
  const words = command.split(/\s+/);
  const script = words.at(-1)!;
  if (words[0] !== "deno" || words[1] !== "run" || !script.endsWith(".ts")) {
    console.error(
      `compile: task ${task} is not "deno run <flags> <script>.ts": ${command}`,
    );
    Deno.exit(1);
  }
  const flags = words.slice(2, -1).filter((w) => !w.startsWith("--env-file"));
  const args = [
    "compile",
    ...flags,
    ...INCLUDES.flatMap((path) => ["--include", path]),
    "--output",
    `dist/${task}`,
    script,
  ];
  console.error(`compile: deno ${args.join(" ")}`);
  const { code } = await new Deno.Command("deno", { args, stdin: "null" })
    .spawn().status;
  if (code !== 0) {
    console.error(
      `compile: ${task} failed (exit ${code}); without internet the Deno runtime download fails`,
    );
    Deno.exit(1);
  }
}
console.error(`compile: ${TASKS.length} binaries in dist/`);
