"""The benchmark's parts on a small scenario: a deterministic generator whose truth holds, an
analysis that finds that truth, and a naive baseline that does too. (Speed itself is measured by
`python -m bench.run`, never here.)"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import REPO

from fivewhys import whys
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render
from fivewhys.results import read_results
from fivewhys.rules.loader import bundled_rules_dir, load_rules


def bench_module(name: str) -> ModuleType:
    """A module of bench/ (not a package on the test path)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


generate = bench_module("generate")
SMALL = generate.Scenario(entries=20_000, failures=60, tests=300, seed=11)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate.generate(SMALL, tmp_path_factory.mktemp("scenario"))


def test_the_generator_is_deterministic(scenario: Any, tmp_path: Path) -> None:
    again = generate.generate(SMALL, tmp_path / "again")
    for name in ("logs", "results", "truth"):
        assert getattr(again, name).read_bytes() == getattr(scenario, name).read_bytes()
    other = generate.generate(generate.Scenario(2_000, 10, 50, seed=12), tmp_path / "other")
    small = generate.generate(generate.Scenario(2_000, 10, 50, seed=11), tmp_path / "small")
    assert other.logs.read_bytes() != small.logs.read_bytes()


def test_the_truth_names_lines_that_exist(scenario: Any) -> None:
    lines = scenario.logs.read_text().splitlines()
    assert len(lines) == SMALL.entries
    insert_ids = {json.loads(line)["insertId"] for line in lines}
    assert len(insert_ids) == SMALL.entries
    truth = json.loads(scenario.truth.read_text())
    assert len(truth) == SMALL.failures
    assert Counter(t["mode"] for t in truth.values()) == {
        mode: int(share * SMALL.failures) for mode, share in generate.MODES.items()
    }
    for expected in truth.values():
        assert set(expected["evidence"]) <= insert_ids
        assert expected["keyed"] == (expected["mode"] not in ("redirect_307", "assertion"))


def test_the_analysis_finds_the_truth(scenario: Any) -> None:
    run = bench_module("run")
    report = json.loads(render(_analysis(scenario), OutputFormat.JSON))
    right, total = run.accuracy(run.cited(report), json.loads(scenario.truth.read_text()))
    assert (right, total) == (SMALL.failures, SMALL.failures)


def test_the_naive_baseline_blames_lines_too(scenario: Any, tmp_path: Path) -> None:
    run, naive = bench_module("run"), bench_module("naive")
    out = tmp_path / "naive.json"
    argv = sys.argv
    sys.argv = ["naive", str(scenario.results), str(scenario.logs), str(out)]
    try:
        naive.main()
    finally:
        sys.argv = argv
    blamed = json.loads(out.read_text())
    right, total = run.accuracy(blamed, json.loads(scenario.truth.read_text()))
    assert total == SMALL.failures
    assert right == total  # it knows the scenario's failure modes by heart


def test_fewer_time_only_lines_change_no_byte_of_the_report(
    scenario: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failures no time-joining rule can reach get only the time-only lines the report lists:
    the reports must be the ones every failure's full set of time-only lines gives."""
    trimmed = [render(_analysis(scenario), fmt) for fmt in OutputFormat]
    readers = whys.time_line_readers(load_rules([bundled_rules_dir()], collect_errors=False))
    failures = read_results([scenario.results]).failures
    reads = {whys.reads_time_lines(f, readers) for f in failures}
    assert reads == {True, False}
    monkeypatch.setattr(whys, "reads_time_lines", lambda failure, rules: True)
    assert [render(_analysis(scenario), fmt) for fmt in OutputFormat] == trimmed


def _analysis(scenario: Any) -> Any:
    return analyze(Analysis(results=[scenario.results], logs=[str(scenario.logs)]))


def test_the_pull_benchmark_runs_small_and_meets_its_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pull = bench_module("pull")
    assert pull.main(["--small"]) == 0
    out = capsys.readouterr().out
    assert "same failures explained by the same rules: yes" in out
    assert re.search(r"narrow:\s+6 requests, 5 queries", out), out
