"""Regenerate fivewhys' demo data by running the example app and its e2e suite for real.

Starts ``examples/app/app.py`` on 127.0.0.1, runs background traffic from other users and the
e2e suite against it, stops everything, and turns the app's stdout/stderr into Cloud Logging
LogEntry JSON the way Cloud Run would. Writes, under ``--out`` (default: ``examples/``)::

    results/junit.xml          pytest --junitxml (xunit1, with properties and captured output)
    results/report-log.jsonl   pytest-reportlog
    logs/gcloud-read.json      as ``gcloud logging read --format=json`` prints it: newest first
    logs/sink.ndjson           the same entries oldest first, one per line, like a GCS sink
    truth.json                 per failing test: the rule and the insertId of the true evidence

Usage: ``python examples/generate.py [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

EXAMPLES = Path(__file__).resolve().parent
REPO = EXAMPLES.parent
APP = EXAMPLES / "app" / "app.py"
TRAFFIC = EXAMPLES / "traffic.py"
E2E = EXAMPLES / "e2e"

PROJECT_ID = "fivewhys-example"
SERVICE = "chat-backend"
REVISION = "chat-backend-00042-xaz"
INSTANCE_ID = (
    "0069c7a9889a3c1b1d0e8f6a2b4c5d7e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829"
    "3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071"
)
RESOURCE: dict[str, Any] = {
    "type": "cloud_run_revision",
    "labels": {
        "configuration_name": SERVICE,
        "location": "us-central1",
        "project_id": PROJECT_ID,
        "revision_name": REVISION,
        "service_name": SERVICE,
    },
}
LOG_PREFIX = f"projects/{PROJECT_ID}/logs/run.googleapis.com%2F"
STARTUP_TEXT = "Starting new instance. Reason: AUTOSCALING - Instance started due to traffic."

#: Rule id -> (message prefix of the one true evidence line, ids it must share with the test).
EVIDENCE: dict[str, tuple[str, tuple[str, ...]]] = {
    "ws-factory-validation-1011": ("Factory SSOT validation failed", ("connection_id",)),
    "ws-handshake-auth-403": ("WebSocket auth rejected", ("trace", "user_id")),
    "ws-handler-error-main-cleanup": ("Message handler error", ("connection_id",)),
}

Stream = Literal["stdout", "stderr"]


class GenerationError(RuntimeError):
    """The run did not produce usable demo data; the message says why."""


@dataclass(frozen=True)
class CapturedLine:
    """One line the container wrote, stamped when the log agent (this script) received it."""

    received_ns: int
    stream: Stream
    text: str


# --- running the app -----------------------------------------------------------------------------


class AppRun:
    """The app as a subprocess, with both output streams captured line by line with stamps."""

    def __init__(
        self,
        app: Path = APP,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.lines: list[CapturedLine] = []
        self.started_ns = 0
        self.url = ""
        self.command = [sys.executable, str(app), "--host", "127.0.0.1", "--port", "0", *args]
        self.env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout_s: float = 30.0, wait_ready: bool = True) -> None:
        self.started_ns = time.time_ns()
        self._proc = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=self.env,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        for stream, pipe in (("stdout", self._proc.stdout), ("stderr", self._proc.stderr)):
            thread = threading.Thread(target=self._read, args=(stream, pipe), daemon=True)
            thread.start()
            self._threads.append(thread)
        if wait_ready and not self._ready.wait(timeout_s):
            self.stop()
            output = "\n".join(line.text for line in self.lines)
            raise GenerationError(f"app did not start within {timeout_s}s:\n{output}")

    def wait(self, timeout_s: float) -> int:
        """The exit code of a process that ends by itself (a container that crashes)."""
        assert self._proc is not None
        code = self._proc.wait(timeout_s)
        for thread in self._threads:
            thread.join(timeout_s)
        return code

    def _read(self, stream: Stream, pipe: IO[bytes]) -> None:
        for raw in iter(pipe.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._lock:
                self.lines.append(CapturedLine(time.time_ns(), stream, text))
            if not self._ready.is_set() and stream == "stdout":
                match = re.search(r"Uvicorn running on (http://[\d.]+:\d+)", text)
                if match:
                    self.url = match.group(1)
                    self._ready.set()

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM like Cloud Run scaling an instance in, so shutdown lines are logged too."""
        if self._proc is None:
            return
        stop_process(self._proc, timeout_s)
        for thread in self._threads:
            thread.join(timeout_s)
        self._proc = None


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)


def run_suite(
    url: str,
    junit: Path,
    report_log: Path,
    timeout_s: float,
    suite: Path = E2E,
    extra_env: dict[str, str] | None = None,
) -> int:
    """Run an e2e suite with its own ini file, so the repository's pytest setup stays out."""
    env = {
        **os.environ,
        "FIVEWHYS_EXAMPLE_URL": url,
        "PYTHONDONTWRITEBYTECODE": "1",
        **(extra_env or {}),
    }
    env.pop("PYTEST_ADDOPTS", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(suite.relative_to(REPO)),
        "-c",
        str((suite / "pytest.ini").relative_to(REPO)),
        "--rootdir",
        str(REPO),
        "-p",
        "no:cacheprovider",
        "--junitxml",
        str(junit),
        "-o",
        "junit_family=xunit1",
        "-o",
        "junit_logging=all",
        "--report-log",
        str(report_log),
    ]
    return subprocess.run(command, cwd=REPO, env=env, timeout=timeout_s, check=False).returncode


