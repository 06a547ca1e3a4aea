"""`pytest --fivewhys`: exact UTC windows and ids per test, so the analysis joins by key.

JUnit keeps only durations and no ids unless tests record them. With `--fivewhys` every test
gets properties `fivewhys.start` / `fivewhys.<phase>.stop` (UTC) and the connection ids, user
ids and traces seen in its output; `--fivewhys-sidecar` also writes them, with each report, as
pytest-reportlog-shaped JSONL that `fivewhys analyze` reads. Off unless asked. Heavy imports
(polars, the pipeline) happen only when an analysis runs.

Under pytest-xdist the properties are made in the worker that ran the test and travel to the
controller in the report's user_properties (xdist serializes the whole report); only the
controller writes the sidecar and runs `--fivewhys-analyze`, so one process owns the file. A
sidecar record names its worker (`"worker": "gw0"`, from the `worker_id` xdist puts on each
forwarded report); a worker also adds the property `fivewhys.worker`, the one place JUnit can
carry it. Under pytest-rerunfailures a failed attempt that is retried arrives as outcome
`rerun`, and every record of a test it ran carries `"rerun": N`, its 0-based attempt counter
(`report.rerun`: 0 on the first attempt, 1 on the first rerun). Each attempt starts clean: the
properties this plugin added in an earlier attempt (its window, its ids) are dropped, so an
attempt's window and ids are its own. Each key is absent where its plugin set nothing (a
serial run; a run without --reruns, except a crashed worker's record, which an installed
rerunfailures always counts).

`--fivewhys-history DIR` and `--fivewhys-repo PATH` give the end-of-session analysis what
`fivewhys analyze --history/--repo` give it (overriding `[tool.fivewhys] history` / `repo`), so
a cause's chain is the same wherever the report is made. With `--fivewhys-history` the run is
also kept in DIR, as `fivewhys ci --history` keeps it, green runs too: a later regression is
dated by the last run its tests passed in. The `history` key alone only reads (a developer's
local runs are not kept unless asked).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest

ENABLED = "fivewhys"
_ID_PROPERTIES = {"connection_ids": "connection_id", "user_ids": "user_id", "traces": "trace"}
WORKER_PROPERTY = "fivewhys.worker"
#: the properties this plugin put on an item in its current attempt (dropped when a rerun starts)
_OWN = pytest.StashKey[list[tuple[str, str]]]()
#: captured-output sections an item's reports carry so far, and those from its earlier attempts:
#: pytest keeps appending an item's captured output, so a rerun's reports hold the attempts'
#: before it too (pytest-rerunfailures leaves them), and ids are read from this attempt's only
_SECTIONS_SEEN = pytest.StashKey[int]()
_SECTIONS_EARLIER = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fivewhys", "root-cause reports from Cloud Run logs")
    group.addoption(
        "--fivewhys",
        action="store_true",
        help="record each test's exact UTC window and ids (JUnit properties, sidecar)",
    )
    group.addoption(
        "--fivewhys-sidecar",
        metavar="PATH",
        help="write the records as JSONL here (read by `fivewhys analyze`)",
    )
    group.addoption(
        "--fivewhys-analyze",
        action="store_true",
        help="when tests failed, analyse them at the end of the session "
        "(with --fivewhys-logs or --fivewhys-service)",
    )
    group.addoption(
        "--fivewhys-logs",
        action="append",
        default=[],
        metavar="GLOB",
        help="Cloud Logging entries for the analysis (gcloud JSON or NDJSON); repeatable",
    )
    group.addoption(
        "--fivewhys-project",
        metavar="PROJECT",
        help="pull the failure windows' logs from this project (or $GOOGLE_CLOUD_PROJECT)",
    )
    group.addoption(
        "--fivewhys-service",
        action="append",
        default=[],
        metavar="NAME",
        help="Cloud Run service whose logs to pull; repeatable",
    )
    group.addoption(
        "--fivewhys-history",
        metavar="DIR",
        help="history of earlier runs (as `fivewhys analyze --history`): when each cause began; "
        "this run, green or red, is kept in it too",
    )
    group.addoption(
        "--fivewhys-repo",
        metavar="PATH",
        help="local git checkout of the service (as `fivewhys analyze --repo`): the commits "
        "that touched each cause's raising frame",
    )
    group.addoption(
        "--fivewhys-report",
        default="fivewhys-report.md",
        metavar="PATH",
        help="where the analysis writes its report (.md or .json)",
    )


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption(ENABLED) or config.getoption("fivewhys_analyze"))


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _sidecar_path(config: pytest.Config) -> Path | None:
    given = config.getoption("fivewhys_sidecar")
    if given:
        return Path(given)
    if config.getoption("fivewhys_analyze"):
        return config.rootpath / "fivewhys-tests.jsonl"
    return None


def _xdist_worker(config: pytest.Config) -> str | None:
    """This process's xdist worker id (`gw0`), or None in the controller and a serial run."""
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if isinstance(workerinput, dict) else None


