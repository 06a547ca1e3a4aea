# Two ways in: `make demo` (the analysis on the bundled example) and `make test` (what CI runs).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench regenerate-example regenerate-scenario regenerate-node-chat update-golden rules-schema

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# The sources are compiled first: an editable install leaves no .pyc, and with
# PYTHONDONTWRITEBYTECODE set no run writes one, so each would compile all of fivewhys again.
demo: $(VENV)/.installed
	@mkdir -p out
	@$(BIN)/python -m compileall -q src
	$(BIN)/fivewhys analyze examples/results/report-log.jsonl \
		--logs examples/logs/gcloud-read.json -o out/rca.md
	$(BIN)/fivewhys analyze examples/results/report-log.jsonl \
		--logs examples/logs/gcloud-read.json -o out/rca.json
	@echo "Report: out/rca.md (JSON: out/rca.json)"

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

# The benchmark at a million log lines (bench/RESULTS.md); generates its data into bench/out/.
# Sources compiled first, as an install leaves them: the small runs time the start-up a user has.
bench: $(VENV)/.installed
	@$(BIN)/python -m compileall -q src
	$(BIN)/python -m bench.run

# Re-run the example app and its e2e suite, and rewrite the committed results and logs.
regenerate-example: $(VENV)/.installed
	$(BIN)/python examples/generate.py

# Re-run the all-modes scenario and rewrite its committed results, logs and truth.
regenerate-scenario: $(VENV)/.installed
	$(BIN)/python examples/scenarios/all-modes/generate.py

# Re-run the node-chat scenario (a real Node backend: needs node and npm) and rewrite its
# committed results, logs and truth.
regenerate-node-chat: $(VENV)/.installed
	cd examples/scenarios/node-chat/server && npm ci --no-audit --no-fund
	$(BIN)/python examples/scenarios/node-chat/generate.py

# Rewrite the golden reports after a reviewed change in rules, templates or the analysis.
update-golden: $(VENV)/.installed
	FIVEWHYS_UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q tests/test_golden.py

# Rewrite the rule format's JSON Schema (rules/schema.json) after a change in rules/schema.py.
rules-schema: $(VENV)/.installed
	$(BIN)/fivewhys rules schema -o rules/schema.json
