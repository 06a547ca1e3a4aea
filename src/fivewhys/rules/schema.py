"""The rule format: typed models of one YAML cause -> effect rule, validated on load."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PrivateAttr,
    Strict,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from fivewhys.linear_regex import LinearRegex, RegexRefused
from fivewhys.model import JoinKey, Record

T = TypeVar("T")

Level = Literal["low", "medium", "high", "critical"]
"""How bad a cause is, as shown in the report."""

Severity = Literal[
    "DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"
]
"""Cloud Logging severities."""


LogKind = Literal["request", "stdout", "stderr", "system", "audit", "other"]
"""The `kind` column of the LogFrame."""

CloseDirection = Literal["received", "sent"]

Outcome = Literal["failed", "error"]
"""A failed test (its call raised) or an errored one (its setup or teardown raised)."""

Phase = Literal["setup", "call", "teardown"]

Bucket = Literal["client-side", "server-error"]
"""Fallback buckets a `bucket:` rule files failures into when no cause rule explains them."""

RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
SELECTION_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
DEFAULT_JOIN: tuple[JoinKey, ...] = ("connection_id", "trace", "user_id")
DEFAULT_THRESHOLD = 85.0
DEFAULT_BEFORE_S = 30.0
DEFAULT_AFTER_S = 5.0
MAX_WHYS = 5

LOCATED_ERROR = "rule_located"
"""Error type whose context `at` extends the loc, so whole-model checks point at the key."""


def located(at: tuple[str | int, ...], message: str) -> PydanticCustomError:
    """An error raised by a model validator that names the key it is about (for the line)."""
    return PydanticCustomError(LOCATED_ERROR, message, {"at": at})


def why_environment() -> jinja2.Environment:
    """The Jinja environment why texts are parsed with here and rendered with by the report.

    Sandboxed because project rule files are data, and strict so a typo is an error, not "".
    """
    return SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


_ENV = why_environment()


# --- reusable field types -------------------------------------------------------------------


def _one_or_many(value: object) -> object:
    """Let YAML say `x: a` for `x: [a]`."""
    if isinstance(value, str | int | float | bool):
        return (value,)
    return value


def _one_or_many_upper(value: object) -> object:
    """As `_one_or_many`, upper-casing strings (severities, HTTP methods are case-free)."""
    value = _one_or_many(value)
    if isinstance(value, list | tuple):
        return tuple(v.upper() if isinstance(v, str) else v for v in value)
    return value


def _no_duplicates(value: tuple[T, ...]) -> tuple[T, ...]:
    """A repeated list entry is always a typo or a merge mistake."""
    seen: set[object] = set()
    for item in value:
        if item in seen:
            raise ValueError(f"duplicate entry {item!r}")
        seen.add(item)
    return value


class _OneOrManyJsonSchema:
    """JSON schema of a one-or-many field: the item itself, or a list of items."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        items = json_schema.get("items")
        if handler.mode == "validation" and isinstance(items, dict):
            return {"anyOf": [items, json_schema]}
        return json_schema


OneOrMany = Annotated[
    tuple[T, ...],
    Field(min_length=1),
    BeforeValidator(_one_or_many),
    AfterValidator(_no_duplicates),
    _OneOrManyJsonSchema(),
]
"""A scalar or a non-empty, duplicate-free list, stored as a tuple."""

OneOrManyUpper = Annotated[
    tuple[T, ...],
    Field(min_length=1),
    BeforeValidator(_one_or_many_upper),
    AfterValidator(_no_duplicates),
    _OneOrManyJsonSchema(),
]
"""As `OneOrMany`, with strings upper-cased first."""

Many = Annotated[
    tuple[T, ...],
    BeforeValidator(_one_or_many),
    AfterValidator(_no_duplicates),
    _OneOrManyJsonSchema(),
]
"""As `OneOrMany`, but may be empty (for lists that only add information)."""

