"""Measured latency beside the estimate (a calibrated profile's or a roofline): tables and JSON. Figures in, text out."""

from __future__ import annotations

from groupcost.graph.analysis import Report
from groupcost.run.beside import Line
from groupcost.run.measure import Session, Timing
from groupcost.run.roofline import Device, row_seconds

NOTE = ("measured: median of the runs, spread as interquartile range (min–max); "
        "× est: the measurement divided by the estimate (1.0× = the estimate was right)")


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


def layer_table(report: Report, session: Session, device: Device):
    """analyze --measure: every layer's estimate and measured median, then the totals."""
    from rich.table import Table

    result = session.results[0]
    table = Table(title=_title(report.model, session, device), title_justify="left", caption=NOTE, caption_justify="left")
    for header, justify in (("layer", "left"), ("type", "left"), ("MACs", "right"), ("estimate", "right"), ("measured", "right"), ("× est", "right")):
        table.add_column(header, justify=justify)
    estimates = {row.name: row_seconds(row, report.dtype_bytes, device) for row in report.rows}
    for row in report.rows:
        measured = result.layers.get(row.name)
        table.add_row(row.name, row.type, f"{row.macs:,}", seconds(estimates[row.name]), seconds(measured), ratio(measured, estimates[row.name]))
    total_estimate = sum(estimates.values())
    layers_sum = sum(result.layers.values())
    table.add_section()
    table.add_row("layers, each timed", "", "", "", seconds(layers_sum), "")
    table.add_row("total", "", f"{report.totals.macs:,}", seconds(total_estimate), seconds(result.total.median), ratio(result.total.median, total_estimate))
    table.add_row("spread", "", "", "", spread(result.total), "")
    return table


def config_table(what: str, lines: list[Line], session: Session, device: Device):
    """whatif / compare / layer --measure: one row per configuration."""
    from rich.table import Table

    table = Table(title=_title(what, session, device), title_justify="left", caption="\n".join([NOTE, *warnings(session)]), caption_justify="left")
    for header in ("configuration", "MACs", "estimate", "measured", "IQR (min–max)", "× est"):
        table.add_column(header, justify="left" if header == "configuration" else "right")
    for line, result in zip(lines, session.results):
        t = result.total
        table.add_row(line.label, f"{line.macs:,}", seconds(line.estimate), seconds(t.median), spread(t), ratio(t.median, line.estimate))
    return table


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
            entry["layers"] = [{"name": row.name, "estimate_seconds": row_seconds(row, report.dtype_bytes, device), "median_seconds": result.layers.get(row.name)}
                               for row in report.rows]
        results.append(entry)
    return {
        "setup": {"device": s.place, "processor": s.device, "threads": s.threads, "runs": s.runs, "warmup": s.warmup, "torch": s.torch},
        "estimate_device": {"name": device.name, "label": device.label(), "estimate": device.method,
                            "peak_tflops": device.peak_tflops, "bandwidth_gbs": device.bandwidth_gbs},
        "not_told_apart": [list(p) for p in session.overlapping()],
        "results": results,
    }
