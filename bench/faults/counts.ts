/**
 * The counts of one fault row, taken by independent means (records read back
 * from Kafka with kcat, points queried back from the InfluxDB double), and
 * the table `deno task faults` prints and README.md shows.
 *
 * @module
 */

/** What one row counted. Numbers are records or points. */
export interface FaultCounts {
  /** Ticks the producers made (acknowledged + dropped + unsent) plus records the row wrote itself. */
  produced: number;
  /** Records Kafka acknowledged to the producers (and to the row's own writes). */
  acked: number;
  /** Records in the ticks topic, read back by kcat. */
  kafka: number;
  /** Points of this row's table in InfluxDB, queried back. */
  points: number;
  /**
   * Acknowledged ticks without a point: good records in Kafka without a
   * point, plus acknowledgements beyond the distinct good records Kafka
   * holds (acknowledged, yet not in Kafka).
   */
  missing: number;
  /** Points without a record in Kafka. */
  extra: number;
  /** Records in Kafka more than once (same key and timestamp). */
  kafkaDuplicates: number;
  /** Records in the dead-letter topic. */
  dlq: number;
}

/** Counts of a row that wrote and read nothing (or failed before counting). */
export const NO_COUNTS: Readonly<FaultCounts> = Object.freeze({
  produced: 0,
  acked: 0,
  kafka: 0,
  points: 0,
  missing: 0,
  extra: 0,
  kafkaDuplicates: 0,
  dlq: 0,
});

/** One row of bench/faults.json. */
export interface FaultRow extends FaultCounts {
  id: string;
  /** What happened, and why a target is not met where one is not. */
  note: string;
  /** Seconds the row took. */
  seconds: number;
  /** 0 missing, 0 extra, 0 Kafka duplicates, and the row's own checks passed. */
  ok: boolean;
}

/** Records of Kafka and points of InfluxDB, compared. */
export interface Comparison {
  kafka: number;
  points: number;
  missing: number;
  extra: number;
  kafkaDuplicates: number;
  /** Acknowledged records that are not in Kafka (part of `missing`). */
  notInKafka: number;
}

/**
 * Compares records read back from Kafka with points read back from InfluxDB.
 * A record and a point are the same tick when their coin and time agree
 * (points are keyed by tag and time: a second write of a tick overwrites the
 * first, so a redelivered record is not an extra point).
 *
 * @param records `"<key> <timestamp ms>"` of every record of the topic.
 * @param points `"<Coin> <time ms>"` of every point of the table.
 * @param isGood Records that should become points (others are poison the row wrote).
 * @param acked Good records the producers were told Kafka has; more than
 *   Kafka's distinct good records counts the difference as missing.
 * @returns The comparison.
 *
 * @example
 * ```ts
 * import { compareRecords } from "./counts.ts";
 * const c = compareRecords(["a 1", "a 1", "b 2"], ["a 1"]);
 * console.log(c.kafkaDuplicates, c.missing); // 1 1
 * ```
 */
export function compareRecords(
  records: string[],
  points: string[],
  isGood: (record: string) => boolean = () => true,
  acked = 0,
): Comparison {
  const good = records.filter(isGood);
  const distinct = new Set(good);
  const stored = new Set(points);
  const notInKafka = Math.max(0, acked - distinct.size);
  return {
    kafka: records.length,
    points: points.length,
    missing: [...distinct].filter((r) => !stored.has(r)).length + notInKafka,
    extra: [...stored].filter((p) => !distinct.has(p)).length,
    kafkaDuplicates: good.length - distinct.size,
    notInKafka,
  };
}

const COLUMNS = [
  "id",
  "produced",
  "acked",
  "kafka",
  "points",
  "missing",
  "extra",
  "kafkaDuplicates",
  "dlq",
  "seconds",
  "ok",
  "note",
] as const;

/**
 * The rows as a Markdown table (numbers with thousands separators).
 *
 * @param rows The rows.
 * @returns The table.
 *
 * @example
 * ```ts
 * import { faultsTable } from "./counts.ts";
 * const row = { id: "R1", produced: 1200, acked: 1200, kafka: 1200, points: 1200, missing: 0, extra: 0, kafkaDuplicates: 0, dlq: 0, seconds: 61, ok: true, note: "leader down 20 s" };
 * console.log(faultsTable([row]).split("\n")[2].startsWith("| R1 | 1,200")); // true
 * ```
 */
export function faultsTable(rows: FaultRow[]): string {
  const cell = (row: FaultRow, column: typeof COLUMNS[number]) => {
    const value = row[column];
    if (typeof value === "number") return value.toLocaleString("en-US");
    if (typeof value === "boolean") return value ? "yes" : "**no**";
    return value.replaceAll("|", "\\|");
  };
  return [
    `| ${COLUMNS.join(" | ")} |`,
    `|${COLUMNS.map((c) => c === "note" ? " --- " : " ---: ").join("|")}|`,
    ...rows.map((row) => `| ${COLUMNS.map((c) => cell(row, c)).join(" | ")} |`),
  ].join("\n");
}
