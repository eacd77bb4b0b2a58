"""Checking a report against budgets (parsed by groupcost.language.budgets): a verdict per budget."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from groupcost.errors import Location, SpecError
from groupcost.graph.analysis import METRIC, RENAMED, Report, Row
from groupcost.language.budgets import Budget
from groupcost.language.document import suggest


@dataclass(frozen=True)
class Verdict:
    budget: Budget
    value: int
    status: str  # ok | warn | over

    @property
    def over_by(self) -> int:
        return self.value - self.budget.limit

    @property
    def used(self) -> float:
        return self.value / self.budget.limit if self.budget.limit else float("inf") if self.value else 0.0


def total(report: Report, metric: str) -> int:
    return report.metric(metric)


def row_value(row: Row, metric: str, dtype_bytes: int) -> int:
    return METRIC[RENAMED.get(metric, metric)].row(row, dtype_bytes)  # type: ignore[misc]


def check(report: Report, budgets: list[Budget], warn_at: float | None = None) -> list[Verdict]:
    """Each budget against the report: over when the value exceeds the limit, warn from `warn_at` of it."""
    verdicts = []
    for budget in budgets:
        if budget.scope is None:
            value = total(report, budget.metric)
        else:
            rows = [r for r in report.rows if fnmatch.fnmatchcase(r.name, budget.scope)]
            if not rows:
                names = [r.name for r in report.rows]
                raise SpecError(f"budget for '{budget.scope}' matches no layer", suggest(budget.scope, names) or "`groupcost analyze` lists the names", budget.loc)
            value = sum(row_value(r, budget.metric, report.dtype_bytes) for r in rows)
        status = "over" if value > budget.limit else "warn" if warn_at is not None and value >= warn_at * budget.limit else "ok"
        verdicts.append(Verdict(budget, value, status))
    return verdicts


@dataclass(frozen=True)
class SpecCheck:
    """One spec's budgets and how its figures stand against them."""

    model: str
    source: str
    verdicts: tuple[Verdict, ...]
    error: str | None = None  # the spec could not be read or built: the one-line error

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        statuses = {v.status for v in self.verdicts}
        return "over" if "over" in statuses else "warn" if "warn" in statuses else "ok" if statuses else "none"


def check_spec(model: str, source: str, own: list[Budget], limits: dict[str, tuple[int, str]], report: Report,
               warn_at: float | None) -> SpecCheck:
    """A spec's own budgets, with `limits` from flags replacing its whole-network budget on the same
    metric (they point at the spec's first line), checked against its report."""
    flagged = [Budget(metric, limit, text, Location(source)) for metric, (limit, text) in limits.items()]
    kept = [b for b in own if b.scope is not None or b.metric not in limits]
    return SpecCheck(model, source, tuple(check(report, kept + flagged, warn_at)))
