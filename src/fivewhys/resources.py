"""Where the bundled rules and templates are: inside the wheel, or the repository's top level."""

from __future__ import annotations

from pathlib import Path

import fivewhys


def bundled(name: str) -> Path:
    """`_data/<name>` of an installed wheel, else `<repo>/<name>` of a source checkout."""
    installed = Path(fivewhys.__file__).parent / "_data" / name
    if installed.is_dir():
        return installed
    return Path(__file__).parents[2] / name
