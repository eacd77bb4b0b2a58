"""Renderers of a what-if sweep (`groupcost whatif`): a table, a terminal chart, JSON, CSV, Markdown."""

from __future__ import annotations

import csv
import io
import json

from groupcost import __version__
from groupcost.analysis import CONVENTION
from groupcost.render import units
from groupcost.sweep import Outcome, Sweep

SCHEMA_VERSION = 1
HEADER = ("config", "params", "MACs", "traffic", "act. mem", "latency", "Δparams", "ΔMACs", "Δtraffic", "Δlatency")
CHART_METRICS = (("MACs", "macs"), ("params", "params"), ("traffic (elements)", "traffic"))


def note(sweep: Sweep) -> str:
    return (
        f"traffic and activation memory in bytes at the spec's dtype; latency: roofline estimate, Σ over layers of "
        f"max(FLOPs / peak, bytes / bandwidth) on {sweep.device.label()}; Δ against the first row. "
        "FLOPs = 2 × MACs; MACs are conv + linear only."
    )


def _delta(value: float, base: float) -> str:
    return f"{(value - base) / base:+.1%}" if base else "-"


def _cells(o: Outcome, base: Outcome | None) -> list[str]:
    if o.report is None or base is None or base.report is None:
        return [o.config.label, "not legal ¹", *("-" for _ in HEADER[2:])]
    t, b, bytes_ = o.report.totals, base.report.totals, o.report.dtype_bytes
    return [
        o.config.label, units.count(t.params), units.count(t.macs), units.size(t.traffic * bytes_), units.size(t.activations * bytes_),
        units.seconds(o.seconds), _delta(t.params, b.params), _delta(t.macs, b.macs), _delta(t.traffic, b.traffic), _delta(o.seconds, base.seconds),
    ]


def reasons(sweep: Sweep) -> list[str]:
    return [f"¹ {o.config.label}: {o.reason}" for o in sweep.outcomes if not o.legal]


def chart(sweep: Sweep, width: int = 40) -> list[tuple[str, str]]:
    """Bars of MACs, params and traffic per configuration, each scaled to its largest value: (text, style) lines."""
    legal = [o for o in sweep.outcomes if o.report is not None]
    label_width = max((len(o.config.label) for o in legal), default=0)
    lines: list[tuple[str, str]] = []
    for title, metric in CHART_METRICS:
        values = [getattr(o.report.totals, metric) for o in legal]  # type: ignore[union-attr]
        top = max(values, default=0)
        lines.append((title, "bold"))
        for o, value in zip(legal, values):
            filled = round(width * value / top) if top else 0
            lines.append((f"  {o.config.label:<{label_width}} {'█' * filled}{'·' * (width - filled)} {units.count(value)}", ""))
    return lines


def to_table(sweep: Sweep):
    from rich.console import Group
    from rich.text import Text

    from groupcost.render.grid import Grid

    table = Grid(
        HEADER,
        [_cells(o, sweep.baseline) for o in sweep.outcomes],
        [i > 0 for i in range(len(HEADER))],
        title=f"{sweep.model}: what if {', '.join(sweep.varied) or 'the layer'} changed",
        row_styles=[None if o.legal else "red" for o in sweep.outcomes],
    )
    bars = [Text(text, style=style) for text, style in chart(sweep)]
    return Group(table, *(Text(r, style="red") for r in reasons(sweep)), Text(note(sweep), style="dim"), Text(""), *bars)


def to_markdown(sweep: Sweep) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "| :--- |" + " ---: |" * (len(HEADER) - 1)]
    lines += ["| " + " | ".join(_cells(o, sweep.baseline)) + " |" for o in sweep.outcomes]
    notes = [f"{r}  " for r in reasons(sweep)]
    return "\n".join([f"**{sweep.model}: what if**", "", *lines, "", *notes, note(sweep)]) + "\n"


def to_dict(sweep: Sweep) -> dict:
    d = sweep.device
    rows = []
    for o in sweep.outcomes:
        row: dict = {"variables": o.config.variables, "layer": o.config.layer, "groups": o.config.groups, "legal": o.legal}
        if o.report is None:
            row["reason"] = o.reason
        else:
            t, b = o.report.totals, o.report.dtype_bytes
            row.update(params=t.params, weights=t.weights, macs=t.macs, flops=t.flops, activations=t.activations,
                       activation_bytes=t.activations * b, traffic=t.traffic, traffic_bytes=t.traffic * b, latency_s=o.seconds)
        rows.append(row)
    return {
        "schema_version": SCHEMA_VERSION,
        "groupcost_version": __version__,
        "model": sweep.model,
        "varied": list(sweep.varied),
        "convention": {**CONVENTION, "latency_s": "roofline estimate, seconds: sum over layers of max(FLOPs / peak, bytes / bandwidth)"},
        "device": {"name": d.name, "peak_tflops": d.peak_tflops, "bandwidth_gbs": d.bandwidth_gbs, "source": d.source},
        "configurations": rows,
    }


def to_json(sweep: Sweep) -> str:
    return json.dumps(to_dict(sweep), indent=2) + "\n"


CSV_FIELDS = ("configuration", "legal", "params", "macs", "activations", "traffic", "traffic_bytes", "latency_s", "reason")


def to_csv(sweep: Sweep) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for o, row in zip(sweep.outcomes, to_dict(sweep)["configurations"]):
        writer.writerow([o.config.label, str(o.legal).lower(), *(row.get(k, "") for k in CSV_FIELDS[2:])])
    return out.getvalue()


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
