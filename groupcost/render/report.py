"""Renderers of an analysis Report: rich table, JSON, CSV and Markdown. They format; they never compute costs."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

from groupcost import __version__
from groupcost.analysis import CONVENTION, Report, Row
from groupcost.render import units

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Column:
    """One column of the per-layer views: its title and how a row's value reads to a person."""

    key: str
    title: str
    human: Callable[[Row, Report], str]
    numeric: bool = True


COLUMNS = (
    Column("name", "layer", lambda r, _: r.name, numeric=False),
    Column("type", "type", lambda r, _: r.type, numeric=False),
    Column("out_shape", "output", lambda r, _: units.shape(r.out_shape), numeric=False),
    Column("groups", "G", lambda r, _: "" if r.groups is None else str(r.groups)),
    Column("params", "params", lambda r, _: units.count(r.params)),
    Column("macs", "MACs", lambda r, _: units.count(r.macs)),
    Column("mac_share", "% MACs", lambda r, rep: units.share(r.macs, rep.totals.macs)),
    Column("activations", "activations", lambda r, _: units.count(r.activations)),
)


def title(report: Report) -> str:
    variables = ", ".join(f"{k}={v}" for k, v in report.variables.items())
    return (
        f"{report.model} — input {units.shape(report.input_shape)}, batch {report.batch}, {report.dtype}"
        + (f" ({variables})" if variables else "")
    )


def summary_lines(report: Report) -> list[str]:
    t, b = report.totals, report.dtype_bytes
    return [
        f"params {t.params:,} ({units.size(t.params * b)} at {report.dtype}) · MACs {t.macs:,} (FLOPs = 2 × MACs = {units.count(t.flops)})",
        f"activations {t.activations:,} elements ({units.size(t.activations * b)}), largest {units.size(t.peak_activation * b)} · memory traffic {units.size(t.traffic * b)}",
        "MACs count conv + linear only (no bias, BN, activation, pooling or add); params as PyTorch counts them.",
    ]


def to_table(report: Report):
    """A rich renderable: the per-layer table, a totals row, and the convention."""
    from rich.console import Group
    from rich.text import Text

    from groupcost.render.grid import Grid

    totals = {"name": "total", "params": units.count(report.totals.params), "macs": units.count(report.totals.macs),
              "mac_share": "100%" if report.totals.macs else "-", "activations": units.count(report.totals.activations)}
    grid = Grid(
        headers=[c.title for c in COLUMNS],
        rows=[[c.human(row, report) for c in COLUMNS] for row in report.rows],
        right_aligned=[c.numeric for c in COLUMNS],
        footer=[totals.get(c.key, "") for c in COLUMNS],
        title=title(report),
    )
    return Group(grid, *(Text(line, style="dim" if i == 2 else "") for i, line in enumerate(summary_lines(report))))


def to_markdown(report: Report) -> str:
    header = [c.title for c in COLUMNS]
    align = ["---:" if c.numeric else ":---" for c in COLUMNS]
    lines = [f"**{title(report)}**", "", "| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c.human(row, report).replace("|", "\\|") for c in COLUMNS) + " |" for row in report.rows]
    lines += ["", *(f"{line}  " for line in summary_lines(report))]
    return "\n".join(lines).rstrip() + "\n"


def to_dict(report: Report) -> dict:
    """The JSON document (schema_version 1): exact integers, metric names spelled out."""
    b, t = report.dtype_bytes, report.totals
    return {
        "schema_version": SCHEMA_VERSION,
        "groupcost_version": __version__,
        "model": report.model,
        "source": report.source,
        "input_shape": list(report.input_shape),
        "output_shape": list(report.output_shape),
        "batch": report.batch,
        "dtype": report.dtype,
        "dtype_bytes": b,
        "variables": report.variables,
        "convention": CONVENTION,
        "totals": {
            "params": t.params,
            "weights": t.weights,
            "macs": t.macs,
            "flops": t.flops,
            "activations": t.activations,
            "activation_bytes": t.activations * b,
            "peak_activation": t.peak_activation,
            "peak_activation_bytes": t.peak_activation * b,
            "weight_bytes": t.params * b,
            "traffic": t.traffic,
            "traffic_bytes": t.traffic * b,
        },
        "layers": [
            {
                "name": r.name,
                "type": r.type,
                "out_shape": list(r.out_shape),
                "groups": r.groups,
                "params": r.params,
                "weights": r.weights,
                "macs": r.macs,
                "activations": r.activations,
                "activation_bytes": r.activations * b,
                "traffic": r.traffic,
                "traffic_bytes": r.traffic * b,
            }
            for r in report.rows
        ],
    }


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"


CSV_FIELDS = ("name", "type", "out_shape", "groups", "params", "weights", "macs", "activations", "activation_bytes", "traffic", "traffic_bytes")


def to_csv(report: Report) -> str:
    """One row per layer with exact integers, then a `total` row; shapes as C×H×W."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    document = to_dict(report)
    for layer in document["layers"]:
        writer.writerow([units.shape(v) if k == "out_shape" else ("" if v is None else v) for k, v in ((f, layer[f]) for f in CSV_FIELDS)])
    t = document["totals"]
    writer.writerow(["total", "", units.shape(report.output_shape), "", t["params"], t["weights"], t["macs"], t["activations"], t["activation_bytes"], t["traffic"], t["traffic_bytes"]])
    return out.getvalue()


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
