"""Draft rules from a run's unexplained failures (`fivewhys rules suggest`).

Failures no named cause rule explains (bucket `server-error` or `unexplained`, or a generic
cause) are grouped by the
masked template of their strongest keyed server line (WARNING or worse, joined on
connection_id, trace or user_id; time-only lines are never a basis). Each group becomes a draft
rule: the template as `message|contains` (or `message|fuzzy` when it has masked parts), the
join keys and time relation observed, the client fields all its failures share, and TODOs for
the whys a human must write. A draft is valid YAML that `rules validate` accepts, and is meant
to be committed: no secret reaches it (its text is cleaned; a selection's text is the longest
secret-free part of the line, which still matches the line it came from).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fivewhys.authoring.workbench import Bench
from fivewhys.logs.frame import SEVERITY_RANK
from fivewhys.model import JOIN_KEYS, Failure
from fivewhys.redact import MARK, clean_text, redact_text
from fivewhys.rules.matcher import Candidate
from fivewhys.rules.schema import MAX_WHYS, Rule
from fivewhys.whys import explain_one

#: a line must be at least this bad to start a draft
MIN_SEVERITY = "WARNING"
DRAFT_THRESHOLD = 90
_PLACEHOLDER = re.compile(r"<(?:ID|JWT|TS|URL|UUID|IP|PATH|HEX|NUM)>")


@dataclass(frozen=True)
class Cluster:
    """Unexplained failures whose strongest keyed server line has the same template."""

    template: str
    failures: tuple[Failure, ...]
    #: per failure, every keyed line of that template (the draft's selection must cover them)
    lines: tuple[Candidate, ...]


def _signal(candidates: Sequence[Candidate]) -> Candidate | None:
    """The failure's strongest keyed line: worst severity, then strongest key, then closest."""
    floor = SEVERITY_RANK[MIN_SEVERITY]
    keyed = [
        c
        for c in candidates
        if c.evidence.join_key != "time"
        and SEVERITY_RANK.get(c.evidence.severity or "DEFAULT", 0) >= floor
    ]
    if not keyed:
        return None
    # candidates come best first (key strength, hints, closeness): a stable sort keeps that
    return sorted(keyed, key=lambda c: -SEVERITY_RANK.get(c.evidence.severity or "DEFAULT", 0))[0]


def clusters(bench: Bench, rules: Sequence[Rule]) -> list[Cluster]:
    """Groups of unexplained failures by template, largest first (then by template)."""
    groups: dict[str, list[tuple[Failure, Sequence[Candidate]]]] = {}
    for failure, candidates in zip(bench.failures, bench.candidates, strict=True):
        explained = explain_one(failure, candidates, rules, bench.slack_s)
        if explained.bucket not in ("server-error", "unexplained") and not explained.generic:
            continue
        signal = _signal(candidates)
        if signal is not None:
            groups.setdefault(signal.evidence.template, []).append((failure, candidates))
    found = [
        Cluster(
            template=template,
            failures=tuple(f for f, _ in members),
            lines=tuple(
                c
                for _, candidates in members
                for c in candidates
                if c.evidence.template == template and c.evidence.join_key != "time"
            ),
        )
        for template, members in groups.items()
    ]
    return sorted(found, key=lambda c: (-len(c.failures), c.template))


# --- the draft ------------------------------------------------------------------------------


