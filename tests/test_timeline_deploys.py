"""The deploy on each cause's timeline: on the axis when it falls inside the cause's events, at
the axis's start (or end) with its distance written when it does not; in the Markdown timeline
table as a row only when inside.

The bundled example (examples/: a real run against the example app and its real-shaped Cloud
Run entries, all of revision chat-backend-00042-xaz) with deploy audit entries added, shaped
as Cloud Run writes them (tests/audit_entries.py cites the public samples)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from audit_entries import activity, completion
from test_html import chromium_dom

from fivewhys.model import Report
from fivewhys.pipeline import Analysis, Flavor, OutputFormat, analyze, render
from fivewhys.report.html import LEFT, RIGHT, WIDTH, render_html

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
LOGS = REPO / "examples" / "logs" / "gcloud-read.json"
REVISION = "chat-backend-00042-xaz"
NEW = "chat-backend-00043-new"
COMMIT = "5d6e7f8a9b0c1d2e3f405162738495a6b7c8d9e0"
#: the example run's first test start; C1's events span 23:36:07.397 to 23:36:07.713,
#: C2's 23:36:07.819 to 23:36:08.130, C3's 23:36:09.193 to 23:36:09.499
RUN_START = datetime(2026, 11, 21, 23, 36, 7, 397103, tzinfo=UTC)
PRINCIPAL = "github-deployer@acme-staging.iam.gserviceaccount.com"


class _Marks(HTMLParser):
    """Per cause section: each deploy mark of its SVG (place, x, tooltip, label) and the items
    of the deploy list under it."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: dict[str, list[dict[str, str]]] = {}
        self.listed: dict[str, list[str]] = {}
        self._section = ""
        self._mark: dict[str, str] | None = None
        self._into = ""
        self._in_list = False
        self._item: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "section":
            self._section = found.get("id", "")
        elif tag == "g" and found.get("class") == "deploy-mark":
            self._mark = {"place": found["data-place"], "x": found["data-x"], "title": ""}
            self._mark["label"] = ""
            self.marks.setdefault(self._section, []).append(self._mark)
        elif self._mark is not None and tag in ("title", "text"):
            self._into = "title" if tag == "title" else "label"
        elif tag == "ul" and found.get("class") == "deploys":
            self._in_list = True
        elif tag == "li" and self._in_list:
            self._item = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "g":
            self._mark = None
        elif tag in ("title", "text"):
            self._into = ""
        elif tag == "ul":
            self._in_list = False
        elif tag == "li" and self._item is not None:
            self.listed.setdefault(self._section, []).append("".join(self._item))
            self._item = None

    def handle_data(self, data: str) -> None:
        if self._mark is not None and self._into:
            self._mark[self._into] += data
        if self._item is not None:
            self._item.append(data)


def _parsed(page: str) -> _Marks:
    parser = _Marks()
    parser.feed(page)
    return parser


def _analyzed(tmp_path: Path, entries: list[dict[str, Any]]) -> Report:
    audit = tmp_path / "audit.json"
    audit.write_text(json.dumps(entries, indent=2), encoding="utf-8")
    return analyze(Analysis(results=[RESULTS], logs=[str(LOGS), str(audit)]))


def _deploy(at: datetime, revision: str, **kw: Any) -> list[dict[str, Any]]:
    """A deploy asked for 30 s before `at`, whose rollout (what dates it) ends at `at`."""
    return [
        activity(at - timedelta(seconds=30), 42, "chat-backend-00041-pqr", COMMIT, **kw),
        completion(at, revision, 42, COMMIT),
    ]


def _markdown_timeline(page: str, cause_id: str) -> str:
    section = page.split(f"\n## {cause_id}\n")[1]
    return section.split("### Timeline")[1].split("\n\n")[1]


def _jira_timeline(page: str, cause_id: str) -> list[str]:
    section = page.split(f"\nh2. {cause_id}: ")[1]
    return section.split("h3. Timeline\n")[1].split("\n\n")[0].splitlines()


def test_a_deploy_days_before_is_at_the_axis_start_with_its_distance(tmp_path: Path) -> None:
    report = _analyzed(tmp_path, _deploy(RUN_START - timedelta(days=3), REVISION))
    page = _parsed(render_html(report))
    for cause in report.causes:
        [mark] = page.marks[cause.id]
        assert mark["place"] == "outside" and float(mark["x"]) == LEFT
        assert mark["label"] == "deployed 3.0 days before"
        [listed] = page.listed[cause.id]
        assert listed.startswith(f"deployed 3.0 days before the first event: {REVISION} at ")
        assert f"by {PRINCIPAL} from commit 5d6e7f8a9b0c" in listed
        assert "(made the revision that wrote its evidence)" in listed
        assert "-ep109zdlbhw" in listed and "qd23mgd4u3f" in listed  # it cites its entries
        assert mark["title"] == listed.split(" (cites ")[0]
    markdown = render(report, OutputFormat.MARKDOWN)
    assert not any("| deploy |" in _markdown_timeline(markdown, c.id) for c in report.causes)


