"""A spec as it was at a git revision, read with `git show` (no checkout, nothing written)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from groupcost.errors import Location, UsageError


class NotAtRevision(UsageError):
    """The spec did not exist at that revision (new since): a diff shows all of it as added."""

    def __init__(self, message: str, label: str):
        super().__init__(message, None, Location("--git"))
        self.label = label


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise UsageError("git is not installed", None, Location("--git")) from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {' '.join(args)} did not answer in 30 s", None, Location("--git")) from None


def read_at_revision(path: str | Path, revision: str) -> tuple[str, str]:
    """(text, display name 'REV:path') of `path` at `revision` of the repository that holds it."""
    where = Location("--git")
    if revision.startswith("-"):
        raise UsageError(f"'{revision}' is not a revision", "e.g. --git main or --git HEAD~1", where)
    file = Path(path).resolve()
    folder = file.parent if file.parent.is_dir() else Path.cwd()
    top = _git(["rev-parse", "--show-toplevel"], folder)
    if top.returncode:
        raise UsageError(f"{path} is not in a git repository", None, where)
    relative = file.relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    shown = _git(["show", f"{revision}:{relative}"], folder)
    if shown.returncode:
        if "does not exist in" in shown.stderr or "exists on disk, but not in" in shown.stderr:
            raise NotAtRevision(f"{relative} does not exist at {revision}", f"{revision}:{relative} (absent)")
        message = shown.stderr.strip().splitlines()[-1] if shown.stderr.strip() else "git show failed"
        raise UsageError(f"cannot read {relative} at {revision}: {message.removeprefix('fatal: ')}", None, where)
    return shown.stdout, f"{revision}:{relative}"
