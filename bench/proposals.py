"""Changes proposed for modules this benchmark's author does not own, measured before they are
made: `python -m bench.analyze ... --proposals` runs the analysis with them patched in.

- `whys.candidates_by_failure`: the Logs Explorer links computed as one column expression, not
  one `explorer_link` call (strftime three times, urllib quote twice) per candidate line, and the
  rows read column-wise rather than as a dict each.
- `whys.explain_failures`: time-only candidates beyond the first MAX_EVIDENCE only for failures
  a rule joining by time can reach (its client side matches the failure, or it is a `caused_by`
  of one that does); for the others they are never read, so no Evidence is built for them.
- `redact.redact_text`: a string is searched with the secret patterns only when one regex finds a
  literal part of them in it (most strings of a report hold none), and once per distinct string.

Both must leave every report byte for byte the same (`tests/test_bench.py` checks it).
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import polars as pl

#: a literal part of every pattern of `redact._RULES`, with the same case rules (so with the
#: same Unicode case equivalences): a string this finds nothing in holds no secret
MAY_HOLD_A_SECRET = re.compile(
    r"(?i:cookie|authorization|bearer|jwt\.|key|token|secret|passw|session)|eyJ|AIza"
)


def apply() -> None:
    """Patch the proposals into the modules that use them."""
    from fivewhys import pipeline, redact, whys

    redact.redact_text = _redact_text(redact.redact_text)
    whys.candidates_by_failure = candidates_by_failure
    whys.explain_failures = explain_failures
    pipeline.explain_failures = explain_failures  # type: ignore[attr-defined]


def _redact_text(original: Any) -> Any:
    @lru_cache(maxsize=1 << 16)
    def redact_text(text: str) -> str:
        return str(original(text)) if MAY_HOLD_A_SECRET.search(text) else text

    return redact_text


def explain_failures(
    failures: Any, correlation: Any, rules: Any, slack_s: float, project: str | None = None
) -> list[Any]:
    """whys.explain_failures, reading all time-only candidates only where a rule may use them."""
    from fivewhys.whys import MAX_EVIDENCE, MAX_TIME_CANDIDATES, explain_one

    by_id = {rule.id: rule for rule in rules}
    keep = [
        MAX_TIME_CANDIDATES if _time_reachable(failure, rules, by_id) else MAX_EVIDENCE
        for failure in failures
    ]
    per_failure = candidates_by_failure(correlation, len(failures), project, keep)
    return [
        explain_one(failure, candidates, rules, slack_s)
        for failure, candidates in zip(failures, per_failure, strict=True)
    ]


def _time_reachable(failure: Any, rules: Any, by_id: dict[str, Any]) -> bool:
    """Does a rule whose client side matches the failure, or a rule it may lead to, join lines
    by time?"""
    from fivewhys.rules.matcher import client_matches

    pending = [rule for rule in rules if client_matches(rule.client, failure) is not None]
    seen: set[str] = set()
    while pending:
        rule = pending.pop()
        if rule.id in seen:
            continue
        seen.add(rule.id)
        if any("time" in selection.join for selection in rule.server.values()):
            return True
        pending += [by_id[i] for i in rule.caused_by if i in by_id]
    return False


def candidates_by_failure(
    correlation: Any, count: int, project: str | None, keep: list[int] | None = None
) -> list[Any]:
    """whys.candidates_by_failure with links as a column and rows read column-wise; `keep`
    time-only candidates per failure (MAX_TIME_CANDIDATES for all when not given)."""
    from fivewhys.logs.query import _CONSOLE, _ENTRY_RANGE
    from fivewhys.model import Evidence
    from fivewhys.rules.matcher import Candidate
    from fivewhys.whys import _EVIDENCE_COLUMNS, MAX_TIME_CANDIDATES

    limit = pl.lit(MAX_TIME_CANDIDATES)
    if keep is not None:
        limit = pl.col("failure_idx").replace_strict(dict(enumerate(keep)), return_dtype=pl.Int64)
    frame = correlation.candidates.with_columns(
        end_offset_s=pl.col("offset_s")
        + (pl.col("end_time") - pl.col("timestamp")).dt.total_microseconds() / 1e6,
        rank_in_key=pl.int_range(pl.len()).over(["failure_idx", "join_key"]),
    ).filter((pl.col("join_key") != "time") | (pl.col("rank_in_key") < limit))
    frame = frame.with_columns(link=_links(frame, project, _CONSOLE, _ENTRY_RANGE))
    columns = frame.select(
        *_EVIDENCE_COLUMNS,
        "message",
        "template",
        "offset_s",
        "link",
        "failure_idx",
        "end_offset_s",
        "http_latency_s",
    ).to_dict(as_series=False)
    out: list[list[Any]] = [[] for _ in range(count)]
    names = _EVIDENCE_COLUMNS
    rows = zip(
        *(columns[name] for name in names),
        columns["message"],
        columns["template"],
        columns["offset_s"],
        columns["link"],
        columns["failure_idx"],
        columns["end_offset_s"],
        columns["http_latency_s"],
        strict=True,
    )
    width = len(names)
    for row in rows:
        fields = dict(zip(names, row[:width], strict=True))
        message, template, offset, link, failure, end_offset, latency = row[width:]
        evidence = Evidence(
            **fields,
            message=message or "",
            template=template or "",
            offset_s=round(offset, 3),
            link=link,
        )
        request = fields["kind"] == "request"
        out[failure].append(Candidate(evidence, end_offset, latency if request else None))
    return [tuple(c) for c in out]


def _links(frame: pl.DataFrame, project: str | None, console: str, span: timedelta) -> pl.Expr:
    """logs.query.explorer_link as an expression (ids quoted in Python, once each)."""
    if not project:
        return pl.lit(None, dtype=pl.String)
    ids = frame.get_column("insert_id").unique().to_list()
    quoted = {i: quote(f'insertId="{i}"', safe="") for i in ids}
    moment = pl.col("timestamp")
    stamp = "%Y-%m-%dT%H:%M:%S%.6fZ"
    return pl.concat_str(
        [
            pl.lit(f"{console};query="),
            pl.col("insert_id").replace_strict(quoted, return_dtype=pl.String),
            pl.lit(";cursorTimestamp="),
            moment.dt.strftime(stamp),
            pl.lit(";startTime="),
            (moment - span).dt.strftime(stamp),
            pl.lit(";endTime="),
            (moment + span).dt.strftime(stamp),
            pl.lit(f"?project={quote(project, safe='')}"),
        ]
    )
