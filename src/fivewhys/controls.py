"""Characters from outside text that a terminal, a CI runner or a viewer would act on, shown
escaped instead: C0 and C1 controls (ESC sequences, CR, NUL, BEL, backspace, CSI `\\x9b`), bidi
overrides and isolates, line separators, lone surrogates; and the marks of a CI command: a
GitHub runner reads a line of stdout or stderr that starts with `::` (after blanks) as a workflow
command, and `##[` anywhere in a line as a legacy one (actions/runner, ActionCommand.TryParseV2
and TryParse); Azure Pipelines reads `##vso[`. Their first character is shown as its `\\xNN`.

Newlines and tabs stay (messages span lines); a CRLF line ending becomes a newline.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: what is shown as `\\xNN` (C0 but tab and newline, DEL, C1) or `<U+XXXX>` (the rest)
_ACTING = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 (not \t, \n), DEL, C1
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\u2028\u2029"  # line and paragraph separators: newlines to some renderers
    "\ud800-\udfff]"  # lone surrogates: no encoder writes them
)
#: the first character of a workflow command (a line's first `::` after blanks: the runner trims
#: them, Unicode ones too) or of a legacy one (`##[`, `##vso[` anywhere)
_COMMAND_MARK = re.compile(r"(?im)(^[^\S\n]*):(?=:)|#(?=#(?:vso)?\[)")


def _defused(match: re.Match[str]) -> str:
    blanks = match.group(1)
    return "\\x23" if blanks is None else f"{blanks}\\x3a"


def _shown(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "\r":
        return "\\r"
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0x9F else f"<U+{code:04X}>"


@lru_cache(maxsize=1 << 16)
def escape_controls(text: str) -> str:
    """`text` with every acting character shown escaped, and no CI command in it: a `::` that
    starts a line is shown as `\\x3a:`, a `##[` as `\\x23#[`."""
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if not text.isprintable() and _ACTING.search(text):  # isprintable: C speed, most text
        text = _ACTING.sub(_shown, text)
    if "::" in text or "##" in text:
        text = _COMMAND_MARK.sub(_defused, text)
    return text


def holds_a_command(line: str) -> bool:
    """Whether a CI runner would read `line` as a command (what escape_controls prevents)."""
    return _COMMAND_MARK.search(line) is not None
