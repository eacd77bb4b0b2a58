"""Renderers of a NumPy verification (`groupcost verify`)."""

from __future__ import annotations

import csv
import io
import json

from groupcost import __version__
from groupcost.analysis import CONVENTION
from groupcost.execute import StepCheck, Verification
from groupcost.render import units

SCHEMA_VERSION = 1
HEADER = ("layer", "type", "output", "shape", "MACs (analysis)", "MACs (performed)", "MACs", "params", "time")


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISMATCH"


def _cells(c: StepCheck) -> list[str]:
    return [c.name, c.type, units.shape(c.actual_shape[1:]), _mark(c.expected_shape == c.actual_shape), f"{c.expected_macs:,}", f"{c.counted_macs:,}",
            _mark(c.expected_macs == c.counted_macs), _mark(c.expected_params == c.allocated_params), units.seconds(c.seconds)]


def verdict(v: Verification) -> str:
    mismatch = v.first_mismatch
    if mismatch is not None:
        return f"MISMATCH at {mismatch.name} ({mismatch.type}): {mismatch.problem()}"
    macs = sum(c.counted_macs for c in v.checks)
    return (f"verified: {len(v.checks)} layers, every output shape, every MAC count ({macs:,} in all) and every parameter count "
            f"equal the analysis (batch {v.batch}, {v.dtype}, seed {v.seed}, {v.seconds:.2f} s)")


def to_table(v: Verification):
    from rich.console import Group
    from rich.text import Text

    from groupcost.render.grid import Grid

    grid = Grid(HEADER, [_cells(c) for c in v.checks], [False, False, False, False, True, True, False, False, True],
                title=f"{v.model}: NumPy forward pass against the analysis", row_styles=[None if c.ok else "red" for c in v.checks])
    notes = [Text(verdict(v), style="green" if v.ok else "bold red")]
    if not v.finite:
        notes.append(Text("note: the output has inf or NaN values (random weights); shapes and counts are unaffected", style="yellow"))
    return Group(grid, *notes, Text("MACs performed are counted from the sizes of the contractions the kernels ran.", style="dim"))


def to_markdown(v: Verification) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "| :--- | :--- | :--- | :--- | ---: | ---: | :--- | :--- | ---: |"]
    lines += ["| " + " | ".join(_cells(c)) + " |" for c in v.checks]
    return "\n".join([f"**{v.model}: NumPy forward pass against the analysis**", "", *lines, "", verdict(v)]) + "\n"


def to_dict(v: Verification) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "groupcost_version": __version__,
        "model": v.model,
        "batch": v.batch,
        "dtype": v.dtype,
        "seed": v.seed,
        "convention": {"macs": CONVENTION["macs"], "counted_macs": "multiply-accumulates the NumPy kernels performed, from the sizes of their contractions"},
        "ok": v.ok,
        "verdict": verdict(v),
        "finite_output": v.finite,
        "seconds": v.seconds,
        "layers": [
            {"name": c.name, "type": c.type, "expected_shape": list(c.expected_shape), "actual_shape": list(c.actual_shape),
             "expected_macs": c.expected_macs, "counted_macs": c.counted_macs, "expected_params": c.expected_params,
             "allocated_params": c.allocated_params, "ok": c.ok, "seconds": c.seconds}
            for c in v.checks
        ],
    }


def to_json(v: Verification) -> str:
    return json.dumps(to_dict(v), indent=2) + "\n"


def to_csv(v: Verification) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = ("name", "type", "expected_shape", "actual_shape", "expected_macs", "counted_macs", "expected_params", "allocated_params", "ok", "seconds")
    writer.writerow(fields)
    for layer in to_dict(v)["layers"]:
        writer.writerow(["×".join(map(str, layer[f])) if f.endswith("shape") else layer[f] for f in fields])
    return out.getvalue()


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
