"""Server stack traces as one piece of evidence: the lines of a trace stitched, its frame named.

Cloud Run keeps one entry per stderr line, so an uncaught Python, Node or Java trace arrives as
many entries (the node-chat scenario's crashed revision: 12 entries 3-8 µs apart); a logger's
traceback (`exc_info`, `stack_trace`, ...) arrives whole, appended to one entry's message by
logs/entry.py. Entries are stitched when they are of one instance, consecutive, at most
`MAX_GAP_S` apart, and their lines read as a trace in one language's own format:

- Python (`traceback` module): `Traceback (most recent call last):`, `  File "p", line N, in f`
  (code and `^^^` lines under it), the exception line; chains joined by "During handling of the
  above exception..." / "The above exception was the direct cause...".
- Node (V8 `Error.stack`): `Name: message` then `    at fn (file:line:col)` / `    at file:l:c`;
  an uncaught exception's report adds `file:line`, the source line and a caret before it, and
  `Node.js vNN` after.
- Java (`Throwable.printStackTrace`): `Exception in thread "t" x.Y: msg` or `x.Y: msg`, then
  `\\tat pkg.Class.method(File.java:12)`, `... N more`, `Caused by: ...`.

The frame named is the innermost one in the application's own code, of the exception the
trace started with (Python: the first of a chain; Java: the last `Caused by`): not the
interpreter's or a dependency's (`site-packages`, `node_modules`, `node:`, `<frozen ...>`,
`java.*`, well-known framework packages). Nothing is guessed: a trace without an application
frame says so, and a fragment (no exception line, no frame) is no trace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from fivewhys.model import StackFrame, Traceback

#: at most this far apart (seconds) may two consecutive entries of one trace be
MAX_GAP_S = 0.1
#: entries a trace may span (a runaway recursion prints thousands of frames)
MAX_ENTRIES = 400
#: kinds of entries a program writes (request, system and audit logs hold no trace)
PROGRAM_KINDS = ("stderr", "stdout", "other")

_PY_START = re.compile(r"^Traceback \(most recent call last\):\s*$")
_PY_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<fn>.+?))?\s*$')
_PY_CHAIN = re.compile(
    r"^(During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:)\s*$"
)
_PY_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$")

_JS_HEADER = re.compile(
    r"^(?:Uncaught )?(?P<type>[A-Z][\w$]*(?:Error|Exception)|Error)(?: \[[A-Z0-9_]+\])?"
    r"(?::\s?(?P<msg>.*))?$"
)
_JS_FRAME = re.compile(
    r"^\s+at (?:(?P<fn>.+?) \((?P<loc>[^()]+?):(?P<line>\d+):\d+\)"
    r"|(?P<bare>[^\s()]+?):(?P<bline>\d+):\d+)\s*$"
)
_JS_PREFACE = re.compile(r"^(?P<file>(?:/|file:|[A-Za-z]:\\)\S*?):(?P<line>\d+)$")
_JS_CARET = re.compile(r"^\s*\^+\s*$")
_JS_VERSION = re.compile(r"^Node\.js v\d+[\w.]*$")

_JAVA_THREAD = re.compile(r'^Exception in thread "[^"]*" (?P<rest>.+)$')
_JAVA_EXCEPTION = re.compile(
    r"^(?P<type>(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*)(?::\s?(?P<msg>.*))?$"
)
_JAVA_FRAME = re.compile(r"^\s+at (?:[\w$.]+/)*(?P<method>[\w$.<>]+)\((?P<where>[^)]*)\)\s*$")
_JAVA_MORE = re.compile(r"^\s+\.\.\. \d+ (?:more|common frames omitted)\s*$")
_JAVA_CAUSED = re.compile(r"^(?:\s*)(?:Caused by|Suppressed): (?P<rest>.+)$")

#: Python paths of the interpreter and installed packages, not the application
_PY_LIBRARY = ("site-packages/", "dist-packages/", "/lib/python", "<frozen ", "<string>")
#: Java packages of the runtime and common frameworks
_JAVA_LIBRARY = (
    "java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.", "scala.",
    "org.springframework.", "org.apache.", "io.netty.", "io.grpc.", "com.google.", "reactor.",
    "org.eclipse.jetty.", "io.undertow.", "io.micronaut.", "io.quarkus.", "io.vertx.",
    "com.fasterxml.", "org.hibernate.", "ch.qos.logback.", "org.slf4j.",
)  # fmt: skip
#: where container images put the application; stripped so a frame names the repo's path
_APP_ROOTS = ("/app/", "/usr/src/app/", "/workspace/", "/srv/app/", "/home/app/")


@dataclass(frozen=True)
class _Line:
    text: str
    entry: int


@dataclass
class _Parsed:
    language: str
    end: int  # index of the line after the trace
    exception: str
    outer: str | None
    frames: list[StackFrame]  # innermost application frame candidates, innermost first


#: which traces `find_tracebacks` needs: those holding one of these insert_ids, or begun within
#: `seconds` of one of these (instance_id, moment)s on its instance
Near = tuple[Sequence[str], Sequence[tuple[str, datetime]], float]


def find_tracebacks(frame: pl.DataFrame, near: Near | None = None) -> list[Traceback]:
    """Every stack trace in the LogFrame rows given, stitched per instance, in time order; with
    `near`, only those of the runs of entries that may hold such a trace (a superset of the traces
    `near` asks for: the caller picks its own from them)."""
    rows = frame.filter(pl.col("kind").is_in(PROGRAM_KINDS)).select(
        "timestamp", "insert_id", "instance_id", "service", "revision", "message"
    )
    if rows.is_empty():
        return []
    rows = rows.with_columns(
        _group=pl.coalesce(
            pl.col("instance_id"), pl.lit("\0") + pl.col("insert_id")
        )  # no instance: nothing is stitched to the entry
    ).sort("_group", "timestamp", "insert_id")
    if near is not None:
        rows = _runs_near(rows, near)
    found: list[Traceback] = []
    for (_group,), group in rows.group_by("_group", maintain_order=True):
        found.extend(_in_group(group.to_dicts()))
    found.sort(key=lambda t: (t.timestamp, t.insert_ids[0]))
    return found


def _runs_near(rows: pl.DataFrame, near: Near) -> pl.DataFrame:
    """The rows (sorted by group and time) of the runs that hold a cited line or have an entry
    near one of the moments; the others cannot hold a trace `near` asks for, and reading them
    line by line is most of the time a busy instance costs.

    A run here ends only where the gap is surely past MAX_GAP_S (a microsecond of slack), so it
    is one or more of `_in_group`'s runs, which are then cut exactly as from all the rows: runs
    left out are more than MAX_GAP_S from those kept. Nearness is told by buckets of at least a
    second, the moment's and those beside it: more rows than `near` asks for, never fewer.
    """
    cited, moments, seconds = near
    width = max(1_000_000, int(seconds * 1_000_000) + 1)
    micros = pl.col("timestamp").dt.epoch("us")
    keys = pl.DataFrame(
        {
            "_group": [instance for instance, _ in moments for _ in range(3)],
            "_bucket": [
                _micros(moment) // width + step for _, moment in moments for step in (-1, 0, 1)
            ],
        },
        schema={"_group": pl.String(), "_bucket": pl.Int64()},
    ).unique()
    breaks = (pl.col("_group") != pl.col("_group").shift(1)) | (
        micros - micros.shift(1) > int(MAX_GAP_S * 1_000_000) + 1
    )
    marked = rows.with_columns(_bucket=micros // width, _run=breaks.fill_null(True).cum_sum()).join(
        keys.with_columns(_hit=pl.lit(True)),
        on=["_group", "_bucket"],
        how="left",
        maintain_order="left",
    )
    hit = pl.col("_hit").fill_null(False) | pl.col("insert_id").is_in(list(cited))
    return marked.filter(hit.any().over("_run")).drop("_bucket", "_run", "_hit")


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch, as polars counts a UTC timestamp."""
    delta = moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _in_group(entries: list[dict[str, Any]]) -> list[Traceback]:
    """Traces in one instance's entries (time order): runs of entries close in time, parsed."""
    found: list[Traceback] = []
    run: list[dict[str, Any]] = []
    for entry in entries:
        if run:
            gap = _seconds(entry["timestamp"]) - _seconds(run[-1]["timestamp"])
            if gap > MAX_GAP_S or len(run) >= MAX_ENTRIES:
                found.extend(_in_run(run))
                run = []
        run.append(entry)
    if run:
        found.extend(_in_run(run))
    return found


