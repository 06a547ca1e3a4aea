"""Every real input shape of a log file read, or refused with exactly why: byte-order marks,
a single LogEntry, collectors' wrappers, streams of pretty-printed objects, files of other
records, trailing garbage, and one bad file among good ones.

The entries are real Cloud Run entries (data/logs/startup-chain.ndjson, see
data/logs/real/PROVENANCE.md), re-saved the ways users save them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fivewhys.errors import InputError
from fivewhys.logs.files import LogRead, read_log_files
from fivewhys.results import read_results

DATA = Path(__file__).parent / "data" / "logs"
CHAIN = DATA / "startup-chain.ndjson"
ENTRIES: list[dict[str, Any]] = [json.loads(line) for line in CHAIN.read_text().splitlines()]
NO_LOGENTRY = (
    "no entry is a Cloud Logging LogEntry (expected timestamp plus "
    "textPayload/jsonPayload/protoPayload/httpRequest)"
)

#: a Cloud Run Admin Activity entry as Cloud Audit Logs write it for a deploy (the AuditLog
#: protoPayload of cloud.google.com/logging/docs/audit/understanding-audit-logs; methodName and
#: logName as DESIGN.md's deploy facts give them), pretty-printed as `gcloud logging read
#: --format=json` samples and audit fixtures are
AUDIT_ENTRY: dict[str, Any] = {
    "protoPayload": {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "status": {},
        "authenticationInfo": {"principalEmail": "deployer@acme-staging.iam.gserviceaccount.com"},
        "serviceName": "run.googleapis.com",
        "methodName": "google.cloud.run.v1.Services.ReplaceService",
        "resourceName": "namespaces/acme-staging/services/chat-backend",
    },
    "insertId": "-7wz0sde2tqk",
    "resource": {
        "type": "cloud_run_revision",
        "labels": {
            "service_name": "chat-backend",
            "project_id": "acme-staging",
            "location": "us-central1",
            "revision_name": "",
            "configuration_name": "",
        },
    },
    "timestamp": "2025-09-16T01:39:58.123456Z",
    "severity": "NOTICE",
    "logName": "projects/acme-staging/logs/cloudaudit.googleapis.com%2Factivity",
    "receiveTimestamp": "2025-09-16T01:39:59.017564Z",
}


def rows(read: LogRead) -> list[tuple[Any, ...]]:
    """The frame's content without `source` (which names the file each row came from)."""
    return read.frame.drop("source").rows()


@pytest.fixture(scope="module")
def plain() -> LogRead:
    return read_log_files([str(CHAIN)])


def gcloud_json(entries: list[dict[str, Any]]) -> str:
    """What `gcloud logging read --format=json` prints: a 2-space-indented array."""
    return json.dumps(entries, indent=2) + "\n"


# --- byte-order marks --------------------------------------------------------------------------


def test_a_powershell_redirect_utf16_file_is_read_and_says_so(
    tmp_path: Path, plain: LogRead
) -> None:
    # Windows PowerShell 5.1's `>` is Out-File with its default encoding, "Unicode": UTF-16LE
    # with a byte-order mark, lines ended by CRLF (learn.microsoft.com, about_Redirection and
    # about_Character_Encoding)
    path = tmp_path / "logs.json"
    text = gcloud_json(ENTRIES).replace("\n", "\r\n")
    path.write_bytes("\ufeff".encode("utf-16-le") + text.encode("utf-16-le"))
    assert path.read_bytes()[:4] == b"\xff\xfe[\x00"
    read = read_log_files([str(path)])
    assert rows(read) == rows(plain)
    [file] = read.files
    assert (file.encoding, file.shape, file.read, file.skipped) == (
        "UTF-16LE",
        "JSON array",
        len(ENTRIES),
        0,
    )


@pytest.mark.parametrize(
    ("codec", "mark", "name"),
    [
        ("utf-16-be", "\ufeff", "UTF-16BE"),
        ("utf-32-le", "\ufeff", "UTF-32LE"),
        ("utf-32-be", "\ufeff", "UTF-32BE"),
        ("utf-8", "\ufeff", "UTF-8 with a byte-order mark"),
    ],
)
def test_every_byte_order_mark_is_read(
    tmp_path: Path, plain: LogRead, codec: str, mark: str, name: str
) -> None:
    path = tmp_path / "logs.ndjson"
    path.write_bytes((mark + CHAIN.read_text()).encode(codec))
    read = read_log_files([str(path)])
    assert rows(read) == rows(plain)
    assert (read.files[0].encoding, read.files[0].shape) == (name, "NDJSON (one LogEntry per line)")
    assert read.frame.get_column("source").to_list()[0] == f"{path}:1"


