"""The naive baseline: what a user might write in an afternoon. `json.loads` per line, dicts of
lines by connection_id / trace / user_id, a Python loop over the failures and their windows.

    python -m bench.naive RESULTS LOGS OUT.json

It knows the scenario's failure modes by heart (a keyword per client message), so it does less
than `fivewhys analyze` (no rules, no report); OUT.json maps each failed test to the insertId
it blames, or null.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

BEFORE = timedelta(seconds=32)
AFTER = timedelta(seconds=12)
#: what the client saw -> what to look for on the server
SIGNS = (
    ("1011", "SSOT validation failed"),
    ("main cleanup", "Message handler error"),
    ("HTTP 403", "auth rejected"),
    ("500 Internal Server Error", "GET /api/discovery/services 500"),
)
_ID = re.compile(r"\b(connection_id|user_id|trace)='([^']+)'")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00")


def failures(path: str) -> list[dict[str, Any]]:
    found = []
    starts: dict[str, float] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record.get("$report_type") != "TestReport":
                continue
            if record["when"] == "setup":
                starts[record["nodeid"]] = record["start"]
            if record["outcome"] == "failed":
                text = json.dumps(record["longrepr"])
                found.append(
                    {
                        "test": record["nodeid"],
                        "message": record["longrepr"]["reprcrash"]["message"],
                        "start": datetime.fromtimestamp(starts[record["nodeid"]]).astimezone(),
                        "stop": datetime.fromtimestamp(record["stop"]).astimezone(),
                        "ids": dict(_ID.findall(text)),
                    }
                )
    return found


def main() -> None:
    results, logs, out = sys.argv[1:4]
    index: dict[str, dict[str, list[tuple[datetime, str, str]]]] = {
        "connection_id": defaultdict(list),
        "trace": defaultdict(list),
        "user_id": defaultdict(list),
    }
    with open(logs, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            payload = entry.get("jsonPayload") or {}
            http = entry.get("httpRequest") or {}
            message = entry.get("textPayload") or payload.get("message") or ""
            if http and not message:
                url = http.get("requestUrl", "")
                message = f"{http.get('requestMethod')} {url.split('.app', 1)[-1]} {http['status']}"
            row = (parse_time(entry["timestamp"]), entry["insertId"], message)
            for key, value in (
                ("connection_id", payload.get("connection_id")),
                ("user_id", payload.get("user_id")),
                ("trace", (entry.get("trace") or "").rsplit("/", 1)[-1] or None),
            ):
                if value:
                    index[key][value].append(row)
    blamed: dict[str, str | None] = {}
    for failure in failures(results):
        sign = next((server for client, server in SIGNS if client in failure["message"]), None)
        blamed[failure["test"]] = None
        if sign is None:
            continue
        start, stop = failure["start"] - BEFORE, failure["stop"] + AFTER
        for key, value in failure["ids"].items():
            hits = [
                insert_id
                for at, insert_id, message in index[key].get(value, [])
                if start <= at <= stop and sign in message
            ]
            if hits:
                blamed[failure["test"]] = hits[0]
                break
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(blamed, handle, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
