"""Property tests: every reader of outside files answers a result or one FivewhysError line.

Inputs are real fixtures mutated (bytes flipped, cut, spliced with hostile values: NaN, huge
numbers, deep nesting, lone surrogates, broken URLs) and JSON values built from scratch. The
budget is fixed and derandomized so CI sees the same examples every run; the alarm is a hang
guard (a generous ceiling per example), not a speed assertion.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivewhys.errors import FivewhysError
from fivewhys.history import classify
from fivewhys.logs.bundle import BUNDLE_KEY, read_bundle
from fivewhys.logs.files import read_log_files
from fivewhys.logs.frame import empty_logframe
from fivewhys.model import Report
from fivewhys.results import read_results

DATA = Path(__file__).parent / "data"
GENERATED = DATA / "results" / "generated"
#: per example, far above any honest run (milliseconds): only a hang reaches it
HANG_GUARD_S = 30

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

HOSTILE_TEXT = [
    "NaN",
    "Infinity",
    "-Infinity",
    "-1e300",
    "1e300",
    "1" + "0" * 5000,
    "253402300800.0",
    "[" * 5000 + "]" * 5000,
    '"\\ud800"',
    '"http://[::1/login"',
    '"\\u001b]8;;http://[::1/x\\u001b\\\\"',
    '"9999-12-31T23:59:59+00:00"',
    '"0001-01-01T00:00:00+05:00"',
    "null",
    "{}",
    "[]",
]


@contextmanager
def hang_guard() -> Iterator[None]:
    def _hung(signum: int, frame: object) -> None:
        raise TimeoutError(f"reader still running after {HANG_GUARD_S} s: a hang")

    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(HANG_GUARD_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def answers_cleanly(read: Callable[[], object]) -> None:
    """The property: a result, or a FivewhysError whose message is one line."""
    with hang_guard():
        try:
            read()
        except FivewhysError as exc:
            for line in str(exc).splitlines():
                assert line.strip(), "an empty error line"
            if type(exc).__name__ != "RuleErrors":
                assert "\n" not in str(exc)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with a few edits: a hostile value spliced in, bytes flipped, a cut."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["splice", "flip", "cut", "dup"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "splice":
            end = min(len(data), at + draw(st.integers(0, 12)))
            data[at:end] = draw(st.sampled_from(HOSTILE_TEXT)).encode("utf-8")
        elif kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 200))]
    return bytes(data)


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


@FUZZ
@given(data=mutated((GENERATED / "junit_xunit2.xml").read_bytes()))
def test_junit(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path, "junit.xml", data)
    answers_cleanly(lambda: read_results([path]))


@FUZZ
@given(data=mutated((GENERATED / "reportlog.jsonl").read_bytes()))
def test_reportlog(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path, "report.jsonl", data)
    answers_cleanly(lambda: read_results([path]))


@FUZZ
@given(data=mutated((GENERATED / "json_report.json").read_bytes()))
def test_json_report(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path, "report.json", data)
    answers_cleanly(lambda: read_results([path]))


JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["\ud800", "http://[::1/login", "9999-12-31T23:59:59Z", "2025-09-07"]),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


#: numbers as a damaged or hostile file holds them: NaN, infinities, huge, negative, year 9999
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([1e300, -1e20, 253402300800.0, 1.79e9, 0.5]),
)
STAGE = st.fixed_dictionaries(
    {"duration": NUMBER, "outcome": st.sampled_from(["failed", "passed"])},
    optional={"longrepr": st.text(max_size=40), "crash": JSON_VALUE},
)
TEST = st.fixed_dictionaries(
    {"nodeid": st.text(max_size=20), "outcome": st.just("failed")},
    optional={"setup": STAGE, "call": STAGE, "teardown": STAGE, "user_properties": JSON_VALUE},
)


@FUZZ
@given(
    report=st.fixed_dictionaries(
        {
            "created": st.one_of(NUMBER, JSON_VALUE),
            "duration": st.one_of(NUMBER, JSON_VALUE),
            "tests": st.one_of(st.lists(TEST, max_size=3), JSON_VALUE),
        },
        optional={"summary": JSON_VALUE, "collectors": JSON_VALUE},
    )
)
def test_json_report_built(tmp_path: Path, report: dict[str, Any]) -> None:
    text = json.dumps(report)
    path = _write(tmp_path, "built.json", text.encode("utf-8", "surrogatepass"))
    answers_cleanly(lambda: read_results([path]))


REPORT_RECORD = st.fixed_dictionaries(
    {
        "$report_type": st.just("TestReport"),
        "nodeid": st.text(max_size=20),
        "when": st.sampled_from(["setup", "call", "teardown"]),
        "outcome": st.sampled_from(["failed", "passed"]),
        "start": NUMBER,
        "stop": NUMBER,
    },
    optional={"longrepr": st.one_of(st.text(max_size=40), JSON_VALUE), "location": JSON_VALUE},
)


@FUZZ
@given(records=st.lists(REPORT_RECORD, min_size=1, max_size=4))
def test_reportlog_built(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    lines = [json.dumps({"$report_type": "SessionStart"}), *map(json.dumps, records)]
    path = _write(tmp_path, "built.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"))
    answers_cleanly(lambda: read_results([path]))


@FUZZ
@given(data=mutated((DATA / "logs" / "startup-chain.json").read_bytes()))
def test_gcloud_json(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path, "logs.json", data)
    answers_cleanly(lambda: read_log_files([str(path)]))


@FUZZ
@given(data=mutated((DATA / "logs" / "startup-chain.ndjson").read_bytes()))
def test_ndjson(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path, "logs.ndjson", data)
    answers_cleanly(lambda: read_log_files([str(path)]))


@FUZZ
@given(meta=st.one_of(JSON_VALUE.map(json.dumps), st.sampled_from(HOSTILE_TEXT)))
def test_bundle_metadata(tmp_path: Path, meta: str) -> None:
    path = tmp_path / "bundle.parquet"
    empty_logframe().write_parquet(path, metadata={BUNDLE_KEY: meta})
    answers_cleanly(lambda: read_bundle(str(path)))


@cache
def _report() -> Report:
    from test_golden import _example_analysis

    from fivewhys.pipeline import analyze

    return analyze(_example_analysis())


@FUZZ
@given(run=JSON_VALUE, fixed=st.one_of(JSON_VALUE, st.sampled_from(HOSTILE_TEXT)))
def test_history(tmp_path: Path, run: object, fixed: object) -> None:
    """A damaged history file is a warning, never an error: classify always answers."""
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    (runs / "run.json").write_text(json.dumps(run), "utf-8", "surrogatepass")
    body = fixed if isinstance(fixed, str) else json.dumps(fixed)
    (tmp_path / "fixed.json").write_text(body, "utf-8", "surrogatepass")
    problems: list[str] = []
    with hang_guard():
        classify(_report(), tmp_path, problems)
    assert all("\n" not in line for line in problems)