def test_a_broken_utf16_file_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "logs.json"
    path.write_bytes(b"\xff\xfe[\x00\x00\xd8")  # a lone high surrogate
    with pytest.raises(InputError) as caught:
        read_log_files([str(path)])
    assert str(caught.value) == f"{path}: not UTF-16-LE text at byte 4"


# --- objects -----------------------------------------------------------------------------------


def test_a_single_pretty_printed_logentry_is_read(tmp_path: Path) -> None:
    path = tmp_path / "audit.json"
    path.write_text("\n" + json.dumps(AUDIT_ENTRY, indent=2) + "\n")
    read = read_log_files([str(path)])
    assert read.files[0].shape == "a single LogEntry object"
    [row] = read.frame.iter_rows(named=True)
    assert (row["insert_id"], row["kind"], row["severity"], row["source"]) == (
        "-7wz0sde2tqk",
        "audit",
        "NOTICE",
        f"{path}:2",
    )
    assert row["message"] == (
        "google.cloud.run.v1.Services.ReplaceService namespaces/acme-staging/services/chat-backend"
    )


@pytest.mark.parametrize(
    ("wrapper", "where"),
    [
        # the Logging API's own entries.list answer (cloud.google.com/logging/docs/reference/v2/
        # rest/v2/entries/list: {"entries": [LogEntry], "nextPageToken": string})
        (
            {"entries": ENTRIES[:3], "nextPageToken": "EAE4..."},
            {"entries": 3},
        ),
        # an incident collector's bundle: the alert, the raw logs, the cluster's events
        (
            {"raw_alert": {"summary": "5xx"}, "raw_logs": ENTRIES[:4], "raw_k8s": []},
            {"raw_logs": 4},
        ),
        # a triage export grouped by severity
        (
            {"logs_by_severity": {"ERROR": ENTRIES[:2], "INFO": ENTRIES[2:5]}, "total": 5},
            {"logs_by_severity.ERROR": 2, "logs_by_severity.INFO": 3},
        ),
    ],
    ids=["entries-list", "raw_logs", "logs_by_severity"],
)
def test_collector_wrappers_are_read_and_say_where(
    tmp_path: Path, wrapper: dict[str, Any], where: dict[str, int]
) -> None:
    path = tmp_path / "collected.json"
    path.write_text(json.dumps(wrapper, indent=2))
    read = read_log_files([str(path)])
    places = ", ".join(f"{key} ({count})" for key, count in where.items())
    assert read.files[0].shape == f"JSON object, LogEntry objects found at {places}"
    assert read.frame.height == sum(where.values())
    first_place = next(iter(where))
    assert f"{path}#{first_place}[1]" in read.frame.get_column("source").to_list()


def test_pretty_printed_objects_one_after_another_are_read(tmp_path: Path) -> None:
    # what `jq . logs.ndjson > out.json` writes: each object indented, no array around them
    path = tmp_path / "jq.json"
    path.write_text("".join(json.dumps(entry, indent=2) + "\n" for entry in ENTRIES[:3]))
    read = read_log_files([str(path)])
    assert read.files[0].shape == "pretty-printed JSON objects one after another"
    assert read.frame.height == 3


# --- refused, with exactly why -----------------------------------------------------------------


def test_an_array_of_other_records_is_refused_with_what_it_looks_like(tmp_path: Path) -> None:
    # `gcloud run services list --format=json`: Knative Service resources, not log entries
    path = tmp_path / "services.json"
    service = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "chat-backend", "namespace": "123456789"},
        "spec": {"template": {"spec": {"containers": [{"image": "gcr.io/p/chat"}]}}},
    }
    path.write_text(json.dumps([service], indent=2))
    with pytest.raises(InputError) as caught:
        read_log_files([str(path)])
    assert str(caught.value) == (
        f"{path}: {NO_LOGENTRY}: looks like Kubernetes-style resources (kind Service)"
    )


def test_records_that_are_not_logentries_name_their_keys(tmp_path: Path) -> None:
    # 120 application records of another stack: a time, a level, a text; no LogEntry field
    path = tmp_path / "app.ndjson"
    path.write_text(
        "".join(
            json.dumps({"time": f"2025-09-16T01:40:{n % 60:02d}Z", "level": "info", "msg": "ok"})
            + "\n"
            for n in range(120)
        )
    )
    with pytest.raises(InputError) as caught:
        read_log_files([str(path)])
    assert (
        str(caught.value) == f"{path}: {NO_LOGENTRY}: looks like objects with keys time, level, msg"
    )


