"""Reproduce the results files in ``generated/`` by running the tiny suite in ``suite/``.

Usage (from the repository root, with the dev extras installed)::

    .venv/bin/python tests/data/results/regenerate.py

Two real pytest runs of ``suite/tests/e2e/e2e_chat.py``, under ``TZ=America/Los_Angeles`` so
the JUnit timestamp carries a non-UTC offset like the real captures do:

1. xunit2 (the default family, with ``junit_logging=all``) + ``--report-log`` +
   ``--json-report``: three views of the *same* run, so the exact reportlog times can check
   the estimates derived from the other two;
2. xunit1 (``file``/``line`` attributes on each testcase, no captured output);
3. ``suite/broken/``, whose one module fails to import, in all three formats: a collection
   error, which is no failed test.

Outputs differ on every run (times, ports, object addresses): after regenerating, update
the values pinned in ``tests/test_results_generated.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = HERE / "suite"
OUT = HERE / "generated"


def run(*options: str) -> None:
    """Run pytest once; failures are the point, so only a usage error (rc >= 2) stops us."""
    env = {**os.environ, "TZ": "America/Los_Angeles"}
    cmd = [sys.executable, "-m", "pytest", "-q", *options]
    rc = subprocess.run(cmd, cwd=SUITE, env=env, check=False).returncode
    if rc not in (0, 1):
        sys.exit(f"pytest exited with {rc}: {' '.join(cmd)}")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    run(
        "tests",
        f"--junitxml={OUT / 'junit_xunit2.xml'}",
        "-o",
        "junit_family=xunit2",
        "-o",
        "junit_logging=all",
        f"--report-log={OUT / 'reportlog.jsonl'}",
        "--json-report",
        f"--json-report-file={OUT / 'json_report.json'}",
    )
    run("tests", f"--junitxml={OUT / 'junit_xunit1.xml'}", "-o", "junit_family=xunit1")
    run(
        "broken",
        "--continue-on-collection-errors",
        f"--junitxml={OUT / 'collection_error.xml'}",
        f"--report-log={OUT / 'collection_error.jsonl'}",
        "--json-report",
        f"--json-report-file={OUT / 'collection_error.json'}",
    )


if __name__ == "__main__":
    main()
