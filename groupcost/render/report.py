"""Renderers of an analysis Report and of its breakdown by layer type: rich table, JSON, CSV, Markdown.

They format; they never compute costs. Tables show bytes with units (KiB, MiB: powers of 1024),
JSON and CSV exact integers named with their unit; both come from `groupcost.render.documents`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from groupcost.graph.analysis import MACS_RULE, METRICS, Report, Row, TypeBreakdown
from groupcost.render import units
from groupcost.render.documents import breakdown_dict, report_dict
from groupcost.run.roofline import Device, intensity, layer_seconds, report_seconds


@dataclass(frozen=True)
class Column:
    """One column of the per-layer views: its title, how a row's value reads to a person, and how
    soon it is left out of a narrow terminal (0: never)."""

    key: str
    title: str
    human: Callable[[Row, Report], str]
    numeric: bool = True
    priority: int = 0


def _shapes(row: Row) -> str:
    return " + ".join(units.shape(s) for s in row.in_shapes)


COLUMNS = (
    Column("name", "layer", lambda r, _: r.name, numeric=False),
    Column("type", "type", lambda r, _: r.type, numeric=False, priority=2),
    Column("in_shapes", "input", lambda r, _: _shapes(r), numeric=False, priority=4),
    Column("out_shape", "output", lambda r, _: units.shape(r.out_shape), numeric=False),
    Column("groups", "G", lambda r, _: "" if r.groups is None else str(r.groups), priority=1),  # the tool's subject: kept long
    Column("params", "params", lambda r, _: units.count(r.params)),
    Column("macs", "MACs", lambda r, _: units.count(r.macs)),
    Column("mac_share", "% MACs", lambda r, rep: units.share(r.macs, rep.totals.macs), priority=3),
    Column("activation_bytes", "output mem", lambda r, rep: units.size(r.activations * rep.dtype_bytes), priority=3),
)


MATMUL_COLUMN = Column("matmul_macs", "matmul MACs", lambda r, _: units.count(r.matmul_macs), priority=1)
"""Shown where a network has products of two activations (attention): apart from the conv + linear MACs."""


def columns(traffic: bool, device: Device | None, report: Report | None = None) -> tuple[Column, ...]:
    """The standard columns, matmul MACs where `report` has any, plus traffic and intensity, plus the roofline
    estimate, when asked (kept longest when narrow)."""
    standard = COLUMNS
    if report is not None and report.totals.matmul_macs:
        at = [c.key for c in COLUMNS].index("mac_share") + 1
        standard = (*COLUMNS[:at], MATMUL_COLUMN, *COLUMNS[at:])
    extra: list[Column] = []
    if traffic:
        extra += [
            Column("traffic_bytes", "traffic", lambda r, rep: units.size(r.traffic * rep.dtype_bytes), priority=1),
            Column("intensity", "FLOP/B", lambda r, rep: f"{intensity(r.macs, r.traffic, rep.dtype_bytes):.1f}", priority=2),
        ]
    if device is not None:
        estimates: dict[int, tuple[Report, dict[str, float]]] = {}  # per report shown (held: its id stays its own)

        def latency(r: Row, rep: Report) -> str:
            if id(rep) not in estimates:
                estimates[id(rep)] = rep, layer_seconds(rep, device)
            known = estimates[id(rep)][1]
            if r.name in known:
                return units.seconds(known[r.name])
            return units.seconds(sum(s for name, s in known.items() if name.startswith(r.name + ".")))  # a block: its layers'

        extra.append(Column("latency_s", "est. latency", latency, priority=0))
    return standard + tuple(extra)


def title(report: Report) -> str:
    variables = ", ".join(f"{k}={v}" for k, v in report.variables.items())
    return (
        f"{report.model} — input {units.shape(report.input_shape)} (shapes per sample), batch {report.batch}, {report.dtype}"
        + (f" ({variables})" if variables else "")
    )


def summary_lines(report: Report, device: Device | None = None) -> list[str]:
    t, b = report.totals, report.dtype_bytes
    roofline = [] if device is None else [
        f"est. latency {units.seconds(report_seconds(report, device))} on {device.label()}; {device.method}"
    ]
    memory = " · ".join(f"{m.label} {units.size(m.total(report))}" for m in METRICS if m.summary)
    matmul = f" · matmul MACs {t.matmul_macs:,}" if t.matmul_macs else ""
    return roofline + [
        f"params {t.params:,} ({units.size(t.params * b)} at {report.dtype}) · MACs {t.macs:,} (FLOPs = 2 × MACs = {units.count(t.flops)}){matmul}",
        f"buffers {t.buffers:,} (BN running statistics: in the state_dict, not in params) · activations {t.activations:,} elements",
        f"memory: {memory}",
        *([f"outputs: {', '.join(f'{name} {units.shape(shape)}' for name, shape in report.outputs)}"] if len(report.outputs) > 1 else []),
        *report.notes,
        f"{MACS_RULE} (no bias, BN, activation, pooling or add in either); params as PyTorch counts them.",
    ]


def _notes(lines: list[str]):
    from groupcost.render.blocks import Note

    return [Note(line, style="dim" if i == len(lines) - 1 else "") for i, line in enumerate(lines)]


def to_table(report: Report, traffic: bool = False, device: Device | None = None):
    """A rich renderable: the per-layer table, a totals row, and the convention."""
    from groupcost.render.blocks import Blocks

    from groupcost.render.grid import Grid

    shown = columns(traffic, device, report)
    grid = Grid(
        headers=[c.title for c in shown],
        rows=[[c.human(row, report) for c in shown] for row in report.rows],
        right_aligned=[c.numeric for c in shown],
        footer=[_total(c.key, report, device) for c in shown],
        title=title(report),
        priorities=[c.priority for c in shown],
    )
    return Blocks(grid, *_notes(summary_lines(report, device)))


def _total(key: str, report: Report, device: Device | None) -> str:
    return total_cells(report, device).get(key, "")


def total_cells(report: Report, device: Device | None) -> dict[str, str]:
    """The totals row's cells by column key, in human units (the table's footer, the HTML table's)."""
    t, b = report.totals, report.dtype_bytes
    return {
        "name": "total",
        "params": units.count(t.params),
        "macs": units.count(t.macs),
        "mac_share": "100%" if t.macs else "-",
        "matmul_macs": units.count(t.matmul_macs),
        "activation_bytes": units.size(t.activations * b),
        "traffic_bytes": units.size(t.traffic * b),
        "intensity": f"{intensity(t.macs, t.traffic, b):.1f}",
        "latency_s": units.seconds(report_seconds(report, device)) if device else "",
    }


