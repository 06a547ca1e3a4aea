"""Hostile text in every field from outside renders as text in every format, and nothing we print
acts on a terminal or a CI runner.

The payloads are the classes found by probing (issue 12): raw HTML and handlers, Markdown images,
pipes and newlines that add cells, rows and headings, an unbalanced `</details>`, Jira links,
images and macros, `{noformat}` in other cases, GitHub workflow commands (`::set-output`,
`::add-mask::`, `##[...]`), ESC sequences, CR, NUL, BEL, backspace, C1 CSI and bidi overrides.
Each output is parsed: Markdown by markdown-it-py (CommonMark with GFM tables), Jira by its
markup rules, HTML by the standard library's parser and by headless Chromium.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt
from pydantic import BaseModel
from test_golden import _example_analysis
from test_html import chromium_dom

from fivewhys.ci import github_annotations
from fivewhys.cli import cli
from fivewhys.controls import escape_controls, holds_a_command
from fivewhys.model import Report
from fivewhys.pipeline import analyze
from fivewhys.redact import clean_report
from fivewhys.report.html import render_html
from fivewhys.report.jira import render_jira
from fivewhys.report.markdown import render_markdown

HOSTILE = (
    "INFO<img src=x onerror=\"document.title='pwned'\">![pixel](https://attacker.example/p.png)"
    "|x|y\\|z\n## injected heading\n</details><script>document.title='pwned'</script>"
    " [x|javascript:alert(3)] {color:red}red{color} !https://attacker.example/i.png!"
    " {NOFORMAT} {NoFormat} {noformat:title=x}\n::set-output name=x::y\n  ::add-mask::secret"
    "\n##[add-mask]z\nh1. jira heading\n- list\n1. ordered\n---\n"
    "\x1b[31mred\x1b[0m\rover\x00nul\x07bel\x08bs\x9bcsi\u202eevil\u2066iso\u2069"
    ' <a href="javascript:alert(4)">a</a><svg onload="document.title=\'pwned\'">'
)
#: fields that hold our own vocabulary (Literal types the templates look up), not outside text
OURS = {"kind", "side", "bucket", "join_key", "schema_version", "status", "outcome", "level"}
#: what must never appear raw in any rendered output
ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _poisoned(value: Any) -> Any:
    """Every outside string in `value` with the hostile text added (ids stay consistent)."""
    if isinstance(value, str):
        return value + HOSTILE
    if isinstance(value, BaseModel):
        return value.model_copy(
            update={
                name: _poisoned(getattr(value, name))
                for name in type(value).model_fields
                if name not in OURS
            }
        )
    if isinstance(value, tuple | list):
        return type(value)(_poisoned(item) for item in value)
    if isinstance(value, dict):
        return {_poisoned(k): _poisoned(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def reports() -> tuple[Report, Report]:
    """The example's report as analysed, and the same with every outside field hostile, both
    cleaned as the pipeline cleans every report."""
    clean = analyze(_example_analysis())
    hostile = _poisoned(clean)
    references = ("javascript:alert(1)", "https://example.com/ok)<b>x</b>")
    causes = tuple(c.model_copy(update={"references": references}) for c in hostile.causes)
    return clean, clean_report(hostile.model_copy(update={"causes": causes}))


def _no_acting_characters(page: str) -> None:
    assert not ACTING.search(page), repr(ACTING.search(page))
    assert not [line for line in page.splitlines() if holds_a_command(line)]


# --- Markdown -------------------------------------------------------------------------------

OUR_HTML = re.compile(
    r"<details><summary>(?:Full text of \d+ long lines?|The first trace, stitched)</summary>\n"
    r"|</details>\n"
)


def _tokens(page: str) -> list[Any]:
    flat = []
    for token in MarkdownIt("commonmark").enable("table").parse(page):
        flat.append(token)
        flat.extend(token.children or [])
    return flat


def _table_widths(page: str) -> list[list[int]]:
    """Per table, the number of cell separators in each row (escaped pipes are no separators)."""
    tables: list[list[int]] = []
    previous_row = False
    for line in page.splitlines():
        row = line.startswith("|")
        if row:
            if not previous_row:
                tables.append([])
            tables[-1].append(len(re.findall(r"(?<!\\)\|", line)))
        previous_row = row
    return tables


def test_markdown_holds_no_markup_from_outside(reports: tuple[Report, Report]) -> None:
    clean, hostile = reports
    page = render_markdown(hostile)
    tokens = _tokens(page)
    html = [t.content for t in tokens if t.type in ("html_block", "html_inline")]
    assert html and all(OUR_HTML.fullmatch(h) for h in html)
    opened = [h for h in html if h.startswith("<details>")]
    assert len(opened) == len(html) - len(opened)  # every block we open is closed, once
    assert not [t for t in tokens if t.type == "image"]
    hrefs = [str(t.attrs.get("href")) for t in tokens if t.type == "link_open"]
    assert hrefs and all(h.startswith("https://") for h in hrefs)
    assert not [h for h in hrefs if re.search(r"[<>()\"'\s!*]", h)]  # encoded: none ends it
    headings = [t.tag for t in tokens if t.type == "heading_open"]
    assert headings == [t.tag for t in _tokens(render_markdown(clean)) if t.type == "heading_open"]
    for widths in _table_widths(page):
        assert len(set(widths)) == 1, widths  # every row keeps the header's cells
    assert _table_widths(page) == _table_widths(render_markdown(clean))
    _no_acting_characters(page)
    assert "\\x1b[31mred" in page and "<U+202E>" in page  # shown, escaped


# --- Jira -----------------------------------------------------------------------------------


def _outside_noformat(page: str) -> tuple[str, list[str]]:
    """The page without its {noformat} blocks, every escaped pair (`\\x`) made two blanks so
    what is left of the markup is live; and the blocks' bodies."""
    blocks = re.findall(r"\{noformat\}\n(.*?)\n\{noformat\}", page, flags=re.DOTALL)
    rest = re.sub(r"\{noformat\}\n.*?\n\{noformat\}", "", page, flags=re.DOTALL)
    return re.sub(r"\\.", "  ", rest), blocks


