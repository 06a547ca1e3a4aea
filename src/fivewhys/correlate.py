"""Failure windows and the key ladder: which server lines belong to which failure, and how.

Keys, strongest first: connection_id, trace, user_id, then time alone. A line carrying an id
that is not the failure's own (another user's connection, another request's trace) is never
joined to that failure by time, and a request log whose status contradicts what the client saw
is not a time-only candidate either.

A million lines and a thousand failures make tens of millions of (failure, line) pairs in the
windows; they are never built. Lines naming a failure's id are found by a hash join on that id;
time-only candidates, which carry no id of any failure, by an interval join per class of failure
(the id kinds it has decide which lines may join it), on the few columns the ranking needs; the
lines set aside are counted, not listed, from each window's line count (two binary searches).
Only the chosen candidates carry the LogFrame's columns.

One e2e user is shared by many tests of a run, and a pad before a failure reaches into the
tests that ran before it. So a line written inside another test's interval (any test of the
run, passed ones too: `RunInterval`), and neither inside the failing test's own interval nor
within OWN_MARGIN_S of its failing phase (more for estimated times), is that test's: it never
joins by user_id (unless that test's users are known and are not the line's), nor by time
(platform lines, `system` and `audit`, excepted: an instance that crashed during the previous
test is down for this one too). Among user_id lines, those inside the failure's own interval
rank before those of its pads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import polars as pl

from fivewhys.config import WindowSettings
from fivewhys.logs.frame import SEVERITY_RANK, UTC_US, fill_templates
from fivewhys.model import JOIN_KEYS, Failure, RunInterval, Window

#: join_key -> rank (0 is strongest)
KEY_RANK: dict[str, int] = {key: rank for rank, key in enumerate(JOIN_KEYS)}
#: time-only candidates kept per failure, best first (the explanation reads no more)
MAX_TIME_CANDIDATES = 200
#: a line lasting at most this long is looked up by its start time (see _in_windows)
_SHORT_US = 1_000_000
#: a line this close to a failure's failing phase is its own, whatever test ran then: clock
#: skew for exact times, and more for the intervals JUnit and json-report results let us estimate
OWN_MARGIN_S = 0.25
OWN_MARGIN_APPROXIMATE_S = 1.0
#: kinds of line that tell the platform's state, not one test's doing
PLATFORM_KINDS = ("system", "audit")
#: LogFrame id column -> the failure's ids of that kind
_ID_KINDS = {"connection_id": "f_conn", "trace": "f_trace", "user_id": "f_user"}


@dataclass(frozen=True)
class SetAside:
    """Lines in a failure's window that were not made candidates."""

    #: carry a connection_id, trace or user_id that is not the failure's own (None: not
    #: counted, as a narrow pull did not read all of the window)
    other_ids: int | None
    #: request/access lines whose HTTP status contradicts the client's (403 vs 500)
    contradicting: int


@dataclass(frozen=True)
class Correlation:
    """Every failure's window and its candidate lines (LogFrame columns plus join columns)."""

    windows: list[Window]
    #: per failure: does any log line at all fall in its window?
    covered: list[bool]
    #: columns: LogFrame + _row (the line's row in the LogFrame), failure_idx, join_key,
    #: key_rank, offset_s, hint; best first per failure; every keyed line, and at most
    #: MAX_TIME_CANDIDATES time-only lines per failure
    candidates: pl.DataFrame
    set_aside: list[SetAside]


def failure_window(failure: Failure, settings: WindowSettings) -> Window:
    """The time range where server lines for this failure may lie."""
    pad_before = timedelta(seconds=settings.before_s + settings.skew_s)
    pad_after = timedelta(seconds=settings.after_s + settings.skew_s)
    return Window(start=failure.started_at - pad_before, end=failure.finished_at + pad_after)


