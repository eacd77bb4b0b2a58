"""The HTML report: one self-contained page (inline CSS, JS and SVG; no network) from an Overview.

It formats; it never computes costs. The architecture graph is drawn by the page from the data
of `groupcost.render.graph`, laid out by the vendored dagre; the charts are SVG written here.
"""

from __future__ import annotations

import functools
import html
import json
import math
from pathlib import Path

from groupcost.version import __version__
from groupcost.graph.analysis import CONVENTION
from groupcost.language.budgets import BYTE_METRICS
from groupcost.questions.report import Overview
from groupcost.render import units
from groupcost.render.graph import graph_data
from groupcost.render.report import Column, columns, summary_lines, title, total_cells
from groupcost.run.roofline import intensity

PAGE = Path(__file__).parent / "page"


@functools.cache
def _asset(name: str) -> str:
    return (PAGE / name).read_text(encoding="utf-8")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _script_json(data: object) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


# --- the layer table ------------------------------------------------------------------------

def _sort_keys(overview: Overview) -> dict:
    b, estimates = overview.report.dtype_bytes, overview.estimates
    return {
        "name": lambda r: r.name,
        "type": lambda r: r.type,
        "in_shapes": lambda r: sum(math.prod(s) for s in r.in_shapes),
        "out_shape": lambda r: r.activations,
        "groups": lambda r: r.groups or 0,
        "params": lambda r: r.params,
        "macs": lambda r: r.macs,
        "mac_share": lambda r: r.macs,
        "matmul_macs": lambda r: r.matmul_macs,
        "activations": lambda r: r.activations,
        "activation_bytes": lambda r: r.activations,
        "traffic_bytes": lambda r: r.traffic,
        "intensity": lambda r: intensity(r.macs, r.traffic, b),
        "latency_s": lambda r: estimates[r.name],
    }


def _columns(overview: Overview) -> tuple[Column, ...]:
    return columns(traffic=True, device=overview.device, report=overview.report)


def _cells(overview: Overview):
    shown = _columns(overview)
    return lambda row: [c.human(row, overview.report) for c in shown]


def _totals(overview: Overview) -> dict[str, str]:
    report = overview.report
    return {**total_cells(report, overview.device), "out_shape": units.shape(report.output_shape), "activations": units.count(report.totals.activations)}


def _table(overview: Overview, changes: dict[str, str] | None = None) -> str:
    shown = _columns(overview)
    keys = _sort_keys(overview)
    head = "".join(
        f'<th data-key="{c.key}" data-type="{"num" if c.numeric else "text"}" class="{"num" if c.numeric else ""}" aria-sort="none">'
        f'<button type="button">{_e(c.title)}</button></th>'
        for c in shown
    )
    body = []
    for i, row in enumerate(overview.report.rows):
        cells = []
        for c in shown:
            raw = keys[c.key](row)
            value = raw if isinstance(raw, str) else repr(raw)
            cells.append(f'<td data-v="{_e(value)}"{" class=num" if c.numeric else ""}>{_e(c.human(row, overview.report))}</td>')
        change = f' class="change-{changes[row.name]}"' if changes and row.name in changes else ""
        body.append(f'<tr data-i="{i}" data-name="{_e(row.name)}"{change}>{"".join(cells)}</tr>')
    totals = _totals(overview)
    foot = "".join(f'<td{" class=num" if c.numeric else ""}>{_e(totals.get(c.key, ""))}</td>' for c in shown)
    return (
        '<table id="layers"><thead><tr>' + head + "</tr></thead><tbody>" + "".join(body)
        + '</tbody><tfoot><tr>' + foot + "</tr></tfoot></table>"
    )


# --- charts ---------------------------------------------------------------------------------

