"""Shared test helpers: building LogFrames and Failures by hand for unit tests of the joins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from fivewhys.ids import extract_client_event, mask
from fivewhys.logs.frame import LOGFRAME_SCHEMA
from fivewhys.model import Failure, Ids
from fivewhys.resources import CACHE_DIR_ENV

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 9, 7, 15, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True, scope="session")
def _suite_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The suite's caches (compiled templates, loaded rules) in a directory of its own, not the
    user's: its subprocesses inherit it, a test that sets its own still can."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_DIR_ENV, str(tmp_path_factory.mktemp("cache")))
        yield


def at(seconds: float) -> datetime:
    """T0 + seconds: unit tests speak in offsets."""
    return T0 + timedelta(seconds=seconds)


def make_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A LogFrame from partial rows: defaults for every column not given."""
    full = []
    for number, row in enumerate(rows):
        ts = row.get("timestamp", T0)
        latency = row.get("http_latency_s")
        message = row.get("message", "")
        full.append(
            {
                "timestamp": ts,
                "end_time": ts + timedelta(seconds=latency or 0.0),
                "severity": "DEFAULT",
                "service": "chat-backend",
                "revision": "chat-backend-00042-xaz",
                "instance_id": "inst-1",
                "kind": "stdout",
                "log_name": "projects/p/logs/run.googleapis.com%2Fstdout",
                "http_method": None,
                "http_status": None,
                "http_path": None,
                "user_agent": None,
                "trace": None,
                "span_id": None,
                "insert_id": f"id-{number:03d}",
                "connection_id": None,
                "user_id": None,
                "template": mask(message),
                "source": f"test:{number + 1}",
                "raw": "{}",
                **row,
            }
        )
    return pl.DataFrame(full, schema=LOGFRAME_SCHEMA).sort(["timestamp", "insert_id"])


def make_failure(
    test_id: str = "tests/e2e/test_chat.py::test_x",
    message: str = "websockets.exceptions.ConnectionClosedError: received 1011 (internal error) "
    "Internal error; then sent 1011 (internal error) Internal error",
    start: float = 0.0,
    end: float = 2.0,
    **ids: tuple[str, ...],
) -> Failure:
    """A failure from its message, as the results readers would build it."""
    return Failure(
        test_id=test_id,
        outcome="failed",
        message=message,
        started_at=at(start),
        finished_at=at(end),
        time_exact=True,
        source="test-results:1",
        ids=Ids(**ids),
        event=extract_client_event(message),
        signature=mask(message.splitlines()[0]),
    )


@pytest.fixture
def frame_of() -> Callable[[list[dict[str, Any]]], pl.DataFrame]:
    return make_frame
