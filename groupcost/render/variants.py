"""Renderers of a group sweep of one convolution (`groupcost layer`)."""

from __future__ import annotations

import json

from groupcost.render.documents import LAYER_DTYPE_BYTES, group_sweep_dict
from groupcost.render import units
from groupcost.questions.compare import GroupSweep, Variant

HEADER = ("G", "output", "params", "MACs", "traffic", "params×", "MACs×", "traffic×")
PRIORITIES = (0, 0, 0, 0, 0, 1, 1, 1)
NOTE = ("MACs = C_out·(C_in/G)·K_h·K_w·H_out·W_out (FLOPs = 2 × MACs); traffic = input + output + weights, in bytes at float32; "
        "× = ratio to G=1.")
FORMULA = {1: "C_out·(C_in/G)·K·L_out", 3: "C_out·(C_in/G)·K_t·K_h·K_w·T_out·H_out·W_out"}  # 1-D and 3-D; NOTE's is 2-D


def note(sweep: GroupSweep) -> str:
    rank = len(sweep.question.in_shape) - 1
    return NOTE.replace("C_out·(C_in/G)·K_h·K_w·H_out·W_out", FORMULA[rank]) if rank in FORMULA else NOTE


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
    return [variant.label, units.shape(variant.out_shape), units.count(p), units.count(m), units.size(t * LAYER_DTYPE_BYTES),
            ratio(p, base.total("params")), ratio(m, base.total("macs")), ratio(t, base.total("traffic"))]


def to_table(sweep: GroupSweep):
    from groupcost.render.blocks import Blocks, Note

    from groupcost.render.grid import Grid

    table = Grid(
        headers=HEADER,
        rows=[_cells(v, sweep.baseline) for v in sweep.variants],
        right_aligned=[i > 1 for i in range(len(HEADER))],
        title=title(sweep),
        row_styles=[None if v.legal else "red" for v in sweep.variants],
        priorities=PRIORITIES,
    )
    reasons = [Note(why_not(v), style="red") for v in sweep.variants if not v.legal]
    return Blocks(table, *reasons, Note(note(sweep), style="dim"))


def to_markdown(sweep: GroupSweep) -> str:
    lines = [f"**{title(sweep)}**", "", *units.markdown_table(HEADER, [i > 1 for i in range(len(HEADER))], [_cells(v, sweep.baseline) for v in sweep.variants])]
    reasons = [f"- {why_not(v)}" for v in sweep.variants if not v.legal]
    return "\n".join([*lines, "", *reasons, *([""] if reasons else []), note(sweep)]) + "\n"


def to_dict(sweep: GroupSweep) -> dict:
    return group_sweep_dict(sweep)


def to_json(sweep: GroupSweep) -> str:
    return json.dumps(group_sweep_dict(sweep), indent=2) + "\n"


CSV_FIELDS = ("g", "groups", "legal", "out_shape", "params", "weights", "macs", "activation_elements", "traffic_elements", "traffic_bytes",
              "reason", "nearest_legal")


def to_csv(sweep: GroupSweep) -> str:
    return units.csv_text(CSV_FIELDS, group_sweep_dict(sweep)["variants"])


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
