"""Suspect commits (`--repo PATH`): the raising frame of a cause's stack trace mapped to its file
and line in a local checkout of the service, and the commits that touched them between the last
known good commit and the one the failing revision was built from, newest first.

Git is read with its own command line (`git ls-tree`, `git log`, `git log -L`): local commands
only, with a timeout, lazy fetches of a partial clone turned off, so nothing goes to a network.
A missing repository or a commit the repository does not know is one line in the report's
warnings, never a stop.

The range: it starts after the last green run's commit (history) when known, else after the
commit of the deploy the failing revision replaced; it ends at the failing revision's deploy
commit, else the expected commit (`--expect-commit`), else the checkout's HEAD, and says which.
With no start, the newest commits that touched the file are listed, and the why says the range
is open.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from fivewhys.model import Cause, CodeSuspects, Deploy, StackFrame, SuspectCommit, Why
from fivewhys.revisions import deploy_of

#: seconds one git command may take
GIT_TIMEOUT_S = 20.0
#: commits kept per cause (newest first); the why names the first few
MAX_COMMITS = 10
#: commits a why names
MAX_NAMED = 3
_COMMIT = re.compile(r"^[0-9a-fA-F]{7,64}$")


class GitError(Exception):
    """A git command failed: its first line of stderr, or why it could not run."""


def with_suspects(
    causes: Sequence[Cause],
    deploys: Sequence[Deploy],
    repo: Path,
    *,
    expect_commit: str | None = None,
    green: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[list[Cause], list[str]]:
    """Each cause whose trace names an application frame, with its suspects and a why; and the
    warnings (one line each) for what could not be read. `green` gives, per cause id, the last
    green run's commit and how to name it."""
    try:
        top = _git(repo, "rev-parse", "--show-toplevel").strip()
    except GitError as exc:
        return list(causes), [f"--repo {repo}: not read as a git repository ({exc})"]
    warnings: list[str] = []
    out = []
    for cause in causes:
        frame = next((t.raised_at for t in cause.tracebacks if t.raised_at is not None), None)
        if frame is None:
            out.append(cause)
            continue
        found = _suspects(cause, frame, deploys, Path(top), expect_commit, (green or {}))
        if found.warning:
            warnings.append(f"{cause.id}: --repo: {found.warning}")
        whys = [*cause.whys, _why(found, cause)]
        out.append(cause.model_copy(update={"suspects": found, "whys": tuple(whys)}))
    return out, warnings


def _suspects(
    cause: Cause,
    frame: StackFrame,
    deploys: Sequence[Deploy],
    repo: Path,
    expect_commit: str | None,
    green: Mapping[str, tuple[str, str]],
) -> CodeSuspects:
    where = frame.where()
    deploy = deploy_of(cause.revisions[0], deploys) if cause.revisions else None
    if deploy is not None and deploy.commit:
        head, head_from = deploy.commit, f"the commit {deploy.revision} was deployed from"
    elif expect_commit:
        head, head_from = expect_commit, "the expected commit (--expect-commit)"
    else:
        head, head_from = "HEAD", "the checkout's HEAD (no deploy commit of the revision known)"
    try:
        head_sha = _commit(repo, head)
    except GitError as exc:
        return CodeSuspects(frame=where, head_from=head_from, warning=f"commit {head}: {exc}")
    base, base_from = _base(cause, deploy, deploys, green)
    base_sha: str | None = None
    warning = None
    if base is not None:
        try:
            base_sha = _commit(repo, base)
        except GitError as exc:
            warning = f"start of the range, commit {base} ({base_from}): {exc}; range left open"
            base, base_from = None, None
    try:
        paths = _git(repo, "ls-tree", "-r", "--name-only", "-z", head_sha).split("\0")
    except GitError as exc:
        return CodeSuspects(frame=where, head=head_sha, head_from=head_from, warning=str(exc))
    candidates = match_path(frame, [p for p in paths if p])
    common = {"frame": where, "line": frame.line, "base": base_sha, "base_from": base_from}
    common |= {"head": head_sha, "head_from": head_from}
    if not candidates:
        return CodeSuspects(
            **common,
            warning=warning or f"no file of commit {head_sha[:12]} is {frame.file}",
        )
    span = f"{base_sha}..{head_sha}" if base_sha else head_sha
    try:
        commits = _touching(repo, span, candidates)
        touched_line = (
            _touching_line(repo, span, candidates[0], frame.line)
            if len(candidates) == 1 and frame.line
            else set()
        )
    except GitError as exc:
        return CodeSuspects(**common, candidates=tuple(candidates), warning=str(exc))
    marked = tuple(c.model_copy(update={"line": c.sha in touched_line}) for c in commits)
    marked = tuple(sorted(marked, key=lambda c: not c.line))[:MAX_COMMITS]  # stable: newest first
    return CodeSuspects(
        **common,
        path=candidates[0] if len(candidates) == 1 else None,
        candidates=tuple(candidates) if len(candidates) > 1 else (),
        commits=marked,
        warning=warning,
    )


