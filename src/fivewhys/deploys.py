"""Deploys of Cloud Run services, read from their audit log entries.

What a deploy writes (Cloud Run audit logging docs; public samples: the Admin Activity entry
in nakamasato/cloud-run-slack-bot's docs/auditing.md, system_event entries of a failed
`gcloud run deploy` on `namespaces/P/revisions/R`):

- Admin Activity (`.../logs/cloudaudit.googleapis.com%2Factivity`, NOTICE): the call, v1
  `google.cloud.run.v1.Services.ReplaceService` / `CreateService` (gcloud, the deploy-cloudrun
  action) or v2 `google.cloud.run.v2.Services.UpdateService` / `CreateService`. Its `request`
  holds the new template (v1 `service.spec.template.metadata.{name,labels}` and
  `.spec.containers[].image`; v2 `service.template.{revision,labels,containers}`), its v1
  `response` the service as it stood: `metadata.generation` is the new generation while
  `status.latestReadyRevisionName` still names the revision that was serving. Who:
  `authenticationInfo.principalEmail`. `resource.labels.revision_name` is empty.
- System Event (`.../cloudaudit.googleapis.com%2Fsystem_event`, methodName
  `/Services.ReplaceService` or `/Services.CreateService`): the rollout's end. On a revision
  (`resourceName namespaces/P/revisions/R`, `response` a v1 Revision: `metadata.name`, its
  labels with `serving.knative.dev/service` and `.../configurationGeneration`, the template's
  own labels, `status.imageDigest`, the Ready condition); or on the service (`response` a v1
  Service: `status.latestCreatedRevisionName`, the Ready condition).

The revision a deploy created is named by the completion entry, or by the request's template
name, or else by its generation: Cloud Run names generation N's revision `SERVICE-0000N-xyz`,
which is resolved against the revision names the logs show. Provenance is read from the
template labels Cloud Build (`managed-by`, `commit-sha`, `gcb-build-id`, `gcb-trigger-id`), the
deploy-cloudrun action (`managed-by=github-actions`, `commit-sha`) and Cloud Deploy
(`deploy.cloud.google.com/*`) set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import polars as pl

from fivewhys.logs.files import entries_of
from fivewhys.logs.query import quote_value, rfc3339
from fivewhys.model import Deploy

#: the calls that deploy a revision (v1 and v2 Admin API, and the system event's short form)
DEPLOY_VERBS = ("ReplaceService", "CreateService", "UpdateService")
#: template labels that say where a revision came from
PROVENANCE_LABELS = ("commit-sha", "managed-by", "gcb-build-id", "gcb-trigger-id")
PROVENANCE_PREFIXES = ("deploy.cloud.google.com/",)

_SERVICE_IN_NAME = re.compile(r"(?:^|/)services/(?P<name>[^/]+)$")
_REVISION_IN_NAME = re.compile(r"(?:^|/)revisions/(?P<name>[^/]+)$")
_STAMP = re.compile(
    r"^(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)$"
)


@dataclass
class _Partial:
    """What the entries of one deploy tell, merged as they are read."""

    service: str
    revision: str | None = None
    generation: int | None = None
    requested_at: datetime | None = None
    ready_at: datetime | None = None
    ready: bool | None = None
    previous: str | None = None
    method: str = ""
    principal: str | None = None
    image: str | None = None
    digest: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    insert_ids: list[str] = field(default_factory=list)


def read_deploys(
    sources: Sequence[str], frame: pl.DataFrame, known_revisions: Iterable[str] = ()
) -> list[Deploy]:
    """The deploys in the audit entries of the log files read (only files that hold an audit
    entry are read again, entry by entry: the LogFrame keeps no payload)."""
    audit = frame.filter(pl.col("kind") == "audit").get_column("source").to_list()
    if not audit:
        return []
    entries: list[dict[str, Any]] = []
    for path in sources:
        if any(source.startswith(path) for source in audit):
            entries.extend(entry for _, entry in entries_of(path) if isinstance(entry, dict))
    return deploys_from_entries(entries, known_revisions)


def deploys_from_entries(
    entries: Iterable[dict[str, Any]], known_revisions: Iterable[str] = ()
) -> list[Deploy]:
    """The deploys that LogEntry dicts (files, or `to_api_repr` of pulled entries) record,
    in time order; entries that are not Cloud Run deploy audit entries are ignored."""
    partials: list[_Partial] = []
    for entry in sorted(entries, key=lambda e: (str(e.get("timestamp")), str(e.get("insertId")))):
        read = _read(entry)
        if read is not None:
            _merge(partials, read)
    known = sorted(set(known_revisions))
    return [_deploy(p, known) for p in partials]


def audit_filter(services: Sequence[str], start: datetime, end: datetime) -> str:
    """The Cloud Logging filter of the deploys of `services` from `start` to `end` (the live
    lookback query: one per service keeps each within the filter's limits)."""
    names = " OR ".join(quote_value(s) for s in services)
    return (
        '(logName:"cloudaudit.googleapis.com%2Factivity" OR '
        'logName:"cloudaudit.googleapis.com%2Fsystem_event") AND '
        'protoPayload.serviceName="run.googleapis.com" AND '
        '(protoPayload.methodName:"Services.ReplaceService" OR '
        'protoPayload.methodName:"Services.CreateService" OR '
        'protoPayload.methodName:"Services.UpdateService")'
        + (f" AND resource.labels.service_name=({names})" if services else "")
        + f' AND timestamp>="{rfc3339(start)}" AND timestamp<="{rfc3339(end)}"'
    )


def _read(entry: dict[str, Any]) -> _Partial | None:
    proto = entry.get("protoPayload") or entry.get("proto_payload")
    if not isinstance(proto, dict) or proto.get("serviceName") != "run.googleapis.com":
        return None
    method = str(proto.get("methodName") or "")
    if method.rsplit(".", 1)[-1] not in DEPLOY_VERBS:
        return None
    at = _utc(entry.get("timestamp"))
    if at is None:
        return None
    log_name = unquote(str(entry.get("logName") or entry.get("log_name") or ""))
    resource = _dict(_dict(entry.get("resource")).get("labels"))
    resource_name = str(proto.get("resourceName") or "")
    response = _dict(proto.get("response"))
    status = _dict(proto.get("status"))
    failure = str(status.get("message") or "") if status.get("code") else None
    service = _service(resource, resource_name, response)
    if service is None:
        return None
    read = _Partial(service=service, method=method, failure=failure or None)
    read.insert_ids.append(str(entry.get("insertId") or entry.get("insert_id") or ""))
    if log_name.endswith("cloudaudit.googleapis.com/system_event"):
        _completion(read, response, resource_name, at)
    else:
        _request(read, proto, response, at)
    return read


def _service(resource: dict[str, Any], name: str, response: dict[str, Any]) -> str | None:
    if resource.get("service_name"):
        return str(resource["service_name"])
    if match := _SERVICE_IN_NAME.search(name):
        return match["name"]
    labels = _dict(_dict(response.get("metadata")).get("labels"))
    service = labels.get("serving.knative.dev/service")
    return str(service) if service else None


def _request(read: _Partial, proto: dict[str, Any], response: dict[str, Any], at: datetime) -> None:
    """The Admin Activity entry: when, who, the new template, the revision serving before."""
    read.requested_at = at
    read.principal = _dict(proto.get("authenticationInfo")).get("principalEmail") or None
    service = _dict(_dict(proto.get("request")).get("service"))
    v1 = _dict(_dict(service.get("spec")).get("template"))
    if v1:
        meta = _dict(v1.get("metadata"))
        read.revision = meta.get("name") or None
        read.labels = _labels(meta.get("labels"))
        read.image = _image(_dict(v1.get("spec")).get("containers"))
    else:  # v2: the template is the service's own field
        v2 = _dict(service.get("template"))
        read.revision = v2.get("revision") or None
        read.labels = _labels(v2.get("labels"))
        read.image = _image(v2.get("containers"))
    metadata = _dict(response.get("metadata"))
    if isinstance(metadata.get("generation"), int | str) and str(metadata["generation"]).isdigit():
        read.generation = int(metadata["generation"])
    serving = _dict(response.get("status")).get("latestReadyRevisionName")
    read.previous = str(serving) if serving else None


def _completion(read: _Partial, response: dict[str, Any], name: str, at: datetime) -> None:
    """The System Event entry: the rollout's end, the revision and whether it became Ready."""
    read.ready_at = at
    metadata = _dict(response.get("metadata"))
    status = _dict(response.get("status"))
    if response.get("kind") == "Revision" or _REVISION_IN_NAME.search(name):
        match = _REVISION_IN_NAME.search(name)
        read.revision = metadata.get("name") or (match["name"] if match else None)
        labels = _dict(metadata.get("labels"))
        generation = str(labels.get("serving.knative.dev/configurationGeneration") or "")
        read.generation = int(generation) if generation.isdigit() else None
        read.labels = _labels(labels)
        read.image = _image(_dict(response.get("spec")).get("containers"))
        read.digest = _digest(status.get("imageDigest"))
    else:
        read.revision = status.get("latestCreatedRevisionName") or None
        template = _dict(_dict(response.get("spec")).get("template"))
        read.labels = _labels(_dict(template.get("metadata")).get("labels"))
        read.image = _image(_dict(template.get("spec")).get("containers"))
    ready = next(
        (c for c in status.get("conditions") or () if _dict(c).get("type") == "Ready"), None
    )
    if isinstance(ready, dict) and ready.get("status") in ("True", "False"):
        read.ready = ready["status"] == "True"
        if not read.ready and not read.failure:
            read.failure = str(ready.get("message") or ready.get("reason") or "not Ready")


def _merge(partials: list[_Partial], read: _Partial) -> None:
    """One more entry: the deploy of the same revision (or generation) takes it, else it is a
    deploy of its own."""
    for known in reversed(partials):
        if known.service != read.service:
            continue
        same = (read.revision and known.revision == read.revision) or (
            read.generation is not None and known.generation == read.generation
        )
        if not same:
            continue
        known.revision = known.revision or read.revision
        known.generation = known.generation if known.generation is not None else read.generation
        for name in ("requested_at", "principal", "previous", "image", "digest"):
            if getattr(known, name) is None:
                setattr(known, name, getattr(read, name))
        if read.ready_at is not None:
            known.ready_at, known.ready = read.ready_at, read.ready
        known.labels = {**read.labels, **known.labels}
        known.failure = known.failure or read.failure
        known.insert_ids.extend(read.insert_ids)
        return
    partials.append(read)


def _deploy(partial: _Partial, known: Sequence[str]) -> Deploy:
    """The Deploy of what was merged: its fields as read, the revision found from the
    generation when no entry named it, and the commit from the template's label."""
    revision = partial.revision
    if revision is None and partial.generation is not None:
        prefix = f"{partial.service}-{partial.generation:05d}-"
        revision = next((name for name in known if name.startswith(prefix)), None)
    return Deploy(
        **{
            **vars(partial),
            "revision": revision,
            "previous": partial.previous if partial.previous != revision else None,
            "commit": partial.labels.get("commit-sha"),
            "labels": dict(sorted(partial.labels.items())),
            "insert_ids": tuple(i for i in dict.fromkeys(partial.insert_ids) if i),
        }
    )


def _utc(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (nanoseconds cut to microseconds), None when it is not one."""
    match = _STAMP.match(str(value or ""))
    if match is None:
        return None
    fraction = (match["fraction"] or "")[:6]
    text = (
        f"{match['base']}{'.' + fraction if fraction else ''}{match['zone'].replace('Z', '+00:00')}"
    )
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def _labels(value: Any) -> dict[str, str]:
    """The provenance labels of a template (the rest say nothing of where it came from)."""
    labels = _dict(value)
    return {
        str(k): str(v)
        for k, v in labels.items()
        if k in PROVENANCE_LABELS or str(k).startswith(PROVENANCE_PREFIXES)
    }


def _image(containers: Any) -> str | None:
    if isinstance(containers, list) and containers and isinstance(containers[0], dict):
        image = containers[0].get("image")
        return str(image) if image else None
    return None


def _digest(value: Any) -> str | None:
    text = str(value or "")
    return text.rsplit("@", 1)[-1] if "@" in text else (text or None)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
