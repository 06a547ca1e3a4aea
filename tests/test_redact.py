"""Secrets are replaced before any renderer sees them."""

from __future__ import annotations

import json

import polars as pl
import pytest
from pydantic import BaseModel
from test_secrets_everywhere import NEAR_MISSES, SECRETS

from fivewhys.redact import (
    _MAY_HOLD_A_SECRET,
    TEXT_COLUMNS,
    _clean_all,
    _clean_tree,
    _cleaned,
    _may_hold_a_secret,
    _substitute,
    clean_text,
    redact_frame,
    redact_text,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjE3MDAwMDAwMDB9."
    "c2lnbmF0dXJlLXNpZ25hdHVyZQ"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token was {JWT} then", "token was [REDACTED] then"),
        (f"subprotocols=['jwt.{JWT}']", "subprotocols=['jwt.[REDACTED]']"),
        (
            "Sec-WebSocket-Protocol: jwt.ZXlKaGJHY2lPaUpJVXpJMU5pSjk",
            "Sec-WebSocket-Protocol: jwt.[REDACTED]",
        ),
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [REDACTED]"),
        ("'authorization': 'Basic dXNlcjpwYXNz'", "'authorization': 'Basic [REDACTED]'"),
        ("Cookie: session=abc123; csrftoken=zzz", "Cookie: [REDACTED]"),
        (
            "GET /x?api_key=AIzaSyA-1234567890abcdefghijklmnopqrstu&y=1",
            "GET /x?api_key=[REDACTED]&y=1",
        ),
        ('{"access_token": "ya29.a0AfH6SMB"}', '{"access_token": "[REDACTED]"}'),
        ("password=hunter22 user=bob", "password=[REDACTED] user=bob"),
    ],
)
def test_secrets_are_redacted(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "WebSocket auth rejected: JWT expired for user_id=user-0042",
        "No JWT=REDACTED in headers",
        "connection_id=conn_3fa9b2c1d0e4 trace=0af7651916cd43dd8448eb211c80319c",
        "received 1011 (internal error) Internal error",
    ],
)
def test_ordinary_text_is_untouched(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        f"Bearer {JWT}",
        "ſession_id=abcdef",  # long s: IGNORECASE matches it to "s"
        "authorİzation: Basic abcdef",  # dotted capital I
        "ApI_\u212aEY=abcdef",  # Kelvin sign for "k"
        "Set-Cookie: sid=1",
        "subprotocol jwt.abcdefghijk",
        "key AIza" + "x" * 35,
        "SESSION_ID=abcdef and PASSWD=secret1",
        "nothing to hide here",
        *(secret for kind in SECRETS.values() for secret in kind),
        *NEAR_MISSES,
        "GET /x?Code=abc and X-Goog-Signature=00ff &SIG=1",
    ],
)
def test_the_quick_check_lets_no_secret_through(text: str) -> None:
    """Strings the literal pre-checks (whole text, then per kind) pass over must be ones no
    pattern would change: the result is that of every pattern run unconditionally."""
    from fivewhys.redact import KINDS

    every = text
    for kind in KINDS:
        every = kind.pattern.sub(kind.replacement, every)
    assert redact_text(text) == _substitute(text) == every


def test_unicode_case_variants_are_redacted() -> None:
    assert redact_text("ſession_id=abcdef") == "ſession_id=[REDACTED]"


@pytest.mark.parametrize(
    "text",
    ["COOKIE", "x-Api-KEY", "JWT.", "jwt", "eyj", "eyJ", "aiza", "AIza", "Pass", "PASSW", "plain"],
)
def test_the_ascii_quick_check_is_the_regex(text: str) -> None:
    assert _may_hold_a_secret(text) == (_MAY_HOLD_A_SECRET.search(text) is not None)


class _Line(BaseModel, frozen=True):
    message: str
    status: int | None = None


class _Doc(BaseModel, frozen=True):
    title: str
    lines: tuple[_Line, ...]
    counts: dict[str, int]


def test_only_what_held_a_secret_is_copied() -> None:
    clean = _Line(message="handshake rejected", status=403)
    doc = _Doc(
        title="run",
        lines=(clean, _Line(message=f"Authorization: Bearer {JWT}")),
        counts={"token=abcdefgh": 1, "plain": 2},
    )
    redacted = _cleaned(doc)
    assert redacted.lines[0] is clean  # untouched parts are the same objects
    assert redacted.lines[1].message == "Authorization: Bearer [REDACTED]"
    assert isinstance(redacted.lines, tuple)
    assert redacted.counts == {"token=[REDACTED]": 1, "plain": 2}
    assert doc.lines[1].message.endswith(JWT)  # the original is not changed
    nothing = _Doc(title="run", lines=(clean,), counts={"plain": 2})
    assert _cleaned(nothing) is nothing


def test_a_tree_is_cleaned_as_node_by_node() -> None:
    """clean_report's batched cleaning gives what cleaning every node on its own gives, and
    copies nothing when nothing changes."""
    clean = _Line(message="handshake rejected", status=403)
    doc = _Doc(
        title="run\x1b[31m",
        lines=(clean, _Line(message=f"Authorization: Bearer {JWT}"), _Line(message="::error::x")),
        counts={"token=abcdefgh": 1, "plain": 2, "a\r\nb": 3},
    )
    assert _clean_tree(doc) == _cleaned(doc)
    assert _clean_tree(doc).lines[0] is clean
    nothing = _Doc(title="run", lines=(clean,), counts={"plain": 2})
    assert _clean_tree(nothing) is nothing


