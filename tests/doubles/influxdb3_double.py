#!/usr/bin/env python3
"""A local double of InfluxDB 3 Core (HTTP API and Flight SQL), for tests.

InfluxDB 3 cannot be installed where the project's tests run, so this server
answers the same APIs from memory, following Core's source (each behaviour
below names the file of influxdata/influxdb or influxdata/influxdb3_core it
follows):

* ``POST /api/v3/write_lp`` and ``POST /api/v2/write``: line protocol (plain or
  gzip), parsed by the engine's rules and answered in the engine's words
  (``204``, or ``400`` listing every refused line of a partial write).
* The write-ahead log: a write's tables and columns exist at once, its rows
  are buffered and become queryable at the next WAL flush, which comes every
  ``--wal-flush-interval`` (Core's default 1 s). A write is answered after
  that flush, or at once with ``no_sync=true``.
* ``GET|POST /api/v3/query_sql``: SQL run by a real DataFusion engine over the
  stored points, one table per measurement (tags as ``Dictionary(Int32,
  Utf8)``, fields as Float64/Int64/UInt64/Utf8/Boolean, ``time`` as
  ``Timestamp(ns)``), rendered as json, jsonl, csv, pretty or parquet. A
  query that fails while planning is a ``400``; one that fails while
  executing is a ``200`` whose (chunked) body is cut off, as Core streams it.
* Arrow Flight SQL (gRPC) on the same port: ``GetFlightInfo`` with
  ``CommandStatementQuery`` or ``CommandGetSqlInfo``, then ``DoGet`` with
  the ticket it returned (or an IOx JSON ticket); the ``database`` header
  picks the database, ``authorization: Bearer <token>`` is checked.
* ``/api/v3/configure/database`` (create, list, delete),
  ``POST /api/v3/configure/table`` (an empty table with its tags and fields:
  200, or 409 when it exists; a query of it answers no rows), ``/health``,
  ``/api/v1/health``, ``/ping`` and ``/metrics``.
* Bearer/Token/Basic authentication when started with ``--token`` or
  ``--admin-token-file`` (a JSON file ``{"token": "apiv3_...", "name": ...}``,
  refused unless the token starts with ``apiv3_``, as Core refuses it).

A point with the same table, tag set and time as a stored one is merged into
it (its fields overwrite, the others stay), as the engine deduplicates.

Fault switches for tests live under ``/__double/`` (never authenticated):

* ``POST /__double/mode`` ``{"mode": "ok"|"down"|"error500"|"error429"|"slow",
  "retry_after": seconds, "delay_ms": N, "times": N}``. ``down`` resets
  every connection without an answer; ``error500``/``error429`` answer every
  ``/api/`` request with that status (429 carries ``Retry-After``); ``slow``
  delays every answer by ``delay_ms``. With ``times`` the mode applies to that
  many requests, then reverts to ``ok``; with ``"only": "writes"`` it applies to
  the write endpoints alone. The switches apply to HTTP only.
* ``POST /__double/flush`` flushes the WAL buffer now (as a tick would).
* ``GET /__double/mode``, ``GET /__double/stats``, ``POST /__double/reset``
  (drops every database, the WAL buffer, the mode and the counters).

Usage::

    python influxdb3_double.py --port 0 --token T --wal-flush-interval 1s

prints ``listening 127.0.0.1:PORT`` on stdout once it accepts connections and
exits 0 on SIGTERM or SIGINT. Logs go to stderr (``--verbose`` for one line per
request); the token is never printed.
"""

from __future__ import annotations

import argparse
import base64
import csv
import gc
import io
import json
import math
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

VERSION = "3.8.0"
REVISION = "d0ub1e0"
PROCESS_ID = str(uuid.uuid4())
INTERNAL_DB = "_internal"
DEFAULT_MAX_DATABASES = 5
DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

# Column kinds, named as the engine names them in its errors.
TAG = "tag"
INTEGER = "field::integer"
UINTEGER = "field::uinteger"
FLOAT = "field::float"
STRING = "field::string"
BOOLEAN = "field::boolean"
TIMESTAMP = "timestamp"

TRUE_WORDS = ("true", "True", "TRUE", "t", "T")
FALSE_WORDS = ("false", "False", "FALSE", "f", "F")
BOOL_VALUES = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}
INFINITY = float("inf")
# The field set of a line the fast path takes: keys without separators,
# values that are well-formed numbers or booleans (strings go the careful way).
# Floats are bounded (200 digits, a 2-digit exponent) so none overflows.
_FAST_VALUE = (
    r"(?:-?[0-9]{1,200}(?:\.[0-9]+)?(?:[eE][-+]?[0-9]{1,2})?|-?[0-9]+i|[0-9]+u"
    r"|true|True|TRUE|t|T|false|False|FALSE|f|F)"
)
FAST_FIELDS = re.compile(rf"[^=, ]+={_FAST_VALUE}(?:,[^=, ]+={_FAST_VALUE})*\Z")
FAST_TIMESTAMP = re.compile(r"-?[0-9]+\Z")

TRAILING = "Could not parse entire line. Found trailing content: `{}`"
NO_FIELDS = "No fields were provided"
ENDS_WITH_BACKSLASH = (
    "Measurements, tag keys and values, and field keys may not end with a backslash"
)

V3_PRECISIONS = {
    "auto": "auto",
    "s": "second",
    "second": "second",
    "ms": "millisecond",
    "millisecond": "millisecond",
    "us": "microsecond",
    "u": "microsecond",
    "microsecond": "microsecond",
    "ns": "nanosecond",
    "n": "nanosecond",
    "nanosecond": "nanosecond",
}
V2_PRECISIONS = {"s": "second", "ms": "millisecond", "us": "microsecond", "ns": "nanosecond"}
PRECISION_SCALE = {"second": 10**9, "millisecond": 10**6, "microsecond": 10**3, "nanosecond": 1}
PRECISION_NAMES = {
    "second": "Second",
    "millisecond": "Millisecond",
    "microsecond": "Microsecond",
    "nanosecond": "Nanosecond",
    "auto": "Nanosecond",
}

