"""`groupcost diff --format html`: one self-contained page with what a change does to the totals,
the layers added, removed and changed, and both sides' full reports (render/html.py's page, with
the diff's layers marked in the graph and the table), each in an inline frame (`srcdoc`), side by
side on a wide screen. A pure render of the Diff and the two Overviews; no network.
"""

from __future__ import annotations

import html

from groupcost.version import __version__
from groupcost.questions.diff import Diff
from groupcost.questions.report import Overview
from groupcost.graph.analysis import MACS_RULE
from groupcost.render.guard import TOTALS_HEADER, _layer_rows, _layers_header, _totals_rows, _verdict
from groupcost.render.html import _asset, to_html


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def side_changes(d: Diff, side: str) -> dict[str, str]:
    """Layer name → added | removed | changed, as named on `side` ('base' or 'head')."""
    marks: dict[str, str] = {}
    for c in d.layers:
        if side == "head" and c.head is not None:
            marks[c.head.name] = c.status
        elif side == "base" and c.base is not None:
            marks[c.base.name] = c.status
    return marks


def _table(header, numeric, rows, klass: str, classes: list[str] | None = None) -> str:
    head = "".join(f'<th{" class=num" if n else ""}>{_e(h)}</th>' for h, n in zip(header, numeric))
    body = []
    for k, row in enumerate(rows):
        status = f' class="{classes[k]}"' if classes else ""
        body.append(f"<tr{status}>" + "".join(f'<td{" class=num" if n else ""}>{_e(v)}</td>' for v, n in zip(row, numeric)) + "</tr>")
    return f'<table class="{klass}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _totals(d: Diff) -> str:
    rows = _totals_rows(d)
    trend = ["grew" if r[3].startswith("+") else "fell" if r[3].startswith("-") else "same" for r in rows]  # colours the Δ cells
    return _table(TOTALS_HEADER, [False, True, True, True, True], rows, "totals", trend)


def _frame(side: str, label: str, view: Overview | None, marks: dict[str, str]) -> str:
    title = f"{side}: {label}"
    if view is None:
        return f'<section class="side" id="{side}"><h2>{_e(title)}</h2><p class=note>Absent on this side: every layer of the other is added.</p></section>'
    page = to_html(view, marks)
    return (f'<section class="side" id="{side}"><h2>{_e(title)}</h2>'
            f'<iframe title="{_e(title)} report" srcdoc="{_e(page)}"></iframe></section>')


def diff_html(d: Diff, base: Overview | None, head: Overview) -> str:
    """The whole page: the diff's totals and layers, then the report of each side with the changes marked."""
    layers = (_table(_layers_header(d), [i >= 4 for i in range(len(_layers_header(d)))], _layer_rows(d), "layers", [f"change-{c.status}" for c in d.layers])
              if d.layers else "<p>No layer added, removed or changed.</p>")
    fired = "".join(f"<li>{_e(line)}</li>" for line in _verdict(d))
    verdict = f'<ul class="fired">{fired}</ul>' if fired else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="groupcost {_e(__version__)}">
<title>groupcost diff: {_e(d.base_label)} → {_e(d.head_label)}</title>
<style>{_asset("page.css")}
.diff table {{ border-collapse: collapse; margin: .5em 0 1em; }}
.diff th, .diff td {{ padding: 2px 10px; border-bottom: 1px solid var(--line); text-align: left; }}
.diff .num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.diff tr.grew td:nth-child(4), .diff tr.grew td:nth-child(5) {{ color: #cf222e; }}
.diff tr.fell td:nth-child(4), .diff tr.fell td:nth-child(5) {{ color: #1a7f37; }}
ul.fired {{ color: #cf222e; font-weight: 600; }}
.sides {{ display: grid; grid-template-columns: 1fr; gap: 12px; }}
.sides.by-side {{ grid-template-columns: 1fr 1fr; }}
.side iframe {{ width: 100%; height: 88vh; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); }}
@media print {{ .side iframe {{ height: auto; min-height: 60vh; }} #layout {{ display: none; }} }}
</style>
</head><body class="diff">
<header><div><h1>groupcost diff</h1><p class=subtitle><code>{_e(d.base_label)}</code> → <code>{_e(d.head_label)}</code></p></div>
<button type="button" id="theme" title="switch dark / light">◐ theme</button></header>
<section id="totals"><h2>Totals</h2>{_totals(d)}{verdict}</section>
<section id="changes"><h2>{len(d.layers)} layer(s) added, removed or changed</h2>
<p class=legend><span class="swatch change-changed"></span> changed <span class="swatch change-added"></span> added
<span class="swatch change-removed"></span> removed — marked the same way in both reports below.</p>{layers}</section>
<section id="reports"><h2>Both sides</h2>
<div class="controls"><button type="button" id="layout">side by side</button>
<span class="hint">each report is the full page of <code>groupcost report</code>, the diff's layers marked</span></div>
<div class="sides" id="sides">{_frame("base", d.base_label, base, side_changes(d, "base"))}{_frame("head", d.head_label, head, side_changes(d, "head"))}</div>
</section>
<footer>groupcost {_e(__version__)} · {_e(MACS_RULE)}; FLOPs = 2 × MACs.</footer>
<script>
(() => {{
  "use strict";
  const root = document.documentElement, sides = document.getElementById("sides"), layout = document.getElementById("layout");
  document.getElementById("theme").addEventListener("click", () => {{
    const dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
    root.dataset.theme = dark ? "light" : "dark";
  }});
  const place = (bySide) => {{ sides.classList.toggle("by-side", bySide); layout.textContent = bySide ? "one after another" : "side by side"; }};
  layout.addEventListener("click", () => place(!sides.classList.contains("by-side")));
  place(innerWidth >= 1800);
}})();
</script>
</body></html>
"""
