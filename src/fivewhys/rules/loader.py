"""Load rule files from directories, with every problem reported as `file:line: message`."""

from __future__ import annotations

import difflib
import hashlib
import os
import pickle
import sys
import tempfile
import types
import typing
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pydantic
import pydantic_core
import re2  # type: ignore[import-untyped]
import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

import fivewhys
from fivewhys.errors import RuleError, RuleErrors
from fivewhys.linear_regex import without_surrogates
from fivewhys.resources import bundled, compiled_cache_dir
from fivewhys.rules.schema import LOCATED_ERROR, Rule, rule_keys

Loc = tuple[str | int, ...]
"""A path into a YAML document: mapping keys and sequence indexes."""

RULE_SUFFIXES = (".yaml", ".yml")
#: nodes and scalar characters a rule file may expand to through aliases; a rule has hundreds
MAX_EXPANDED_NODES = 20_000
MAX_EXPANDED_CHARS = 2_000_000


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """The same key twice in one mapping."""


class RuleYamlLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and remembers the line of every key and item.

    PyYAML silently keeps the last of two equal keys, which hides half of a rule.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        #: 1-based line of each mapping key / sequence item, by its path in the document
        self.lines: dict[Loc, int] = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base class reports unhashable keys
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise DuplicateKeyError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first_line[key]})",
                    key_node.start_mark,
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_scalar(self, node: yaml.ScalarNode | yaml.MappingNode) -> Any:
        """Scalars without lone surrogates (a `"\\ud800"` escape): reports are UTF-8."""
        value = super().construct_scalar(node)
        return without_surrogates(value) if isinstance(value, str) else value

    def record_lines(self, node: yaml.Node, loc: Loc = ()) -> None:
        """Walk the composed tree once, before construction, to map paths to lines."""
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key: str | int = key_node.value if isinstance(key_node.value, str) else "?"
                path = (*loc, key)
                self.lines.setdefault(path, key_node.start_mark.line + 1)
                self.record_lines(value_node, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                path = (*loc, index)
                self.lines[path] = item.start_mark.line + 1
                self.record_lines(item, path)


@dataclass
class _Parsed:
    """One rule file: its rule if valid, the lines of its keys, its id if it could be read."""

    path: Path
    lines: dict[Loc, int] = field(default_factory=dict)
    rule: Rule | None = None
    rule_id: str | None = None


class _Sink:
    """Collects errors, or raises the first when not collecting."""

    def __init__(self, collect: bool) -> None:
        self.collect = collect
        self.errors: list[RuleError] = []

    def add(self, error: RuleError) -> None:
        if not self.collect:
            raise error
        self.errors.append(error)

    def extend(self, errors: list[RuleError]) -> None:
        for error in errors:
            self.add(error)


def bundled_rules_dir() -> Path:
    """The rules shipped with fivewhys: in the wheel, else the repository's `rules/`."""
    return bundled("rules")


def load_rules(dirs: Sequence[Path], *, collect_errors: bool) -> list[Rule]:
    """Load every rule of `dirs`; a later directory replaces an earlier one's rule by id.

    With `collect_errors` every problem of every file is gathered and raised as one
    `RuleErrors`; otherwise the first `RuleError` is raised. Rules come back sorted by
    (-priority, id) so the matcher tries them in a stable order.

    Rules that loaded are kept in the user's cache directory (resources.compiled_cache_dir):
    the next run with the same files, the same directories and the same code unpickles them
    (0.5 ms) instead of reading, validating and parsing every why template again (20 ms).
    """
    cache = _RuleCache.of(dirs)
    if cache is not None and (cached := cache.load()) is not None:
        return cached
    rules = _load_rules(dirs, collect_errors=collect_errors)
    if cache is not None:
        cache.store(rules)
    return rules


def _load_rules(dirs: Sequence[Path], *, collect_errors: bool) -> list[Rule]:
    sink = _Sink(collect_errors)
    if not dirs:
        sink.add(RuleError("no rule directories given"))
    merged: dict[str, _Parsed] = {}
    # ids of files that failed too, so references to them are not "unknown"
    known_ids: set[str] = set()
    for directory in dirs:
        for parsed in _load_dir(Path(directory), sink):
            if parsed.rule_id is not None:
                known_ids.add(parsed.rule_id)
            if parsed.rule is not None:
                merged[parsed.rule.id] = parsed
    _check_caused_by(merged, known_ids, sink)
    if sink.errors:
        raise RuleErrors(sink.errors)
    rules = [parsed.rule for parsed in merged.values() if parsed.rule is not None]
    return sorted(rules, key=lambda rule: (-rule.priority, rule.id))


#: bump when what the cache holds changes shape: older files become misses
_CACHE_FORMAT = 1
#: the code a load's result depends on besides fivewhys' own (whose every source is keyed)
_CODE_OF = (pydantic, pydantic_core, yaml, jinja2, re2)


@dataclass(frozen=True)
class _RuleCache:
    """One file per set of rule directories, holding the digest of everything the loaded
    rules depend on and the rules pickled: the rule files' bytes and the directories'
    entries, where they were read from, the interpreter, and the source files (by size and
    modification time) of fivewhys and of the libraries that parse and validate a rule.
    Anything else is a miss: a damaged file, another digest, a `tests:` fixture directory
    that is gone (the rules are then loaded, and the error reported, as without a cache)."""

    path: Path
    digest: bytes

    @classmethod
    def of(cls, dirs: Sequence[Path]) -> _RuleCache | None:
        """The cache of `dirs`; None when caching is off or a directory cannot be read as one
        (the load then reports the problem)."""
        where = compiled_cache_dir("rules")
        if where is None or not dirs:
            return None
        place = repr((os.getcwd(), [str(d) for d in dirs])).encode()
        digest = hashlib.sha256(repr((_CACHE_FORMAT, sys.version, place)).encode())
        try:
            for directory in dirs:
                for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                    digest.update(repr((str(directory), entry.name, entry.is_dir())).encode())
                    if entry.is_file() and entry.name.endswith(RULE_SUFFIXES):
                        with open(entry.path, "rb") as handle:
                            digest.update(hashlib.sha256(handle.read()).digest())
            for source in _code_files():
                info = os.stat(source)
                digest.update(repr((source, info.st_size, info.st_mtime_ns)).encode())
        except OSError:
            return None
        name = hashlib.sha256(place).hexdigest()[:32]
        return cls(where / f"{name}.pickle", digest.hexdigest().encode())

    def load(self) -> list[Rule] | None:
        try:
            kept = self.path.read_bytes()
        except OSError:
            return None
        digest, _, pickled = kept.partition(b"\n")
        if digest != self.digest:
            return None
        try:
            rules = pickle.loads(pickled)
        except Exception:  # a damaged file is a miss, whatever unpickling it raises
            return None
        if not isinstance(rules, list) or not all(isinstance(rule, Rule) for rule in rules):
            return None
        for rule in rules:
            if rule.tests is not None and not (Path(rule._source).parent / rule.tests).is_dir():
                return None
        return rules

    def store(self, rules: list[Rule]) -> None:
        """Written whole or not at all; a directory that cannot be written keeps nothing."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(self.digest + b"\n")
                    pickle.dump(rules, out, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            pass


def _code_files() -> list[str]:
    """fivewhys' sources and the libraries' own modules, so an edit or an upgrade is a miss."""
    files = sorted(str(p) for p in Path(fivewhys.__file__).parent.rglob("*.py"))
    for module in _CODE_OF:
        top = Path(module.__file__ or "").parent
        files.extend(sorted(str(p) for p in top.iterdir() if p.is_file()))
    return files


def load_rule_file(path: Path) -> Rule:
    """Load one rule file alone (no cross-rule checks); raise `RuleErrors` with all its problems."""
    parsed, errors = _load_file(path)
    if errors or parsed.rule is None:
        raise RuleErrors(errors)
    return parsed.rule


def _load_dir(directory: Path, sink: _Sink) -> list[_Parsed]:
    """The valid and invalid files of one directory; duplicate ids inside it are errors."""
    if not directory.exists():
        sink.add(RuleError("rule directory does not exist", directory))
        return []
    if not directory.is_dir():
        sink.add(
            RuleError("not a directory (expected a directory of *.yaml rule files)", directory)
        )
        return []
    try:
        files = sorted(
            p
            for p in directory.iterdir()
            if p.suffix in RULE_SUFFIXES and not p.name.startswith(".") and not p.is_dir()
        )
    except OSError as exc:
        sink.add(RuleError(f"cannot list directory: {exc.strerror or exc}", directory))
        return []
    if not files:
        sink.add(RuleError("no rule files (*.yaml, *.yml) in directory", directory))
        return []
    loaded: list[_Parsed] = []
    first_file: dict[str, Path] = {}
    for path in files:
        parsed, errors = _load_file(path)
        sink.extend(errors)
        if parsed.rule_id is not None:
            if parsed.rule_id in first_file:
                sink.add(
                    RuleError(
                        f"duplicate rule id {parsed.rule_id!r}: also defined in "
                        f"{first_file[parsed.rule_id]}",
                        path,
                        line_of(parsed.lines, ("id",)),
                    )
                )
                continue
            first_file[parsed.rule_id] = path
        loaded.append(parsed)
    return loaded


def _load_file(path: Path) -> tuple[_Parsed, list[RuleError]]:
    """Parse and validate one file; never raises for a problem in the file."""
    parsed = _Parsed(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return parsed, [RuleError(f"not UTF-8 text: {exc.reason} at byte {exc.start}", path)]
    except OSError as exc:
        return parsed, [RuleError(f"cannot read file: {exc.strerror or exc}", path)]

    loader = RuleYamlLoader(text)
    try:
        node = _composed(text)
        if node is None:
            node = loader.get_single_node()
        if node is not None:
            if bomb := _alias_bomb(node):
                return parsed, [RuleError(bomb[0], path, bomb[1])]
            loader.record_lines(node)
        data = loader.construct_document(node) if node is not None else None
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        return parsed, [RuleError(exc.problem or "duplicate key", path, line)]
    except yaml.MarkedYAMLError as exc:
        return parsed, [_yaml_error(path, exc)]
    except yaml.YAMLError as exc:
        return parsed, [RuleError(f"YAML syntax error: {exc}", path)]
    except RecursionError:
        return parsed, [RuleError("YAML nested too deeply to be a rule", path)]
    finally:
        loader.dispose()
    parsed.lines = loader.lines

    if data is None:
        return parsed, [RuleError("empty file: a rule file must be a YAML mapping", path)]
    if not isinstance(data, dict):
        return parsed, [
            RuleError(f"a rule file must be a YAML mapping, got {_kind(data)}", path, 1)
        ]
    if isinstance(data.get("id"), str):
        parsed.rule_id = data["id"]
    try:
        parsed.rule = Rule.model_validate(data)
    except ValidationError as exc:
        errors = [_rule_error(path, parsed.lines, detail) for detail in _meaningful(exc)]
        errors.sort(key=lambda e: e.line or 0)
        return parsed, errors
    parsed.rule._source = str(path)
    if parsed.rule.tests is not None and not (path.parent / parsed.rule.tests).is_dir():
        return parsed, [
            RuleError(
                f"tests: no fixture directory {parsed.rule.tests!r} beside this file",
                path,
                line_of(parsed.lines, ("tests",)),
            )
        ]
    return parsed, []


def key_lines(path: Path) -> dict[Loc, int]:
    """The line of every key and item of a rule file that loaded (for checks after loading)."""
    loader = RuleYamlLoader(path.read_text(encoding="utf-8"))
    try:
        node = loader.get_single_node()
        if node is not None:
            loader.record_lines(node)
    finally:
        loader.dispose()
    return loader.lines


#: libyaml's composer, when PyYAML was built with it: ten times faster than the Python one
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)


def _composed(text: str) -> yaml.Node | None:
    """The document's node tree by libyaml (the same nodes, tags and lines as PyYAML's); None
    when libyaml is missing, finds no document or raises, so that the Python composer runs and
    any error reads as it always has."""
    if _FAST_LOADER is None:
        return None
    fast = _FAST_LOADER(text)
    try:
        node: yaml.Node | None = fast.get_single_node()
        return node
    except (yaml.YAMLError, RecursionError):
        return None
    finally:
        fast.dispose()


def _alias_bomb(root: yaml.Node) -> tuple[str, int] | None:
    """(message, line of the anchor) when aliases expand the document past the caps.

    Walks the tree as aliases expand it, but stops at the caps: a billion laughs costs no more
    than a rule file at the limit, and a recursive alias is caught the same way.
    """
    stack, nodes, chars = [root], 0, 0
    seen: set[int] = set()
    reused: yaml.Node | None = None
    while stack:
        node = stack.pop()
        if id(node) in seen and reused is None:
            reused = node
        seen.add(id(node))
        nodes += 1
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        else:
            chars += len(node.value)
        if nodes > MAX_EXPANDED_NODES or chars > MAX_EXPANDED_CHARS:
            line = reused.start_mark.line + 1 if reused is not None else node.start_mark.line + 1
            return (
                f"YAML aliases expand past {MAX_EXPANDED_NODES} nodes or {MAX_EXPANDED_CHARS} "
                "characters (an alias bomb?): an anchor may be reused, not multiplied",
                line,
            )
    return None


def _meaningful(exc: ValidationError) -> list[ErrorDetails]:
    """The errors minus pydantic's echo: a list whose only item failed is also "too short"."""
    details = exc.errors()
    item_owners = {tuple(d["loc"][:-1]) for d in details if d["loc"] and type(d["loc"][-1]) is int}
    return [d for d in details if not (d["type"] == "too_short" and tuple(d["loc"]) in item_owners)]


