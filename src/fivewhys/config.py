"""Project settings from `[tool.fivewhys]` in pyproject.toml or a `fivewhys.toml`, with defaults."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import Field, ValidationError

from fivewhys.errors import InputError
from fivewhys.ids import DEFAULT_CONNECTION_ID, DEFAULT_TRACE, DEFAULT_USER_ID, IdPatterns
from fivewhys.linear_regex import LinearRegex, RegexRefused
from fivewhys.model import Record


class IdSettings(Record):
    """Extra id regexes (one capture group each), tried before the defaults."""

    connection_id: tuple[str, ...] = ()
    user_id: tuple[str, ...] = ()
    trace: tuple[str, ...] = ()


class WindowSettings(Record):
    """How far around a failure to look for server lines."""

    before_s: float = Field(default=30.0, ge=0, description="pad before the test started")
    after_s: float = Field(default=10.0, ge=0, description="pad after the failing phase ended")
    skew_s: float = Field(default=2.0, ge=0, description="client/server clock skew allowed")


class LoggingSettings(Record):
    """How to read the Cloud Logging API: within quota, patiently, and for how long to wait."""

    requests_per_s: float = Field(default=1.0, gt=0, description="request rate limit")
    retries: int = Field(default=6, ge=0, description="retries of a failing request")
    backoff_s: float = Field(default=1.0, gt=0, description="first retry's backoff")
    backoff_max_s: float = Field(default=32.0, gt=0, description="longest backoff")
    timeout_s: float = Field(default=30.0, gt=0, description="per-request timeout")
    settle_s: float = Field(
        default=60.0, ge=0, description="how long after a window's end to wait for ingestion"
    )
    settle_poll_s: float = Field(default=5.0, gt=0, description="time between ingestion checks")


class BigQuerySettings(Record):
    """Logs routed to BigQuery: the dataset to query instead of reading files, and the guard."""

    dataset: str | None = Field(default=None, description="PROJECT.DATASET (--bigquery)")
    max_bytes: int = Field(default=10 * 1024**3, gt=0, description="most bytes a query may scan")


class Settings(Record):
    """Everything `[tool.fivewhys]` may set."""

    rules: tuple[str, ...] = Field(default=(), description="extra rule directories")
    repo: str | None = Field(default=None, description="local git checkout of the service")
    history: str | None = Field(default=None, description="history directory of earlier runs")
    ids: IdSettings = IdSettings()
    window: WindowSettings = WindowSettings()
    logging: LoggingSettings = LoggingSettings()
    bigquery: BigQuerySettings = BigQuerySettings()

    def id_patterns(self) -> IdPatterns:
        return IdPatterns(
            connection_id=self.ids.connection_id + DEFAULT_CONNECTION_ID,
            user_id=self.ids.user_id + DEFAULT_USER_ID,
            trace=self.ids.trace + DEFAULT_TRACE,
        )


def load_settings(directory: Path) -> Settings:
    """Settings from `fivewhys.toml` (whole file) or `[tool.fivewhys]` of pyproject.toml."""
    own = directory / "fivewhys.toml"
    pyproject = directory / "pyproject.toml"
    if own.is_file():
        path, table = own, _read_toml(own)
    elif pyproject.is_file():
        tool = _read_toml(pyproject).get("tool")
        table = tool.get("fivewhys", {}) if isinstance(tool, dict) else {}
        path = pyproject
    else:
        return Settings()
    try:
        settings = Settings.model_validate(table)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"[tool.fivewhys] {where}: {first['msg']}", path) from None
    for kind in ("connection_id", "user_id", "trace"):
        for pattern in getattr(settings.ids, kind):
            try:
                compiled = LinearRegex(pattern)
            except RegexRefused as exc:
                raise InputError(f"ids.{kind}: bad regex {pattern!r}: {exc}", path) from None
            if compiled.groups != 1:
                raise InputError(f"ids.{kind}: {pattern!r} needs one capture group", path)
    return settings


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read settings: {exc}", path) from None
