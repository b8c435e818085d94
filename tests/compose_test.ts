/**
 * compose.yaml, read as Docker Compose reads it (YAML with merge keys) but
 * without a Docker engine: the shape of the cluster, the ports, the
 * healthchecks, pinned images, named volumes, and no secret in the file.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { loadConfig } from "@cryptocandles/config";

interface Service {
  image: string;
  hostname?: string;
  ports?: (string | {
    host_ip?: string;
    published?: string | number;
    target?: number;
  })[];
  environment?: Record<string, string | number | boolean>;
  entrypoint?: string[];
  command?: string | string[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
}

interface Compose {
  name?: string;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const TEXT = await Deno.readTextFile(
  new URL("../compose.yaml", import.meta.url),
);
const compose: Compose = parse(TEXT, { merge: true });
const services = compose.services;
const BROKERS = ["kafka-1", "kafka-2", "kafka-3"];
const config = loadConfig(new Map());

/**
 * Compose's interpolation of one string (Compose Spec, "Interpolation"):
 * `$$` is a literal `$`; `${VAR}`, `$VAR`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}` and `${VAR?error}` read the environment (.env included).
 */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, name, colon, op, arg, bare) => {
      if (match === "$$") return "$";
      const key = name ?? bare;
      const value = vars[key];
      const unset = value === undefined || (colon === ":" && value === "");
      if (op === "-" && unset) return arg;
      if (op === "?" && unset) {
        throw new Error(`required variable ${key}: ${arg}`);
      }
      return value ?? "";
    },
  );
}

/** The parsed file with every string interpolated, as `docker compose config` would show it. */
function resolved(vars: Record<string, string>): Compose {
  const walk = (node: unknown): unknown =>
    typeof node === "string"
      ? interpolate(node, vars)
      : Array.isArray(node)
      ? node.map(walk)
      : node && typeof node === "object"
      ? Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]))
      : node;
  return walk(compose) as Compose;
}

/** Published ports as `{hostIp, published, target}`, from short or long syntax. */
function ports(service: Service) {
  return (service.ports ?? []).map((p) => {
    if (typeof p === "string") {
      const parts = p.replace(/\/(tcp|udp)$/, "").split(":");
      if (parts.length === 3) {
        return { hostIp: parts[0], published: parts[1], target: parts[2] };
      }
      if (parts.length === 2) {
        return { hostIp: "", published: parts[0], target: parts[1] };
      }
      return { hostIp: "", published: "", target: parts[0] };
    }
    return {
      hostIp: p.host_ip ?? "",
      published: String(p.published ?? ""),
      target: String(p.target ?? ""),
    };
  });
}

function env(service: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(services[service].environment ?? {}).map((
      [k, v],
    ) => [k, String(v)]),
  );
}

/** `NAME://host:port` entries of a listener list, by name. */
function listeners(value: string): Record<string, string> {
  return Object.fromEntries(
    value.split(",").map((l) => {
      const [name, address] = l.trim().split("://");
      return [name, address];
    }),
  );
}

Deno.test("compose.yaml has the stack: 3 brokers, schema registry, Kafka-UI, InfluxDB 3 Core, Grafana", () => {
  assert.equal(compose.name, "cryptocandles");
  assert.deepEqual(Object.keys(services).sort(), [
    "grafana",
    "influxdb",
    "kafka-1",
    "kafka-2",
    "kafka-3",
    "kafka-ui",
    "schema-registry",
  ]);
  assert.match(services["kafka-1"].image, /^apache\/kafka:/);
  assert.equal(
    services["schema-registry"].image,
    "apicurio/apicurio-registry:3.3.3",
  );
  assert.match(services["kafka-ui"].image, /kafbat\/kafka-ui:v\d/);
  assert.match(services.influxdb.image, /^influxdb:3\.\d+\.\d+-core$/);
  assert.match(services.grafana.image, /^grafana\/grafana:\d+\.\d+\.\d+$/);
});

Deno.test("compose.yaml brokers: KRaft, distinct node ids, host listeners on 19090-19092 and a network listener", () => {
  const ids = BROKERS.map((b) => env(b).KAFKA_NODE_ID);
  assert.deepEqual(ids, ["1", "2", "3"]);
  const clusterIds = new Set(BROKERS.map((b) => env(b).CLUSTER_ID));
  assert.equal(clusterIds.size, 1, "one cluster id");
  const [clusterId] = clusterIds;
  assert.match(clusterId, /^[A-Za-z0-9_-]{21}[AQgw]$/, "16 bytes, base64url");

  BROKERS.forEach((broker, i) => {
    const e = env(broker);
    const hostPort = String(config.kafka.brokers[i].split(":")[1]);
    assert.equal(hostPort, String(19090 + i));
    assert.equal(e.KAFKA_PROCESS_ROLES, "broker,controller");
    assert.equal(e.KAFKA_CONTROLLER_LISTENER_NAMES, "CONTROLLER");
    assert.equal(
      e.KAFKA_CONTROLLER_QUORUM_VOTERS,
      "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093",
    );
    assert.equal(services[broker].hostname, broker);
    const bound = listeners(e.KAFKA_LISTENERS);
    const advertised = listeners(e.KAFKA_ADVERTISED_LISTENERS);
    assert.deepEqual(bound, {
      INTERNAL: ":29092",
      CONTROLLER: ":9093",
      HOST: `:${hostPort}`,
    });
    assert.deepEqual(advertised, {
      INTERNAL: `${broker}:29092`,
      HOST: `127.0.0.1:${hostPort}`,
    });
    assert.equal(e.KAFKA_INTER_BROKER_LISTENER_NAME, "INTERNAL");
    for (const name of Object.keys(bound)) {
      assert.match(
        e.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP,
        new RegExp(`(^|,)${name}:PLAINTEXT(,|$)`),
      );
    }
    assert.deepEqual(ports(services[broker]), [
      { hostIp: "127.0.0.1", published: hostPort, target: hostPort },
    ]);
  });
});

