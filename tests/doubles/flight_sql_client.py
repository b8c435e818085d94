#!/usr/bin/env python3
"""Runs SQL over Arrow Flight SQL with ADBC's Go driver, for tests.

A Flight SQL client of another make than the InfluxDB double: Apache Arrow
ADBC's Flight SQL driver is written in Go on arrow-go's ``flightsql`` client,
the client Grafana's InfluxDB data source uses in SQL mode
(grafana/grafana pkg/tsdb/influxdb/fsql). It is driven here the way Grafana
drives it (pkg/tsdb/influxdb/fsql/fsql.go): the ``database`` gRPC header,
``authorization: Bearer <token>``, plain TCP (``insecureGrpc``), and each
query sent as a ``CommandStatementQuery`` in ``GetFlightInfo``, then
``DoGet`` of the one endpoint's ticket. ADBC's DB-API cursor would first try
a prepared statement, which Grafana never does, so the statement API is used
as is.

Usage::

    flight_sql_client.py grpc+tcp://127.0.0.1:8181 --database db [--token T] < queries.json

reads a JSON array of SQL strings on stdin and prints one JSON object per
query on stdout: ``{"ok": true, "schema": [{"name", "type"}], "rows": [...]}``
(timestamps as integer nanoseconds in a string, dictionaries decoded, nulls
as null) or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings


def column_values(pa, column) -> list:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode() if hasattr(column, "dictionary_decode") else column.cast(
            kind.value_type
        )
        kind = column.type
    if pa.types.is_timestamp(kind):
        return [None if v is None else str(v) for v in column.cast(pa.int64()).to_pylist()]
    return column.to_pylist()


def run(statement_class, connection, pa, sql: str) -> dict:
    statement = statement_class(connection)
    try:
        statement.set_sql_query(sql)
        stream, _rows = statement.execute_query()
        table = pa.RecordBatchReader._import_from_c(stream.address).read_all()
    finally:
        statement.close()
    columns = [column_values(pa, table.column(i).combine_chunks()) for i in range(table.num_columns)]
    return {
        "ok": True,
        "schema": [{"name": f.name, "type": str(f.type)} for f in table.schema],
        "rows": [dict(zip(table.column_names, values)) for values in zip(*columns)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uri", help="grpc+tcp://host:port")
    parser.add_argument("--database", help="sent as the `database` gRPC header")
    parser.add_argument("--token", help="sent as `authorization: Bearer <token>`")
    args = parser.parse_args()
    queries = json.load(sys.stdin)

    warnings.simplefilter("ignore")
    import adbc_driver_flightsql
    import adbc_driver_manager
    import pyarrow as pa

    options = adbc_driver_flightsql.DatabaseOptions
    db_kwargs = {}
    if args.database is not None:
        db_kwargs[options.RPC_CALL_HEADER_PREFIX.value + "database"] = args.database
    if args.token is not None:
        db_kwargs[options.AUTHORIZATION_HEADER.value] = f"Bearer {args.token}"
    database = adbc_driver_flightsql.connect(args.uri, db_kwargs=db_kwargs)
    connection = adbc_driver_manager.AdbcConnection(database)
    try:
        for sql in queries:
            try:
                result = run(adbc_driver_manager.AdbcStatement, connection, pa, sql)
            except (adbc_driver_manager.Error, pa.ArrowException) as error:
                # A status before the stream is an ADBC error; one that ends
                # the stream comes out of the Arrow C stream reader.
                result = {"ok": False, "error": str(error)}
            sys.stdout.write(json.dumps(result, default=str) + "\n")
            sys.stdout.flush()
    finally:
        connection.close()
        database.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
