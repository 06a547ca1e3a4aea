"""Bundles: a pull kept as Parquet with its metadata reads back into the same report, byte for
byte; anything else that looks like Parquet is refused with one line."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO
from fake_logging import FakeClock, FakeLogging, bulk_entries, fake_logging, read_ndjson

from fivewhys import __version__
from fivewhys.config import LoggingSettings, Settings, WindowSettings
from fivewhys.errors import FivewhysError, InputError
from fivewhys.logs.bundle import BUNDLE_KEY, read_bundle
from fivewhys.logs.files import read_log_files
from fivewhys.logs.live import LiveSource
from fivewhys.model import Report
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render
from fivewhys.resources import CACHE_DIR_ENV

__all__ = ["fake_logging"]  # the fixture, used by name

RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
SINK = REPO / "examples" / "logs" / "sink.ndjson"
PULLED_AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))


def _live(fake: FakeLogging, **settings: float) -> LiveSource:
    return LiveSource(  # every entry: a bundle test counts the full pull's requests
        pull="all",
        project="fivewhys-example",
        services=("chat-backend",),
        endpoint=fake.url,
        settings=LoggingSettings(
            settle_s=0, backoff_s=0.001, backoff_max_s=0.002, retries=1, **settings
        ),
        clock=FakeClock(PULLED_AT),
        rng=random.Random(3),
    )


def _analyze_live(fake: FakeLogging, bundle: Path) -> Report:
    return analyze(Analysis(results=[RESULTS], live=_live(fake), save_logs=bundle))


def _analyze_bundle(bundle: Path) -> Report:
    return analyze(Analysis(results=[RESULTS], logs=[str(bundle)]))


def test_a_bundle_reads_back_into_the_same_report(
    fake_logging: FakeLogging, tmp_path: Path
) -> None:
    fake_logging.load(read_ndjson(SINK))
    bundle = tmp_path / "logs.parquet"
    live = _analyze_live(fake_logging, bundle)
    offline = _analyze_bundle(bundle)
    for fmt in OutputFormat:
        assert render(offline, fmt) == render(live, fmt)
    assert len(fake_logging.requests) == 1  # reading the bundle asked nothing
    assert [c.rule_id for c in offline.causes] == [c.rule_id for c in live.causes]
    assert len(offline.causes) == 3


def test_a_bundle_keeps_no_secret_and_still_reads_back_the_same(
    fake_logging: FakeLogging, tmp_path: Path
) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3ItMSJ9.c2lnbmF0dXJlLXZhbHVl"
    entries = read_ndjson(SINK)
    for entry in entries:
        if "jsonPayload" in entry:
            entry["jsonPayload"]["message"] += f" Authorization: Bearer {token}"
    fake_logging.load(entries)
    bundle = tmp_path / "logs.parquet"
    live = _analyze_live(fake_logging, bundle)
    frame = read_bundle(str(bundle))[0]
    assert not frame.filter(pl.col("raw").str.contains(token, literal=True)).height
    assert frame.filter(pl.col("message").str.contains("[REDACTED]", literal=True)).height
    assert render(_analyze_bundle(bundle), OutputFormat.JSON) == render(live, OutputFormat.JSON)


def test_a_bundle_with_a_missing_window_still_says_so(
    fake_logging: FakeLogging, tmp_path: Path
) -> None:
    fake_logging.load(read_ndjson(SINK))
    fake_logging.fault_for = lambda _: "429"
    bundle = tmp_path / "logs.parquet"
    live = _analyze_live(fake_logging, bundle)
    offline = _analyze_bundle(bundle)
    assert render(offline, OutputFormat.MARKDOWN) == render(live, OutputFormat.MARKDOWN)
    assert offline.query.per_window[0].status == "missing"
    assert "The logs may be incomplete" in offline.summary
    _, meta = read_bundle(str(bundle))
    assert [w.status for w in meta.missing_windows] == ["missing"]


def test_the_metadata_says_what_was_pulled(fake_logging: FakeLogging, tmp_path: Path) -> None:
    fake_logging.load(read_ndjson(SINK))
    bundle = tmp_path / "logs.parquet"
    _analyze_live(fake_logging, bundle)
    assert bundle.read_bytes()[:4] == b"PAR1"
    meta = json.loads(pl.read_parquet_metadata(bundle)[BUNDLE_KEY])
    pull = meta["pull"]
    assert meta["format"] == 1
    assert meta["tool_version"] == __version__
    assert meta["entry_count"] == 57 == pl.read_parquet(bundle).height
    assert meta["missing_windows"] == []
    assert (pull["project"], pull["services"]) == ("fivewhys-example", ["chat-backend"])
    assert pull["pulled_at"] == "2026-11-22T09:30:00Z"
    assert pull["filter"].startswith('(resource.type="cloud_run_revision")')
    assert [(w["start"], w["end"], w["status"], w["pages"]) for w in pull["windows"]] == [
        ("2026-11-21T23:35:35.397103Z", "2026-11-21T23:36:21.499137Z", "complete", 1)
    ]
    assert meta["sources"] == ["Cloud Logging API, projects/fivewhys-example"]


def test_a_bundle_is_told_by_its_magic_bytes_not_its_name(
    fake_logging: FakeLogging, tmp_path: Path
) -> None:
    fake_logging.load(read_ndjson(SINK))
    bundle = tmp_path / "logs.parquet"
    _analyze_live(fake_logging, bundle)
    disguised = tmp_path / "logs.json"
    shutil.copy(bundle, disguised)
    assert read_log_files([str(disguised)]).frame.equals(read_bundle(str(bundle))[0])
    ndjson_named_parquet = tmp_path / "sink.parquet"
    shutil.copy(SINK, ndjson_named_parquet)
    assert read_log_files([str(ndjson_named_parquet)]).frame.height == 57


def test_a_bundle_and_a_file_with_the_same_entries_count_duplicates(
    fake_logging: FakeLogging, tmp_path: Path
) -> None:
    fake_logging.load(read_ndjson(SINK))
    bundle = tmp_path / "logs.parquet"
    _analyze_live(fake_logging, bundle)
    both = read_log_files([str(SINK), str(bundle)])
    assert both.frame.height == 57
    assert both.skipped == {"duplicate insertId": 57}
    assert both.sources == [str(SINK), "Cloud Logging API, projects/fivewhys-example"]
    assert len(both.pulls) == 1


def test_bundles_of_many_entries_round_trip(fake_logging: FakeLogging, tmp_path: Path) -> None:
    entries = read_ndjson(SINK)
    start = datetime.fromisoformat(entries[0]["timestamp"])
    fake_logging.load(entries + bulk_entries(3000, start, step_ms=3))
    bundle = tmp_path / "logs.parquet"
    live = _analyze_live(fake_logging, bundle)
    assert live.log_entries == 3057
    assert len(fake_logging.requests) == 4
    assert render(_analyze_bundle(bundle), OutputFormat.JSON) == render(live, OutputFormat.JSON)


def test_a_hand_made_bundle_alone_is_still_deduplicated_and_sorted(
    fake_logging: FakeLogging, tmp_path: Path
) -> None:
    """A bundle alone is used as read, but its metadata cannot vouch for its rows: one written
    by other means (here reversed, its first row repeated under another time) is read as the
    pull's own rows, with the repeat counted."""
    fake_logging.load(read_ndjson(SINK))
    bundle = tmp_path / "logs.parquet"
    _analyze_live(fake_logging, bundle)
    pulled = read_log_files([str(bundle)])
    assert pulled.skipped.get("duplicate insertId") is None
    rows = pl.read_parquet(bundle)
    repeat = rows.head(1).with_columns(pl.col("timestamp") + pl.duration(seconds=1))
    meta = json.loads(pl.read_parquet_metadata(bundle)[BUNDLE_KEY])
    hand_made = tmp_path / "hand-made.parquet"
    pl.concat([rows.reverse(), repeat]).write_parquet(
        hand_made, metadata={BUNDLE_KEY: json.dumps({**meta, "entry_count": rows.height + 1})}
    )
    read = read_log_files([str(hand_made)])
    assert read.skipped == {"duplicate insertId": 1}
    assert read.frame.equals(pulled.frame)


