"""Renderers of a group sweep of one convolution (`groupcost layer`)."""

from __future__ import annotations

import csv
import io
import json

from groupcost import __version__
from groupcost.analysis import CONVENTION
from groupcost.render import units
from groupcost.variants import GroupSweep, Variant

SCHEMA_VERSION = 1
HEADER = ("G", "output", "params", "MACs", "traffic", "params×", "MACs×", "traffic×")
NOTE = "MACs = C_out·(C_in/G)·K_h·K_w·H_out·W_out (FLOPs = 2 × MACs); traffic = input + output + weights; × = ratio to G=1."


def title(sweep: GroupSweep) -> str:
    q = sweep.question
    pads = q.p if isinstance(q.p, str) else list(q.p)
    return (
        f"conv {units.shape(q.in_shape)} → {q.out}, k={units.shape(q.k)}, s={units.shape(q.s)}, p={pads}, d={units.shape(q.d)}, "
        f"{'with' if q.bias else 'no'} bias"
    )


def why_not(variant: Variant) -> str:
    legal = ", ".join(map(str, variant.nearest_legal))
    return f"G={variant.label} is not legal: {variant.reason}" + (f"; nearest legal G: {legal}" if legal else "")


def ratio(value: int, base: int) -> str:
    return f"{value / base:.3f}" if base else "-"


def _cells(variant: Variant, base: Variant) -> list[str]:
    if not variant.legal:
        return [variant.label, "not legal", "-", "-", "-", "-", "-", "-"]
    p, m, t = (variant.total(k) for k in ("params", "macs", "traffic"))
    return [variant.label, units.shape(variant.out_shape), units.count(p), units.count(m), units.count(t),
            ratio(p, base.total("params")), ratio(m, base.total("macs")), ratio(t, base.total("traffic"))]


def to_table(sweep: GroupSweep):
    from rich.console import Group
    from rich.text import Text

    from groupcost.render.grid import Grid

    table = Grid(
        headers=HEADER,
        rows=[_cells(v, sweep.baseline) for v in sweep.variants],
        right_aligned=[i > 1 for i in range(len(HEADER))],
        title=title(sweep),
        row_styles=[None if v.legal else "red" for v in sweep.variants],
    )
    reasons = [Text(why_not(v), style="red") for v in sweep.variants if not v.legal]
    return Group(table, *reasons, Text(NOTE, style="dim"))


def to_markdown(sweep: GroupSweep) -> str:
    lines = [f"**{title(sweep)}**", "", "| " + " | ".join(HEADER) + " |", "| :--- | :--- |" + " ---: |" * 6]
    lines += ["| " + " | ".join(_cells(v, sweep.baseline)) + " |" for v in sweep.variants]
    reasons = [f"- {why_not(v)}" for v in sweep.variants if not v.legal]
    return "\n".join([*lines, "", *reasons, *([""] if reasons else []), NOTE]) + "\n"


def variant_dict(variant: Variant) -> dict:
    if not variant.legal:
        return {"legal": False, "reason": variant.reason, "nearest_legal": list(variant.nearest_legal)}
    return {
        "legal": True,
        "out_shape": list(variant.out_shape),
        **{metric: variant.total(metric) for metric in ("params", "weights", "macs", "activations", "traffic")},
    }


def _groups(sweep: GroupSweep, label: str) -> int:
    return sweep.question.in_shape[0] if label == "dw" else int(label)


def to_dict(sweep: GroupSweep) -> dict:
    q = sweep.question
    return {
        "schema_version": SCHEMA_VERSION,
        "groupcost_version": __version__,
        "conv": {"in_shape": list(q.in_shape), "out": q.out, "k": list(q.k), "s": list(q.s), "p": q.p if isinstance(q.p, str) else list(q.p), "d": list(q.d), "bias": q.bias},
        "convention": {k: CONVENTION[k] for k in ("macs", "params", "weights", "activations", "traffic")},
        "variants": [{"g": v.label, "groups": _groups(sweep, v.label), **variant_dict(v)} for v in sweep.variants],
    }


def to_json(sweep: GroupSweep) -> str:
    return json.dumps(to_dict(sweep), indent=2) + "\n"


def to_csv(sweep: GroupSweep) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("g", "groups", "legal", "out_shape", "params", "macs", "traffic", "reason"))
    for v in sweep.variants:
        groups = _groups(sweep, v.label)
        if v.legal:
            writer.writerow((v.label, groups, "true", units.shape(v.out_shape), v.total("params"), v.total("macs"), v.total("traffic"), ""))
        else:
            writer.writerow((v.label, groups, "false", "", "", "", "", v.reason))
    return out.getvalue()


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
