"""The rule format as a JSON Schema, generated from the pydantic models, for editors.

`rules/schema.json` is this text, committed; rule files point to it with a first line
`# yaml-language-server: $schema=./schema.json`. A test keeps the two equal; regenerate with
`fivewhys rules schema -o rules/schema.json` (`make rules-schema`).
"""

from __future__ import annotations

import json
from typing import Any

from fivewhys.rules.schema import Rule

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def rule_json_schema() -> dict[str, Any]:
    """The schema of one rule file (YAML keys as written: `message|contains`, not field names)."""
    schema = Rule.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "fivewhys rule",
        "description": "One cause -> effect rule of fivewhys: a client symptom, the server "
        "lines that prove it, and the five whys.",
        **{key: value for key, value in schema.items() if key not in {"title", "description"}},
    }


def rule_json_schema_text() -> str:
    """Stable bytes: model order, two-space indent, a final newline."""
    return json.dumps(rule_json_schema(), indent=2, ensure_ascii=False) + "\n"
