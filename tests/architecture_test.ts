/**
 * The workspace's architecture rules, checked against the real import graph
 * (as ArchUnit rules are): a failure names the file, the line and the import.
 *
 * How the graph is read: `deno info --json <file>` for every `.ts` file under
 * `shared/` and `scripts/` and for `launch.ts`. Deno reports each module with
 * its dependencies: the specifier as written and what Deno's own resolver
 * made of it (a file, `npm:kafkajs@2.2.4`, `node:util`, or an error such as
 * `Unknown export './kafka.ts' for '@cryptocandles/kafka'`). Static imports,
 * `export … from`, type-only imports and `import()` are all listed. Using
 * Deno's resolver rather than parsing the source means the workspace names,
 * the root import map (an alias of kafkajs is still kafkajs) and each
 * package's `exports` are read as `deno run` reads them. One call walks every
 * file its root reaches, so a file already seen is not asked about again (a
 * handful of calls for the whole tree). Tests are not scanned: they may import
 * kafkajs and avsc as independent clients.
 *
 * The rules are one pure function, {@linkcode checkArchitecture}, over that
 * list of edges and the packages' `deno.json` (name, exports). It is tested
 * first with deliberately bad edges (each rule fails on its edge and names
 * it), then once over the real tree. The rules:
 * - `package-imports-app`: a package (`shared/<pkg>/`) imports `scripts/` or
 *   `launch.ts`.
 * - `npm-owner`: a file outside `shared/kafka/` imports `kafkajs`, or outside
 *   `shared/avro/` imports `avsc`.
 * - `forbidden-package`: bitfinex or sources import kafka; influx imports
 *   kafka or avro (direct imports: what a package reaches through another
 *   package's face is that package's business, and the cycle rule keeps it
 *   from coming back).
 * - `reach-in`: a relative path that leaves its package folder, a script
 *   that reaches into a package's files by path, `@cryptocandles/x/sub` that
 *   x's `exports` does not declare, or a `@cryptocandles/` name no package has.
 * - `package-cycle`: the packages' dependency graph has a cycle.
 *
 * @module
 */
import assert from "node:assert/strict";

// --- the rules, as a pure function over edges ------------------------------------

/** One import: who imports what, as written and as resolved. */
interface ImportEdge {
  /** The importing file, relative to the repository root: `shared/sink/sink.ts`. */
  from: string;
  /** The specifier as written: `kafkajs`, `./mod.ts`, `@cryptocandles/kafka`. */
  specifier: string;
  /**
   * What it resolves to: a repository-relative path for a local file
   * (`shared/kafka/mod.ts`), `npm:kafkajs@2.2.4`, `node:util`, or undefined
   * when Deno could not resolve it (such as an undeclared export).
   */
  to?: string;
  /** The 1-based line of the import, for messages. */
  line?: number;
}

/** A workspace package, as its `deno.json` declares it. */
interface PackageInfo {
  /** `@cryptocandles/kafka`. */
  name: string;
  /** Its folder, relative to the repository root: `shared/kafka`. */
  dir: string;
  /** The subpaths its `exports` declares: `["."]`, `[".", "./node_warnings"]`. */
  exports: string[];
}

/** The rule a {@linkcode Violation} breaks. */
type Rule =
  | "package-imports-app"
  | "npm-owner"
  | "forbidden-package"
  | "reach-in"
  | "package-cycle";

/** A broken rule, with a message naming the file and the import. */
interface Violation {
  rule: Rule;
  message: string;
}

/** npm packages that one workspace package alone may import (by folder name). */
const NPM_OWNERS: Record<string, string> = { kafkajs: "kafka", avsc: "avro" };

/** Package edges that must not exist (by folder name), and why. */
const FORBIDDEN_PACKAGE_EDGES: { from: string; to: string; why: string }[] = [
  {
    from: "bitfinex",
    to: "kafka",
    why: "a tick source yields tickers and knows nothing of Kafka",
  },
  {
    from: "sources",
    to: "kafka",
    why: "a tick source yields tickers and knows nothing of Kafka",
  },
  {
    from: "influx",
    to: "kafka",
    why: "the InfluxDB client takes points, not Kafka records",
  },
  {
    from: "influx",
    to: "avro",
    why: "the InfluxDB client takes points, not Avro values",
  },
];

const SCOPE = "@cryptocandles/";

/**
 * Checks import edges against the architecture rules.
 *
 * @param edges Every import of the files to check.
 * @param packages The workspace packages.
 * @returns The broken rules, in edge order, then the package cycles.
 */
