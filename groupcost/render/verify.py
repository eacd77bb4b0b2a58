"""Renderers of a NumPy verification (`groupcost verify`): an api.VerifyResult."""

from __future__ import annotations

import json

from groupcost.render import units
from groupcost.render.documents import verification_dict

HEADER = ("layer", "type", "output", "shape", "MACs (analysis)", "MACs (performed)", "MACs", "params", "time")
PRIORITIES = (0, 3, 2, 0, 1, 1, 0, 0, 2)
RIGHT = (False, False, False, False, True, True, False, False, True)
MATMUL_AT = 7  # the matmul MACs columns, after the MACs mark, where a network has products of two activations
MATMUL_HEADER = ("matmul MACs (analysis)", "matmul MACs (performed)", "matmul MACs")


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISMATCH"


def _has_matmul(v) -> bool:
    return any(c.expected_matmul_macs or c.counted_matmul_macs for c in v.checks)


def _header(v) -> tuple[tuple, tuple, tuple]:
    if not _has_matmul(v):
        return HEADER, RIGHT, PRIORITIES
    return (HEADER[:MATMUL_AT] + MATMUL_HEADER + HEADER[MATMUL_AT:], RIGHT[:MATMUL_AT] + (True, True, False) + RIGHT[MATMUL_AT:],
            PRIORITIES[:MATMUL_AT] + (1, 1, 0) + PRIORITIES[MATMUL_AT:])


def _cells(c, matmul: bool) -> list[str]:
    cells = [c.name, c.type, units.shape(c.actual_shape[1:]), _mark(c.expected_shape == c.actual_shape), f"{c.expected_macs:,}", f"{c.counted_macs:,}",
             _mark(c.expected_macs == c.counted_macs), _mark(c.expected_params == c.allocated_params), units.seconds(c.seconds)]
    if matmul:
        cells[MATMUL_AT:MATMUL_AT] = [f"{c.expected_matmul_macs:,}", f"{c.counted_matmul_macs:,}", _mark(c.expected_matmul_macs == c.counted_matmul_macs)]
    return cells


def verdict(result) -> str:
    return result.verdict


def to_table(result):
    from groupcost.render.blocks import Blocks, Note

    from groupcost.render.grid import Grid

    v = result.verification
    header, right, priorities = _header(v)
    grid = Grid(header, [_cells(c, _has_matmul(v)) for c in v.checks], right, title=f"{v.model}: NumPy forward pass against the analysis (batch {v.batch})",
                row_styles=[None if c.ok else "red" for c in v.checks], priorities=priorities)
    notes = [Note(result.verdict, style="green" if v.ok else "bold red")]
    if not v.finite:
        notes.append(Note("note: the output has inf or NaN values (random weights); shapes and counts are unaffected", style="yellow"))
    return Blocks(grid, *notes, Note("MACs performed are counted from the sizes of the contractions the kernels ran; shapes C×H×W of one sample.", style="dim"))


def to_markdown(result) -> str:
    v = result.verification
    header, right, _ = _header(v)
    lines = units.markdown_table(header, right, [_cells(c, _has_matmul(v)) for c in v.checks])
    return "\n".join([f"**{v.model}: NumPy forward pass against the analysis (batch {v.batch})**", "", *lines, "", result.verdict]) + "\n"


def to_dict(result) -> dict:
    return verification_dict(result)


def to_json(result) -> str:
    return json.dumps(verification_dict(result), indent=2) + "\n"


CSV_FIELDS = ("name", "type", "expected_shape", "actual_shape", "actual_batch", "expected_macs", "counted_macs", "expected_matmul_macs",
              "counted_matmul_macs", "expected_params", "allocated_params", "ok", "error", "seconds")


def to_csv(result) -> str:
    return units.csv_text(CSV_FIELDS, verification_dict(result)["layers"])


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}
