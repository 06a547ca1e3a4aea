"""The floor: polars scanning the NDJSON for the fields the analysis reads, and nothing else.

    python -m bench.floor LOGS.ndjson SCHEMA.json

The schema comes as JSON (a field name -> "String" or a nested object), written by the runner
from `fivewhys.logs.fast.SCHEMA`, so this process imports polars only.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import polars as pl


def dtype(spec: Any) -> pl.DataType:
    if spec == "String":
        return pl.String()
    return pl.Struct({name: dtype(inner) for name, inner in spec.items()})


def main() -> None:
    path, schema_file = sys.argv[1], sys.argv[2]
    with open(schema_file, encoding="utf-8") as handle:
        schema = {name: dtype(spec) for name, spec in json.load(handle).items()}
    frame = pl.scan_ndjson(path, schema=schema).collect()
    print(frame.height)


if __name__ == "__main__":
    main()
