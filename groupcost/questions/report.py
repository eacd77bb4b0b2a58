"""Everything the HTML report shows, computed by the core: the network and its analysis, the
layers summed per stage and per block, what-if sweeps over the spec's variables, and its budgets.

Pure: no I/O, no formatting. `groupcost.render.html` turns an Overview into a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from groupcost.graph.analysis import Report, Row, analyze
from groupcost.language.budgets import budgets_from_spec
from groupcost.questions.check import Verdict, check
from groupcost.graph.network import Network
from groupcost.run.roofline import Device, layer_seconds
from groupcost.language.build import build
from groupcost.language.document import SpecDocument
from groupcost.language.expr import Number
from groupcost.questions.whatif import Sweep, whatif

MAX_SWEPT = 3
"""Variables swept by default (the first ones the spec declares with a plain number)."""
MULTIPLIERS = (0.5, 0.75, 1, 1.25, 1.5)
"""A fractional variable (a width multiplier) is tried at these multiples of its value."""


@dataclass(frozen=True)
class Overview:
    network: Network
    report: Report
    device: Device
    stage_depth: int
    stages: Report  # report.at_depth(stage_depth)
    blocks: dict[str, Row]  # every name prefix that holds two or more rows, summed
    sweeps: tuple[Sweep, ...]  # one per swept variable
    verdicts: tuple[Verdict, ...]  # the spec's budgets against the report
    device_given: bool = True  # False: the latency device is the default one (a100), and the page says so

    @cached_property
    def estimates(self) -> dict[str, float]:
        """Every layer's latency estimate on the device, by name (the layer table, the top layers and the roofline
        chart read them; under a calibrated profile each depends on every layer before it)."""
        return layer_seconds(self.report, self.device)


def default_variations(doc: SpecDocument, variables: Mapping[str, Number]) -> dict[str, list[Number]]:
    """Values worth trying for the spec's plain-number variables: powers of two up to twice an
    integer's value (G=32: 1, 2, ..., 64), multiples of a fraction (alpha=0.75: 0.375 ... 1.125).
    Variables given as expressions (derived from others) and lists are left alone."""
    chosen: dict[str, list[Number]] = {}
    for name, node in doc.variables.items():
        value = variables.get(name, node.value)
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)) or isinstance(value, bool):
            continue
        if isinstance(value, int) and value >= 1:
            powers = [2**k for k in range(0, 64) if 2**k <= max(2 * value, 8)]
            chosen[name] = sorted({*powers, value})
        elif isinstance(value, float) and value > 0:
            chosen[name] = [m * value if m * value != int(m * value) else int(m * value) for m in MULTIPLIERS]
        if len(chosen) == MAX_SWEPT:
            break
    return chosen


def stage_depth(report: Report, most: float = 0.6, limit: int = 40) -> int:
    """How many name segments make a stage: the fewest at which no stage holds more than `most` of the
    MACs (MobileNetV2's `features` alone would hold 99.6%), keeping at most `limit` stages."""
    deepest = max((row.name.count(".") + 1 for row in report.rows), default=1)
    for depth in range(1, deepest + 1):
        rows = report.at_depth(depth).rows
        if len(rows) > limit:
            return max(1, depth - 1)
        if max((row.macs for row in rows), default=0) <= most * report.totals.macs:
            return depth
    return 1


def blocks(report: Report) -> dict[str, Row]:
    """Each name prefix (`layer2`, `layer2.0`) that holds two or more rows, as one summed row."""
    depth = max((row.name.count(".") for row in report.rows), default=0)
    found: dict[str, Row] = {}
    for level in range(1, depth + 1):
        for row in report.at_depth(level).rows:
            if row.type == "block" and row.name.count(".") == level - 1:
                found[row.name] = row
    return found


def overview(
    doc: SpecDocument,
    variables: Mapping[str, Number],
    device: Device,
    depth: int | None = None,
    vary: Mapping[str, list[Number]] | None = None,
    *,
    network: Network | None = None,
    input_shape: tuple[int, ...] | None = None,
    batch: int | None = None,
) -> Overview:
    """Build `doc` with `variables`, analyze it, and gather what the report shows.

    `depth` cuts names into stages for the cost charts (None: `stage_depth` chooses). `vary` gives the sweeps (one per variable); None sweeps `default_variations`. Raises the
    spec's located errors (a bad variable, a budget that names no layer). `network`: `doc` already built
    (with the same `variables`, `input_shape` and `batch`), as `groupcost diff` has it."""
    network = network or build(doc, dict(variables), input_shape=input_shape, batch=batch)
    report = analyze(network)
    chosen = default_variations(doc, network.variables) if vary is None else dict(vary)
    sweeps = tuple(whatif(doc, {name: values}, device, base=dict(variables), input_shape=input_shape, batch=batch) for name, values in chosen.items())
    verdicts = tuple(check(report, budgets_from_spec(doc.budgets)))
    depth = depth or stage_depth(report)
    return Overview(network, report, device, depth, report.at_depth(depth), blocks(report), sweeps, verdicts)