@dataclass(frozen=True)
class _Runs:
    """The intervals of every test of the run: sorted bounds (how many tests ran at a moment)
    and the intervals themselves with their tests' user ids (when a failure of it shows them)."""

    starts: pl.Series
    ends: pl.Series
    #: columns s_test, s_start, s_end, s_users
    frame: pl.DataFrame

    @classmethod
    def of(cls, intervals: Sequence[RunInterval], failures: list[Failure]) -> _Runs:
        users: dict[str, set[str]] = {}
        for failure in failures:
            users.setdefault(failure.test_id, set()).update(failure.ids.user_ids)
        frame = pl.DataFrame(
            {
                "s_test": [i.test_id for i in intervals],
                "s_start": [i.start for i in intervals],
                "s_end": [i.end for i in intervals],
            },
            schema={"s_test": pl.String(), "s_start": UTC_US, "s_end": UTC_US},
        ).with_columns(
            _string_lists("s_users", [sorted(users.get(i.test_id, ())) for i in intervals])
        )
        return cls(frame.get_column("s_start").sort(), frame.get_column("s_end").sort(), frame)

    def cover(self, moments: pl.Series) -> pl.Series:
        """How many test intervals hold each moment (started at or before it, not ended)."""
        started = self.starts.search_sorted(moments, side="right").cast(pl.Int32)
        ended = self.ends.search_sorted(moments, side="left").cast(pl.Int32)
        return started - ended


#: the failure frame's columns, in their order
_FAILURE_COLUMNS = (
    *("failure_idx", "test_id", "own_lo", "own_hi", "o_start", "o_end", "win_start", "win_end"),
    *("f_end", "f_conn", "f_user", "f_trace", "f_status", "f_path"),
)


def _string_lists(name: str, rows: Sequence[Sequence[str]]) -> pl.Series:
    """A List(String) column of `rows`, built from one flat column: polars builds a list column
    from Python lists one inner Series at a time (0.2 s for 50,000 tests' user ids)."""
    index = [n for n, row in enumerate(rows) for _ in row]
    flat = pl.DataFrame(
        {"row": index, name: [value for row in rows for value in row]},
        schema={"row": pl.UInt32(), name: pl.String()},
    )
    lists = flat.group_by("row", maintain_order=True).agg(pl.col(name))
    every = pl.DataFrame({"row": range(len(rows))}, schema={"row": pl.UInt32()})
    joined = every.join(lists, on="row", how="left", maintain_order="left")
    return joined.get_column(name).fill_null(pl.lit([], dtype=pl.List(pl.String())))


def _own_intervals(
    failures: list[Failure], intervals: Sequence[RunInterval]
) -> list[tuple[datetime | None, datetime | None]]:
    """Each failing test's own interval (of its test id and attempt, meeting the failure), or
    nulls."""
    by_test: dict[str, list[RunInterval]] = {}
    for interval in intervals:
        by_test.setdefault(interval.test_id, []).append(interval)
    own: list[tuple[datetime | None, datetime | None]] = []
    for failure in failures:
        meets = [
            i
            for i in by_test.get(failure.test_id, ())
            if i.start <= failure.finished_at and i.end >= failure.started_at
        ]
        # the failure's own attempt first: a rerun's interval is not the failed attempt's
        meets.sort(key=lambda i: i.attempt != failure.attempt)
        found = meets[0] if meets else None
        own.append((found.start, found.end) if found else (None, None))
    return own