def _base(
    cause: Cause,
    deploy: Deploy | None,
    deploys: Sequence[Deploy],
    green: Mapping[str, tuple[str, str]],
) -> tuple[str | None, str | None]:
    if cause.id in green:
        return green[cause.id]
    if deploy is not None and deploy.previous:
        before = deploy_of(deploy.previous, deploys)
        if before is not None and before.commit:
            return before.commit, f"the commit of {before.revision}, the revision it replaced"
    return None, None


def match_path(frame: StackFrame, paths: Sequence[str]) -> list[str]:
    """The repository paths the frame's file is: those sharing the longest tail of path parts
    with it (at least the file name), a path matched whole before one that differs further up;
    several when that does not decide."""
    wanted = _frame_parts(frame)
    best: tuple[int, bool] = (0, False)
    found: list[str] = []
    for path in paths:
        parts = path.split("/")
        same = 0
        while same < min(len(parts), len(wanted)) and parts[-1 - same] == wanted[-1 - same]:
            same += 1
        score = (same, same == len(parts) or same == len(wanted))
        if same and score >= best:
            if score > best:
                best, found = score, []
            found.append(path)
    return sorted(found)


def _frame_parts(frame: StackFrame) -> list[str]:
    parts = [p for p in frame.file.replace("\\", "/").split("/") if p not in ("", ".")]
    if len(parts) == 1 and frame.function and frame.file.endswith((".java", ".kt")):
        package = frame.function.split(".")[:-2]  # `com.acme.Handler.handle`: class, method
        parts = [*package, *parts]
    return parts


def _touching(repo: Path, span: str, paths: Sequence[str]) -> list[SuspectCommit]:
    text = _git(
        repo,
        "log",
        f"--max-count={MAX_COMMITS * 5}",
        "--format=%H%x1f%an <%ae>%x1f%aI%x1f%s%x1e",
        span,
        "--",
        *paths,
    )
    commits = []
    for record in text.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == 4:
            sha, author, date, subject = fields
            commits.append(
                SuspectCommit(
                    sha=sha,
                    subject=subject,
                    author=author,
                    authored_at=datetime.fromisoformat(date),
                )
            )
    return commits


def _touching_line(repo: Path, span: str, path: str, line: int) -> set[str]:
    text = _git(repo, "log", "-s", "--format=%H", f"-L{line},{line}:{path}", span)
    return {sha for sha in text.split() if _COMMIT.match(sha)}


def _commit(repo: Path, name: str) -> str:
    if name != "HEAD" and not _COMMIT.match(name):
        raise GitError("not a commit id")
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}").strip()
    except GitError:
        raise GitError(f"not in the repository at {repo.name}") from None


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_NO_LAZY_FETCH": "1",
        "GIT_OPTIONAL_LOCKS": "0",
        "LC_ALL": "C",
    }
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "-c", "core.quotepath=off", *args],
            capture_output=True,
            env=env,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took over {GIT_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(lines[0] if lines else f"git {args[0]} exited {done.returncode}")
    return done.stdout.decode("utf-8", "replace")


def _why(found: CodeSuspects, cause: Cause) -> Why:
    trace = next(t for t in cause.tracebacks if t.raised_at is not None)
    cites = trace.insert_ids[:1]
    head = f"{found.head[:12]} ({found.head_from})" if found.head else "the failing commit"
    if found.path is None and not found.candidates:
        return Why(
            kind="question",
            step="commit",
            text=(
                f"Which commit changed the code at `{found.frame}`? The repository given "
                f"(--repo) could not answer: {found.warning}."
            ),
        )
    if found.candidates:
        place = (
            f"The raising frame `{found.frame}` is one of {len(found.candidates)} files of the "
            f"repository at {head} (ambiguous: {', '.join(f'`{c}`' for c in found.candidates)})"
        )
    else:
        place = f"The raising frame `{found.frame}` is `{found.path}` at {head}"
    if found.base:
        span = f"after {found.base[:12]} ({found.base_from})"
    else:
        span = "with no earlier good commit known (the range is open: the newest are listed)"
    if not found.commits:
        return Why(
            kind="evidence",
            step="commit",
            text=(
                f"{place}; no commit {span} up to it touched that file: the change that broke "
                "it is elsewhere (another file, a dependency, configuration or data)."
            ),
            evidence=cites,
        )
    on_line = sum(1 for c in found.commits if c.line)
    line_part = (
        f", {on_line} of them line {found.line} itself (git log -L)"
        if found.line and on_line
        else f", none line {found.line} itself (git log -L)"
        if found.path and found.line
        else ""
    )
    named = "; ".join(
        f"`{c.sha[:7]}` {c.subject!r} by {c.author}, {c.authored_at.date().isoformat()}"
        + (" (changed the line)" if c.line else "")
        for c in found.commits[:MAX_NAMED]
    )
    return Why(
        kind="evidence",
        step="commit",
        text=(
            f"{place}; {len(found.commits)} commit(s) {span} touched it{line_part}; those "
            f"that changed the line first, newest first: {named}."
        ),
        evidence=cites,
    )