def _seconds(moment: object) -> float:
    assert isinstance(moment, datetime)
    return moment.timestamp()


def _in_run(run: list[dict[str, Any]]) -> list[Traceback]:
    lines = [
        _Line(text, number)
        for number, entry in enumerate(run)
        for text in str(entry["message"] or "").splitlines()
    ]
    found: list[Traceback] = []
    at = 0
    while at < len(lines):
        parsed = _parse_at(lines, at)
        if parsed is None:
            at += 1
            continue
        used = sorted({line.entry for line in lines[at : parsed.end]})
        first = run[used[0]]
        app = next((f for f in parsed.frames if f.app), None)
        found.append(
            Traceback(
                language=parsed.language,
                exception=parsed.exception,
                outer=parsed.outer,
                raised_at=app,
                innermost=parsed.frames[0] if parsed.frames else None,
                frames=len(parsed.frames),
                insert_ids=tuple(str(run[i]["insert_id"]) for i in used),
                timestamp=first["timestamp"],
                instance_id=first["instance_id"],
                service=first["service"],
                revision=first["revision"],
                text="\n".join(line.text for line in lines[at : parsed.end]),
            )
        )
        at = parsed.end
    return found


def _parse_at(lines: Sequence[_Line], at: int) -> _Parsed | None:
    text = lines[at].text
    if _PY_START.match(text):
        return _python(lines, at)
    if _JS_PREFACE.match(text) or _JS_HEADER.match(text):
        parsed = _node(lines, at)
        if parsed is not None:
            return parsed
    if _JAVA_THREAD.match(text) or _JAVA_EXCEPTION.match(text):
        return _java(lines, at)
    return None


