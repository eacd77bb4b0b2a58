"""Measured latency beside the estimate (a calibrated profile's or a roofline): tables and JSON. Figures in, text out."""

from __future__ import annotations

from groupcost.graph.analysis import Report
from groupcost.render import units
from groupcost.render.blocks import Blocks, Note
from groupcost.render.grid import Grid
from groupcost.run.beside import Line
from groupcost.run.measure import Session, Timing
from groupcost.run.roofline import Device, layer_seconds, report_seconds, rows_seconds

NOTE = ("measured: median of the runs, spread as interquartile range (min–max); "
        "× est: the measurement divided by the estimate (1.0× = the estimate was right)")
BLOCK_NOTE = "a block's measured time is the sum of its layers' (merges such as add are not timed one by one)"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1e-3:
        return f"{value * 1e6:.3g} µs"
    if value < 1:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"


def ratio(measured: float | None, estimate: float | None) -> str:
    if measured is None or not estimate:
        return "—"
    r = measured / estimate
    return f"{r:,.0f}×" if r >= 100 else f"{r:.3g}×"


def spread(t: Timing) -> str:
    low, high = t.quartiles
    return f"{seconds(low)}–{seconds(high)} ({seconds(t.low)}–{seconds(t.high)})"


def _title(what: str, session: Session, device: Device) -> str:
    return f"{what} — measured on {session.setup.label()}; estimate on {device.label()}"


def warnings(session: Session) -> list[str]:
    pairs = session.overlapping()
    if not pairs:
        return []
    shown = "; ".join(f"{a} vs {b}" for a, b in pairs[:6]) + ("; ..." if len(pairs) > 6 else "")
    return [f"spread wider than the difference: {shown} — not told apart by this measurement (more --runs, fewer other loads)"]


def _measured_sum(values: list[float | None]) -> float | None:
    """The timed ones summed (merges are not timed one by one: a block's time is its layers'); None when none was."""
    timed = [v for v in values if v is not None]
    return sum(timed) if timed else None


def layer_table(report: Report, session: Session, device: Device, depth: int | None = None):
    """analyze --measure: every layer's (or, with `depth`, every block's) estimate and measured median, then the totals.

    A Grid, as the analysis table: names wrap whole and never get cut; narrow terminals leave out type and MACs first."""
    result = session.results[0]
    blocks: dict[str, list] = {}
    for row in report.rows:  # the blocks of Report.at_depth, the analysis table's rows
        blocks.setdefault(".".join(row.name.split(".")[:depth]) if depth else row.name, []).append(row)
    estimates = layer_seconds(report, device)  # a fused layer is 0
    rows = []
    for name, members in blocks.items():
        estimate = sum(estimates[row.name] for row in members)
        measured = _measured_sum([result.layers.get(row.name) for row in members])
        kind = members[0].type if len(members) == 1 else f"{len(members)} layers"
        rows.append([name, kind, units.count(sum(row.macs for row in members)), seconds(estimate), seconds(measured), ratio(measured, estimate)])
    total_estimate = report_seconds(report, device)  # the layers and the network call's own time
    footer = ["total", "", units.count(report.totals.macs), seconds(total_estimate), seconds(result.total.median),
              ratio(result.total.median, total_estimate)]
    grid = Grid(("layer", "type", "MACs", "estimate", "measured", "× est"), rows, (False, False, True, True, True, True), footer=footer,
                title=_title(report.model, session, device), priorities=(0, 2, 1, 0, 0, 0))
    notes = [NOTE, *([BLOCK_NOTE] if depth else [])]
    return Blocks(grid, Note(f"layers, each timed: {seconds(_measured_sum(list(result.layers.values())))} in all; "
                             f"total spread: {spread(result.total)}"), *(Note(text, style="dim") for text in notes))


def config_table(what: str, lines: list[Line], session: Session, device: Device):
    """whatif / compare / layer --measure: one row per configuration."""
    rows = []
    for line, result in zip(lines, session.results):
        t = result.total
        rows.append([line.label, units.count(line.macs), seconds(line.estimate), seconds(t.median), spread(t), ratio(t.median, line.estimate)])
    grid = Grid(("configuration", "MACs", "estimate", "measured", "IQR (min–max)", "× est"), rows, (False, True, True, True, True, True),
                title=_title(what, session, device), priorities=(0, 1, 0, 0, 2, 0))
    return Blocks(grid, *(Note(text, style="dim") for text in (NOTE, *warnings(session))))


def to_markdown_lines(lines: list[Line], session: Session, device: Device) -> str:
    out = [f"Measured on {session.setup.label()}; estimate on {device.label()}.", "",
           "| configuration | MACs | estimate | measured (median) | IQR (min–max) | × est |", "|---|---:|---:|---:|---:|---:|"]
    for line, result in zip(lines, session.results):
        t = result.total
        out.append(f"| {line.label} | {line.macs:,} | {seconds(line.estimate)} | {seconds(t.median)} | {spread(t)} | {ratio(t.median, line.estimate)} |")
    out += ["", NOTE, *warnings(session)]
    return "\n".join(out) + "\n"


def to_dict(lines: list[Line], session: Session, device: Device, report: Report | None = None) -> dict:
    s = session.setup
    results = []
    for line, result in zip(lines, session.results):
        t = result.total
        low, high = t.quartiles
        entry = {"label": line.label, "macs": line.macs, "estimate_seconds": line.estimate, "median_seconds": t.median,
                 "q1_seconds": low, "q3_seconds": high, "min_seconds": t.low, "max_seconds": t.high, "runs_seconds": list(t.runs)}
        if result.layers and report is not None:
            entry["layers"] = [{"name": row.name, "estimate_seconds": estimate, "median_seconds": result.layers.get(row.name)}
                               for row, estimate in zip(report.rows, rows_seconds(report, device))]
        results.append(entry)
    return {
        "setup": {"device": s.place, "processor": s.device, "threads": s.threads, "runs": s.runs, "warmup": s.warmup, "torch": s.torch,
                  "runtime": s.runtime or "torch-eager"},
        "estimate_device": {"name": device.name, "label": device.label(), "estimate": device.method,
                            "peak_tflops": device.peak_tflops, "bandwidth_gbs": device.bandwidth_gbs},
        "not_told_apart": [list(p) for p in session.overlapping()],
        "results": results,
    }
