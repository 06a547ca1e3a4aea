"""Client facts a server line answers: what the test printed about the credential it signed
with or the URL it called, cited as evidence beside the server's line.

Only the test's captured output is read (pytest's `Captured stdout/stderr/log` sections), never
its traceback source, and a line is a clue only when the cause's own lines are about the same
thing: a credential clue beside an auth refusal (a 401/403, or a cited line naming a token,
JWT, signature or audience), a URL clue whose path is the one the server logged or the client
failed on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from fivewhys.model import Evidence, Failure, Why

MAX_CLUES = 2
_SECTION = re.compile(r"^-{3,} (.+) -{3,}$")
_CREDENTIAL = re.compile(
    r"(?i)\b(?:secret|audience|aud|issuer|iss|signing|signed|kid|jwks?|jwt_\w+|api[_-]?key)\b"
)
_AUTH_LINE = re.compile(r"(?i)jwt|token|signature|audience|issuer|credential|auth|secret")
_URL = re.compile(r"\b(?:wss?|https?)://[^\s'\"<>)]+")


def captured_lines(details: str) -> list[str]:
    """The lines of pytest's captured-output sections of a failure's text."""
    lines: list[str] = []
    inside = False
    for line in details.splitlines():
        header = _SECTION.match(line.strip())
        if header:
            inside = header.group(1).lower().startswith("captured")
            continue
        if inside and line.strip():
            lines.append(" ".join(line.split()))
    return lines


def client_clues(failure: Failure, cited: Sequence[Evidence]) -> list[Why]:
    """Evidence whys quoting the test's own output where it answers the cited server lines."""
    auth = failure.event.http_status in (401, 403) or any(
        _AUTH_LINE.search(line.message) for line in cited
    )
    paths = {line.http_path for line in cited if line.http_path}
    if failure.event.url_path:
        paths.add(failure.event.url_path)
    whys: list[Why] = []
    for line in dict.fromkeys(captured_lines(failure.details)):
        shown = line if len(line) <= 200 else line[:199] + "…"
        if auth and _CREDENTIAL.search(line):
            text = (
                f'The test\'s own output says "{shown}": the credential it sent, to hold '
                "against the one the service expects."
            )
        elif any((urlsplit(url).path or "/") in paths for url in _URL.findall(line)):
            text = f'The test\'s own output says "{shown}": the URL it called.'
        else:
            continue
        whys.append(Why(text=text, kind="evidence", client=failure.source))
        if len(whys) == MAX_CLUES:
            break
    return whys
