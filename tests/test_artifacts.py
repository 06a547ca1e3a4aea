"""`ci --artifacts DIR` creates its files: a link planted in DIR is refused with one line, and
nothing is written through it, dangling or not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO

from fivewhys.artifacts import write_text
from fivewhys.cli import cli
from fivewhys.errors import FivewhysError

RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
SINK = REPO / "examples" / "logs" / "sink.ndjson"


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def _ci(artifacts: Path) -> tuple[int, str]:
    args = ["ci", str(RESULTS), "--logs", str(SINK), "--artifacts", str(artifacts)]
    done = CliRunner().invoke(cli, args, catch_exceptions=False)
    return done.exit_code, done.stderr


@pytest.mark.parametrize("name", ["rca.md", "rca.json", "rca.html", "logs.parquet"])
def test_a_planted_link_is_refused_and_its_target_untouched(tmp_path: Path, name: str) -> None:
    artifacts, target = tmp_path / "rca", tmp_path / "authorized_keys"
    artifacts.mkdir()
    target.write_text("ssh-ed25519 AAAA keep me\n")
    (artifacts / name).symlink_to(target)
    code, stderr = _ci(artifacts)
    assert (code, stderr) == (
        2,
        f"error: {artifacts / name}: refusing to write through a symbolic link\n",
    )
    assert target.read_text() == "ssh-ed25519 AAAA keep me\n"
    assert sorted(p.name for p in artifacts.iterdir()) == [name]  # nothing else was written


def test_a_dangling_link_outside_the_directory_is_never_followed(tmp_path: Path) -> None:
    artifacts, outside = tmp_path / "rca", tmp_path / "elsewhere" / "rca.md"
    artifacts.mkdir()
    (artifacts / "rca.md").symlink_to(outside)
    code, stderr = _ci(artifacts)
    assert code == 2 and "refusing to write through a symbolic link" in stderr
    assert not outside.exists() and not outside.parent.exists()


def test_artifacts_are_new_files_replaced_whole(tmp_path: Path) -> None:
    artifacts = tmp_path / "rca"
    artifacts.mkdir()
    old = artifacts / "rca.md"
    old.write_text("an earlier report\n")
    hard = tmp_path / "hard-link-to-old"
    os.link(old, hard)
    assert _ci(artifacts)[0] == 0
    assert old.read_text().startswith("# Five whys:")
    assert hard.read_text() == "an earlier report\n"  # replaced, not written into
    assert oct(old.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in artifacts.iterdir()) == ["rca.html", "rca.json", "rca.md"]


def test_write_text_refuses_a_link_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    link = tmp_path / "out.md"
    link.symlink_to(tmp_path / "target.md")
    with pytest.raises(FivewhysError, match="refusing to write through a symbolic link"):
        write_text(link, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.md"]