def _failure_frame(
    failures: list[Failure], windows: list[Window], intervals: Sequence[RunInterval]
) -> pl.DataFrame:
    margins = [
        timedelta(seconds=OWN_MARGIN_S if f.time_exact else OWN_MARGIN_APPROXIMATE_S)
        for f in failures
    ]
    own = _own_intervals(failures, intervals)
    frame = pl.DataFrame(
        {
            "failure_idx": list(range(len(failures))),
            "test_id": [f.test_id for f in failures],
            "own_lo": [f.started_at - m for f, m in zip(failures, margins, strict=True)],
            "own_hi": [f.finished_at + m for f, m in zip(failures, margins, strict=True)],
            "o_start": [o[0] for o in own],
            "o_end": [o[1] for o in own],
            "win_start": [w.start for w in windows],
            "win_end": [w.end for w in windows],
            "f_end": [f.finished_at for f in failures],
            "f_status": [f.event.http_status for f in failures],
            "f_path": [f.event.url_path for f in failures],
        },
        schema={
            "failure_idx": pl.Int64(),
            "test_id": pl.String(),
            "own_lo": UTC_US,
            "own_hi": UTC_US,
            "o_start": UTC_US,
            "o_end": UTC_US,
            "win_start": UTC_US,
            "win_end": UTC_US,
            "f_end": UTC_US,
            "f_status": pl.Int32(),
            "f_path": pl.String(),
        },
    ).with_columns(
        _string_lists("f_conn", [f.ids.connection_ids for f in failures]),
        _string_lists("f_user", [f.ids.user_ids for f in failures]),
        _string_lists("f_trace", [f.ids.traces for f in failures]),
    )
    frame = frame.select(*_FAILURE_COLUMNS)
    # which id kinds the failure has: lines with an unknown id of such a kind are not its own
    owns = [
        (pl.col(own).list.len() > 0).cast(pl.Int8) * (1 << n)
        for n, own in enumerate(_ID_KINDS.values())
    ]
    return frame.with_columns(owns=pl.sum_horizontal(owns))


def _owned(column: str, own: str, all_ids: list[str]) -> tuple[pl.Expr, pl.Expr]:
    """(line carries one of the failure's ids, line carries an id that is someone else's)."""
    value = pl.col(column)
    mine = pl.col(own).list.contains(value).fill_null(False) & value.is_not_null()
    has_own = pl.col(own).list.len() > 0
    foreign = value.is_not_null() & ~mine & (has_own | value.is_in(all_ids))
    return mine, foreign


def _hint() -> pl.Expr:
    """Closeness of a line to what the client saw: same path, same status, severity, kind."""
    severity = pl.col("severity").replace_strict(SEVERITY_RANK, default=0, return_dtype=pl.Int32)
    hint = (
        (pl.col("f_path").is_not_null() & (pl.col("http_path") == pl.col("f_path"))).cast(pl.Int32)
        * 2
        + (pl.col("http_status") == pl.col("f_status")).fill_null(False).cast(pl.Int32) * 2
        + (severity >= SEVERITY_RANK["WARNING"]).cast(pl.Int32)
        + pl.col("kind").is_in(["system", "stderr"]).cast(pl.Int32)
    )
    return hint.fill_null(0)


def _inside_own() -> pl.Expr:
    """The line was written beside the failing phase (within its margin, `own_lo`..`own_hi`)."""
    return (pl.col("timestamp") >= pl.col("own_lo")) & (pl.col("timestamp") <= pl.col("own_hi"))


def _elsewhere() -> pl.Expr:
    """The line was written while some test ran (`_cover`), and neither inside the failing
    test's own interval nor beside its failing phase: it is another test's."""
    t = pl.col("timestamp")
    own_test = ((t >= pl.col("o_start")) & (t <= pl.col("o_end"))).fill_null(False)
    return ~_inside_own() & ~own_test & (pl.col("_cover") > 0)


def _contradicts() -> pl.Expr:
    """A request/access line whose HTTP status is not the client's (for the same path)."""
    return (
        pl.col("http_status").is_not_null()
        & pl.col("f_status").is_not_null()
        & (pl.col("http_status") != pl.col("f_status"))
        & (
            pl.col("f_path").is_null()
            | pl.col("http_path").is_null()
            | (pl.col("http_path") == pl.col("f_path"))
        )
    ).fill_null(False)