Deno.test("compose.yaml topics default to the contract's shape: 2 partitions, replication 3, min ISR 2", () => {
  for (const broker of BROKERS) {
    const e = env(broker);
    assert.equal(Number(e.KAFKA_NUM_PARTITIONS), config.kafka.partitions);
    assert.equal(
      Number(e.KAFKA_DEFAULT_REPLICATION_FACTOR),
      config.kafka.replication,
    );
    assert.equal(Number(e.KAFKA_MIN_INSYNC_REPLICAS), config.kafka.minIsr);
    assert.equal(e.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR, "3");
    assert.equal(e.KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR, "3");
    assert.equal(e.KAFKA_TRANSACTION_STATE_LOG_MIN_ISR, "2");
    assert.equal(e.KAFKA_LOG_DIRS, "/var/lib/kafka/data");
  }
});

Deno.test("compose.yaml publishes every port on 127.0.0.1 only, at the contract's ports", () => {
  for (const [name, service] of Object.entries(services)) {
    for (const p of ports(service)) {
      assert.equal(
        p.hostIp,
        "127.0.0.1",
        `${name} publishes ${p.published} on all interfaces`,
      );
      assert.notEqual(p.published, "", `${name} publishes a random port`);
    }
  }
  assert.doesNotMatch(TEXT, /0\.0\.0\.0/);
  const registry = new URL(config.registryUrl);
  assert.deepEqual(ports(services["schema-registry"]), [
    { hostIp: "127.0.0.1", published: registry.port, target: "8080" },
  ]);
  assert.equal(registry.pathname, "/apis/ccompat/v7");
  assert.deepEqual(ports(services["kafka-ui"]), [
    { hostIp: "127.0.0.1", published: "8080", target: "8080" },
  ]);
  assert.deepEqual(ports(services.influxdb), [
    {
      hostIp: "127.0.0.1",
      published: new URL(config.influx.host).port,
      target: "8181",
    },
  ]);
  assert.deepEqual(ports(services.grafana), [
    {
      hostIp: "127.0.0.1",
      published: new URL(config.grafana.url).port,
      target: "3000",
    },
  ]);
});

Deno.test("compose.yaml wires Kafka-UI and the registry to the brokers' network listeners", () => {
  const internal = BROKERS.map((b) =>
    listeners(env(b).KAFKA_ADVERTISED_LISTENERS).INTERNAL
  ).join(",");
  assert.equal(env("schema-registry").APICURIO_STORAGE_KIND, "kafkasql");
  assert.equal(
    env("schema-registry").APICURIO_KAFKASQL_BOOTSTRAP_SERVERS,
    internal,
  );
  assert.equal(env("kafka-ui").KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS, internal);
  assert.equal(
    env("kafka-ui").KAFKA_CLUSTERS_0_SCHEMAREGISTRY,
    "http://schema-registry:8080/apis/ccompat/v7",
  );
});

Deno.test("compose.yaml runs InfluxDB 3 Core with a file object store, its data dir in the volume, and the .env token", () => {
  const script = (services.influxdb.entrypoint ?? []).join(" ");
  assert.match(script, /exec influxdb3 serve/);
  assert.match(script, /--node-id \S+/);
  assert.match(script, /--object-store file/);
  assert.match(script, /--data-dir \/var\/lib\/influxdb3\/data/);
  assert.match(script, /--admin-token-file \/tmp\/admin-token\.json/);
  assert.deepEqual(services.influxdb.volumes, [
    "influxdb-data:/var/lib/influxdb3",
  ]);
  // The token reaches the container as INFLUX_TOKEN and the shell, not Compose, reads it.
  const influxdb = resolved({
    INFLUX_TOKEN: "apiv3_from_env",
    GRAFANA_PASSWORD: "p",
  }).services.influxdb;
  assert.equal(influxdb.environment?.INFLUX_TOKEN, "apiv3_from_env");
  const shell = (influxdb.entrypoint ?? []).join(" ");
  assert.match(
    shell,
    /printf '\{"token":"%s","name":"_admin"\}' "\$INFLUX_TOKEN" > \/tmp\/admin-token\.json/,
  );
  assert.match(
    String((influxdb.healthcheck?.test ?? [])[1]),
    /--token "\$INFLUX_TOKEN"/,
  );
});

