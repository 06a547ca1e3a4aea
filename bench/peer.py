"""The peer a user would reach for: DuckDB over the same NDJSON, doing the bare join only.

    python -m bench.peer LOGS.ndjson FAILURES.json

FAILURES.json (written by the runner from fivewhys' own results reader, before any timing) holds
per failure its window and ids. The query reads the fields a join needs with `read_ndjson`,
joins each failure's connection ids, user ids and traces to the lines carrying them inside its
window (id fields, or the id named in the text), and takes the lines with no id at all inside
each window as time-only candidates: the candidate set fivewhys starts its matching from,
without ranking, rules, whys or a report. Prints the candidate counts.
"""

from __future__ import annotations

import sys

import duckdb

#: the LogEntry fields the join reads, typed as DuckDB reads them
COLUMNS = {
    "insertId": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "trace": "VARCHAR",
    "textPayload": "VARCHAR",
    "jsonPayload": "STRUCT(message VARCHAR, connection_id VARCHAR, user_id VARCHAR)",
    "httpRequest": "STRUCT(status VARCHAR)",
}

QUERY = """
CREATE TEMP TABLE logs AS
SELECT insertId AS insert_id, "timestamp" AS ts,
       regexp_extract(trace, '([0-9a-f]{32})$', 1) AS trace,
       jsonPayload.connection_id AS conn, jsonPayload.user_id AS usr,
       coalesce(jsonPayload.message, textPayload, '') AS text
FROM read_ndjson($logs, columns = $columns);

CREATE TEMP TABLE failures AS
SELECT idx, "start"::TIMESTAMPTZ AS w_start, "end"::TIMESTAMPTZ AS w_end,
       connection_ids, user_ids, traces
FROM read_json($failures);

CREATE TEMP TABLE keys AS
SELECT idx, w_start, w_end, 'connection_id' AS kind, unnest(connection_ids) AS value FROM failures
UNION ALL SELECT idx, w_start, w_end, 'user_id', unnest(user_ids) FROM failures
UNION ALL SELECT idx, w_start, w_end, 'trace', unnest(traces) FROM failures;

CREATE TEMP TABLE text_ids AS
SELECT insert_id, ts,
       nullif(regexp_extract(text, 'connection_id=([A-Za-z0-9_.:@-]+)', 1), '') AS conn,
       nullif(regexp_extract(text, 'user_id=([A-Za-z0-9_.:@-]+)', 1), '') AS usr
FROM logs WHERE conn IS NULL AND usr IS NULL;

SELECT 'keyed' AS kind, count(*) AS n FROM (
    SELECT DISTINCT k.idx, l.insert_id FROM keys k JOIN logs l
      ON l.ts BETWEEN k.w_start AND k.w_end
     AND ((k.kind = 'connection_id' AND l.conn = k.value)
       OR (k.kind = 'user_id' AND l.usr = k.value)
       OR (k.kind = 'trace' AND l.trace = k.value))
    UNION
    SELECT DISTINCT k.idx, t.insert_id FROM keys k JOIN text_ids t
      ON t.ts BETWEEN k.w_start AND k.w_end
     AND ((k.kind = 'connection_id' AND t.conn = k.value)
       OR (k.kind = 'user_id' AND t.usr = k.value))
)
UNION ALL
SELECT 'time-only', count(*) FROM failures f JOIN logs l
  ON l.ts BETWEEN f.w_start AND f.w_end
 WHERE l.conn IS NULL AND l.usr IS NULL AND coalesce(l.trace, '') = ''
   AND l.insert_id IN (SELECT insert_id FROM text_ids WHERE conn IS NULL AND usr IS NULL);
"""


def main() -> None:
    logs, failures = sys.argv[1], sys.argv[2]
    connection = duckdb.connect()
    statements = [s for s in QUERY.split(";") if s.strip()]
    params = {"logs": logs, "failures": failures, "columns": COLUMNS}
    for statement in statements[:-1]:
        used = {k: v for k, v in params.items() if f"${k}" in statement}
        connection.execute(statement, used)
    for kind, count in connection.execute(statements[-1]).fetchall():
        print(f"{kind}: {count}")


if __name__ == "__main__":
    main()