def correlate(
    failures: list[Failure],
    frame: pl.DataFrame,
    settings: WindowSettings,
    time_caps: Sequence[int] | None = None,
    intervals: Sequence[RunInterval] = (),
) -> Correlation:
    """Join every log line overlapping a failure's window to it, labelled by the strongest key;
    of the lines joined by time only, the best `time_caps[i]` of failure i (MAX_TIME_CANDIDATES
    each when not given). `intervals` (every test of the run) keep other tests' lines out."""
    windows = [failure_window(f, settings) for f in failures]
    failure_frame = _failure_frame(failures, windows, intervals)
    runs = _Runs.of(intervals, failures)
    lines = frame.select(
        "timestamp",
        "end_time",
        *_ID_KINDS,
        "http_status",
        "http_path",
        "severity",
        "kind",
        "insert_id",
    ).with_row_index("_row")
    lines = lines.with_columns(_cover=runs.cover(lines.get_column("timestamp")))
    all_ids = {
        column: sorted({i for f in failures for i in getattr(f.ids, kind)})
        for column, kind in zip(_ID_KINDS, ("connection_ids", "traces", "user_ids"), strict=True)
    }
    keyed = _keyed(lines, failure_frame, all_ids, runs)
    caps = pl.lit(MAX_TIME_CANDIDATES)
    if time_caps is not None:
        caps = pl.col("failure_idx").replace_strict(
            dict(enumerate(time_caps)), return_dtype=pl.Int64
        )
    timed, time_counts = _timed(lines, failure_frame, all_ids, caps)

    in_window = _window_counts(frame, failure_frame)
    joined = (
        pl.concat(
            [
                keyed.group_by("failure_idx").agg(joined=pl.len()),
                time_counts.select("failure_idx", joined="time_lines"),
            ]
        )
        .group_by("failure_idx")
        .agg(pl.col("joined").sum())
    )
    counts = (
        failure_frame.select("failure_idx")
        .with_columns(in_window=in_window)
        .join(joined, on="failure_idx", how="left", maintain_order="left")
        .join(time_counts, on="failure_idx", how="left", maintain_order="left")
        .fill_null(0)
    )
    set_aside = [
        SetAside(int(n - j), int(c))
        for n, j, c in counts.select("in_window", "joined", "contradicting").iter_rows()
    ]
    covered = [n > 0 for n in counts.get_column("in_window").to_list()]

    chosen = pl.concat([keyed, timed], how="vertical")
    candidates = (
        chosen.with_columns(abs_offset=pl.col("offset_s").abs())
        .sort(
            ["failure_idx", "key_rank", "pad", "hint", "abs_offset", "insert_id"],
            descending=[False, False, False, True, False, False],
        )
        .select("_row", "failure_idx", "join_key", "key_rank", "offset_s", "hint")
    )
    # a line is a candidate of every failure whose window holds it (3 failures each at a million
    # lines): its columns are gathered and its template made once, then repeated per candidate
    distinct = candidates.get_column("_row").unique(maintain_order=True)
    lines = fill_templates(frame[distinct])
    at = candidates.select("_row").join(
        pl.DataFrame({"_row": distinct, "_at": range(len(distinct))}),
        on="_row",
        how="left",
        maintain_order="left",
    )
    rows = pl.concat([lines[at.get_column("_at")], candidates], how="horizontal")
    return Correlation(windows, covered, rows, set_aside)


def _window_counts(frame: pl.DataFrame, failures: pl.DataFrame) -> pl.Series:
    """Lines whose interval meets each window: started before its end, minus ended before its
    start (a line that ended before the window started also started before it ended)."""
    starts = frame.get_column("timestamp").sort()
    ends = frame.get_column("end_time").sort()
    started = starts.search_sorted(failures.get_column("win_end"), side="right")
    ended = ends.search_sorted(failures.get_column("win_start"), side="left")
    return (started.cast(pl.Int64) - ended.cast(pl.Int64)).alias("in_window")


