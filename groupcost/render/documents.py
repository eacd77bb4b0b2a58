"""The JSON documents of every result: plain dicts of exact integers, each field named with its unit.

`to_dict(result)` gives any command's result as its `--format json` document; the JSON renderers
only dump these, and the CSV renderers take their columns from them, so the three never disagree.
The results know nothing of this module (the core does not import its output format). No I/O, no
rich. Shapes are C×H×W of one sample everywhere (the batch is a field of its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from groupcost.version import __version__
from groupcost.graph.analysis import CONVENTION, METRICS, Report, Row, TypeBreakdown

if TYPE_CHECKING:
    from groupcost.api import CheckResult, VerifyResult
    from groupcost.questions.diff import Diff
    from groupcost.run.roofline import Device
    from groupcost.questions.whatif import Sweep
    from groupcost.questions.compare import Comparison, GroupSweep, LayerComparison, Variant

SCHEMA_VERSION = 2
LAYER_DTYPE_BYTES = 4  # `groupcost layer` counts float32 tensors


def _header() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "groupcost_version": __version__}


def device_dict(device: Device) -> dict[str, Any]:
    return {"name": device.name, "peak_tflops": device.peak_tflops, "bandwidth_gbs": device.bandwidth_gbs, "source": device.source}


# ---- analyze ---------------------------------------------------------------------------------


def totals_dict(report: Report) -> dict[str, int]:
    return {m.key: m.total(report) for m in METRICS}


def row_dict(row: Row, dtype_bytes: int) -> dict[str, Any]:
    return {
        "name": row.name,
        "type": row.type,
        "kind": row.kind,
        "in_shapes": [list(s) for s in row.in_shapes],
        "out_shape": list(row.out_shape),
        "groups": row.groups,
        **({"shares": row.shares} if row.shares is not None else {}),
        **{m.key: m.row(row, dtype_bytes) for m in METRICS if m.row is not None},
    }


def report_dict(report: Report, device: Device | None = None) -> dict[str, Any]:
    """`analyze --format json`: with a device, each layer gains `latency_s` and the document a `roofline`."""
    from groupcost.run.roofline import report_seconds, rows_seconds

    b = report.dtype_bytes
    document = {
        **_header(),
        "model": report.model,
        "source": report.source,
        "input_shape": list(report.input_shape),
        "output_shape": list(report.output_shape),
        "outputs": [{"name": name, "shape": list(shape)} for name, shape in report.outputs],
        "batch": report.batch,
        "dtype": report.dtype,
        "dtype_bytes": b,
        "variables": report.variables,
        "convention": CONVENTION,
        **({"notes": list(report.notes)} if report.notes else {}),
        "totals": totals_dict(report),
        "layers": [row_dict(r, b) for r in report.rows],
    }
    if device is not None:
        document["roofline"] = {
            "device": device.name, "peak_tflops": device.peak_tflops, "bandwidth_gbs": device.bandwidth_gbs, "source": device.source,
            "latency_s": report_seconds(report, device), "estimate": device.method, "device_label": device.label(),
        }
        for layer, seconds in zip(document["layers"], rows_seconds(report, device)):  # a layer its runtime fuses: 0
            layer["latency_s"] = seconds
    return document


def breakdown_dict(breakdown: TypeBreakdown) -> dict[str, Any]:
    """`analyze --by type --format json`: one entry per layer type and conv kind, with shares of the total."""
    report, b = breakdown.report, breakdown.report.dtype_bytes
    return {
        **_header(),
        "model": report.model,
        "source": report.source,
        "input_shape": list(report.input_shape),
        "batch": report.batch,
        "dtype": report.dtype,
        "convention": CONVENTION,
        "totals": totals_dict(report),
        "types": [
            {"type": t.type, "kind": t.kind, "count": t.count, "params": t.params, "weights": t.weights, "macs": t.macs,
             "matmul_macs": t.matmul_macs, "activation_elements": t.activations, "traffic_elements": t.traffic, "traffic_bytes": t.traffic * b,
             **{f"{metric}_share": share for metric, share in t.shares.items()}}
            for t in breakdown.rows
        ],
    }


# ---- layer, compare --------------------------------------------------------------------------


def variant_dict(variant: Variant, dtype_bytes: int) -> dict[str, Any]:
    if not variant.legal:
        return {"legal": False, "reason": variant.reason, "nearest_legal": list(variant.nearest_legal)}
    return {
        "legal": True,
        "out_shape": list(variant.out_shape),
        "params": variant.total("params"),
        "weights": variant.total("weights"),
        "macs": variant.total("macs"),
        "activation_elements": variant.total("activations"),
        "traffic_elements": variant.total("traffic"),
        "traffic_bytes": variant.total("traffic") * dtype_bytes,
    }


def group_sweep_dict(sweep: GroupSweep) -> dict[str, Any]:
    q = sweep.question
    return {
        **_header(),
        "conv": {"in_shape": list(q.in_shape), "out": q.out, "k": list(q.k), "s": list(q.s), "p": q.p if isinstance(q.p, str) else list(q.p),
                 "d": list(q.d), "bias": q.bias},
        "dtype": "float32",
        "convention": {k: CONVENTION[k] for k in ("macs", "matmul_macs", "params", "weights", "activations", "traffic", "shapes")},
        "variants": [{"g": v.label, "groups": q.in_shape[0] if v.label == "dw" else int(v.label), **variant_dict(v, LAYER_DTYPE_BYTES)}
                     for v in sweep.variants],
    }


def _comparison_dict(layer: LayerComparison, dtype_bytes: int) -> dict[str, Any]:
    return {
        "name": layer.name,
        "in_shape": list(layer.in_shape),
        "as_written": variant_dict(layer.written, dtype_bytes),
        "variants": [{"variant": v.label, **variant_dict(v, dtype_bytes)} for v in layer.variants],
    }


def comparison_dict(c: Comparison) -> dict[str, Any]:
    b = c.dtype_bytes
    return {
        **_header(),
        "model": c.model,
        "dtype_bytes": b,
        "convention": CONVENTION,
        "layers": [_comparison_dict(layer, b) for layer in c.layers],
        "heads": [_comparison_dict(head, b) for head in c.heads],
        "networks": [
            {"variant": s.label, "replaced_layers": s.replaced, "illegal_layers": list(s.illegal),
             "params": s.totals.params, "weights": s.totals.weights, "macs": s.totals.macs, "matmul_macs": s.totals.matmul_macs,
             "activation_elements": s.totals.activations,
             "activation_bytes": s.totals.activations * b, "traffic_elements": s.totals.traffic, "traffic_bytes": s.totals.traffic * b}
            for s in c.scenarios
        ],
    }


# ---- whatif ----------------------------------------------------------------------------------


def sweep_dict(sweep: Sweep) -> dict[str, Any]:
    rows = []
    for o in sweep.outcomes:
        row: dict[str, Any] = {"label": o.config.label, "variables": o.config.variables, "layer": o.config.layer, "groups": o.config.groups,
                               "legal": o.legal}
        if o.report is None:
            row["reason"] = o.reason
        else:
            row.update(totals_dict(o.report))
            row["latency_s"] = o.seconds
        rows.append(row)
    return {
        **_header(),
        "model": sweep.model,
        "varied": list(sweep.varied),
        "convention": {**CONVENTION, "latency_s": "roofline estimate, seconds: sum over layers of max(FLOPs / peak, bytes / bandwidth)"},
        "device": device_dict(sweep.device),
        "configurations": rows,
    }


# ---- check, diff -----------------------------------------------------------------------------


def check_dict(result: CheckResult) -> dict[str, Any]:
    checks = result.specs
    return {
        **_header(),
        "convention": CONVENTION,
        "status": "error" if any(c.error for c in checks) else "over" if any(c.status == "over" for c in checks) else "ok",
        "specs": [
            {
                "model": c.model,
                "source": c.source,
                "status": c.status,
                "error": c.error,
                "budgets": [
                    {"metric": v.budget.metric, "unit": v.budget.unit, "scope": v.budget.scope, "limit": v.budget.limit, "given": v.budget.given,
                     "value": v.value, "status": v.status, "over_by": max(v.over_by, 0),
                     "location": {"path": v.budget.loc.path, "line": v.budget.loc.line, "column": v.budget.loc.column}}
                    for v in c.verdicts
                ],
            }
            for c in checks
        ],
    }


def diff_row_dict(row: Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"type": row.type, "kind": row.kind, "in_shapes": [list(s) for s in row.in_shapes], "out_shape": list(row.out_shape),
            "groups": row.groups, "params": row.params, "weights": row.weights, "macs": row.macs, "matmul_macs": row.matmul_macs,
            "activation_elements": row.activations,
            "traffic_elements": row.traffic}


def diff_dict(d: Diff) -> dict[str, Any]:
    return {
        **_header(),
        "base": d.base_label,
        "head": d.head_label,
        "convention": CONVENTION,
        "totals": {c.metric: {"base": c.base, "head": c.head, "delta": c.delta} for c in d.totals},
        "layers": [{"name": c.name, "base_name": c.base_name, "status": c.status, "changed": list(c.what),
                    "base": diff_row_dict(c.base), "head": diff_row_dict(c.head)} for c in d.layers],
        "failed_rules": [{"rule": rule.text, "metric": change.metric, "delta": change.delta} for rule, change in d.fired],
    }


# ---- verify ----------------------------------------------------------------------------------


def verification_dict(result: VerifyResult) -> dict[str, Any]:
    """`verify --format json`: the execute.Verification with its verdict; shapes without the batch, which is its own field."""
    v, verdict = result.verification, result.verdict
    return {
        **_header(),
        "model": v.model,
        "batch": v.batch,
        "dtype": v.dtype,
        "seed": v.seed,
        "convention": {"macs": CONVENTION["macs"], "matmul_macs": CONVENTION["matmul_macs"], "shapes": CONVENTION["shapes"],
                       "counted_macs": "multiply-accumulates the NumPy kernels performed, from the sizes of their contractions"},
        "ok": v.ok,
        "verdict": verdict,
        "finite_output": v.finite,
        "seconds": v.seconds,
        "layers": [
            {"name": c.name, "type": c.type, "expected_shape": list(c.expected_shape[1:]), "actual_shape": list(c.actual_shape[1:]),
             "actual_batch": c.actual_shape[0] if c.actual_shape else None,
             "expected_macs": c.expected_macs, "counted_macs": c.counted_macs,
             "expected_matmul_macs": c.expected_matmul_macs, "counted_matmul_macs": c.counted_matmul_macs, "expected_params": c.expected_params,
             "allocated_params": c.allocated_params, "ok": c.ok, "error": c.error, "seconds": c.seconds}
            for c in v.checks
        ],
    }


# ---- zoo -------------------------------------------------------------------------------------


def zoo_dict(entries: list) -> dict[str, Any]:
    return {
        **_header(),
        "convention": CONVENTION,
        "models": [{"model": name, "input_shape": list(net.input_shape), "params": r.totals.params, "macs": r.totals.macs,
                    "matmul_macs": r.totals.matmul_macs,
                    "description": net.description} for name, net, r in entries],
    }


# ---- any result ------------------------------------------------------------------------------

DOCUMENTS = {
    "groupcost.graph.analysis.Report": report_dict,
    "groupcost.graph.analysis.TypeBreakdown": breakdown_dict,
    "groupcost.questions.compare.GroupSweep": group_sweep_dict,
    "groupcost.questions.compare.Comparison": comparison_dict,
    "groupcost.questions.whatif.Sweep": sweep_dict,
    "groupcost.api.CheckResult": check_dict,
    "groupcost.questions.diff.Diff": diff_dict,
    "groupcost.api.VerifyResult": verification_dict,
}
"""Result type (by its full name: this module imports none of them) → its document."""


def to_dict(result: Any, device: Device | None = None) -> dict[str, Any]:
    """Any command's result as its `--format json` document; a Report with a roofline.Device gains its estimate."""
    kind = type(result)
    build = DOCUMENTS.get(f"{kind.__module__}.{kind.__qualname__}")
    if build is None:
        raise TypeError(f"no JSON document for {kind.__qualname__}")
    return build(result, device) if device is not None else build(result)
