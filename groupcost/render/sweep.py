"""Renderers of a what-if sweep (`groupcost whatif`): a table, a terminal chart, JSON, CSV, Markdown."""

from __future__ import annotations

import json
from dataclasses import dataclass

from groupcost.graph.analysis import MACS_RULE, METRICS
from groupcost.render import units
from groupcost.render.documents import sweep_dict
from groupcost.questions.whatif import Outcome, Sweep
from groupcost.run.roofline import layer_seconds

HEADER = ("config", "params", "MACs", "traffic", "output mem", "latency", "Δparams", "ΔMACs", "Δtraffic", "Δlatency")
# narrow terminals keep what a sweep is for: traffic and latency and their change (ShuffleNet V2's G2), not the
# Δparams and ΔMACs that a G sweep at fixed FLOPs holds flat
PRIORITIES = (0, 4, 2, 0, 5, 0, 5, 5, 1, 1)
CHART_METRICS = (("MACs", "macs"), ("params", "params"), ("traffic (bytes)", "traffic_bytes"))  # (title, METRICS key)


def title(sweep: Sweep) -> str:
    """What changes; a layer sweep names its layer here, once, and its rows only by G."""
    changed = [*sweep.varied, *([f"{sweep.layer}'s G"] if sweep.layer else [])]
    return f"{sweep.model}: what if {' and '.join(changed) or 'the layer'} changed"


def _base_note(sweep: Sweep) -> str:
    """What the Δ columns measure from (Sweep.baseline_of), in words."""
    legal = [o for o in sweep.outcomes if o.legal]
    if sweep.layer is not None and any(o.config.own_groups for o in legal):
        return f"* = the G the spec gives {sweep.layer}; Δ against it" + (" at the same variables" if sweep.varied else "")
    if any(o.config.as_written for o in legal):
        return "* = the spec as written; Δ against it"
    return "Δ against the first legal row"


def note(sweep: Sweep) -> str:
    return (
        f"traffic and activation memory in bytes at the spec's dtype; latency on {sweep.device.label()}: "
        f"{sweep.device.method}; {_base_note(sweep)}. "
        f"FLOPs = 2 × MACs; {MACS_RULE}."
    )


def _has_matmul(sweep: Sweep) -> bool:
    return any(o.report is not None and o.report.totals.matmul_macs for o in sweep.outcomes)


def _shown(sweep: Sweep, cells: tuple | list, matmul: object) -> list:
    """`cells` with `matmul` after the MACs where the sweep's networks have matmul MACs (attention)."""
    return [*cells[:3], matmul, *cells[3:]] if _has_matmul(sweep) else list(cells)


def _delta(value: float, base: float) -> str:
    return f"{(value - base) / base:+.1%}" if base else "-"


def label(o: Outcome) -> str:
    return o.config.short_label


def _cells(sweep: Sweep, o: Outcome, base: Outcome | None) -> list[str]:
    if o.report is None or base is None or base.report is None:
        return _shown(sweep, [label(o), "not legal ¹", *("-" for _ in HEADER[2:])], "-")
    t, b, bytes_ = o.report.totals, base.report.totals, o.report.dtype_bytes
    return _shown(sweep, [
        label(o), units.count(t.params), units.count(t.macs), units.size(t.traffic * bytes_), units.size(t.activations * bytes_),
        units.seconds(o.seconds), _delta(t.params, b.params), _delta(t.macs, b.macs), _delta(t.traffic, b.traffic), _delta(o.seconds, base.seconds),
    ], units.count(t.matmul_macs))


def rows(sweep: Sweep) -> list[list[str]]:
    return [_cells(sweep, o, sweep.baseline_of(o)) for o in sweep.outcomes]


def header(sweep: Sweep) -> list[str]:
    return _shown(sweep, HEADER, "matmul MACs")


def reasons(sweep: Sweep) -> list[str]:
    return [f"¹ {label(o)}: {o.reason}" for o in sweep.outcomes if not o.legal]


