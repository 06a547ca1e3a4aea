"""Which revisions served a run, when each was deployed, and whether that is what the run was
meant to test.

Every Cloud Run entry names its revision (`resource.labels.revision_name`), so the revisions
that served the run are those of the entries written while it ran. What is said at the top of
the report, as facts: several revisions at once (a rollout or split traffic during the run), a
deploy during the run, a revision deployed long before the run with no newer deploy in the audit
entries read (a new build that never reached the service), and, when asked (`--expect-revision`,
`--expect-commit`), every served revision that is not the one expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from fivewhys.model import Deploy, RevisionServed, RunRevisions
from fivewhys.report.text import utc

#: a revision deployed more than this before the run is said to be old
LONG_BEFORE = timedelta(hours=24)


def run_revisions(
    frame: pl.DataFrame,
    deploys: Sequence[Deploy],
    span: tuple[datetime, datetime] | None,
    *,
    expect_revision: str | None = None,
    expect_commit: str | None = None,
) -> RunRevisions:
    """The revisions of the entries written during `span` (the run), with their deploys, and
    the findings the report states first."""
    served = _served(frame, deploys, span) if span is not None else []
    findings = _findings(served, deploys, span, expect_revision, expect_commit)
    return RunRevisions(
        served=tuple(served),
        deploys=tuple(deploys),
        findings=tuple(findings),
        expected_revision=expect_revision,
        expected_commit=expect_commit,
    )


def deploy_of(revision: str, deploys: Sequence[Deploy]) -> Deploy | None:
    """The (last) deploy that created `revision`."""
    found = [d for d in deploys if d.revision == revision]
    return found[-1] if found else None


def _served(
    frame: pl.DataFrame, deploys: Sequence[Deploy], span: tuple[datetime, datetime]
) -> list[RevisionServed]:
    rows = (
        frame.filter(
            (pl.col("kind") != "audit")
            & pl.col("revision").is_not_null()
            & (pl.col("revision") != "")
            & (pl.col("end_time") >= span[0])
            & (pl.col("timestamp") <= span[1])
        )
        .group_by("service", "revision")
        .agg(
            entries=pl.len(),
            first=pl.col("timestamp").min(),
            last=pl.col("timestamp").max(),
        )
        .sort("first", "revision")
    )
    return [
        RevisionServed(
            service=row["service"],
            revision=row["revision"],
            entries=row["entries"],
            first_seen=row["first"],
            last_seen=row["last"],
            deploy=deploy_of(row["revision"], deploys),
        )
        for row in rows.to_dicts()
    ]


def _findings(
    served: Sequence[RevisionServed],
    deploys: Sequence[Deploy],
    span: tuple[datetime, datetime] | None,
    expect_revision: str | None,
    expect_commit: str | None,
) -> list[str]:
    findings: list[str] = []
    if len(served) > 1:
        listed = "; ".join(
            f"{s.revision} ({s.entries} entries, {utc(s.first_seen)} to {utc(s.last_seen)})"
            for s in served
        )
        findings.append(
            f"The run was served by {len(served)} revisions at once: {listed}. A rollout or "
            "split traffic during the run: failures may depend on which one answered."
        )
    if span is not None:
        for deploy in deploys:
            at = deploy.at()
            if deploy.revision and at is not None and span[0] <= at <= span[1]:
                findings.append(
                    f"{deploy.revision} was deployed during the run: {describe(deploy)}."
                )
    if len(served) == 1 and span is not None:
        only = served[0]
        made = only.deploy
        at = made.at() if made else None
        newer = [
            d
            for d in deploys
            if d.service == only.service and (d.at() or span[0]) > (at or span[0])
        ]
        if made is not None and at is not None and at < span[0] - LONG_BEFORE and not newer:
            findings.append(
                f"The run was served by {only.revision} only, deployed {_age(span[0] - at)} "
                f"before it started ({describe(made)}), and the audit entries read hold no "
                "newer deploy: if the run was meant to test a new build, it never reached the "
                "service."
            )
    if expect_revision:
        findings.extend(
            f"Expected revision {expect_revision}, but {other.revision} served the run "
            f"({other.entries} entries)."
            for other in served
            if other.revision != expect_revision
        )
        if served and not any(s.revision == expect_revision for s in served):
            findings.append(f"Expected revision {expect_revision} wrote no entry during the run.")
    if expect_commit:
        findings.extend(_commit_findings(served, expect_commit))
    return findings


def _commit_findings(served: Sequence[RevisionServed], expected: str) -> list[str]:
    findings = []
    for one in served:
        commit = one.deploy.commit if one.deploy else None
        if commit is None:
            findings.append(
                f"Expected commit {expected[:12]} cannot be checked for {one.revision}: no deploy "
                "of it with a commit-sha label is in the audit entries read."
            )
        elif not same_commit(commit, expected):
            findings.append(
                f"Expected commit {expected[:12]}, but {one.revision} was deployed from commit "
                f"{commit[:12]} ({describe(one.deploy)})."  # type: ignore[arg-type]
            )
    return findings


def same_commit(one: str, other: str) -> bool:
    """Two commit ids name the same commit: one is a prefix of the other (at least 7 digits)."""
    a, b = one.strip().lower(), other.strip().lower()
    shorter = min(len(a), len(b))
    return shorter >= 7 and a[:shorter] == b[:shorter]


def describe(deploy: Deploy) -> str:
    """The deploy in words (`Deploy.describe`)."""
    return deploy.describe()


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} h"
