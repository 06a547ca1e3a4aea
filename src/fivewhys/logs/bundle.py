"""Log bundles: a pulled LogFrame as Parquet, with the pull's record, to re-analyse offline.

A CI job keeps the bundle as an artifact; after log retention it is still the same evidence.
The metadata is one JSON document under the Parquet key-value key `fivewhys.bundle`: the pull
(project, services, windows and their status, filter, pulled_at, settling), the tool version,
the entry count, the missing windows, and the normalization's account (sources, skipped,
mapped, warnings). Everything a report says about the logs comes from it, so a bundle read
back gives the same report, byte for byte, as the run that pulled it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pydantic import ValidationError

from fivewhys import json_input
from fivewhys.artifacts import replace_atomically
from fivewhys.errors import FivewhysError, InputError
from fivewhys.logs.frame import LOGFRAME_SCHEMA
from fivewhys.model import Deploy, PulledWindow, PullInfo, Record

#: the first bytes of every Parquet file
PARQUET_MAGIC = b"PAR1"
#: the Parquet key-value metadata key holding `BundleMeta` as JSON
BUNDLE_KEY = "fivewhys.bundle"
#: bump when the metadata changes incompatibly
BUNDLE_FORMAT = 1


class BundleMeta(Record):
    """What a bundle says about its rows."""

    format: int = BUNDLE_FORMAT
    tool_version: str
    entry_count: int
    pull: PullInfo
    #: windows not read completely (also in `pull.windows`, listed here for a quick look)
    missing_windows: tuple[PulledWindow, ...] = ()
    sources: tuple[str, ...] = ()
    skipped: dict[str, int] = {}
    mapped: dict[str, int] = {}
    warnings: tuple[str, ...] = ()
    #: the deploys the pull's lookback read from the audit log, and how far back it read
    deploys: tuple[Deploy, ...] = ()
    deploy_reach: str | None = None


def is_parquet(path: str | Path) -> bool:
    """Told by the magic bytes, not the name."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
    except OSError:
        return False


def write_bundle(path: Path, frame: pl.DataFrame, meta: BundleMeta) -> None:
    """Write atomically, as a new file (never through a link): a half-written artifact would be
    worse than none."""
    metadata = {BUNDLE_KEY: meta.model_dump_json()}
    try:
        replace_atomically(path, lambda handle: frame.write_parquet(handle, metadata=metadata))
    except (OSError, pl.exceptions.PolarsError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FivewhysError(f"cannot write the log bundle: {detail}", path) from None


def read_bundle(path: str) -> tuple[pl.DataFrame, BundleMeta]:
    """The LogFrame and metadata of a bundle; `InputError` for anything else."""
    try:
        kv = pl.read_parquet_metadata(path)
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"cannot read Parquet: {_first_line(exc)}", path) from None
    text = kv.get(BUNDLE_KEY)
    if text is None:
        raise InputError(
            "a Parquet file, but not a fivewhys log bundle (no fivewhys.bundle metadata; "
            "bundles are written by `fivewhys pull` or `analyze --save-logs`)",
            path,
        )
    try:
        data = json_input.loads(text)
    except ValueError as exc:
        raise InputError(f"damaged bundle metadata: {exc}", path) from None
    found = data.get("format") if isinstance(data, dict) else None
    if isinstance(found, int) and found > BUNDLE_FORMAT:
        raise InputError(
            f"bundle format {found} is newer than this fivewhys reads ({BUNDLE_FORMAT}): "
            "upgrade fivewhys",
            path,
        )
    try:
        meta = BundleMeta.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "metadata"
        raise InputError(f"damaged bundle metadata: {where}: {first['msg']}", path) from None
    if dict(frame.schema) != LOGFRAME_SCHEMA:
        raise InputError("bundle columns are not this fivewhys's LogFrame", path)
    if frame.height != meta.entry_count:
        raise InputError(
            f"bundle holds {frame.height} rows but its metadata says {meta.entry_count}", path
        )
    return frame, meta


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