@dataclass(frozen=True)
class Figure:
    """One panel of the sweep's charts: a quantity over the legal configurations, in the tables' units."""

    title: str
    unit: str  # count | bytes | seconds
    values: tuple[float, ...]

    def shown(self, value: float) -> str:
        return {"count": units.count, "bytes": units.size, "seconds": units.seconds}[self.unit](value)  # type: ignore[operator]


def figures(sweep: Sweep) -> list[Figure]:
    """MACs, params, traffic and estimated latency per legal configuration: of the one layer in a `--layer` sweep (the
    network's totals hardly move there), else of the whole network."""
    legal = [o for o in sweep.outcomes if o.report is not None]
    if sweep.layer is not None:
        rows = [next(r for r in o.report.rows if r.name == sweep.layer) for o in legal]  # type: ignore[union-attr]
        bytes_ = [o.report.dtype_bytes for o in legal]  # type: ignore[union-attr]
        what = f"{sweep.layer}: "
        return [
            Figure(f"{what}MACs", "count", tuple(r.macs for r in rows)),
            Figure(f"{what}params", "count", tuple(r.params for r in rows)),
            Figure(f"{what}traffic (bytes)", "bytes", tuple(r.traffic * b for r, b in zip(rows, bytes_))),
            Figure(f"{what}est. latency", "seconds", tuple(layer_seconds(o.report, sweep.device)[sweep.layer] for o in legal)),  # type: ignore[arg-type]
        ]
    return [Figure(title, "bytes" if metric.endswith("_bytes") else "count", tuple(o.report.metric(metric) for o in legal))  # type: ignore[union-attr]
            for title, metric in CHART_METRICS] + [Figure("est. latency", "seconds", tuple(o.seconds or 0.0 for o in legal))]


def chart(sweep: Sweep, width: int = 40) -> list[tuple[str, str]]:
    """Bars of each figure per configuration, each scaled to its largest value: (text, style) lines."""
    labels = [label(o) for o in sweep.outcomes if o.report is not None]
    label_width = max((len(text) for text in labels), default=0)
    lines: list[tuple[str, str]] = []
    for figure in figures(sweep):
        top = max(figure.values, default=0)
        lines.append((figure.title, "bold"))
        for text, value in zip(labels, figure.values):
            filled = round(width * value / top) if top else 0
            lines.append((f"  {text:<{label_width}} {'█' * filled}{'·' * (width - filled)} {figure.shown(value)}", ""))
    return lines


class _Chart:
    """The bars, as wide as the console allows (10 to 40 cells)."""

    def __init__(self, sweep: Sweep):
        self.sweep = sweep

    def _lines(self, max_width: int) -> list[tuple[str, str]]:
        label_width = max((len(label(o)) for o in self.sweep.outcomes if o.report is not None), default=0)
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

    columns = header(sweep)
    table = Grid(
        columns,
        rows(sweep),
        [i > 0 for i in range(len(columns))],
        title=title(sweep),
        row_styles=[None if o.legal else "red" for o in sweep.outcomes],
        priorities=_shown(sweep, PRIORITIES, 2),
    )
    return Blocks(table, *(Note(r, style="red") for r in reasons(sweep)), Note(note(sweep), style="dim"), Note(""), _Chart(sweep))


def to_markdown(sweep: Sweep) -> str:
    columns = header(sweep)
    lines = units.markdown_table(columns, [i > 0 for i in range(len(columns))], rows(sweep))
    notes = [f"{r}  " for r in reasons(sweep)]
    return "\n".join([f"**{title(sweep)}**", "", *lines, "", *notes, note(sweep)]) + "\n"


def to_dict(sweep: Sweep) -> dict:
    return sweep_dict(sweep)


def to_json(sweep: Sweep) -> str:
    return json.dumps(sweep_dict(sweep), indent=2) + "\n"


CSV_FIELDS = ("label", "variables", "layer", "groups", "legal", *(m.key for m in METRICS), "latency_s", "reason")


def to_csv(sweep: Sweep) -> str:
    """Every field of the JSON's configurations, one line each."""
    return units.csv_text(CSV_FIELDS, sweep_dict(sweep)["configurations"])


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
