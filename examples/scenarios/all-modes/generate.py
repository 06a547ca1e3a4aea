"""Regenerate the all-modes scenario: one real e2e run in which every failure mode of fivewhys'
rule library happens, against local stand-ins of a Cloud Run service.

Starts, on 127.0.0.1 only (see README.md):

    instance A      the scenario app, revision 00042, behind a TimeoutProxy (request timeout 3 s)
    instance B      a second instance of revision 00042, watched by a MemoryWatchdog (256 MiB)
    revision 00043  behind a NoInstanceFrontend: every request starts an instance of the app
                    with --require-redis-host, which exits with code 3; the request is aborted
    traffic.py      other users through the frontend, hitting the same bugs (noise)

runs the e2e suite in `e2e/`, stops everything, and converts what the processes wrote into
Cloud Logging LogEntry JSON with the bundled example's converter (`examples/generate.py`).
Cloud Run's own entries, which no local process writes, are synthesized from what really
happened: the request logs of the aborted requests ("no available instance"), "Container called
exit(3)." from each crashed instance's real exit code, "Memory limit of 256 MiB exceeded with N
MiB used." and "Container terminated on signal 9." from the watchdog's real kill and measured
size, and "Starting new instance" when an instance starts.

Writes under --out (default: this directory): results/junit.xml, results/report-log.jsonl,
logs/gcloud-read.json, logs/sink.ndjson and truth.json.

Usage: ``python examples/scenarios/all-modes/generate.py [--out DIR]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from frontend import HeldRequest, MemoryWatchdog, NoInstanceFrontend, TimeoutProxy, free_closed_port

SCENARIO = Path(__file__).resolve().parent
EXAMPLES = SCENARIO.parents[1]
APP = SCENARIO / "app.py"
E2E = SCENARIO / "e2e"
TRAFFIC = EXAMPLES / "traffic.py"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _load(EXAMPLES / "generate.py", "fivewhys_example_generate")
base_app = _load(EXAMPLES / "app" / "app.py", "fivewhys_example_app")

REQUEST_TIMEOUT_S = 3.0
HOLD_S = 2.0
MEMORY_LIMIT_MIB = 256
SERVICE = gen.SERVICE
REVISION_OK = gen.REVISION
REVISION_NEW = "chat-backend-00043-bad"
PROJECT_ID = gen.PROJECT_ID
LOG_PREFIX = gen.LOG_PREFIX
CONTAINER = f"{SERVICE}-1"
ABORTED_TEXT = (
    "The request was aborted because there was no available instance. Additional "
    "troubleshooting documentation can be found at: "
    "https://cloud.google.com/run/docs/troubleshooting#abort-request"
)
DEPLOY_STARTUP_TEXT = (
    "Starting new instance. Reason: DEPLOYMENT_ROLLOUT - Instance started due to traffic "
    "shifting between revisions or scaling up."
)


def resource(revision: str) -> dict[str, Any]:
    return {**gen.RESOURCE, "labels": {**gen.RESOURCE["labels"], "revision_name": revision}}


def instance_id(tag: str) -> str:
    """A Cloud Run-shaped instance id (long hex), distinct per instance of the scenario."""
    return (gen.INSTANCE_ID[: -len(tag)] + tag) if tag else gen.INSTANCE_ID


@dataclass
class CrashingInstance:
    """One instance of the next revision: started by a request, exits on its own."""

    run: Any
    exit_code: int | None = None
    exited_ns: int = 0


@dataclass
class NewRevision:
    """Revision 00043: each request starts an instance in the background, as Cloud Run does."""

    app_args: list[str]
    env: dict[str, str]
    instances: list[CrashingInstance] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start_instance(self) -> None:
        instance = CrashingInstance(
            gen.AppRun(app=APP, args=[*self.app_args, "--require-redis-host"], env=self.env)
        )
        self.instances.append(instance)
        thread = threading.Thread(target=self._run, args=(instance,), daemon=True)
        thread.start()
        self._threads.append(thread)

    @staticmethod
    def _run(instance: CrashingInstance) -> None:
        instance.run.start(wait_ready=False)
        instance.exit_code = instance.run.wait(30)
        instance.exited_ns = time.time_ns()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(30)


# --- Cloud Run's own entries, from what happened -------------------------------------------------


def _system(text: str, severity: str, at_ns: int, revision: str, instance: str) -> dict[str, Any]:
    return {
        "logName": LOG_PREFIX + "varlog%2Fsystem",
        "severity": severity,
        "textPayload": text,
        "timestamp": gen.rfc3339_ns(at_ns),
        "resource": resource(revision),
        "labels": {"instanceId": instance, "container_name": CONTAINER},
    }


def aborted_request(held: HeldRequest) -> dict[str, Any]:
    """The request log Cloud Run writes for a request no instance could take."""
    entry: dict[str, Any] = {
        "logName": LOG_PREFIX + "requests",
        "severity": "ERROR",
        "textPayload": ABORTED_TEXT,
        "timestamp": gen.rfc3339_ns(held.started_ns),
        "resource": resource(REVISION_NEW),
        "httpRequest": {
            "requestMethod": held.method,
            "requestUrl": base_app.PUBLIC_URL + held.path,
            "status": 503,
            "latency": f"{held.latency_s:.6f}s",
            "userAgent": held.headers.get("user-agent", ""),
            "protocol": "HTTP/1.1",
        },
    }
    parsed = base_app.parse_trace_header(held.headers.get("x-cloud-trace-context"))
    if parsed is not None:
        entry["trace"] = f"projects/{PROJECT_ID}/traces/{parsed[0]}"
    return entry


def to_entries(
    instance_a: Any,
    instance_b: Any,
    kill: Any,
    new_revision: NewRevision,
    held: Iterable[HeldRequest],
) -> list[dict[str, Any]]:
    """Every process's output and Cloud Run's own entries, as one sorted list of LogEntries."""
    shaped: list[tuple[int, dict[str, Any]]] = []
    ok = resource(REVISION_OK)
    shaped += gen.shape_entries(instance_a.lines, instance_a.started_ns, resource=ok)
    b_id = instance_id("b0b0")
    shaped += [
        (seq + 1_000_000, entry)
        for seq, entry in gen.shape_entries(
            instance_b.lines, instance_b.started_ns, resource=ok, instance_id=b_id
        )
    ]
    if kill is not None:
        text = (
            f"Memory limit of {kill.limit_mib} MiB exceeded with {kill.used_mib} MiB used. "
            "Consider increasing the memory limit, see "
            "https://cloud.google.com/run/docs/configuring/memory-limits"
        )
        shaped.append((1_999_998, _system(text, "ERROR", kill.at_ns, REVISION_OK, b_id)))
        killed = _system(
            "Container terminated on signal 9.", "WARNING", kill.at_ns + 1000, REVISION_OK, b_id
        )
        shaped.append((1_999_999, killed))
    for number, instance in enumerate(new_revision.instances, start=1):
        c_id = instance_id(f"c{number:03d}")
        offset = (number + 1) * 1_000_000
        shaped += [
            (seq + offset, entry)
            for seq, entry in gen.shape_entries(
                instance.run.lines,
                instance.run.started_ns,
                resource=resource(REVISION_NEW),
                instance_id=c_id,
                startup_text=DEPLOY_STARTUP_TEXT,
            )
        ]
        if instance.exit_code is not None:
            text = f"Container called exit({instance.exit_code})."
            exit_entry = _system(text, "WARNING", instance.exited_ns, REVISION_NEW, c_id)
            shaped.append((offset + 999_999, exit_entry))
    shaped += [(90_000_000 + n, aborted_request(h)) for n, h in enumerate(held)]
    return gen.finalize_entries(shaped)


# --- ground truth --------------------------------------------------------------------------------


def _payload(entry: dict[str, Any]) -> dict[str, Any]:
    payload = entry.get("jsonPayload")
    return payload if isinstance(payload, dict) else {}


def _trace(entry: dict[str, Any]) -> str | None:
    trace = entry.get("trace")
    return str(trace).rsplit("/", 1)[-1] if trace else None


def _app_line(prefix: str, key: str) -> Callable[[dict[str, Any], dict[str, str]], bool]:
    """The app's line starting with `prefix` that carries the test's own `key`."""

    def found(entry: dict[str, Any], ids: dict[str, str]) -> bool:
        payload = _payload(entry)
        own = _trace(entry) if key == "trace" else payload.get(key)
        return str(payload.get("message", "")).startswith(prefix) and own == ids.get(key)

    return found


def _request(status: int, **extra: Any) -> Callable[[dict[str, Any], dict[str, str]], bool]:
    """The request log of the test's own trace with `status` (and text, latency if given)."""

    def found(entry: dict[str, Any], ids: dict[str, str]) -> bool:
        http = entry.get("httpRequest") or {}
        if http.get("status") != status or _trace(entry) != ids.get("trace"):
            return False
        if "text" in extra and entry.get("textPayload") != extra["text"]:
            return False
        latency = float(str(http.get("latency", "0s")).rstrip("s"))
        return latency >= extra.get("min_latency_s", 0.0)

    return found


