"""Renderers of budget checks (table, JSON, Markdown, GitHub workflow commands) and diffs."""

from __future__ import annotations

import json

from groupcost import __version__
from groupcost.analysis import CONVENTION
from groupcost.budget import BYTE_METRICS, SpecCheck, Verdict
from groupcost.diff import Diff
from groupcost.render import units

SCHEMA_VERSION = 1
ICONS = {"ok": "✅", "warn": "⚠️", "over": "❌", "none": "➖"}


def amount(metric: str, value: int) -> str:
    return units.size(value) if metric in BYTE_METRICS else units.count(value)


def _exact(metric: str, value: int) -> str:
    return f"{value:,} B" if metric in BYTE_METRICS else f"{value:,}"


def verdict_sentence(v: Verdict) -> str:
    b = v.budget
    if v.status == "over":
        return (f"{b.label} is {_exact(b.metric, v.value)}, over the budget of {b.given} ({_exact(b.metric, b.limit)}) "
                f"by {_exact(b.metric, v.over_by)} ({v.over_by / b.limit:.1%})" if b.limit else f"{b.label} is {_exact(b.metric, v.value)}, over the budget of 0")
    return f"{b.label} is {_exact(b.metric, v.value)}, {v.used:.1%} of the budget of {b.given}"


# ---- check -----------------------------------------------------------------------------------

CHECK_HEADER = ("spec", "budget", "value", "limit", "used", "status")


def _check_rows(checks: list[SpecCheck]) -> list[list[str]]:
    rows = []
    for c in checks:
        if not c.verdicts:
            rows.append([c.model, "(no budgets)", "", "", "", "none"])
        for v in c.verdicts:
            rows.append([c.model, v.budget.label, amount(v.budget.metric, v.value), amount(v.budget.metric, v.budget.limit),
                         f"{v.used:.1%}" if v.budget.limit else "-", v.status])
    return rows


def summary(checks: list[SpecCheck]) -> str:
    over = sum(v.status == "over" for c in checks for v in c.verdicts)
    warn = sum(v.status == "warn" for c in checks for v in c.verdicts)
    total = sum(len(c.verdicts) for c in checks)
    return f"{len(checks)} spec(s), {total} budget(s): {over} over, {warn} close, {total - over - warn} within"


def check_table(checks: list[SpecCheck]):
    from rich.console import Group
    from rich.text import Text

    from groupcost.render.grid import Grid

    styles = {"over": "red", "warn": "yellow"}
    rows = _check_rows(checks)
    grid = Grid(CHECK_HEADER, rows, [False, False, True, True, True, False], title="groupcost check", row_styles=[styles.get(r[-1]) for r in rows])
    sentences = [Text(f"{c.model}: {verdict_sentence(v)}", style=styles[v.status]) for c in checks for v in c.verdicts if v.status != "ok"]
    return Group(grid, *sentences, Text(summary(checks)), Text("MACs count conv + linear only; FLOPs = 2 × MACs.", style="dim"))


def check_markdown(checks: list[SpecCheck]) -> str:
    worst = "over" if any(c.status == "over" for c in checks) else "warn" if any(c.status == "warn" for c in checks) else "ok"
    lines = [f"### {ICONS[worst]} groupcost budgets", "", "| spec | budget | value | limit | used | |", "| :--- | :--- | ---: | ---: | ---: | :---: |"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {ICONS[r[5]]} |" for r in _check_rows(checks)]
    details = [f"- {ICONS[v.status]} **{c.model}**: {verdict_sentence(v)}" for c in checks for v in c.verdicts if v.status != "ok"]
    return "\n".join([*lines, "", *details, *([""] if details else []), f"{summary(checks)}. MACs count conv + linear only; FLOPs = 2 × MACs."]) + "\n"


def _escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


def check_github(checks: list[SpecCheck]) -> str:
    """GitHub Actions workflow commands, each pointing at the budget's line (line 1 for a flag)."""
    lines = []
    for c in checks:
        for v in c.verdicts:
            if v.status == "ok":
                continue
            level = "error" if v.status == "over" else "warning"
            loc = v.budget.loc
            props = f"file={_escape(loc.path, True)},line={loc.line},col={loc.column},title={_escape('groupcost budget: ' + c.model, True)}"
            lines.append(f"::{level} {props}::{_escape(verdict_sentence(v))}")
    lines.append(summary(checks))
    return "\n".join(lines) + "\n"


def check_dict(checks: list[SpecCheck]) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "groupcost_version": __version__,
        "convention": CONVENTION,
        "status": "over" if any(c.status == "over" for c in checks) else "ok",
        "specs": [
            {
                "model": c.model,
                "source": c.source,
                "status": c.status,
                "budgets": [
                    {"metric": v.budget.metric, "scope": v.budget.scope, "limit": v.budget.limit, "given": v.budget.given,
                     "value": v.value, "status": v.status, "over_by": max(v.over_by, 0),
                     "location": {"path": v.budget.loc.path, "line": v.budget.loc.line, "column": v.budget.loc.column}}
                    for v in c.verdicts
                ],
            }
            for c in checks
        ],
    }