def _keyed(
    lines: pl.DataFrame, failures: pl.DataFrame, all_ids: dict[str, list[str]], runs: _Runs
) -> pl.DataFrame:
    """Lines in a window that name one of its failure's ids, labelled; those the ladder sets
    aside (an own trace but another's connection), and user_id lines another test wrote
    (`_other_tests`), are left out."""
    pairs = []
    for column, own in _ID_KINDS.items():
        ids = (
            failures.select("failure_idx", "win_start", "win_end", _id=own)
            .explode("_id")
            .drop_nulls("_id")
        )
        if ids.is_empty():
            continue
        named = lines.select("_row", "timestamp", "end_time", column).filter(
            pl.col(column).is_in(ids.get_column("_id").unique().to_list())
        )
        found = named.join(ids, left_on=column, right_on="_id", how="inner").filter(
            (pl.col("end_time") >= pl.col("win_start")) & (pl.col("timestamp") <= pl.col("win_end"))
        )
        pairs.append(found.select("_row", "failure_idx"))
    if not pairs:
        return _empty_chosen()
    conn_mine, conn_foreign = _owned("connection_id", "f_conn", all_ids["connection_id"])
    trace_mine, trace_foreign = _owned("trace", "f_trace", all_ids["trace"])
    user_mine, user_foreign = _owned("user_id", "f_user", all_ids["user_id"])
    join_key = (
        pl.when(conn_mine)
        .then(pl.lit("connection_id"))
        .when(trace_mine & ~conn_foreign)
        .then(pl.lit("trace"))
        .when(user_mine & ~conn_foreign & ~trace_foreign)
        .then(pl.lit("user_id"))
    )
    found = pl.concat(pairs).unique()
    # `_row` is the line's position: a gather, not a hash join against a million lines
    labelled = (
        pl.concat([found, lines[found.get_column("_row")].drop("_row")], how="horizontal")
        .join(failures, on="failure_idx")
        .with_columns(join_key=join_key)
        .filter(pl.col("join_key").is_not_null())
    )
    return _chosen(_other_tests(labelled, runs))


def _other_tests(labelled: pl.DataFrame, runs: _Runs) -> pl.DataFrame:
    """Without the user_id lines written inside another test's interval (not beside the
    failure's own) whose users may be the line's: unknown, or holding it."""
    by_user = (pl.col("join_key") == "user_id") & _elsewhere()
    suspects = labelled.filter(by_user)
    if suspects.is_empty():
        return labelled
    theirs = (
        suspects.select("_row", "failure_idx", "timestamp", "user_id", "test_id")
        .join_where(
            runs.frame,
            pl.col("timestamp") >= pl.col("s_start"),
            pl.col("timestamp") <= pl.col("s_end"),
        )
        .filter(
            (pl.col("s_test") != pl.col("test_id"))
            & (
                (pl.col("s_users").list.len() == 0)
                | pl.col("s_users").list.contains(pl.col("user_id"))
            )
        )
        .select("_row", "failure_idx")
        .unique()
    )
    return labelled.join(theirs, on=["_row", "failure_idx"], how="anti")


