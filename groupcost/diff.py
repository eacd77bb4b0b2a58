"""What a change does to a network's cost: totals and layers of two reports, side by side.

Layers are matched by name; a layer is changed when its type, shape, groups or any count differ.
`--fail-on-increase` rules (`macs>5%`, `params>0`, `params>100K`) decide the exit code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from groupcost.analysis import Report, Row
from groupcost.budget import METRICS, parse_amount, total
from groupcost.errors import Location, SpecError, UsageError
from groupcost.spec.document import suggest

ROW_FIELDS = ("type", "out_shape", "groups", "params", "weights", "macs", "activations", "traffic")


@dataclass(frozen=True)
class Change:
    metric: str
    base: int
    head: int

    @property
    def delta(self) -> int:
        return self.head - self.base

    @property
    def relative(self) -> float | None:
        return self.delta / self.base if self.base else None


@dataclass(frozen=True)
class LayerChange:
    name: str
    status: str  # added | removed | changed
    base: Row | None
    head: Row | None

    def delta(self, metric: str) -> int:
        return (getattr(self.head, metric) if self.head else 0) - (getattr(self.base, metric) if self.base else 0)


@dataclass(frozen=True)
class Rule:
    """Fail when `metric` grows by more than `amount` (absolute) or `percent` (relative)."""

    metric: str
    text: str
    amount: int | None = None
    percent: float | None = None

    def fires(self, change: Change) -> bool:
        if change.delta <= 0:
            return False
        if self.percent is not None:
            return change.base == 0 or 100 * change.delta / change.base > self.percent
        return change.delta > (self.amount or 0)


@dataclass(frozen=True)
class Diff:
    base_label: str
    head_label: str
    totals: tuple[Change, ...]
    layers: tuple[LayerChange, ...]
    fired: tuple[tuple[Rule, Change], ...]


_RULE = re.compile(r"\s*([a-z_]+)\s*>\s*(.+?)\s*")


def parse_rules(text: str) -> list[Rule]:
    """'macs>5%,params>0' → rules; each failure a located UsageError."""
    rules, column = [], 1
    for part in text.split(","):
        match = _RULE.fullmatch(part)
        where = Location("--fail-on-increase", 1, column)
        if not match:
            raise UsageError(f"cannot read rule '{part.strip()}'", "METRIC>AMOUNT or METRIC>PERCENT%, e.g. macs>5%,params>0", where)
        metric, threshold = match[1], match[2]
        if metric not in METRICS:
            raise UsageError(f"unknown metric '{metric}'", suggest(metric, METRICS) or f"one of {', '.join(METRICS)}", where)
        try:
            if threshold.endswith("%"):
                rules.append(Rule(metric, part.strip(), percent=float(threshold[:-1])))
            else:
                rules.append(Rule(metric, part.strip(), amount=parse_amount(threshold, metric)))
        except (ValueError, SpecError) as exc:
            hint = exc.hint if isinstance(exc, SpecError) else "e.g. macs>5% or params>100K"
            raise UsageError(f"cannot read the threshold of '{part.strip()}'", hint, where) from None
        column += len(part) + 1
    return rules


def diff(base: Report, head: Report, rules: list[Rule] | None = None, base_label: str = "base", head_label: str = "head") -> Diff:
    totals = tuple(Change(m, total(base, m), total(head, m)) for m in METRICS)
    base_rows, head_rows = {r.name: r for r in base.rows}, {r.name: r for r in head.rows}
    layers: list[LayerChange] = []
    for name, row in head_rows.items():
        old = base_rows.get(name)
        if old is None:
            layers.append(LayerChange(name, "added", None, row))
        elif any(getattr(old, f) != getattr(row, f) for f in ROW_FIELDS):
            layers.append(LayerChange(name, "changed", old, row))
    layers += [LayerChange(name, "removed", row, None) for name, row in base_rows.items() if name not in head_rows]
    by_metric = {c.metric: c for c in totals}
    fired = tuple((rule, by_metric[rule.metric]) for rule in rules or [] if rule.fires(by_metric[rule.metric]))
    return Diff(base_label, head_label, totals, tuple(layers), fired)