def test_a_file_none_of_whose_entries_reads_is_an_error_with_the_first_reasons(
    tmp_path: Path,
) -> None:
    path = tmp_path / "typed.json"
    base = {"textPayload": "started", "resource": "nope"}
    path.write_text(
        json.dumps(
            [
                {**base, "timestamp": 12345},
                {**base, "timestamp": "yesterday"},
                {**base, "timestamp": None},
            ]
        )
    )
    with pytest.raises(InputError) as caught:
        read_log_files([str(path)])
    assert str(caught.value) == (
        f"{path}: none of its 3 entries could be read (entry 1: invalid timestamp 12345; "
        "entry 2: invalid timestamp 'yesterday'; entry 3: missing timestamp)"
    )


@pytest.mark.parametrize(
    ("text", "kind", "shown"),
    [
        (gcloud_json(ENTRIES[:2]) + "Listed 2 items.\n", "array", "Listed 2 items."),
        (json.dumps(AUDIT_ENTRY, indent=2) + "\n}\n", "object", "}"),
    ],
    ids=["array", "object"],
)
def test_trailing_garbage_names_line_and_column(
    tmp_path: Path, text: str, kind: str, shown: str
) -> None:
    path = tmp_path / "logs.json"
    path.write_text(text)
    line = text.count("\n", 0, text.rindex(shown)) + 1
    with pytest.raises(InputError) as caught:
        read_log_files([str(path)])
    assert (caught.value.line, caught.value.column) == (line, 1)
    assert str(caught.value) == (
        f"{path}:{line}:1: trailing data after the JSON {kind} ends: {shown!r}"
    )


# --- one bad file among good ones --------------------------------------------------------------


def test_one_unreadable_file_is_skipped_and_named_the_others_are_read(
    tmp_path: Path, plain: LogRead
) -> None:
    wrapper = tmp_path / "collector.json"
    wrapper.write_text(json.dumps({"service": "chat", "count": 2, "status": "ok"}))
    read = read_log_files([str(wrapper), str(CHAIN)])
    assert rows(read) == rows(plain)
    bad, good = read.files
    assert (bad.path, bad.unread, bad.read) == (
        str(wrapper),
        f"{NO_LOGENTRY}: looks like an object with keys service, count, status",
        0,
    )
    assert (good.unread, good.read) == (None, len(ENTRIES))
    assert read.warnings[0] == (
        f"{wrapper}: {NO_LOGENTRY}: looks like an object with keys service, count, status; "
        "the analysis went on with the other log files"
    )


def test_strict_stops_at_the_unreadable_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("[1, 2]\nnot json")
    with pytest.raises(InputError) as caught:
        read_log_files([str(CHAIN), str(garbage)], strict=True)
    assert (
        str(caught.value) == f"{garbage}:2:1: trailing data after the JSON array ends: 'not json'"
    )


def test_when_no_file_reads_the_first_error_stops_the_run(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"id": 1}]))
    with pytest.raises(InputError) as caught:
        read_log_files([str(empty), str(other)])
    assert str(caught.value) == f"{other}: {NO_LOGENTRY}: looks like an object with keys id"


def test_per_file_counts(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([ENTRIES[0], {**ENTRIES[1], "timestamp": 7}, "text"]))
    read = read_log_files([str(mixed), str(CHAIN)])
    assert [(f.shape, f.read, f.skipped) for f in read.files] == [
        ("JSON array", 1, 2),
        ("NDJSON (one LogEntry per line)", len(ENTRIES), 0),
    ]
    # the first file's entry is also the second's first line: the frame keeps one row of it
    assert read.frame.height == len(ENTRIES)
    assert read.skipped == {"invalid timestamp": 1, "not a JSON object": 1, "duplicate insertId": 1}


# --- results files saved by a redirect -------------------------------------------------------


@pytest.mark.parametrize("name", ["reportlog.jsonl", "json_report.json"])
def test_results_saved_as_utf16_read_the_same(tmp_path: Path, name: str) -> None:
    # `Get-Content report-log.jsonl > copy.jsonl` in Windows PowerShell 5.1: UTF-16LE, BOM, CRLF
    original = Path(__file__).parent / "data" / "results" / "generated" / name
    copy = tmp_path / name
    text = "\ufeff" + original.read_text().replace("\n", "\r\n")
    copy.write_bytes(text.encode("utf-16-le"))
    ours, theirs = read_results([copy]), read_results([original])
    assert [(f.test_id, f.phase, f.message, f.started_at) for f in ours.failures] == [
        (f.test_id, f.phase, f.message, f.started_at) for f in theirs.failures
    ]