def _timed(
    lines: pl.DataFrame,
    failures: pl.DataFrame,
    all_ids: dict[str, list[str]],
    keep: pl.Expr,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Time-only candidates (the best `keep` per failure: an expression of failure_idx), and per
    failure how many lines joined by time and how many more were kept out for a contradicting
    status.

    Lines with HTTP fields, or that last, are paired with every window they meet: their status
    may contradict the client's, their path and status may match it. The others (most lines)
    are instants whose hint is the same for every failure: only the nearest of each hint can be
    among a failure's best, and of the rest only their number in its window is needed.
    """
    # a line naming any failure's id joins by that id or not at all; an id no failure has
    # (another user's) keeps it from the failures that have ids of that kind
    known = pl.any_horizontal(
        [pl.col(column).is_in(ids) for column, ids in all_ids.items() if ids] or [pl.lit(False)]
    )
    unknown = pl.sum_horizontal(
        [
            pl.col(column).is_not_null().cast(pl.Int8) * (1 << n)
            for n, column in enumerate(_ID_KINDS)
        ]
    )
    severe = [name for name, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK["WARNING"]]
    http = (
        pl.col("http_status").is_not_null()
        | pl.col("http_path").is_not_null()
        | (pl.col("end_time") != pl.col("timestamp"))
    )
    # each subset below is filtered from all lines at once: filtering subsets of subsets
    # copied most of a million rows three times over
    bare = lines.select(
        "_row",
        "timestamp",
        "end_time",
        "http_status",
        "http_path",
        "insert_id",
        _unknown=unknown,
        # tests running at its moment; a platform line belongs to none of them
        _cover=pl.when(pl.col("kind").is_in(PLATFORM_KINDS)).then(0).otherwise("_cover"),
        # the part of _hint a line has whatever the failure
        _base=pl.col("severity").is_in(severe).cast(pl.Int32)
        + pl.col("kind").is_in(["system", "stderr"]).cast(pl.Int32),
        _bare=~known.fill_null(False),
        _http=http,
    )
    flags = ("_bare", "_http")
    failures = failures.with_columns(_keep=keep)
    paired, nearest, counts = [], [], []
    for owns in failures.get_column("owns").unique().sort().to_list():
        eligible = pl.col("_bare") & ((pl.col("_unknown") & owns) == 0)
        group = failures.filter(pl.col("owns") == owns)
        with_http = bare.filter(eligible & pl.col("_http")).drop(flags)
        if not with_http.is_empty():
            pairs = (
                _in_windows(with_http, group)
                .filter(~_elsewhere())
                .with_columns(_contradicts=_contradicts())
            )
            paired.append(pairs)
            counts.append(
                pairs.group_by("failure_idx").agg(
                    time_lines=pl.len(), contradicting=pl.col("_contradicts").sum()
                )
            )
        instants = eligible & ~pl.col("_http")
        # an instant written while some test ran joins only a failure of that test
        busy = pl.col("_cover") > 0
        for subset, windows in ((~busy, group), (busy, _own_windows(group))):
            chosen = bare.filter(instants & subset).drop(flags).sort("timestamp", "insert_id")
            if not chosen.is_empty():
                nearest += _nearest(chosen, windows)
                counts.append(_instants_in_windows(chosen, windows))
    if not counts:
        empty_counts = pl.DataFrame(
            schema={
                "failure_idx": pl.Int64(),
                "time_lines": pl.UInt32(),
                "contradicting": pl.UInt32(),
            }
        )
        return _empty_chosen(), empty_counts
    totals = (
        pl.concat([c.cast({"time_lines": pl.UInt32, "contradicting": pl.UInt32}) for c in counts])
        .group_by("failure_idx")
        .agg(pl.col("time_lines").sum(), pl.col("contradicting").sum())
    )
    path_known = pl.col("f_path").is_not_null()
    hint = (
        pl.when(path_known & pl.col("http_path").is_null())
        .then(0)  # _hint is null then, and counts as 0
        .otherwise(
            pl.col("_base")
            + (path_known & (pl.col("http_path") == pl.col("f_path"))).cast(pl.Int32) * 2
            + (pl.col("http_status") == pl.col("f_status")).fill_null(False).cast(pl.Int32) * 2
        )
    )
    ranked = pl.concat(
        [
            *(
                pairs.filter(~pl.col("_contradicts")).select(
                    "_row",
                    "failure_idx",
                    "insert_id",
                    _offset_us=_offset_us(),
                    hint=hint.cast(pl.Int32),
                )
                for pairs in paired
            ),
            *nearest,
        ]
    )
    # (hint, closeness) as one number: the best per failure, then ties by insert_id
    score = (6 - pl.col("hint")).cast(pl.Int64) * 10**13 + pl.col("_offset_us").abs()
    best = ranked.filter(score.rank("min").over("failure_idx") <= keep)
    best = best.sort(["failure_idx", score, "insert_id"]).filter(
        pl.int_range(pl.len()).over("failure_idx") < keep
    )
    return best.select(
        "_row",
        "failure_idx",
        join_key=pl.lit("time"),
        key_rank=pl.lit(KEY_RANK["time"], dtype=pl.Int32),
        offset_s=pl.col("_offset_us") / 1e6,
        hint="hint",
        insert_id="insert_id",
        pad=pl.lit(0, dtype=pl.Int8),
    ), totals


def _own_windows(failures: pl.DataFrame) -> pl.DataFrame:
    """The failures with their windows narrowed to their own test's interval (and the margin
    around the failing phase): where an instant written while a test ran may join them."""
    start = pl.min_horizontal("own_lo", "o_start")
    end = pl.max_horizontal("own_hi", "o_end")
    return failures.with_columns(
        win_start=pl.max_horizontal("win_start", start),
        win_end=pl.max_horizontal(
            pl.max_horizontal("win_start", start), pl.min_horizontal("win_end", end)
        ),
    )


def _offset_us() -> pl.Expr:
    return (pl.col("timestamp") - pl.col("f_end")).dt.total_microseconds()


def _nearest(instants: pl.DataFrame, failures: pl.DataFrame) -> list[pl.DataFrame]:
    """Candidates among instants (sorted by time, then insert_id) for each failure: of each
    hint, those nearest its end, enough that its best `_keep` are among them.

    Their hint: 0 for a failure that knows its URL path (they have none), else their own part
    (`_base`).
    """
    path_known = failures.get_column("f_path").is_not_null()
    levels = [(failures.filter(path_known), instants, 0)]
    levels += [
        (failures.filter(~path_known), instants.filter(pl.col("_base") == base), base)
        for base in (0, 1, 2)
    ]
    return [
        _nearest_of(lines, group, hint)
        for group, lines, hint in levels
        if not group.is_empty() and not lines.is_empty()
    ]


def _nearest_of(lines: pl.DataFrame, failures: pl.DataFrame, hint: int) -> pl.DataFrame:
    """(line, failure) pairs: the `_keep` lines before a failure's end and the `_keep` from its
    end on, within its window, widened to every line at the instant of the outermost ones (the
    ranking breaks ties of distance by insert_id, which the time order cannot follow on both
    sides)."""
    times = lines.get_column("timestamp")
    last = lines.height - 1

    def position(moments: pl.Series, side: Literal["left", "right"]) -> pl.Series:
        return times.search_sorted(moments, side=side).cast(pl.Int64)

    bounds = pl.DataFrame(
        {
            "low": position(failures.get_column("win_start"), "left"),
            "high": position(failures.get_column("win_end"), "right"),
            "middle": position(failures.get_column("f_end"), "left"),
            "keep": failures.get_column("_keep").cast(pl.Int64),
        }
    ).with_columns(pl.col("middle").clip(pl.col("low"), pl.col("high")))
    bounds = bounds.with_columns(
        start=pl.max_horizontal("low", pl.col("middle") - pl.col("keep")),
        stop=pl.min_horizontal("high", pl.col("middle") + pl.col("keep")),
    )
    first = times.gather(bounds.get_column("start").clip(0, last))
    final = times.gather((bounds.get_column("stop") - 1).clip(0, last))
    taken = pl.col("start") < pl.col("stop")
    bounds = bounds.with_columns(
        start=pl.when(taken)
        .then(pl.max_horizontal(pl.col("low"), position(first, "left")))
        .otherwise("start"),
        stop=pl.when(taken)
        .then(pl.min_horizontal(pl.col("high"), position(final, "right")))
        .otherwise("stop"),
    )
    ranges = (
        bounds.select(
            _failure=pl.int_range(pl.len(), dtype=pl.UInt32),
            _line=pl.int_ranges("start", "stop", dtype=pl.UInt32),
        )
        .explode("_line")
        .drop_nulls("_line")
    )
    pairs = pl.concat(
        [
            lines[ranges.get_column("_line")].select("_row", "timestamp", "insert_id"),
            failures[ranges.get_column("_failure")].select("failure_idx", "f_end"),
        ],
        how="horizontal",
    )
    return pairs.select(
        "_row",
        "failure_idx",
        "insert_id",
        _offset_us=_offset_us(),
        hint=pl.lit(hint, dtype=pl.Int32),
    )


def _instants_in_windows(instants: pl.DataFrame, failures: pl.DataFrame) -> pl.DataFrame:
    """How many instants (sorted by time) each failure's window holds."""
    times = instants.get_column("timestamp")
    low = times.search_sorted(failures.get_column("win_start"), side="left")
    high = times.search_sorted(failures.get_column("win_end"), side="right")
    return pl.DataFrame(
        {
            "failure_idx": failures.get_column("failure_idx"),
            "time_lines": (high.cast(pl.Int64) - low.cast(pl.Int64)).cast(pl.UInt32),
            "contradicting": pl.repeat(0, failures.height, dtype=pl.UInt32, eager=True),
        }
    )


