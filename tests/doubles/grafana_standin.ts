/**
 * A stand-in for `grafana server --homepath H --config C`, run by the
 * `grafana` script that {@linkcode writeStandIns} writes: it reads the ini
 * the stack rendered (`http_port`, `[paths] data` and `provisioning`),
 * serves the Grafana double on 127.0.0.1:<http_port> with the admin of
 * `GF_SECURITY_ADMIN_USER`/`GF_SECURITY_ADMIN_PASSWORD`, loads the
 * provisioning files as Grafana would (data sources with `$VAR` replaced
 * from its environment, dashboards from the file provider's folder), and
 * records its argv, environment names and what it provisioned in
 * `<data>/standin.json` (mode 0600: it holds the token). Exits 0 on SIGTERM.
 *
 * @module
 */
import { startGrafanaDouble } from "./grafana_double.ts";

const args = Deno.args;
const flag = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
if (args[0] !== "server" || !flag("--homepath") || !flag("--config")) {
  console.error(`grafana stand-in: unexpected arguments ${args.join(" ")}`);
  Deno.exit(2);
}
const ini = await Deno.readTextFile(flag("--config")!);
const setting = (key: string) =>
  new RegExp(`^${key}\\s*=\\s*(.*)$`, "m").exec(ini)?.[1].trim() ?? "";
const port = Number(setting("http_port"));
const data = setting("data");
const provisioning = setting("provisioning");
const user = Deno.env.get("GF_SECURITY_ADMIN_USER") ?? "admin";
const password = Deno.env.get("GF_SECURITY_ADMIN_PASSWORD") ?? "admin";
const grafana = await startGrafanaDouble({ port, user, password });
const auth = { authorization: `Basic ${btoa(`${user}:${password}`)}` };
const expand = (text: string) =>
  text.replace(/\$\{?([A-Z_]+)\}?/g, (_, name) => Deno.env.get(name) ?? "");

const provisioned: { datasources: unknown[]; dashboards: string[] } = {
  datasources: [],
  dashboards: [],
};
for await (const entry of Deno.readDir(`${provisioning}/datasources`)) {
  const file = JSON.parse(
    expand(
      await Deno.readTextFile(`${provisioning}/datasources/${entry.name}`),
    ),
  );
  for (const ds of file.datasources) {
    await post("/api/datasources", ds);
    provisioned.datasources.push(ds);
  }
}
for await (const entry of Deno.readDir(`${provisioning}/dashboards`)) {
  if (!entry.isFile) continue;
  const file = JSON.parse(
    await Deno.readTextFile(`${provisioning}/dashboards/${entry.name}`),
  );
  for (const provider of file.providers) {
    for await (const json of Deno.readDir(provider.options.path)) {
      const dashboard = JSON.parse(
        await Deno.readTextFile(`${provider.options.path}/${json.name}`),
      );
      await post("/api/dashboards/db", { dashboard, overwrite: true });
      provisioned.dashboards.push(dashboard.uid);
    }
  }
}
await Deno.mkdir(data, { recursive: true });
await Deno.writeTextFile(
  `${data}/standin.json`,
  JSON.stringify({
    args,
    env: Object.keys(Deno.env.toObject()).filter((k) =>
      /^(GF_|INFLUX_)/.test(k)
    ).sort(),
    provisioned,
  }),
  { mode: 0o600 },
);
const stop = () => grafana.close().then(() => Deno.exit(0));
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);

async function post(path: string, body: unknown): Promise<void> {
  const response = await fetch(`${grafana.url}${path}`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(
      `provisioning ${path} answered ${response.status}: ${text}`,
    );
  }
}