function checkArchitecture(
  edges: readonly ImportEdge[],
  packages: readonly PackageInfo[],
): Violation[] {
  const violations: Violation[] = [];
  const fail = (rule: Rule, message: string) =>
    violations.push({ rule, message });
  const packageOfPath = (path: string | undefined) =>
    path === undefined
      ? undefined
      : packages.find((p) => path.startsWith(`${p.dir}/`));
  const short = (p: PackageInfo) => p.dir.split("/").at(-1)!;
  /** The package an edge lands in: by resolved path, else by name. */
  const targetOf = (edge: ImportEdge) =>
    packageOfPath(edge.to) ??
      packages.find((p) =>
        edge.specifier === p.name || edge.specifier.startsWith(`${p.name}/`)
      );
  /** Package → package → the first edge that makes it, for cycles. */
  const graph = new Map<string, Map<string, ImportEdge>>();

  for (const edge of edges) {
    const where = `${edge.from}${
      edge.line ? `:${edge.line}` : ""
    } imports "${edge.specifier}"`;
    const home = packageOfPath(edge.from);
    const target = targetOf(edge);
    const appTarget = edge.to !== undefined &&
      (edge.to === "launch.ts" || edge.to.startsWith("scripts/"));

    if (home && appTarget) {
      fail(
        "package-imports-app",
        `${where} (${edge.to}): a package must not import scripts/ or launch.ts`,
      );
    }

    const npm = npmNameOf(edge);
    const owner = npm === undefined ? undefined : NPM_OWNERS[npm];
    if (owner !== undefined && (home === undefined || short(home) !== owner)) {
      fail(
        "npm-owner",
        `${where}: only shared/${owner}/ may import ${npm}; use ${SCOPE}${owner}`,
      );
    }

    if (home && target && target !== home) {
      const rule = FORBIDDEN_PACKAGE_EDGES.find((r) =>
        r.from === short(home) && r.to === short(target)
      );
      if (rule) {
        fail(
          "forbidden-package",
          `${where}: the ${rule.from} package must not import the ${rule.to} package (${rule.why})`,
        );
      }
      const out = graph.get(home.name) ?? new Map<string, ImportEdge>();
      if (!out.has(target.name)) out.set(target.name, edge);
      graph.set(home.name, out);
    }

    const reachIn = reachInProblem(edge, home, packageOfPath(edge.to), {
      appTarget,
      packages,
    });
    if (reachIn) fail("reach-in", `${where}: ${reachIn}`);
  }

  for (const cycle of findCycles(graph)) {
    const hops = cycle.slice(0, -1).map((name, i) => {
      const edge = graph.get(name)!.get(cycle[i + 1])!;
      return `${edge.from}${
        edge.line ? `:${edge.line}` : ""
      } imports "${edge.specifier}"`;
    });
    fail(
      "package-cycle",
      `package cycle ${cycle.join(" → ")}: ${hops.join("; ")}`,
    );
  }
  return violations;
}

/** Why an edge reaches into a package instead of importing its name, if it does. */
function reachInProblem(
  edge: ImportEdge,
  home: PackageInfo | undefined,
  landsIn: PackageInfo | undefined,
  context: { appTarget: boolean; packages: readonly PackageInfo[] },
): string | undefined {
  const { specifier } = edge;
  if (specifier.startsWith(SCOPE)) {
    const [scope, bare, ...rest] = specifier.split("/");
    const name = `${scope}/${bare}`;
    const pkg = context.packages.find((p) => p.name === name);
    if (!pkg) return `no workspace package is named ${name}`;
    const subpath = rest.length === 0 ? "." : `./${rest.join("/")}`;
    if (!pkg.exports.includes(subpath)) {
      return `${name} exports only ${
        pkg.exports.map((e) => `"${e}"`).join(", ")
      }; import "${name}"`;
    }
    return undefined;
  }
  const byPath = /^(\.{1,2}\/|\/|file:)/.test(specifier);
  if (!byPath || edge.to === undefined) return undefined;
  if (home && landsIn !== home && !context.appTarget) {
    return landsIn
      ? `leaves its package ${home.dir}/ by a relative path into ${landsIn.dir}/; import "${landsIn.name}"`
      : `leaves its package ${home.dir}/ by a relative path (to ${edge.to})`;
  }
  if (!home && landsIn) {
    return `reaches into ${landsIn.dir}/ by path; import "${landsIn.name}"`;
  }
  return undefined;
}

