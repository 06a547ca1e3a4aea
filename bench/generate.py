"""A seeded Cloud Run scenario: N log entries (NDJSON sink), F failures (pytest-reportlog), truth.

The service is a WebSocket + HTTP chat backend under load. Most lines belong to background
users' sessions (their own connection_id / user_id / trace), some carry ids only in the message
text, some none at all (access lines, tracebacks, the platform's system log), a few are ANSI
loguru lines. Background users also hit the same errors the failing tests hit (decoys): only the
key ladder tells them apart. Each failing test has one failure mode; `truth.json` lists the
lines that prove its cause (first the one a report should cite), empty when the server has
nothing to do with it, and whether an id ties them to the test (`keyed`).

Same scenario and seed, same bytes. `python -m bench.generate --help` for the options.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: bump when the generated data changes, so cached scenarios are regenerated
GENERATOR_VERSION = 3

PROJECT = "fivewhys-bench"
SERVICE = "chat-backend"
HOST = "chat-backend-bench.a.run.app"
T0_US = 1_757_246_400 * 1_000_000  # 2025-09-07T12:00:00Z
_DAY = "2025-09-07"
_DAY_START_US = T0_US - 12 * 3600 * 1_000_000

#: failure mode -> share of the failures
MODES: dict[str, float] = {
    "factory_1011": 0.30,  # ERROR "Factory SSOT validation failed" on the connection
    "handler_1000": 0.25,  # ERROR "Message handler error" on the connection, then a cleanup
    "auth_403": 0.20,  # WARNING "auth rejected" for the user + the /ws 403 request log
    "server_500": 0.10,  # the request log 500 (by trace) + a Redis traceback (no id)
    "redirect_307": 0.05,  # the client has no id: only time ties the 307 request log
    "assertion": 0.10,  # the test itself: no server cause may be invented
}


@dataclass(frozen=True)
class Scenario:
    """What to generate. Tests run back to back over `span_s` seconds of logs."""

    entries: int = 1_000_000
    failures: int = 1_000
    tests: int = 5_000
    seed: int = 6
    span_s: int = 3600

    @property
    def name(self) -> str:
        return f"n{self.entries}-f{self.failures}-t{self.tests}-s{self.seed}"


@dataclass(frozen=True)
class ScenarioFiles:
    """Where a generated scenario lives."""

    directory: Path
    logs: Path
    results: Path
    truth: Path


def files_of(directory: Path) -> ScenarioFiles:
    return ScenarioFiles(
        directory,
        directory / "logs.ndjson",
        directory / "report-log.jsonl",
        directory / "truth.json",
    )


def ensure(scenario: Scenario, root: Path) -> ScenarioFiles:
    """The scenario's files under `root`, generated unless an identical scenario is there."""
    directory = root / scenario.name
    stamp = directory / "scenario.json"
    wanted = json.dumps({"version": GENERATOR_VERSION, **asdict(scenario)}, sort_keys=True)
    files = files_of(directory)
    if stamp.is_file() and stamp.read_text() == wanted and files.logs.is_file():
        return files
    generate(scenario, directory)
    stamp.write_text(wanted)
    return files


# --- formatting ----------------------------------------------------------------------------------


