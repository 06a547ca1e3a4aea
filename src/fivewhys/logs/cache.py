"""A local cache of pulled windows, so re-running the same analysis makes no API request.

One gzip JSON file per window, named by a hash of what was asked (endpoint, project, services,
window, filters) and holding the entries as the API sent them plus how the read went. Only
complete windows are stored: a window read before ingestion settled is read again next time.
A damaged or foreign file is a miss, never an error.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fivewhys.model import PulledWindow, Window

#: bump when the stored shape changes: older files become misses
_FORMAT = 1


@dataclass(frozen=True)
class CachedWindow:
    """A window as it was pulled: the read's record and the API's entries, oldest first."""

    window: PulledWindow
    entries: list[dict[str, Any]]


def cache_key(
    endpoint: str | None,
    project: str,
    services: Sequence[str],
    window: Window,
    filters: Sequence[str],
) -> str:
    """The name of a window's cache file: everything that decides which entries it holds."""
    parts = [
        _FORMAT,
        endpoint or "",
        project,
        sorted(services),
        window.start.isoformat(),
        window.end.isoformat(),
        list(filters),
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class WindowCache:
    """Pulled windows under `root/windows/`."""

    def __init__(self, root: Path) -> None:
        self.root = root / "windows"

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json.gz"

    def get(self, key: str) -> CachedWindow | None:
        """The cached window, or None when absent, damaged or of another format."""
        try:
            with gzip.open(self._path(key), "rt", encoding="utf-8") as handle:
                data = json.load(handle)
            if data.get("format") != _FORMAT or not isinstance(data.get("entries"), list):
                return None
            return CachedWindow(PulledWindow.model_validate(data["window"]), data["entries"])
        except (OSError, EOFError, ValueError, AttributeError, ValidationError):
            return None

    def put(self, key: str, window: PulledWindow, entries: list[dict[str, Any]]) -> str | None:
        """Store a window atomically; returns why it could not be stored (a cache is optional)."""
        data = {"format": _FORMAT, "window": window.model_dump(mode="json"), "entries": entries}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as out:
                    json.dump(data, out, separators=(",", ":"))
                os.replace(tmp, self._path(key))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            return f"cannot write the log cache in {self.root}: {exc.strerror or exc}"
        return None