Deno.test("compose.yaml has a healthcheck on every service, and depends_on waits for healthy services", () => {
  for (const [name, service] of Object.entries(services)) {
    const test = service.healthcheck?.test;
    assert.ok(
      test && !service.healthcheck?.disable,
      `${name} has no healthcheck`,
    );
    assert.ok(
      Array.isArray(test) ? test[0] === "CMD-SHELL" || test[0] === "CMD" : true,
      `${name}: healthcheck test form`,
    );
    const deps = service.depends_on ?? {};
    assert.ok(!Array.isArray(deps), `${name}: depends_on without conditions`);
    for (const [dep, { condition }] of Object.entries(deps)) {
      assert.ok(services[dep], `${name} depends on unknown ${dep}`);
      assert.equal(condition, "service_healthy", `${name} → ${dep}`);
    }
  }
  const deps = (name: string) =>
    Object.keys(services[name].depends_on ?? {}).sort();
  assert.deepEqual(deps("schema-registry"), BROKERS);
  assert.deepEqual(deps("kafka-ui"), [...BROKERS, "schema-registry"]);
  assert.deepEqual(deps("grafana"), ["influxdb"]);
});

Deno.test("compose.yaml pins every image by a version tag, never latest", () => {
  for (const [name, { image }] of Object.entries(services)) {
    const tag = /:([\w][\w.-]*)$/.exec(image)?.[1];
    assert.ok(tag, `${name}: ${image} has no tag`);
    assert.notEqual(tag, "latest", `${name}: ${image}`);
    assert.match(
      tag,
      /\d+\.\d+\.\d+/,
      `${name}: ${image} is not pinned to a version`,
    );
  }
  assert.doesNotMatch(TEXT, /:latest\b/);
});

Deno.test("compose.yaml keeps data in named volumes: brokers, InfluxDB, Grafana", () => {
  const declared = Object.keys(compose.volumes ?? {});
  const mounts = (name: string) =>
    (services[name].volumes ?? []).map((v) =>
      typeof v === "string" ? v.split(":")[0] : v.source ?? ""
    );
  for (const [name] of Object.entries(services)) {
    for (const source of mounts(name)) {
      assert.ok(
        declared.includes(source),
        `${name} mounts ${source}, not a named volume`,
      );
    }
  }
  assert.deepEqual(mounts("kafka-1"), ["kafka-1-data"]);
  assert.deepEqual(mounts("kafka-2"), ["kafka-2-data"]);
  assert.deepEqual(mounts("kafka-3"), ["kafka-3-data"]);
  assert.deepEqual(mounts("influxdb"), ["influxdb-data"]);
  assert.deepEqual(mounts("grafana"), ["grafana-data"]);
});

Deno.test("compose.yaml holds no secret: tokens and passwords come from .env, required", () => {
  for (const [name] of Object.entries(services)) {
    for (const [key, value] of Object.entries(env(name))) {
      if (!/TOKEN|PASSWORD|SECRET|_KEY$/.test(key)) continue;
      assert.match(
        value,
        /^\$\{[A-Z_]+:\?[^}]+\}$/,
        `${name}.${key} must come from .env and be required`,
      );
    }
  }
  assert.equal(
    env("influxdb").INFLUX_TOKEN.slice(0, 16),
    "${INFLUX_TOKEN:?",
  );
  assert.equal(
    env("grafana").GF_SECURITY_ADMIN_PASSWORD.slice(0, 19),
    "${GRAFANA_PASSWORD:",
  );
  assert.doesNotMatch(TEXT, /apiv3_[A-Za-z0-9]|glsa_[A-Za-z0-9]/);
  assert.doesNotMatch(TEXT, /(PASSWORD|TOKEN): +[^$\s]/);

  const vars = { INFLUX_TOKEN: "apiv3_t", GRAFANA_PASSWORD: "pw" };
  const ok = resolved(vars).services;
  assert.equal(ok.grafana.environment?.GF_SECURITY_ADMIN_PASSWORD, "pw");
  assert.equal(ok.grafana.environment?.GF_SECURITY_ADMIN_USER, "admin");
  assert.equal(ok.grafana.environment?.GF_AUTH_ANONYMOUS_ENABLED, "false");
  assert.equal(
    resolved({ ...vars, GRAFANA_USER: "boss" }).services.grafana.environment
      ?.GF_SECURITY_ADMIN_USER,
    "boss",
  );
  assert.throws(
    () => resolved({ GRAFANA_PASSWORD: "pw" }),
    /required variable INFLUX_TOKEN: set INFLUX_TOKEN in .env/,
  );
  assert.throws(
    () => resolved({ INFLUX_TOKEN: "apiv3_t" }),
    /required variable GRAFANA_PASSWORD: set GRAFANA_PASSWORD in .env/,
  );
});
