"""Where the bundled rules and templates are (inside the wheel, or the repository's top level),
and where fivewhys keeps what it may reuse (the user's cache directory)."""

from __future__ import annotations

import os
from pathlib import Path

import fivewhys


def bundled(name: str) -> Path:
    """`_data/<name>` of an installed wheel, else `<repo>/<name>` of a source checkout."""
    installed = Path(fivewhys.__file__).parent / "_data" / name
    if installed.is_dir():
        return installed
    return Path(__file__).parents[2] / name


#: overrides the cache directory (tests point it at a temporary one)
CACHE_DIR_ENV = "FIVEWHYS_CACHE_DIR"


def default_cache_dir() -> Path:
    """`$FIVEWHYS_CACHE_DIR`, else `$XDG_CACHE_HOME/fivewhys`, else `~/.cache/fivewhys`."""
    if own := os.environ.get(CACHE_DIR_ENV):
        return Path(own)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fivewhys"


#: set (to anything but the empty string) to keep nothing between runs: the report templates
#: are compiled and the rule files read and checked again every time
NO_COMPILED_CACHE_ENV = "FIVEWHYS_NO_COMPILED_CACHE"


def compiled_cache_dir(kind: str) -> Path | None:
    """Where fivewhys keeps what it compiled of `kind` (templates, rules), or None when off."""
    if os.environ.get(NO_COMPILED_CACHE_ENV):
        return None
    return default_cache_dir() / kind
