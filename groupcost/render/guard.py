"""Renderers of budget checks (table, JSON, Markdown, GitHub workflow commands) and diffs."""

from __future__ import annotations

import json

from groupcost.graph.analysis import MACS_RULE, METRICS
from groupcost.language.budgets import BYTE_METRICS
from groupcost.questions.check import Verdict
from groupcost.questions.diff import Diff
from groupcost.render import documents, units

CONVENTION_LINE = f"{MACS_RULE}; FLOPs = 2 × MACs."

ICONS = {"ok": "✅", "warn": "⚠️", "over": "❌", "none": "➖", "error": "🛑"}


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
CHECK_PRIORITIES = (0, 0, 0, 0, 1, 0)


def _check_rows(checks) -> list[list[str]]:
    rows = []
    for c in checks:
        if c.error is not None:
            rows.append([c.model, "(spec not read)", "", "", "", "error"])
        elif not c.verdicts:
            rows.append([c.model, "(no budgets)", "", "", "", "none"])
        for v in c.verdicts:
            rows.append([c.model, v.budget.label, amount(v.budget.metric, v.value), amount(v.budget.metric, v.budget.limit),
                         f"{v.used:.1%}" if v.budget.limit else "-", v.status])
    return rows


def summary(checks) -> str:
    over = sum(v.status == "over" for c in checks for v in c.verdicts)
    warn = sum(v.status == "warn" for c in checks for v in c.verdicts)
    total = sum(len(c.verdicts) for c in checks)
    errors = sum(c.error is not None for c in checks)
    bad = f", {errors} could not be read" if errors else ""
    return f"{len(checks)} spec(s){bad}, {total} budget(s): {over} over, {warn} close, {total - over - warn} within"


def check_table(result):
    from groupcost.render.blocks import Blocks, Note

    from groupcost.render.grid import Grid

    checks = result.specs
    styles = {"over": "red", "warn": "yellow", "error": "red"}
    rows = _check_rows(checks)
    grid = Grid(CHECK_HEADER, rows, [False, False, True, True, True, False], title="groupcost check", row_styles=[styles.get(r[-1]) for r in rows],
                priorities=CHECK_PRIORITIES)
    errors = [Note(c.error, style="red") for c in checks if c.error is not None]
    sentences = [Note(f"{c.model}: {verdict_sentence(v)}", style=styles[v.status]) for c in checks for v in c.verdicts if v.status != "ok"]
    return Blocks(grid, *errors, *sentences, Note(summary(checks)), Note(CONVENTION_LINE, style="dim"))