def _bar_chart(caption: str, items: list[tuple[str, int, str]], klass: str) -> str:
    """Horizontal bars: (label, value, text) each, scaled to the largest value."""
    top = max((v for _, v, _ in items), default=0) or 1
    row_h, label_w, bar_w, text_w = 18, 170, 330, 120
    height = row_h * len(items) + 26
    parts = [f'<svg class="chart {klass}" viewBox="0 0 {label_w + bar_w + text_w} {height}" role="img" aria-label="{_e(caption)}">',
             f'<text class="caption" x="0" y="13">{_e(caption)}</text>']
    for k, (label, value, text) in enumerate(items):
        y = 22 + k * row_h
        width = bar_w * value / top
        parts.append(
            f'<g><title>{_e(label)}: {_e(text)}</title><text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{_e(label)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{width:.1f}" height="{row_h - 5}"/>'
            f'<text x="{label_w + width + 4:.1f}" y="{y + 12}">{_e(text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _stages(overview: Overview) -> str:
    """MACs and params per stage; a stage with none of one (a BN, a pool) is left out of that chart and counted under it."""
    report, stages = overview.report, overview.stages
    t = report.totals
    cut = f"names cut to {overview.stage_depth} segment{'s' if overview.stage_depth > 1 else ''}"
    charts = []
    metrics = [("macs", "MACs per stage", "macs"), ("params", "params per stage", "params")]
    if t.matmul_macs:
        metrics.insert(1, ("matmul_macs", "matmul MACs per stage: attention's products of two activations", "macs"))
    for metric, caption, klass in metrics:
        total = getattr(t, metric)
        items = [(r.name, getattr(r, metric), f"{units.count(getattr(r, metric))} ({units.share(getattr(r, metric), total)})")
                 for r in stages.rows if getattr(r, metric)]
        left_out = len(stages.rows) - len(items)
        charts.append(_bar_chart(f"{caption} ({cut}{f'; {left_out} with none left out' if left_out else ''})", items, klass))
    return "".join(charts)


TOP_LAYERS = 10


def _top_layers(overview: Overview) -> str:
    """The layers that cost most: by MACs, then by params, each with its share and estimated latency."""
    report, estimates = overview.report, overview.estimates
    t = report.totals
    ranked = sorted((r for r in report.rows if r.macs or r.params), key=lambda r: (-r.macs, -r.params))[:TOP_LAYERS]
    if not ranked:
        return ""
    rows = "".join(
        f'<tr data-name="{_e(r.name)}"><td class=num>{k}</td><th title="{_e(r.type)}">{_e(r.name)}</th>'
        f"<td class=num>{_e(units.count(r.macs))}</td><td class=num>{_e(units.share(r.macs, t.macs))}</td>"
        f"<td class=num>{_e(units.count(r.params))}</td><td class=num>{_e(units.seconds(estimates[r.name]))}</td></tr>"
        for k, r in enumerate(ranked, 1)
    )
    covered = sum(r.macs for r in ranked)
    return (
        f'<table class="top"><caption>top {len(ranked)} layers by MACs ({units.share(covered, t.macs)} of the MACs)</caption>'
        "<thead><tr><th class=num>#</th><th>layer</th><th class=num>MACs</th><th class=num>%</th><th class=num>params</th>"
        f'<th class=num>est. latency</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _device_note(overview: Overview) -> str:
    """Which device the latency estimates are for; said plainly when it is the default, not chosen."""
    label = _e(overview.device.label())
    if overview.device_given:
        return f"<p class=note>Latency estimates on {label}.</p>"
    return (f'<p class="note default-device">Latency estimates on {label}: the default device, not one you chose: '
            "<code>--device NAME</code> (or <code>--peak-tflops</code> with <code>--bandwidth-gbs</code>) for yours.</p>")


def _log_scale(low: float, high: float, start: float, length: float):
    span = math.log10(high) - math.log10(low)
    return lambda v: start + length * (math.log10(v) - math.log10(low)) / span


def _decade(value: float) -> str:
    """A power of ten with its SI prefix: 1e13 -> '10 T'."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"), (1, "")):
        if value >= factor:
            return f"{value / factor:.3g} {prefix}"
    return f"{value:g} "


def _roofline(overview: Overview) -> str:
    report, device, b, estimates = overview.report, overview.device, overview.report.dtype_bytes, overview.estimates
    placed = [(r, intensity(r.macs, r.traffic, b), estimates[r.name]) for r in report.rows if r.macs > 0]
    if not placed:
        return "<p>No layer has MACs to place.</p>"
    peak = device.peak_tflops * 1e12
    ridge = device.ridge
    xs = [x for _, x, _ in placed] + [ridge]
    x_low, x_high = 10 ** math.floor(math.log10(min(xs) / 1.5)), 10 ** math.ceil(math.log10(max(xs) * 1.5))
    y_high = 10 ** math.ceil(math.log10(peak * 1.2))
    y_low = 10 ** math.floor(math.log10(min(peak, device.bandwidth_gbs * 1e9 * x_low)))
    w, h, left, bottom, top_pad, right_pad = 660, 330, 64, 40, 16, 16
    sx = _log_scale(x_low, x_high, left, w - left - right_pad)
    sy = _log_scale(y_low, y_high, h - bottom, -(h - bottom - top_pad))
    bw = device.bandwidth_gbs * 1e9
    parts = [f'<svg class="chart roofline" viewBox="0 0 {w} {h}" role="img" aria-label="roofline of {_e(device.name)}">']
    decade = x_low
    while decade <= x_high:
        parts.append(f'<line class="grid" x1="{sx(decade):.1f}" x2="{sx(decade):.1f}" y1="{top_pad}" y2="{h - bottom}"/>'
                     f'<text x="{sx(decade):.1f}" y="{h - bottom + 14}" text-anchor="middle">{decade:g}</text>')
        decade *= 10
    decade = y_low
    while decade <= y_high:
        parts.append(f'<line class="grid" x1="{left}" x2="{w - right_pad}" y1="{sy(decade):.1f}" y2="{sy(decade):.1f}"/>'
                     f'<text x="{left - 4}" y="{sy(decade) + 4:.1f}" text-anchor="end">{_decade(decade)}</text>')
        decade *= 10
    start = max(x_low, y_low / bw)
    parts.append(f'<polyline class="roof" points="{sx(start):.1f},{sy(bw * start):.1f} {sx(ridge):.1f},{sy(peak):.1f} {sx(x_high):.1f},{sy(peak):.1f}"/>')
    parts.append(f'<line class="ridge" x1="{sx(ridge):.1f}" x2="{sx(ridge):.1f}" y1="{sy(peak):.1f}" y2="{h - bottom}"/>'
                 f'<text class="note" x="{sx(ridge) + 4:.1f}" y="{sy(peak) + 16:.1f}">ridge {ridge:.0f} FLOP/B, peak {_decade(peak)}FLOP/s</text>')
    parts.append(f'<circle class="pt memory" cx="{left + 14}" cy="{top_pad + 10}" r="4"/><text x="{left + 22}" y="{top_pad + 14}">memory-bound</text>'
                 f'<circle class="pt compute" cx="{left + 124}" cy="{top_pad + 10}" r="4"/><text x="{left + 132}" y="{top_pad + 14}">compute-bound</text>')
    share = max(r.macs for r, _, _ in placed)
    for row, x, seconds in placed:
        y = 2 * row.macs / seconds
        radius = 2.5 + 6 * math.sqrt(row.macs / share)
        bound = "compute" if x >= ridge else "memory"
        parts.append(
            f'<circle class="pt {bound}" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="{radius:.1f}" data-name="{_e(row.name)}">'
            f'<title>{_e(row.name)}: {x:.1f} FLOP/B, {units.count(row.macs)} MACs, est. {units.seconds(seconds)} ({bound}-bound)</title></circle>'
        )
    parts.append(f'<text x="{(left + w) / 2:.0f}" y="{h - 6}" text-anchor="middle">arithmetic intensity (FLOP/byte, log)</text>')
    parts.append(f'<text transform="translate(12 {(h - bottom) / 2:.0f}) rotate(-90)" text-anchor="middle">attainable FLOP/s (log)</text></svg>')
    return "".join(parts)


def _whatif(overview: Overview) -> str:
    if not overview.sweeps:
        return "<p>The spec has no plain-number variables to vary.</p>"
    current = overview.network.variables
    out = []
    for sweep in overview.sweeps:
        legal = [o for o in sweep.outcomes if o.report is not None]
        tops = {m: max((getattr(o.report.totals, m) for o in legal), default=0) or 1 for m in ("params", "macs", "traffic")}
        slowest = max((o.seconds or 0 for o in legal), default=0) or 1
        var = sweep.varied[0]
        rows = []
        for o in sweep.outcomes:
            value = o.config.variables[var]
            mark = ' class="current"' if value == current.get(var) else ""
            if o.report is None:
                rows.append(f"<tr{mark}><th>{_e(var)}={_e(value)}</th><td colspan=4 class=reason>not legal: {_e(o.reason)}</td></tr>")
                continue
            t, b = o.report.totals, o.report.dtype_bytes
            cells = [
                (units.count(t.params), t.params / tops["params"]),
                (units.count(t.macs), t.macs / tops["macs"]),
                (units.size(t.traffic * b), t.traffic / tops["traffic"]),
                (units.seconds(o.seconds), (o.seconds or 0) / slowest),
            ]
            rows.append(f"<tr{mark}><th>{_e(var)}={_e(value)}</th>" + "".join(
                f'<td class=num><span class="bar" style="width:{100 * f:.1f}%"></span><span class="v">{_e(text)}</span></td>' for text, f in cells
            ) + "</tr>")
        out.append(
            f'<table class="whatif"><caption>what if {_e(var)} changed (now {_e(current.get(var))})</caption>'
            "<thead><tr><th>config</th><th>params</th><th>MACs</th><th>traffic</th>"
            f'<th>est. latency on {_e(sweep.device.name)}</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        )
    return "".join(out)


def _budgets(overview: Overview) -> str:
    if not overview.verdicts:
        return '<p>The spec sets no budgets (<code>budgets:</code>; see <code>groupcost check</code>).</p>'
    rows = []
    for v in overview.verdicts:
        fmt = units.size if v.budget.metric in BYTE_METRICS else units.count
        rows.append(
            f'<tr class="{v.status}"><th>{_e(v.budget.label)}</th><td class=num>{_e(v.budget.given)} ({v.budget.limit:,})</td>'
            f"<td class=num>{_e(fmt(v.value))} ({v.value:,})</td><td class=num>{100 * v.used:.1f}%</td>"
            f'<td><span class="status {v.status}">{"holds" if v.status != "over" else "over by " + f"{v.over_by:,}"}</span></td></tr>'
        )
    held = sum(v.status != "over" for v in overview.verdicts)
    return (
        f'<p>{held} of {len(overview.verdicts)} budgets hold.</p><table class="budgets"><thead><tr><th>budget</th><th>limit</th>'
        f'<th>value</th><th>used</th><th>status</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _convention() -> str:
    return "<dl class=convention>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in CONVENTION.items()) + "</dl>"


CHANGE_LEGEND = ('<span class="swatch change-changed"></span> changed <span class="swatch change-added"></span> added '
                 '<span class="swatch change-removed"></span> removed (by the diff; a folded block holding one is marked too)')


def to_html(overview: Overview, changes: dict[str, str] | None = None) -> str:
    """The whole page for `overview`. `changes` (layer name → added | removed | changed) marks one
    side of a diff: its boxes in the graph and its rows in the table."""
    report = overview.report
    data = graph_data(overview, _cells(overview), changes)
    legend = CHANGE_LEGEND if changes else ""
    headers = [c.title for c in _columns(overview)]
    summary = "".join(f"<li>{_e(line)}</li>" for line in summary_lines(report, overview.device))
    description = f"<p class=description>{_e(overview.network.description)}</p>" if overview.network.description else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="groupcost {_e(__version__)}">
<title>{_e(report.model)} — groupcost report</title>
<style>{_asset("page.css")}</style>
</head><body>
<header><div><h1>{_e(report.model)}</h1><p class=subtitle>{_e(title(report))}</p>{description}</div>
<button type="button" id="theme" title="switch dark / light">◐ theme</button></header>
<ul class=summary>{summary}</ul>
{_device_note(overview)}
<div class="overview">
<section id="graph-section"><h2>Architecture</h2>
<div class="controls">colour by <select id="metric"><option value="0">MACs</option><option value="1">params</option><option value="2">traffic</option></select>
<button type="button" id="expand-all">expand all</button><button type="button" id="fold-all">fold all</button><button type="button" id="fold-reset">as at first</button>
<span class="hint">click a box to open a block, its frame's label to fold it; hover for the row</span></div>
<div class="legend"><span class="swatch heat"></span> share of the metric (hottest box = darkest)
<span class="swatch grouped"></span> grouped conv (G shown) <span class="swatch dw"></span> depthwise conv
<span class="swatch block"></span> folded block <svg width="34" height="10"><line x1="0" y1="5" x2="34" y2="5" class="edge skip"/></svg> residual / gate
<svg width="34" height="10"><line x1="0" y1="5" x2="34" y2="5" class="edge concat"/></svg> concatenation
<span class="sign">+ × ‖ @</span> merges: add, multiply, concat, matmul{legend}</div>
<div id="graph" class="scroll"><noscript>The graph needs JavaScript; the table below has every layer.</noscript></div>
<div id="tip" role="tooltip" hidden></div>
</section>
<section id="cost-section"><h2>Where the cost sits</h2>{_top_layers(overview)}<div class="charts">{_stages(overview)}</div></section>
</div>
<div class="pair">
<section><h2>Roofline: {_e(overview.device.label())}{"" if overview.device_given else " (the default device)"}</h2>
<p class=note>Each layer with MACs at its arithmetic intensity (FLOPs = 2 × MACs per byte of traffic) and the throughput the roofline allows there; dot area by MACs. Layers left of the ridge are memory-bound. {_e(overview.device.source)}</p>
<div class="charts">{_roofline(overview)}</div></section>
<section><h2>What if</h2>{_whatif(overview)}</section>
</div>
<section><h2>Budgets</h2>{_budgets(overview)}</section>
<section id="table-section"><h2>Layers</h2>
<div class="controls"><label>filter by name <input id="filter" type="search" placeholder="layer3.* or *conv2" spellcheck="false"></label>
<span id="count"></span> <span class="hint">click a column title to sort</span></div>
<div class="scroll table">{_table(overview, changes)}</div>
<h3>What is counted</h3>{_convention()}
</section>
<footer>groupcost {_e(__version__)} · {_e(report.source)}</footer>
<script type="application/json" id="graph-data">{_script_json(data)}</script>
<script type="application/json" id="headers">{_script_json(headers)}</script>
<script>{_asset("vendor/dagre.min.js")}</script>
<script>{_asset("page.js")}</script>
</body></html>
"""




def check_target(path: Path, force: bool) -> None:
    """Refuse before any work: a missing folder, or an existing file without `force`."""
    from groupcost.errors import Location, UsageError

    if not path.parent.is_dir():
        raise UsageError(f"folder '{path.parent}' does not exist", None, Location("--output"))
    if path.is_dir():
        raise UsageError(f"'{path}' is a folder", "name the .html file to write", Location("--output"))
    if path.exists() and not force:
        raise UsageError(f"'{path}' exists", "add --force to overwrite it", Location("--output"))


def write_page(page: str, path: Path, force: bool = False) -> None:
    """Write through a temporary file beside `path`: never a partial page, never an existing file without `force`."""
    import os
    import tempfile

    from groupcost.errors import Location, UsageError

    check_target(path, force)
    try:
        descriptor, temporary = tempfile.mkstemp(suffix=".html", prefix=".groupcost-", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"cannot write in '{path.parent}': {exc.strerror}", None, Location("--output")) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        check_target(path, force)  # appeared while we wrote
        os.replace(temporary, path)
    except OSError as exc:
        raise UsageError(f"cannot write '{path}': {exc.strerror}", None, Location("--output")) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