def _in_windows(lines: pl.DataFrame, failures: pl.DataFrame) -> pl.DataFrame:
    """(line, failure) pairs whose line meets the failure's window. Lines that end within
    SHORT_US of their start (most: instants, quick requests) are found by binary search in time
    order; longer intervals (WebSockets that lived through the test) by an interval join."""
    group = failures.select(
        "failure_idx",
        "win_start",
        "win_end",
        "f_end",
        "f_status",
        "f_path",
        "own_lo",
        "own_hi",
        "o_start",
        "o_end",
    )
    span = (pl.col("end_time") - pl.col("timestamp")).dt.total_microseconds()
    short = lines.filter(span <= _SHORT_US).sort("timestamp")
    times = short.get_column("timestamp")
    earliest = group.get_column("win_start") - timedelta(microseconds=_SHORT_US)
    ranges = (
        group.select(
            _failure=pl.int_range(pl.len(), dtype=pl.UInt32),
            _line=pl.int_ranges(
                times.search_sorted(earliest, side="left"),
                times.search_sorted(group.get_column("win_end"), side="right"),
                dtype=pl.UInt32,
            ),
        )
        .explode("_line")
        .drop_nulls("_line")
    )
    found = pl.concat(
        [short[ranges.get_column("_line")], group[ranges.get_column("_failure")]],
        how="horizontal",
    ).filter(pl.col("end_time") >= pl.col("win_start"))
    long = lines.filter(span > _SHORT_US)
    if long.is_empty():
        return found
    joined = long.join_where(
        group,
        pl.col("end_time") >= pl.col("win_start"),
        pl.col("timestamp") <= pl.col("win_end"),
    )
    return pl.concat([found, joined.select(found.columns)])


def _chosen(pairs: pl.DataFrame) -> pl.DataFrame:
    """The ranking columns of labelled (line, failure) pairs."""
    return pairs.select(
        "_row",
        "failure_idx",
        "join_key",
        key_rank=pl.col("join_key").replace_strict(KEY_RANK, return_dtype=pl.Int32),
        offset_s=(pl.col("timestamp") - pl.col("f_end")).dt.total_microseconds() / 1e6,
        hint=_hint(),
        insert_id="insert_id",
        # a user_id line of a pad ranks after those of the failure's own interval
        pad=((pl.col("join_key") == "user_id") & ~_inside_own()).cast(pl.Int8),
    )


def _empty_chosen() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "_row": pl.UInt32(),
            "failure_idx": pl.Int64(),
            "join_key": pl.String(),
            "key_rank": pl.Int32(),
            "offset_s": pl.Float64(),
            "hint": pl.Int32(),
            "insert_id": pl.String(),
            "pad": pl.Int8(),
        }
    )