def _yaml_error(path: Path, exc: yaml.MarkedYAMLError) -> RuleError:
    """One line, at the problem; the context's line too when it is elsewhere (an open `[`)."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or "invalid YAML"
    if exc.context and problem.startswith("but "):  # "expected X", "but found Y"
        return RuleError(f"YAML syntax error: {exc.context}, {problem}", path, line)
    message = f"YAML syntax error: {problem}"
    if exc.context:
        where = exc.context_mark.line + 1 if exc.context_mark is not None else None
        started = f" started at line {where}" if where is not None and where != line else ""
        message += f" ({exc.context}{started})"
    return RuleError(message, path, line)


# --- cross-rule checks ----------------------------------------------------------------------


def _check_caused_by(merged: dict[str, _Parsed], known_ids: set[str], sink: _Sink) -> None:
    """`caused_by` must name loaded rules, and chains must end."""
    graph: dict[str, list[str]] = {}
    for rule_id in sorted(merged):
        parsed = merged[rule_id]
        assert parsed.rule is not None
        graph[rule_id] = []
        for index, cause in enumerate(parsed.rule.caused_by):
            deeper = merged[cause].rule if cause in merged else None
            if deeper is not None and deeper.is_fallback:
                sink.add(
                    RuleError(
                        f"caused_by: {cause!r} is a fallback rule (bucket), not a cause",
                        parsed.path,
                        line_of(parsed.lines, ("caused_by", index)),
                    )
                )
            elif cause in merged:
                graph[rule_id].append(cause)
            elif cause not in known_ids:
                sink.add(
                    RuleError(
                        f"caused_by: unknown rule id {cause!r}",
                        parsed.path,
                        line_of(parsed.lines, ("caused_by", index)),
                    )
                )
    for cycle in _cycles(graph):
        start = merged[cycle[0]]
        assert start.rule is not None
        index = start.rule.caused_by.index(cycle[1])
        sink.add(
            RuleError(
                f"caused_by cycle: {' -> '.join(cycle)}",
                start.path,
                line_of(start.lines, ("caused_by", index)),
            )
        )


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each cycle found by a depth-first walk once, starting at its smallest id, closed."""
    found: dict[tuple[str, ...], list[str]] = {}
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            loop = stack[stack.index(node) :]
            pivot = loop.index(min(loop))
            loop = loop[pivot:] + loop[:pivot]
            found.setdefault(tuple(loop), [*loop, loop[0]])
            return
        if node in done:
            return
        stack.append(node)
        for nxt in graph.get(node, []):
            visit(nxt, stack)
        stack.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return [found[key] for key in sorted(found)]


