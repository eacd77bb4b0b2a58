"""Memory traffic, arithmetic intensity and a roofline latency estimate for a device profile.

latency(layer) = max(FLOPs / peak, bytes moved / bandwidth): a layer is either compute-bound or
memory-bound. It is an estimate (floats, labelled as such), never a count. A calibrated profile
(groupcost.run.profile) is a Device too, whose `row_seconds` is its fitted latency model instead.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from groupcost.graph.analysis import Report, Row
from groupcost.errors import Location, UsageError

DEFAULT_DEVICE = "a100"


@dataclass(frozen=True)
class Device:
    name: str
    description: str
    peak_tflops: float
    bandwidth_gbs: float
    source: str

    @property
    def ridge(self) -> float:
        """FLOPs per byte above which a layer is compute-bound."""
        return self.peak_tflops * 1e12 / (self.bandwidth_gbs * 1e9)

    def seconds(self, flops: int, moved_bytes: int) -> float:
        return max(flops / (self.peak_tflops * 1e12), moved_bytes / (self.bandwidth_gbs * 1e9))

    def label(self) -> str:
        return f"{self.name} ({self.peak_tflops:g} TFLOP/s, {self.bandwidth_gbs:g} GB/s), roofline"

    @property
    def method(self) -> str:
        """How a layer's latency is estimated, in words every output that shows one repeats."""
        return "Σ over layers of max(FLOPs / peak, bytes / bandwidth)"

    def row_seconds(self, row: Row, dtype_bytes: int) -> float:
        """A layer's roofline time: its matmul MACs (attention's products) are arithmetic too, beside conv + linear."""
        return self.seconds(2 * (row.macs + row.matmul_macs), row.traffic * dtype_bytes)

    def rows_seconds(self, rows: tuple[Row, ...], dtype_bytes: int) -> list[float]:
        """Every layer's time in a network, in order (a runtime that fuses layers gives the fused ones 0)."""
        return [self.row_seconds(row, dtype_bytes) for row in rows]

    def network_seconds(self) -> float:
        """The fixed time of one call of the network, beyond its layers' (none on a roofline)."""
        return 0.0


@functools.cache
def devices() -> dict[str, Device]:
    """The shipped profiles, with the source of each figure (groupcost/run/devices.yaml)."""
    import yaml

    data = yaml.safe_load((Path(__file__).parent / "devices.yaml").read_text(encoding="utf-8"))
    return {name: Device(name=name, **fields) for name, fields in data.items()}


def device(name: str | None = None, peak_tflops: float | None = None, bandwidth_gbs: float | None = None) -> Device:
    """A named profile, or a custom one when both figures are given (they override a name)."""
    if (peak_tflops is None) != (bandwidth_gbs is None):
        flag = "--peak-tflops" if peak_tflops is not None else "--bandwidth-gbs"
        raise UsageError("give both --peak-tflops and --bandwidth-gbs for a custom device", None, Location(flag))
    if peak_tflops is not None and bandwidth_gbs is not None:
        if not (0 < peak_tflops < math.inf and 0 < bandwidth_gbs < math.inf):
            raise UsageError("--peak-tflops and --bandwidth-gbs must be positive numbers", None, Location("--peak-tflops"))
        return Device("custom", "custom device", peak_tflops, bandwidth_gbs, "command line")
    name = name or DEFAULT_DEVICE
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return load_profile(Path(name))
    if name not in devices():
        raise UsageError(f"unknown device '{name}'", f"one of {', '.join(devices())}, a profile file (groupcost calibrate -o device.yaml), or --peak-tflops with --bandwidth-gbs", Location("--device"))
    return devices()[name]


def read_profile(path: Path):
    """The YAML document of a profile file, and its text; a located UsageError where it cannot be read."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        return yaml.safe_load(text), text
    except OSError as exc:
        raise UsageError(f"cannot read device profile {path}: {exc.strerror or exc}", "groupcost calibrate -o device.yaml writes one", Location("--device")) from None
    except yaml.YAMLError as exc:
        raise UsageError(f"device profile is not YAML: {str(exc).splitlines()[0]}", None, Location(str(path))) from None


def load_profile(path: Path) -> Device:
    """A roofline device profile file in devices.yaml's format, with one device."""
    place = Location(str(path))
    data, _ = read_profile(path)
    if not isinstance(data, dict) or len(data) != 1:
        raise UsageError("a device profile maps one name to description, peak_tflops, bandwidth_gbs and source", None, place)
    (name, fields), = data.items()
    if not isinstance(fields, dict):
        raise UsageError(f"device '{name}' must be a mapping", None, place)
    peak, bandwidth = fields.get("peak_tflops"), fields.get("bandwidth_gbs")
    for key, value in (("peak_tflops", peak), ("bandwidth_gbs", bandwidth)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise UsageError(f"device '{name}': {key} must be a positive number, got {value!r}", None, place)
    return Device(str(name), str(fields.get("description", name)), float(peak), float(bandwidth), str(fields.get("source", path)))


def intensity(macs: int, traffic_elements: int, dtype_bytes: int) -> float:
    """Arithmetic intensity: FLOPs (2 × MACs) per byte moved."""
    moved = traffic_elements * dtype_bytes
    return 2 * macs / moved if moved else 0.0


def rows_seconds(report: Report, profile: Device) -> list[float]:
    """Every row's estimate in the network, in order: the profile's latency model where it has one (a calibrated profile:
    a layer's time depends on what ran before it), else the roofline; a layer fused into the one before it by the
    profile's runtime is 0. A block of a `--depth` view is the sum of its layers' (it has lost their kinds)."""
    if not report.layers:
        return profile.rows_seconds(report.rows, report.dtype_bytes)
    blocks = {row.name: 0.0 for row in report.rows}
    for layer, seconds in zip(report.layers, profile.rows_seconds(report.layers, report.dtype_bytes)):
        parts = layer.name.split(".")
        blocks[next(".".join(parts[:end]) for end in range(len(parts), 0, -1) if ".".join(parts[:end]) in blocks)] += seconds
    return list(blocks.values())


def layer_seconds(report: Report, profile: Device) -> dict[str, float]:
    """Every layer's estimate by name (rows_seconds)."""
    return dict(zip((row.name for row in report.rows), rows_seconds(report, profile)))


def report_seconds(report: Report, profile: Device) -> float:
    """The network's estimate: each layer's time, summed (layers run one after another), and the call's own fixed time."""
    return sum(rows_seconds(report, profile)) + profile.network_seconds()