StrictInt = Annotated[int, Strict()]
StrictBool = Annotated[bool, Strict()]
NonEmptyStr = Annotated[str, Field(min_length=1)]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> object:
    """`500ms`, `5s`, `2m`, `1h` (or a bare number of seconds) -> seconds as a float."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration like 500ms, 5s or 2m, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"must not be negative, got {value!r}")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"must be a duration like 500ms, 5s or 2m, got {value!r}")
        return float(match.group(1)) * _UNIT_S[match.group(2)]
    return value


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _DURATION.pattern},
                {"type": "number", "minimum": 0},
            ]
        },
        mode="validation",
    ),
]
"""Seconds, written in YAML as a duration string."""


def _check_threshold(value: float) -> float:
    """Fuzzy scores are percentages."""
    if not 0 <= value <= 100:
        raise ValueError(f"must be between 0 and 100, got {value:g}")
    return value


Threshold = Annotated[
    float,
    Strict(),
    AfterValidator(_check_threshold),
    Field(json_schema_extra={"minimum": 0, "maximum": 100}),
]


def _check_regex(value: str) -> str:
    """Fail on load, not in the middle of matching; RE2 keeps matching linear in time."""
    try:
        LinearRegex(value)
    except RegexRefused as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


Regex = Annotated[str, Field(min_length=1), AfterValidator(_check_regex)]


# --- models ---------------------------------------------------------------------------------


class _RuleRecord(Record):
    """Rule models accept the YAML spelling (aliases like `message|contains`) and field names.

    Their validators are built when first used, not at import: rules from the loader's cache
    are unpickled, never validated, so only `Rule`'s is built (for generic.GENERIC_RULE), not
    one more for each model it nests (8 ms of the bundled example's start)."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)


class _MessageMatch(_RuleRecord):
    """The message keys shared by the client and server selections."""

    #: fields that select something (the others only tune how); at least one must be given
    MATCH_FIELDS: ClassVar[tuple[str, ...]] = ()

    message_contains: OneOrMany[NonEmptyStr] | None = Field(
        default=None,
        alias="message|contains",
        description="substring(s) of the message, case-insensitive; any one matches",
    )
    message_re: Regex | None = Field(
        default=None,
        alias="message|re",
        description="Python regular expression searched in the message",
    )
    message_fuzzy: NonEmptyStr | None = Field(
        default=None,
        alias="message|fuzzy",
        description="text the message must resemble (rapidfuzz score >= threshold)",
    )
    threshold: Threshold = Field(
        default=DEFAULT_THRESHOLD,
        description="minimum fuzzy score 0..100; only with message|fuzzy",
    )

    @model_validator(mode="after")
    def _check_keys(self) -> _MessageMatch:
        """A threshold without fuzzy text does nothing; a selection without keys matches all."""
        if "threshold" in self.model_fields_set and self.message_fuzzy is None:
            raise located(("threshold",), "only allowed together with message|fuzzy")
        if all(getattr(self, name) is None for name in self.MATCH_FIELDS):
            keys = ", ".join(_alias(type(self), name) for name in self.MATCH_FIELDS)
            raise ValueError(f"selects nothing: give at least one of {keys}")
        return self


class ClientSelection(_MessageMatch):
    """What the failed test must show; every key given must hold."""

    MATCH_FIELDS: ClassVar[tuple[str, ...]] = (
        "exception",
        "close_code",
        "close_direction",
        "http_status",
        "timeout",
        "network_event",
        "outcome",
        "phase",
        "message_contains",
        "message_re",
        "message_fuzzy",
    )

    exception: OneOrMany[NonEmptyStr] | None = Field(
        default=None,
        description="exception class name(s) without module, e.g. ConnectionClosedError; any",
    )
    close_code: OneOrMany[StrictInt] | None = Field(
        default=None, description="WebSocket close code(s) the client saw; any"
    )
    close_direction: CloseDirection | None = Field(
        default=None,
        description="received: the server closed; sent: the client closed (e.g. ping timeout)",
    )
    http_status: OneOrMany[StrictInt] | None = Field(
        default=None, description="HTTP status(es) of a rejected handshake or request; any"
    )
    timeout: StrictBool | None = Field(
        default=None, description="whether the failure was (true) or was not (false) a timeout"
    )
    network_event: StrictBool | None = Field(
        default=None,
        description="whether the client saw the server or the network at all: an HTTP status, "
        "a close code, a timeout or a connection error (false: an assertion or a test bug)",
    )
    outcome: OneOrMany[Outcome] | None = Field(
        default=None, description="failed (the test body raised) or error (a fixture raised); any"
    )
    phase: OneOrMany[Phase] | None = Field(
        default=None, description="test phase that raised: setup, call, teardown; any"
    )


class TimeRelation(_RuleRecord):
    """Where a server line may fall relative to the failure's end."""

    before_s: Duration = Field(
        default=DEFAULT_BEFORE_S,
        alias="before",
        description="how long before the failure's end the line may be, e.g. 10s",
    )
    after_s: Duration = Field(
        default=DEFAULT_AFTER_S,
        alias="after",
        description="how long after the failure's end the line may be, e.g. 2s",
    )


class ServerSelection(_MessageMatch):
    """One named kind of log line a rule looks for; every key given must hold."""

    MATCH_FIELDS: ClassVar[tuple[str, ...]] = (
        "message_contains",
        "message_re",
        "message_fuzzy",
        "severity",
        "severity_min",
        "kind",
        "http_status",
        "http_path_contains",
        "http_method",
        "http_latency_min",
    )

    severity: OneOrManyUpper[Severity] | None = Field(
        default=None, description="exact severity(ies); any. Not with severity|min"
    )
    severity_min: Severity | None = Field(
        default=None, alias="severity|min", description="this severity or higher"
    )
    kind: OneOrMany[LogKind] | None = Field(
        default=None, description="log kind(s): request, stdout, stderr, system, audit, other"
    )
    http_status: OneOrMany[StrictInt] | None = Field(
        default=None, description="HTTP status(es) of a request log line; any"
    )
    http_path_contains: OneOrMany[NonEmptyStr] | None = Field(
        default=None, alias="http_path|contains", description="substring(s) of the request path"
    )
    http_method: OneOrManyUpper[NonEmptyStr] | None = Field(
        default=None, description="HTTP method(s), e.g. GET; any"
    )
    http_latency_min: Duration | None = Field(
        default=None,
        alias="http_latency|min",
        description="a request log that lasted at least this long, e.g. 300s",
    )
    join: OneOrMany[JoinKey] = Field(
        default=DEFAULT_JOIN,
        description="keys a line may be joined by: connection_id, trace, user_id, time",
    )
    within: TimeRelation = Field(
        default_factory=TimeRelation,
        description="time window around the failure's end, e.g. {before: 10s, after: 2s}",
    )
    required: StrictBool = Field(
        default=True,
        description="false: the selection only corroborates; the rule fires without it",
    )
    same_instance: StrictBool = Field(
        default=False,
        description="true: a line joined by time only must come from an instance that served "
        "the test (one its keyed lines came from), when the logs show which",
    )
    absent: StrictBool = Field(
        default=False,
        description="true: the rule fires only when NO line matches this selection",
    )
    corroborated_by: NonEmptyStr | None = Field(
        default=None,
        description="another selection of this rule: a line of this one joined by time only "
        "counts only beside a line of that one (same second, same instance when both show it)",
    )

    @field_validator("severity_min", mode="before")
    @classmethod
    def _upper_severity_min(cls, value: object) -> object:
        """`severity|min` is one severity; upper-case it like `severity`."""
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_severity(self) -> ServerSelection:
        """Both would be ambiguous; say which to keep."""
        if self.severity is not None and self.severity_min is not None:
            raise located(("severity|min",), "give either severity or severity|min, not both")
        if self.absent and not self.required:
            raise located(
                ("required",), "an absent selection is a condition: it cannot be optional"
            )
        return self


class WhyTemplate(_RuleRecord):
    """One step of the five whys, a Jinja template rendered per cause."""

    text: NonEmptyStr = Field(
        description="Jinja template; may use failure, evidence.<selection> (e.g. .message)"
    )
    evidence: NonEmptyStr | None = Field(
        default=None,
        description="server selection whose matched line proves this step",
    )
    kind: Literal["mechanism", "question"] | None = Field(
        default=None,
        description="for a why without evidence: mechanism (true by what the rule detects, "
        "see references) or question (open: says what would answer it and where to look)",
    )
    unproven: NonEmptyStr | None = Field(
        default=None,
        description="with evidence: the open question shown instead when the selection found "
        "no line (without it, the text is shown as an unproven hypothesis)",
    )
    answered_by: Literal["trace", "pattern", "revision", "regression", "commit"] | None = Field(
        default=None,
        description="for a question: the step of the chain that answers it when proven (trace: "
        "the server's stack trace; revision: its deploy; regression: --history; commit: "
        "--repo); the question is then left out",
    )

    @model_validator(mode="after")
    def _check_kind(self) -> WhyTemplate:
        """Evidence is a kind of its own; `unproven` is the fallback of an evidence why."""
        if self.kind is not None and self.evidence is not None:
            raise located(("kind",), "a why with evidence is evidence: give kind or evidence")
        if self.unproven is not None and self.evidence is None:
            raise located(("unproven",), "only allowed together with evidence")
        return self

    @field_validator("text", "unproven")
    @classmethod
    def _check_template(cls, value: str | None) -> str | None:
        """A broken template must fail when rules load, not when a report is written."""
        if value is None:
            return value
        try:
            _ENV.parse(value)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"invalid template (line {exc.lineno}): {exc.message}") from None
        return value