def _quote(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _flow(values: Sequence[object]) -> str:
    items = [_quote(v) if isinstance(v, str) else str(v) for v in values]
    return items[0] if len(items) == 1 else f"[{', '.join(items)}]"


def draft_id(template: str, taken: set[str]) -> str:
    """`draft-` and the template's first words, unique among `taken`."""
    words = re.findall(r"[a-z][a-z0-9]*", _PLACEHOLDER.sub(" ", template).lower())
    base = "draft-" + ("-".join(words[:4]) or "server-line")
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def _client_lines(failures: Sequence[Failure]) -> list[str]:
    """The client fields every failure of the cluster shares (at least the outcome)."""
    events = [f.event for f in failures]
    lines: list[str] = []
    exceptions = sorted({e.exception_type for e in events if e.exception_type})
    if exceptions and all(e.exception_type for e in events):
        lines.append(f"  exception: {_flow(exceptions)}")
    for name in ("close_code", "http_status"):
        values = sorted({getattr(e, name) for e in events if getattr(e, name) is not None})
        if values and all(getattr(e, name) is not None for e in events):
            lines.append(f"  {name}: {_flow(values)}")
    directions = {e.close_direction for e in events}
    if len(directions) == 1 and None not in directions:
        lines.append(f"  close_direction: {directions.pop()}")
    if all(e.timeout for e in events):
        lines.append("  timeout: true")
    if not lines:
        lines.append(f"  outcome: {_flow(sorted({f.outcome for f in failures}))}")
    return lines


def _server_lines(cluster: Cluster) -> list[str]:
    """The `observed` selection: text, severity, kind, HTTP fields, join keys, time."""
    lines = [line.evidence for line in cluster.lines]
    first_line = _secret_free(cluster.template.splitlines()[0] if cluster.template else "")
    if _PLACEHOLDER.search(first_line):
        text = [f"    message|fuzzy: {_quote(first_line)}", f"    threshold: {DRAFT_THRESHOLD}"]
    else:
        text = [f"    message|contains: {_quote(first_line)}"]
    worst_floor = min(SEVERITY_RANK.get(line.severity or "DEFAULT", 0) for line in lines)
    severity = next(name for name, rank in SEVERITY_RANK.items() if rank == worst_floor)
    out = ["  observed:", *text, f"    severity|min: {severity}"]
    kinds = sorted({line.kind for line in lines})
    out.append(f"    kind: {_flow(kinds)}")
    statuses = sorted({line.http_status for line in lines if line.http_status is not None})
    if statuses and kinds == ["request"]:
        out.append(f"    http_status: {_flow(statuses)}")
    keys = [key for key in JOIN_KEYS if key in {line.join_key for line in lines}]
    out.append(f"    join: [{', '.join(keys)}]")
    before = max(0.0, *(-c.end_offset_s for c in cluster.lines))
    after = max(0.0, *(c.evidence.offset_s for c in cluster.lines))
    out.append(f"    within: {{before: {math.ceil(before) + 1}s, after: {math.ceil(after) + 1}s}}")
    return out


def draft_rule(cluster: Cluster, rule_id: str, schema: Path | None, out_dir: Path) -> str:
    """The draft rule file for one cluster, comments and TODOs included."""
    header = []
    if schema is not None:
        header.append(f"# yaml-language-server: $schema={_relative(schema, out_dir)}")
    header += [
        "# Draft written by `fivewhys rules suggest`: finish every TODO, add fixtures",
        f"# (tests/{rule_id}/good.yaml and bad.yaml), then run `fivewhys rules validate` and",
        "# `fivewhys rules test`.",
        f"# From {len(cluster.failures)} unexplained failure(s):",
        *(f"#   - {_one_line(f.test_id)}: {_one_line(f.message)}" for f in cluster.failures),
        "# Their strongest keyed server line (masked template):",
        *(f"#   {_one_line(line)}" for line in cluster.template.splitlines()[:3]),
    ]
    body = [
        f"id: {rule_id}",
        f"title: {_quote('TODO: name the cause of: ' + _one_line(cluster.template)[:80])}",
        "level: medium",
        "priority: 50",
        "client:",
        *_client_lines(cluster.failures),
        "server:",
        *_server_lines(cluster),
        "whys:",
        "  - text: "
        + _quote(
            "{{ failure.test_id }} failed while the server logged "
            '"{{ evidence.observed.message }}" (log entry {{ evidence.observed.insert_id }}).'
        ),
        "    evidence: observed",
        "  - text: "
        + _quote(
            "TODO: why did the server log this? Each why up to "
            f"{MAX_WHYS} is a hypothesis unless it cites a selection."
        ),
        f"fix: {_quote('TODO: how to fix or confirm the cause.')}",
    ]
    return "\n".join([*header, *body]) + "\n"


def _one_line(text: str) -> str:
    """Cleaned, then cut: a YAML comment or title cannot hold a secret, a line break (CR, NEL and
    U+2028 end a YAML line too) or a control character."""
    return " ".join(clean_text(text).split())[:160]


def _secret_free(line: str) -> str:
    """`line`, or where it holds a secret its longest part free of one: a substring of the line,
    so the selection still matches the line (matching sees the text before redaction)."""
    redacted = redact_text(line)
    if redacted == line:
        return line
    return max((part.strip() for part in redacted.split(MARK)), key=len)


def _relative(target: Path, start: Path) -> str:
    try:
        return os.path.relpath(target, start)
    except ValueError:  # another drive on Windows
        return str(target)