def _memory_kill(entry: dict[str, Any], ids: dict[str, str]) -> bool:
    return str(entry.get("textPayload", "")).startswith("Memory limit of")


@dataclass(frozen=True)
class Fault:
    """The fault a test was written to hit: the rule that should explain it, and its evidence."""

    rule: str
    evidence: Callable[[dict[str, Any], dict[str, str]], bool] | None
    chain: tuple[str, ...] = ()


#: test function -> the fault it hits. `evidence` finds the one true line in the logs by the
#: test's own ids (or, for Cloud Run's id-less system lines, by what the generator did).
FAULTS: dict[str, Fault] = {
    "test_admin_stats_are_private": Fault("client-side-test-failure", None),
    "test_agent_start_streams_events": Fault(
        "ws-handler-error-main-cleanup", _app_line("Message handler error", "connection_id")
    ),
    "test_planner_agent_answers": Fault(
        "ws-agent-handler-1011", _app_line("Agent 'planner' timed out", "connection_id")
    ),
    "test_agent_catalog_lists_agents": Fault("http-redirect-307", _request(307)),
    "test_discovery_services_lists_agents": Fault(
        "http-5xx-dependency-refused", _request(500), ("config-env-var-missing",)
    ),
    "test_chat_thread_bootstraps": Fault(
        "ws-factory-validation-1011", _app_line("Factory SSOT validation failed", "connection_id")
    ),
    "test_ping_reply_format": Fault("client-side-test-failure", None),
    "test_chat_after_deploy": Fault(
        "run-no-instance-timeout",
        _request(503, text=ABORTED_TEXT),
        ("instance-startup-failed", "config-env-var-missing"),
    ),
    "test_health_after_deploy": Fault(
        "run-no-instance-timeout",
        _request(503, text=ABORTED_TEXT),
        ("instance-startup-failed", "config-env-var-missing"),
    ),
    "test_export_keeps_connection": Fault(
        "ws-keepalive-ping-timeout", _app_line("Slow message handler", "connection_id")
    ),
    "test_full_history_loads": Fault("instance-memory-limit-exceeded", _memory_kill),
    "test_presence_lists_online_users": Fault(
        "server-error-no-rule", _app_line("Presence tracker crashed", "connection_id")
    ),
    "test_expired_session_can_reconnect": Fault(
        "ws-handshake-auth-403", _app_line("WebSocket auth rejected", "trace")
    ),
    "test_legacy_client_connects": Fault("ws-handshake-bad-request-400", _request(400)),
    "test_event_stream_stays_open": Fault(
        "ws-request-timeout-cut", _request(101, min_latency_s=REQUEST_TIMEOUT_S - 0.5)
    ),
}


