"""Deploys read from Cloud Run's audit entries (shapes: tests/audit_entries.py, with sources)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from audit_entries import activity, activity_v2, completion

from fivewhys.deploys import audit_filter, deploys_from_entries, read_deploys
from fivewhys.logs.files import read_log_files

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
COMMIT = "5d6e7f8a9b0c1d2e3f405162738495a6b7c8d9e0"
NEW = "chat-backend-00215-dhj"
OLD = "chat-backend-00214-abc"


def test_a_deploy_from_its_request_and_its_rollout() -> None:
    entries = [
        completion(T0 + timedelta(seconds=40), NEW, 215, COMMIT),
        activity(T0, 215, OLD, COMMIT),
    ]
    [deploy] = deploys_from_entries(entries)
    assert deploy.service == "chat-backend"
    assert deploy.revision == NEW and deploy.generation == 215
    assert deploy.requested_at == T0 and deploy.ready_at == T0 + timedelta(seconds=40)
    assert deploy.ready is True and deploy.failure is None
    assert deploy.previous == OLD  # the activity response still names the serving revision
    assert deploy.principal == "github-deployer@acme-staging.iam.gserviceaccount.com"
    assert deploy.commit == COMMIT
    assert deploy.labels == {"commit-sha": COMMIT, "managed-by": "github-actions"}
    assert deploy.digest is not None and deploy.digest.startswith("sha256:9379ab64")
    assert deploy.insert_ids == ("qd23mgd4u3f", "-ep109zdlbhw")


def test_without_its_completion_the_revision_comes_from_the_generation() -> None:
    [deploy] = deploys_from_entries(
        [activity(T0, 215, OLD, COMMIT)], known_revisions=[OLD, NEW, "chat-backend-00021-x"]
    )
    assert deploy.revision == NEW and deploy.ready_at is None and deploy.ready is None
    [unknown] = deploys_from_entries([activity(T0, 215, OLD, COMMIT)], known_revisions=[OLD])
    assert unknown.revision is None  # never a guessed name


def test_a_refused_request_and_a_revision_that_never_became_ready() -> None:
    refused = activity(T0, 215, OLD, COMMIT, failure="Conflict for resource 'chat-backend'")
    [deploy] = deploys_from_entries([refused])
    assert deploy.failure == "Conflict for resource 'chat-backend'" and deploy.revision is None
    [broken] = deploys_from_entries(
        [activity(T0, 215, OLD, COMMIT), completion(T0, NEW, 215, COMMIT, ready=False)]
    )
    assert broken.ready is False and broken.failure is not None


def test_a_v2_update_names_its_revision_in_the_request() -> None:
    [deploy] = deploys_from_entries([activity_v2(T0, "chat-backend-v2-rollout", COMMIT)])
    assert deploy.revision == "chat-backend-v2-rollout" and deploy.commit == COMMIT
    assert deploy.method == "google.cloud.run.v2.Services.UpdateService"


def test_other_audit_entries_are_not_deploys() -> None:
    other = activity(T0, 215, OLD, COMMIT)
    other["protoPayload"]["serviceName"] = "storage.googleapis.com"
    iam = activity(T0, 215, OLD, COMMIT)
    iam["protoPayload"]["methodName"] = "google.cloud.run.v1.Services.SetIamPolicy"
    assert deploys_from_entries([other, iam]) == []


def test_read_from_the_log_files_given(tmp_path: Path) -> None:
    app_line = {
        "insertId": "a1",
        "logName": "projects/acme-staging/logs/run.googleapis.com%2Fstderr",
        "resource": {"type": "cloud_run_revision", "labels": {"revision_name": NEW}},
        "textPayload": "worker ready",
        "timestamp": (T0 + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
    }
    plain = tmp_path / "app.ndjson"
    plain.write_text(json.dumps(app_line) + "\n", encoding="utf-8")
    audit = tmp_path / "audit.json"  # gcloud logging read --format=json: a JSON array
    audit.write_text(json.dumps([activity(T0, 215, OLD, COMMIT)], indent=2), encoding="utf-8")
    logs = read_log_files([str(plain), str(audit)])
    [deploy] = read_deploys(logs.sources, logs.frame, known_revisions=[NEW])
    assert deploy.revision == NEW
    only_app = read_log_files([str(plain)])
    assert read_deploys(only_app.sources, only_app.frame) == []


def test_the_audit_filter_asks_for_both_logs_and_the_deploy_calls() -> None:
    text = audit_filter(["chat-backend"], T0 - timedelta(days=7), T0)
    assert 'logName:"cloudaudit.googleapis.com%2Fsystem_event"' in text
    assert 'protoPayload.serviceName="run.googleapis.com"' in text
    assert 'resource.labels.service_name=("chat-backend")' in text
    assert 'timestamp>="2026-02-23T09:00:00.000000Z"' in text
