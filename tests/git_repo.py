"""A throwaway git repository for tests, through git's own command line: fixed authors and
dates (and no system or user configuration), so its commits and shas are the same every run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git(
    repo: Path, *args: str, when: str = "2026-11-20T10:00:00+00:00", who: str = "Ada Dev"
) -> str:
    """Run git in `repo` as `who` at `when` (ISO 8601); its stdout, stripped."""
    email = f"{who.split()[0].lower()}@example.com"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": who,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": who,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo),
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], subject: str, when: str, who: str) -> str:
    """Write `files` (path -> text) and commit them all; the new commit's sha."""
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(repo, "add", "-A", when=when, who=who)
    git(repo, "commit", "-q", "-m", subject, when=when, who=who)
    return git(repo, "rev-parse", "HEAD")
