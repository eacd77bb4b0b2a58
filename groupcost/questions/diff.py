"""What a change does to a network's cost: totals and layers of two reports, side by side.

Layers are matched as a sequence (difflib) keyed by type and by their names with list indices left
out, so inserting or deleting one unnamed layer, which renumbers those after it, reads as one
change; a layer is changed when its input, kind, groups, output or any count differ, and says which.
`--fail-on-increase` rules (`macs>5%`, `params>0`, `params>100K`) decide the exit code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from groupcost.graph.analysis import RENAMED, Report, Row
from groupcost.language.budgets import METRICS, parse_amount
from groupcost.questions.check import total
from groupcost.errors import Location, SpecError, UsageError
from groupcost.language.document import suggest

# What can change in a matched layer, in the order a person reads it.
ROW_FIELDS = ("type", "in_shapes", "kind", "groups", "out_shape", "params", "weights", "macs", "matmul_macs", "activations", "traffic")


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
    name: str  # the head's name (the base's for a removed layer)
    status: str  # added | removed | changed
    base: Row | None
    head: Row | None
    what: tuple[str, ...] = ()  # the ROW_FIELDS that differ, for a changed layer

    @property
    def base_name(self) -> str | None:
        return self.base.name if self.base is not None else None

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
    # What the renderers of the graph need (the Mermaid region, the HTML page); none of them changes the comparison.
    pairs: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # base name → head name, every matched layer
    base_network: Any = field(default=None, compare=False, repr=False)  # a Network, or None (absent at the base)
    head_network: Any = field(default=None, compare=False, repr=False)
    base_doc: Any = field(default=None, compare=False, repr=False)  # the SpecDocuments, for a report of each side
    head_doc: Any = field(default=None, compare=False, repr=False)



_RULE = re.compile(r"\s*([a-z_]+)\s*>\s*(.+?)\s*")


def parse_rules(text: str) -> list[Rule]:
    """'macs>5%,params>0' → rules; each failure a located UsageError."""
    rules, column = [], 1
    for part in text.split(","):
        match = _RULE.fullmatch(part)
        where = Location("--fail-on-increase", 1, column)
        if not match:
            raise UsageError(f"cannot read rule '{part.strip()}'", "METRIC>AMOUNT or METRIC>PERCENT%, quoted: --fail-on-increase 'macs>5%,params>0'", where)
        metric, threshold = RENAMED.get(match[1], match[1]), match[2]
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


def diff(base: Report, head: Report, rules: list[Rule] | None = None, base_label: str = "base", head_label: str = "head", **sides: Any) -> Diff:
    """`sides`: base_network, head_network, base_doc, head_doc, kept for the renderers of the graph."""
    totals = tuple(Change(m, total(base, m), total(head, m)) for m in METRICS)
    pairs: dict[str, str] = {}
    layers = match_layers(base.rows, head.rows, pairs)
    by_metric = {c.metric: c for c in totals}
    fired = tuple((rule, by_metric[rule.metric]) for rule in rules or [] if rule.fires(by_metric[rule.metric]))
    return Diff(base_label, head_label, totals, tuple(layers), fired, pairs, **sides)


def _key(row: Row) -> tuple[str, str]:
    """What stays when unnamed layers are renumbered: the name without its all-digit segments, and the type."""
    return ".".join("#" if part.isdigit() else part for part in row.name.split(".")), row.type


def _changed(old: Row, new: Row) -> LayerChange | None:
    what = tuple(f for f in ROW_FIELDS if getattr(old, f) != getattr(new, f))
    return LayerChange(new.name, "changed", old, new, what) if what else None


def match_layers(base: tuple[Row, ...], head: tuple[Row, ...], pairs: dict[str, str] | None = None) -> list[LayerChange]:
    """Added, removed and changed layers: rows of the same name and type first, then a sequence
    alignment of the rest, so that one inserted or deleted layer is one change. `pairs`, when given,
    is filled with base name → head name for every matched layer, changed or not."""
    from difflib import SequenceMatcher

    pairs = {} if pairs is None else pairs
    if [r.name for r in base] == [r.name for r in head]:  # the common case: same layers, maybe other sizes
        pairs.update((r.name, r.name) for r in base)
        return [c for old, new in zip(base, head) if (c := _changed(old, new)) is not None]
    matcher = SequenceMatcher(None, [_key(r) for r in base], [_key(r) for r in head], autojunk=False)
    result: list[LayerChange] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        olds, news = base[i1:i2], head[j1:j2]
        if op == "equal":
            pairs.update((old.name, new.name) for old, new in zip(olds, news))
            result += [c for old, new in zip(olds, news) if (c := _changed(old, new)) is not None]
            continue
        # a replaced stretch: rows that keep their name are changed (maybe in type), the rest removed and added
        by_name = {r.name: r for r in olds}
        paired = {r.name for r in news if r.name in by_name}
        for new in news:
            if new.name in paired:
                pairs[new.name] = new.name
                change = _changed(by_name[new.name], new)
                if change is not None:
                    result.append(change)
            else:
                result.append(LayerChange(new.name, "added", None, new))
        result += [LayerChange(old.name, "removed", old, None) for old in olds if old.name not in paired]
    return result