def check_markdown(result) -> str:
    checks = result.specs
    worst = result.status if result.status != "ok" else "warn" if any(c.status == "warn" for c in checks) else "ok"
    lines = [f"### {ICONS[worst]} groupcost budgets", "", "| spec | budget | value | limit | used | |", "| :--- | :--- | ---: | ---: | ---: | :---: |"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {ICONS[r[5]]} |" for r in _check_rows(checks)]
    details = [f"- {ICONS['error']} `{c.error}`" for c in checks if c.error is not None]
    details += [f"- {ICONS[v.status]} **{c.model}**: {verdict_sentence(v)}" for c in checks for v in c.verdicts if v.status != "ok"]
    return "\n".join([*lines, "", *details, *([""] if details else []), f"{summary(checks)}. {CONVENTION_LINE}"]) + "\n"


def _escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


def check_github(result) -> str:
    """GitHub Actions workflow commands, each pointing at the budget's line (line 1 for a flag)."""
    lines = []
    for c in result.specs:
        if c.error is not None:
            lines.append(f"::error file={_escape(c.source, True)},title={_escape('groupcost: spec not read', True)}::{_escape(c.error)}")
        for v in c.verdicts:
            if v.status == "ok":
                continue
            level = "error" if v.status == "over" else "warning"
            loc = v.budget.loc
            props = f"file={_escape(loc.path, True)},line={loc.line},col={loc.column},title={_escape('groupcost budget: ' + c.model, True)}"
            lines.append(f"::{level} {props}::{_escape(verdict_sentence(v))}")
    lines.append(summary(result.specs))
    return "\n".join(lines) + "\n"


def check_dict(result) -> dict:
    return documents.check_dict(result)


def check_json(result) -> str:
    return json.dumps(check_dict(result), indent=2) + "\n"


CHECK_CSV_FIELDS = ("model", "source", "spec_status", "error", "metric", "unit", "scope", "value", "limit", "given", "status", "over_by", "path", "line", "column")


def check_csv(result) -> str:
    """One line per budget (a spec without budgets, or not read, gets one line with its status): exact integers."""
    rows = []
    for spec in check_dict(result)["specs"]:
        head = {"model": spec["model"], "source": spec["source"], "spec_status": spec["status"], "error": spec["error"]}
        rows += [{**head, **b, **b["location"]} for b in spec["budgets"]] or [head]
    return units.csv_text(CHECK_CSV_FIELDS, rows)


CHECK_FORMATS = {"table": check_table, "json": check_json, "csv": check_csv, "markdown": check_markdown, "github": check_github}


# ---- diff ------------------------------------------------------------------------------------

TOTALS_HEADER = ("metric", "base", "head", "Δ", "Δ%")
LAYERS_HEADER = ("layer", "change", "base", "head", "Δ params", "Δ MACs")
SHOWN_TOTALS = ("params", "macs", "matmul_macs", *(m.key for m in METRICS if m.summary))
MATMUL_SHOWN = ("matmul_macs",)  # shown only where either side has any (a network without attention reads as before)


def _has_matmul(d: Diff) -> bool:
    return any(c.metric == "matmul_macs" and (c.base or c.head) for c in d.totals)


def _layers_header(d: Diff) -> tuple[str, ...]:
    return (*LAYERS_HEADER, "Δ matmul MACs") if _has_matmul(d) else LAYERS_HEADER
DESCRIBED = ("type", "kind", "in_shapes", "groups", "out_shape")


def _percent(relative: float | None, delta: int) -> str:
    if relative is None:
        return "new" if delta else "0.0%"
    return f"{relative:+.1%}"


def _signed(metric: str, value: int) -> str:
    return ("+" if value > 0 else "-" if value < 0 else "±") + amount(metric, abs(value))


def _totals_rows(d: Diff) -> list[list[str]]:
    return [[c.metric, amount(c.metric, c.base), amount(c.metric, c.head), _signed(c.metric, c.delta), _percent(c.relative, c.delta)]
            for c in d.totals if c.metric in SHOWN_TOTALS and (c.metric not in MATMUL_SHOWN or _has_matmul(d))]


def _describe(row, fields=DESCRIBED) -> str:
    """The layer in words, only `fields` of it: 'conv standard 3×3, in 64×56×56, G=1, out 64×56×56'."""
    if row is None:
        return "-"
    parts = []
    for field in fields:
        if field == "type":
            parts.append(row.type)
        elif field == "kind" and row.kind != row.type:
            parts.append(row.kind)
        elif field == "in_shapes" and row.in_shapes:
            parts.append("in " + " + ".join(units.shape(s) for s in row.in_shapes))
        elif field == "groups" and row.groups is not None:
            parts.append(f"G={row.groups}")
        elif field == "out_shape":
            parts.append("out " + units.shape(row.out_shape))
    return ", ".join(parts) or "counts"


def _change(c) -> str:
    if c.status != "changed":
        return c.status
    renamed = f" (was {c.base_name})" if c.base_name != c.name else ""
    return "changed" + renamed


def _layer_rows(d: Diff) -> list[list[str]]:
    rows = []
    for c in d.layers:
        fields = [f for f in DESCRIBED if f in c.what] if c.status == "changed" else list(DESCRIBED)
        rows.append([c.name, _change(c), _describe(c.base, fields), _describe(c.head, fields), _signed("params", c.delta("params")),
                     _signed("macs", c.delta("macs")), *([_signed("matmul_macs", c.delta("matmul_macs"))] if _has_matmul(d) else [])])
    return rows


def _verdict(d: Diff) -> list[str]:
    return [f"rule {rule.text} fired: {change.metric} grew by {_exact(change.metric, change.delta)}"
            + (f" ({change.relative:+.1%})" if change.relative is not None else "") for rule, change in d.fired]


def diff_table(d: Diff):
    from groupcost.render.blocks import Blocks, Note

    from groupcost.render.grid import Grid

    parts = [Grid(TOTALS_HEADER, _totals_rows(d), [False, True, True, True, True], title=f"groupcost diff: {d.base_label} → {d.head_label}")]
    if d.layers:
        header = _layers_header(d)
        parts.append(Grid(header, _layer_rows(d), [i >= 4 for i in range(len(header))], title=f"{len(d.layers)} layer(s) added, removed or changed",
                          priorities=(0,) * len(header)))
    else:
        parts.append(Note("no layer added, removed or changed"))
    return Blocks(*parts, *(Note(line, style="red") for line in _verdict(d)), Note(CONVENTION_LINE, style="dim"))


def diff_markdown(d: Diff) -> str:
    icon = "❌" if d.fired else "📊"
    lines = [f"### {icon} groupcost diff: `{d.base_label}` → `{d.head_label}`", "", *units.markdown_table(TOTALS_HEADER, [False, True, True, True, True], _totals_rows(d))]
    if d.layers:
        lines += ["", f"<details><summary>{len(d.layers)} layer(s) added, removed or changed</summary>", "",
                  *units.markdown_table(_layers_header(d), [i >= 4 for i in range(len(_layers_header(d)))], _layer_rows(d)), "", "</details>"]
        from groupcost.render.mermaid import region_markdown

        region = region_markdown(d)
        if region:
            lines += ["", *region]
    lines += ["", *(f"- ❌ {line}" for line in _verdict(d)), CONVENTION_LINE]
    return "\n".join(lines) + "\n"


def diff_dict(d: Diff) -> dict:
    return documents.diff_dict(d)


def diff_json(d: Diff) -> str:
    return json.dumps(diff_dict(d), indent=2) + "\n"


DIFF_CSV_FIELDS = ("scope", "name", "base_name", "status", "changed", "metric", "base", "head", "delta")


def diff_csv(d: Diff) -> str:
    """Every total, then every metric of every added, removed or changed layer: exact integers."""
    document = diff_dict(d)
    rows = [{"scope": "total", "metric": metric, **values} for metric, values in document["totals"].items()]
    for layer in document["layers"]:
        for metric in ("params", "weights", "macs", "matmul_macs", "activation_elements", "traffic_elements"):
            base = layer["base"][metric] if layer["base"] else 0
            head = layer["head"][metric] if layer["head"] else 0
            rows.append({"scope": "layer", "name": layer["name"], "base_name": layer["base_name"], "status": layer["status"],
                         "changed": layer["changed"], "metric": metric, "base": base, "head": head, "delta": head - base})
    return units.csv_text(DIFF_CSV_FIELDS, rows)


DIFF_FORMATS = {"table": diff_table, "json": diff_json, "csv": diff_csv, "markdown": diff_markdown}
