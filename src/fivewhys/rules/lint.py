"""The why lint: whys that state what no log line proves, flagged where they are written.

A why is evidence (it cites a selection), a mechanism (true by what the rule detects, with a
reference) or an open question. An unmarked why without evidence is rendered as a hypothesis,
and for any service but the one it was written from it is an invented claim. `rules validate`
reports these issues as warnings (with `--strict` they fail the command). Each check is a
small class with a name, a description and a severity, in the manner of pySigma's validators.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from fivewhys.rules.loader import Loc, key_lines, line_of
from fivewhys.rules.schema import Rule, WhyTemplate

LintSeverity = Literal["warning", "info"]


@dataclass(frozen=True)
class LintIssue:
    """One finding: which check, in which rule, at which line, and what to do."""

    check: str
    severity: LintSeverity
    rule_id: str
    path: Path | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: " if self.path is not None else ""
        return f"{where}{self.severity}: {self.rule_id}: {self.message} [{self.check}]"


class LintCheck:
    """One lint check: `findings` yields (where in the rule, message) for each problem."""

    name: ClassVar[str]
    description: ClassVar[str]
    severity: ClassVar[LintSeverity] = "warning"

    def findings(self, rule: Rule) -> Iterator[tuple[Loc, str]]:
        raise NotImplementedError


def _asks(why: WhyTemplate) -> bool:
    return "?" in why.text


class WhyStatesCauseWithoutEvidence(LintCheck):
    name = "why-without-evidence"
    description = (
        "A why without evidence: and without kind: is shown as a hypothesis: a claim about the "
        "service that no line proves."
    )

    def findings(self, rule: Rule) -> Iterator[tuple[Loc, str]]:
        for index, why in enumerate(rule.whys):
            if why.evidence is not None or why.kind is not None:
                continue
            hint = " (it asks: mark it kind: question)" if _asks(why) else ""
            yield (
                ("whys", index),
                f"whys[{index}]: states a cause without evidence{hint}: cite a selection "
                "(evidence:), mark it kind: mechanism (true by what the rule detects, with a "
                "reference) or kind: question (say what would answer it and where to look)",
            )


class OptionalEvidenceWithoutUnproven(LintCheck):
    name = "optional-evidence-without-unproven"
    description = (
        "A why citing an optional selection is shown as a hypothesis when that selection "
        "found no line, unless unproven: gives the question to ask instead."
    )

    def findings(self, rule: Rule) -> Iterator[tuple[Loc, str]]:
        for index, why in enumerate(rule.whys):
            if why.evidence is None or why.unproven is not None:
                continue
            if rule.server[why.evidence].required:
                continue
            yield (
                ("whys", index, "evidence"),
                f"whys[{index}]: cites {why.evidence!r}, which is optional: when it finds no "
                "line this why is an unproven claim; give unproven: with the question to ask",
            )


class MechanismWithoutReference(LintCheck):
    name = "mechanism-without-reference"
    description = "A mechanism why is true by the documents it rests on: the rule must list them."

    def findings(self, rule: Rule) -> Iterator[tuple[Loc, str]]:
        if rule.references:
            return
        for index, why in enumerate(rule.whys):
            if why.kind == "mechanism":
                yield (
                    ("whys", index, "kind"),
                    f"whys[{index}]: kind: mechanism, but the rule has no references: list the "
                    "RFC or docs that make it true",
                )


class QuestionDoesNotAsk(LintCheck):
    name = "question-does-not-ask"
    description = "A kind: question why should ask (with a question mark) what would answer it."
    severity = "info"

    def findings(self, rule: Rule) -> Iterator[tuple[Loc, str]]:
        for index, why in enumerate(rule.whys):
            if why.kind == "question" and not _asks(why):
                yield (
                    ("whys", index, "text"),
                    f"whys[{index}]: kind: question, but the text asks nothing: phrase it as a "
                    "question and say where the answer is",
                )
        for index, why in enumerate(rule.whys):
            if why.unproven is not None and "?" not in why.unproven:
                yield (
                    ("whys", index, "unproven"),
                    f"whys[{index}]: unproven: asks nothing: phrase it as a question",
                )


CHECKS: tuple[LintCheck, ...] = (
    WhyStatesCauseWithoutEvidence(),
    OptionalEvidenceWithoutUnproven(),
    MechanismWithoutReference(),
    QuestionDoesNotAsk(),
)
"""Every check `rules validate` runs, in the order their issues are listed per rule."""


def lint_rule(rule: Rule, checks: Sequence[LintCheck] = CHECKS) -> list[LintIssue]:
    """The issues of one rule, located at the line of the key they are about."""
    path = Path(rule.source) if rule.source is not None else None
    lines = key_lines(path) if path is not None else {}
    issues = [
        LintIssue(
            check=check.name,
            severity=check.severity,
            rule_id=rule.id,
            path=path,
            line=line_of(lines, loc) if path is not None else None,
            message=message,
        )
        for check in checks
        for loc, message in check.findings(rule)
    ]
    return sorted(issues, key=lambda issue: (issue.line or 0, issue.check))


def lint_rules(rules: Sequence[Rule], checks: Sequence[LintCheck] = CHECKS) -> list[LintIssue]:
    """The issues of every rule, by file then line."""
    issues = [issue for rule in rules for issue in lint_rule(rule, checks)]
    return sorted(issues, key=lambda i: (str(i.path or ""), i.line or 0, i.check))