/** The npm package an edge imports (`kafkajs`, `@grafana/schema`), if any. */
function npmNameOf(edge: ImportEdge): string | undefined {
  const { to, specifier } = edge;
  if (to?.startsWith("npm:")) return npmName(to);
  if (specifier.startsWith("npm:")) return npmName(specifier);
  // Unresolved bare specifiers still name the package they meant.
  const bare = !/^(\.{0,2}\/|[a-z][a-z0-9+.-]*:)/i.test(specifier) &&
    !specifier.startsWith(SCOPE);
  return to === undefined && bare ? npmName(specifier) : undefined;
}

/** `npm:/@scope/name@1.2.3/sub` → `@scope/name`; `kafkajs/sub` → `kafkajs`. */
function npmName(specifier: string): string {
  const path = specifier.replace(/^npm:\/?/, "");
  const segments = path.split("/");
  const name = path.startsWith("@")
    ? `${segments[0]}/${segments[1] ?? ""}`
    : segments[0];
  return name.replace(/(.)@.*$/, "$1");
}

/** One cycle through each strongly connected part of the graph: `[a, b, a]`. */
function findCycles(graph: Map<string, Map<string, unknown>>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of [...(graph.get(node)?.keys() ?? [])].sort()) {
      if (state.get(next) === "open") {
        cycles.push([...stack.slice(stack.indexOf(next)), next]);
      } else if (!state.has(next)) {
        visit(next);
      }
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) {
    if (!state.has(node)) visit(node);
  }
  return cycles;
}

// --- the rules, each on a deliberately bad edge -------------------------------------

const PACKAGES: PackageInfo[] = [
  "runtime",
  "config",
  "ticker",
  "bitfinex",
  "sources",
  "avro",
  "kafka",
  "sink",
  "influx",
  "launch",
].map((name) => ({
  name: `@cryptocandles/${name}`,
  dir: `shared/${name}`,
  exports: name === "runtime" ? [".", "./node_warnings"] : ["."],
}));

function edge(
  from: string,
  specifier: string,
  to: string | undefined,
  line = 3,
): ImportEdge {
  return { from, specifier, to, line };
}

/** Edges that keep every rule: the shape of the real tree. */
const GOOD_EDGES: ImportEdge[] = [
  edge("launch.ts", "@cryptocandles/launch", "shared/launch/mod.ts"),
  edge("scripts/producer.ts", "@cryptocandles/kafka", "shared/kafka/mod.ts"),
  edge(
    "scripts/producer.ts",
    "@cryptocandles/sources",
    "shared/sources/mod.ts",
  ),
  edge(
    "scripts/consumer.ts",
    "@cryptocandles/runtime/node_warnings",
    "shared/runtime/node_warnings.ts",
  ),
  edge("scripts/chart.ts", "node:http", "node:http"),
  edge("shared/kafka/mod.ts", "./kafka.ts", "shared/kafka/kafka.ts"),
  edge("shared/kafka/kafka.ts", "kafkajs", "npm:kafkajs@2.2.4"),
  edge(
    "shared/kafka/assignors/sticky.ts",
    "../kafka.ts",
    "shared/kafka/kafka.ts",
  ),
  edge(
    "shared/kafka/kafka.ts",
    "@cryptocandles/runtime",
    "shared/runtime/mod.ts",
  ),
  edge("shared/avro/avro.ts", "avsc", "npm:avsc@5.7.7"),
  edge("shared/sink/sink.ts", "@cryptocandles/kafka", "shared/kafka/mod.ts"),
  edge("shared/sink/sink.ts", "@cryptocandles/influx", "shared/influx/mod.ts"),
  edge("shared/sink/sink.ts", "@cryptocandles/avro", "shared/avro/mod.ts"),
  edge(
    "shared/sources/mod.ts",
    "@cryptocandles/bitfinex",
    "shared/bitfinex/mod.ts",
  ),
  edge(
    "shared/influx/influx.ts",
    "@cryptocandles/ticker",
    "shared/ticker/mod.ts",
  ),
  edge("shared/launch/steps.ts", "@cryptocandles/kafka", "shared/kafka/mod.ts"),
];

/** The violations of `GOOD_EDGES` plus `bad`, as `[rule, message]`. */
function check(...bad: ImportEdge[]): [Rule, string][] {
  return checkArchitecture([...GOOD_EDGES, ...bad], PACKAGES)
    .map((v) => [v.rule, v.message]);
}

