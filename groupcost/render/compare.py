"""Renderers of a network comparison (`groupcost compare`): per-layer variants, heads, totals."""

from __future__ import annotations

import json

from groupcost.graph.analysis import MACS_RULE
from groupcost.render import units
from groupcost.render.documents import comparison_dict
from groupcost.render.variants import ratio
from groupcost.run.roofline import intensity
from groupcost.questions.compare import Comparison, LayerComparison, Scenario, Variant

LAYER_HEADER = ("layer", "variant", "output", "params", "MACs", "traffic", "FLOP/B", "params×", "MACs×", "traffic×")
LAYER_PRIORITIES = (0, 0, 3, 0, 0, 1, 3, 2, 2, 2)
SCENARIO_HEADER = ("network", "params", "MACs", "traffic", "output mem", "params×", "MACs×", "traffic×", "note")
SCENARIO_PRIORITIES = (0, 0, 0, 1, 3, 2, 2, 2, 0)
NOTE = (
    "* = as the spec has it; × = ratio to the standard convolution (to the spec as written for whole networks); traffic = input + output + weights, "
    "in bytes; FLOP/B = arithmetic intensity (FLOPs = 2 × MACs). dw-separable = depthwise K×K + pointwise 1×1, both counted. "
    f"{MACS_RULE}."
)


def matmul_note(c: Comparison) -> list[str]:
    """The network's matmul MACs, where it has any: no variant of a convolution changes them."""
    matmul = c.scenarios[0].totals.matmul_macs
    return [f"matmul MACs {matmul:,} in every network above (products of two activations: no convolution variant changes them)"] if matmul else []


def _variant_cells(name: str, v: Variant, base: Variant, dtype_bytes: int, written: Variant) -> list[str]:
    if not v.legal:
        return [name, v.label, "not legal ¹", "-", "-", "-", "-", "-", "-", "-"]
    p, m, t = (v.total(k) for k in ("params", "macs", "traffic"))
    mark = " *" if (p, m, t) == tuple(written.total(k) for k in ("params", "macs", "traffic")) else ""
    return [name, v.label + mark, units.shape(v.out_shape), units.count(p), units.count(m), units.size(t * dtype_bytes),
            f"{intensity(m, t, dtype_bytes):.1f}", ratio(p, base.total("params")), ratio(m, base.total("macs")), ratio(t, base.total("traffic"))]


def _layer_rows(comparison: LayerComparison, dtype_bytes: int) -> list[list[str]]:
    base = comparison.variants[0] if comparison.variants[0].legal else comparison.written
    return [_variant_cells(comparison.name if i == 0 else "", v, base, dtype_bytes, comparison.written) for i, v in enumerate(comparison.variants)]


def _scenario_cells(s: Scenario, written: Scenario, dtype_bytes: int) -> list[str]:
    t, w = s.totals, written.totals
    note = f"{len(s.illegal)} kept as written ²" if s.illegal else ""
    return [s.label, units.count(t.params), units.count(t.macs), units.size(t.traffic * dtype_bytes), units.size(t.activations * dtype_bytes),
            ratio(t.params, w.params), ratio(t.macs, w.macs), ratio(t.traffic, w.traffic), note]


def footnotes(c: Comparison) -> list[str]:
    """Why variants are not legal, grouped by reason so that a long network stays readable."""
    by_reason: dict[str, list[str]] = {}
    for layer in c.layers:
        for v in layer.variants:
            if not v.legal:
                hint = f"; nearest legal G: {', '.join(map(str, v.nearest_legal))}" if v.nearest_legal else ""
                by_reason.setdefault(f"{v.label}: {v.reason}{hint}", []).append(layer.name)
    notes = [f"¹ {reason} — {', '.join(names)}" for reason, names in by_reason.items()]
    notes += [f"² {s.label}: not legal in {', '.join(s.illegal)}" for s in c.scenarios if s.illegal]
    return notes


def to_table(c: Comparison):
    from groupcost.render.blocks import Blocks, Note

    from groupcost.render.grid import Grid

    parts = []
    if c.layers:
        rows = [cells for layer in c.layers for cells in _layer_rows(layer, c.dtype_bytes)]
        parts.append(Grid(LAYER_HEADER, rows, [i > 2 for i in range(len(LAYER_HEADER))], title=f"{c.model}: convolution variants",
                          priorities=LAYER_PRIORITIES))
    else:
        parts.append(Note("no standard or pointwise convolution matches", style="yellow"))
    if c.heads:
        rows = [cells for head in c.heads for cells in _layer_rows(head, c.dtype_bytes)]
        parts.append(Grid(LAYER_HEADER, rows, [i > 2 for i in range(len(LAYER_HEADER))], title="heads: reducing a whole plane to 1×1",
                          priorities=LAYER_PRIORITIES))
    rows = [_scenario_cells(s, c.scenarios[0], c.dtype_bytes) for s in c.scenarios]
    parts.append(Grid(SCENARIO_HEADER, rows, [0 < i < 8 for i in range(len(SCENARIO_HEADER))], title="whole network, every selected convolution built one way",
                      priorities=SCENARIO_PRIORITIES))
    return Blocks(*parts, *(Note(note, style="red") for note in footnotes(c)), *(Note(note) for note in matmul_note(c)), Note(NOTE, style="dim"))


def to_markdown(c: Comparison) -> str:
    def table(header, rows) -> list[str]:
        return [*units.markdown_table(header, [i > 2 for i in range(len(header))] if header is LAYER_HEADER else [0 < i < 8 for i in range(len(header))], rows), ""]

    lines = [f"**{c.model}: convolution variants**", ""]
    lines += table(LAYER_HEADER, [cells for layer in c.layers for cells in _layer_rows(layer, c.dtype_bytes)])
    if c.heads:
        lines += ["**heads**", ""] + table(LAYER_HEADER, [cells for h in c.heads for cells in _layer_rows(h, c.dtype_bytes)])
    lines += ["**whole network**", ""] + table(SCENARIO_HEADER, [_scenario_cells(s, c.scenarios[0], c.dtype_bytes) for s in c.scenarios])
    notes = footnotes(c)
    return "\n".join([*lines, *(f"{n}  " for n in [*notes, *matmul_note(c)]), *([""] if notes or matmul_note(c) else []), NOTE]) + "\n"


def to_dict(c: Comparison) -> dict:
    return comparison_dict(c)


def to_json(c: Comparison) -> str:
    return json.dumps(comparison_dict(c), indent=2) + "\n"


CSV_FIELDS = ("section", "layer", "in_shape", "variant", "legal", "out_shape", "params", "weights", "macs", "matmul_macs", "activation_elements",
              "traffic_elements", "traffic_bytes", "replaced_layers", "illegal_layers", "reason", "nearest_legal")


def to_csv(c: Comparison) -> str:
    """One line per layer variant, head option and network scenario: every field of the JSON, exact integers."""
    document = comparison_dict(c)
    rows = []
    for section, key in (("layer", "layers"), ("head", "heads")):
        for item in document[key]:
            rows += [{"section": section, "layer": item["name"], "in_shape": item["in_shape"], **v} for v in item["variants"]]
    rows += [{"section": "network", **n} for n in document["networks"]]
    for row in rows:
        row.setdefault("legal", True)
    return units.csv_text(CSV_FIELDS, rows)


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
