"""Renderers of a group sweep of one convolution (`groupcost layer`)."""

from __future__ import annotations

import csv
import io
import json

from groupcost import __version__
from groupcost.analysis import CONVENTION
from groupcost.render import units
from groupcost.variants import GroupSweep, GroupVariant

SCHEMA_VERSION = 1
HEADER = ("G", "output", "params", "MACs", "traffic", "params×", "MACs×", "traffic×")


def title(sweep: GroupSweep) -> str:
    q = sweep.question
    pads = q.p if isinstance(q.p, str) else list(q.p)
    return (
        f"conv {units.shape(q.in_shape)} → {q.out}, k={units.shape(q.k)}, s={units.shape(q.s)}, p={pads}, d={units.shape(q.d)}, "
        f"{'with' if q.bias else 'no'} bias"
    )


NOTE = "MACs = C_out·(C_in/G)·K_h·K_w·H_out·W_out (FLOPs = 2 × MACs); traffic = input + output + weights; × = ratio to G=1."


def _ratio(value: int, base: int) -> str:
    return f"{value / base:.3f}" if base else "-"


def why_not(variant: GroupVariant) -> str:
    legal = ", ".join(map(str, variant.nearest_legal))
    return f"G={variant.label} is not legal: {variant.reason}" + (f"; nearest legal G: {legal}" if legal else "")


def _cells(variant: GroupVariant, sweep: GroupSweep) -> list[str]:
    if variant.row is None:
        return [variant.label, "not legal", "-", "-", "-", "-", "-", "-"]
    r, b = variant.row, sweep.baseline
    return [variant.label, units.shape(r.out_shape), units.count(r.params), units.count(r.macs), units.count(r.traffic),
            _ratio(r.params, b.params), _ratio(r.macs, b.macs), _ratio(r.traffic, b.traffic)]


def to_table(sweep: GroupSweep):
    from rich.console import Group
    from rich.text import Text

    from groupcost.render.grid import Grid

    table = Grid(
        headers=HEADER,
        rows=[_cells(v, sweep) for v in sweep.variants],
        right_aligned=[i > 1 for i in range(len(HEADER))],
        title=title(sweep),
        row_styles=["red" if v.row is None else None for v in sweep.variants],
    )
    reasons = [Text(why_not(v), style="red") for v in sweep.variants if v.row is None]
    return Group(table, *reasons, Text(NOTE, style="dim"))


def to_markdown(sweep: GroupSweep) -> str:
    lines = [f"**{title(sweep)}**", "", "| " + " | ".join(HEADER) + " |", "| :--- | :--- |" + " ---: |" * 6]
    lines += ["| " + " | ".join(_cells(v, sweep)) + " |" for v in sweep.variants]
    reasons = [f"- {why_not(v)}" for v in sweep.variants if v.row is None]
    return "\n".join([*lines, "", *reasons, *([""] if reasons else []), NOTE]) + "\n"


def to_dict(sweep: GroupSweep) -> dict:
    q = sweep.question
    return {
        "schema_version": SCHEMA_VERSION,
        "groupcost_version": __version__,
        "conv": {"in_shape": list(q.in_shape), "out": q.out, "k": list(q.k), "s": list(q.s), "p": q.p if isinstance(q.p, str) else list(q.p), "d": list(q.d), "bias": q.bias},
        "convention": {k: CONVENTION[k] for k in ("macs", "params", "traffic")},
        "variants": [
            {"g": v.label, "groups": v.groups, "legal": False, "reason": v.reason, "nearest_legal": list(v.nearest_legal)}
            if v.row is None
            else {"g": v.label, "groups": v.groups, "legal": True, "out_shape": list(v.row.out_shape), "params": v.row.params, "macs": v.row.macs, "traffic": v.row.traffic}
            for v in sweep.variants
        ],
    }


def to_json(sweep: GroupSweep) -> str:
    return json.dumps(to_dict(sweep), indent=2) + "\n"


def to_csv(sweep: GroupSweep) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("g", "groups", "legal", "out_shape", "params", "macs", "traffic", "reason"))
    for v in sweep.variants:
        if v.row is None:
            writer.writerow((v.label, v.groups, "false", "", "", "", "", v.reason))
        else:
            writer.writerow((v.label, v.groups, "true", units.shape(v.row.out_shape), v.row.params, v.row.macs, v.row.traffic, ""))
    return out.getvalue()


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
