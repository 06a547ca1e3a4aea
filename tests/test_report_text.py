"""Log text inside Markdown cannot break it, and the filter/command appendix is exact."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import at

from fivewhys.logs.query import build_filter, coalesce, explorer_links, gcloud_command
from fivewhys.model import Window
from fivewhys.report.text import cell, code, fence, offset, prose, utc


def test_code_span_is_longer_than_any_backtick_run() -> None:
    assert code("a `b` c") == "``a `b` c``"
    assert code("``x``") == "``` ``x`` ```"
    assert code("line one\nline two") == "`line one line two`"
    assert code("x" * 200, limit=10) == "`xxxxxxxxx…`"


def test_table_cells_escape_pipes_and_fences_outgrow_content() -> None:
    assert cell("a|b") == "`a\\|b`"
    assert fence("```\nhi\n```") == "````text\n```\nhi\n```\n````"
    assert fence("plain", "sh") == "```sh\nplain\n```"


def test_prose_neutralizes_html_mentions_and_issue_links() -> None:
    assert prose("<script>@alice #12 [x](y) *b*") == (
        "\\<script\\>\\@alice \\#12 \\[x\\](y) \\*b\\*"
    )


def test_times_and_offsets() -> None:
    assert utc(at(1.2345)) == "2025-09-07 15:00:01.234Z"
    assert offset(-3.4) == "-3.400 s"
    assert offset(0.012) == "+0.012 s"


def test_windows_coalesce_when_they_overlap_or_are_near() -> None:
    windows = [
        Window(start=at(0), end=at(10)),
        Window(start=at(200), end=at(210)),
        Window(start=at(5), end=at(20)),
        Window(start=at(70), end=at(80)),
    ]
    assert coalesce(windows) == [
        Window(start=at(0), end=at(80)),
        Window(start=at(200), end=at(210)),
    ]


def test_filter_parenthesizes_every_clause() -> None:
    windows = [Window(start=at(0), end=at(10)), Window(start=at(500), end=at(510))]
    assert build_filter(windows, ["chat-backend", "auth"]) == (
        '(resource.type="cloud_run_revision")\n'
        'AND ((resource.labels.service_name="auth") OR '
        '(resource.labels.service_name="chat-backend"))\n'
        'AND ((timestamp>="2025-09-07T15:00:00.000000Z" AND '
        'timestamp<="2025-09-07T15:00:10.000000Z") OR '
        '(timestamp>="2025-09-07T15:08:20.000000Z" AND timestamp<="2025-09-07T15:08:30.000000Z"))'
    )


def test_gcloud_command_quotes_the_filter_for_a_shell() -> None:
    command = gcloud_command('(severity>=ERROR)\nAND (textPayload:"it\'s")', "acme-staging")
    assert command == (
        "gcloud logging read '(severity>=ERROR)\nAND (textPayload:\"it'\"'\"'s\")' "
        "--project=acme-staging --format=json --order=asc"
    )


def test_explorer_links_open_each_entry() -> None:
    ids = pl.Series(["abc123", 'odd id/"é"', "abc123"])
    moments = pl.Series([at(0), at(1.5), at(0)])
    links = explorer_links("acme", ids, moments).to_list()
    assert (
        links[0]
        == links[2]
        == (
            "https://console.cloud.google.com/logs/query;query=insertId%3D%22abc123%22"
            ";cursorTimestamp=2025-09-07T15:00:00.000000Z;startTime=2025-09-07T14:59:00.000000Z"
            ";endTime=2025-09-07T15:01:00.000000Z?project=acme"
        )
    )
    assert links[1] == (
        "https://console.cloud.google.com/logs/query;query=insertId%3D%22odd%20id%2F%5C%22"
        "%C3%A9%5C%22%22;cursorTimestamp=2025-09-07T15:00:01.500000Z"
        ";startTime=2025-09-07T14:59:01.500000Z;endTime=2025-09-07T15:01:01.500000Z?project=acme"
    )
    assert explorer_links(None, ids, moments).to_list() == [None, None, None]


def test_long_evidence_is_shown_whole_in_a_collapsed_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from conftest import REPO
    from test_golden import _example_analysis

    monkeypatch.chdir(REPO)
    from fivewhys.pipeline import OutputFormat, analyze, render

    report = analyze(_example_analysis())
    traceback = "Traceback (most recent call last):\n  File \"app.py\", line 3\nKeyError: 'x'"
    first = report.causes[0]
    long_line = first.evidence[0].model_copy(update={"message": traceback})
    causes = (first.model_copy(update={"evidence": (long_line, *first.evidence[1:])}),)
    text = render(report.model_copy(update={"causes": causes}), OutputFormat.MARKDOWN)
    assert "<details><summary>Full text of 1 long line</summary>" in text
    assert f"```text\n{traceback}\n```" in text


#: markup a Markdown or Jira template writes on purpose: a string literal printed through
#: `{{ }}` holding one is escaped by the environment's finalize and shows as `\*\*generic\*\*`
_MARKUP = set("*|[]{}`#")


@pytest.mark.parametrize("name", ["report.md.j2", "report.jira.j2"])
def test_templates_write_their_own_markup_as_template_text(name: str) -> None:
    import jinja2
    from jinja2 import nodes

    from fivewhys.resources import bundled

    source = (bundled("templates") / name).read_text(encoding="utf-8")
    printed = [
        const.value
        for output in jinja2.Environment().parse(source).find_all(nodes.Output)
        for node in output.nodes
        if not isinstance(node, nodes.TemplateData)
        for const in node.find_all(nodes.Const)
        if isinstance(const.value, str) and _MARKUP & set(const.value)
    ]
    assert printed == []


def test_a_generic_cause_is_marked_in_bold_not_in_escaped_stars() -> None:
    from pathlib import Path

    from fivewhys.pipeline import Analysis, OutputFormat, analyze, render

    scenario = Path(__file__).parent.parent / "examples" / "scenarios" / "node-chat"
    report = analyze(
        Analysis(
            results=[scenario / "results" / "report-log.jsonl"],
            logs=[str(scenario / "logs" / "gcloud-read.json")],
        )
    )
    assert any(cause.generic for cause in report.causes)
    markdown = render(report, OutputFormat.MARKDOWN)
    assert "; **generic**: no named rule matched" in markdown
    assert "\\*\\*generic" not in markdown
