"""`fivewhys analyze` and `fivewhys pull` against Cloud Logging (the fake endpoint): the same
causes as from files, bundles, the cache, progress, and the exact one-line errors."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from audit_entries import activity, completion
from click.testing import CliRunner, Result
from conftest import REPO
from fake_logging import FakeLogging, fake_logging, read_ndjson

from fivewhys.cli import cli
from fivewhys.resources import CACHE_DIR_ENV

__all__ = ["fake_logging"]  # the fixture, used by name

RESULTS = "examples/results/report-log.jsonl"
SINK = REPO / "examples" / "logs" / "sink.ndjson"
PROJECT = "fivewhys-example"


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    for name in ("GOOGLE_CLOUD_PROJECT", "FIVEWHYS_LOGGING_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def example(fake_logging: FakeLogging) -> FakeLogging:
    fake_logging.load(read_ndjson(SINK))
    return fake_logging


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def live_args(fake: FakeLogging, *extra: str) -> list[str]:
    return [
        "--project",
        PROJECT,
        "--service",
        "chat-backend",
        "--api-endpoint",
        fake.url,
        "--settle",
        "0",
        *extra,
    ]


def attribution(report_json: str) -> set[tuple[str, str | None, str | None]]:
    report = json.loads(report_json)
    rules = {c["id"]: c["rule_id"] for c in report["causes"]}
    return {
        (
            f["test_id"],
            rules.get(f["cause_id"]),
            f["cites"][0]["insert_id"] if f["cause_id"] else None,
        )
        for f in report["failures"]
    }


def test_live_analysis_finds_the_causes_the_files_give(example: FakeLogging) -> None:
    from_api = run("analyze", RESULTS, *live_args(example), "--format", "json")
    from_files = run("analyze", RESULTS, "--logs", str(SINK), "--format", "json")
    assert from_api.exit_code == 0, from_api.stderr
    assert attribution(from_api.stdout) == attribution(from_files.stdout)
    assert len(json.loads(from_api.stdout)["causes"]) == 3
    assert from_api.stderr == ""  # not a terminal, no -v: quiet
    # narrow: the keyed lines, then the time lines of the failures they leave open (one query per
    # kind of failure: with and without a connection id), then the unexplained one's window
    *windows, lookback = example.requests
    keyed = [r.filter.count('"conn_') > 0 for r in windows]
    assert keyed == [True, False, False, False]
    # the time queries leave out others' lines; the last reads the (small) window whole
    assert ["NOT" in r.filter for r in windows] == [False, True, True, False]
    # then one query of the service's deploys over the 7 days before the run (none here)
    assert "cloudaudit.googleapis.com%2Factivity" in lookback.filter


def test_the_project_and_endpoint_can_come_from_the_environment(
    example: FakeLogging, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("FIVEWHYS_LOGGING_ENDPOINT", example.url)
    result = run("analyze", RESULTS, "--service", "chat-backend", "--settle", "0", "--pull", "all")
    assert result.exit_code == 0, result.stderr
    assert example.requests[0].resource_names == (f"projects/{PROJECT}",)
    # the project in the environment alone asks for no pull
    assert run("analyze", RESULTS, "--logs", str(SINK)).exit_code == 0
    assert len(example.requests) == 2  # the window and the deploy lookback


def test_verbose_shows_progress(example: FakeLogging) -> None:
    result = run("analyze", RESULTS, *live_args(example, "-v", "--pull", "all"), "--format", "json")
    assert result.stderr == (
        "window 1/1 2026-11-21 23:35:35Z to 23:36:21Z: 57 entries, 1 page\n"
        "pulled 1 window(s), 57 entries: 1 request(s), 0 retries, 0 window(s) from the cache\n"
        "deploy lookback: 0 entries, 1 request(s)\n"
    )


def test_pull_then_analyze_offline_gives_the_live_report(
    example: FakeLogging, tmp_path: Path
) -> None:
    kept, pulled = tmp_path / "kept.parquet", tmp_path / "pulled.parquet"
    for suffix in ("md", "json"):
        live_out = tmp_path / f"live.{suffix}"
        offline_out = tmp_path / f"offline.{suffix}"
        live = run(
            "analyze",
            RESULTS,
            *live_args(example, "--pull", "all"),
            "--save-logs",
            str(kept),
            "-o",
            str(live_out),
        )
        assert live.exit_code == 0, live.stderr
        offline = run("analyze", RESULTS, "--logs", str(kept), "-o", str(offline_out))
        assert offline.exit_code == 0, offline.stderr
        assert offline_out.read_bytes() == live_out.read_bytes()

    result = run("pull", RESULTS, *live_args(example), "-o", str(pulled))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"wrote {pulled}: 57 entries from 1 window(s), 0 not complete; "
        "0 request(s), 1 window(s) from the cache\n"
    )
    report = run("analyze", RESULTS, "--logs", str(pulled), "--format", "json")
    assert attribution(report.stdout) == attribution(
        run("analyze", RESULTS, "--logs", str(SINK), "--format", "json").stdout
    )


def test_the_cache_spares_requests_unless_told_not_to(example: FakeLogging, tmp_path: Path) -> None:
    out = tmp_path / "logs.parquet"
    first = run("pull", RESULTS, *live_args(example), "-o", str(out))
    assert first.stderr == (
        f"wrote {out}: 57 entries from 1 window(s), 0 not complete; "
        "1 request(s), 0 window(s) from the cache\n"
    )
    assert run("pull", RESULTS, *live_args(example), "-o", str(out)).exit_code == 0
    assert len(_window_requests(example)) == 1
    assert run("pull", RESULTS, *live_args(example, "--no-cache"), "-o", str(out)).exit_code == 0
    assert len(_window_requests(example)) == 2
    # the deploy lookback is asked each time (a deploy may have happened since)
    assert len(example.requests) - len(_window_requests(example)) == 3


def _window_requests(fake: FakeLogging) -> list[Any]:
    return [r for r in fake.requests if "cloudaudit" not in r.filter]


def test_the_deploy_lookback_names_the_deploy_and_the_bundle_keeps_it(
    example: FakeLogging, tmp_path: Path
) -> None:
    """One audit query per pull from --deploy-lookback days before the run: a deploy 3 days
    before it is read (and kept in the bundle), one 8 days before is not."""
    run_start = datetime(2026, 11, 21, 23, 36, 7, tzinfo=UTC)
    commit = "5d6e7f8a9b0c1d2e3f405162738495a6b7c8d9e0"
    recent = run_start - timedelta(days=3)
    old = run_start - timedelta(days=8)
    example.load(
        [
            activity(old, 41, "chat-backend-00040-abc", "0" * 40, insert_id="old-activity"),
            completion(old, "chat-backend-00041-pqr", 41, "0" * 40, insert_id="old-done"),
            activity(recent, 42, "chat-backend-00041-pqr", commit),
            completion(recent + timedelta(seconds=35), "chat-backend-00042-xaz", 42, commit),
        ]
    )
    live = run("analyze", RESULTS, *live_args(example), "--format", "json")
    assert live.exit_code == 0, live.stderr
    report = json.loads(live.stdout)
    assert [d["revision"] for d in report["revisions"]["deploys"]] == ["chat-backend-00042-xaz"]
    why = "Its evidence was written by revision chat-backend-00042-xaz"
    for cause in report["causes"]:
        [text] = [w["text"] for w in cause["whys"] if w["text"].startswith(why)]
        assert "from commit 5d6e7f8a9b0c" in text
    # near miss: a lookback of 2 days reaches neither deploy, and says how far it looked
    short = json.loads(
        run(
            "analyze", RESULTS, *live_args(example, "--deploy-lookback", "2"), "--format", "json"
        ).stdout
    )
    assert short["revisions"]["deploys"] == []
    assert all(
        "older than the 2-day lookback reaches (--deploy-lookback)" in c["whys"][-1]["text"]
        for c in short["causes"]
    )
    # a bundle from `pull` keeps the deploys: read offline, the same report
    bundle = tmp_path / "logs.parquet"
    assert run("pull", RESULTS, *live_args(example), "-o", str(bundle)).exit_code == 0
    offline = run("analyze", RESULTS, "--logs", str(bundle), "--format", "json")
    assert json.loads(offline.stdout)["revisions"] == report["revisions"]
    assert json.loads(offline.stdout)["causes"] == report["causes"]


# --- one clear line, exit 2 ----------------------------------------------------------------------


def test_no_project() -> None:
    result = run("analyze", RESULTS, "--service", "chat-backend")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: no Google Cloud project: pass --project PROJECT or set GOOGLE_CLOUD_PROJECT\n",
    )
    assert result.stdout == ""


def test_a_project_without_a_service() -> None:
    result = run("pull", RESULTS, "--project", PROJECT, "-o", "x.parquet")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: a live pull needs --service NAME: the Cloud Run service(s) the tests ran against\n",
    )


def test_pull_without_a_service() -> None:
    result = run("pull", RESULTS, "-o", "x.parquet")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: fivewhys pull needs --service NAME (and --project or GOOGLE_CLOUD_PROJECT)\n",
    )


def test_permission_denied(example: FakeLogging) -> None:
    example.faults = ["403"]
    result = run("analyze", RESULTS, *live_args(example))
    assert (result.exit_code, result.stderr) == (
        2,
        "error: permission denied reading the logs of project 'fivewhys-example': the account "
        "needs the role roles/logging.viewer there (check --project, and who `gcloud auth "
        "application-default login` logged in)\n",
    )
    assert len(example.requests) == 1  # not retried


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_endpoint() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = run("analyze", RESULTS, "--project", PROJECT, "--service", "s", "--api-endpoint", url)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: cannot reach the Cloud Logging API at {url}: connection refused (check "
        "--api-endpoint or FIVEWHYS_LOGGING_ENDPOINT, and the network)\n",
    )


def test_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud login there
    monkeypatch.setenv("NO_GCE_CHECK", "true")  # and not on Google Cloud
    result = run("analyze", RESULTS, "--project", PROJECT, "--service", "chat-backend")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: no Google Cloud credentials found: run `gcloud auth application-default login` "
        "(or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file)\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--api-endpoint", "ftp://example.com"],
            "--api-endpoint: not an http:// or https:// URL: 'ftp://example.com'",
        ),
        (
            ["--api-endpoint", "http://127.0.0.1:9/v2"],
            "--api-endpoint: give the endpoint's root, without a path: 'http://127.0.0.1:9/v2'",
        ),
        (
            ["--logs", "examples/logs/sink.ndjson"],
            "give either --logs or a live pull (--service, --project), not both",
        ),
    ],
)
def test_contradicting_options(args: list[str], message: str) -> None:
    result = run("analyze", RESULTS, "--project", PROJECT, "--service", "s", *args)
    assert (result.exit_code, result.stderr) == (2, f"error: {message}\n")


def test_save_logs_needs_a_pull() -> None:
    result = run("analyze", RESULTS, "--logs", str(SINK), "--save-logs", "x.parquet")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --save-logs keeps pulled logs: add --service (and --project) to pull them\n",
    )


def test_pull_has_help_and_is_in_the_readme() -> None:
    result = run("pull", "--help")
    assert result.exit_code == 0
    assert "--api-endpoint" in result.stdout
    assert "fivewhys pull" in (REPO / "README.md").read_text()