Deno.test("checkArchitecture() passes edges that keep every rule", () => {
  assert.deepEqual(check(), []);
});

Deno.test("checkArchitecture() fails a package that imports scripts/ or launch.ts, naming the file and the import", () => {
  assert.deepEqual(
    check(
      edge(
        "shared/kafka/kafka.ts",
        "../../scripts/producer.ts",
        "scripts/producer.ts",
        7,
      ),
      edge("shared/launch/steps.ts", "../../launch.ts", "launch.ts", 9),
    ),
    [
      [
        "package-imports-app",
        'shared/kafka/kafka.ts:7 imports "../../scripts/producer.ts" (scripts/producer.ts): a package must not import scripts/ or launch.ts',
      ],
      [
        "package-imports-app",
        'shared/launch/steps.ts:9 imports "../../launch.ts" (launch.ts): a package must not import scripts/ or launch.ts',
      ],
    ],
  );
});

Deno.test("checkArchitecture() fails kafkajs imported outside shared/kafka/ (packages, scripts, launch.ts, an alias)", () => {
  assert.deepEqual(
    check(
      edge("shared/sink/sink.ts", "kafkajs", "npm:kafkajs@2.2.4", 12),
      edge("scripts/producer.ts", "kafkajs", "npm:kafkajs@2.2.4", 4),
      edge("launch.ts", "npm:kafkajs@2.2.4", "npm:kafkajs@2.2.4", 5),
      edge("shared/launch/steps.ts", "kafka-client", "npm:/kafkajs@2.2.4", 8),
    ),
    [
      [
        "npm-owner",
        'shared/sink/sink.ts:12 imports "kafkajs": only shared/kafka/ may import kafkajs; use @cryptocandles/kafka',
      ],
      [
        "npm-owner",
        'scripts/producer.ts:4 imports "kafkajs": only shared/kafka/ may import kafkajs; use @cryptocandles/kafka',
      ],
      [
        "npm-owner",
        'launch.ts:5 imports "npm:kafkajs@2.2.4": only shared/kafka/ may import kafkajs; use @cryptocandles/kafka',
      ],
      [
        "npm-owner",
        'shared/launch/steps.ts:8 imports "kafka-client": only shared/kafka/ may import kafkajs; use @cryptocandles/kafka',
      ],
    ],
  );
});

Deno.test("checkArchitecture() fails avsc imported outside shared/avro/, even unresolved", () => {
  assert.deepEqual(
    check(
      edge("shared/sink/sink.ts", "avsc", "npm:avsc@5.7.7", 2),
      edge("scripts/consumer.ts", "avsc/lib/types.js", undefined, 6),
    ),
    [
      [
        "npm-owner",
        'shared/sink/sink.ts:2 imports "avsc": only shared/avro/ may import avsc; use @cryptocandles/avro',
      ],
      [
        "npm-owner",
        'scripts/consumer.ts:6 imports "avsc/lib/types.js": only shared/avro/ may import avsc; use @cryptocandles/avro',
      ],
    ],
  );
});

Deno.test("checkArchitecture() fails bitfinex or sources importing kafka", () => {
  assert.deepEqual(
    check(
      edge(
        "shared/bitfinex/ws.ts",
        "@cryptocandles/kafka",
        "shared/kafka/mod.ts",
      ),
      edge(
        "shared/sources/sources.ts",
        "@cryptocandles/kafka",
        "shared/kafka/mod.ts",
        5,
      ),
    ),
    [
      [
        "forbidden-package",
        'shared/bitfinex/ws.ts:3 imports "@cryptocandles/kafka": the bitfinex package must not import the kafka package (a tick source yields tickers and knows nothing of Kafka)',
      ],
      [
        "forbidden-package",
        'shared/sources/sources.ts:5 imports "@cryptocandles/kafka": the sources package must not import the kafka package (a tick source yields tickers and knows nothing of Kafka)',
      ],
    ],
  );
});

Deno.test("checkArchitecture() fails influx importing kafka or avro", () => {
  assert.deepEqual(
    check(
      edge(
        "shared/influx/influx.ts",
        "@cryptocandles/kafka",
        "shared/kafka/mod.ts",
        6,
      ),
      edge(
        "shared/influx/influx.ts",
        "@cryptocandles/avro",
        "shared/avro/mod.ts",
        7,
      ),
    ),
    [
      [
        "forbidden-package",
        'shared/influx/influx.ts:6 imports "@cryptocandles/kafka": the influx package must not import the kafka package (the InfluxDB client takes points, not Kafka records)',
      ],
      [
        "forbidden-package",
        'shared/influx/influx.ts:7 imports "@cryptocandles/avro": the influx package must not import the avro package (the InfluxDB client takes points, not Avro values)',
      ],
    ],
  );
});

