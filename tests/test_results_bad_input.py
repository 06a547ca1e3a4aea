"""Bad results inputs: a clear InputError naming file and place, or a warning and the rest kept."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fivewhys.errors import InputError
from fivewhys.results import read_results

DATA = Path(__file__).parent / "data" / "results"
REAL_JUNIT = DATA / "real" / "junit_20250907T153851Z_http500.xml"
REAL_JSON = DATA / "real" / "pytest_json_report_20250907T153851Z_http500.json"
REPORTLOG = DATA / "generated" / "reportlog.jsonl"
NOT_RESULTS = "not a JUnit XML, pytest-reportlog or pytest-json-report file"

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<testsuites><testsuite name="pytest" timestamp="2025-09-07T08:22:09-07:00">
<testcase classname="t" name="a" time="1"><failure message="&lol3;"/></testcase>
</testsuite></testsuites>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE testsuites [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<testsuites><testsuite name="pytest" timestamp="2025-09-07T08:22:09-07:00">
<testcase classname="t" name="a" time="1"><failure message="&xxe;"/></testcase>
</testsuite></testsuites>
"""


def read_error(path: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        read_results([path])
    return caught.value


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_truncated_junit_is_malformed_at_its_last_line(tmp_path: Path) -> None:
    """A run killed while writing: the real file cut after its first testcase."""
    data = REAL_JUNIT.read_bytes()
    cut = write(tmp_path, "junit.xml", data[: data.index(b"</testcase>") + len(b"</testcase>")])
    error = read_error(cut)
    assert (error.message, error.path, error.line) == (
        "malformed XML: no element found",
        str(cut),
        17,
    )
    assert str(error) == f"{cut}:17: malformed XML: no element found"


def test_invalid_token_names_its_line(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "junit.xml",
        b'<?xml version="1.0"?>\n<testsuites>\n<testsuite name="pytest">\n'
        b'<testcase classname="t" name="a & b" time="1"/>\n</testsuite></testsuites>\n',
    )
    error = read_error(bad)
    assert (error.message, error.line) == ("malformed XML: not well-formed (invalid token)", 4)


@pytest.mark.parametrize("data", [BOMB, XXE], ids=["entity-expansion", "external-entity"])
def test_xml_with_entities_is_refused(tmp_path: Path, data: bytes) -> None:
    error = read_error(write(tmp_path, "junit.xml", data))
    assert error.message == (
        "XML refused for safety: it declares entities "
        "(entity expansion and external entities are not read)"
    )
    assert error.path == str(tmp_path / "junit.xml")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        # two real Cloud Logging entries: the logs passed where results were expected
        ("entries.ndjson", (DATA / "bad" / "cloudrun_entries_head.ndjson").read_bytes()),
        (
            "entry.json",
            (DATA / "bad" / "cloudrun_entries_head.ndjson").read_bytes().split(b"\n")[0],
        ),
        ("array.json", b'[{"nodeid": "t::a"}]'),
        (
            "pom.xml",
            b'<?xml version="1.0"?>\n<project><modelVersion>4.0.0</modelVersion></project>',
        ),
        ("notes.txt", b"all green\n"),
        ("results.bin", b"\x1f\x8b\x08\x00binary"),
    ],
)
def test_other_files_are_not_results(tmp_path: Path, name: str, data: bytes) -> None:
    error = read_error(write(tmp_path, name, data))
    assert (error.message, error.path) == (NOT_RESULTS, str(tmp_path / name))


@pytest.mark.parametrize("data", [b"", b"\n  \n"], ids=["empty", "blank"])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    assert read_error(write(tmp_path, "junit.xml", data)).message == f"empty file: {NOT_RESULTS}"


def test_json_not_utf8(tmp_path: Path) -> None:
    error = read_error(write(tmp_path, "r.json", b'{"nodeid": "caf\xe9"}'))
    assert error.message == f"not UTF-8 text (byte 15): {NOT_RESULTS}"


def test_json_report_summary_only(tmp_path: Path) -> None:
    document = json.loads(REAL_JSON.read_text(encoding="utf-8"))
    del document["tests"]
    error = read_error(write(tmp_path, "r.json", json.dumps(document).encode()))
    assert "--json-report-summary" in error.message


def test_directory(tmp_path: Path) -> None:
    assert str(read_error(tmp_path)) == f"{tmp_path}: is a directory, not a results file"


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "junit.xml"
    assert str(read_error(missing)) == f"{missing}: no such file"


