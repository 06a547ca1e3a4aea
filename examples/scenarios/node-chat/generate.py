"""Regenerate the node-chat scenario: a real e2e run against a real Node chat backend (ws,
jsonwebtoken, pino with Google's pino config) with one real fault per failure mode.

Starts, on 127.0.0.1 only (see README.md):

    revision 00017   `node server/server.js`, the running revision, with a Redis port where
                     nothing listens and an upstream summarizer that hangs up on every call
    revision 00018   behind all-modes' NoInstanceFrontend: every request starts an instance with
                     --require-redis-url, which throws at startup and exits with code 1
    traffic.py       other users hitting the same bugs with their own ids (noise)

runs the e2e suite in `e2e/`, stops everything, and converts what the processes wrote into
Cloud Logging LogEntry JSON the way Cloud Run's log agent does: a JSON line on stdout becomes
`jsonPayload`, with `severity`, `timestamp {seconds, nanos}`, `logging.googleapis.com/trace`,
`.../spanId`, `.../trace_sampled` and `.../insertId` lifted into the entry
(https://cloud.google.com/logging/docs/structured-logging); a stderr line (Node's uncaught
exception report) becomes one `textPayload` entry per line, without severity.

SYNTHESIZED, because no local process writes them: Cloud Run's request logs, from the facts the
server recorded per request (`--request-log`: start, latency, method, URL, status, user agent,
trace header; a WebSocket's `101` written when it closed, with the connection's lifetime as
latency), in the shape of the real captures in `tests/data/logs/real`; the aborted requests'
503 "no available instance" logs (from what the frontend held); "Container called exit(1)."
from each crashed instance's real exit code; "Starting new instance" when an instance starts.
Their insertIds are derived from time and order; the app's come from its pino config.

Writes under --out (default: this directory): results/junit.xml, results/report-log.jsonl,
logs/gcloud-read.json, logs/sink.ndjson and truth.json.

Usage: ``python examples/scenarios/node-chat/generate.py [--out DIR]`` (needs `node` and
`npm ci` in `server/`: `make regenerate-node-chat` does both).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import IO, Any

SCENARIO = Path(__file__).resolve().parent
EXAMPLES = SCENARIO.parents[1]
SERVER = SCENARIO / "server"
E2E = SCENARIO / "e2e"
TRAFFIC = SCENARIO / "traffic.py"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _load(EXAMPLES / "generate.py", "fivewhys_example_generate")
frontend = _load(
    EXAMPLES / "scenarios" / "all-modes" / "frontend.py", "fivewhys_all_modes_frontend"
)

PROJECT_ID = "chat-staging-4471"
SERVICE = "chat-api"
REVISION_OK = "chat-api-00017-kiv"
REVISION_NEW = "chat-api-00018-wob"
PUBLIC_URL = "https://chat-api-5vq2ltbx7a-uc.a.run.app"
LOG_PREFIX = f"projects/{PROJECT_ID}/logs/run.googleapis.com%2F"
#: the runner's address as Cloud Run would see it (a documentation address: RFC 5737)
RUNNER_IP = "203.0.113.17"
SERVER_IP = "34.143.72.2"
HOLD_S = 2.0
SIGNING_KEY = "chat-signing-key-2025-09"
#: shaped like a Google API key (AIza + 35): the server logs it inside a URL, a planted secret
SUMMARIZER_API_KEY = "AIzaSyD4q7Jw0bM2xVn8tR1cZ5hK3pL9sE6uY0f"
STARTUP_TEXT = "Starting new instance. Reason: AUTOSCALING - Instance started due to traffic."
DEPLOY_STARTUP_TEXT = (
    "Starting new instance. Reason: DEPLOYMENT_ROLLOUT - Instance started due to traffic "
    "shifting between revisions or scaling up."
)
ABORTED_TEXT = (
    "The request was aborted because there was no available instance. Additional "
    "troubleshooting documentation can be found at: "
    "https://cloud.google.com/run/docs/troubleshooting#abort-request"
)


def resource(revision: str) -> dict[str, Any]:
    return {
        "type": "cloud_run_revision",
        "labels": {
            "configuration_name": SERVICE,
            "location": "europe-west1",
            "project_id": PROJECT_ID,
            "revision_name": revision,
            "service_name": SERVICE,
        },
    }


def instance_id(number: int) -> str:
    """A Cloud Run-shaped instance id: long hex, distinct per instance."""
    seed = f"{SERVICE}-instance-{number}".encode()
    digits = "".join(f"{zlib.crc32(seed + bytes([i])):08x}" for i in range(19))
    return "0069c7a988" + digits[:140]


# --- the processes -------------------------------------------------------------------------------


class NodeRun(gen.AppRun):
    """`node server/server.js` as a subprocess, output captured line by line with stamps."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        super().__init__(env=env)
        self.command = ["node", str(SERVER / "server.js"), "--port", "0", *args]

    def _read(self, stream: str, pipe: IO[bytes]) -> None:
        for raw in iter(pipe.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._lock:
                self.lines.append(gen.CapturedLine(time.time_ns(), stream, text))
            if not self._ready.is_set() and stream == "stdout":
                match = re.search(r"listening on (http://[\d.]+:\d+)", text)
                if match:
                    self.url = match.group(1)
                    self._ready.set()


class HangingUpstream:
    """The summarizer the service calls: it reads the request and closes without answering."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._sock.accept()
                with client, contextlib.suppress(OSError):
                    client.settimeout(1.0)
                    client.recv(65536)

    def stop(self) -> None:
        self._sock.close()


@dataclass
class NextRevision:
    """Revision 00018: each request starts an instance in the background, as Cloud Run does."""

    args: list[str]
    env: dict[str, str]
    instances: list[tuple[Any, list[int]]] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start_instance(self) -> None:
        run = NodeRun([*self.args, "--require-redis-url"], self.env)
        exit_info: list[int] = []
        self.instances.append((run, exit_info))
        thread = threading.Thread(target=self._run, args=(run, exit_info), daemon=True)
        thread.start()
        self._threads.append(thread)

    @staticmethod
    def _run(run: Any, exit_info: list[int]) -> None:
        run.start(wait_ready=False)
        exit_info += [run.wait(30), time.time_ns()]

    def join(self) -> None:
        for thread in self._threads:
            thread.join(30)


# --- Cloud Run's log agent and Cloud Run's own entries -------------------------------------------

_LIFTED = {
    "logging.googleapis.com/trace": "trace",
    "logging.googleapis.com/spanId": "spanId",
    "logging.googleapis.com/trace_sampled": "traceSampled",
    "logging.googleapis.com/insertId": "insertId",
}


def shape_line(line: Any) -> dict[str, Any]:
    """One line the container wrote -> a LogEntry without resource, labels and receive time."""
    log_name = LOG_PREFIX + line.stream
    try:
        payload = json.loads(line.text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return {
            "logName": log_name,
            "textPayload": line.text,
            "timestamp": gen.rfc3339_ns(line.received_ns),
        }
    payload = dict(payload)
    entry: dict[str, Any] = {"logName": log_name}
    stamp = payload.pop("timestamp", None)
    if isinstance(stamp, dict):
        ns = int(stamp.get("seconds", 0)) * 1_000_000_000 + int(stamp.get("nanos", 0))
        entry["timestamp"] = gen.rfc3339_ns(ns)
    else:
        entry["timestamp"] = gen.rfc3339_ns(line.received_ns)
    for key, target in _LIFTED.items():
        if key in payload:
            entry[target] = payload.pop(key)
    entry["severity"] = str(payload.pop("severity", "DEFAULT"))
    entry["jsonPayload"] = payload
    return entry


def instance_entries(
    run: Any, revision: str, instance: str, startup_text: str
) -> list[tuple[int, dict[str, Any]]]:
    """One instance's output, and the system line Cloud Run writes when it starts it."""
    started = _system(startup_text, "INFO", run.started_ns, revision, instance)
    shaped: list[tuple[int, dict[str, Any]]] = [(-1, started)]
    for seq, line in enumerate(run.lines):
        if line.text.strip():
            entry = shape_line(line)
            entry.update(resource=resource(revision), labels={"instanceId": instance})
            shaped.append((seq, entry))
    return shaped


def _system(text: str, severity: str, at_ns: int, revision: str, instance: str) -> dict[str, Any]:
    return {
        "logName": LOG_PREFIX + "varlog%2Fsystem",
        "severity": severity,
        "textPayload": text,
        "timestamp": gen.rfc3339_ns(at_ns),
        "resource": resource(revision),
        "labels": {"instanceId": instance},
    }


def _trace_fields(header: str) -> dict[str, Any]:
    match = re.match(r"([0-9a-f]{32})(?:/(\d+))?(?:;o=(\d))?", header or "")
    if not match:
        return {}
    fields: dict[str, Any] = {"trace": f"projects/{PROJECT_ID}/traces/{match.group(1)}"}
    if match.group(2):
        fields["spanId"] = f"{int(match.group(2)):016x}"
    if match.group(3) == "1":
        fields["traceSampled"] = True
    return fields


def _severity(status: int) -> str:
    return "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"


def request_entry(
    facts: dict[str, Any], revision: str, instance: str, text: str | None = None
) -> dict[str, Any]:
    """Cloud Run's request log for one request (shape: the real captures' `requests` entries)."""
    status = int(facts["status"])
    entry: dict[str, Any] = {
        "logName": LOG_PREFIX + "requests",
        "severity": _severity(status),
        "timestamp": gen.rfc3339_ns(int(facts["start_ns"])),
        "resource": resource(revision),
        "labels": {"instanceId": instance},
        "httpRequest": {
            "requestMethod": facts["method"],
            "requestUrl": PUBLIC_URL + facts["url"],
            "requestSize": str(facts.get("request_size", 300)),
            "status": status,
            "responseSize": str(facts.get("response_size", 0)),
            "userAgent": facts.get("user_agent", ""),
            "remoteIp": RUNNER_IP,
            "serverIp": SERVER_IP,
            "latency": f"{float(facts['latency_s']):.9f}s",
            "protocol": "HTTP/1.1",
        },
        **_trace_fields(facts.get("trace_header", "")),
    }
    if text is not None:
        entry["textPayload"] = text
    return entry


def held_facts(held: Any) -> dict[str, Any]:
    return {
        "start_ns": held.started_ns,
        "latency_s": held.latency_s,
        "method": held.method,
        "url": held.path,
        "status": 503,
        "user_agent": held.headers.get("user-agent", ""),
        "trace_header": held.headers.get("x-cloud-trace-context", ""),
    }


def finalize(shaped: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Sort by time; entries without an insertId get one, every entry a receiveTimestamp."""
    ordered = sorted(shaped, key=lambda item: (gen.parse_ts(item[1]["timestamp"]), item[0]))
    entries: list[dict[str, Any]] = []
    for index, (_, entry) in enumerate(ordered):
        ts = gen.parse_ts(entry["timestamp"])
        if "insertId" not in entry:
            entry["insertId"] = f"{int(ts.timestamp()):08x}{ts.microsecond:08x}{index:08x}"
        latency = entry.get("httpRequest", {}).get("latency", "0s")
        written = ts + timedelta(seconds=float(latency.rstrip("s")))
        delay = timedelta(seconds=0.9 + (zlib.crc32(entry["insertId"].encode()) % 300) / 1000)
        entry["receiveTimestamp"] = gen.format_ts(written + delay)
        entries.append(entry)
    return entries


def to_entries(
    running: Any, request_log: Path, next_revision: NextRevision, held: list[Any]
) -> list[dict[str, Any]]:
    ok_instance = instance_id(1)
    shaped = instance_entries(running, REVISION_OK, ok_instance, STARTUP_TEXT)
    for n, text in enumerate(request_log.read_text(encoding="utf-8").splitlines()):
        shaped.append((50_000_000 + n, request_entry(json.loads(text), REVISION_OK, ok_instance)))
    for number, (run, exit_info) in enumerate(next_revision.instances, start=2):
        offset = number * 1_000_000
        c_id = instance_id(number)
        lines = instance_entries(run, REVISION_NEW, c_id, DEPLOY_STARTUP_TEXT)
        shaped += [(seq + offset, entry) for seq, entry in lines]
        if exit_info:
            code, at_ns = exit_info
            text = f"Container called exit({code})."
            shaped.append((offset + 999_999, _system(text, "WARNING", at_ns, REVISION_NEW, c_id)))
    aborted = [request_entry(held_facts(h), REVISION_NEW, "", ABORTED_TEXT) for h in held]
    for n, entry in enumerate(aborted):
        del entry["labels"]  # Cloud Run had no instance to name
        shaped.append((90_000_000 + n, entry))
    return finalize(shaped)


# --- ground truth --------------------------------------------------------------------------------

Finder = Callable[[dict[str, Any], dict[str, str]], bool]


def _trace(entry: dict[str, Any]) -> str | None:
    trace = entry.get("trace")
    return str(trace).rsplit("/", 1)[-1] if trace else None


def _app_line(prefix: str, key: str) -> Finder:
    """The app's line whose message starts with `prefix`, on the test's own `key`."""

    def found(entry: dict[str, Any], ids: dict[str, str]) -> bool:
        payload = entry.get("jsonPayload") or {}
        own = _trace(entry) if key == "trace" else payload.get({"connection_id": "connId"}[key])
        return str(payload.get("message", "")).startswith(prefix) and own == ids.get(key)

    return found


def _request(status: int, text: str | None = None) -> Finder:
    def found(entry: dict[str, Any], ids: dict[str, str]) -> bool:
        http = entry.get("httpRequest") or {}
        return (
            http.get("status") == status
            and _trace(entry) == ids.get("trace")
            and (text is None or entry.get("textPayload") == text)
        )

    return found


@dataclass(frozen=True)
class Fault:
    """The fault a test was written to hit: its id, the rule for its mode, its true evidence."""

    fault: str
    rule: str
    evidence: Finder | None

    @property
    def server_caused(self) -> bool:
        return self.evidence is not None


_SETUP = Fault(
    "new-user-session-undefined",
    "ws-factory-validation-1011",
    _app_line("connection setup failed for ws_staging-_", "trace"),
)
_ROTATED_KEY = Fault(
    "rotated-signing-key",
    "ws-handshake-auth-403",
    _app_line("ws upgrade rejected for qa-bot-17", "trace"),
)
_REDIS = Fault("redis-refused", "http-5xx-dependency-refused", _request(500))
_NO_INSTANCE = Fault(
    "revision-00018-cannot-start", "run-no-instance-timeout", _request(503, ABORTED_TEXT)
)
_CLIENT = "client-side-test-failure"

#: test function -> the fault it hits. `evidence` finds the one true line by the test's own ids.
FAULTS: dict[str, Fault] = {
    "test_new_user_gets_a_thread": _SETUP,
    "test_new_user_can_send_a_first_message": _SETUP,
    "test_new_user_sees_the_rooms": _SETUP,
    "test_reconnect_with_cached_credentials": _ROTATED_KEY,
    "test_second_device_joins_the_thread": _ROTATED_KEY,
    "test_moderation_queue_is_reachable": Fault("ci-secret-not-configured", _CLIENT, None),
    "test_ping_reply_carries_a_timestamp": Fault("test-expects-ts-field", _CLIENT, None),
    "test_agent_run_starts": Fault(
        "agent-v1-payload",
        "ws-handler-error-main-cleanup",
        _app_line("message handler threw", "connection_id"),
    ),
    "test_export_keeps_the_connection": Fault(
        "export-blocks-event-loop",
        "ws-keepalive-ping-timeout",
        _app_line("slow ws message handler", "connection_id"),
    ),
    "test_rooms_are_listed": Fault("rooms-trailing-slash", "http-redirect-307", _request(307)),
    "test_presence_lists_who_is_online": _REDIS,
    "test_presence_after_reconnect": _REDIS,
    "test_thread_summary": Fault(
        "summarizer-hangs-up", "generic", _app_line("summarizer request failed", "trace")
    ),
    "test_next_revision_health": _NO_INSTANCE,
    "test_next_revision_accepts_websockets": _NO_INSTANCE,
}


def compute_truth(
    failures: dict[str, dict[str, str]], entries: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per failing test: its fault, whether the server caused it, its one true line, its rule."""
    if {nodeid.rsplit("::", 1)[-1] for nodeid in failures} != set(FAULTS):
        failed = sorted(n.rsplit("::", 1)[-1] for n in failures)
        raise gen.GenerationError(f"expected exactly {sorted(FAULTS)} to fail, got {failed}")
    truth: dict[str, dict[str, Any]] = {}
    for nodeid, recorded in sorted(failures.items()):
        fault = FAULTS[nodeid.rsplit("::", 1)[-1]]
        insert_id: str | None = None
        if fault.evidence is not None:
            finder = fault.evidence
            hits = [e["insertId"] for e in entries if finder(e, recorded)]
            if len(hits) != 1:
                raise gen.GenerationError(f"{nodeid}: expected one evidence line, found {hits}")
            insert_id = hits[0]
        truth[nodeid] = {
            "fault": fault.fault,
            "server_caused": fault.server_caused,
            "insert_id": insert_id,
            "rule": fault.rule,
        }
    return truth


# --- main ----------------------------------------------------------------------------------------


def scrub(path: Path) -> None:
    """No path or host name of this machine goes in: the server's own path reads as in its
    container image (`/app/`), the rest as `examples/generate.py` scrubs it."""
    text = path.read_text(encoding="utf-8")
    text = text.replace(str(SERVER) + "/", "/app/")
    text = text.replace(f'"hostname":"{socket.gethostname()}"', '"hostname":"localhost"')
    text = text.replace(f'"hostname": "{socket.gethostname()}"', '"hostname": "localhost"')
    path.write_text(text, encoding="utf-8")
    gen.scrub_machine_paths(path)


def generate(out: Path, suite_timeout_s: float = 120.0) -> dict[str, dict[str, Any]]:
    if shutil.which("node") is None or not (SERVER / "node_modules").is_dir():
        raise gen.GenerationError("needs node and `npm ci` in examples/scenarios/node-chat/server")
    results, logs = out / "results", out / "logs"
    results.mkdir(parents=True, exist_ok=True)
    junit, report_log = results / "junit.xml", results / "report-log.jsonl"
    env = {
        k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "NODE_CHAT_MODERATOR_TOKEN")
    }
    env.update(JWT_SIGNING_KEY=SIGNING_KEY, SUMMARIZER_API_KEY=SUMMARIZER_API_KEY)
    upstream = HangingUpstream()
    with tempfile.TemporaryDirectory() as scratch:
        request_log = Path(scratch) / "requests.ndjson"
        args = [
            "--redis-port", str(frontend.free_closed_port()),
            "--upstream-port", str(upstream.port),
            "--project", PROJECT_ID,
        ]  # fmt: skip
        running = NodeRun([*args, "--request-log", str(request_log)], env)
        next_revision = NextRevision(args, env)
        held_frontend = frontend.NoInstanceFrontend(next_revision.start_instance, HOLD_S)
        traffic: subprocess.Popen[bytes] | None = None
        upstream.start()
        running.start()
        try:
            held_frontend.start()
            traffic = subprocess.Popen(
                [sys.executable, str(TRAFFIC), "--url", running.url, "--key", SIGNING_KEY],
                cwd=gen.REPO,
                stdout=subprocess.DEVNULL,
            )
            time.sleep(0.5)  # Let other users' traffic be under way before the suite starts.
            code = gen.run_suite(
                running.url,
                junit,
                report_log,
                suite_timeout_s,
                suite=E2E,
                extra_env={
                    "NODE_CHAT_URL": running.url,
                    "NODE_CHAT_NEXT_REVISION_URL": held_frontend.url,
                    "NODE_CHAT_SIGNING_KEY": SIGNING_KEY,
                },
            )
            if code not in (0, 1):
                raise gen.GenerationError(f"the scenario suite did not run cleanly (exit {code})")
        finally:
            if traffic is not None:
                gen.stop_process(traffic, 10.0)
            held_frontend.stop()
            next_revision.join()
            running.stop()
            upstream.stop()
        entries = to_entries(running, request_log, next_revision, held_frontend.held)
    gen.write_logs(entries, logs)
    truth = compute_truth(gen.failed_tests(report_log), entries)
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    for written in (junit, report_log, logs / "gcloud-read.json", logs / "sink.ndjson"):
        scrub(written)
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SCENARIO, help="output directory")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        truth = generate(args.out.resolve())
    except (gen.GenerationError, subprocess.TimeoutExpired) as exc:
        print(f"generate.py: {exc}", file=sys.stderr)
        return 1
    server_caused = sum(1 for t in truth.values() if t["server_caused"])
    print(
        f"generate.py: {len(truth)} failing tests, {server_caused} server-caused, "
        f"{time.monotonic() - started:.1f}s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