Deno.test("checkArchitecture() fails a relative path that leaves its package or reaches into one", () => {
  assert.deepEqual(
    check(
      edge(
        "shared/sink/sink.ts",
        "../kafka/kafka.ts",
        "shared/kafka/kafka.ts",
        4,
      ),
      edge(
        "shared/sink/sink.ts",
        "../../tests/doubles/influx_double.ts",
        "tests/doubles/influx_double.ts",
        5,
      ),
      edge(
        "scripts/producer.ts",
        "../shared/kafka/mod.ts",
        "shared/kafka/mod.ts",
        6,
      ),
    ),
    [
      [
        "reach-in",
        'shared/sink/sink.ts:4 imports "../kafka/kafka.ts": leaves its package shared/sink/ by a relative path into shared/kafka/; import "@cryptocandles/kafka"',
      ],
      [
        "reach-in",
        'shared/sink/sink.ts:5 imports "../../tests/doubles/influx_double.ts": leaves its package shared/sink/ by a relative path (to tests/doubles/influx_double.ts)',
      ],
      [
        "reach-in",
        'scripts/producer.ts:6 imports "../shared/kafka/mod.ts": reaches into shared/kafka/ by path; import "@cryptocandles/kafka"',
      ],
    ],
  );
});

Deno.test("checkArchitecture() fails a subpath the package's exports do not declare, and an unknown package name", () => {
  assert.deepEqual(
    check(
      edge(
        "scripts/consumer.ts",
        "@cryptocandles/kafka/assignors.ts",
        undefined,
        8,
      ),
      edge(
        "shared/sink/sink.ts",
        "@cryptocandles/runtime/log.ts",
        undefined,
        9,
      ),
      edge("launch.ts", "@cryptocandles/stack", undefined, 10),
    ),
    [
      [
        "reach-in",
        'scripts/consumer.ts:8 imports "@cryptocandles/kafka/assignors.ts": @cryptocandles/kafka exports only "."; import "@cryptocandles/kafka"',
      ],
      [
        "reach-in",
        'shared/sink/sink.ts:9 imports "@cryptocandles/runtime/log.ts": @cryptocandles/runtime exports only ".", "./node_warnings"; import "@cryptocandles/runtime"',
      ],
      [
        "reach-in",
        'launch.ts:10 imports "@cryptocandles/stack": no workspace package is named @cryptocandles/stack',
      ],
    ],
  );
});

Deno.test("checkArchitecture() fails a package cycle, naming each import around it", () => {
  assert.deepEqual(
    check(
      edge(
        "shared/runtime/log.ts",
        "@cryptocandles/config",
        "shared/config/mod.ts",
        11,
      ),
      edge(
        "shared/config/config.ts",
        "@cryptocandles/runtime",
        "shared/runtime/mod.ts",
        8,
      ),
    ),
    [
      [
        "package-cycle",
        'package cycle @cryptocandles/config → @cryptocandles/runtime → @cryptocandles/config: shared/config/config.ts:8 imports "@cryptocandles/runtime"; shared/runtime/log.ts:11 imports "@cryptocandles/config"',
      ],
    ],
  );
  // sink → kafka is fine on its own (GOOD_EDGES); kafka → sink closes a loop.
  assert.deepEqual(
    check(
      edge(
        "shared/kafka/kafka.ts",
        "@cryptocandles/sink",
        "shared/sink/mod.ts",
        2,
      ),
    ),
    [
      [
        "package-cycle",
        'package cycle @cryptocandles/kafka → @cryptocandles/sink → @cryptocandles/kafka: shared/kafka/kafka.ts:2 imports "@cryptocandles/sink"; shared/sink/sink.ts:3 imports "@cryptocandles/kafka"',
      ],
    ],
  );
});

// --- the real tree ---------------------------------------------------------------------

const ROOT = new URL("../", import.meta.url);

