"""Failure windows and the key ladder: which server lines belong to which failure, and how.

Keys, strongest first: connection_id, trace, user_id, then time alone. A line carrying an id
that is not the failure's own (another user's connection, another request's trace) is never
joined to that failure by time, and a request log whose status contradicts what the client saw
is not a time-only candidate either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from fivewhys.config import WindowSettings
from fivewhys.logs.frame import SEVERITY_RANK, UTC_US
from fivewhys.model import JOIN_KEYS, Failure, Window

#: join_key -> rank (0 is strongest)
KEY_RANK: dict[str, int] = {key: rank for rank, key in enumerate(JOIN_KEYS)}


@dataclass(frozen=True)
class SetAside:
    """Lines in a failure's window that were not made candidates."""

    #: carry a connection_id, trace or user_id that is not the failure's own
    other_ids: int
    #: request/access lines whose HTTP status contradicts the client's (403 vs 500)
    contradicting: int


@dataclass(frozen=True)
class Correlation:
    """Every failure's window and its candidate lines (LogFrame columns plus join columns)."""

    windows: list[Window]
    #: per failure: does any log line at all fall in its window?
    covered: list[bool]
    #: columns: LogFrame + failure_idx, join_key, key_rank, offset_s, hint; best first per failure
    candidates: pl.DataFrame
    set_aside: list[SetAside]


def failure_window(failure: Failure, settings: WindowSettings) -> Window:
    """The time range where server lines for this failure may lie."""
    pad_before = timedelta(seconds=settings.before_s + settings.skew_s)
    pad_after = timedelta(seconds=settings.after_s + settings.skew_s)
    return Window(start=failure.started_at - pad_before, end=failure.finished_at + pad_after)


def _failure_frame(failures: list[Failure], windows: list[Window]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "failure_idx": list(range(len(failures))),
            "win_start": [w.start for w in windows],
            "win_end": [w.end for w in windows],
            "f_end": [f.finished_at for f in failures],
            "f_conn": [list(f.ids.connection_ids) for f in failures],
            "f_user": [list(f.ids.user_ids) for f in failures],
            "f_trace": [list(f.ids.traces) for f in failures],
            "f_status": [f.event.http_status for f in failures],
            "f_path": [f.event.url_path for f in failures],
        },
        schema={
            "failure_idx": pl.Int64(),
            "win_start": UTC_US,
            "win_end": UTC_US,
            "f_end": UTC_US,
            "f_conn": pl.List(pl.String()),
            "f_user": pl.List(pl.String()),
            "f_trace": pl.List(pl.String()),
            "f_status": pl.Int32(),
            "f_path": pl.String(),
        },
    )


def _owned(column: str, own: str, all_ids: set[str]) -> tuple[pl.Expr, pl.Expr]:
    """(line carries one of the failure's ids, line carries an id that is someone else's)."""
    value = pl.col(column)
    mine = pl.col(own).list.contains(value).fill_null(False) & value.is_not_null()
    has_own = pl.col(own).list.len() > 0
    foreign = value.is_not_null() & ~mine & (has_own | value.is_in(list(all_ids)))
    return mine, foreign


def correlate(
    failures: list[Failure], frame: pl.DataFrame, settings: WindowSettings
) -> Correlation:
    """Join every log line overlapping a failure's window to it, labelled by the strongest key."""
    windows = [failure_window(f, settings) for f in failures]
    frame_cols = frame.columns
    joined = frame.join_where(
        _failure_frame(failures, windows),
        pl.col("end_time") >= pl.col("win_start"),
        pl.col("timestamp") <= pl.col("win_end"),
    )
    covered_idx = set(joined.get_column("failure_idx").unique().to_list())

    all_conn = {c for f in failures for c in f.ids.connection_ids}
    all_user = {u for f in failures for u in f.ids.user_ids}
    all_trace = {t for f in failures for t in f.ids.traces}
    conn_mine, conn_foreign = _owned("connection_id", "f_conn", all_conn)
    trace_mine, trace_foreign = _owned("trace", "f_trace", all_trace)
    user_mine, user_foreign = _owned("user_id", "f_user", all_user)

    join_key = (
        pl.when(conn_mine)
        .then(pl.lit("connection_id"))
        .when(trace_mine & ~conn_foreign)
        .then(pl.lit("trace"))
        .when(user_mine & ~conn_foreign & ~trace_foreign)
        .then(pl.lit("user_id"))
        .when(~conn_foreign & ~trace_foreign & ~user_foreign)
        .then(pl.lit("time"))
        .otherwise(pl.lit(None))
    )
    status_contradicts = (
        pl.col("http_status").is_not_null()
        & pl.col("f_status").is_not_null()
        & (pl.col("http_status") != pl.col("f_status"))
        & (
            pl.col("f_path").is_null()
            | pl.col("http_path").is_null()
            | (pl.col("http_path") == pl.col("f_path"))
        )
    )
    severity = pl.col("severity").replace_strict(SEVERITY_RANK, default=0, return_dtype=pl.Int32)
    hint = (
        (pl.col("f_path").is_not_null() & (pl.col("http_path") == pl.col("f_path"))).cast(pl.Int32)
        * 2
        + (pl.col("http_status") == pl.col("f_status")).fill_null(False).cast(pl.Int32) * 2
        + (severity >= SEVERITY_RANK["WARNING"]).cast(pl.Int32)
        + pl.col("kind").is_in(["system", "stderr"]).cast(pl.Int32)
    )
    labelled = joined.with_columns(join_key=join_key)
    labelled = labelled.with_columns(
        contradicts=((pl.col("join_key") == "time") & status_contradicts).fill_null(False)
    )
    set_aside = _set_aside(labelled, len(failures))
    candidates = (
        labelled.filter(pl.col("join_key").is_not_null() & ~pl.col("contradicts"))
        .with_columns(
            key_rank=pl.col("join_key").replace_strict(KEY_RANK, return_dtype=pl.Int32),
            offset_s=(pl.col("timestamp") - pl.col("f_end")).dt.total_microseconds() / 1e6,
            hint=hint.fill_null(0),
        )
        .with_columns(abs_offset=pl.col("offset_s").abs())
        .sort(
            ["failure_idx", "key_rank", "hint", "abs_offset", "insert_id"],
            descending=[False, False, True, False, False],
        )
        .select([*frame_cols, "failure_idx", "join_key", "key_rank", "offset_s", "hint"])
    )
    covered = [i in covered_idx for i in range(len(failures))]
    return Correlation(windows, covered, candidates, set_aside)


def _set_aside(labelled: pl.DataFrame, count: int) -> list[SetAside]:
    """Per failure, how many lines in its window were kept out, and why (for the report)."""
    counts = labelled.group_by("failure_idx").agg(
        other_ids=pl.col("join_key").is_null().sum(),
        contradicting=pl.col("contradicts").sum(),
    )
    found = {
        row["failure_idx"]: SetAside(row["other_ids"], row["contradicting"])
        for row in counts.iter_rows(named=True)
    }
    return [found.get(i, SetAside(0, 0)) for i in range(count)]