def to_markdown(report: Report, traffic: bool = False, device: Device | None = None) -> str:
    shown = columns(traffic, device, report)
    lines = [f"**{title(report)}**", "", *units.markdown_table([c.title for c in shown], [c.numeric for c in shown],
                                                                 [[c.human(row, report) for c in shown] for row in report.rows])]
    lines[-1:] = [lines[-1], "| " + " | ".join(f"**{_total(c.key, report, device)}**" if _total(c.key, report, device) else "" for c in shown) + " |"]
    lines += ["", *(f"{line}  " for line in summary_lines(report, device))]
    return "\n".join(lines).rstrip() + "\n"


def to_dict(report: Report, traffic: bool = False, device: Device | None = None) -> dict:
    """The JSON document (traffic is always there)."""
    return report_dict(report, device)


def to_json(report: Report, traffic: bool = False, device: Device | None = None) -> str:
    return json.dumps(report_dict(report, device), indent=2) + "\n"


def to_csv(report: Report, traffic: bool = False, device: Device | None = None) -> str:
    """One row per layer with every field of the JSON (exact integers, shapes as 64x56x56), then a `total` row."""
    document = report_dict(report, device)
    fields = list(document["layers"][0]) if document["layers"] else ["name"]
    total = {"name": "total", "out_shape": list(report.output_shape), **{k: v for k, v in document["totals"].items() if k in fields}}
    if device is not None:
        total["latency_s"] = document["roofline"]["latency_s"]
    return units.csv_text(fields, [*document["layers"], total])


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv, "markdown": to_markdown}


