"""JSON from files we do not control: any damage is a `JSONDecodeError`, never another exception.

`json.loads` raises RecursionError on deep nesting and a plain ValueError on an integer past
Python's digit limit, and keeps lone surrogates (`"\\ud800"`) that RE2, polars and UTF-8 output
refuse. Every reader of outside JSON goes through `loads`, so its existing handler catches all.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from fivewhys.linear_regex import without_surrogates

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(text: str | bytes) -> Any:
    """`json.loads`, with RecursionError and digit-limit errors as `JSONDecodeError`, and lone
    surrogates replaced by U+FFFD."""
    shown = text if isinstance(text, str) else ""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("nested deeper than can be read", shown, 0) from None
    except ValueError:  # an integer past sys.get_int_max_str_digits()
        limit = sys.get_int_max_str_digits()
        raise json.JSONDecodeError(f"a number of over {limit} digits", shown, 0) from None
    probe = _SURROGATE_ESCAPE if isinstance(text, str) else _SURROGATE_ESCAPE_BYTES
    if probe.search(text):  # type: ignore[arg-type]
        return _cleaned(value)
    return value


def _cleaned(value: Any) -> Any:
    """`value` with lone surrogates in every string replaced (iterative: the value may be deep)."""
    if isinstance(value, str):
        return without_surrogates(value)
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        item = parent[key]
        if isinstance(item, str):
            parent[key] = without_surrogates(item)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
        elif isinstance(item, dict):
            for name in list(item):
                clean = without_surrogates(name) if isinstance(name, str) else name
                if clean != name:
                    item[clean] = item.pop(name)
                stack.append((item, clean))
    return root[0]
