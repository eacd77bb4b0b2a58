"""A calibrated latency profile: the file `groupcost calibrate` writes and `--device FILE` reads.

A YAML document, versioned by its first key, that says where it was measured (machine, runtime,
threads, torch version, date), how noisy the measurements were, the machine's roofline figures,
and one fitted formula per operation kind (groupcost.run.latency):

    groupcost_latency_profile: 4
    name: xeon-1t
    machine: {place: cpu, processor: Intel(R) Xeon(R) Processor, cpus: 2}
    runtime: torch-eager
    threads: 1
    torch: 2.13.0
    created: '2026-12-06'
    noise: 0.031          # median relative spread of a layer's repeated measurements
    reference_seconds: 0.0195   # mobilenet_v2 when the profile was made (calibrate --check times it again)
    roofline: {peak_tflops: 0.17, bandwidth_gbs: 8.1}
    context: {per_network: 1.2e-05, per_layer: -2.0e-06, scale_fixed: 1, scale_conv: 1, scale_pointwise: 1, scale_other: 1, samples: 130, heldout_error: 0.06}
    formulas:             # fitted on operations timed alone
      conv:grouped: {technique: linear, features: [one, macs, ...], coefficients: [...], samples: 40, heldout_error: 0.08}
    in_context:           # fitted on layers timed inside networks: these take precedence
      conv:grouped: {technique: linear, features: [one, macs, ...], coefficients: [...], samples: 700, heldout_error: 0.12}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from groupcost.errors import Location, UsageError
from groupcost.graph.analysis import Row
from groupcost.run.context import COEFFICIENTS, GROUPS, Context
from groupcost.run.latency import FEATURES, TECHNIQUES, Formula, LatencyModel, reuse_distances
from groupcost.run.roofline import Device

VERSION_KEY = "groupcost_latency_profile"
VERSION = 6
READS = (2, 3, 4, 5, 6)
"""Version 3 added `context` (groupcost.run.context), version 4 `in_context` (formulas fitted on layers timed inside
networks) and a per-layer context time that may be negative, version 5 the feature `since_bytes` (the bytes moved since a
layer's kind last ran: groupcost.run.latency.COLD) and operations timed each after an untimed run of itself, version 6 the
feature `kinds_since` (the other kinds run since: groupcost.run.latency.KINDS), each formula's `max_bytes` (the range
it was fitted on: groupcost.run.latency.TRUSTED) and, under torch eager, a fitted `scale_fixed` for the kinds without
formulas in context; older profiles are read without what they lack."""
RUNTIMES = ("torch-eager", "onnxruntime")
"""The runtimes a profile may come from: torch eager (it fuses nothing, so every layer is priced on its own) and
ONNX Runtime (one intra-op thread per CPU thread asked for; it fuses layers: groupcost.run.fusion)."""


@dataclass(frozen=True)
class LatencyProfile(Device):
    """A Device whose per-layer estimate is its fitted latency model (the roofline figures kept for the roofline chart)."""

    runtime: str = "torch-eager"
    place: str = "cpu"
    threads: int = 1
    torch: str = ""
    created: str = ""
    noise: float = 0.0
    model: LatencyModel = field(default_factory=lambda: LatencyModel({}))
    reference_seconds: float = 0.0
    """The reference network's time when the profile was made (groupcost.run.measure.REFERENCE; 0: not recorded)."""

    def label(self) -> str:
        threads = f", {self.threads} thread{'s' if self.threads != 1 else ''}" if self.place == "cpu" else ""
        return f"{self.name} ({self.place}{threads}, {self.runtime}), calibrated latency model"

    @property
    def method(self) -> str:
        return (f"Σ over layers of each operation kind's formula, fitted to {self.description} measured {self.created} "
                f"(noise ±{self.noise:.0%})")

    def rows_seconds(self, rows: tuple[Row, ...], dtype_bytes: int) -> list[float]:
        """Each layer with how long ago its kind last ran (groupcost.run.latency.reuse_distances)."""
        seconds = [self.model.row_seconds(row, dtype_bytes, since) for row, since in zip(rows, reuse_distances(rows, dtype_bytes))]
        if self.runtime != "onnxruntime":
            return seconds
        from groupcost.run.fusion import fused_into

        return [0.0 if absorbed else s for s, absorbed in zip(seconds, fused_into(rows))]

    def network_seconds(self) -> float:
        return self.model.network_seconds()