# ---- --by type -------------------------------------------------------------------------------

TYPE_HEADER = ("layers", "count", "params", "% params", "weights", "% weights", "MACs", "% MACs", "traffic", "% traffic")
TYPE_PRIORITIES = (0, 1, 0, 0, 2, 2, 0, 0, 1, 1)
MATMUL_AT = 8  # where the matmul MACs columns go, after % MACs, in a network that has any
TYPE_NOTE = ("Convolutions by kind and kernel: standard, grouped, depthwise (G = C_in), pointwise (1×1) and GDC (a depthwise kernel over "
             "the whole plane). weights = conv and linear kernels only (the papers' count); % = share of the network's total.")


def _with_matmul(b: TypeBreakdown, cells: tuple | list, matmul: tuple | list) -> list:
    """`cells` with the matmul MACs cells inserted after % MACs, where the network has matmul MACs."""
    cells = list(cells)
    return cells[:MATMUL_AT] + list(matmul) + cells[MATMUL_AT:] if b.report.totals.matmul_macs else cells


def _type_header(b: TypeBreakdown) -> tuple[list[str], list[int]]:
    return _with_matmul(b, TYPE_HEADER, ("matmul MACs", "% matmul")), _with_matmul(b, TYPE_PRIORITIES, (0, 1))


def _type_cells(b: TypeBreakdown) -> list[list[str]]:
    dtype_bytes = b.report.dtype_bytes
    return [_with_matmul(b, [t.kind, str(t.count), units.count(t.params), units.percent(t.shares["params"]), units.count(t.weights),
                             units.percent(t.shares["weights"]), units.count(t.macs), units.percent(t.shares["macs"]),
                             units.size(t.traffic * dtype_bytes), units.percent(t.shares["traffic"])],
                         (units.count(t.matmul_macs), units.percent(t.shares["matmul_macs"]))) for t in b.rows]


def _type_total(b: TypeBreakdown) -> list[str]:
    t = b.report.totals
    return _with_matmul(b, ["total", str(sum(r.count for r in b.rows)), units.count(t.params), "100%", units.count(t.weights), "100%",
                            units.count(t.macs), "100%", units.size(t.traffic * b.report.dtype_bytes), "100%"], (units.count(t.matmul_macs), "100%"))


def types_table(b: TypeBreakdown, traffic: bool = False, device: Device | None = None):
    from groupcost.render.blocks import Blocks

    from groupcost.render.grid import Grid

    header, priorities = _type_header(b)
    grid = Grid(header, _type_cells(b), [i >= 1 for i in range(len(header))], footer=_type_total(b),
                title=f"{title(b.report)}: cost by layer type", priorities=priorities)
    return Blocks(grid, *_notes([*summary_lines(b.report), TYPE_NOTE]))


def types_markdown(b: TypeBreakdown, traffic: bool = False, device: Device | None = None) -> str:
    header, _ = _type_header(b)
    lines = [f"**{title(b.report)}: cost by layer type**", "",
             *units.markdown_table(header, [i >= 1 for i in range(len(header))], [*_type_cells(b), _type_total(b)]), "", TYPE_NOTE]
    return "\n".join(lines) + "\n"


def types_json(b: TypeBreakdown, traffic: bool = False, device: Device | None = None) -> str:
    return json.dumps(breakdown_dict(b), indent=2) + "\n"


def types_csv(b: TypeBreakdown, traffic: bool = False, device: Device | None = None) -> str:
    document = breakdown_dict(b)
    fields = list(document["types"][0]) if document["types"] else ["type"]
    return units.csv_text(fields, document["types"])


TYPE_FORMATS = {"table": types_table, "json": types_json, "csv": types_csv, "markdown": types_markdown}
