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
from groupcost.roofline import Device, intensity, report_seconds, row_seconds

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


def columns(traffic: bool, device: Device | None) -> tuple[Column, ...]:
    """The standard columns, plus traffic and intensity, plus the roofline estimate, when asked."""
    extra: list[Column] = []
    if traffic:
        extra += [
            Column("traffic_bytes", "traffic", lambda r, rep: units.size(r.traffic * rep.dtype_bytes)),
            Column("intensity", "FLOP/B", lambda r, rep: f"{intensity(r.macs, r.traffic, rep.dtype_bytes):.1f}"),
        ]
    if device is not None:
        extra.append(Column("latency_s", "est. latency", lambda r, rep: units.seconds(row_seconds(r, rep.dtype_bytes, device))))
    return COLUMNS + tuple(extra)


def title(report: Report) -> str:
    variables = ", ".join(f"{k}={v}" for k, v in report.variables.items())
    return (
        f"{report.model} — input {units.shape(report.input_shape)}, batch {report.batch}, {report.dtype}"
        + (f" ({variables})" if variables else "")
    )


def summary_lines(report: Report, device: Device | None = None) -> list[str]:
    t, b = report.totals, report.dtype_bytes
    roofline = [] if device is None else [
        f"est. latency {units.seconds(report_seconds(report, device))} on {device.label()}: Σ max(FLOPs / peak, bytes / bandwidth) over layers"
    ]
    return roofline + [
        f"params {t.params:,} ({units.size(t.params * b)} at {report.dtype}) · MACs {t.macs:,} (FLOPs = 2 × MACs = {units.count(t.flops)})",
        f"activations {t.activations:,} elements ({units.size(t.activations * b)}), largest {units.size(t.peak_activation * b)} · memory traffic {units.size(t.traffic * b)}",
        *report.notes,
        "MACs count conv + linear only (no bias, BN, activation, pooling or add); params as PyTorch counts them.",
    ]


def to_table(report: Report, traffic: bool = False, device: Device | None = None):
    """A rich renderable: the per-layer table, a totals row, and the convention."""
    from rich.console import Group
    from rich.text import Text

    from groupcost.render.grid import Grid

    shown = columns(traffic, device)
    grid = Grid(
        headers=[c.title for c in shown],
        rows=[[c.human(row, report) for c in shown] for row in report.rows],
        right_aligned=[c.numeric for c in shown],
        footer=[_total(c.key, report, device) for c in shown],
        title=title(report),
    )
    lines = summary_lines(report, device)
    return Group(grid, *(Text(line, style="dim" if i == len(lines) - 1 else "") for i, line in enumerate(lines)))


def _total(key: str, report: Report, device: Device | None) -> str:
    t, b = report.totals, report.dtype_bytes
    return {
        "name": "total",
        "params": units.count(t.params),
        "macs": units.count(t.macs),
        "mac_share": "100%" if t.macs else "-",
        "activations": units.count(t.activations),
        "traffic_bytes": units.size(t.traffic * b),
        "intensity": f"{intensity(t.macs, t.traffic, b):.1f}",
        "latency_s": units.seconds(report_seconds(report, device)) if device else "",
    }.get(key, "")


def to_markdown(report: Report, traffic: bool = False, device: Device | None = None) -> str:
    shown = columns(traffic, device)
    header = [c.title for c in shown]
    align = ["---:" if c.numeric else ":---" for c in shown]
    lines = [f"**{title(report)}**", "", "| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c.human(row, report).replace("|", "\\|") for c in shown) + " |" for row in report.rows]
    lines += ["| " + " | ".join(f"**{_total(c.key, report, device)}**" if _total(c.key, report, device) else "" for c in shown) + " |"]
    lines += ["", *(f"{line}  " for line in summary_lines(report, device))]
    return "\n".join(lines).rstrip() + "\n"


def to_dict(report: Report, traffic: bool = False, device: Device | None = None) -> dict:
    """The JSON document (schema_version 1): exact integers, metric names spelled out.

    Traffic is always there; with a device, each layer gains `latency_s` and the document a `roofline`.
    """
    b, t = report.dtype_bytes, report.totals
    document = {
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
        **({"notes": list(report.notes)} if report.notes else {}),
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
    if device is not None:
        document["roofline"] = {
            "device": device.name, "peak_tflops": device.peak_tflops, "bandwidth_gbs": device.bandwidth_gbs, "source": device.source,
            "latency_s": report_seconds(report, device), "estimate": "sum over layers of max(FLOPs / peak, bytes / bandwidth)",
        }
        for layer, row in zip(document["layers"], report.rows):
            layer["latency_s"] = row_seconds(row, b, device)
    return document


def to_json(report: Report, traffic: bool = False, device: Device | None = None) -> str:
    return json.dumps(to_dict(report, device=device), indent=2) + "\n"


CSV_FIELDS = ("name", "type", "out_shape", "groups", "params", "weights", "macs", "activations", "activation_bytes", "traffic", "traffic_bytes")


def to_csv(report: Report, traffic: bool = False, device: Device | None = None) -> str:
    """One row per layer with exact integers, then a `total` row; shapes as C×H×W (traffic always included)."""
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