def device(name: str | None = None, peak_tflops: float | None = None, bandwidth_gbs: float | None = None) -> Device:
    """`--device`: a calibrated latency profile file, or what roofline.device gives (a datasheet name, a roofline file, custom figures)."""
    from pathlib import Path

    from groupcost.run import roofline

    if name is not None and peak_tflops is None and bandwidth_gbs is None and (name.endswith((".yaml", ".yml")) or "/" in name):
        data, text = roofline.read_profile(Path(name))
        if isinstance(data, dict) and VERSION_KEY in data:
            return from_document(data, text, name)
    return roofline.device(name, peak_tflops, bandwidth_gbs)


def to_document(profile: LatencyProfile) -> dict:
    return {
        VERSION_KEY: VERSION,
        "name": profile.name,
        "description": profile.description,
        "source": profile.source,
        "machine": {"place": profile.place, "processor": profile.description},
        "runtime": profile.runtime,
        "threads": profile.threads,
        "torch": profile.torch,
        "created": profile.created,
        "noise": round(profile.noise, 4),
        **({"reference_seconds": float(f"{profile.reference_seconds:.6g}")} if profile.reference_seconds > 0 else {}),
        "roofline": {"peak_tflops": profile.peak_tflops, "bandwidth_gbs": profile.bandwidth_gbs},
        **({"context": _context_document(profile.model.context)} if profile.model.context is not None else {}),
        "formulas": _formulas_document(profile.model.formulas),
        **({"in_context": _formulas_document(profile.model.in_context)} if profile.model.in_context else {}),
    }


def _formulas_document(formulas: dict[str, Formula]) -> dict:
    return {kind: {"technique": f.technique, "features": list(f.features), "coefficients": [float(f"{c:.6g}") for c in f.coefficients],
                   "samples": f.samples, "heldout_error": round(f.heldout_error, 4) if math.isfinite(f.heldout_error) else None,
                   **({"max_bytes": f.max_bytes} if f.max_bytes else {})}
            for kind, f in sorted(formulas.items())}


def _context_document(context: Context) -> dict:
    return {"per_network": float(f"{context.per_network:.6g}"), "per_layer": float(f"{context.per_layer:.6g}"),
            "scale_fixed": float(f"{context.scale_fixed:.6g}"),
            **{f"scale_{g}": float(f"{context.scales[g]:.6g}") for g in GROUPS},
            "samples": context.samples, "heldout_error": round(context.heldout_error, 4) if math.isfinite(context.heldout_error) else None}


def to_yaml(profile: LatencyProfile) -> str:
    import yaml

    return ("# A groupcost latency profile: --device this-file.yaml (written by groupcost calibrate)\n"
            + yaml.safe_dump(to_document(profile), sort_keys=False, allow_unicode=True, width=200))