@pytest.mark.parametrize(
    "text",
    [
        *(secret for kind in SECRETS.values() for secret in kind),
        *NEAR_MISSES,
        "ſession_id=abcdef",
        "ApI_\u212aEY=abcdef",
        "plain text",
        "a\r\nb",
        "bell\x07",
        "del\x7f",
        "esc \x1b[31mred",
        "nul\x00",
        "c1 \x9b",
        "bidi \u202e",
        "::warning::x",
        "  ::set-output name=x::y",
        "line\n::error::x",
        "a ##[group]b",
        "##vso[task.setvariable]x",
        "tab\tand\nnewline stay",
        "a:b #c : : # #",  # near misses of the command marks
    ],
)
def test_batched_cleaning_is_clean_text(text: str) -> None:
    """The one polars pre-check over a report's strings lets through only strings
    clean_text leaves as they are: each comes back as clean_text gives it."""
    assert _clean_all([text, "plain"]) == [clean_text(text), "plain"]


def test_a_frame_is_redacted_as_its_rows_would_be() -> None:
    texts = [
        f"Authorization: Bearer {JWT}",
        "plain line",
        None,
        "ſession_id=abcdef",
        "héllo token=abcdefgh",
        "AIza" + "x" * 35,
        "PASSWORD=hunter22",
        *(secret for kind in SECRETS.values() for secret in kind),
        *NEAR_MISSES,
    ]
    frame = pl.DataFrame(dict.fromkeys(TEXT_COLUMNS, texts))
    redacted = redact_frame(frame)
    expected = [None if t is None else _substitute(t) for t in texts]
    for name in TEXT_COLUMNS:
        assert redacted.get_column(name).to_list() == expected
    assert expected[1] == "plain line" and "[REDACTED]" in (expected[0] or "")


# --- every kind (redact.KINDS), from the vendors' public formats, and their near misses -----

PEM = (
    "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCy"
    "\\n-----END PRIVATE KEY-----\\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a service-account key file's private_key, JSON-escaped (`\n` as two characters)
        (
            f'{{"private_key": "{PEM}", "client_id": "1"}}',
            '{"private_key": "[REDACTED]\\n", "client_id": "1"}',
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----",
            "[REDACTED]",
        ),
        ("cut here -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE", "cut here [REDACTED]"),
        ("key=AIzaSyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk- next", "key=[REDACTED] next"),
        ("AIzaSyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk-", "[REDACTED]"),  # ends in "-": no \b after it
        ("token ya29.a0AfH6SMBx1234567890abcdef used", "token [REDACTED] used"),
        ("id AKIAIOSFODNN7EXAMPLE", "id [REDACTED]"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [REDACTED]",
        ),
        ("gh ghp_" + "A1b2" * 9, "gh [REDACTED]"),
        ("github_pat_" + "11ABCDEFG0" * 8 + "xy", "[REDACTED]"),
        ("xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "[REDACTED]"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe [REDACTED]"),
        ("https://user:p%40ss@example.com/x", "https://user:[REDACTED]@example.com/x"),
        ("redis://default:s3cr3t@10.0.0.3:6379/0", "redis://default:[REDACTED]@10.0.0.3:6379/0"),
        ("GET /geo?key=abc123&q=x", "GET /geo?key=[REDACTED]&q=x"),
        ('{"client_secret": "GOCSPX-AbCdEfGhIjKlMnOpQrStUv"}', '{"client_secret": "[REDACTED]"}'),
        ('{\\"password\\": \\"two words\\"}', '{\\"password\\": \\"[REDACTED]\\"}'),
        ("Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: Basic [REDACTED]"),
        ("sent Basic dXNlcjpwYXNz", "sent Basic [REDACTED]"),
    ],
)
def test_every_kind_is_redacted(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",  # 32-hex trace id
        "request 123e4567-e89b-12d3-a456-426614174000",  # a UUID
        "AIza" + "x" * 34,  # one short of a Google API key
        "AIza" + "x" * 36,  # one long
        "GET /cache/key=user-42/v1 200",  # key= of a cache key in a path
        "Basic authentication failed for user bob",
        "Bearer authentication required",
        "token_type=Bearer expires_in=3600",
        "https://example.com:8443/path@v2",
        "email ci@fivewhys-example.iam.gserviceaccount.com",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "sk_test is a prefix, sk_live_short",
    ],
)
def test_near_misses_survive(text: str) -> None:
    assert redact_text(text) == text


def test_the_pre_check_covers_every_kind() -> None:
    """The literal pre-check is built from the kinds' hints: each hint lets its pattern run."""
    from fivewhys.redact import _CASE_BLIND_PARTS, _EXACT_PARTS, KINDS

    for kind in KINDS:
        for hint in kind.hints:
            assert (hint.lower() in _CASE_BLIND_PARTS) or (hint in _EXACT_PARTS), kind.name


def test_the_readme_lists_every_kind_as_the_code_has_it() -> None:
    from conftest import REPO

    from fivewhys.redact import KINDS

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [k.name for k in KINDS if f"| `{k.name}` | {k.what} |" not in readme]
    assert missing == []


def test_the_raw_column_stays_json() -> None:
    raw = json.dumps({"logName": "projects/p/logs/x", "note": "Cookie: sid=abc; x=1", "n": 1})
    frame = pl.DataFrame(dict.fromkeys(TEXT_COLUMNS, ["plain"]))
    frame = frame.with_columns(raw=pl.Series([raw]))
    (redacted,) = redact_frame(frame).get_column("raw").to_list()
    assert json.loads(redacted) == {
        "logName": "projects/p/logs/x",
        "note": "Cookie: [REDACTED]",
        "n": 1,
    }
