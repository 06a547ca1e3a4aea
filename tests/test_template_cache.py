"""The compiled-template cache (report.environment.TemplateCache) changes no byte of a report:
a changed template is compiled again, environments with other options never share compiled
code, a cache that cannot be written is no error, and the switch turns it off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jinja2
from conftest import REPO
from jinja2.bccache import bc_magic

from fivewhys.report.environment import TemplateCache
from fivewhys.resources import NO_COMPILED_CACHE_ENV


def _render(templates: Path, cache: Path, **options: bool) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), **options)
    env.bytecode_cache = TemplateCache(cache, env)
    return env.get_template("t.j2").render(name="x")


def test_a_changed_template_is_compiled_again(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("one {{ name }}\n", encoding="utf-8")
    assert _render(tmp_path, tmp_path / "cache") == "one x"
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert _render(tmp_path, tmp_path / "cache") == "one x"  # from the cache
    (tmp_path / "t.j2").write_text("two {{ name }}\n", encoding="utf-8")
    assert _render(tmp_path, tmp_path / "cache") == "two x"


def test_environments_with_other_options_do_not_share_compiled_code(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{% if name %}\n{{ name }}{% endif %}\n", encoding="utf-8")
    assert _render(tmp_path, tmp_path / "cache", trim_blocks=True) == "x"
    # Jinja's own key (the name and the source) is the same: compiled code from the first
    # environment would drop the newline this one keeps
    assert _render(tmp_path, tmp_path / "cache", trim_blocks=False) == "\nx"
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_cache_that_cannot_be_written_keeps_nothing_and_breaks_nothing(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{{ name }}\n", encoding="utf-8")
    (tmp_path / "cache").write_text("a file where the directory would be", encoding="utf-8")
    assert _render(tmp_path, tmp_path / "cache") == "x"
    assert _render(tmp_path, tmp_path / "cache") == "x"


def _example_report(tmp_path: Path, cache: Path, out: str, *, off: bool = False) -> bytes:
    env = {k: v for k, v in os.environ.items() if k != NO_COMPILED_CACHE_ENV}
    env["FIVEWHYS_CACHE_DIR"] = str(cache)
    if off:
        env[NO_COMPILED_CACHE_ENV] = "1"
    subprocess.run(
        [sys.executable, "-m", "fivewhys.cli", "analyze", "examples/results/report-log.jsonl"]
        + ["--logs", "examples/logs/gcloud-read.json", "-o", str(tmp_path / out)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    return (tmp_path / out).read_bytes()


def test_the_examples_report_is_the_same_cold_warm_and_uncached(tmp_path: Path) -> None:
    cold = _example_report(tmp_path, tmp_path / "cache", "cold.md")
    assert [p.suffix for p in (tmp_path / "cache" / "templates").iterdir()] == [".cache"]
    warm = _example_report(tmp_path, tmp_path / "cache", "warm.md")
    uncached = _example_report(tmp_path, tmp_path / "none", "uncached.md", off=True)
    assert not (tmp_path / "none").exists()
    assert cold == warm == uncached
    assert b"# " in cold


def test_a_damaged_cache_file_is_a_miss(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{{ name }}\n", encoding="utf-8")
    assert _render(tmp_path, tmp_path / "cache") == "x"
    [cached] = (tmp_path / "cache").iterdir()
    # Jinja's header (its magic) kept, the pickled checksum after it cut short
    kept = len(bc_magic) + 3
    cached.write_bytes(cached.read_bytes()[:kept])
    assert _render(tmp_path, tmp_path / "cache") == "x"
    assert len(cached.read_bytes()) > kept  # and written again
