"""Cloud Run deploy audit entries, shaped as Cloud Run writes them.

Shapes, field for field, from public samples (values changed to this suite's service):
- `activity`: the Admin Activity entry of `google.cloud.run.v1.Services.ReplaceService` in
  nakamasato/cloud-run-slack-bot docs/auditing.md ("Success"): `request.service` with the new
  `spec.template`, `response` the service with the new `metadata.generation` and
  `status.latestReadyRevisionName` still the serving revision, NOTICE,
  `resource.labels.revision_name` empty; its "Failure" sample has `status.code` 10 and ERROR.
- `completion`: the System Event entry (`cloudaudit.googleapis.com%2Fsystem_event`,
  `/Services.ReplaceService`) on `namespaces/P/revisions/R` whose `response` is the v1
  Revision (`metadata.labels` with `serving.knative.dev/service` and `.../configurationGeneration`,
  `status.conditions` Ready, `status.imageDigest`), as a public `gcloud run deploy` transcript
  shows it (there with Ready False; True here, severity INFO, no status).
- template labels: the deploy-cloudrun action's defaults (`managed-by=github-actions`,
  `commit-sha` = GITHUB_SHA lower-cased; google-github-actions/deploy-cloudrun src/main.ts).
- `activity_v2`: `google.cloud.run.v2.Services.UpdateService`, the v2 request's
  `service.template.{revision,labels,containers}` (the Cloud Run Admin v2 `Service` resource).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

PROJECT = "acme-staging"
NUMBER = "123456789012"
SERVICE = "chat-backend"


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def activity(
    at: datetime,
    generation: int,
    serving: str,
    commit: str | None,
    *,
    insert_id: str = "qd23mgd4u3f",
    principal: str = "github-deployer@acme-staging.iam.gserviceaccount.com",
    image: str = "us-docker.pkg.dev/acme-staging/apps/chat-backend:latest",
    failure: str | None = None,
) -> dict[str, Any]:
    labels = {"managed-by": "github-actions", "run.googleapis.com/startupProbeType": "Default"}
    if commit:
        labels["commit-sha"] = commit
    template = {
        "metadata": {"annotations": {"autoscaling.knative.dev/maxScale": "100"}, "labels": labels},
        "spec": {"containerConcurrency": 80, "containers": [{"image": image}]},
    }
    proto: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "authenticationInfo": {"principalEmail": principal},
        "authorizationInfo": [
            {
                "granted": True,
                "permission": "run.services.update",
                "permissionType": "ADMIN_WRITE",
                "resource": f"namespaces/{PROJECT}/services/{SERVICE}",
                "resourceAttributes": {},
            }
        ],
        "methodName": "google.cloud.run.v1.Services.ReplaceService",
        "request": {
            "@type": "type.googleapis.com/google.cloud.run.v1.ReplaceServiceRequest",
            "name": f"projects/{PROJECT}/locations/us-central1/services/{SERVICE}",
            "region": "us-central1",
            "service": {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "metadata": {"generation": generation - 1, "name": SERVICE, "namespace": NUMBER},
                "spec": {
                    "template": template,
                    "traffic": [{"latestRevision": True, "percent": 100}],
                },
            },
        },
        "requestMetadata": {"callerSuppliedUserAgent": "google-cloud-sdk gcloud/468.0.0"},
        "resourceLocation": {"currentLocations": ["us-central1"]},
        "resourceName": f"namespaces/{PROJECT}/services/{SERVICE}",
        "serviceName": "run.googleapis.com",
    }
    if failure:
        proto["status"] = {"code": 10, "message": failure}
    else:
        proto["response"] = {
            "@type": "type.googleapis.com/google.cloud.run.v1.Service",
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {"generation": generation, "name": SERVICE, "namespace": NUMBER},
            "spec": {"template": template},
            "status": {
                "conditions": [{"status": "True", "type": "Ready"}],
                "latestCreatedRevisionName": serving,
                "latestReadyRevisionName": serving,
                "observedGeneration": generation - 1,
                "traffic": [{"latestRevision": True, "percent": 100, "revisionName": serving}],
            },
        }
    return {
        "insertId": insert_id,
        "logName": f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Factivity",
        "protoPayload": proto,
        "receiveTimestamp": _z(at + timedelta(milliseconds=400)),
        "resource": {
            "labels": {
                "configuration_name": "",
                "location": "us-central1",
                "project_id": PROJECT,
                "revision_name": "",
                "service_name": SERVICE,
            },
            "type": "cloud_run_revision",
        },
        "severity": "ERROR" if failure else "NOTICE",
        "timestamp": _z(at),
    }


def completion(
    at: datetime,
    revision: str,
    generation: int,
    commit: str | None,
    *,
    insert_id: str = "-ep109zdlbhw",
    ready: bool = True,
    digest: str = "sha256:9379ab64ff2665a1b1cf8d62f0a8195c2259e93d9e965b8e3c8e457cf16274a6",
) -> dict[str, Any]:
    labels = {
        "cloud.googleapis.com/location": "us-central1",
        "managed-by": "github-actions",
        "serving.knative.dev/configuration": SERVICE,
        "serving.knative.dev/configurationGeneration": str(generation),
        "serving.knative.dev/route": SERVICE,
        "serving.knative.dev/service": SERVICE,
    }
    if commit:
        labels["commit-sha"] = commit
    image = f"us-docker.pkg.dev/acme-staging/apps/chat-backend@{digest}"
    condition: dict[str, Any] = {
        "lastTransitionTime": _z(at),
        "status": "True" if ready else "False",
        "type": "Ready",
    }
    proto: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "methodName": "/Services.ReplaceService",
        "resourceName": f"namespaces/{PROJECT}/revisions/{revision}",
        "response": {
            "@type": "type.googleapis.com/google.cloud.run.v1.Revision",
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Revision",
            "metadata": {
                "annotations": {"run.googleapis.com/client-name": "gcloud"},
                "generation": 1,
                "labels": labels,
                "name": revision,
                "namespace": NUMBER,
            },
            "spec": {"containerConcurrency": 80, "containers": [{"image": image}]},
            "status": {
                "conditions": [condition],
                "imageDigest": image,
                "observedGeneration": 1,
            },
        },
        "serviceName": "run.googleapis.com",
    }
    if not ready:
        condition["reason"] = "HealthCheckContainerError"
        condition["message"] = "The user-provided container failed to start and listen on the port"
        proto["status"] = {"code": 9, "message": "Ready condition status changed to False"}
    return {
        "insertId": insert_id,
        "logName": f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Fsystem_event",
        "protoPayload": proto,
        "receiveTimestamp": _z(at + timedelta(seconds=1)),
        "resource": {
            "labels": {
                "configuration_name": SERVICE,
                "location": "us-central1",
                "project_id": PROJECT,
                "revision_name": revision,
                "service_name": SERVICE,
            },
            "type": "cloud_run_revision",
        },
        "severity": "INFO" if ready else "ERROR",
        "timestamp": _z(at),
    }


def activity_v2(at: datetime, revision: str, commit: str) -> dict[str, Any]:
    entry = activity(at, 0, "", commit, insert_id="v2upd8")
    proto = entry["protoPayload"]
    proto["methodName"] = "google.cloud.run.v2.Services.UpdateService"
    proto["request"] = {
        "@type": "type.googleapis.com/google.cloud.run.v2.UpdateServiceRequest",
        "service": {
            "name": f"projects/{PROJECT}/locations/us-central1/services/{SERVICE}",
            "template": {
                "revision": revision,
                "labels": {"commit-sha": commit, "managed-by": "github-actions"},
                "containers": [{"image": "us-docker.pkg.dev/acme-staging/apps/chat-backend:v2"}],
            },
        },
    }
    proto["response"] = {"@type": "type.googleapis.com/google.longrunning.Operation"}
    return entry