# --- turning pydantic errors into one-line messages -----------------------------------------


def _rule_error(path: Path, lines: dict[Loc, int], detail: ErrorDetails) -> RuleError:
    """`file:line: dotted.key: message` for one pydantic error."""
    loc: Loc = tuple(detail["loc"])
    kind = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    if kind == LOCATED_ERROR:
        loc = (*loc, *ctx["at"])
    if kind in ("extra_forbidden", "missing"):
        owner, key = loc[:-1], str(loc[-1])
        if kind == "extra_forbidden":
            message = _unknown_key(owner, key)
        else:
            message = f"missing required key {key!r}"
        return RuleError(_prefixed(owner, message), path, line_of(lines, loc))
    return RuleError(_prefixed(loc, _message(detail, ctx)), path, line_of(lines, loc))


def _message(detail: ErrorDetails, ctx: dict[str, Any]) -> str:
    """A human sentence for the pydantic error types a rule file can produce."""
    kind = detail["type"]
    got = _show(detail["input"])
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", detail["msg"]))
    if kind == LOCATED_ERROR:
        return detail["msg"]
    simple = {
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "int_from_float": "must be an integer",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": "must be a string",
        "dict_type": "must be a mapping",
        "model_type": "must be a mapping",
        "model_attributes_type": "must be a mapping",
        "tuple_type": "must be a list",
        "list_type": "must be a list",
    }
    if kind in simple:
        return f"{simple[kind]}, got {got}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return (
            f"must have at least {_entries(ctx.get('min_length'))}, got {ctx.get('actual_length')}"
        )
    if kind == "too_long":
        return (
            f"must have at most {_entries(ctx.get('max_length'))}, got {ctx.get('actual_length')}"
        )
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {got}"
    return f"{detail['msg'][:1].lower()}{detail['msg'][1:]}, got {got}"


