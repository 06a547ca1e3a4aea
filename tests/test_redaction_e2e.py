"""Secrets planted in results and logs never reach any rendered output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO

from fivewhys.pipeline import Analysis, OutputFormat, analyze, render

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3ItcGxhbnRlZCIsImV4cCI6MX0."
    "cGxhbnRlZC1zaWduYXR1cmUtdmFsdWU"
)
SUBPROTOCOL_TOKEN = "ZXlKaGJHY2lPaUpJVXpJMU5pSjkuUExBTlRFRA"
BEARER = "ya29.PLANTEDbearerTOKENvalue"
COOKIE = "sessionid=PLANTEDcookie42"
API_KEY = "AIzaSyPLANTED0123456789abcdefghijklmnop"
SECRETS = [JWT, SUBPROTOCOL_TOKEN, BEARER, "PLANTEDcookie42", API_KEY]


def _plant_results(path: Path) -> None:
    lines = []
    for line in (REPO / "examples/results/report-log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("outcome") == "failed":
            record["sections"].append(
                [
                    "Captured stdout call",
                    f"headers={{'Authorization': 'Bearer {BEARER}', 'Cookie': '{COOKIE}'}}\n"
                    f"subprotocols=['jwt.{SUBPROTOCOL_TOKEN}']\n",
                ]
            )
            record["longrepr"]["reprcrash"]["message"] += f" token {JWT}"
            record["user_properties"].append(["api_key", API_KEY])
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")


def _plant_logs(path: Path) -> None:
    entries = json.loads((REPO / "examples/logs/gcloud-read.json").read_text())
    for entry in entries:
        payload = entry.get("jsonPayload")
        if payload and "message" in payload:
            payload["message"] += (
                f" Sec-WebSocket-Protocol: jwt.{SUBPROTOCOL_TOKEN} key={API_KEY} {JWT}"
            )
        if "textPayload" in entry:
            entry["textPayload"] += f"\nAuthorization: Bearer {BEARER}\nCookie: {COOKIE}"
    path.write_text(json.dumps(entries, indent=2))


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_no_planted_secret_survives(tmp_path: Path, fmt: OutputFormat) -> None:
    results, logs = tmp_path / "report-log.jsonl", tmp_path / "logs.json"
    _plant_results(results)
    _plant_logs(logs)
    report = analyze(Analysis(results=[results], logs=[str(logs)]))
    text = render(report, fmt)
    assert "[REDACTED]" in text
    for secret in SECRETS:
        assert secret not in text, secret
    # the analysis itself still works on the planted data
    assert sum(1 for f in report.failures if f.cause_id) == 3