# --- what is not a bundle ------------------------------------------------------------------------


def test_plain_parquet_is_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(path)
    with pytest.raises(InputError) as caught:
        read_log_files([str(path)])
    assert str(caught.value) == (
        f"{path}: a Parquet file, but not a fivewhys log bundle (no fivewhys.bundle metadata; "
        "bundles are written by `fivewhys pull` or `analyze --save-logs`)"
    )


def test_a_truncated_bundle_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.parquet"
    path.write_bytes(b"PAR1" + b"\0" * 20)
    with pytest.raises(InputError) as caught:
        read_log_files([str(path)])
    assert str(caught.value).startswith(f"{path}: cannot read Parquet: ")
    assert "\n" not in str(caught.value)


def _rewrite(source: Path, target: Path, meta: dict[str, object]) -> None:
    pl.read_parquet(source).write_parquet(target, metadata={BUNDLE_KEY: json.dumps(meta)})


def test_a_newer_or_damaged_bundle_is_refused(fake_logging: FakeLogging, tmp_path: Path) -> None:
    fake_logging.load(read_ndjson(SINK))
    bundle = tmp_path / "logs.parquet"
    _analyze_live(fake_logging, bundle)
    meta = json.loads(pl.read_parquet_metadata(bundle)[BUNDLE_KEY])

    newer = tmp_path / "newer.parquet"
    _rewrite(bundle, newer, {**meta, "format": 2, "something": "new"})
    with pytest.raises(
        InputError, match=r"bundle format 2 is newer than this fivewhys reads \(1\)"
    ):
        read_bundle(str(newer))

    damaged = tmp_path / "damaged.parquet"
    _rewrite(bundle, damaged, {**meta, "entry_count": "many"})
    with pytest.raises(InputError, match="damaged bundle metadata: entry_count: "):
        read_bundle(str(damaged))

    lying = tmp_path / "lying.parquet"
    _rewrite(bundle, lying, {**meta, "entry_count": 3})
    with pytest.raises(InputError, match="bundle holds 57 rows but its metadata says 3"):
        read_bundle(str(lying))


def test_an_unwritable_bundle_path_is_one_line(fake_logging: FakeLogging, tmp_path: Path) -> None:
    fake_logging.load(read_ndjson(SINK))
    target = tmp_path / "no-such-dir" / "logs.parquet"
    with pytest.raises(FivewhysError) as caught:
        _analyze_live(fake_logging, target)
    assert str(caught.value).startswith(f"{target}: cannot write the log bundle: ")


def test_wider_windows_than_the_bundle_holds_are_flagged(
    fake_logging: FakeLogging, tmp_path: Path
) -> None:
    fake_logging.load(read_ndjson(SINK))
    bundle = tmp_path / "logs.parquet"
    _analyze_live(fake_logging, bundle)
    wider = Settings(window=WindowSettings(before_s=600))
    report = analyze(Analysis(results=[RESULTS], logs=[str(bundle)], settings=wider))
    [window] = report.query.per_window
    assert (window.status, window.reason) == (
        "partial",
        "the pulled windows cover only part of it (wider --before/--after?)",
    )
    assert any(n.startswith("Log window ") and " is partial: " in n for n in report.notes)