def _ts(us: int, nanos: bool = False) -> str:
    """RFC 3339 UTC; gcloud writes 6 or 9 fractional digits (the fast path must take both)."""
    rest = us - _DAY_START_US
    seconds, micros = divmod(rest, 1_000_000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    frac = f"{micros:06d}{us % 7 * 100 + 17:03d}" if nanos else f"{micros:06d}"
    return f"{_DAY}T{hours:02d}:{minute:02d}:{sec:02d}.{frac}Z"


_q = json.dumps  # JSON string literal of a str


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


@dataclass
class _Session:
    """One WebSocket session: its ids and when it lived."""

    conn: str
    user: str
    trace: str
    thread: str
    start: int
    end: int


class _Log:
    """Builds LogEntry lines (keys sorted, as sinks write them) and keeps them with emit times."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.lines: list[tuple[int, int, str]] = []
        self.count = 0
        prefix = _hex(rng, 6)
        self.prefix = prefix
        revision = f"{SERVICE}-00042-xaz"
        self.resource = (
            '"resource":{"labels":{"location":"us-central1",'
            f'"project_id":"{PROJECT}","revision_name":"{revision}","service_name":"{SERVICE}"'
            '},"type":"cloud_run_revision"}'
        )
        self.instances = [
            '"labels":{"instanceId":"0069c7a988' + _hex(rng, 22) + '"}' for _ in range(4)
        ]
        base = f'"logName":"projects/{PROJECT}/logs/'
        self.log_names = {
            "request": base + 'run.googleapis.com%2Frequests"',
            "stdout": base + 'run.googleapis.com%2Fstdout"',
            "stderr": base + 'run.googleapis.com%2Fstderr"',
            "system": base + 'run.googleapis.com%2Fvarlog%2Fsystem"',
        }

    def _common(self, kind: str) -> tuple[str, str, str, str]:
        """insertId, labels, logName and resource fragments."""
        self.count += 1
        insert_id = f"{self.prefix}{self.count:012x}"
        return insert_id, self.instances[self.count % 4], self.log_names[kind], self.resource

    def _trace(self, trace: str | None) -> str:
        if trace is None:
            return ""
        return f',"spanId":"{_hex(self.rng, 16)}","trace":"projects/{PROJECT}/traces/{trace}"'

    def request(
        self,
        at: int,
        path: str,
        status: int,
        latency_us: int,
        trace: str | None,
        method: str = "GET",
        agent: str = "python-httpx/0.28.1",
        scheme: str = "https",
    ) -> str:
        """A Cloud Run request log, written when the response (or the WebSocket) ended."""
        insert_id, labels, log_name, tail = self._common("request")
        severity = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
        seconds, micros = divmod(latency_us, 1_000_000)
        http = (
            f'"httpRequest":{{"latency":"{seconds}.{micros:06d}{latency_us % 997:03d}s",'
            f'"protocol":"HTTP/1.1","remoteIp":"68.5.{at % 250}.{at % 199}",'
            f'"requestMethod":"{method}","requestSize":"{300 + at % 200}",'
            f'"requestUrl":"{scheme}://{HOST}{path}","responseSize":"{at % 5000}",'
            f'"serverIp":"34.54.41.44","status":{status},"userAgent":"{agent}"}}'
        )
        line = (
            f'{{{http},"insertId":"{insert_id}",{labels},{log_name},{tail},'
            f'"severity":"{severity}"{self._trace(trace)},"timestamp":"{_ts(at)}"}}'
        )
        self.lines.append((at + latency_us, self.count, line))
        return insert_id

    def structured(
        self,
        at: int,
        severity: str,
        message: str,
        logger: str,
        conn: str | None = None,
        user: str | None = None,
        trace: str | None = None,
        kind: str = "stdout",
    ) -> str:
        """A JSON log line of the app; Cloud Run lifts its trace into the entry."""
        insert_id, labels, log_name, tail = self._common(kind)
        fields = f'"connection_id":"{conn}",' if conn else ""
        fields += f'"logger":"{logger}","message":{_q(message)}'
        fields += f',"user_id":"{user}"' if user else ""
        line = (
            f'{{"insertId":"{insert_id}","jsonPayload":{{{fields}}},{labels},{log_name},{tail},'
            f'"severity":"{severity}"{self._trace(trace)},"timestamp":"{_ts(at)}"}}'
        )
        self.lines.append((at, self.count, line))
        return insert_id

    def text(self, at: int, kind: str, text: str, severity: str | None = None) -> str:
        """A textPayload line (stdout/stderr text, or the platform's system log)."""
        insert_id, labels, log_name, tail = self._common(kind)
        sev = f'"severity":"{severity}",' if severity else ""
        line = (
            f'{{"insertId":"{insert_id}",{labels},{log_name},{tail},{sev}'
            f'"textPayload":{_q(text)},"timestamp":"{_ts(at, nanos=True)}"}}'
        )
        self.lines.append((at, self.count, line))
        return insert_id


# --- catalogs ------------------------------------------------------------------------------------

_SESSION_MESSAGES = (
    "Message received: type={mtype} ({n} bytes)",
    "Sent {n} events to client",
    "Agent {agent} started for thread {thread}",
    "Thread {thread} loaded: {n} messages",
    "Heartbeat ok, rtt={n}ms",
    "Message handler finished in {n}ms",
    "Tool call {agent}.search returned {n} results",
)
_TEXT_ID_MESSAGES = (
    "Broadcast to connection_id={conn}: {n} subscribers",
    "Rate limit check passed for user_id={user} ({n}/60)",
    "Session refreshed user_id={user} connection_id={conn}",
)
_API_PATHS = (
    "/api/threads",
    "/api/threads/{thread}/messages",
    "/api/agents",
    "/api/users/me",
    "/api/threads?limit=20",
)
_TRACEBACKS = (
    "Traceback (most recent call last):\n"
    '  File "/app/chat/workers.py", line 88, in flush\n'
    "    await self.redis.xadd(stream, fields)\n"
    "redis.exceptions.TimeoutError: Timeout reading from 10.8.0.3:6379",
    "Traceback (most recent call last):\n"
    '  File "/app/chat/agents/runner.py", line 141, in run\n'
    "    result = await asyncio.wait_for(step, timeout=30)\n"
    "asyncio.exceptions.CancelledError",
    "Task exception was never retrieved\n"
    "future: <Task finished name='Task-{n}' coro=<Notifier.push() done>"
    " exception=ConnectionResetError(104, 'Connection reset by peer')>",
)
_SYSTEM = (
    ("INFO", "Starting new instance. Reason: AUTOSCALING - Instance started due to traffic."),
    (
        "INFO",
        'STARTUP TCP probe succeeded after 1 attempt for container "chat-backend-1" on port 8080.',
    ),
    ("WARNING", "Container terminated on signal 15."),
)
_AGENTS = ("triage", "summarizer", "planner")
_MTYPES = ("chat_message", "start_agent", "ping", "typing")
_REDIS_500 = (
    "Traceback (most recent call last):\n"
    '  File "/app/chat/discovery.py", line 52, in list_services\n'
    '    services = await redis.hgetall("services")\n'
    "redis.exceptions.ConnectionError: Error 111 connecting to 10.8.0.3:6379. Connection refused."
)


def _fill(rng: random.Random, template: str, s: _Session) -> str:
    return template.format(
        mtype=rng.choice(_MTYPES),
        n=rng.randrange(1, 900),
        agent=rng.choice(_AGENTS),
        thread=s.thread,
        conn=s.conn,
        user=s.user,
    )


# --- the scenario --------------------------------------------------------------------------------


def _session(rng: random.Random, start: int, end: int) -> _Session:
    return _Session(
        conn=f"conn_{_hex(rng, 12)}",
        user=f"usr_{_hex(rng, 8)}",
        trace=_hex(rng, 32),
        thread=f"thr_{_hex(rng, 10)}",
        start=start,
        end=end,
    )


def _background(log: _Log, rng: random.Random, lines: int, start: int, end: int) -> None:
    """`lines` entries of other users' traffic and of the platform, spread over [start, end)."""
    span = end - start
    session_lines = int(lines * 0.85)
    sessions = max(1, session_lines // 16)
    made = 0
    for number in range(sessions):
        begin = start + rng.randrange(span)
        life = min(int(rng.expovariate(1 / 60) * 1_000_000) + 2_000_000, end - begin + 1)
        s = _session(rng, begin, begin + life)
        log.request(begin, "/ws", 101, life, s.trace, agent="Chat-Web/2.3")
        share = session_lines // sessions + (number < session_lines % sessions) - 1
        for _ in range(share):
            at = begin + rng.randrange(life)
            pick = rng.random()
            if pick < 0.72:
                message = _fill(rng, rng.choice(_SESSION_MESSAGES), s)
                log.structured(at, "INFO", message, "chat.ws", s.conn, s.user, s.trace)
            elif pick < 0.82:
                message = _fill(rng, rng.choice(_TEXT_ID_MESSAGES), s)
                log.structured(at, "INFO", message, "chat.fanout", trace=s.trace)
            elif pick < 0.985:
                path = rng.choice(_API_PATHS).format(thread=s.thread)
                status = 200 if rng.random() < 0.97 else 404
                log.request(at, path, status, rng.randrange(2_000, 400_000), _hex(rng, 32))
            else:
                _decoy(log, rng, at, s)
        made += share + 1
    for _ in range(lines - made):
        _platform(log, rng, start + rng.randrange(span))


def _decoy(log: _Log, rng: random.Random, at: int, s: _Session) -> None:
    """The errors the failing tests hit, hitting a background user: only their ids differ."""
    pick = rng.randrange(4)
    if pick == 0:
        message = (
            "Factory SSOT validation failed: user context missing 'thread_id' "
            f"(connection_id={s.conn}, user_id={s.user})"
        )
        log.structured(at, "ERROR", message, "chat.ws", s.conn, s.user, s.trace)
    elif pick == 1:
        message = f"Message handler error: KeyError('agent_name') (connection_id={s.conn})"
        log.structured(at, "ERROR", message, "chat.ws", s.conn, s.user, s.trace)
    elif pick == 2:
        message = f"WebSocket auth rejected: JWT expired for user_id={s.user}"
        log.structured(at, "WARNING", message, "chat.auth", user=s.user, trace=s.trace)
    else:
        log.request(at, "/ws", 403, 3_000, s.trace, agent="Chat-Web/2.3")


def _platform(log: _Log, rng: random.Random, at: int) -> None:
    """Lines without any id: health checks, access lines, tracebacks, system, loguru."""
    pick = rng.random()
    if pick < 0.30:
        log.request(
            at, "/health", 200, rng.randrange(500, 5_000), _hex(rng, 32), agent="GoogleHC/1.0"
        )
    elif pick < 0.65:
        path = rng.choice(("/health", "/api/agents", "/ws"))
        verb, status = ("WebSocket", 101) if path == "/ws" else ("GET", 200)
        text = f'169.254.1.1:{rng.randrange(30000, 60000)} - "{verb} {path} HTTP/1.1" {status}'
        log.text(at, "stdout", text)
    elif pick < 0.85:
        text = rng.choice(_TRACEBACKS).replace("{n}", str(rng.randrange(100, 99999)))
        log.text(at, "stderr", text, "ERROR")
    elif pick < 0.92:
        severity, text = rng.choice(_SYSTEM)
        log.text(at, "system", text, severity)
    elif pick < 0.935:
        stamp = _ts(at)[11:23]
        text = (
            f"\x1b[32m{_DAY} {stamp}\x1b[0m | \x1b[1mINFO    \x1b[0m | "
            f"chat.pool:stats:42 - pool in_use={rng.randrange(20)} idle={rng.randrange(20)}"
        )
        log.text(at, "stdout", text)
    else:
        text = f"Worker heartbeat: {rng.randrange(10, 99)} tasks queued"
        log.text(at, "stdout", text, "INFO")


@dataclass
class _Test:
    nodeid: str
    mode: str | None
    session: _Session
    setup: tuple[int, int]
    call: tuple[int, int]
    teardown: tuple[int, int]
    truth: dict[str, Any]


#: failure modes that end the test the moment the server answers
_QUICK = ("auth_403", "server_500", "redirect_307")
_MODULE_OF = {
    "factory_1011": "test_chat.py",
    "handler_1000": "test_agents.py",
    "auth_403": "test_session.py",
    "server_500": "test_discovery.py",
    "redirect_307": "test_health.py",
    "assertion": "test_chat.py",
}


def _modes(rng: random.Random, failures: int) -> list[str]:
    counts = {mode: int(share * failures) for mode, share in MODES.items()}
    counts["assertion"] += failures - sum(counts.values())
    modes = [mode for mode, count in counts.items() for _ in range(count)]
    rng.shuffle(modes)
    return modes


def _tests(log: _Log, rng: random.Random, scenario: Scenario) -> list[_Test]:
    """The e2e run: tests back to back, the server lines of each, the failures' evidence."""
    failing = dict(
        zip(
            sorted(rng.sample(range(scenario.tests), scenario.failures)),
            _modes(rng, scenario.failures),
            strict=True,
        )
    )
    start = T0_US + 20_000_000
    each = (scenario.span_s - 40) * 1_000_000 // scenario.tests
    tests: list[_Test] = []
    for index in range(scenario.tests):
        mode = failing.get(index)
        length = int(each * rng.uniform(0.6, 1.4))
        setup = (start, start + 8_000)
        call = (setup[1] + 1_000, start + length - 6_000)
        if mode in _QUICK:  # a refused handshake or an HTTP error ends the test at once
            call = (call[0], min(call[1], call[0] + rng.randrange(30_000, 200_000)))
        teardown = (call[1] + 500, call[1] + 5_000)
        s = _session(rng, call[0], call[1])
        module = _MODULE_OF[mode] if mode else rng.choice(("test_chat.py", "test_agents.py"))
        nodeid = f"tests/e2e/{module}::test_{(mode or 'flow').split('_')[0]}_{index:05d}"
        truth = _server_side(log, rng, mode, s, call)
        tests.append(_Test(nodeid, mode, s, setup, call, teardown, truth))
        start += length
    return tests


def _server_side(
    log: _Log, rng: random.Random, mode: str | None, s: _Session, call: tuple[int, int]
) -> dict[str, Any]:
    """The test's own server lines; returns the truth for a failing test."""
    begin, stop = call
    connect = begin + 4_000
    if mode == "auth_403":
        message = f"WebSocket auth rejected: JWT expired for user_id={s.user}"
        proof = log.structured(connect, "WARNING", message, "chat.auth", user=s.user, trace=s.trace)
        agent = "Python/3.11 websockets/15.0"
        request = log.request(connect - 1_000, "/ws", 403, 3_000, s.trace, agent=agent)
        return _truth(mode, proof, request)
    if mode == "server_500":
        at = begin + (stop - begin) // 2
        proof = log.request(at, "/api/discovery/services", 500, 12_000, s.trace)
        traceback = log.text(at + 9_000, "stderr", _REDIS_500, "ERROR")
        return _truth(mode, proof, traceback)
    if mode == "redirect_307":
        proof = log.request(begin + 2_000, "/health", 307, 1_000, _hex(rng, 32), scheme="http")
        return _truth(mode, proof, keyed=False)
    close = stop - rng.randrange(5_000, 40_000)
    agent = "Python/3.11 websockets/15.0"
    log.request(connect, "/ws", 101, close - connect, s.trace, agent=agent)
    hello = f"WebSocket connected (connection_id={s.conn}, user_id={s.user})"
    log.structured(connect + 300, "INFO", hello, "chat.ws", s.conn, s.user, s.trace)
    for _ in range(rng.randrange(1, 4)):
        at = connect + 1_000 + rng.randrange(max(1, close - connect - 10_000))
        message = _fill(rng, rng.choice(_SESSION_MESSAGES), s)
        log.structured(at, "INFO", message, "chat.ws", s.conn, s.user, s.trace)
    if mode == "factory_1011":
        message = (
            "Factory SSOT validation failed: user context missing 'thread_id' "
            f"(connection_id={s.conn}, user_id={s.user})"
        )
        proof = log.structured(close - 2_000, "ERROR", message, "chat.ws", s.conn, s.user, s.trace)
        return _truth(mode, proof)
    if mode == "handler_1000":
        message = f"Message handler error: KeyError('agent_name') (connection_id={s.conn})"
        proof = log.structured(close - 3_000, "ERROR", message, "chat.ws", s.conn, s.user, s.trace)
        cleanup = f"Closing connection: main cleanup (connection_id={s.conn})"
        closing = log.structured(close - 1_000, "INFO", cleanup, "chat.ws", s.conn, s.user, s.trace)
        return _truth(mode, proof, closing)
    return _truth(mode or "passed")


def _truth(mode: str, *evidence: str, keyed: bool = True) -> dict[str, Any]:
    return {"mode": mode, "evidence": list(evidence), "keyed": keyed and bool(evidence)}


# --- the report log ------------------------------------------------------------------------------

_CLIENT_MESSAGES = {
    "factory_1011": "websockets.exceptions.ConnectionClosedError: received 1011 (internal error) "
    "Internal error; then sent 1011 (internal error) Internal error",
    "handler_1000": "websockets.exceptions.ConnectionClosedOK: received 1000 (OK) main cleanup; "
    "then sent 1000 (OK) main cleanup",
    "auth_403": "websockets.exceptions.InvalidStatus: server rejected WebSocket connection: "
    "HTTP 403",
    "server_500": f"httpx.HTTPStatusError: Server error '500 Internal Server Error' for url "
    f"'https://{HOST}/api/discovery/services'\nFor more information check: "
    "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/500",
    "redirect_307": f"httpx.HTTPStatusError: Redirect response '307 Temporary Redirect' for url "
    f"'http://{HOST}/health'\nRedirect location: 'https://{HOST}/health'\nFor more information "
    "check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/307",
    "assertion": "AssertionError: assert 'pong' == 'ping'\n  \n  - ping\n  + pong",
}
_CRASH_PATH = ".venv/lib/python3.11/site-packages/websockets/sync/connection.py"


def _longrepr(test: _Test, rng: random.Random) -> dict[str, Any]:
    mode = test.mode or "assertion"
    message = _CLIENT_MESSAGES[mode]
    s = test.session
    if mode in ("server_500",):
        arg = ["api", f"ApiClient(user_id='{s.user}', trace='{s.trace}')"]
    elif mode == "redirect_307":
        arg = ["client", f"<httpx.Client object at 0x7f{_hex(rng, 10)}>"]
    else:
        conn = "None" if mode == "auth_403" else f"'{s.conn}'"
        arg = [
            "chat",
            f"ChatSession(user_id='{s.user}', trace='{s.trace}', span={rng.getrandbits(60)}, "
            f"thread_id='{s.thread}', connection_id={conn})",
        ]
    path, line = test.nodeid.split("::")[0], 20 + len(test.nodeid) % 30
    entries = [
        {
            "type": "ReprEntry",
            "data": {
                "lines": [
                    f"    def {test.nodeid.split('::')[1]}(chat: ChatSession) -> None:",
                    "        with chat.open() as ws:",
                    '            ws.send(json.dumps({"type": "chat_message", "text": "hello"}))',
                    ">           event = recv_json(ws)",
                ],
                "reprfuncargs": {"args": [arg]},
                "reprlocals": None,
                "reprfileloc": {"path": path, "lineno": line, "message": ""},
                "style": "long",
            },
        },
        {
            "type": "ReprEntry",
            "data": {
                "lines": [
                    "    raise self.protocol.close_exc from self.recv_exc",
                    "E   " + message.splitlines()[0],
                ],
                "reprfuncargs": None,
                "reprlocals": None,
                "reprfileloc": {
                    "path": _CRASH_PATH,
                    "lineno": 354,
                    "message": message.split(":")[0],
                },
                "style": "long",
            },
        },
    ]
    crash = {"path": _CRASH_PATH, "lineno": 354, "message": message}
    traceback = {"reprentries": entries, "extraline": None, "style": "long"}
    return {
        "reprcrash": crash,
        "reprtraceback": traceback,
        "sections": [],
        "chain": [[traceback, crash, None]],
    }


def _report(test: _Test, when: str, phase: tuple[int, int], outcome: str, longrepr: Any) -> str:
    name = test.nodeid.split("::")[1]
    record = {
        "nodeid": test.nodeid,
        "location": [test.nodeid.split("::")[0], 10, name],
        "keywords": {name: 1, test.nodeid.split("/")[-1].split("::")[0]: 1, "e2e": 1},
        "outcome": outcome,
        "longrepr": longrepr,
        "when": when,
        "user_properties": [],
        "sections": [],
        "duration": (phase[1] - phase[0]) / 1e6,
        "start": phase[0] / 1e6,
        "stop": phase[1] / 1e6,
        "$report_type": "TestReport",
    }
    return json.dumps(record)


def _reportlog(tests: list[_Test], rng: random.Random) -> str:
    lines = ['{"pytest_version": "9.2.0", "$report_type": "SessionStart"}']
    for test in tests:
        lines.append(_report(test, "setup", test.setup, "passed", None))
        if test.mode:
            lines.append(_report(test, "call", test.call, "failed", _longrepr(test, rng)))
        else:
            lines.append(_report(test, "call", test.call, "passed", None))
        lines.append(_report(test, "teardown", test.teardown, "passed", None))
    lines.append('{"exitstatus": 1, "$report_type": "SessionFinish"}')
    return "\n".join(lines) + "\n"


def generate(scenario: Scenario, directory: Path) -> ScenarioFiles:
    """Write the scenario's logs, report log and truth into `directory`."""
    if scenario.failures > scenario.tests:
        raise ValueError("more failures than tests")
    rng = random.Random(scenario.seed)
    log = _Log(rng)
    tests = _tests(log, rng, scenario)
    end = T0_US + scenario.span_s * 1_000_000
    _background(log, rng, max(0, scenario.entries - len(log.lines)), T0_US, end)
    log.lines.sort()
    files = files_of(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with files.logs.open("w", encoding="utf-8") as out:
        for chunk in range(0, len(log.lines), 50_000):
            out.write("".join(line + "\n" for _at, _n, line in log.lines[chunk : chunk + 50_000]))
    files.results.write_text(_reportlog(tests, rng), encoding="utf-8")
    truth = {t.nodeid: t.truth for t in tests if t.mode}
    files.truth.write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return files


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__)
    defaults = Scenario()
    parser.add_argument("out", type=Path, help="directory to write the scenario into")
    parser.add_argument("--entries", type=int, default=defaults.entries)
    parser.add_argument("--failures", type=int, default=defaults.failures)
    parser.add_argument("--tests", type=int, default=defaults.tests)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args()
    scenario = Scenario(args.entries, args.failures, args.tests, args.seed)
    files = generate(scenario, args.out)
    print(f"wrote {files.logs}, {files.results}, {files.truth}")


if __name__ == "__main__":
    main()