def _python(lines: Sequence[_Line], at: int) -> _Parsed | None:
    """A Python traceback (and its chain) from `at`; None when it has no exception line."""
    chain: list[tuple[str, list[StackFrame]]] = []
    end = last = at
    while end < len(lines) and _PY_START.match(lines[end].text):
        frames: list[StackFrame] = []
        end += 1
        while end < len(lines):
            text = lines[end].text
            frame = _PY_FRAME.match(text)
            if frame:
                frames.append(_py_frame(frame))
            elif not (text.startswith("    ") and frames):  # code / caret lines under a frame
                break
            end += 1
        exception = _PY_EXCEPTION.match(lines[end].text) if end < len(lines) and frames else None
        if exception is None:
            break
        chain.append((lines[end].text.strip(), frames))
        end = last = end + 1
        after = _chain_link(lines, end)
        if after is None:
            break
        end = after
    if not chain:
        return None
    root, frames = chain[0]
    outer = chain[-1][0] if len(chain) > 1 else None
    return _Parsed("python", last, root, outer, frames[::-1])


def _chain_link(lines: Sequence[_Line], end: int) -> int | None:
    """Past a chain separator (with its blank lines) to the next `Traceback`, or None."""
    probe = end
    while probe < len(lines) and not lines[probe].text.strip():
        probe += 1
    if probe >= len(lines) or not _PY_CHAIN.match(lines[probe].text):
        return None
    probe += 1
    while probe < len(lines) and not lines[probe].text.strip():
        probe += 1
    return probe if probe < len(lines) and _PY_START.match(lines[probe].text) else None


def _py_frame(match: re.Match[str]) -> StackFrame:
    path = match["file"]
    return StackFrame(
        file=_app_path(path),
        line=int(match["line"]),
        function=match["fn"],
        app=not any(marker in path for marker in _PY_LIBRARY),
    )


def _node(lines: Sequence[_Line], at: int) -> _Parsed | None:
    """A V8 stack (with an uncaught exception's preface and version line) from `at`."""
    if _JS_PREFACE.match(lines[at].text):  # file:line, the source line, a caret
        probe = at + 1
        if probe < len(lines) and not _JS_CARET.match(lines[probe].text):
            probe += 1
        if probe >= len(lines) or not _JS_CARET.match(lines[probe].text):
            return None
        probe += 1
        while probe < len(lines) and not lines[probe].text.strip():
            probe += 1
        at = probe
    if at >= len(lines):
        return None
    header = _JS_HEADER.match(lines[at].text)
    if header is None:
        return None
    frames: list[StackFrame] = []
    end = at + 1
    while end < len(lines) and (frame := _JS_FRAME.match(lines[end].text)):
        frames.append(_js_frame(frame))
        end += 1
    if not frames:
        return None
    if end < len(lines) and _JS_VERSION.match(lines[end].text.strip()):
        end += 1
    return _Parsed("node", end, lines[at].text.strip(), None, frames)


def _js_frame(match: re.Match[str]) -> StackFrame:
    path = match["loc"] or match["bare"]
    line = match["line"] or match["bline"]
    runtime = path.startswith(("node:", "internal/")) or path in ("native", "<anonymous>")
    return StackFrame(
        file=_app_path(path.removeprefix("file://")),
        line=int(line),
        function=match["fn"],
        app=not runtime and "node_modules/" not in path,
    )


def _java(lines: Sequence[_Line], at: int) -> _Parsed | None:
    """A Java stack (with its `Caused by` chain) from `at`; None without a frame."""
    first = lines[at].text.strip()
    thread = _JAVA_THREAD.match(first)
    chain: list[tuple[str, list[StackFrame]]] = [(thread["rest"] if thread else first, [])]
    end = at + 1
    while end < len(lines):
        text = lines[end].text
        frame = _JAVA_FRAME.match(text)
        if frame:
            chain[-1][1].append(_java_frame(frame))
        elif caused := _JAVA_CAUSED.match(text):
            chain.append((caused["rest"].strip(), []))
        elif not _JAVA_MORE.match(text):
            break
        end += 1
    if not chain[0][1]:
        return None
    root, frames = next((c for c in reversed(chain) if c[1]), chain[0])
    outer = chain[0][0] if root != chain[0][0] else None
    return _Parsed("java", end, root, outer, frames)


def _java_frame(match: re.Match[str]) -> StackFrame:
    method, where = match["method"], match["where"]
    file, _, line = where.partition(":")
    return StackFrame(
        file=file or where,
        line=int(line) if line.isdigit() else 0,
        function=method,
        app=not method.startswith(_JAVA_LIBRARY) and where != "Native Method",
    )


def _app_path(path: str) -> str:
    """The path as the repository names it: the image's application root taken off."""
    for root in _APP_ROOTS:
        if path.startswith(root):
            return path[len(root) :]
    return path