FORMATS = {
    "json": "application/json",
    "jsonl": "application/jsonl",
    "csv": "text/csv",
    "pretty": "text/plain; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
ACCEPT_FORMATS = {
    "application/json": "json",
    "*/*": "json",
    "application/jsonl": "jsonl",
    "text/csv": "csv",
    "text/plain": "pretty",
    "application/vnd.apache.parquet": "parquet",
}


# ---------------------------------------------------------------------------
# Line protocol
# ---------------------------------------------------------------------------


class LineError(Exception):
    """A line the engine refuses, with the engine's message."""


def excerpt(text: str) -> str:
    """The engine quotes ten characters of what is left, then dots."""
    return text if len(text) <= 10 else text[:10] + "..."


def split_lines(text: str) -> list[str]:
    """Splits a payload into lines; a newline inside a quoted field value stays."""
    if '"' not in text:
        return text.split("\n")
    lines: list[str] = []
    pending: str | None = None
    for physical in text.split("\n"):
        line = physical if pending is None else pending + "\n" + physical
        if '"' in line and quote_left_open(line):
            pending = line
            continue
        lines.append(line)
        pending = None
    if pending is not None:
        lines.append(pending)
    return lines


def quote_left_open(line: str) -> bool:
    """True when a string field value opened on this line is not closed yet."""
    in_fields = False
    in_quote = False
    n = len(line)
    i = n - len(line.lstrip(" \t"))
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if not in_fields:
            if c == " ":
                in_fields = True
        elif c == '"':
            in_quote = not in_quote
        i += 1
    return in_quote


def parse_line(line: str) -> tuple[str, dict[str, str], list[tuple[str, str, Any]], int | None]:
    """Parses one line into (measurement, tags, fields, timestamp or None).

    Fields are ``(key, kind, value)``. Raises LineError with the engine's
    message. Lines without escapes, quotes, tabs or carriage returns take a
    fast path built on ``str.split``; anything unusual goes to the careful
    parser, which gives the exact error.
    """
    if (
        "\\" not in line
        and '"' not in line
        and "\t" not in line
        and "\r" not in line
        and "  " not in line
        and line[-1:] != " "
    ):
        point = parse_fast(line)
        if point is not None:
            return point
    return parse_careful(line)


def parse_fast(line: str):
    """The common line, or None to send it to the careful parser.

    One regular expression checks the whole field set against the grammar,
    so the loop below only converts values it knows are well formed.
    """
    parts = line.split(" ")
    count = len(parts)
    if count == 2:
        key_part, field_part = parts
        ts = None
    elif count == 3:
        key_part, field_part, ts_text = parts
        if not FAST_TIMESTAMP.match(ts_text):
            return None
        ts = int(ts_text)
        if ts < INT64_MIN or ts > INT64_MAX:
            return None
    else:
        return None
    if not FAST_FIELDS.match(field_part):
        return None
    key_items = key_part.split(",")
    measurement = key_items[0]
    if not measurement:
        return None
    tags: dict[str, str] = {}
    for item in key_items[1:]:
        k, _, v = item.partition("=")
        if not k or not v or k in tags:
            return None
        tags[k] = v
    fields: list[tuple[str, str, Any]] = []
    append = fields.append
    for k, _, v in [item.partition("=") for item in field_part.split(",")]:
        last = v[-1]
        if last <= "9":
            append((k, FLOAT, float(v)))
        elif last == "i":
            value = int(v[:-1])
            if value < INT64_MIN or value > INT64_MAX:
                return None
            append((k, INTEGER, value))
        elif last == "u":
            value = int(v[:-1])
            if value > UINT64_MAX:
                return None
            append((k, UINTEGER, value))
        else:
            append((k, BOOLEAN, BOOL_VALUES[v]))
    if len(fields) > 1 and len({f[0] for f in fields}) != len(fields):
        return None
    return measurement, tags, fields, ts


class Cursor:
    """The careful parser's position in one line."""

    __slots__ = ("s", "i", "n")

    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0
        self.n = len(s)

    def rest(self) -> str:
        return self.s[self.i :]

    def peek(self) -> str:
        return self.s[self.i] if self.i < self.n else ""


def read_name(cur: Cursor, stops: str, escapable: str) -> tuple[str, bool]:
    """Reads an identifier up to an unescaped stop character.

    Returns the unescaped text and whether it ends in a backslash.
    """
    s = cur.s
    out: list[str] = []
    ends_in_backslash = False
    while cur.i < cur.n:
        c = s[cur.i]
        if c == "\\" and cur.i + 1 < cur.n:
            nxt = s[cur.i + 1]
            if nxt in escapable:
                out.append(nxt)
                ends_in_backslash = nxt == "\\"
                cur.i += 2
                continue
            out.append(c)
            ends_in_backslash = False
            cur.i += 1
            continue
        if c in stops:
            break
        out.append(c)
        ends_in_backslash = c == "\\"
        cur.i += 1
    return "".join(out), ends_in_backslash


def read_field_value(cur: Cursor) -> tuple[str, Any] | None:
    """Reads a field value at the cursor, or returns None (cursor unchanged)."""
    s = cur.s
    start = cur.i
    n = cur.n
    if start >= n:
        return None
    c = s[start]
    if c == '"':
        out: list[str] = []
        i = start + 1
        while i < n:
            ch = s[i]
            if ch == "\\" and i + 1 < n and s[i + 1] in '"\\':
                out.append(s[i + 1])
                i += 2
                continue
            if ch == '"':
                cur.i = i + 1
                return STRING, "".join(out)
            out.append(ch)
            i += 1
        return None
    # Numbers: -?digits then i | u | float tail.
    i = start
    if i < n and s[i] == "-":
        i += 1
    digits_start = i
    while i < n and "0" <= s[i] <= "9":
        i += 1
    if i > digits_start:
        if i < n and s[i] == "i":
            value = int(s[start:i])
            if value < INT64_MIN or value > INT64_MAX:
                raise LineError(f"Unable to parse integer value `{s[start:i]}`")
            cur.i = i + 1
            return INTEGER, value
        if i < n and s[i] == "u" and s[start] != "-":
            value = int(s[start:i])
            if value > UINT64_MAX:
                raise LineError(f"Unable to parse unsigned integer value `{s[start:i]}`")
            cur.i = i + 1
            return UINTEGER, value
        if i + 1 < n and s[i] == "." and "0" <= s[i + 1] <= "9":
            i += 1
            while i < n and "0" <= s[i] <= "9":
                i += 1
        if i < n and s[i] in "eE":
            j = i + 1
            if j < n and s[j] in "+-":
                j += 1
            if j < n and "0" <= s[j] <= "9":
                while j < n and "0" <= s[j] <= "9":
                    j += 1
                i = j
        value = float(s[start:i])
        if math.isinf(value):
            raise LineError(f"Unable to parse floating-point value `{s[start:i]}`")
        cur.i = i
        return FLOAT, value
    for word in ("true", "True", "TRUE", "false", "False", "FALSE", "t", "T", "f", "F"):
        if s.startswith(word, start):
            cur.i = start + len(word)
            return BOOLEAN, BOOL_VALUES[word]
    return None


def parse_careful(line: str) -> tuple[str, dict[str, str], list[tuple[str, str, Any]], int | None]:
    """Parses one line character by character, with the engine's errors."""
    cur = Cursor(line)
    s = line
    while cur.i < cur.n and s[cur.i] in " \t":
        cur.i += 1
    measurement, backslash = read_name(cur, ", \t", ", \\")
    if not measurement:
        raise LineError(f"Expected measurement, got `{cur.rest()}`")
    if backslash:
        raise LineError(ENDS_WITH_BACKSLASH)
    tags: dict[str, str] = {}
    if cur.peek() == ",":
        cur.i += 1
        tag_set = cur.rest()
        while True:
            key_start = cur.i
            key, backslash = read_name(cur, "= \t", ",= \\")
            if not key:
                raise LineError(f"Expected tag key, got `{s[key_start:]}`")
            if backslash:
                raise LineError(ENDS_WITH_BACKSLASH)
            if cur.peek() != "=":
                raise LineError(
                    f"Tag set malformed: could not find equals sign in `{excerpt(tag_set)}`"
                )
            cur.i += 1
            value_start = cur.i
            value, backslash = read_name(cur, ", \t", ",= \\")
            if not value:
                raise LineError(f"Expected tag value, got `{s[value_start:]}`")
            if backslash:
                raise LineError(ENDS_WITH_BACKSLASH)
            if key in tags:
                raise LineError(f'Must not contain duplicate tags, but "{key}" was repeated')
            tags[key] = value
            if cur.peek() == ",":
                cur.i += 1
                continue
            break
    if cur.peek() != " ":
        rest = cur.rest()
        got = f"`{rest}`" if rest else "end of input"
        raise LineError(f"Expected at least one space character, got {got}")
    while cur.peek() == " ":
        cur.i += 1
    fields: list[tuple[str, str, Any]] = []
    seen: set[str] = set()
    index = 0
    while True:
        index += 1
        field_start = cur.i
        key, backslash = read_name(cur, "= \t", ",= \\")
        parsed = None
        if key and cur.peek() == "=":
            if backslash:
                raise LineError(ENDS_WITH_BACKSLASH)
            cur.i += 1
            parsed = read_field_value(cur)
        if parsed is None:
            if index == 1:
                raise LineError(NO_FIELDS)
            # The engine's list of fields ends before the one that failed:
            # after its comma when it is the second field, at its comma from
            # the third on.
            cur.i = field_start if index == 2 else field_start - 1
            break
        if key in seen:
            raise LineError(
                f"invalid line protocol - multiple instances of '{key}' field found"
            )
        seen.add(key)
        fields.append((key, parsed[0], parsed[1]))
        if cur.peek() == ",":
            cur.i += 1
            continue
        break
    ts = None
    if cur.i < cur.n and s[cur.i] == " ":
        space_at = cur.i
        while cur.peek() == " ":
            cur.i += 1
        if cur.i < cur.n:
            j = cur.i
            if s[j] == "-":
                j += 1
            digits_start = j
            while j < cur.n and "0" <= s[j] <= "9":
                j += 1
            if j > digits_start:
                text = s[cur.i : j]
                ts = int(text)
                if ts < INT64_MIN or ts > INT64_MAX:
                    raise LineError(f"Unable to parse timestamp value `{text}`")
                cur.i = j
                while cur.peek() == " ":
                    cur.i += 1
            else:
                cur.i = space_at
    if cur.i < cur.n:
        raise LineError(TRAILING.format(excerpt(cur.rest())))
    return measurement, tags, fields, ts


class Template:
    """The shape shared by every line of a uniform batch, as one regex."""

    __slots__ = ("measurement", "tag_keys", "fields", "has_time", "regex")

    def __init__(self, measurement, tag_keys, fields, has_time) -> None:
        self.measurement = measurement
        self.tag_keys: tuple[str, ...] = tag_keys
        self.fields: tuple[tuple[str, str], ...] = fields
        self.has_time = has_time
        parts = ["^", re.escape(measurement)]
        for key in tag_keys:
            parts.append("," + re.escape(key) + "=([^ ,=\n]+)")
        parts.append(" ")
        parts.append(",".join(re.escape(k) + "=" + UNIFORM_VALUE[kind] for k, kind in fields))
        if has_time:
            parts.append(" (-?[0-9]+)")
        parts.append("$")
        self.regex = re.compile("".join(parts), re.MULTILINE)


UNIFORM_VALUE = {
    FLOAT: r"(-?[0-9]{1,200}(?:\.[0-9]+)?(?:[eE][-+]?[0-9]{1,2})?)",
    INTEGER: r"(-?[0-9]+)i",
    UINTEGER: r"([0-9]+)u",
    BOOLEAN: r"(true|True|TRUE|t|T|false|False|FALSE|f|F)",
}
TEMPLATES: dict[tuple, Template] = {}


class UniformBatch:
    """A payload whose lines all have one shape, parsed into columns."""

    __slots__ = ("template", "count", "values", "times")

    def __init__(self, template: Template, count: int, values: dict[str, list], times: list[int]):
        self.template = template
        self.count = count
        self.values = values
        self.times = times


def parse_uniform(text: str, precision: str, default_time: int) -> UniformBatch | None:
    """Parses a payload of same-shaped plain lines in a few C-level passes.

    A producer writes thousands of lines that differ only in their values:
    one regex built from the first line matches all of them at once, and the
    values convert column by column. Anything else (comments, blank lines,
    escapes, quotes, errors) returns None for the line-by-line parser.
    """
    if len(text) < 256:
        return None
    if text.endswith("\n"):
        text = text[:-1]
    if (
        "\n\n" in text
        or "#" in text
        or "\\" in text
        or '"' in text
        or "\t" in text
        or "\r" in text
        or "  " in text
    ):
        return None
    first = text[: text.find("\n")] if "\n" in text else text
    point = parse_fast(first) if first and first[0] != " " and first[-1] != " " else None
    if point is None:
        return None
    measurement, tags, fields, ts = point
    shape = (measurement, tuple(tags), tuple((k, kind) for k, kind, _v in fields), ts is not None)
    template = TEMPLATES.get(shape)
    if template is None:
        if STRING in (kind for _k, kind in shape[2]):
            return None
        if len(TEMPLATES) > 256:
            TEMPLATES.clear()
        template = Template(*shape)
        TEMPLATES[shape] = template
    count = text.count("\n") + 1
    rows = template.regex.findall(text)
    if len(rows) != count:
        return None
    columns = list(zip(*rows)) if rows and isinstance(rows[0], tuple) else [rows]
    values: dict[str, list] = {}
    at = 0
    for key in template.tag_keys:
        values[key] = list(columns[at])
        at += 1
    for key, kind in template.fields:
        raw = columns[at]
        at += 1
        if kind == FLOAT:
            values[key] = list(map(float, raw))
        elif kind == BOOLEAN:
            values[key] = list(map(BOOL_VALUES.__getitem__, raw))
        else:
            converted = list(map(int, raw))
            low = INT64_MIN if kind == INTEGER else 0
            high = INT64_MAX if kind == INTEGER else UINT64_MAX
            if min(converted) < low or max(converted) > high:
                return None
            values[key] = converted
    if template.has_time:
        stamps = list(map(int, columns[at]))
        if precision == "auto":
            try:
                times = [to_nanoseconds(t, "auto") for t in stamps]
            except LineError:
                return None
        else:
            scale = PRECISION_SCALE[precision]
            times = stamps if scale == 1 else [t * scale for t in stamps]
            if min(times) < INT64_MIN or max(times) > INT64_MAX:
                return None
    else:
        times = [default_time] * count
    return UniformBatch(template, count, values, times)


def to_nanoseconds(ts: int, precision: str) -> int:
    if precision == "auto":
        magnitude = abs(ts)
        if magnitude < 5_000_000_000:
            scaled = ts * 1_000_000_000
        elif magnitude < 5_000_000_000_000:
            scaled = ts * 1_000_000
        elif magnitude < 5_000_000_000_000_000:
            scaled = ts * 1_000
        else:
            scaled = ts
    else:
        scaled = ts * PRECISION_SCALE[precision]
    if scaled < INT64_MIN or scaled > INT64_MAX:
        raise LineError(
            f"timestamp, {ts}, out of range for precision: {PRECISION_NAMES[precision]}"
        )
    return scaled


def format_float(value: float) -> str:
    """Rust's f64 Display: shortest round-trip digits, never an exponent."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    text = repr(value)
    if "e" not in text and "E" not in text:
        return text[:-2] if text.endswith(".0") else text
    sign = "-" if value < 0 else ""
    mantissa, exponent = repr(abs(value)).split("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).rstrip("0") or "0"
    point = len(whole) + int(exponent)
    if point <= 0:
        return sign + "0." + "0" * (-point) + digits
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return sign + digits[:point] + "." + digits[point:]


def render_value(kind: str, value: Any) -> str:
    if kind == INTEGER:
        return f"{value}i"
    if kind == UINTEGER:
        return f"{value}u"
    if kind == FLOAT:
        return format_float(value)
    if kind == BOOLEAN:
        return "true" if value else "false"
    return str(value)


def render_line(line: str, fields: list[tuple[str, str, Any]]) -> str:
    """A parsed line as the engine echoes it in a schema error."""
    key_part = line.lstrip(" \t")
    cut = 0
    while cut < len(key_part):
        c = key_part[cut]
        if c == "\\":
            cut += 2
            continue
        if c == " ":
            break
        cut += 1
    rendered = key_part[:cut] + " " + ",".join(f"{k}={render_value(t, v)}" for k, t, v in fields)
    tail = key_part[cut:].strip(" ").split(" ")
    if len(tail) > 1 and tail[-1].lstrip("-").isdigit():
        rendered += " " + tail[-1]
    return rendered


# ---------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------


class Table:
    """One measurement, stored column by column."""

    __slots__ = ("name", "schema", "columns", "times", "index", "version")

    def __init__(self, name: str) -> None:
        self.name = name
        self.schema: dict[str, str] = {}
        self.columns: dict[str, list[Any]] = {}
        self.times: list[int] = []
        self.index: dict[tuple, int] = {}
        self.version = 0

    def add_column(self, name: str, kind: str) -> None:
        self.schema[name] = kind
        self.columns[name] = [None] * len(self.times)


class Database:
    __slots__ = ("name", "tables", "snapshot", "snapshot_version", "version")

    def __init__(self, name: str) -> None:
        self.name = name
        self.tables: dict[str, Table] = {}
        self.version = 0
        self.snapshot: dict[str, Any] | None = None
        self.snapshot_version = -1


class ApiError(Exception):
    """An HTTP answer other than success, as the engine gives it."""

    def __init__(
        self, status: int, body: str | bytes, content_type: str | None = "text/plain"
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode()
        self.content_type = content_type


def json_error(status: int, message: str, data: Any = None) -> ApiError:
    payload: dict[str, Any] = {"error": message}
    if data is not None:
        payload["data"] = data
    return ApiError(status, compact_json(payload), "application/json")


def unauthenticated() -> ApiError:
    """Core's 401 (influxdb3_server/src/http.rs, ``authenticate``)."""
    return ApiError(401, '{"error": "the request was not authenticated"}', None)


class Tokens:
    """The tokens the server accepts: ``--token`` and the admin token file's."""

    def __init__(self) -> None:
        self.expiry: dict[str, int | None] = {}

    def __bool__(self) -> bool:
        return bool(self.expiry)

    def add(self, token: str, expiry_millis: int | None = None) -> None:
        self.expiry[token] = expiry_millis

    def accepts(self, token: str) -> bool:
        if token not in self.expiry:
            return False
        expiry = self.expiry[token]
        return expiry is None or time.time() * 1000 < expiry


def load_admin_token_file(path: str) -> tuple[str, int | None]:
    """Reads ``--admin-token-file`` as Core does, or exits as Core does.

    influxdb3/src/commands/serve.rs, ``initialize_admin_token_from_file``:
    the file is JSON ``{"token": "apiv3_...", "name": "...",
    "expiry_millis": N}``; a group- or world-readable file is only warned
    about; a token that does not start with ``apiv3_`` stops the server
    with "Invalid token format: must start with 'apiv3_'".
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise SystemExit(f"influxdb3-double: Failed to read admin token file metadata: {error}")
    if mode & 0o077:
        sys.stderr.write(
            "influxdb3-double: Admin token file has insecure permissions: "
            f"{mode & 0o777:o}. Consider using chmod 0600.\n"
        )
    try:
        with open(path, encoding="utf-8") as file:
            content = json.load(file)
        token = content["token"]
        str(content["name"])
        expiry = content.get("expiry_millis")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"influxdb3-double: Failed to parse admin token file as JSON: {error}")
    if not isinstance(token, str) or not token.startswith("apiv3_"):
        raise SystemExit("influxdb3-double: Invalid token format: must start with 'apiv3_'")
    return token, None if expiry is None else int(expiry)


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def validate_db_name(name: str, allow_rp: bool = True) -> None:
    """The engine's database name rules (a single `/` names a retention policy)."""
    if not name:
        raise json_error(400, "db name cannot be empty")
    first = name[0]
    if not (first.isascii() and first.isalnum()):
        raise json_error(400, "db name did not start with a number or letter")
    slashes = 0
    for c in name[1:]:
        if c == "/" and allow_rp:
            slashes += 1
            continue
        if not (c.isascii() and (c.isalnum() or c in "_-")):
            raise json_error(
                400,
                "invalid character in database or rp name: must be ASCII, "
                "containing only letters, numbers, underscores, or hyphens",
            )
    if slashes > 1 or name.endswith("/") or "//" in name:
        raise json_error(
            400,
            "db name with invalid retention policy, if providing a retention "
            "policy name, must be of form '<db_name>/<rp_name>'",
        )


class Wal:
    """Core's write-ahead log buffer and its flush tick.

    Follows influxdb3_wal/src/object_store.rs (influxdata/influxdb): a write
    with ``no_sync=false`` is buffered with a response channel
    (``write_ops``) and answered only after the next flush has put the
    buffer into a WAL file and handed it to the queryable buffer; with
    ``no_sync=true`` (``write_ops_unconfirmed``) it is answered at once, and
    its rows still become queryable only at that flush. The flush runs on a
    ``tokio::time::interval`` of ``--wal-flush-interval`` (1 s by default,
    ``WalConfig::default`` in influxdb3_wal/src/lib.rs) whose missed ticks are
    skipped (``background_wal_flush``), and does nothing while the buffer is
    empty. An interval of 0 is the double's own shortcut (Core refuses it):
    rows are stored and answered at once.
    """

    def __init__(self, lock: threading.RLock, interval: float) -> None:
        self.lock = lock  # the store's lock: staging and flushing hold it
        self.interval = interval
        self.pending: list[Callable[[], None]] = []
        self.flushes = 0  # flushes that moved rows (or a drop), under both locks
        self.flush_count = 0  # flushes that moved rows since the last reset
        self.done = threading.Condition(threading.Lock())

    def stage(self, apply: Callable[[], None]) -> int | None:
        """Buffers the rows of one write (the caller holds the store lock).

        Returns the ticket for ``wait``: the write is flushed once
        ``flushes`` passes it. None when the rows were stored at once.
        """
        if self.interval <= 0:
            apply()
            return None
        self.pending.append(apply)
        return self.flushes

    def wait(self, ticket: int | None) -> None:
        """Returns once the flush that holds the write with this ticket is done."""
        if ticket is None:
            return
        with self.done:
            self.done.wait_for(lambda: self.flushes > ticket)

    def flush(self) -> bool:
        """Moves every buffered write into the tables and answers their writers."""
        with self.lock:
            ops, self.pending = self.pending, []
            if not ops:
                return False
            for apply in ops:
                apply()
            self.flush_count += 1
            with self.done:
                self.flushes += 1
                self.done.notify_all()
        return True

    def drop(self) -> None:
        """Forgets the buffer (reset) and releases whoever waits on it."""
        with self.lock:
            self.pending = []
            self.flush_count = 0
            with self.done:
                self.flushes += 1
                self.done.notify_all()

    def run(self, stop: threading.Event) -> None:
        """Flushes on every tick until ``stop`` is set, then once more."""
        if self.interval <= 0:
            return
        # tokio's interval ticks at once, then every interval: the first tick
        # comes before the server listens, with nothing to flush yet.
        start = time.monotonic()
        tick = 1
        while True:
            delay = start + tick * self.interval - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            if stop.is_set():
                break
            self.flush()
            # MissedTickBehavior::Skip: after a late flush, the next tick is
            # the next one of the original schedule that is still ahead.
            elapsed = time.monotonic() - start
            tick = max(tick + 1, math.floor(elapsed / self.interval) + 1)
        self.flush()  # Core flushes the buffer on shutdown (WalObjectStore::shutdown)


class Store:
    """Every database, table and point, behind one lock."""

    def __init__(self, max_databases: int, wal_flush_interval: float = 0.0) -> None:
        self.lock = threading.RLock()
        self.max_databases = max_databases
        self.databases: dict[str, Database] = {}
        self.points = 0
        self.wal = Wal(self.lock, wal_flush_interval)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.databases = {INTERNAL_DB: Database(INTERNAL_DB)}
            self.points = 0
            self.wal.drop()

    def user_database_count(self) -> int:
        return sum(1 for name in self.databases if name != INTERNAL_DB)

    def create_database(self, name: str, *, exists_ok: bool) -> Database:
        with self.lock:
            db = self.databases.get(name)
            if db is not None:
                if exists_ok:
                    return db
                raise ApiError(409, "attempted to create a resource that already exists")
            if self.user_database_count() >= self.max_databases:
                raise json_error(
                    422, f"Adding a new database would exceed limit of {self.max_databases} databases"
                )
            db = Database(name)
            self.databases[name] = db
            return db

    def delete_database(self, name: str) -> None:
        with self.lock:
            if name == INTERNAL_DB:
                raise ApiError(400, "cannot delete internal db")
            db = self.databases.pop(name, None)
            if db is None:
                raise ApiError(404, "the requested resource was not found")
            self.points -= sum(len(t.times) for t in db.tables.values())

    def create_table(
        self, db_name: str, name: str, tags: list[str], fields: list[tuple[str, str]]
    ) -> None:
        """Adds an empty table with these columns (the catalog's ``create_table``).

        The database is created when missing (counted against the limit);
        a table that exists is ``CatalogError::AlreadyExists`` (409).
        """
        with self.lock:
            db = self.create_database(db_name, exists_ok=True)
            if name in db.tables:
                raise ApiError(409, "attempted to create a resource that already exists", None)
            table = Table(name)
            for tag in tags:
                table.add_column(tag, TAG)
            for field, kind in fields:
                table.add_column(field, kind)
            db.tables[name] = table
            db.version += 1

    def write(
        self,
        db_name: str,
        text: str,
        precision: str,
        accept_partial: bool,
        default_time: int,
    ) -> tuple[int, int, list[dict[str, Any]], int | None]:
        """Parses a payload, registers its tables and columns, buffers its rows.

        As Core's write path does (influxdb3_write/src/write_buffer/mod.rs,
        ``write_lp``): the lines are validated and the catalog (databases,
        tables, columns) is updated at once, then the rows go to the WAL
        buffer and reach the queryable buffer only when it is flushed.

        Returns (lines counted, points buffered, line errors, WAL ticket to
        wait for with ``Wal.wait``, or None when no row was buffered); raises
        ApiError for a refusal of the whole request.
        """
        uniform = parse_uniform(text, precision, default_time)
        if uniform is not None:
            with self.lock:
                rows = self.prepare_uniform(db_name, uniform)
                if rows is not None:
                    return uniform.count, uniform.count, [], self.wal.stage(rows)
        lines = split_lines(text)
        parsed: list[tuple[int, str, Any]] = []
        errors: list[dict[str, Any]] = []
        number = 0
        for line in lines:
            stripped = line.lstrip(" \t")
            if not stripped or stripped[0] == "#":
                continue
            number += 1
            try:
                measurement, tags, fields, ts = parse_line(line)
                time_ns = default_time if ts is None else to_nanoseconds(ts, precision)
                parsed.append((number, line, (measurement, tags, fields, time_ns)))
            except LineError as error:
                # The engine numbers the lines that count (not blank, not a
                # comment) but echoes the physical line of that number.
                echo = lines[number - 1] if number - 1 < len(lines) else line
                errors.append(line_error(number, str(error), echo))
                if not accept_partial:
                    break
        if number == 0:
            raise ApiError(400, "incoming write was empty")
        if not accept_partial and errors:
            raise json_error(400, "line protocol parsing error", errors[0])
        with self.lock:
            db = self.databases.get(db_name)
            if db is None:
                if not parsed:
                    return number, 0, errors, None
                db = self.create_database(db_name, exists_ok=True)
            points: list[Any] = []
            if accept_partial:
                for line_number, line, point in parsed:
                    problem = self.check_schema(db, point, register=True)
                    if problem is not None:
                        errors.append(
                            line_error(line_number, problem, render_line(line, point[2]), rendered=True)
                        )
                        continue
                    self.register(db, point)
                    points.append(point)
                errors.sort(key=lambda e: e["line_number"])
            else:
                staged = {name: dict(t.schema) for name, t in db.tables.items()}
                for line_number, line, point in parsed:
                    problem = self.check_staged(staged, point)
                    if problem is not None:
                        raise json_error(
                            400,
                            "line protocol parsing error",
                            line_error(
                                line_number, problem, render_line(line, point[2]), rendered=True
                            ),
                        )
                for _number, _line, point in parsed:
                    self.register(db, point)
                    points.append(point)
            ticket = self.wal.stage(lambda: self.apply_points(db, points)) if points else None
        return number, len(points), errors, ticket

    def register(self, db: Database, point) -> None:
        """Adds the table and the columns a point names to the catalog now."""
        measurement, tags, fields, _time = point
        table = db.tables.get(measurement)
        if table is None:
            table = Table(measurement)
            db.tables[measurement] = table
            db.version += 1
        schema = table.schema
        added = False
        for key in tags:
            if key not in schema:
                table.add_column(key, TAG)
                added = True
        for key, kind, _value in fields:
            if key not in schema:
                table.add_column(key, kind)
                added = True
        if added:
            table.version += 1

    def apply_points(self, db: Database, points: list[Any]) -> None:
        """Moves buffered points into the queryable tables (at a WAL flush)."""
        if self.databases.get(db.name) is not db:
            return  # deleted while the rows waited in the buffer
        for point in points:
            self.apply(db, point)
        db.version += 1

    @staticmethod
    def schema_problem(schema: dict[str, str] | None, point) -> tuple[str | None, list[tuple[str, str]]]:
        """The first column conflict of a point and the new columns it names."""
        _measurement, tags, fields, _time = point
        new_columns: list[tuple[str, str]] = []
        problem = None
        for key in tags:
            if key == "time":
                problem = problem or (
                    "'time' is a reserved column"
                    if schema is None
                    else f"invalid column type for column 'time', expected iox::column_type::{TIMESTAMP}, got iox::column_type::{TAG}"
                )
                continue
            existing = schema.get(key) if schema else None
            if existing is None:
                new_columns.append((key, TAG))
            elif existing != TAG:
                problem = problem or conflict(key, existing, TAG)
        for key, kind, _value in fields:
            if key == "time":
                problem = problem or (
                    "'time' is a reserved column"
                    if schema is None
                    else conflict("time", TIMESTAMP, kind)
                )
                continue
            if key in tags:
                problem = problem or conflict(key, TAG, kind)
                continue
            existing = schema.get(key) if schema else None
            if existing is None:
                new_columns.append((key, kind))
            elif existing != kind:
                problem = problem or conflict(key, existing, kind)
        return problem, new_columns

    def check_schema(self, db: Database, point, register: bool) -> str | None:
        table = db.tables.get(point[0])
        problem, new_columns = self.schema_problem(table.schema if table else None, point)
        if problem is not None and register and table is not None:
            # A refused line still registers the new columns it names.
            for key, kind in new_columns:
                if key not in table.schema:
                    table.add_column(key, kind)
                    table.version += 1
        return problem

    def check_staged(self, staged: dict[str, dict[str, str]], point) -> str | None:
        schema = staged.get(point[0])
        problem, new_columns = self.schema_problem(schema, point)
        if problem is None:
            target = staged.setdefault(point[0], {})
            for key, kind in new_columns:
                target.setdefault(key, kind)
        return problem

    def apply(self, db: Database, point) -> None:
        measurement, tags, fields, time_ns = point
        table = db.tables.get(measurement)
        if table is None:
            table = Table(measurement)
            db.tables[measurement] = table
        schema = table.schema
        columns = table.columns
        for key in tags:
            if key not in schema:
                table.add_column(key, TAG)
        for key, kind, _value in fields:
            if key not in schema:
                table.add_column(key, kind)
        if len(tags) == 1:
            series = tuple(tags.items())
        else:
            series = tuple(sorted(tags.items()))
        row_key = (series, time_ns)
        row = table.index.get(row_key)
        if row is None:
            row = len(table.times)
            table.index[row_key] = row
            table.times.append(time_ns)
            values = dict(tags)
            for key, _kind, value in fields:
                values[key] = value
            get = values.get
            for name, column in columns.items():
                column.append(get(name))
            self.points += 1
        else:
            for key, _kind, value in fields:
                columns[key][row] = value
        table.version += 1

    def prepare_uniform(self, db_name: str, batch: "UniformBatch") -> Callable[[], None] | None:
        """Registers a uniform batch's table and columns; None when its schema conflicts.

        Returns what stores its rows, column by column, when the WAL is flushed.
        """
        template = batch.template
        probe = (
            template.measurement,
            dict.fromkeys(template.tag_keys, ""),
            [(k, kind, None) for k, kind in template.fields],
            0,
        )
        db = self.databases.get(db_name)
        table = db.tables.get(template.measurement) if db else None
        problem, _new = self.schema_problem(table.schema if table else None, probe)
        if problem is not None:
            return None
        if db is None:
            db = self.create_database(db_name, exists_ok=True)
        if table is None:
            table = Table(template.measurement)
            db.tables[template.measurement] = table
        for key in template.tag_keys:
            if key not in table.schema:
                table.add_column(key, TAG)
        for key, kind in template.fields:
            if key not in table.schema:
                table.add_column(key, kind)
        table.version += 1
        db.version += 1
        return lambda: self.apply_uniform_rows(db, table, batch)

    def apply_uniform_rows(self, db: Database, table: Table, batch: "UniformBatch") -> None:
        """Stores the rows of a uniform batch (at a WAL flush)."""
        if self.databases.get(db.name) is not db:
            return  # deleted while the rows waited in the buffer
        template = batch.template
        times = batch.times
        ordered = sorted(template.tag_keys)
        if not ordered:
            keys = [((), t) for t in times]
        elif len(ordered) == 1:
            name = ordered[0]
            keys = [(((name, v),), t) for v, t in zip(batch.values[name], times)]
        else:
            tag_columns = [batch.values[k] for k in ordered]
            keys = [
                (tuple(zip(ordered, row[:-1])), row[-1]) for row in zip(*tag_columns, times)
            ]
        index = table.index
        start = len(table.times)
        fresh: list[int] = []
        updates: list[tuple[int, int]] = []
        for i, key in enumerate(keys):
            row = index.get(key)
            if row is None:
                index[key] = start + len(fresh)
                fresh.append(i)
            else:
                updates.append((i, row))
        everything = len(fresh) == batch.count
        for name, column in table.columns.items():
            values = batch.values.get(name)
            if values is None:
                column.extend([None] * len(fresh))
            elif everything:
                column.extend(values)
            else:
                column.extend([values[i] for i in fresh])
        table.times.extend(times if everything else [times[i] for i in fresh])
        field_names = [k for k, _kind in template.fields]
        for i, row in updates:
            for name in field_names:
                table.columns[name][row] = batch.values[name][i]
        self.points += len(fresh)
        table.version += 1
        db.version += 1

    def tables_for_query(self, db_name: str) -> dict[str, Any]:
        """Arrow tables of a database, rebuilt only after a write."""
        import pyarrow as pa

        with self.lock:
            db = self.databases.get(db_name)
            if db is None:
                raise json_error(404, f"query error: database not found: {db_name}")
            stamp = (db.version, tuple((n, t.version) for n, t in db.tables.items()))
            if db.snapshot is not None and db.snapshot_version == stamp:
                return db.snapshot
            tables = {}
            for name, table in db.tables.items():
                tables[name] = arrow_table(pa, table)
            db.snapshot = tables
            db.snapshot_version = stamp
            return tables


def conflict(column: str, expected: str, got: str) -> str:
    return (
        f"invalid column type for column '{column}', expected iox::column_type::{expected}, "
        f"got iox::column_type::{got}"
    )


def line_error(number: int, message: str, line: str, rendered: bool = False) -> dict[str, Any]:
    echo = line if rendered else (line[:-1] if line.endswith("\r") else line)
    return {"original_line": echo[:20], "line_number": number, "error_message": message}


def arrow_table(pa, table: Table):
    """A table as Arrow: columns by name, tags dictionary-encoded."""
    types = {
        INTEGER: pa.int64(),
        UINTEGER: pa.uint64(),
        FLOAT: pa.float64(),
        STRING: pa.string(),
        BOOLEAN: pa.bool_(),
    }
    names = sorted(list(table.schema) + ["time"])
    arrays = []
    fields = []
    for name in names:
        if name == "time":
            arrays.append(pa.array(table.times, type=pa.timestamp("ns")))
            fields.append(pa.field("time", pa.timestamp("ns"), nullable=False))
            continue
        kind = table.schema[name]
        if kind == TAG:
            array = pa.array(table.columns[name], type=pa.string()).dictionary_encode()
            fields.append(pa.field(name, pa.dictionary(pa.int32(), pa.string())))
        else:
            array = pa.array(table.columns[name], type=types[kind])
            fields.append(pa.field(name, types[kind]))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


class ExecutionError(Exception):
    """A query that failed while executing, after its answer began."""


class QueryEngine:
    def __init__(self, store: Store) -> None:
        self.store = store

    def plan(self, db: str, sql: str, params: dict[str, Any] | None):
        """Plans a query and starts it, as Core does before it answers.

        Returns (schema, batches): ``batches`` yields pyarrow RecordBatches
        and raises ExecutionError when the query fails while executing.
        Core plans (logical, optimised and physical plan) before the HTTP
        answer starts and executes while it streams the body
        (influxdb3_server/src/http.rs, ``query_sql`` and
        ``record_batch_stream_to_body``); DataFusion's ``execute_stream``
        draws the same line here. A planning error raises ApiError 400, an
        unknown database ApiError 404.
        """
        from datafusion import SessionConfig, SessionContext, SQLOptions

        tables = self.store.tables_for_query(db)
        # As Core's iox_session_config (datafusion_util/src/config.rs in
        # influxdata/influxdb3_core): SQL string types (CAST AS VARCHAR) stay
        # Utf8, not Utf8View, which Flight SQL clients such as Grafana's
        # cannot read.
        config = (
            SessionConfig()
            .with_default_catalog_and_schema("public", "iox")
            .with_information_schema(True)
            .set("datafusion.sql_parser.map_string_types_to_utf8view", "false")
        )
        ctx = SessionContext(config)
        for name, table in tables.items():
            batches = table.to_batches()
            if not batches:  # a table the catalog knows whose rows wait in the WAL buffer
                import pyarrow as pa

                batches = [
                    pa.RecordBatch.from_arrays(
                        [pa.array([], f.type) for f in table.schema], schema=table.schema
                    )
                ]
            ctx.register_record_batches(quote_identifier(name), [batches])
        options = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
        try:
            frame = ctx.sql_with_options(sql, options, param_values=params or None)
            schema = frame.schema()
            stream = frame.execute_stream()
        except Exception as error:  # DataFusion raises plain exceptions
            raise ApiError(400, clean_error(error)) from error

        def batches():
            try:
                for batch in stream:
                    yield batch.to_pyarrow()
            except Exception as error:
                raise ExecutionError(clean_error(error)) from error

        return schema, batches()

    def run(self, db: str, sql: str, params: dict[str, Any] | None):
        """Plans and executes a query, returning (schema, every batch)."""
        schema, batches = self.plan(db, sql, params)
        return schema, list(batches)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def clean_error(error: Exception) -> str:
    text = str(error)
    for prefix in ("DataFusion error: ", "Execution error: "):
        if text.startswith(prefix) and prefix.startswith("DataFusion"):
            text = text[len(prefix) :]
    return text


def format_timestamp(value: int, unit: str, tz: str | None) -> str:
    """A timestamp as arrow's display: ISO 8601, 0/3/6/9 fraction digits."""
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    seconds, fraction = divmod(value, per_second)
    nanos = fraction * (10**9 // per_second)
    moment = EPOCH + timedelta(seconds=seconds)
    suffix = ""
    if tz:
        zone = timezone_for(tz)
        moment = moment.replace(tzinfo=timezone.utc).astimezone(zone)
        offset = moment.utcoffset() or timedelta(0)
        if offset == timedelta(0):
            suffix = "Z"
        else:
            total = int(offset.total_seconds())
            sign = "+" if total >= 0 else "-"
            hours, minutes = divmod(abs(total) // 60, 60)
            suffix = f"{sign}{hours:02d}:{minutes:02d}"
        moment = moment.replace(tzinfo=None)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        if nanos % 1_000_000 == 0:
            text += f".{nanos // 1_000_000:03d}"
        elif nanos % 1_000 == 0:
            text += f".{nanos // 1_000:06d}"
        else:
            text += f".{nanos:09d}"
    return text + suffix


EPOCH = datetime(1970, 1, 1)


def timezone_for(name: str):
    if name in ("UTC", "+00:00", "Z", "utc"):
        return timezone.utc
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if match:
        sign = 1 if match.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:
        return timezone.utc


def column_values(pa, column) -> list[Any]:
    """A column as Python values, temporal types as arrow displays them."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    if pa.types.is_timestamp(kind):
        raw = column.cast(pa.int64()).to_pylist()
        return [None if v is None else format_timestamp(v, kind.unit, kind.tz) for v in raw]
    if pa.types.is_date(kind) or pa.types.is_time(kind):
        return [None if v is None else v.isoformat() for v in column.to_pylist()]
    if pa.types.is_duration(kind) or pa.types.is_interval(kind) or pa.types.is_decimal(kind):
        return [None if v is None else str(v) for v in column.to_pylist()]
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return [None if v is None else v.hex() for v in column.to_pylist()]
    return column.to_pylist()


def batch_rows(pa, batch) -> tuple[list[str], list[list[Any]]]:
    names = batch.schema.names
    return names, [column_values(pa, batch.column(i)) for i in range(batch.num_columns)]


def json_scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_rows(pa, batch) -> list[str]:
    """The rows of a batch as arrow_json writes them: nulls left out."""
    names, columns = batch_rows(pa, batch)
    rows: list[str] = []
    for i in range(batch.num_rows):
        row = {}
        for name, column in zip(names, columns):
            value = column[i]
            if value is not None:
                row[name] = json_scalar(value)
        rows.append(json.dumps(row, separators=(",", ":"), ensure_ascii=False, default=str))
    return rows


def render_chunks(fmt: str, batches):
    """json, jsonl or csv, one chunk per batch, as Core streams them.

    Follows ``record_batch_stream_to_body`` (influxdb3_server/src/http.rs):
    json opens ``[`` with the first non-empty batch and closes with ``]``
    (``[]`` when there was none), jsonl writes a line per row, csv a header
    before the first rows. An ExecutionError from ``batches`` passes through
    after the chunks already made.
    """
    import pyarrow as pa

    first = True
    for batch in batches:
        if not batch.num_rows:
            continue
        if fmt == "json":
            yield (("[" if first else ",") + ",".join(json_rows(pa, batch))).encode()
        elif fmt == "jsonl":
            yield "".join(row + "\n" for row in json_rows(pa, batch)).encode()
        else:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            if first:
                writer.writerow(batch.schema.names)
            _names, columns = batch_rows(pa, batch)
            for i in range(batch.num_rows):
                writer.writerow([csv_cell(column[i]) for column in columns])
            yield out.getvalue().encode()
        first = False
    if fmt == "json":
        yield b"[]" if first else b"]"


def render(fmt: str, schema, batches) -> bytes:
    import pyarrow as pa

    batches = [b for b in batches if b.num_rows]
    if fmt in ("json", "jsonl", "csv"):
        return b"".join(render_chunks(fmt, batches))
    if fmt == "parquet":
        if not batches:
            return b""
        import pyarrow.parquet as pq

        sink = io.BytesIO()
        pq.write_table(pa.Table.from_batches(batches), sink)
        return sink.getvalue()
    # pretty
    names = list(schema.names) if schema is not None else []
    if not names and batches:
        names = batches[0].schema.names
    cells: list[list[str]] = []
    for batch in batches:
        _names, columns = batch_rows(pa, batch)
        for i in range(batch.num_rows):
            cells.append([csv_cell(column[i]) for column in columns])
    if not names:
        return b"++\n++"
    widths = [len(n) for n in names]
    for row in cells:
        for j, cell in enumerate(row):
            widths[j] = max(widths[j], len(cell))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [rule, "|" + "|".join(f" {n.ljust(w)} " for n, w in zip(names, widths)) + "|", rule]
    for row in cells:
        lines.append("|" + "|".join(f" {c.ljust(w)} " for c, w in zip(row, widths)) + "|")
    lines.append(rule)
    return "\n".join(lines).encode()


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


# ---------------------------------------------------------------------------
# Faults and counters
# ---------------------------------------------------------------------------


class Switches:
    """The fault mode and the request counters."""

    MODES = ("ok", "down", "error500", "error429", "slow")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.mode = "ok"
            self.only: str | None = None
            self.retry_after = 1
            self.delay_ms = 0
            self.times: int | None = None
            self.stats = {
                "requests": 0,
                "writes": 0,
                "points": 0,
                "lines_received": 0,
                "gzip_requests": 0,
                "rejected": 0,
                "rejected_lines": 0,
                "queries": 0,
                "queries_cut": 0,
                "flight_requests": 0,
            }

    def set_mode(self, settings: dict[str, Any]) -> dict[str, Any]:
        mode = settings.get("mode", "ok")
        if mode not in self.MODES:
            raise json_error(400, f"unknown mode {mode!r}, expected one of {', '.join(self.MODES)}")
        only = settings.get("only")
        if only not in (None, "writes"):
            raise json_error(400, f"unknown only {only!r}, expected writes")
        with self.lock:
            self.mode = mode
            self.only = only
            self.retry_after = int(settings.get("retry_after", 1))
            self.delay_ms = int(settings.get("delay_ms", 1000 if mode == "slow" else 0))
            times = settings.get("times")
            self.times = int(times) if times is not None else None
            return self.describe()

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "retry_after": self.retry_after,
            "delay_ms": self.delay_ms,
            "times": self.times,
            "only": self.only,
        }

    def take(self, path: str) -> tuple[str, int, int]:
        """The mode for one request to ``path``, counting it against ``times``.

        With ``only: "writes"`` the mode applies to the write endpoints alone
        (the others are served as in ``ok``, and not counted).
        """
        with self.lock:
            if self.only == "writes" and not is_write_path(path):
                return "ok", self.retry_after, 0
            mode, retry_after, delay_ms = self.mode, self.retry_after, self.delay_ms
            if mode != "ok" and self.times is not None:
                self.times -= 1
                if self.times <= 0:
                    self.mode, self.times, self.delay_ms, self.only = "ok", None, 0, None
            return mode, retry_after, delay_ms

    def count(self, **increments: int) -> None:
        with self.lock:
            for key, value in increments.items():
                self.stats[key] = self.stats.get(key, 0) + value


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


def parse_bool(params: dict[str, str], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if value == "true":
        return True
    if value == "false":
        return False
    raise ApiError(400, "serde error: provided string was not `true` or `false`")


FIELD_TYPES = {
    "utf8": STRING,
    "int64": INTEGER,
    "uint64": UINTEGER,
    "float64": FLOAT,
    "bool": BOOLEAN,
}


def parse_create_table(request: Any) -> tuple[str, str, list[str], list[tuple[str, str]]]:
    """(db, table, tags, fields as (name, kind)) of a ``CreateTableRequest``.

    Refuses what serde refuses, in its words (influxdb3_types/src/http.rs:
    ``CreateTableRequest``, ``CreateTableField``, ``FieldType`` with
    ``rename_all = "lowercase"``); unknown keys are ignored, as serde does.
    """

    def refuse(message: str) -> ApiError:
        # Error::SerdeJson: a 400 whose body is its text, with no content type.
        return ApiError(400, f"serde json error: {message}", None)

    if not isinstance(request, dict):
        raise refuse("invalid type: expected struct CreateTableRequest")
    for key in ("db", "table", "tags", "fields"):
        if key not in request:
            raise refuse(f"missing field `{key}`")
    db, table, tags, fields = (request[k] for k in ("db", "table", "tags", "fields"))
    if not isinstance(db, str) or not isinstance(table, str):
        raise refuse("invalid type: expected a string")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise refuse("invalid type: expected a sequence of strings")
    if not isinstance(fields, list):
        raise refuse("invalid type: expected a sequence")
    parsed: list[tuple[str, str]] = []
    for field in fields:
        if not isinstance(field, dict):
            raise refuse("invalid type: expected struct CreateTableField")
        for key in ("name", "type"):
            if key not in field:
                raise refuse(f"missing field `{key}`")
        name, kind = field["name"], field["type"]
        if not isinstance(name, str) or not isinstance(kind, str):
            raise refuse("invalid type: expected a string")
        if kind not in FIELD_TYPES:
            expected = ", ".join(f"`{k}`" for k in FIELD_TYPES)
            raise refuse(f"unknown variant `{kind}`, expected one of {expected}")
        parsed.append((name, FIELD_TYPES[kind]))
    return db, table, list(tags), parsed


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "influxdb3-double"
    sys_version = ""

    def version_string(self) -> str:
        return self.server_version

    # The server object carries the shared state (see make_server).
    store: Store
    switches: Switches
    engine: QueryEngine

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:  # type: ignore[attr-defined]
            sys.stderr.write("influxdb3-double: " + (format % args) + "\n")

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def do_DELETE(self) -> None:
        self.dispatch()

    def do_PATCH(self) -> None:
        self.dispatch()

    def do_OPTIONS(self) -> None:
        self._body = None
        self.read_body_bytes()
        self.respond(
            204,
            b"",
            None,
            {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": "*",
                "Access-Control-Allow-Headers": "*",
                "Access-Control-Max-Age": "86400",
            },
        )

    # -- plumbing -----------------------------------------------------------

    def read_body_bytes(self) -> bytes:
        if self._body is not None:
            return self._body
        limit = self.server.max_request_bytes  # type: ignore[attr-defined]
        body = b""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            body = b"".join(chunks)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                body = self.rfile.read(length)
        self._body = body
        if len(body) > limit:
            raise ApiError(500, f"max request size ({limit} bytes) exceeded")
        return body

    def decoded_body(self) -> bytes:
        body = self.read_body_bytes()
        encoding = (self.headers.get("Content-Encoding") or "").strip()
        if encoding in ("", "identity"):
            return body
        if encoding != "gzip":
            raise ApiError(400, f"unacceptable content-encoding: {encoding}")
        limit = self.server.max_request_bytes  # type: ignore[attr-defined]
        try:
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = decoder.decompress(body, limit + 1)
        except zlib.error as error:
            raise ApiError(500, f"error decoding gzip stream: {error}") from error
        if len(data) > limit:
            raise ApiError(500, f"max request size ({limit} bytes) exceeded")
        return data

    def respond(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type and status != 204:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 204 and body and self.command != "HEAD":
            self.wfile.write(body)

    def drop_connection(self) -> None:
        """Resets the connection without an answer (SO_LINGER 0, then close)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    # -- routing ------------------------------------------------------------

    def dispatch(self) -> None:
        self._body: bytes | None = None  # one handler serves every request of a connection
        url = urlsplit(self.path)
        path = url.path
        self.params = dict(parse_qsl(url.query, keep_blank_values=True))
        self.query_string = url.query
        switches = self.server.switches  # type: ignore[attr-defined]
        if path.startswith("/__double/"):
            self.run_guarded(lambda: self.control(path))
            return
        switches.count(requests=1)
        mode, retry_after, delay_ms = switches.take(path)
        if mode == "down":
            self.drop_connection()
            return
        if mode == "slow" and delay_ms > 0:
            time.sleep(delay_ms / 1000)
        if mode in ("error500", "error429") and path.startswith("/api/"):
            try:
                self.read_body_bytes()
            except ApiError:
                pass
            if is_write_path(path):
                switches.count(rejected=1)
            if mode == "error500":
                self.respond(500, b"internal error (simulated by the InfluxDB double)", "text/plain")
            else:
                self.respond(
                    429,
                    b'{"error":"too many requests (simulated by the InfluxDB double)"}',
                    "application/json",
                    {"Retry-After": str(retry_after)},
                )
            return
        self.run_guarded(lambda: self.route(self.command, path))

    def run_guarded(self, action) -> None:
        try:
            action()
        except ApiError as error:
            if is_write_path(urlsplit(self.path).path):
                self.server.switches.count(rejected=1)  # type: ignore[attr-defined]
            self.respond(error.status, error.body, error.content_type)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # a bug in the double: say so, do not hang
            sys.stderr.write(f"influxdb3-double: internal error: {error!r}\n")
            self.respond(500, f"internal error in the double: {error}".encode(), "text/plain")

    def route(self, method: str, path: str) -> None:
        if OPEN_PATH_NAMES.get(path) not in self.server.open_paths:  # type: ignore[attr-defined]
            self.authenticate()
        if method == "GET" and path in ("/health", "/api/v1/health"):
            self.read_body_bytes()
            self.respond(200, b"OK", "text/plain; charset=utf-8")
        elif method in ("GET", "POST") and path == "/ping":
            self.read_body_bytes()
            body = compact_json({"version": VERSION, "revision": REVISION, "process_id": PROCESS_ID})
            request_id = str(uuid.uuid4())
            self.respond(
                200,
                body.encode(),
                "application/json",
                {
                    "Request-Id": request_id,
                    "X-Influxdb-Build": "Core",
                    "X-Influxdb-Version": VERSION,
                    "X-Request-Id": request_id,
                },
            )
        elif method == "GET" and path == "/metrics":
            self.read_body_bytes()
            self.respond(200, b"", "text/plain; version=0.0.4")
        elif method == "POST" and path == "/api/v3/write_lp":
            self.write_v3()
        elif method == "POST" and path == "/api/v2/write":
            self.write_v2()
        elif method in ("GET", "POST") and path == "/api/v3/query_sql":
            self.query_sql()
        elif method in ("GET", "POST") and path == "/api/v3/query_influxql":
            self.read_body_bytes()
            raise ApiError(501, "InfluxQL is not implemented by the InfluxDB double")
        elif path == "/api/v3/configure/database":
            self.configure_database(method)
        elif method == "POST" and path == "/api/v3/configure/table":
            self.create_table()
        else:
            self.read_body_bytes()
            self.respond(404, b"not found", "text/plain")

    def authenticate(self) -> None:
        """Core's HTTP authentication (influxdb3_server/src/http.rs).

        ``validate_auth_header`` accepts ``Bearer``, ``Token`` and ``Basic``
        (the token as the password) and answers a malformed header with 400
        and ``{"error": "Authorization header was malformed, ..."}``; a
        missing or unknown token is ``AuthenticationError::Unauthenticated``,
        a 401 whose body is ``{"error": "the request was not authenticated"}``
        (the Display of that error).
        """
        tokens: Tokens = self.server.tokens  # type: ignore[attr-defined]
        if not tokens:
            return
        header = self.headers.get("Authorization")
        if header is None:
            self.read_body_bytes()
            raise unauthenticated()
        parts = header.split(" ")
        malformed = ApiError(
            400,
            '{"error": "Authorization header was malformed, the request was not in the form of '
            "'Authorization: <auth-scheme> <token>', supported auth-schemes are Bearer, "
            "Token and Basic\"}",
            None,
        )
        if len(parts) != 2 or parts[0] not in ("Bearer", "Token", "Basic"):
            self.read_body_bytes()
            raise malformed
        given = parts[1]
        if parts[0] == "Basic":
            try:
                decoded = base64.b64decode(given, validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                self.read_body_bytes()
                raise malformed from None
            user, sep, given = decoded.rpartition(":")
            if not sep or ":" in user:
                self.read_body_bytes()
                raise malformed
        if not tokens.accepts(given):
            self.read_body_bytes()
            raise unauthenticated()

    # -- writes -------------------------------------------------------------

    def write_v3(self) -> None:
        if not self.query_string:
            self.read_body_bytes()
            raise ApiError(400, "missing query parameter 'db'")
        if "db" not in self.params:
            self.read_body_bytes()
            raise ApiError(400, "serde error: missing field `db`")
        precision_text = self.params.get("precision", "auto")
        precision = V3_PRECISIONS.get(precision_text)
        if precision is None:
            self.read_body_bytes()
            raise ApiError(400, f"serde error: unrecognized precision unit: {precision_text}")
        accept_partial = parse_bool(self.params, "accept_partial", True)
        no_sync = parse_bool(self.params, "no_sync", False)
        self.write_common(self.params["db"], precision, accept_partial, no_sync)

    def write_v2(self) -> None:
        bucket = self.params.get("bucket")
        if not bucket:
            self.read_body_bytes()
            raise json_error(400, "missing bucket value")
        precision_text = self.params.get("precision", "ns")
        precision = V2_PRECISIONS.get(precision_text)
        if precision is None:
            self.read_body_bytes()
            raise json_error(400, f"invalid precision value: {precision_text}")
        # The v2 endpoint has no no_sync: it waits for the WAL flush.
        self.write_common(bucket, precision, True, False)

    def write_common(self, db: str, precision: str, accept_partial: bool, no_sync: bool) -> None:
        switches: Switches = self.server.switches  # type: ignore[attr-defined]
        store: Store = self.server.store  # type: ignore[attr-defined]
        try:
            validate_db_name(db)
        except ApiError:
            self.read_body_bytes()
            raise
        if (self.headers.get("Content-Encoding") or "").strip() == "gzip":
            switches.count(gzip_requests=1)
        body = self.decoded_body()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiError(500, f"body content is not valid utf8: {error}") from error
        lines, written, errors, ticket = store.write(
            db, text, precision, accept_partial, time.time_ns()
        )
        switches.count(lines_received=lines, rejected_lines=len(errors))
        if written:
            switches.count(writes=1)
        # influxdb3_write/src/write_buffer/mod.rs: `write_ops` (no_sync=false)
        # returns after the WAL flush; `write_ops_unconfirmed` at once.
        if not no_sync:
            store.wal.wait(ticket)
        if errors:
            # Core lists every refused line (http.rs, Error::PartialLpWrite
            # serialises all of BufferedWriteRequest.invalid_lines).
            raise json_error(400, "partial write of line protocol occurred", errors)
        self.respond(204, b"", None)

    # -- queries ------------------------------------------------------------

    def query_sql(self) -> None:
        switches: Switches = self.server.switches  # type: ignore[attr-defined]
        switches.count(queries=1)
        header_format = self.accept_format()
        if self.command == "GET":
            self.read_body_bytes()
            if not self.query_string:
                raise ApiError(400, "missing query parameters 'db' and 'q'")
            for name in ("db", "q"):
                if name not in self.params:
                    raise ApiError(400, f"serde error: missing field `{name}`")
            request = dict(self.params)
            if "params" in request:
                try:
                    request["params"] = json.loads(request["params"])
                except json.JSONDecodeError as error:
                    raise ApiError(400, f"serde json error: {error}") from error
            prefix = "serde error"
        else:
            try:
                request = json.loads(self.decoded_body() or b"null")
            except json.JSONDecodeError as error:
                raise ApiError(400, f"serde json error: {error}") from error
            if not isinstance(request, dict):
                raise ApiError(400, "serde json error: invalid type: expected struct QueryRequest")
            for name in ("db", "q"):
                if name not in request:
                    raise ApiError(400, f"serde json error: missing field `{name}`")
            prefix = "serde json error"
        fmt = request.get("format") or header_format
        if fmt not in FORMATS:
            raise ApiError(
                400,
                f"{prefix}: unknown variant `{fmt}`, expected one of "
                "`parquet`, `csv`, `pretty`, `json`, `jsonl`",
            )
        params = request.get("params")
        if params is not None and not isinstance(params, dict):
            raise ApiError(400, f"{prefix}: invalid type: expected a map of parameters")
        engine: QueryEngine = self.server.engine  # type: ignore[attr-defined]
        schema, batches = engine.plan(str(request["db"]), str(request["q"]), params)
        if fmt in ("json", "jsonl", "csv"):
            self.respond_stream(fmt, batches)
            return
        # pretty and parquet collect every batch before answering, so an
        # execution error is an error answer (Error::Datafusion, a 500).
        try:
            collected = list(batches)
        except ExecutionError as error:
            raise ApiError(500, f"datafusion error: {error}") from error
        body = render(fmt, schema, collected)
        self.respond(200, body, FORMATS[fmt], {"Access-Control-Allow-Origin": "*"})

    def respond_stream(self, fmt: str, batches) -> None:
        """A 200 whose chunked body is cut off when the query fails while executing.

        Core sends the status and headers, then streams the body
        (``stream_results_to_response_body`` in influxdb3_server/src/http.rs);
        an error from the record batch stream ends the body without its last
        chunk, so the client sees a 200 and a broken body, and no message.
        """
        switches: Switches = self.server.switches  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", FORMATS[fmt])
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in render_chunks(fmt, batches):
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except ExecutionError as error:
            switches.count(queries_cut=1)
            if self.server.verbose:  # type: ignore[attr-defined]
                sys.stderr.write(f"influxdb3-double: query cut off while executing: {error}\n")
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(b"0\r\n\r\n")

    def accept_format(self) -> str:
        accept = self.headers.get("Accept")
        if not accept:
            return "json"
        for part in accept.split(","):
            media = part.split(";")[0].strip()
            if media in ACCEPT_FORMATS:
                return ACCEPT_FORMATS[media]
        raise ApiError(400, f"invalid mime type ({accept})")

    # -- databases ----------------------------------------------------------

    def configure_database(self, method: str) -> None:
        store: Store = self.server.store  # type: ignore[attr-defined]
        if method == "GET":
            self.read_body_bytes()
            fmt = self.params.get("format", "json")
            if fmt not in FORMATS:
                raise ApiError(
                    400,
                    f"serde error: unknown variant `{fmt}`, expected one of "
                    "`parquet`, `csv`, `pretty`, `json`, `jsonl`",
                )
            import pyarrow as pa

            with store.lock:
                names = list(store.databases)
            table = pa.table({"iox::database": pa.array(names, pa.string())})
            self.respond(200, render(fmt, table.schema, table.to_batches()), FORMATS[fmt])
        elif method == "POST":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            body = self.decoded_body()
            if not (content_type == "application/json" or content_type.endswith("+json")):
                raise ApiError(415, "unacceptable content-type, expected: application/json")
            try:
                request = json.loads(body or b"null")
            except json.JSONDecodeError as error:
                raise ApiError(400, f"serde json error: {error}") from error
            if not isinstance(request, dict) or "db" not in request:
                raise ApiError(400, "serde json error: missing field `db`")
            name = str(request["db"])
            validate_db_name(name, allow_rp=True)
            store.create_database(name, exists_ok=False)
            self.respond(200, b"", None)
        elif method == "DELETE":
            self.read_body_bytes()
            if "db" not in self.params:
                raise ApiError(400, "serde error: missing field `db`")
            store.delete_database(self.params["db"])
            self.respond(200, b"", None)
        else:
            self.read_body_bytes()
            self.respond(404, b"not found", "text/plain")

    # -- tables -------------------------------------------------------------

    def create_table(self) -> None:
        """``POST /api/v3/configure/table``, as Core answers it.

        influxdb3_server/src/http.rs (influxdata/influxdb), ``create_table``:
        the body is read by ``read_body_json`` (a content type other than
        JSON is a 415 before the body is read; a body serde refuses is a 400
        "serde json error: ..."), as ``CreateTableRequest`` of
        influxdb3_types/src/http.rs: ``{"db", "table", "tags": [...],
        "fields": [{"name", "type"}]}``, every key required, ``type`` one of
        ``utf8``, ``int64``, ``uint64``, ``float64``, ``bool``. The database
        name is checked without a retention policy (``validate_db_name(&db,
        false)``), then the catalog (influxdb3_catalog/src/catalog/update.rs,
        ``create_table``) creates the database when missing (``begin``, with
        its limit of databases) and refuses a table that exists with
        ``CatalogError::AlreadyExists``, answered 409 with its text and no
        content type. Created, the answer is a 200 with an empty body, and
        the table (its tags, its fields, ``time``) is queryable at once,
        with no rows.
        """
        store: Store = self.server.store  # type: ignore[attr-defined]
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if not (content_type == "application/json" or content_type.endswith("+json")):
            raise ApiError(415, "unacceptable content-type, expected: application/json", None)
        try:
            request = json.loads(self.decoded_body() or b"null")
        except json.JSONDecodeError as error:
            raise ApiError(400, f"serde json error: {error}", None) from error
        db, table, tags, fields = parse_create_table(request)
        validate_db_name(db, allow_rp=False)
        store.create_table(db, table, tags, fields)
        self.respond(200, b"", None)

    # -- switches -----------------------------------------------------------

    def control(self, path: str) -> None:
        switches: Switches = self.server.switches  # type: ignore[attr-defined]
        store: Store = self.server.store  # type: ignore[attr-defined]
        body = self.read_body_bytes()
        if path == "/__double/mode" and self.command == "POST":
            try:
                settings = json.loads(body or b"{}")
            except json.JSONDecodeError as error:
                raise json_error(400, f"invalid JSON: {error}") from error
            if not isinstance(settings, dict):
                raise json_error(400, "expected a JSON object")
            self.respond(200, compact_json(switches.set_mode(settings)).encode(), "application/json")
        elif path == "/__double/mode" and self.command == "GET":
            with switches.lock:
                described = switches.describe()
            self.respond(200, compact_json(described).encode(), "application/json")
        elif path == "/__double/stats" and self.command == "GET":
            with switches.lock:
                stats = dict(switches.stats)
            with store.lock:
                stats["points"] = store.points
                stats["databases"] = sorted(n for n in store.databases if n != INTERNAL_DB)
                stats["wal_pending"] = len(store.wal.pending)
                stats["wal_flushes"] = store.wal.flush_count
            self.respond(200, compact_json(stats).encode(), "application/json")
        elif path == "/__double/flush" and self.command == "POST":
            flushed = store.wal.flush()
            self.respond(200, compact_json({"flushed": flushed}).encode(), "application/json")
        elif path == "/__double/reset" and self.command == "POST":
            store.reset()
            switches.reset()
            self.respond(200, b'{"reset":true}', "application/json")
        else:
            self.respond(404, b"not found", "text/plain")


# ---------------------------------------------------------------------------
# Flight SQL
# ---------------------------------------------------------------------------

SQL_TYPE_URL = "type.googleapis.com/arrow.flight.protocol.sql."
READ_INFO_TYPE_URL = "type.googleapis.com/influxdata.iox.querier.v1.ReadInfo"
QUERY_TYPE_SQL = 1
QUERY_TYPE_FLIGHT_SQL_MESSAGE = 3
# service_grpc_flight/src/lib.rs (influxdata/influxdb3_core):
# IOX_FLIGHT_SQL_DATABASE_REQUEST_HEADERS, "database" preferred.
DATABASE_HEADERS = ("database", "bucket", "bucket-name", "iox-namespace-name")
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def pb_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def pb_field(number: int, value: int | str | bytes) -> bytes:
    """One protobuf field: a varint for an int, length-delimited otherwise."""
    if isinstance(value, int):
        return pb_varint(number << 3) + pb_varint(value)
    data = value.encode() if isinstance(value, str) else bytes(value)
    return pb_varint(number << 3 | 2) + pb_varint(len(data)) + data


def pb_read_varint(data: bytes, i: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def pb_fields(data: bytes) -> dict[int, list[Any]]:
    """A protobuf message as {field number: [values]} (ints or bytes)."""
    out: dict[int, list[Any]] = {}
    i = 0
    n = len(data)
    while i < n:
        key, i = pb_read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = pb_read_varint(data, i)
        elif wire == 2:
            length, i = pb_read_varint(data, i)
            if i + length > n:
                raise ValueError("truncated field")
            value = bytes(data[i : i + length])
            i += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value = bytes(data[i : i + size])
            i += size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if number == 0:
            raise ValueError("field number 0")
        out.setdefault(number, []).append(value)
    return out


def pb_text(fields: dict[int, list[Any]], number: int) -> str:
    values = fields.get(number)
    return values[-1].decode() if values else ""


def pb_any(type_url: str, value: bytes) -> bytes:
    return pb_field(1, type_url) + pb_field(2, value)


def unpack_any(data: bytes) -> tuple[str, bytes]:
    fields = pb_fields(data)
    values = fields.get(2)
    return pb_text(fields, 1), values[-1] if values else b""


# The server information a CommandGetSqlInfo gets: the scalar entries of
# flightsql/src/sql_info/mod.rs (influxdata/influxdb3_core), by SqlInfo id.
SQL_INFO: dict[int, tuple[str, Any]] = {
    0: ("string", "InfluxDB IOx"),  # FLIGHT_SQL_SERVER_NAME
    1: ("string", "2"),  # FLIGHT_SQL_SERVER_VERSION
    2: ("string", "1.3"),  # FLIGHT_SQL_SERVER_ARROW_VERSION
    3: ("bool", True),  # FLIGHT_SQL_SERVER_READ_ONLY
    4: ("bool", True),  # FLIGHT_SQL_SERVER_SQL
    5: ("bool", False),  # FLIGHT_SQL_SERVER_SUBSTRAIT
    8: ("int32", 0),  # FLIGHT_SQL_SERVER_TRANSACTION: unspecified
    9: ("bool", False),  # FLIGHT_SQL_SERVER_CANCEL
    100: ("int32", 0),  # FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT
    101: ("int32", 0),  # FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT
    500: ("bool", False),  # SQL_DDL_CATALOG
    501: ("bool", False),  # SQL_DDL_SCHEMA
    502: ("bool", False),  # SQL_DDL_TABLE
    503: ("int32", 3),  # SQL_IDENTIFIER_CASE: lowercase
    504: ("string", '"'),  # SQL_IDENTIFIER_QUOTE_CHAR
    505: ("int32", 1),  # SQL_QUOTED_IDENTIFIER_CASE: case insensitive
    506: ("bool", True),  # SQL_ALL_TABLES_ARE_SELECTABLE
    507: ("int32", 0),  # SQL_NULL_ORDERING: nulls sorted high
}


def sql_info_table(pa, wanted: list[int]):
    """The GetSqlInfo answer, in the schema the Flight SQL spec fixes."""
    value_type = pa.dense_union(
        [
            pa.field("string_value", pa.string()),
            pa.field("bool_value", pa.bool_()),
            pa.field("bigint_value", pa.int64()),
            pa.field("int32_bitmask", pa.int32()),
            pa.field("string_list", pa.list_(pa.field("item", pa.string()))),
            pa.field(
                "int32_to_int32_list_map",
                pa.map_(pa.int32(), pa.list_(pa.field("item", pa.int32()))),
            ),
        ]
    )
    schema = pa.schema(
        [pa.field("info_name", pa.uint32(), nullable=False), pa.field("value", value_type, nullable=False)]
    )
    ids = [i for i in (wanted or sorted(SQL_INFO)) if i in SQL_INFO]
    codes = {"string": 0, "bool": 1, "int64": 2, "int32": 3}
    children: list[list[Any]] = [[], [], [], []]
    types: list[int] = []
    offsets: list[int] = []
    for info_id in ids:
        kind, value = SQL_INFO[info_id]
        code = codes[kind]
        types.append(code)
        offsets.append(len(children[code]))
        children[code].append(value)
    union = pa.UnionArray.from_dense(
        pa.array(types, pa.int8()),
        pa.array(offsets, pa.int32()),
        [
            pa.array(children[0], pa.string()),
            pa.array(children[1], pa.bool_()),
            pa.array(children[2], pa.int64()),
            pa.array(children[3], pa.int32()),
            pa.array([], value_type.field(4).type),
            pa.array([], value_type.field(5).type),
        ],
        [value_type.field(i).name for i in range(6)],
    )
    return schema, pa.Table.from_arrays([pa.array(ids, pa.uint32()), union], schema=schema)


class NotFound(KeyError):
    """A gRPC NotFound (pyarrow maps KeyError to it), with a plain message."""

    def __str__(self) -> str:
        return str(self.args[0])


def make_flight_server(http: "Server"):
    """The Flight SQL service, on 127.0.0.1 at a port of its own.

    It follows service_grpc_flight/src/lib.rs (influxdata/influxdb3_core),
    the service Core mounts next to its HTTP API (influxdb3_server/src/grpc.rs):
    ``GetFlightInfo`` reads the database header, decodes the Flight SQL
    command, checks the token, looks the database up and plans the query,
    then answers with one endpoint whose ticket is an ``Any`` wrapping an
    IOx ``ReadInfo`` that carries the command (service_grpc_flight/src/
    request.rs); ``DoGet`` decodes that ticket (or a JSON ticket), checks the
    token again and streams the record batches, an execution error ending
    the stream with its status.
    """
    import pyarrow as pa
    import pyarrow.flight as flight

    store: Store = http.store  # type: ignore[attr-defined]
    engine: QueryEngine = http.engine  # type: ignore[attr-defined]
    tokens: Tokens = http.tokens  # type: ignore[attr-defined]
    switches: Switches = http.switches  # type: ignore[attr-defined]

    class Headers(flight.ServerMiddleware):
        def __init__(self, headers: dict[str, list[Any]]) -> None:
            self.headers = headers

    class HeadersFactory(flight.ServerMiddlewareFactory):
        def start_call(self, info, headers):
            switches.count(flight_requests=1)
            return Headers(headers)

    def header(context, name: str) -> str | None:
        values = context.get_middleware("headers").headers.get(name)
        if not values:
            return None
        value = values[0]
        return value.decode() if isinstance(value, bytes) else str(value)

    def database_of(context) -> str:
        """``get_flightsql_namespace``: one database header, or InvalidArgument."""
        found = [(name, header(context, name)) for name in DATABASE_HEADERS]
        found = [(name, value) for name, value in found if value is not None]
        if not found:
            raise pa.ArrowInvalid("no 'database' header in request")
        if len({value for _name, value in found}) > 1:
            names = ", ".join(f'"{name}"' for name, _value in found)
            raise pa.ArrowInvalid(
                f"More than one headers are found in request: [{names}]. "
                "Please include only one of them"
            )
        return found[0][1]

    def authorize(context) -> None:
        """No token is Unauthenticated, a wrong one Permission denied.

        service_grpc_flight maps authz::Error::NoToken to Unauthenticated and
        InvalidToken to PermissionDenied; influxdb3/tests/server/auth.rs
        (``auth_grpc``) checks both, and that "bearer" in lower case is
        no token.
        """
        if not tokens:
            return
        value = header(context, "authorization") or ""
        token = None
        for scheme in ("Bearer ", "Token "):
            if value.startswith(scheme):
                token = value[len(scheme) :]
        if not token:
            raise flight.FlightUnauthenticatedError("Unauthenticated")
        if not tokens.accepts(token):
            raise flight.FlightUnauthorizedError("Permission denied")

    def command_of(data: bytes) -> tuple[str, dict[int, list[Any]]]:
        try:
            type_url, value = unpack_any(data)
            fields = pb_fields(value)
        except ValueError as error:
            raise pa.ArrowInvalid(f"Error while planning Flight SQL : Invalid protobuf: {error}")
        if not type_url.startswith(SQL_TYPE_URL):
            raise pa.ArrowInvalid(
                f"Error while planning Flight SQL : Invalid type_url: {type_url}"
            )
        return type_url[len(SQL_TYPE_URL) :], fields

    def check_database(name: str) -> None:
        with store.lock:
            if name not in store.databases:
                raise NotFound(f"Database '{name}' not found")

    def plan(database: str, sql: str):
        try:
            return engine.plan(database, sql, None)
        except ApiError as error:
            message = error.body.decode(errors="replace")
            if error.status == 404:
                raise NotFound(f"Database '{database}' not found") from None
            raise pa.ArrowInvalid(f"Error while planning query: {message}") from None

    def stream(schema, batches):
        """The batches as a Flight stream; an execution error ends it with its status.

        A RecordBatchReader writes the dictionaries of the tag columns ahead
        of the first batch, as Arrow's IPC stream format wants them (a
        GeneratorStream does not, and Go's reader refuses the stream).
        """

        def generate():
            try:
                for batch in batches:
                    yield batch.cast(schema) if batch.schema != schema else batch
            except ExecutionError as error:
                raise pa.ArrowInvalid(str(error)) from None

        return flight.RecordBatchStream(pa.RecordBatchReader.from_batches(schema, generate()))

    class FlightSqlService(flight.FlightServerBase):
        def get_flight_info(self, context, descriptor):
            database = database_of(context)
            if descriptor.descriptor_type != flight.DescriptorType.CMD:
                raise NotImplementedError("Unsupported message type: FlightInfo with Path")
            command, fields = command_of(descriptor.command)
            authorize(context)
            check_database(database)
            switches.count(**{f"flight_{command}": 1})
            if command == "CommandStatementQuery":
                schema, _batches = plan(database, pb_text(fields, 1))
            elif command == "CommandGetSqlInfo":
                schema, _table = sql_info_table(pa, list(fields.get(1, [])))
            else:
                raise NotImplementedError(
                    f"{command} is not implemented by the InfluxDB double "
                    "(Core answers it; only queries and GetSqlInfo are needed here)"
                )
            read_info = (
                pb_field(1, database)
                + pb_field(3, QUERY_TYPE_FLIGHT_SQL_MESSAGE)
                + pb_field(4, descriptor.command)
            )
            ticket = flight.Ticket(pb_any(READ_INFO_TYPE_URL, read_info))
            return flight.FlightInfo(schema, descriptor, [flight.FlightEndpoint(ticket, [])], -1, -1)

        def do_get(self, context, ticket):
            database, sql, command = self.decode_ticket(ticket.ticket)
            authorize(context)
            if command is not None:
                name, fields = command_of(command)
                if name == "CommandGetSqlInfo":
                    check_database(database)
                    schema, table = sql_info_table(pa, list(fields.get(1, [])))
                    return flight.RecordBatchStream(table)
                if name != "CommandStatementQuery":
                    raise NotImplementedError(f"{name} is not implemented by the InfluxDB double")
                sql = pb_text(fields, 1)
            check_database(database)
            switches.count(queries=1)
            schema, batches = plan(database, sql)
            return stream(schema, batches)

        @staticmethod
        def decode_ticket(data: bytes) -> tuple[str, str, bytes | None]:
            """(database, SQL, Flight SQL command) of an IOx ticket.

            ``IoxGetRequest::try_decode``: an ``Any`` wrapping ``ReadInfo``,
            a bare ``ReadInfo``, or JSON ``{"database": ..., "sql_query": ...}``.
            """
            try:
                try:
                    type_url, value = unpack_any(data)
                    if type_url != READ_INFO_TYPE_URL:
                        raise ValueError(type_url)
                except ValueError:
                    value = data
                fields = pb_fields(value)
                database = pb_text(fields, 1)
                query_type = fields.get(3, [0])[-1]
                if not database:
                    raise ValueError("no database")
                if query_type == QUERY_TYPE_FLIGHT_SQL_MESSAGE:
                    return database, "", fields.get(4, [b""])[-1]
                if query_type in (0, QUERY_TYPE_SQL):
                    return database, pb_text(fields, 2), None
                raise ValueError(f"query type {query_type}")
            except (ValueError, UnicodeDecodeError):
                pass
            try:
                request = json.loads(data)
                names = ("database", "namespace_name", "bucket", "bucket-name")
                database = next(request[k] for k in names if k in request)
                if request.get("query_type", "sql") != "sql":
                    raise ValueError("only SQL")
                return str(database), str(request["sql_query"]), None
            except (ValueError, KeyError, StopIteration, TypeError, AttributeError):
                raise pa.ArrowInvalid("Invalid ticket. Error: Invalid ticket") from None

        def do_action(self, context, action):
            database_of(context)
            command, _fields = command_of(action.body.to_pybytes())
            authorize(context)
            switches.count(**{f"flight_{command}": 1})
            raise NotImplementedError(
                f"{command} is not implemented by the InfluxDB double (prepared statements)"
            )

    return FlightSqlService("grpc+tcp://127.0.0.1:0", middleware={"headers": HeadersFactory()})


class FlightGate:
    """Serves Flight SQL (gRPC, HTTP/2) on the HTTP port, as Core does.

    Core serves gRPC and HTTP on one port, telling them apart per request
    (influxdb3_server/src/unified_service/service.rs, ``is_grpc_request``).
    Python's HTTP server speaks HTTP/1.1 only and pyarrow's Flight server
    binds a port of its own, so the double tells them apart per connection:
    one that opens with the HTTP/2 preface (gRPC over plain TCP sends it
    first: Grafana's ``insecureGrpc``, ADBC's ``grpc+tcp://``) is relayed
    byte for byte to the Flight server on a private port, started the first
    time it is needed; any other goes to the HTTP handler.
    """

    def __init__(self, http: "Server") -> None:
        self.http = http
        self.lock = threading.Lock()
        self.server = None
        self.failed: str | None = None

    def port(self) -> int | None:
        with self.lock:
            if self.server is None and self.failed is None:
                try:
                    self.server = make_flight_server(self.http)
                except Exception as error:  # reported once, then every gRPC connection is closed
                    self.failed = repr(error)
                    sys.stderr.write(f"influxdb3-double: cannot start Flight SQL: {error!r}\n")
            return self.server.port if self.server is not None else None

    def shutdown(self) -> None:
        with self.lock:
            if self.server is not None:
                self.server.shutdown()

    @staticmethod
    def is_grpc(connection: socket.socket) -> bool:
        """Peeks at the first bytes for the HTTP/2 connection preface."""
        seen = b""
        deadline = time.monotonic() + 5
        while len(seen) < len(HTTP2_PREFACE) and HTTP2_PREFACE.startswith(seen):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            readable, _w, _x = select.select([connection], [], [], left)
            if not readable:
                return False
            try:
                more = connection.recv(len(HTTP2_PREFACE), socket.MSG_PEEK)
            except OSError:
                return False
            if len(more) == len(seen):
                if not more:
                    return False  # closed
                time.sleep(0.001)  # the rest of the preface is on its way
            seen = more
        return seen == HTTP2_PREFACE

    def relay(self, connection: socket.socket) -> None:
        port = self.port()
        if port is None:
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", port))
        except OSError:
            return
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    sink.sendall(data)
            except OSError:
                pass
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        back = threading.Thread(target=pump, args=(upstream, connection), daemon=True)
        back.start()
        pump(connection, upstream)
        back.join()
        upstream.close()


OPEN_PATH_NAMES = {"/health": "health", "/api/v1/health": "health", "/ping": "ping", "/metrics": "metrics"}


def is_write_path(path: str) -> bool:
    return path in ("/api/v3/write_lp", "/api/v2/write")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def finish_request(self, request, client_address) -> None:
        gate: FlightGate | None = getattr(self, "flight", None)
        if gate is not None and FlightGate.is_grpc(request):
            gate.relay(request)
            return
        super().finish_request(request, client_address)


def make_server(args: argparse.Namespace) -> Server:
    server = Server(("127.0.0.1", args.port), Handler)
    store = Store(args.max_databases, parse_duration(args.wal_flush_interval))
    server.store = store  # type: ignore[attr-defined]
    server.switches = Switches()  # type: ignore[attr-defined]
    server.engine = QueryEngine(store)  # type: ignore[attr-defined]
    tokens = Tokens()
    if args.token:
        tokens.add(args.token)
    if args.admin_token_file:
        tokens.add(*load_admin_token_file(args.admin_token_file))
    server.tokens = tokens  # type: ignore[attr-defined]
    server.open_paths = {p.strip() for p in (args.disable_authz or "").split(",") if p.strip()}  # type: ignore[attr-defined]
    server.max_request_bytes = args.max_http_request_size  # type: ignore[attr-defined]
    server.verbose = args.verbose  # type: ignore[attr-defined]
    server.flight = FlightGate(server)  # type: ignore[attr-defined]
    return server


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``1s``, ``100ms`` or ``0s`` (as humantime writes them)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)\s*", text or "")
    if not match:
        raise SystemExit(f"influxdb3-double: invalid duration {text!r} (use 1s, 100ms, ...)")
    value = float(match.group(1))
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(2)]


def warm_up() -> None:
    """Imports the query engine ahead of the first query."""
    try:
        import datafusion  # noqa: F401
        import pyarrow  # noqa: F401
    except Exception as error:  # reported again, with context, by the first query
        sys.stderr.write(f"influxdb3-double: cannot import the query engine: {error}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A local double of InfluxDB 3 Core: its HTTP API and Flight SQL on one port."
    )
    parser.add_argument("--port", type=int, default=8181, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument(
        "--token",
        default=os.environ.get("INFLUXDB3_DOUBLE_TOKEN") or None,
        help="require this token (Bearer, Token or Basic); default: no authentication",
    )
    parser.add_argument(
        "--admin-token-file",
        default=None,
        help='JSON {"token": "apiv3_...", "name": "..."}, as influxdb3 serve --admin-token-file',
    )
    parser.add_argument(
        "--wal-flush-interval",
        default="1s",
        help="how often the WAL buffer is flushed (Core's default 1s; 0s: at once, not a Core value)",
    )
    parser.add_argument(
        "--disable-authz",
        default="",
        help="comma list of health,ping,metrics to serve without a token (as influxdb3 serve)",
    )
    parser.add_argument("--max-databases", type=int, default=DEFAULT_MAX_DATABASES)
    parser.add_argument("--max-http-request-size", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    parser.add_argument("--verbose", action="store_true", help="log one line per request to stderr")
    args = parser.parse_args(argv)

    # The store holds millions of objects and none of them form cycles; a
    # collector that scans them every few thousand allocations halves the
    # write throughput.
    gc.set_threshold(100_000, 50, 100)
    server = make_server(args)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    store: Store = server.store  # type: ignore[attr-defined]
    wal = threading.Thread(target=store.wal.run, args=(stop,), daemon=True)
    wal.start()
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    serving.start()
    host, port = server.server_address[:2]
    sys.stdout.write(f"listening {host}:{port}\n")
    sys.stdout.flush()
    threading.Thread(target=warm_up, daemon=True).start()
    stop.wait()
    wal.join(timeout=5)
    server.shutdown()
    server.flight.shutdown()  # type: ignore[attr-defined]
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
