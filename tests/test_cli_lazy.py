"""`fivewhys --help` loads no part of the analysis, and the help it shows without loading the
commands is each command's own."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from conftest import REPO

from fivewhys.cli import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert command.get_short_help_str(limit=67) == COMMANDS[name][2]


def test_help_imports_nothing_of_the_analysis() -> None:
    probe = (
        "import json, sys\n"
        "from fivewhys.cli import cli\n"
        "try:\n"
        "    cli(['--help'], prog_name='fivewhys')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stderr))
    assert "Commands:" in done.stdout
    heavy = {"polars", "pydantic", "jinja2", "google.cloud.logging", "google.cloud.bigquery"}
    heavy |= {"fivewhys.pipeline"}
    assert loaded & heavy == set()


def test_every_command_is_listed_and_runs_through_the_group() -> None:
    assert cli.list_commands(click.Context(cli)) == sorted(COMMANDS)
    result = subprocess.run(
        [sys.executable, "-m", "fivewhys.cli", "rules", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "validate" in result.stdout


def _modules_of_analyze(logs: str) -> set[str]:
    probe = (
        "import json, sys\n"
        "from fivewhys.cli import cli\n"
        "try:\n"
        "    cli(['analyze', 'examples/results/report-log.jsonl', '--logs',"
        f" {logs!r}, '-o', '/dev/null'], prog_name='fivewhys')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert "wrote /dev/null" in done.stderr  # the analysis ran
    return set(json.loads(done.stderr.splitlines()[-1]))


#: what a report from files never needs: the pulls, queries and their clients, the renderers
#: of other formats, the readers of other results formats
UNUSED_BY_A_FILE_ANALYSIS = {
    "fivewhys.logs.live",
    "fivewhys.logs.cache",
    "fivewhys.logs.bigquery",
    "fivewhys.logs.bigquery_sql",
    "fivewhys.logs.cloud_logging",
    "fivewhys.narrowing",
    "fivewhys.report.html",
    "fivewhys.report.jira",
    "fivewhys.results.junit",
    "fivewhys.results.jsonreport",
    # fuzzy matching: only a rule with `message|fuzzy` needs it, and no bundled rule has one
    "rapidfuzz",
}


@pytest.mark.parametrize("logs", ["examples/logs/sink.ndjson", "examples/logs/gcloud-read.json"])
def test_a_file_analysis_imports_only_what_it_uses(logs: str) -> None:
    loaded = _modules_of_analyze(logs)
    assert {"fivewhys.pipeline", "fivewhys.results.reportlog", "polars"} <= loaded
    assert loaded & UNUSED_BY_A_FILE_ANALYSIS == set()
    assert not {
        m for m in loaded if m.startswith(("google.cloud.bigquery", "google.cloud.logging"))
    }


def test_a_commands_import_is_frozen_and_the_collector_back_on() -> None:
    probe = (
        "import gc, sys\n"
        "import click\n"
        "from fivewhys.cli import cli\n"
        "before = gc.get_freeze_count()\n"
        "cli.get_command(click.Context(cli), 'analyze')\n"
        "print(before, gc.get_freeze_count(), gc.isenabled(), 'polars' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    before, after, enabled, imported = done.stdout.split()
    assert imported == "True"  # the command's module (and the analysis) did load
    assert int(before) == 0 and int(after) > 50_000  # what it built is out of the collector's way
    assert enabled == "True"