def _check_selection_names(value: dict[str, ServerSelection]) -> dict[str, ServerSelection]:
    """Names are used as `evidence.<name>` in templates, so they must be identifiers."""
    for name in value:
        if not re.match(SELECTION_NAME_PATTERN, name):
            raise located(
                (name,),
                f"selection name {name!r} must be letters, digits and _ "
                "(it is used as evidence.<name> in whys)",
            )
    return value


def _none_is_empty(value: object) -> object:
    """`server:` with nothing under it means no server selections."""
    return {} if value is None else value


class Rule(_RuleRecord):
    """A cause -> effect rule: a client symptom, the server lines that prove it, the whys."""

    id: str = Field(
        pattern=RULE_ID_PATTERN, description="unique id: lowercase letters, digits and -"
    )
    title: NonEmptyStr = Field(description="one-line name of the cause")
    level: Level = Field(description="low, medium, high or critical")
    priority: StrictInt = Field(default=50, description="higher is tried first")
    client: ClientSelection = Field(description="what the failed test must show")
    server: Annotated[
        dict[str, ServerSelection],
        BeforeValidator(_none_is_empty),
        AfterValidator(_check_selection_names),
    ] = Field(
        default_factory=dict,
        description="named log-line selections, in order; empty for client-only rules",
    )
    whys: Annotated[tuple[WhyTemplate, ...], Field(min_length=1, max_length=MAX_WHYS)] = Field(
        description="1..5 steps, from the symptom to the root cause"
    )
    fix: NonEmptyStr | None = Field(default=None, description="how to fix or confirm the cause")
    references: Many[NonEmptyStr] = Field(default=(), description="links: RFCs, docs, runbooks")
    caused_by: Many[NonEmptyStr] = Field(
        default=(),
        description="ids of deeper rules that may explain this rule's evidence, tried in order",
    )
    bucket: Bucket | None = Field(
        default=None,
        description="a fallback rule: tried after every cause rule, it files the failure into "
        "this bucket (client-side, server-error) instead of giving it a cause",
    )
    tests: NonEmptyStr | None = Field(
        default=None,
        description="directory of this rule's good*/bad* fixtures, relative to the rule file "
        "(default: tests/<id>/ beside it)",
    )

    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        """The file this rule was loaded from (set by the loader)."""
        return self._source

    @property
    def required_selections(self) -> tuple[str, ...]:
        """Names of the selections that must all match for the rule to fire."""
        return tuple(name for name, sel in self.server.items() if sel.required and not sel.absent)

    @property
    def is_fallback(self) -> bool:
        """A fallback rule files failures into a bucket; it never makes a cause."""
        return self.bucket is not None

    @model_validator(mode="after")
    def _check_references(self) -> Rule:
        """Whys may only cite this rule's selections; a rule cannot explain itself."""
        for index, why in enumerate(self.whys):
            if why.evidence is not None and why.evidence not in self.server:
                known = ", ".join(self.server) or "none"
                raise located(
                    ("whys", index, "evidence"),
                    f"{why.evidence!r} is not a server selection of this rule "
                    f"(selections: {known})",
                )
            if why.evidence is not None and self.server[why.evidence].absent:
                raise located(
                    ("whys", index, "evidence"),
                    f"{why.evidence!r} is an absent selection: no line of it can be cited",
                )
        for name, selection in self.server.items():
            other = selection.corroborated_by
            if other is None:
                continue
            if other == name or other not in self.server:
                known = ", ".join(n for n in self.server if n != name) or "none"
                raise located(
                    ("server", name, "corroborated_by"),
                    f"{other!r} is not another server selection of this rule (selections: {known})",
                )
            if self.server[other].absent:
                raise located(
                    ("server", name, "corroborated_by"),
                    f"{other!r} is an absent selection: no line of it can corroborate",
                )
        if self.bucket is not None and self.caused_by:
            raise located(
                ("caused_by",), "a fallback rule (bucket) gives no cause, so it has no deeper rule"
            )
        for index, cause in enumerate(self.caused_by):
            if cause == self.id:
                raise located(("caused_by", index), f"caused_by cycle: {self.id} -> {self.id}")
        return self


def _alias(model: type[_RuleRecord], name: str) -> str:
    """The YAML spelling of a field."""
    return model.model_fields[name].alias or name


def rule_keys(model: type[Any]) -> tuple[str, ...]:
    """Keys a YAML mapping of this model may hold, in declaration order."""
    fields: dict[str, Any] = model.model_fields
    return tuple(info.alias or name for name, info in fields.items())
