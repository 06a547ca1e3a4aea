"""Loaded rules kept between runs (rules.loader._RuleCache) are the rules a load gives: any
change to a rule file, a directory, where the rules are read from or the code is a miss, and a
damaged or unwritable cache is no error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import REPO

from fivewhys.errors import RuleErrors
from fivewhys.resources import CACHE_DIR_ENV, NO_COMPILED_CACHE_ENV
from fivewhys.rules import loader
from fivewhys.rules.loader import load_rules

BUNDLED = REPO / "rules"


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """A fresh cache directory; counts the loads that read the files (the cache's misses)."""
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(NO_COMPILED_CACHE_ENV, raising=False)
    real = loader._load_rules
    misses: list[int] = []

    def counted(dirs: list[Path], *, collect_errors: bool) -> list[loader.Rule]:
        misses.append(1)
        return real(dirs, collect_errors=collect_errors)

    monkeypatch.setattr(loader, "_load_rules", counted)
    return misses


def _copy(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(BUNDLED, rules, ignore=shutil.ignore_patterns("tests", "schema.json"))
    return rules


def test_the_second_load_is_the_cached_one_and_equal(tmp_path: Path, loads: list[int]) -> None:
    rules = _copy(tmp_path)
    first = load_rules([rules], collect_errors=False)
    assert len(list((tmp_path / "cache" / "rules").iterdir())) == 1
    again = load_rules([rules], collect_errors=False)
    assert len(loads) == 1
    assert again == first and again is not first
    assert [r._source for r in again] == [r._source for r in first]


def test_an_edited_or_added_rule_file_is_read_again(tmp_path: Path, loads: list[int]) -> None:
    rules = _copy(tmp_path)
    load_rules([rules], collect_errors=False)
    path = rules / "http-redirect-307.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("priority: ", "priority: 1"))
    edited = {r.id: r.priority for r in load_rules([rules], collect_errors=False)}
    assert len(loads) == 2
    assert str(edited["http-redirect-307"]).startswith("1")
    text = path.read_text(encoding="utf-8").replace("id: http-redirect-307", "id: http-redirect-2")
    (rules / "http-redirect-2.yaml").write_text(text, encoding="utf-8")
    added = load_rules([rules], collect_errors=False)
    assert len(loads) == 3 and "http-redirect-2" in {r.id for r in added}


def test_one_relative_directory_in_two_places_gives_each_places_rules(
    tmp_path: Path, loads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _copy(tmp_path / "a")
    shutil.copytree(tmp_path / "a" / "rules", tmp_path / "b" / "rules")
    (tmp_path / "b" / "rules" / "http-redirect-307.yaml").unlink()
    monkeypatch.chdir(tmp_path / "a")
    in_a = load_rules([Path("rules")], collect_errors=False)
    monkeypatch.chdir(tmp_path / "b")
    in_b = load_rules([Path("rules")], collect_errors=False)
    assert len(loads) == 2 and len(in_a) == len(in_b) + 1


def test_a_change_to_the_code_is_a_miss(
    tmp_path: Path, loads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "schema.py"
    source.write_text("one\n", encoding="utf-8")
    monkeypatch.setattr(loader, "_code_files", lambda: [str(source)])
    rules = _copy(tmp_path)
    load_rules([rules], collect_errors=False)
    load_rules([rules], collect_errors=False)
    assert len(loads) == 1
    source.write_text("a change\n", encoding="utf-8")
    load_rules([rules], collect_errors=False)
    assert len(loads) == 2


def test_the_real_code_files_are_fivewhys_and_its_parsers() -> None:
    files = loader._code_files()
    assert str(REPO / "src/fivewhys/rules/schema.py") in files
    assert any("/pydantic/" in f for f in files) and any("/yaml/" in f for f in files)


def test_a_damaged_cache_file_is_a_miss(tmp_path: Path, loads: list[int]) -> None:
    rules = _copy(tmp_path)
    first = load_rules([rules], collect_errors=False)
    [kept] = (tmp_path / "cache" / "rules").iterdir()
    kept.write_bytes(kept.read_bytes()[:200])  # the digest intact, the pickle cut short
    assert load_rules([rules], collect_errors=False) == first
    assert len(loads) == 2


def test_a_fixture_directory_gone_fails_as_without_a_cache(
    tmp_path: Path, loads: list[int]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    rule = (BUNDLED / "http-redirect-307.yaml").read_text(encoding="utf-8")
    (rules / "http-redirect-307.yaml").write_text(f"{rule}\ntests: fixtures\n", encoding="utf-8")
    (rules / "fixtures").mkdir()
    load_rules([rules], collect_errors=False)
    (rules / "fixtures").rmdir()
    with pytest.raises(RuleErrors, match="no fixture directory 'fixtures'"):
        load_rules([rules], collect_errors=True)


def test_an_unwritable_cache_and_the_switch_keep_nothing(
    tmp_path: Path, loads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = _copy(tmp_path)
    (tmp_path / "cache").write_text("a file where the directory would be", encoding="utf-8")
    first = load_rules([rules], collect_errors=False)
    assert load_rules([rules], collect_errors=False) == first
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "off"))
    monkeypatch.setenv(NO_COMPILED_CACHE_ENV, "1")
    load_rules([rules], collect_errors=False)
    load_rules([rules], collect_errors=False)
    assert len(loads) == 4 and not (tmp_path / "off").exists()


def test_a_load_that_fails_is_not_kept(tmp_path: Path, loads: list[int]) -> None:
    for _ in range(2):
        with pytest.raises(RuleErrors):
            load_rules([REPO / "tests/data/rules_broken"], collect_errors=True)
    assert len(loads) == 2 and not (tmp_path / "cache" / "rules").exists()