def test_jira_has_macros_only_inside_noformat(reports: tuple[Report, Report]) -> None:
    clean, hostile = reports
    page = render_jira(hostile)
    rest, blocks = _outside_noformat(page)
    assert blocks
    for body in blocks:  # no tag in any case ends a block early
        assert not re.search(r"\{noformat", body, flags=re.IGNORECASE), body
    assert set(re.findall(r"\{(\w+)", rest)) <= {"quote"}
    links = re.findall(r"\[([^\]]*)\]", rest)
    assert links and all(re.search(r"\|https://console\.cloud\.google\.com/", x) for x in links)
    assert "!" not in rest  # no image
    clean_rest = _outside_noformat(render_jira(clean))[0]
    headings = [line[:3] for line in rest.splitlines() if re.match(r"(h\d|bq)\.", line)]
    assert headings == [line[:3] for line in clean_rest.splitlines() if re.match(r"h\d\.", line)]
    rows = [line for line in rest.splitlines() if line.startswith("|")]
    clean_rows = clean_rest.splitlines()
    widths = [line.count("|") for line in rows]
    clean_widths = [line.count("|") for line in clean_rows if line.startswith("|")]
    assert widths == clean_widths
    _no_acting_characters(page)


# --- HTML -----------------------------------------------------------------------------------


class _Active(HTMLParser):
    """Collects what would run in a browser: scripts, handlers, javascript: URLs, images."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "img", "iframe", "object", "embed"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag} {name}")
            if value and value.strip().lower().startswith(("javascript:", "data:")):
                self.found.append(f"{tag} {name}={value}")


def _active(page: str) -> list[str]:
    parser = _Active()
    parser.feed(page)
    return parser.found


def test_html_runs_nothing_from_outside(reports: tuple[Report, Report], tmp_path: Path) -> None:
    _clean, hostile = reports
    page = render_html(hostile)
    assert _active(page) == []
    _no_acting_characters(page)
    dom = chromium_dom(page, tmp_path)
    assert "<body" in dom and "injected heading" in dom  # the text is there, as text
    assert _active(dom) == []
    assert "pwned" not in re.search(r"<title>(.*?)</title>", dom, flags=re.DOTALL).group(1)


# --- what we print --------------------------------------------------------------------------


def test_escape_controls_shows_every_acting_character() -> None:
    assert escape_controls("a\x1b[2Jb\rc\r\nd\x00\x07\x08\x9b\u202e\u2066\ud800") == (
        "a\\x1b[2Jb\\rc\nd\\x00\\x07\\x08\\x9b<U+202E><U+2066><U+D800>"
    )
    assert escape_controls("tab\tand\nnewline stay") == "tab\tand\nnewline stay"
    assert escape_controls("::error::x\n \u00a0::add-mask::y\nok a::b ##[group]z ##vso[t]") == (
        "\\x3a:error::x\n \u00a0\\x3a:add-mask::y\nok a::b \\x23#[group]z \\x23#vso[t]"
    )


def test_no_line_on_stdout_is_a_ci_command(tmp_path: Path) -> None:
    """analyze to stdout and rules explain print test ids and log lines: none acts."""
    results = tmp_path / "r.jsonl"
    source = Path(__file__).parents[1] / "examples" / "results" / "report-log.jsonl"
    text = source.read_text().replace(
        "ConnectionClosedOK: received 1000 (OK) main cleanup",
        "ConnectionClosedOK: received 1000 (OK) main cleanup\\n::set-output name=x::y"
        "\\n::add-mask::z\\r::stop-commands::t ##[error]w \\u001b[2J",
    )
    results.write_text(text)
    logs = str(Path(__file__).parents[1] / "examples" / "logs" / "gcloud-read.json")
    runner = CliRunner()
    printed = []
    for args in (
        ["analyze", str(results), "--logs", logs],
        ["analyze", str(results), "--logs", logs, "--flavor", "jira"],
        ["analyze", str(results), "--logs", logs, "--format", "html"],
        ["rules", "explain", "ws-handler-error-main-cleanup", "--results", str(results)]
        + ["--logs", logs],
    ):
        done = runner.invoke(cli, args, catch_exceptions=False)
        assert done.exit_code == 0, done.stderr
        printed.append(done.stdout + done.stderr)
    assert "set-output name=x" in printed[0]  # the text is shown
    for text in printed:
        _no_acting_characters(text)


def test_annotations_stay_one_escaped_command_each(reports: tuple[Report, Report]) -> None:
    """A hostile test id, file, title or message cannot end an annotation or add a property."""
    _clean, hostile = reports
    lines = github_annotations(hostile)
    assert len(lines) == sum(1 for f in hostile.failures if f.cause_id)
    for line in lines:
        assert "\n" not in line and "\r" not in line
        head, data = line.split("::", 2)[1:]
        assert head.startswith("error file=")
        properties = dict(p.split("=", 1) for p in head.removeprefix("error ").split(","))
        assert sorted(properties) == ["file", "line", "title"]
        assert ":" not in properties["file"] and "%3A" in properties["title"]
        assert "set-output" in data  # the text is kept, as data