def test_a_deploy_during_the_run_lands_on_the_axis(tmp_path: Path) -> None:
    """A rollout of a new revision ends 0.2 s into C1's events: on C1's axis at its time;
    before C2's and C3's events, so at their axis start, 0.222 s and 1.596 s before."""
    at = RUN_START + timedelta(milliseconds=200)
    report = _analyzed(tmp_path, _deploy(at, NEW))
    page = _parsed(render_html(report))
    [inside] = page.marks["C1"]
    c1 = next(c for c in report.causes if c.id == "C1")
    first, last = c1.timeline[0].at, c1.timeline[-1].at
    expected = LEFT + (WIDTH - LEFT - RIGHT) * 0.2 / (last - first).total_seconds()
    assert inside["place"] == "inside" and abs(float(inside["x"]) - expected) < 0.1
    assert LEFT < float(inside["x"]) < WIDTH - RIGHT
    assert inside["label"] == "deploy +0.200 s"
    assert inside["title"].startswith(
        f"deployed 0.200 s into these events: {NEW} at 2026-11-21 23:36:07.597Z"
    )
    assert inside["title"].endswith("(during the run)")
    [before] = page.marks["C2"]
    assert before["place"] == "outside" and float(before["x"]) == LEFT
    assert before["label"] == "deployed 0.222 s before"
    assert page.marks["C3"][0]["label"] == "deployed 1.596 s before"

    markdown = render(report, OutputFormat.MARKDOWN)
    rows = _markdown_timeline(markdown, "C1").splitlines()
    [row] = [n for n, line in enumerate(rows) if "| deploy |" in line]
    assert rows[row].startswith("| 2026-11-21 23:36:07.597Z | deploy | `chat-backend-00043-new")
    times = [line.split(" | ")[0] for line in rows[2:]]
    assert times == sorted(times) and 2 < row < len(rows) - 1  # between C1's own events
    assert "| deploy |" not in _markdown_timeline(markdown, "C2")

    # the Jira timeline has the same row, its entries cited; near miss: not in C2's
    jira = _jira_timeline(render(report, OutputFormat.MARKDOWN, Flavor.JIRA), "C1")
    [deploy] = [line for line in jira if "|deploy|" in line]
    assert deploy.startswith(
        "|2026-11-21 23:36:07.597Z|deploy|chat\\-backend\\-00043\\-new deployed"
    )
    assert "(during the run)" in deploy and "(cites " in deploy
    times = [line.split("|")[1] for line in jira[1:]]
    assert times == sorted(times) and jira[1] != deploy and jira[-1] != deploy
    c2 = _jira_timeline(render(report, OutputFormat.MARKDOWN, Flavor.JIRA), "C2")
    assert not any("|deploy|" in line for line in c2)


def test_a_deploy_after_a_cause_is_at_its_axis_end(tmp_path: Path) -> None:
    """A rollout ending between C2's and C3's events: after C1 and C2, before C3."""
    report = _analyzed(tmp_path, _deploy(RUN_START + timedelta(seconds=1, milliseconds=500), NEW))
    page = _parsed(render_html(report))
    [after] = page.marks["C1"]
    assert after["place"] == "outside" and float(after["x"]) == WIDTH - RIGHT
    assert after["label"] == "deployed 1.184 s after"
    assert page.listed["C1"][0].startswith(f"deployed 1.184 s after the last event: {NEW}")
    assert page.marks["C3"][0]["label"].endswith(" before")


def test_no_audit_entries_no_mark() -> None:
    report = analyze(Analysis(results=[RESULTS], logs=[str(LOGS)]))
    html = render_html(report)
    page = _parsed(html)
    assert report.causes and page.marks == {} and page.listed == {}
    assert 'class="deploy' not in html
    markdown = render(report, OutputFormat.MARKDOWN)
    assert not any("| deploy |" in _markdown_timeline(markdown, c.id) for c in report.causes)


def test_a_deploy_before_the_run_of_another_revision_is_not_shown(tmp_path: Path) -> None:
    """Near miss: a deploy of a revision that wrote none of the evidence, before the run."""
    report = _analyzed(tmp_path, _deploy(RUN_START - timedelta(hours=2), NEW))
    assert report.revisions.deploys
    assert _parsed(render_html(report)).marks == {}


def test_the_deployer_text_is_escaped(tmp_path: Path) -> None:
    hostile = "<img src=x onerror=alert(1)>@evil.example"
    report = _analyzed(
        tmp_path, _deploy(RUN_START - timedelta(days=3), REVISION, principal=hostile)
    )
    html = render_html(report)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_chromium_draws_the_marks(tmp_path: Path) -> None:
    report = _analyzed(tmp_path, _deploy(RUN_START + timedelta(milliseconds=200), NEW))
    dom = chromium_dom(render_html(report), tmp_path)
    parsed = _parsed(dom)
    assert [m["place"] for m in parsed.marks["C1"]] == ["inside"]
    assert parsed.marks["C2"][0]["label"] == "deployed 0.222 s before"
    assert parsed.listed["C1"][0].startswith("deployed 0.200 s into these events")
