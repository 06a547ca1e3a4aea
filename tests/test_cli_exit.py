"""The console entry point ends the process without the interpreter's teardown (cli.main):
what a command printed is all there, and every exit code is the one the command gave."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

from fivewhys import __version__

EXAMPLE = ["examples/results/report-log.jsonl", "--logs", "examples/logs/gcloud-read.json"]


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "fivewhys.cli", *args], cwd=REPO, capture_output=True
    )


def test_a_report_on_stdout_is_whole(tmp_path: Path) -> None:
    piped = _run("analyze", *EXAMPLE)
    written = _run("analyze", *EXAMPLE, "-o", str(tmp_path / "rca.md"))
    assert piped.returncode == written.returncode == 0
    assert len(piped.stdout) > 10_000  # longer than the 8 KiB stdout buffer
    assert piped.stdout == (tmp_path / "rca.md").read_bytes()


def test_exit_codes_and_messages_are_the_commands() -> None:
    missing = _run("analyze", "no-such-results.xml")
    assert missing.returncode == 2
    assert missing.stderr.decode().strip() == "error: no-such-results.xml: no such file"
    usage = _run("analyze", "--no-such-option")
    assert usage.returncode == 2 and b"No such option" in usage.stderr
    version = _run("--version")
    assert version.returncode == 0 and version.stdout.decode().split()[-1] == __version__
