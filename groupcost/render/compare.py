"""Renderers of a network comparison (`groupcost compare`): per-layer variants, heads, totals."""

from __future__ import annotations

import csv
import io
import json

from groupcost import __version__
from groupcost.analysis import CONVENTION
from groupcost.render import units
from groupcost.render.variants import ratio, variant_dict
from groupcost.roofline import intensity
from groupcost.variants import Comparison, LayerComparison, Scenario, Variant

SCHEMA_VERSION = 1
LAYER_HEADER = ("layer", "variant", "output", "params", "MACs", "traffic", "FLOP/B", "params×", "MACs×", "traffic×")
SCENARIO_HEADER = ("network", "params", "MACs", "traffic", "activations", "params×", "MACs×", "traffic×", "note")
NOTE = (
    "* = as the spec has it; × = ratio to the standard convolution (to the spec as written for whole networks); traffic = input + output + weights, "
    "in bytes; FLOP/B = arithmetic intensity (FLOPs = 2 × MACs). dw-separable = depthwise K×K + pointwise 1×1, both counted."
)


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
    return [s.label, units.count(t.params), units.count(t.macs), units.size(t.traffic * dtype_bytes), units.count(t.activations),
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
    from rich.console import Group
    from rich.text import Text

    from groupcost.render.grid import Grid

    parts = []
    if c.layers:
        rows = [cells for layer in c.layers for cells in _layer_rows(layer, c.dtype_bytes)]
        parts.append(Grid(LAYER_HEADER, rows, [i > 2 for i in range(len(LAYER_HEADER))], title=f"{c.model}: convolution variants"))
    else:
        parts.append(Text("no standard or pointwise convolution matches", style="yellow"))
    if c.heads:
        rows = [cells for head in c.heads for cells in _layer_rows(head, c.dtype_bytes)]
        parts.append(Grid(LAYER_HEADER, rows, [i > 2 for i in range(len(LAYER_HEADER))], title="heads: reducing a whole plane to 1×1"))
    rows = [_scenario_cells(s, c.scenarios[0], c.dtype_bytes) for s in c.scenarios]
    parts.append(Grid(SCENARIO_HEADER, rows, [0 < i < 8 for i in range(len(SCENARIO_HEADER))], title="whole network, every selected convolution built one way"))
    return Group(*parts, *(Text(note, style="red") for note in footnotes(c)), Text(NOTE, style="dim"))


def to_markdown(c: Comparison) -> str:
    def table(header, rows) -> list[str]:
        return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header), *("| " + " | ".join(r) + " |" for r in rows), ""]

    lines = [f"**{c.model}: convolution variants**", ""]
    lines += table(LAYER_HEADER, [cells for layer in c.layers for cells in _layer_rows(layer, c.dtype_bytes)])
    if c.heads:
        lines += ["**heads**", ""] + table(LAYER_HEADER, [cells for h in c.heads for cells in _layer_rows(h, c.dtype_bytes)])
    lines += ["**whole network**", ""] + table(SCENARIO_HEADER, [_scenario_cells(s, c.scenarios[0], c.dtype_bytes) for s in c.scenarios])
    notes = footnotes(c)
    return "\n".join([*lines, *(f"{n}  " for n in notes), *([""] if notes else []), NOTE]) + "\n"


def _comparison_dict(layer: LayerComparison) -> dict:
    return {
        "name": layer.name,
        "in_shape": list(layer.in_shape),
        "as_written": variant_dict(layer.written),
        "variants": [{"variant": v.label, **variant_dict(v)} for v in layer.variants],
    }


def to_dict(c: Comparison) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "groupcost_version": __version__,
        "model": c.model,
        "dtype_bytes": c.dtype_bytes,
        "convention": CONVENTION,
        "layers": [_comparison_dict(layer) for layer in c.layers],
        "heads": [_comparison_dict(head) for head in c.heads],
        "networks": [
            {"variant": s.label, "replaced_layers": s.replaced, "illegal_layers": list(s.illegal),
             **{k: getattr(s.totals, k) for k in ("params", "weights", "macs", "activations", "traffic")}}
            for s in c.scenarios
        ],
    }


def to_json(c: Comparison) -> str:
    return json.dumps(to_dict(c), indent=2) + "\n"


def to_csv(c: Comparison) -> str:
    """One line per layer variant, head option and network scenario, exact integers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", "layer", "variant", "legal", "out_shape", "params", "macs", "traffic", "reason"))
    for section, items in (("layer", c.layers), ("head", c.heads)):
        for item in items:
            for v in item.variants:
                d = variant_dict(v)
                writer.writerow((section, item.name, v.label, str(v.legal).lower(), units.shape(v.out_shape) if v.legal else "",
                                 d.get("params", ""), d.get("macs", ""), d.get("traffic", ""), v.reason or ""))
    for s in c.scenarios:
        writer.writerow(("network", "", s.label, "true", "", s.totals.params, s.totals.macs, s.totals.traffic, "; ".join(s.illegal)))
    return out.getvalue()


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