def compute_truth(
    failures: dict[str, dict[str, str]], entries: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per failing test: the fault's rule, the insertId of its one true line, its chain."""
    truth: dict[str, dict[str, Any]] = {}
    if {nodeid.rsplit("::", 1)[-1] for nodeid in failures} != set(FAULTS):
        raise gen.GenerationError(f"expected exactly these tests to fail: {sorted(FAULTS)}")
    for nodeid, recorded in sorted(failures.items()):
        fault = FAULTS[nodeid.rsplit("::", 1)[-1]]
        insert_id: str | None = None
        if fault.evidence is not None:
            finder = fault.evidence
            hits = [e["insertId"] for e in entries if finder(e, recorded)]
            if len(hits) != 1:
                raise gen.GenerationError(f"{nodeid}: expected one evidence line, found {hits}")
            insert_id = hits[0]
        truth[nodeid] = {"rule": fault.rule, "insert_id": insert_id, "chain": list(fault.chain)}
    return truth


# --- main ----------------------------------------------------------------------------------------


def generate(out: Path, suite_timeout_s: float = 120.0) -> dict[str, dict[str, Any]]:
    results, logs = out / "results", out / "logs"
    results.mkdir(parents=True, exist_ok=True)
    junit, report_log = results / "junit.xml", results / "report-log.jsonl"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_HOST", "FIVEWHYS_SCENARIO_ADMIN_TOKEN")
    }
    app_args = ["--redis-port", str(free_closed_port())]
    instance_a = gen.AppRun(app=APP, args=app_args, env=env)
    instance_b = gen.AppRun(app=APP, args=app_args, env=env)
    new_revision = NewRevision(app_args, env)
    instance_a.start()
    instance_b.start()
    proxy = TimeoutProxy(instance_a.url, REQUEST_TIMEOUT_S)
    held_frontend = NoInstanceFrontend(new_revision.start_instance, HOLD_S)
    watchdog = MemoryWatchdog(instance_b.pid, MEMORY_LIMIT_MIB)
    traffic: subprocess.Popen[bytes] | None = None
    try:
        proxy.start()
        held_frontend.start()
        watchdog.start()
        traffic = subprocess.Popen(
            [sys.executable, str(TRAFFIC), "--url", proxy.url],
            cwd=gen.REPO,
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.3)  # Let other users' traffic be under way before the suite starts.
        code = gen.run_suite(
            proxy.url,
            junit,
            report_log,
            suite_timeout_s,
            suite=E2E,
            extra_env={
                "FIVEWHYS_SCENARIO_URL": proxy.url,
                "FIVEWHYS_SCENARIO_INSTANCE_B_URL": instance_b.url,
                "FIVEWHYS_SCENARIO_NEW_REVISION_URL": held_frontend.url,
            },
        )
        if code not in (0, 1):
            raise gen.GenerationError(f"the scenario suite did not run cleanly (exit {code})")
    finally:
        if traffic is not None:
            gen.stop_process(traffic, 10.0)
        watchdog.stop()
        held_frontend.stop()
        proxy.stop()
        new_revision.join()
        instance_a.stop()
        instance_b.stop()
    if watchdog.kill is None:
        raise gen.GenerationError("the memory watchdog never killed instance B")
    entries = to_entries(instance_a, instance_b, watchdog.kill, new_revision, held_frontend.held)
    gen.write_logs(entries, logs)
    truth = compute_truth(gen.failed_tests(report_log), entries)
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    for written in (junit, report_log, logs / "gcloud-read.json", logs / "sink.ndjson"):
        gen.scrub_machine_paths(written)
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
    found = sum(1 for t in truth.values() if t["insert_id"])
    print(
        f"generate.py: {len(truth)} failing tests, {found} with server evidence, "
        f"{time.monotonic() - started:.1f}s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