def _line_of(text: str, key: str) -> int:
    """The 1-based line where `key:` starts (a top-level or nested key), or 1."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith(f"{key}:"):
            return number
    return 1


def from_document(data: dict, text: str, path: str) -> LatencyProfile:
    """The profile in `data` (read from `text` at `path`); every defect a located UsageError."""

    def bad(key: str, message: str, hint: str | None = None) -> UsageError:
        return UsageError(message, hint, Location(path, _line_of(text, key), 1))

    version = data.get(VERSION_KEY)
    if version not in READS:
        raise bad(VERSION_KEY, f"latency profile version {version!r} is not one this groupcost reads (version {VERSION})",
                  "run groupcost calibrate again to write a current profile")
    for key, kind in (("name", str), ("runtime", str), ("threads", int), ("noise", (int, float)), ("formulas", dict), ("roofline", dict)):
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise bad(key, f"latency profile: '{key}' is missing or not a {kind.__name__ if isinstance(kind, type) else 'number'}")
    if data["runtime"] not in RUNTIMES:
        raise bad("runtime", f"latency profile: unknown runtime '{data['runtime']}'", f"one of {', '.join(RUNTIMES)}")
    roofline = data["roofline"]
    for key in ("peak_tflops", "bandwidth_gbs"):
        value = roofline.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise bad(key, f"latency profile: roofline {key} must be a positive number, got {value!r}")
    formulas = {}
    for kind, entry in data["formulas"].items():
        formulas[str(kind)] = _formula(str(kind), entry, bad)
    if not formulas:
        raise bad("formulas", "latency profile has no formulas", "run groupcost calibrate again")
    context = _context(data["context"], bad) if "context" in data else None
    in_context = data.get("in_context", {})
    if not isinstance(in_context, dict):
        raise bad("in_context", "latency profile: 'in_context' must be a mapping of formulas")
    in_context = {str(kind): _formula(str(kind), entry, bad) for kind, entry in in_context.items()}
    reference = data.get("reference_seconds", 0.0)
    if isinstance(reference, bool) or not isinstance(reference, (int, float)) or not 0 <= reference < math.inf:
        raise bad("reference_seconds", f"latency profile: reference_seconds must be a positive number, got {reference!r}")
    machine = data.get("machine") if isinstance(data.get("machine"), dict) else {}
    return LatencyProfile(
        name=data["name"], description=str(data.get("description", machine.get("processor", ""))), peak_tflops=float(roofline["peak_tflops"]),
        bandwidth_gbs=float(roofline["bandwidth_gbs"]), source=str(data.get("source", path)), runtime=data["runtime"],
        place=str(machine.get("place", "cpu")), threads=data["threads"], torch=str(data.get("torch", "")), created=str(data.get("created", "")),
        noise=float(data["noise"]), model=LatencyModel(formulas, context, in_context), reference_seconds=float(reference),
    )


def _context(entry, bad) -> Context:
    if not isinstance(entry, dict):
        raise bad("context", "latency profile: 'context' must be a mapping")
    for key in COEFFICIENTS:
        value = entry.get(key)
        if key == "per_layer":  # negative where timing each node cost more than the layer's share of the whole run
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise bad("context", f"latency profile: context {key} must be a number, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise bad("context", f"latency profile: context {key} must be a non-negative number, got {value!r}")
    error = entry.get("heldout_error")
    return Context(float(entry["per_network"]), float(entry["per_layer"]), float(entry["scale_fixed"]), {g: float(entry[f"scale_{g}"]) for g in GROUPS},
                   int(entry.get("samples") or 0), float(error) if isinstance(error, (int, float)) else float("nan"))


def _formula(kind: str, entry, bad) -> Formula:
    if not isinstance(entry, dict):
        raise bad(kind, f"latency profile: formula '{kind}' must be a mapping")
    technique, names, coefficients = entry.get("technique"), entry.get("features"), entry.get("coefficients")
    if technique not in TECHNIQUES:
        raise bad(kind, f"latency profile: formula '{kind}' has technique {technique!r}", f"one of {', '.join(TECHNIQUES)}")
    if not (isinstance(names, list) and isinstance(coefficients, list) and len(names) == len(coefficients) and names):
        raise bad(kind, f"latency profile: formula '{kind}' needs as many coefficients as features")
    if any(isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) for c in coefficients):
        raise bad(kind, f"latency profile: formula '{kind}' has a coefficient that is not a finite number")
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise bad(kind, f"latency profile: formula '{kind}' uses unknown feature '{unknown[0]}'")
    error, max_bytes = entry.get("heldout_error"), entry.get("max_bytes", 0)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise bad(kind, f"latency profile: formula '{kind}' has max_bytes {max_bytes!r}", "a whole number of bytes, 0 or more")
    return Formula(technique, tuple(names), tuple(float(c) for c in coefficients), int(entry.get("samples") or 0),
                   float(error) if isinstance(error, (int, float)) else float("nan"), max_bytes)