Deno.test("the real import graph of shared/, scripts/ and launch.ts keeps every rule", async () => {
  const packages = await readPackages();
  const { files, seen, edges } = await readImportGraph();
  // The reader saw the tree: every file, and edges resolved as Deno resolves them.
  assert.deepEqual(files.filter((f) => !seen.has(f)), [], "files not read");
  assert.ok(
    edges.some((e) =>
      e.from.startsWith("shared/kafka/") && e.to === "npm:kafkajs@2.2.4"
    ),
    "shared/kafka/ imports kafkajs",
  );
  assert.ok(
    edges.some((e) =>
      e.specifier === "@cryptocandles/runtime" &&
      e.to === "shared/runtime/mod.ts"
    ),
    "workspace names resolve to the packages' mod.ts",
  );

  const violations = checkArchitecture(edges, packages);
  if (violations.length > 0) {
    assert.fail(
      `${violations.length} architecture rule(s) broken in ${files.length} files:\n` +
        violations.map((v) => `  [${v.rule}] ${v.message}`).join("\n"),
    );
  }
});

/** The workspace packages: every `shared/<pkg>/deno.json`. */
async function readPackages(): Promise<PackageInfo[]> {
  const packages: PackageInfo[] = [];
  for await (const entry of Deno.readDir(new URL("shared/", ROOT))) {
    if (!entry.isDirectory) continue;
    const dir = `shared/${entry.name}`;
    const text = await Deno.readTextFile(new URL(`${dir}/deno.json`, ROOT))
      .catch(() => undefined);
    if (text === undefined) continue;
    const { name, exports } = JSON.parse(text) as {
      name: string;
      exports?: string | Record<string, string>;
    };
    packages.push({
      name,
      dir,
      exports: typeof exports === "string" ? ["."] : Object.keys(exports ?? {}),
    });
  }
  return packages.sort((a, b) => a.dir.localeCompare(b.dir));
}

/** The shape of `deno info --json` this test reads. */
interface DenoInfo {
  modules: {
    specifier: string;
    dependencies?: {
      specifier: string;
      code?: Resolution;
      type?: Resolution;
      isDynamic?: boolean;
    }[];
  }[];
}

interface Resolution {
  specifier?: string;
  error?: string;
  span?: { start: { line: number } };
}

/** Every import of every `.ts` file under shared/ and scripts/ and of launch.ts. */
async function readImportGraph(): Promise<{
  files: string[];
  seen: Set<string>;
  edges: ImportEdge[];
}> {
  const files = [
    ...await listTs("shared"),
    ...await listTs("scripts"),
    "launch.ts",
  ];
  const inScope = (path: string) =>
    path === "launch.ts" || path.startsWith("shared/") ||
    path.startsWith("scripts/");
  const seen = new Set<string>();
  const edges: ImportEdge[] = [];
  for (const file of files) {
    if (seen.has(file)) continue;
    for (const module of (await denoInfo(file)).modules) {
      const from = repoPath(module.specifier);
      if (from === undefined || seen.has(from)) continue;
      seen.add(from);
      if (!inScope(from)) continue;
      for (const dependency of module.dependencies ?? []) {
        const resolution = dependency.code ?? dependency.type;
        const line = resolution?.span?.start.line;
        edges.push({
          from,
          specifier: dependency.specifier,
          to: resolution?.specifier === undefined
            ? undefined
            : repoPath(resolution.specifier) ?? resolution.specifier,
          line: line === undefined ? undefined : line + 1,
        });
      }
    }
  }
  return { files, seen, edges };
}

/** `file:///…/shared/kafka/mod.ts` → `shared/kafka/mod.ts`; anything else → undefined. */
function repoPath(specifier: string): string | undefined {
  if (!specifier.startsWith("file:")) return undefined;
  const path = decodeURIComponent(new URL(specifier).pathname);
  const root = decodeURIComponent(ROOT.pathname);
  return path.startsWith(root) ? path.slice(root.length) : path;
}

/** The `.ts` files under a folder, relative to the root, sorted. */
async function listTs(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(new URL(`${dir}/`, ROOT))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...await listTs(path));
    else if (/\.(ts|tsx|mts)$/.test(entry.name)) found.push(path);
  }
  return found.sort();
}

/** `deno info --json <file>` from the repository root. */
async function denoInfo(file: string): Promise<DenoInfo> {
  const { success, stdout, stderr } = await new Deno.Command("deno", {
    args: ["info", "--json", file],
    cwd: ROOT,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  assert.ok(
    success,
    `deno info --json ${file} failed:\n${decoder.decode(stderr)}`,
  );
  return JSON.parse(decoder.decode(stdout)) as DenoInfo;
}