def check_json(checks: list[SpecCheck]) -> str:
    return json.dumps(check_dict(checks), indent=2) + "\n"


CHECK_FORMATS = {"table": check_table, "json": check_json, "markdown": check_markdown, "github": check_github}


# ---- diff ------------------------------------------------------------------------------------

TOTALS_HEADER = ("metric", "base", "head", "Δ", "Δ%")
LAYERS_HEADER = ("layer", "change", "base", "head", "Δ params", "Δ MACs")
SHOWN_TOTALS = ("params", "macs", "activation_bytes", "peak_activation_bytes", "traffic_bytes")


def _percent(relative: float | None, delta: int) -> str:
    if relative is None:
        return "new" if delta else "0.0%"
    return f"{relative:+.1%}"


def _signed(metric: str, value: int) -> str:
    return ("+" if value > 0 else "-" if value < 0 else "±") + amount(metric, abs(value))


def _totals_rows(d: Diff) -> list[list[str]]:
    return [[c.metric, amount(c.metric, c.base), amount(c.metric, c.head), _signed(c.metric, c.delta), _percent(c.relative, c.delta)]
            for c in d.totals if c.metric in SHOWN_TOTALS]


def _describe(row) -> str:
    if row is None:
        return "-"
    return f"{row.type} {units.shape(row.out_shape)}" + (f" G={row.groups}" if row.groups else "")


def _layer_rows(d: Diff) -> list[list[str]]:
    return [[c.name, c.status, _describe(c.base), _describe(c.head), _signed("params", c.delta("params")), _signed("macs", c.delta("macs"))] for c in d.layers]


def _verdict(d: Diff) -> list[str]:
    return [f"rule {rule.text} fired: {change.metric} grew by {_exact(change.metric, change.delta)}"
            + (f" ({change.relative:+.1%})" if change.relative is not None else "") for rule, change in d.fired]


def diff_table(d: Diff):
    from rich.console import Group
    from rich.text import Text

    from groupcost.render.grid import Grid

    parts = [Grid(TOTALS_HEADER, _totals_rows(d), [False, True, True, True, True], title=f"groupcost diff: {d.base_label} → {d.head_label}")]
    if d.layers:
        parts.append(Grid(LAYERS_HEADER, _layer_rows(d), [False, False, False, False, True, True], title=f"{len(d.layers)} layer(s) added, removed or changed"))
    else:
        parts.append(Text("no layer added, removed or changed"))
    return Group(*parts, *(Text(line, style="red") for line in _verdict(d)), Text("MACs count conv + linear only; FLOPs = 2 × MACs.", style="dim"))


def diff_markdown(d: Diff) -> str:
    icon = "❌" if d.fired else "📊"
    lines = [f"### {icon} groupcost diff: `{d.base_label}` → `{d.head_label}`", "", "| " + " | ".join(TOTALS_HEADER) + " |", "| :--- |" + " ---: |" * 4]
    lines += ["| " + " | ".join(r) + " |" for r in _totals_rows(d)]
    if d.layers:
        lines += ["", f"<details><summary>{len(d.layers)} layer(s) added, removed or changed</summary>", "",
                  "| " + " | ".join(LAYERS_HEADER) + " |", "| :--- | :--- | :--- | :--- | ---: | ---: |"]
        lines += ["| " + " | ".join(r) + " |" for r in _layer_rows(d)]
        lines += ["", "</details>"]
    lines += ["", *(f"- ❌ {line}" for line in _verdict(d)), "MACs count conv + linear only; FLOPs = 2 × MACs."]
    return "\n".join(lines) + "\n"


def _row_dict(row) -> dict | None:
    if row is None:
        return None
    return {"type": row.type, "out_shape": list(row.out_shape), "groups": row.groups, "params": row.params, "weights": row.weights,
            "macs": row.macs, "activations": row.activations, "traffic": row.traffic}


def diff_dict(d: Diff) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "groupcost_version": __version__,
        "base": d.base_label,
        "head": d.head_label,
        "convention": CONVENTION,
        "totals": {c.metric: {"base": c.base, "head": c.head, "delta": c.delta} for c in d.totals},
        "layers": [{"name": c.name, "status": c.status, "base": _row_dict(c.base), "head": _row_dict(c.head)} for c in d.layers],
        "failed_rules": [{"rule": rule.text, "metric": change.metric, "delta": change.delta} for rule, change in d.fired],
    }


def diff_json(d: Diff) -> str:
    return json.dumps(diff_dict(d), indent=2) + "\n"


def diff_csv(d: Diff) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("scope", "name", "status", "metric", "base", "head", "delta"))
    for c in d.totals:
        writer.writerow(("total", "", "", c.metric, c.base, c.head, c.delta))
    for layer in d.layers:
        for metric in ("params", "macs"):
            base = getattr(layer.base, metric) if layer.base else 0
            head = getattr(layer.head, metric) if layer.head else 0
            writer.writerow(("layer", layer.name, layer.status, metric, base, head, head - base))
    return out.getvalue()


DIFF_FORMATS = {"table": diff_table, "json": diff_json, "csv": diff_csv, "markdown": diff_markdown}

