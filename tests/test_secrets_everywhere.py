"""Every kind of secret, planted in every input field, reaches no output; near misses survive.

The secrets follow each vendor's public format (the prefixes, alphabets and lengths gitleaks'
rules and detect-secrets' plugins check: `AIza` + 35, `AKIA` + 16 of [A-Z0-9], `ghp_` + 36,
`github_pat_` + 82, `xoxb-<digits>-<digits>-...`, `sk_live_`, a service-account key file's
`"private_key": "-----BEGIN PRIVATE KEY-----\\n..."`); none is a live credential. Each carries the
word PLANTED, so a leak of any part of it is found by one substring test. The inputs are the
bundled example's real run (pytest-reportlog, Cloud Logging entries as `gcloud logging read`
prints them); the outputs are every one the tool writes or prints.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner, Result
from conftest import REPO
from fake_logging import FakeLogging, fake_logging, read_ndjson

from fivewhys.cli import cli
from fivewhys.redact import KINDS
from fivewhys.resources import CACHE_DIR_ENV

__all__ = ["fake_logging"]  # the fixture, used by name

RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
SINK = REPO / "examples" / "logs" / "sink.ndjson"
#: every planted secret holds this word; no output may
WORD = "PLANTED"
BASIC = base64.b64encode(f"svc-{WORD}:Pa55-{WORD}".encode()).decode()
PEM_BODY = f"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC{WORD}cwggSjAgEAAoIBAQCy1yG25m+cplha"
#: kind name (redact.KINDS) -> secrets of that kind, as they appear in text
SECRETS: dict[str, tuple[str, ...]] = {
    "private-key": (
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n8h1Jmd9m15gGabp2Uk5B\n"
        "-----END RSA PRIVATE KEY-----",
    ),
    "cookie": (f"Cookie: sessionid={WORD}cookie42; csrftoken=x", f"Set-Cookie: sid={WORD}77"),
    "authorization": (f"Authorization: Token {WORD}tok3n",),
    "bearer": (f"Bearer ya29{WORD}0aBcD3fGh1jK",),
    "basic": (f"Basic {BASIC}",),
    "jwt-subprotocol": (f"Sec-WebSocket-Protocol: jwt.ZXlKaGJHY2lPaUpJVXpJ{WORD}MU5pSjk",),
    "jwt": (f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3Ii{WORD}fQ.c2lnbmF0dXJl{WORD}LXNpZw",),
    "google-api-key": ("AIzaSy" + WORD + "0123456789abcdefghijklmno-",),  # 35 after AIza
    "google-oauth": (
        f"ya29.a0AfH6SMB{WORD}x1234567890abcdefghij",
        f"1//0g{WORD}refresh1234567890abcdefgh",
        f"GOCSPX-{WORD}clientSecret1234567",
    ),
    "aws-access-key-id": (f"AKIA{WORD}2345ABCDE",),
    "github-token": (
        "ghp_" + WORD + "a" * 29,
        "gho_" + WORD + "b" * 29,
        "github_pat_" + WORD + "c" * 75,
    ),
    "slack-token": (f"xoxb-1234567890-1234567890123-{WORD}slackBotToken",),
    "stripe-key": (f"sk_live_{WORD}4eC39HqLyjWDarjtT1zdp7dc", f"rk_live_{WORD}abcdef123"),
    "url-password": (
        f"https://deploy:{WORD}urlpass@git.example.com/repo.git",
        f"redis://default:{WORD}redis9@10.0.0.3:6379",
    ),
    "url-query-secret": (f"https://maps.example.com/api?key={WORD}querykey1&z=1",),
    "named-quoted": (
        f'"client_secret": "GOCSPX-{WORD}jsonClientSecret12"',
        f'"password": "correct {WORD} battery staple"',
        f"'api_key': '{WORD}quoted'",
    ),
    "named-value": (
        f"aws_secret_access_key={WORD}/K7MDENG/bPxRfiCYEXAMPLEKEY",
        f"/login?token={WORD}tok&access_token={WORD}acc",
        f"client_secret={WORD}cs password={WORD}pw db_password={WORD}db",
    ),
}
#: a service-account key file as a JSON payload holds it: the key JSON-escaped, `\n` inside
SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "fivewhys-example",
    "private_key_id": "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c",
    "private_key": f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n",
    "client_email": "ci@fivewhys-example.iam.gserviceaccount.com",
}
ONE_LINE = [s for kind in SECRETS.values() for s in kind if "\n" not in s]
EVERY = "\n".join(s for kind in SECRETS.values() for s in kind)
#: near misses that must survive: a trace id, a UUID, an AIza word one short, a cache key path
NEAR_MISSES = (
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "123e4567-e89b-12d3-a456-426614174000",
    "AIzaNEARmiss0123456789abcdefghijklmnop",  # 34 after AIza: one short
    "/cache/key=user-42/v1",
)
#: the client-side test of the example: a keyed ERROR line makes it a server-error to suggest from
CLIENT_SIDE = "examples/e2e/test_chat.py::test_ping_reply_format"


def test_every_kind_is_planted() -> None:
    assert sorted(SECRETS) == sorted(kind.name for kind in KINDS)


def _plant_results(path: Path) -> None:
    """Secrets in the test id (a parametrized id), message, details and properties."""
    lines = []
    for line in RESULTS.read_text().splitlines():
        record = json.loads(line)
        if "nodeid" in record and record.get("outcome") == "failed":
            record["nodeid"] += f"[ghp_{WORD}{'d' * 29}-AKIA{WORD}2345ABCDE]"
            crash = record["longrepr"]["reprcrash"]
            # near misses first: a cookie header takes the rest of its line
            crash["message"] += " " + " ".join(NEAR_MISSES) + " " + " ".join(ONE_LINE)
            record["sections"].append(["Captured stdout call", EVERY])
            record["user_properties"] += [["api_key", SECRETS["google-api-key"][0]]]
            record["user_properties"] += [["token", f"tok-{WORD}-1"]]
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")


def _plant_entries() -> list[dict[str, Any]]:
    """Secrets in every entry: message, jsonPayload fields, httpRequest url and user agent,
    labels; and one keyed ERROR line beside the client-side test, so `rules suggest` drafts."""
    entries = read_ndjson(SINK)
    for entry in entries:
        if "jsonPayload" in entry:
            payload = entry["jsonPayload"]
            payload["message"] = payload.get("message", "") + " " + " ".join(ONE_LINE)
            payload["client_secret"] = SECRETS["google-oauth"][2]
            payload["password"] = f"json-{WORD}-pass word"
            payload["credentials"] = SERVICE_ACCOUNT
        if "textPayload" in entry:
            entry["textPayload"] += "\n" + EVERY
        if "httpRequest" in entry:
            request = entry["httpRequest"]
            request["requestUrl"] += f"?key={WORD}k1&access_token={WORD}at"
            request["userAgent"] += f" (token={WORD}ua) Bearer ua{WORD}0123"
        entry.setdefault("labels", {})["deploy_token"] = SECRETS["github-token"][0]
    keyed = next(e for e in entries if "conn_ad79c0805de1" in json.dumps(e))
    error = copy.deepcopy(keyed)
    error.pop("httpRequest", None)
    error.pop("textPayload", None)
    error["insertId"] = "planted-error-line"
    error["severity"] = "ERROR"
    error["logName"] = error["logName"].rsplit("/", 1)[0] + "/run.googleapis.com%2Fstdout"
    error["jsonPayload"] = {
        "message": "Pong serializer failed for connection_id=conn_ad79c0805de1 "
        + " ".join(NEAR_MISSES)
        + " "
        + " ".join(ONE_LINE),
        "password": f"json-{WORD}-pass",
    }
    return [*entries, error]


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _clean(name: str, text: str) -> None:
    assert WORD not in text, f"{name}: {text[max(0, text.find(WORD) - 80) :][:200]!r}"
    assert BASIC not in text, name


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    for name in ("GOOGLE_CLOUD_PROJECT", "FIVEWHYS_LOGGING_ENDPOINT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    results, logs = tmp_path / "report-log.jsonl", tmp_path / "logs.json"
    _plant_results(results)
    logs.write_text(json.dumps(_plant_entries(), indent=2))
    return results, logs


def test_no_planted_secret_reaches_a_report_or_a_rule_tool(planted: tuple[Path, Path]) -> None:
    results, logs = planted
    outputs: dict[str, str] = {}
    for fmt in ("md", "json", "html"):
        done = _run("analyze", str(results), "--logs", str(logs), "--format", fmt)
        assert done.exit_code == 0, done.stderr
        outputs[f"analyze {fmt} stdout"] = done.stdout
        outputs[f"analyze {fmt} stderr"] = done.stderr
    jira = _run("analyze", str(results), "--logs", str(logs), "--flavor", "jira", "-o", "r.txt")
    outputs["jira"] = Path("r.txt").read_text()
    outputs["jira stderr"] = jira.stderr
    report = json.loads(outputs["analyze json stdout"])
    assert len(report["causes"]) >= 2  # the analysis still works on the planted data
    explained = [f["test_id"] for f in report["failures"] if f["rule_id"]]
    for rule_id in {f["rule_id"] for f in report["failures"] if f["rule_id"]}:
        done = _run("rules", "explain", rule_id, "--results", str(results), "--logs", str(logs))
        outputs[f"explain {rule_id}"] = done.stdout + done.stderr
    suggest = _run("rules", "suggest", "--results", str(results), "--logs", str(logs))
    assert suggest.exit_code == 0, suggest.stderr
    assert "message|" in suggest.stdout  # a draft was written
    outputs["suggest draft"] = suggest.stdout
    outputs["suggest stderr"] = suggest.stderr
    for name, text in outputs.items():
        _clean(name, text)
    assert "[REDACTED]" in outputs["analyze md stdout"] and explained
    survivors = outputs["analyze json stdout"]
    for near_miss in NEAR_MISSES:
        assert near_miss in survivors, near_miss


def test_no_planted_secret_reaches_ci_history_or_the_bundle(
    planted: tuple[Path, Path], fake_logging: FakeLogging, tmp_path: Path
) -> None:
    results, _logs = planted
    fake_logging.load(_plant_entries())
    summary = tmp_path / "summary.md"
    os.environ["GITHUB_STEP_SUMMARY"] = str(summary)
    try:
        args = ["ci", str(results), "--artifacts", "rca", "--history", "hist"]
        args += ["--project", "fivewhys-example", "--service", "chat-backend"]
        args += ["--api-endpoint", fake_logging.url]
        first = _run(*args)
        assert first.exit_code == 0, first.stderr
        # an earlier run whose revision holds a secret: the history read back must be clean
        (run_file,) = Path("hist/runs").iterdir()
        earlier = json.loads(run_file.read_text())
        for failure in earlier["failures"]:
            failure["started_at"] = "2020-01-01T00:00:00Z"
        earlier["causes"][0]["evidence"][0]["revision"] = f"rev-ghp_{WORD}{'e' * 29}"
        Path("hist/runs/20200101T000000.000000Z.json").write_text(json.dumps(earlier))
        second = _run(*args)
        assert second.exit_code == 0, second.stderr
    finally:
        del os.environ["GITHUB_STEP_SUMMARY"]
    assert "recurring" in json.loads(Path("rca/rca.json").read_text())["causes"][0]["history"]
    outputs = {
        "ci stdout (annotations)": first.stdout + second.stdout,
        "ci stderr": first.stderr + second.stderr,
        "step summary": summary.read_text(),
    }
    assert outputs["ci stdout (annotations)"].startswith("::error ")
    for path in sorted(Path("rca").iterdir()):
        if path.suffix != ".parquet":
            outputs[str(path)] = path.read_text()
    for path in sorted(Path("hist/runs").iterdir()):
        if not path.name.startswith("2020"):
            outputs[str(path)] = path.read_text()
    bundle = pl.read_parquet("rca/logs.parquet")
    for name, dtype in bundle.schema.items():
        if dtype == pl.String():
            outputs[f"bundle column {name}"] = "\n".join(bundle.get_column(name).drop_nulls())
    outputs["bundle metadata"] = json.dumps(pl.read_parquet_metadata("rca/logs.parquet"))
    assert "user_agent" in bundle.columns and "http_path" in bundle.columns
    for name, text in outputs.items():
        _clean(name, text)
