"""The JSON report: the Report model as it is, with a schema_version, for machines."""

from __future__ import annotations

import json

from fivewhys.model import Report


def render_json(report: Report) -> str:
    """Stable bytes: field order from the model, two-space indent, a final newline."""
    return json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