def test_path_through_a_file(tmp_path: Path) -> None:
    inside = write(tmp_path, "junit.xml", b"<testsuites/>") / "x.xml"
    assert str(read_error(inside)) == f"{inside}: cannot read: Not a directory"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 000 does not stop root (CI containers), so the refusal is simulated."""
    path = write(tmp_path, "junit.xml", b"<testsuites/>")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert str(read_error(path)) == f"{path}: cannot read: permission denied"


def test_error_in_second_file_names_that_file(tmp_path: Path) -> None:
    missing = tmp_path / "b.xml"
    with pytest.raises(InputError) as caught:
        read_results([REAL_JUNIT, missing])
    assert caught.value.path == str(missing)


def reportlog_with(tmp_path: Path, name: str, replace: str) -> tuple[Path, int]:
    """The real report log with the call report of the 403 test replaced; and its line."""
    lines = REPORTLOG.read_text(encoding="utf-8").splitlines()
    index = next(
        n
        for n, line in enumerate(lines)
        if "test_handshake_rejected_403" in line and '"when": "call"' in line
    )
    lines[index] = replace if replace else lines[index][: len(lines[index]) // 2]
    return write(tmp_path, name, "\n".join(lines).encode()), index + 1


def test_reportlog_broken_line_is_skipped_and_named(tmp_path: Path) -> None:
    path, lineno = reportlog_with(tmp_path, "r.jsonl", "")
    results = read_results([path])
    assert len(results.failures) == 6
    assert not any(f.test_id.endswith("test_handshake_rejected_403") for f in results.failures)
    assert results.tests_total == 10  # its setup and teardown lines still count the test
    assert len(results.warnings) == 1
    assert results.warnings[0].startswith(f"{path}:{lineno}: skipped: not JSON (")


def test_reportlog_wrong_type_is_skipped_and_named(tmp_path: Path) -> None:
    original = REPORTLOG.read_text(encoding="utf-8").splitlines()
    line = next(x for x in original if "test_handshake_rejected_403" in x and '"call"' in x)
    record = json.loads(line)
    record["start"] = "2025-09-07T15:22:10Z"
    path, lineno = reportlog_with(tmp_path, "r.jsonl", json.dumps(record))
    results = read_results([path])
    assert len(results.failures) == 6
    assert results.warnings == [f"{path}:{lineno}: skipped: start: Input should be a valid number"]


def test_reportlog_record_that_is_not_an_object(tmp_path: Path) -> None:
    path, lineno = reportlog_with(tmp_path, "r.jsonl", "[1, 2]")
    assert read_results([path]).warnings == [f"{path}:{lineno}: skipped: not a report-log record"]


def test_json_report_test_with_wrong_type_is_skipped(tmp_path: Path) -> None:
    document = json.loads(REAL_JSON.read_text(encoding="utf-8"))
    document["tests"][9]["call"]["duration"] = "0.41"
    path = write(tmp_path, "r.json", json.dumps(document).encode())
    results = read_results([path])
    assert len(results.failures) == 9
    assert results.tests_total == 60
    assert f"{path}#tests[9]: skipped: call.duration: Input should be a valid number" in (
        results.warnings
    )


def test_json_report_with_bad_created_is_an_error(tmp_path: Path) -> None:
    document = json.loads(REAL_JSON.read_text(encoding="utf-8"))
    document["created"] = "2025-09-07"
    error = read_error(write(tmp_path, "r.json", json.dumps(document).encode()))
    assert error.message == "pytest-json-report: created: Input should be a valid number"


def junit_with(tmp_path: Path, old: bytes, new: bytes) -> Path:
    data = REAL_JUNIT.read_bytes()
    assert old in data
    return write(tmp_path, "junit.xml", data.replace(old, new))


def test_junit_without_timestamp_is_listed_unplaced_never_refused(tmp_path: Path) -> None:
    # the real file's times are all in attributes: without the suite timestamp it holds none
    path = junit_with(tmp_path, b' timestamp="2025-09-07T08:38:51.984353-07:00"', b"")
    results = read_results([path])
    assert results.failures and not any(f.placed for f in results.failures)
    assert results.warnings == [
        f"{path}: testsuite 'pytest' has no timestamp (pytest before 5.1 wrote none) and the file "
        "holds no time: its failures are listed unplaced, with no log joined; pass --started-at "
        "with the run's start"
    ]


def test_junit_with_bad_timestamp_is_an_error(tmp_path: Path) -> None:
    path = junit_with(tmp_path, b"2025-09-07T08:38:51.984353-07:00", b"yesterday")
    assert read_error(path).message == (
        "testsuite 'pytest' timestamp 'yesterday' is not an ISO 8601 time"
    )


def test_junit_testcase_time_not_a_number_is_a_warning(tmp_path: Path) -> None:
    path = junit_with(
        tmp_path,
        b'name="test_basic_functionality" time="0.856"',
        b'name="test_basic_functionality" time="fast"',
    )
    results = read_results([path])
    assert len(results.failures) == 10
    assert results.warnings == [f"{path}:1: time 'fast' is not a number; taken as 0"]


def test_durations_longer_than_the_run_mean_a_parallel_run(tmp_path: Path) -> None:
    """pytest-xdist: test durations add up to more than the wall time; no order to lay out."""
    path = junit_with(tmp_path, b'time="51.077"', b'time="10.000"')
    results = read_results([path])
    assert len(results.warnings) == 1
    assert "more than the run's 10.00 s (parallel run" in results.warnings[0]
    starts = {f.started_at for f in results.failures}
    ends = {f.finished_at for f in results.failures}
    assert len(starts) == 1 and len(ends) == 1
    assert (ends.pop() - starts.pop()).total_seconds() == 10.0


def _run_start(path: Path) -> datetime:
    """When the run in a generated file started, read from the file as its format writes it."""
    text = path.read_text()
    if path.suffix == ".xml":
        found = re.search(r'timestamp="([^"]+)"', text)
        assert found
        return datetime.fromisoformat(found.group(1)).astimezone(UTC)
    if path.suffix == ".json":
        document = json.loads(text)
        return datetime.fromtimestamp(document["created"] - document["duration"], UTC)
    records = [json.loads(line) for line in text.splitlines()]
    return datetime.fromtimestamp(
        min(r["start"] for r in records if r["$report_type"] == "TestReport"), UTC
    )


@pytest.mark.parametrize(
    ("name", "place"),
    [
        ("collection_error.xml", ":1"),
        ("collection_error.jsonl", ":3"),
        ("collection_error.json", "#collectors[1]"),
    ],
)
def test_a_collection_error_is_an_error_of_the_run_at_its_start(name: str, place: str) -> None:
    path = DATA / "generated" / name
    results = read_results([path])
    assert [(f.test_id, f.outcome, f.phase, f.source) for f in results.failures] == [
        ("broken/e2e_import_error.py", "error", "collect", f"{path}{place}")
    ]
    failure = results.failures[0]
    assert failure.message == "ModuleNotFoundError: No module named 'app'"
    assert "ImportError while importing test module" in failure.details
    assert failure.started_at == failure.finished_at == _run_start(path)
    assert failure.placed and results.tests_total == 1
    assert results.warnings == []


def _outline_records() -> list[dict[str, object]]:
    """The test reports of a report log pytest-reportlog wrote (tests/data/results/generated)."""
    text = (DATA / "generated" / "reportlog.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r for r in records if r.get("$report_type") == "TestReport"]


def _validated(record: dict[str, object]) -> tuple[object, ...] | str:
    """What pydantic makes of a record's outline: its fields, or the reason it refuses it."""
    from pydantic import ValidationError

    from fivewhys.results.reportlog import _Outline

    try:
        o = _Outline.model_validate(record)
    except ValidationError as exc:
        return str(exc.errors()[0]["loc"])
    return (o.nodeid, o.when, o.outcome, o.start, o.stop, o.rerun)


def _taken(record: dict[str, object]) -> tuple[object, ...] | str:
    from pydantic import ValidationError

    from fivewhys.results.reportlog import _seen

    try:
        return tuple(_seen(record))
    except ValidationError as exc:
        return str(exc.errors()[0]["loc"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (None, None),
        ("start", 1795304496),  # an int: pydantic's to judge
        ("start", float("nan")),
        ("stop", float("inf")),
        ("start", -1.0),
        ("stop", 40000000000.0),
        ("start", True),
        ("when", "collect"),
        ("when", ["call"]),
        ("nodeid", 7),
        ("outcome", None),
        ("rerun", 2),
        ("rerun", True),
        ("rerun", -1),
        ("rerun", 100_001),
        ("rerun", 3.0),
    ],
)
def test_a_report_outline_taken_as_read_is_what_validation_makes_of_it(
    field: str | None, value: object
) -> None:
    """`_seen` skips pydantic for an outline already of the model's types: on every report of
    a real report log, and each near miss of one, it gives what validation gives, or refuses."""
    for record in _outline_records():
        changed = dict(record) if field is None else {**record, field: value}
        assert _taken(changed) == _validated(changed)
