"""A real Flight SQL client (ADBC's Flight SQL driver, through its DB-API) against a running
Faultline: waits until the demo's incident has resolved and the tables are still, then asks the
runbooks' questions and prints every answer as one JSON object on stdout.

    python flight_check.py grpc://127.0.0.1:7071 [TOKEN]

The Rust test that runs it (crates/faultline/tests/it/sql.rs) compares the answers with the
same queries over HTTP.
"""

import json
import sys
import time

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager


def connect(uri, token):
    kwargs = {}
    if token:
        kwargs[adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value] = f"Bearer {token}"
    return flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True)


def rows(cur, sql, parameters=None):
    cur.execute(sql, parameters)
    table = cur.fetch_arrow_table()
    return table.to_pylist()


def main():
    uri = sys.argv[1]
    token = sys.argv[2] if len(sys.argv) > 2 else None
    out = {}

    # Without the token (when the server has one) the server says why.
    if token:
        try:
            with connect(uri, None) as anonymous, anonymous.cursor() as cur:
                rows(cur, "SELECT 1 AS one")
            out["anonymous"] = "answered"
        except adbc_driver_manager.Error as e:
            out["anonymous"] = str(e)

    with connect(uri, token) as conn, conn.cursor() as cur:
        # The tables are still once the incident resolved and no window closes any more.
        deadline, last = time.time() + 120, None
        while time.time() < deadline:
            now = rows(
                cur,
                "SELECT (SELECT count(*) FROM incidents WHERE status = 'resolved') AS resolved, "
                "(SELECT count(*) FROM signals) AS signals, (SELECT count(*) FROM incident_events) AS events",
            )[0]
            if now["resolved"] >= 1 and now == last:
                break
            last = now
            time.sleep(1.0)
        out["still"] = last

        out["incidents"] = rows(
            cur, "SELECT id, service, severity, status, title FROM incidents ORDER BY detected_at, id"
        )
        until = rows(cur, "SELECT CAST(max(window_end) AS BIGINT) AS t FROM signals")[0]["t"]
        out["until_ms"] = until
        out["p95_sql"] = (
            "SELECT service, hdr_quantile(hdr_merge(latency_hist), 0.95) AS p95 FROM signals "
            f"WHERE signal = 'latency_p95' AND CAST(window_end AS BIGINT) > {until - 3_600_000} "
            f"AND CAST(window_end AS BIGINT) <= {until} GROUP BY service ORDER BY service"
        )
        out["p95"] = rows(cur, out["p95_sql"])
        out["monthly_report"] = [
            {k: (str(v) if k == "month" else v) for k, v in r.items()}
            for r in rows(cur, "SELECT * FROM monthly_report ORDER BY month, severity")
        ]

        # A prepared statement with a parameter: ADBC prepares, binds and runs it.
        service = out["incidents"][0]["service"]
        out["bound"] = {
            "service": service,
            "rows": rows(cur, "SELECT count(*) AS n FROM signals WHERE service = $1", (service,)),
        }

        # A syntax error comes back as an error, and the service goes on.
        try:
            rows(cur, "SELECT count(* FROM signals")
            out["syntax_error"] = None
        except adbc_driver_manager.Error as e:
            out["syntax_error"] = {"type": type(e).__name__, "message": str(e)}
        out["after_error"] = rows(cur, "SELECT 1 AS one")

        # The catalog as a tool sees it.
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        out["catalog"] = sorted(
            f"{c['catalog_name']}.{s['db_schema_name']}.{t['table_name']}:{t['table_type']}"
            for c in objects
            for s in (c["catalog_db_schemas"] or [])
            for t in (s["db_schema_tables"] or [])
        )
        schema = conn.adbc_get_table_schema("signals", catalog_filter="faultline", db_schema_filter="public")
        out["signals_columns"] = schema.names

    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