def _entries(count: object) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _unknown_key(owner: Loc, key: str) -> str:
    """Name the key, a likely intended one, and what is allowed there."""
    allowed = _allowed_keys(owner)
    if not allowed:
        return f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r} (allowed: {', '.join(allowed)}){hint}"


def _allowed_keys(owner: Loc) -> tuple[str, ...]:
    """The keys of the model found at `owner` (walking Rule's field annotations)."""
    candidates: list[Any] = [Rule]
    for part in owner:
        following: list[Any] = []
        for tp in candidates:
            for leaf in _leaves(tp):
                if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                    for name, info in leaf.model_fields.items():
                        if part in (name, info.alias):
                            following.append(info.annotation)
                elif typing.get_origin(leaf) is dict:
                    following.append(typing.get_args(leaf)[1])
                elif typing.get_origin(leaf) in (tuple, list):
                    following.append(typing.get_args(leaf)[0])
        candidates = following
    for tp in candidates:
        for leaf in _leaves(tp):
            if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                return rule_keys(leaf)
    return ()


def _leaves(tp: Any) -> list[Any]:
    """`tp` without Annotated and split at unions."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _leaves(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [leaf for arg in typing.get_args(tp) for leaf in _leaves(arg)]
    return [tp]


def _prefixed(loc: Loc, message: str) -> str:
    """`server.setup_error.threshold: message`, or the message alone at the top."""
    dotted = _dotted(loc)
    return f"{dotted}: {message}" if dotted else message


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def line_of(lines: dict[Loc, int], loc: Loc) -> int:
    """The line of `loc`, else of its nearest parent that has one, else 1."""
    for end in range(len(loc), 0, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return 1


def _show(value: object) -> str:
    """A short rendering of a bad value for a message."""
    if isinstance(value, dict | list | tuple):
        return _kind(value)
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "nothing (null)"
    return f"a {type(value).__name__}"
