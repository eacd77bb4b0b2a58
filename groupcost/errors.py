"""One exception family. Every error knows where in the user's input it was caused."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a spec file or on the command line; line and column are 1-based."""

    path: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class GroupcostError(Exception):
    """Base of every error groupcost reports to a user (exit code 2 in the CLI)."""

    def __init__(self, message: str, hint: str | None = None, location: Location | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.location = location
        self.context: list[str] = []  # innermost first: "in block 'ir' used at spec.yaml:20:5 as features.3"

    def located(self, location: Location) -> GroupcostError:
        """The same error at `location`, unless it already has a place of its own."""
        if self.location is None:
            self.location = location
        return self

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        hint = f" ({self.hint})" if self.hint else ""
        context = "".join(f"; {c}" for c in self.context)
        return one_line(f"{where}error: {self.message}{hint}{context}")


def one_line(text: str) -> str:
    """Control characters echoed from the input (a newline in a value) shown escaped: an error stays one line."""
    return "".join(ch if ch >= " " or ch == "\t" else repr(ch)[1:-1] for ch in text)


class SpecError(GroupcostError):
    """The spec (file, zoo name or variable) is malformed or describes an impossible network."""


class UsageError(GroupcostError):
    """A command-line value is malformed."""
