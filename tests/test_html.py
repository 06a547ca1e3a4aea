"""The HTML and Jira reports: self-contained, escaped, and the HTML rendered by a real browser.

The browser test needs Debian's chromium (installed by .ci/run). Outside CI, without it, the
test is skipped with a reason; in CI (CI=true) a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_golden import _example_analysis

from fivewhys.model import Report
from fivewhys.pipeline import analyze
from fivewhys.report.html import render_html
from fivewhys.report.jira import jira_text, noformat, render_jira

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def report() -> Report:
    return analyze(_example_analysis())


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def chromium_command(tmp_path: Path) -> list[str]:
    """Headless chromium with a profile of its own under `tmp_path` (skips without chromium)."""
    return [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]


def chromium_dom(html: str, tmp_path: Path) -> str:
    """The DOM chromium builds from the page `html` (written to `tmp_path`/rca.html)."""
    page = tmp_path / "rca.html"
    page.write_text(html, encoding="utf-8")
    command = [*chromium_command(tmp_path), "--dump-dom", page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120).stdout


def test_html_is_self_contained_and_escaped(report: Report) -> None:
    page = render_html(report)
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert "src=" not in page
    assert page.count("<svg") == len(report.causes)
    assert "KeyError(&#39;agent_name&#39;)" in page  # autoescaped log text


def test_hostile_log_text_stays_text() -> None:
    hostile = "<script>alert(1)</script>"
    assert "&lt;script&gt;" in render_html(_report_with_message(hostile))
    assert "<script>alert" not in render_html(_report_with_message(hostile))


def _report_with_message(message: str) -> Report:
    base = analyze(_example_analysis())
    failures = tuple(f.model_copy(update={"message": message}) for f in base.failures)
    return base.model_copy(update={"failures": failures})


def test_html_renders_in_headless_chromium(report: Report, tmp_path: Path) -> None:
    dom = chromium_dom(render_html(report), tmp_path)
    for cause in report.causes:
        assert cause.title in dom
    assert "Client-side (the test's own failure)" in dom
    shot = tmp_path / "rca.png"
    subprocess.run(
        [
            *chromium_command(tmp_path),
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            (tmp_path / "rca.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000


def test_jira_escapes_markup_and_keeps_blocks_closed(report: Report) -> None:
    assert jira_text("a|b [x] {y} *z* -w- @me") == "a\\|b \\[x\\] \\{y\\} \\*z\\* \\-w\\- \\@me"
    assert noformat("x {noformat} y") == "{noformat}\nx { noformat} y\n{noformat}"
    page = render_jira(report)
    assert page.startswith("h1. Five whys: 4 failed tests, 3 causes, 1 client\\-side\n")
    assert "||Cause||Tests||Confidence||Proven by||Rule||" in page
    assert "\n# *Evidence.*" in page
