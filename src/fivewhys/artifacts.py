"""Output files are created, never written through: a CI job's artifact directory may hold a
link planted by the code under test (`DIR/rca.md -> ~/.ssh/authorized_keys`, or dangling,
pointing outside DIR). Each file is written to a new temporary file beside it (created with
O_EXCL and O_NOFOLLOW by `tempfile.mkstemp`), then renamed over the target, which replaces a
directory entry and never follows one; a target that is a symbolic link is refused."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from fivewhys.errors import FivewhysError

#: the mode an artifact gets (mkstemp makes 0600; reports are redacted, readable like any file)
MODE = 0o644


def refuse_link(path: Path) -> None:
    """Stop with one line when `path` is a symbolic link, dangling or not."""
    if path.is_symlink():
        raise FivewhysError("refusing to write through a symbolic link", path)


def replace_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Create `path` anew with what `write` puts into the open file; OSError on failure (the
    temporary file is removed)."""
    refuse_link(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            os.fchmod(handle.fileno(), MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """`text` as UTF-8 into a new `path`; OSError on failure."""
    data = text.encode("utf-8")

    def write(handle: BinaryIO) -> None:
        handle.write(data)

    replace_atomically(path, write)