# --- Cloud Run's log agent -----------------------------------------------------------------------


def rfc3339_ns(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{rest // 1000:06d}Z"


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _group_stderr(lines: Sequence[tuple[int, CapturedLine]]) -> Iterator[tuple[int, str, int]]:
    """Yield (seq, text, received_ns); a Python traceback becomes one entry, like one write."""
    i = 0
    while i < len(lines):
        seq, first = lines[i]
        block = [first.text]
        i += 1
        if first.text.startswith("Traceback (most recent call last):"):
            while i < len(lines):
                text = lines[i][1].text
                block.append(text)
                i += 1
                if text and not text[0].isspace():
                    break
        yield seq, "\n".join(block), first.received_ns


def _request_severity(status: int) -> str:
    if status >= 500:
        return "ERROR"
    return "WARNING" if status >= 400 else "INFO"


def _shape(seq: int, line: CapturedLine) -> tuple[int, dict[str, Any]]:
    """One stdout line -> a LogEntry without the fields every entry shares."""
    try:
        payload = json.loads(line.text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        entry: dict[str, Any] = {
            "logName": LOG_PREFIX + "stdout",
            "severity": "DEFAULT",
            "textPayload": line.text,
            "timestamp": rfc3339_ns(line.received_ns),
        }
        return seq, entry
    payload = dict(payload)
    entry = {"timestamp": payload.pop("timestamp", None) or rfc3339_ns(line.received_ns)}
    trace = payload.pop("logging.googleapis.com/trace", None)
    span = payload.pop("logging.googleapis.com/spanId", None)
    if trace:
        entry["trace"] = trace
    if span:
        entry["spanId"] = span
    request = payload.pop("_request_log", None)
    if isinstance(request, dict):
        http = dict(request)
        if http.pop("traceSampled", False):
            entry["traceSampled"] = True
        entry["httpRequest"] = http
        entry["logName"] = LOG_PREFIX + "requests"
        entry["severity"] = _request_severity(int(http.get("status", 0)))
        return seq, entry
    entry["logName"] = LOG_PREFIX + "stdout"
    entry["severity"] = str(payload.pop("severity", "DEFAULT"))
    entry["jsonPayload"] = payload
    return seq, entry


def shape_entries(
    lines: Sequence[CapturedLine],
    instance_started_ns: int,
    *,
    resource: dict[str, Any] = RESOURCE,
    instance_id: str = INSTANCE_ID,
    startup_text: str = STARTUP_TEXT,
) -> list[tuple[int, dict[str, Any]]]:
    """One instance's captured output -> (sequence, LogEntry without insertId) pairs."""
    shaped: list[tuple[int, dict[str, Any]]] = [
        (
            -1,
            {
                "logName": LOG_PREFIX + "varlog%2Fsystem",
                "severity": "INFO",
                "textPayload": startup_text,
                "timestamp": rfc3339_ns(instance_started_ns),
            },
        )
    ]
    stderr: list[tuple[int, CapturedLine]] = []
    for seq, line in enumerate(lines):
        if line.stream == "stderr":
            stderr.append((seq, line))
        elif line.text.strip():
            shaped.append(_shape(seq, line))
    for seq, text, received_ns in _group_stderr(stderr):
        shaped.append(
            (
                seq,
                {
                    "logName": LOG_PREFIX + "stderr",
                    "severity": "ERROR",
                    "textPayload": text,
                    "timestamp": rfc3339_ns(received_ns),
                },
            )
        )
    for _, entry in shaped:
        entry.update(labels={"instanceId": instance_id}, resource=resource)
    return shaped


def finalize_entries(shaped: Sequence[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Sort by time and give every entry its insertId and receiveTimestamp, as Cloud Logging."""
    ordered = sorted(shaped, key=lambda item: (parse_ts(item[1]["timestamp"]), item[0]))
    entries: list[dict[str, Any]] = []
    for index, (_, entry) in enumerate(ordered):
        ts = parse_ts(entry["timestamp"])
        insert_id = f"{int(ts.timestamp()):08x}{ts.microsecond:05x}{index:04x}"
        # Request logs are written when the request ends, so they arrive after their latency.
        latency = entry.get("httpRequest", {}).get("latency", "0s")
        written = ts + timedelta(seconds=float(latency.rstrip("s")))
        delay = timedelta(seconds=1.4 + (zlib.crc32(insert_id.encode()) % 200) / 1000)
        entry.update(insertId=insert_id, receiveTimestamp=format_ts(written + delay))
        entries.append(entry)
    return entries


def to_log_entries(lines: Sequence[CapturedLine], instance_started_ns: int) -> list[dict[str, Any]]:
    """Captured container output -> LogEntry dicts, oldest first. Pure: same input, same output."""
    return finalize_entries(shape_entries(lines, instance_started_ns))


def write_logs(entries: Sequence[dict[str, Any]], logs_dir: Path) -> None:
    logs_dir.mkdir(parents=True, exist_ok=True)
    newest_first = list(reversed(entries))
    (logs_dir / "gcloud-read.json").write_text(
        json.dumps(newest_first, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (logs_dir / "sink.ndjson").write_text(
        "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in entries),
        encoding="utf-8",
    )


# --- ground truth --------------------------------------------------------------------------------


def failed_tests(report_log: Path) -> dict[str, dict[str, str]]:
    """Failing node ids -> the ids each test recorded with ``record_property``."""
    failed: dict[str, dict[str, str]] = {}
    for line in report_log.read_text(encoding="utf-8").splitlines():
        report = json.loads(line)
        if report.get("$report_type") == "TestReport" and report.get("outcome") == "failed":
            props = {str(k): str(v) for k, v in report.get("user_properties", [])}
            failed.setdefault(report["nodeid"], {}).update(props)
    return failed


def _message(entry: dict[str, Any]) -> object:
    return (entry.get("jsonPayload") or {}).get("message")


def _entry_ids(entry: dict[str, Any]) -> dict[str, str]:
    payload = entry.get("jsonPayload") or {}
    ids = {k: str(payload[k]) for k in ("connection_id", "user_id") if payload.get(k)}
    if entry.get("trace"):
        ids["trace"] = str(entry["trace"]).rsplit("/", 1)[-1]
    return ids


def compute_truth(
    failures: dict[str, dict[str, str]], entries: Iterable[dict[str, Any]]
) -> dict[str, dict[str, str | None]]:
    """For each failure, the one evidence line that carries the test's own ids, if any.

    Other users hit the same bugs during the run, so the message alone is not enough: the line
    must share the ids the test recorded. No such line means the failure is the test's own.
    """
    candidates = [e for e in entries if isinstance(_message(e), str)]
    truth: dict[str, dict[str, str | None]] = {}
    for nodeid, recorded in sorted(failures.items()):
        hits: list[tuple[str, str]] = []
        for rule, (prefix, keys) in EVIDENCE.items():
            if not all(k in recorded for k in keys):
                continue
            for entry in candidates:
                ids = _entry_ids(entry)
                if str(_message(entry)).startswith(prefix) and all(
                    ids.get(k) == recorded[k] for k in keys
                ):
                    hits.append((rule, entry["insertId"]))
        if len(hits) > 1:
            raise GenerationError(f"{nodeid}: ambiguous evidence {hits}")
        truth[nodeid] = (
            {"rule": hits[0][0], "insert_id": hits[0][1]}
            if hits
            else {"rule": None, "insert_id": None}
        )
    return truth


# --- main ----------------------------------------------------------------------------------------


def generate(out: Path, suite_timeout_s: float = 90.0) -> dict[str, dict[str, str | None]]:
    results, logs = out / "results", out / "logs"
    results.mkdir(parents=True, exist_ok=True)
    junit, report_log = results / "junit.xml", results / "report-log.jsonl"
    app = AppRun()
    app.start()
    traffic: subprocess.Popen[bytes] | None = None
    try:
        traffic = subprocess.Popen(
            [sys.executable, str(TRAFFIC), "--url", app.url], cwd=REPO, stdout=subprocess.DEVNULL
        )
        time.sleep(0.3)  # Let other users' traffic be under way before the suite starts.
        code = run_suite(app.url, junit, report_log, suite_timeout_s)
        if code not in (0, 1):
            raise GenerationError(f"the e2e suite did not run cleanly (pytest exit code {code})")
    finally:
        if traffic is not None:
            stop_process(traffic, 10.0)
        app.stop()
    entries = to_log_entries(app.lines, app.started_ns)
    write_logs(entries, logs)
    truth = compute_truth(failed_tests(report_log), entries)
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    for written in (junit, report_log, logs / "gcloud-read.json", logs / "sink.ndjson"):
        scrub_machine_paths(written)
    return truth


def scrub_machine_paths(path: Path) -> None:
    """Outputs are committed: no path or host name of the machine that ran the suite goes in.

    Tracebacks name the repo, the venv and the interpreter's install; they become relative
    or placeholders. Plain substitutions keep JSON and XML valid: no quotes or angle brackets.
    """
    replacements = [
        (str(REPO) + "/", ""),
        (sys.prefix, "$VENV"),
        (sys.base_prefix, "$PYTHON_HOME"),
        (f'hostname="{socket.gethostname()}"', 'hostname="e2e-runner"'),
    ]
    text = path.read_text(encoding="utf-8")
    for old, new in replacements:
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=EXAMPLES, help="output directory")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        truth = generate(args.out.resolve())
    except (GenerationError, subprocess.TimeoutExpired) as exc:
        print(f"generate.py: {exc}", file=sys.stderr)
        return 1
    found = sum(1 for t in truth.values() if t["insert_id"])
    print(
        f"generate.py: {len(truth)} failing tests, {found} with server evidence, "
        f"{time.monotonic() - started:.1f}s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