def _worker_of(report: pytest.TestReport) -> str | None:
    """Which xdist worker ran a report the controller received: the `worker_id` xdist's
    remote.py puts on every forwarded report, else the gateway of the WorkerController that
    dsession.py attaches as `report.node` (its own report for a crashed worker)."""
    worker = getattr(report, "worker_id", None)
    if worker is None:
        worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", None)
    return worker if isinstance(worker, str) else None


def _longrepr_text(report: pytest.TestReport) -> str | None:
    """The report's text as a serial run has it: pytest's longreprtext opens a report that
    carries an xdist `node` with that worker's line ("[gw0] linux -- Python 3.11.7 <the
    interpreter's path>"), which is no part of the failure and names a machine path."""
    text = report.longreprtext
    worker = _worker_of(report)
    if worker is not None and hasattr(report, "node") and text.startswith(f"[{worker}] "):
        text = text.partition("\n")[2].strip()
    return text or None


def pytest_configure(config: pytest.Config) -> None:
    # workers forward every report to the controller, which alone writes the file
    if _xdist_worker(config) is not None:
        return
    path = _sidecar_path(config) if _enabled(config) else None
    if path is not None:
        config.pluginmanager.register(SidecarWriter(path), "fivewhys-sidecar")


class SidecarWriter:
    """Writes every test report as pytest-reportlog-shaped JSONL, with the fivewhys properties."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = path.open("w", encoding="utf-8")
        self._write({"$report_type": "SessionStart", "pytest_version": pytest.__version__})

    def _write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record) + "\n")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record: dict[str, Any] = {
            "$report_type": "TestReport",
            "nodeid": report.nodeid,
            "location": list(report.location),
            "when": report.when,
            "outcome": report.outcome,
            "start": report.start,
            "stop": report.stop,
            "duration": report.duration,
            "longrepr": _longrepr_text(report),
            "sections": [list(section) for section in report.sections],
            "user_properties": [[str(k), str(v)] for k, v in report.user_properties],
        }
        worker = _worker_of(report)
        if worker is not None:
            record["worker"] = worker
        attempt = getattr(report, "rerun", None)  # pytest-rerunfailures' attempt counter
        if isinstance(attempt, int):
            record["rerun"] = attempt
        self._write(record)

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self._write({"$report_type": "SessionFinish", "exitstatus": int(exitstatus)})
        self._handle.close()


def _add_property(
    item: pytest.Item, report: pytest.TestReport | None, name: str, value: str
) -> None:
    pair = (name, value)
    if pair not in item.user_properties:
        item.user_properties.append(pair)
        item.stash.setdefault(_OWN, []).append(pair)
    if report is not None and pair not in report.user_properties:
        report.user_properties.append(pair)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A rerun (pytest-rerunfailures runs the same item again) starts without the window and
    ids of the attempt before: that attempt's reports already hold them."""
    for pair in item.stash.get(_OWN, []):
        if pair in item.user_properties:
            item.user_properties.remove(pair)
    item.stash[_OWN] = []
    item.stash[_SECTIONS_EARLIER] = item.stash.get(_SECTIONS_SEEN, 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Exact phase times go in before the report is built; ids seen in its text go in after."""
    if not _enabled(item.config):
        yield
        return
    if call.when == "setup":
        _add_property(item, None, "fivewhys.start", _utc(call.start))
        worker = _xdist_worker(item.config)
        if worker is not None:
            _add_property(item, None, WORKER_PROPERTY, worker)
    _add_property(item, None, f"fivewhys.{call.when}.stop", _utc(call.stop))
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    from fivewhys.ids import extract_ids, observed_text

    item.stash[_SECTIONS_SEEN] = len(report.sections)
    own = report.sections[item.stash.get(_SECTIONS_EARLIER, 0) :]
    texts = [observed_text(report.longreprtext), *(text for _title, text in own)]
    ids = extract_ids(texts, {str(k): str(v) for k, v in item.user_properties})
    for field, name in _ID_PROPERTIES.items():
        for value in getattr(ids, field):
            if (name, value) not in item.user_properties:
                _add_property(item, report, name, value)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Run the analysis on a red run and say where the report is (in the controller: an xdist
    worker has seen only its own tests, and the sidecar is the controller's); with
    `--fivewhys-history`, keep the run there, a green one too."""
    if _xdist_worker(config) is not None or not config.getoption("fivewhys_analyze"):
        return
    stats = terminalreporter.stats
    red = bool(stats.get("failed", []) + stats.get("error", []))
    keep = _given_path(config, "fivewhys_history")
    if not red and keep is None:
        return
    sidecar = _sidecar_path(config)
    assert sidecar is not None
    logs = list(config.getoption("fivewhys_logs"))
    services = tuple(config.getoption("fivewhys_service"))
    terminalreporter.section("fivewhys")
    if red and not logs and not services:
        terminalreporter.write_line(
            "fivewhys: give --fivewhys-logs or --fivewhys-service, nothing to analyse"
        )
        return
    from fivewhys.cli_support import live_source_from
    from fivewhys.config import load_settings
    from fivewhys.errors import FivewhysError
    from fivewhys.history import record
    from fivewhys.pipeline import Analysis, OutputFormat, analyze, format_for, render

    target = Path(config.getoption("fivewhys_report"))
    try:
        settings = load_settings(config.rootpath)
        live = None
        if services:
            project = config.getoption("fivewhys_project") or os.environ.get("GOOGLE_CLOUD_PROJECT")
            live = live_source_from(settings, _live_options(project, services))
        repo = _given_path(config, "fivewhys_repo") or _key_path(config, settings.repo)
        history = keep or _key_path(config, settings.history)
        analysis = Analysis(results=[sidecar], logs=logs, settings=settings, live=live)
        report = analyze(dataclasses.replace(analysis, repo=repo, history=history))
        if red:
            target.write_text(render(report, format_for(target)), encoding="utf-8")
        kept = record(render(report, OutputFormat.JSON), report, keep) if keep else None
    except (FivewhysError, OSError) as exc:
        terminalreporter.write_line(f"fivewhys: could not analyse: {exc}")
        return
    if red:
        terminalreporter.write_line(f"fivewhys: report written to {target}: {report.counts_line()}")
    if kept is not None:
        terminalreporter.write_line(f"fivewhys: run kept in the history: {kept}")


def _given_path(config: pytest.Config, option: str) -> Path | None:
    """A path option, relative to where pytest was started (as the command line's are)."""
    given = config.getoption(option)
    return config.invocation_params.dir / given if given else None


def _key_path(config: pytest.Config, value: str | None) -> Path | None:
    """A `[tool.fivewhys]` path, relative to the project's root."""
    return config.rootpath / value if value else None


def _live_options(project: str | None, services: tuple[str, ...]) -> dict[str, Any]:
    """A live pull as `fivewhys analyze --project --service` would make it, CLI defaults."""
    from fivewhys.logs.endpoints import LOGGING_ENDPOINT_ENV

    return {
        "project": project,
        "services": services,
        "severity": None,
        "endpoint": os.environ.get(LOGGING_ENDPOINT_ENV),
        "rate": None,
        "settle": None,
        "no_cache": False,
        "verbose": False,
    }


@dataclass(frozen=True)
class TraceContext:
    """A trace id a test sends, so the server's request log joins the failure by trace."""

    trace_id: str
    span_id: int

    def headers(self) -> dict[str, str]:
        """Both header forms Cloud Run understands."""
        return {
            "X-Cloud-Trace-Context": f"{self.trace_id}/{self.span_id};o=1",
            "traceparent": f"00-{self.trace_id}-{self.span_id:016x}-01",
        }


class FivewhysIds:
    """What the `fivewhys_ids` fixture gives a test: record ids, or start a trace to send."""

    def __init__(self, item: pytest.Item) -> None:
        self._item = item

    def record(
        self,
        *,
        connection_id: str | None = None,
        user_id: str | None = None,
        trace: str | None = None,
    ) -> None:
        """Record ids this test used: they join the server's lines by key, not by time."""
        for name, value in (
            ("connection_id", connection_id),
            ("user_id", user_id),
            ("trace", trace),
        ):
            if value:
                _add_property(self._item, None, name, value)

    def new_trace(self) -> TraceContext:
        """A fresh trace (recorded) whose headers the test sends with its requests."""
        context = TraceContext(trace_id=secrets.token_hex(16), span_id=secrets.randbits(63) or 1)
        self.record(trace=context.trace_id)
        return context


@pytest.fixture
def fivewhys_ids(request: pytest.FixtureRequest) -> FivewhysIds:
    """Record connection ids, user ids and traces for fivewhys (works without --fivewhys too)."""
    return FivewhysIds(request.node)
