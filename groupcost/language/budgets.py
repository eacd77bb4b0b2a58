"""The budgets grammar: `budgets:` in a spec and `--max-...` flags → Budgets (checked in groupcost.questions.check).

Amounts are exact: `5M` is 5,000,000 and `4.1G` 4,100,000,000; counts take K, M, G, T (powers of
1000), byte metrics also take B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (1024).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from groupcost.errors import Location, SpecError
from groupcost.graph.analysis import METRIC, RENAMED
from groupcost.graph.analysis import METRICS as ANALYSIS_METRICS
from groupcost.language.document import suggest
from groupcost.language.yamlsource import Node

METRICS = tuple(m.key for m in ANALYSIS_METRICS)
BYTE_METRICS = tuple(m.key for m in ANALYSIS_METRICS if m.unit == "bytes")
COUNT_METRICS = tuple(m for m in METRICS if m not in BYTE_METRICS)
LAYER_METRICS = tuple(m.key for m in ANALYSIS_METRICS if m.row is not None)

COUNT_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
BYTE_UNITS = {
    **COUNT_UNITS, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}
ACCEPTED = "a whole number or a number with a unit: 5M, 4.1G, 600K (powers of 1000); bytes also 64MiB, 2GiB (1024) or 500MB"
_AMOUNT = re.compile(r"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")


def parse_amount(value: object, metric: str) -> int:
    """'4.1G' → 4_100_000_000 for `metric`; raises SpecError (without location) naming the accepted forms."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SpecError(f"{metric} budget: expected an amount, got {value!r}", ACCEPTED)
    if isinstance(value, int):
        if value < 0:
            raise SpecError(f"{metric} budget: must not be negative, got {value}", ACCEPTED)
        return value
    match = _AMOUNT.fullmatch(value)
    metric = RENAMED.get(metric, metric)
    units = BYTE_UNITS if metric in BYTE_METRICS else COUNT_UNITS
    if not match or match[2].upper() not in units:
        if match and match[2].upper() in BYTE_UNITS:
            raise SpecError(f"{metric} budget: '{value}' is in bytes, but {metric} is a count", "use K, M, G or T")
        raise SpecError(f"{metric} budget: cannot read '{value}'", ACCEPTED)
    try:
        amount = Decimal(match[1].replace("_", "")) * units[match[2].upper()]
    except InvalidOperation:
        raise SpecError(f"{metric} budget: cannot read '{value}'", ACCEPTED) from None
    if amount != amount.to_integral_value():
        raise SpecError(f"{metric} budget: '{value}' is not a whole number of {'bytes' if metric in BYTE_METRICS else 'units'}", ACCEPTED)
    return int(amount)


def parse_fraction(text: str) -> float:
    """'90%' or '0.9' → 0.9."""
    stripped = text.strip()
    try:
        value = float(stripped[:-1]) / 100 if stripped.endswith("%") else float(stripped)
    except ValueError:
        raise SpecError(f"cannot read '{text}' as a fraction", "e.g. 90% or 0.9") from None
    if not 0 < value <= 1:
        raise SpecError(f"'{text}' is not between 0 and 100%", "e.g. 90% or 0.9")
    return value


@dataclass(frozen=True)
class Budget:
    """A limit on one metric of the whole network (scope None) or of the layers a pattern names, together."""

    metric: str
    limit: int
    given: str  # as the user wrote it, e.g. "5M"
    loc: Location
    scope: str | None = None

    @property
    def label(self) -> str:
        return self.metric if self.scope is None else f"{self.metric} of {self.scope}"

    @property
    def unit(self) -> str:
        return METRIC[self.metric].unit


def budgets_from_spec(node: Node | None) -> list[Budget]:
    """`budgets: {params: 5M, macs: 600M, layers: {"layer4.*": {params: 10M}}}` → Budgets with their lines."""
    if node is None or node.value is None:
        return []
    if not node.is_map:
        raise SpecError("budgets must be a mapping", "e.g. budgets: {params: 5M, macs: 600M}", node.loc)
    result: list[Budget] = []
    for key, value in node.value.items():
        if key == "layers":
            if not value.is_map:
                raise SpecError("budgets.layers maps a layer name or pattern to budgets", 'e.g. layers: {"layer4.*": {params: 10M}}', value.loc)
            for pattern, limits in value.value.items():
                if not limits.is_map:
                    raise SpecError(f"budgets for '{pattern}' must be a mapping", "e.g. {params: 10M}", limits.loc)
                result += _limits(limits, LAYER_METRICS, pattern)
        else:
            result += _limits(Node({key: value}, node.loc, {key: node.key_locs[key]}), METRICS, None)
    return result


def _limits(node: Node, metrics: tuple[str, ...], scope: str | None) -> list[Budget]:
    result = []
    for given_name, value in node.value.items():
        metric = RENAMED.get(given_name, given_name)  # groupcost 0.1's names still read
        if metric not in metrics:
            extra = " or layers" if scope is None else ""
            raise SpecError(f"unknown budget metric '{given_name}'", suggest(given_name, metrics) or f"one of {', '.join(metrics)}{extra}",
                            node.key_locs[given_name])
        try:
            limit = parse_amount(value.value, metric)
        except SpecError as exc:
            raise exc.located(value.loc) from None
        result.append(Budget(metric, limit, str(value.value), value.loc, scope))
    return result


def flag_limits(given: dict[str, str | None]) -> dict[str, tuple[int, str]]:
    """{'params': '5M', 'macs': None, ...} from `--max-...` flags → {'params': (5_000_000, '5M')}, errors at the flag."""
    limits = {}
    for metric, text in given.items():
        if text is not None:
            try:
                limits[metric] = (parse_amount(text.strip(), metric), text)
            except SpecError as exc:
                raise exc.located(Location(f"--max-{metric.replace('_', '-')}")) from None
    return limits
