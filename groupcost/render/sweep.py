"""Renderers of a what-if sweep (`groupcost whatif`): a table, a terminal chart, JSON, CSV, Markdown."""

from __future__ import annotations

import json

from groupcost.graph.analysis import MACS_RULE, METRICS
from groupcost.render import units
from groupcost.render.documents import sweep_dict
from groupcost.questions.whatif import Outcome, Sweep

HEADER = ("config", "params", "MACs", "traffic", "output mem", "latency", "Δparams", "ΔMACs", "Δtraffic", "Δlatency")
PRIORITIES = (0, 0, 0, 1, 3, 0, 2, 2, 2, 2)
CHART_METRICS = (("MACs", "macs"), ("params", "params"), ("traffic (bytes)", "traffic_bytes"))  # (title, METRICS key)


def note(sweep: Sweep) -> str:
    return (
        f"traffic and activation memory in bytes at the spec's dtype; latency: roofline estimate, Σ over layers of "
        f"max(FLOPs / peak, bytes / bandwidth) on {sweep.device.label()}; Δ against the first row. "
        f"FLOPs = 2 × MACs; {MACS_RULE}."
    )


def _has_matmul(sweep: Sweep) -> bool:
    return any(o.report is not None and o.report.totals.matmul_macs for o in sweep.outcomes)


def _shown(sweep: Sweep, cells: tuple | list, matmul: str) -> list:
    """`cells` with `matmul` after the MACs where the sweep's networks have matmul MACs (attention)."""
    return [*cells[:3], matmul, *cells[3:]] if _has_matmul(sweep) else list(cells)


def _delta(value: float, base: float) -> str:
    return f"{(value - base) / base:+.1%}" if base else "-"


def _cells(sweep: Sweep, o: Outcome) -> list[str]:
    base = sweep.baseline
    if o.report is None or base is None or base.report is None:
        return _shown(sweep, [o.config.label, "not legal ¹", *("-" for _ in HEADER[2:])], "-")
    t, b, bytes_ = o.report.totals, base.report.totals, o.report.dtype_bytes
    return _shown(sweep, [
        o.config.label, units.count(t.params), units.count(t.macs), units.size(t.traffic * bytes_), units.size(t.activations * bytes_),
        units.seconds(o.seconds), _delta(t.params, b.params), _delta(t.macs, b.macs), _delta(t.traffic, b.traffic), _delta(o.seconds, base.seconds),
    ], units.count(t.matmul_macs))


def reasons(sweep: Sweep) -> list[str]:
    return [f"¹ {o.config.label}: {o.reason}" for o in sweep.outcomes if not o.legal]


def _chart_value(metric: str, value: int) -> str:
    return units.size(value) if metric.endswith("_bytes") else units.count(value)


def chart(sweep: Sweep, width: int = 40) -> list[tuple[str, str]]:
    """Bars of MACs, params and traffic per configuration, each scaled to its largest value: (text, style) lines."""
    legal = [o for o in sweep.outcomes if o.report is not None]
    label_width = max((len(o.config.label) for o in legal), default=0)
    lines: list[tuple[str, str]] = []
    for title, metric in CHART_METRICS:
        values = [o.report.metric(metric) for o in legal]  # type: ignore[union-attr]
        top = max(values, default=0)
        lines.append((title, "bold"))
        for o, value in zip(legal, values):
            filled = round(width * value / top) if top else 0
            lines.append((f"  {o.config.label:<{label_width}} {'█' * filled}{'·' * (width - filled)} {_chart_value(metric, value)}", ""))
    return lines


class _Chart:
    """The bars, as wide as the console allows (10 to 40 cells)."""

    def __init__(self, sweep: Sweep):
        self.sweep = sweep

    def _lines(self, max_width: int) -> list[tuple[str, str]]:
        label_width = max((len(o.config.label) for o in self.sweep.outcomes if o.report is not None), default=0)
        return chart(self.sweep, max(10, min(40, max_width - label_width - 14)))

    def __rich_console__(self, console, options):
        from rich.text import Text

        for text, style in self._lines(options.max_width):
            yield Text(text, style=style)

    def plain_lines(self, width: int) -> list[str]:
        return [text for text, _ in self._lines(width)]


def to_table(sweep: Sweep):
    from groupcost.render.blocks import Blocks, Note

    from groupcost.render.grid import Grid

    header = _shown(sweep, HEADER, "matmul MACs")
    table = Grid(
        header,
        [_cells(sweep, o) for o in sweep.outcomes],
        [i > 0 for i in range(len(header))],
        title=f"{sweep.model}: what if {', '.join(sweep.varied) or 'the layer'} changed",
        row_styles=[None if o.legal else "red" for o in sweep.outcomes],
        priorities=_shown(sweep, PRIORITIES, 1),
    )
    return Blocks(table, *(Note(r, style="red") for r in reasons(sweep)), Note(note(sweep), style="dim"), Note(""), _Chart(sweep))


def to_markdown(sweep: Sweep) -> str:
    header = _shown(sweep, HEADER, "matmul MACs")
    lines = units.markdown_table(header, [i > 0 for i in range(len(header))], [_cells(sweep, o) for o in sweep.outcomes])
    notes = [f"{r}  " for r in reasons(sweep)]
    return "\n".join([f"**{sweep.model}: what if**", "", *lines, "", *notes, note(sweep)]) + "\n"


def to_dict(sweep: Sweep) -> dict:
    return sweep_dict(sweep)


def to_json(sweep: Sweep) -> str:
    return json.dumps(sweep_dict(sweep), indent=2) + "\n"


CSV_FIELDS = ("label", "variables", "layer", "groups", "legal", *(m.key for m in METRICS), "latency_s", "reason")


def to_csv(sweep: Sweep) -> str:
    """Every field of the JSON's configurations, one line each."""
    return units.csv_text(CSV_FIELDS, sweep_dict(sweep)["configurations"])


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
