"""What `groupcost calibrate` measures: single operations drawn at random over each kind's
configuration space, timed in torch, then more of them where the fitted formulas are least sure.

- Convolutions: standard (3×3, 5×5, 7×7), grouped (any kernel, G from 2 to 64), depthwise (1×1 to 7×7: torch runs
  a 1×1 one with a kernel of its own) and pointwise, over channels, spatial size and stride; 1-D and 3-D ones; transposed convolutions; fc.
- Every other registered layer type, built from its declared arguments (required ones filled from
  the input's shape), so a type added to `groupcost.ops` is measured without a line here; a type
  that cannot be built this way falls back to the generic per-byte formula. Merges: add, mul, concat.
- Adaptive rounds: per kind, a pool of random candidates is priced by bootstrap refits of the
  current formula; the candidates where the refits disagree most are measured next (groupcost.run.fit.spread).

Each operation is one network of one node, built as `export --to pytorch` writes it (or `export --to onnx`,
run in ONNX Runtime), built a chunk of eight at a time; its timed runs follow an untimed one, back to back (it runs
after itself, as a layer timed alone is priced), and it keeps the lower median of its runs.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace

from groupcost.errors import GroupcostError, Location
from groupcost.graph.analysis import Row, step_row
from groupcost.graph.network import LayerStep, MergeStep, Network, Step
from groupcost.ops import ALIASES, LAYER_TYPES, MERGE_TYPES, Macro
from groupcost.run.latency import GENERIC, Reuse, base_kind, feature_names, features, kind_of, moved_bytes

HERE = Location("<calibrate>")
CHANNELS = (2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
SIZES = (1, 3, 7, 14, 28, 56, 112)
"""Down to a few elements: a model's smallest layers cost their fixed overhead, which only small draws pin down."""
MAX_ELEMENTS = 6_000_000  # per tensor: 24 MB of float32, well past the caches
CONV_KINDS = ("conv:standard", "conv:grouped", "conv:depthwise", "conv:pointwise", "conv:1d", "conv:3d")


@dataclass(frozen=True)
class Sample:
    """One measured operation: its node, its row (the counts the formula reads), the lower median of its runs, their spread,
    and how long ago its kind last ran (groupcost.run.latency.reuse_distances; None: timed alone, after itself)."""

    step: Step
    row: Row
    seconds: float
    spread: float
    since: Reuse | None = None


@dataclass(frozen=True)
class Plan:
    """How much to measure: first draws and adaptive rounds per convolution kind, draws per other kind, timed runs,
    the largest MACs drawn, random chains, model-like networks (groupcost.run.modellike) and small chains of every
    kind (groupcost.run.context.mixed) timed layer by layer in context."""

    conv_first: int
    conv_rounds: int
    conv_per_round: int
    other: int
    runs: int
    max_macs: int
    chains: int
    networks: int = 0
    mixed: int = 0

    @classmethod
    def of(cls, quick: bool) -> Plan:
        return cls(20, 2, 8, 10, 5, 60_000_000, 32, 30, 60) if quick else cls(60, 8, 12, 30, 11, 250_000_000, 80, 100, 200)


def _conv(rng: random.Random, kind: str, max_macs: int) -> LayerStep | None:
    conv = LAYER_TYPES["conv"]
    if kind in ("conv:1d", "conv:3d"):
        return _conv_nd(rng, kind, max_macs)
    c_in, size, stride = rng.choice(CHANNELS), rng.choice(SIZES), rng.choice((1, 1, 2))
    c_out, k, groups = rng.choice(CHANNELS), rng.choice((3, 3, 5, 7)), 1
    if kind == "conv:pointwise":
        k = 1
    elif kind == "conv:depthwise":  # 1×1 too: the scale branch of MobileOne's and FastViT's blocks before reparameterisation
        c_out = groups = c_in
        k = rng.choice((1, 3, 3, 5, 7))
    elif kind == "conv:grouped":
        k = rng.choice((1, 1, 3, 3, 5))
        common = [g for g in (2, 4, 8, 16, 32, 64) if c_in % g == 0 and c_out % g == 0 and g < c_in]
        if not common:
            return None
        groups = rng.choice(common)
    d = _dilation(rng, k)
    layer = conv(out=c_out, k=k, s=stride, p=d * (k // 2), d=d, groups=groups, bias=rng.random() < 0.3)
    return _step(layer, (c_in, size, size), max_macs)


def _dilation(rng: random.Random, k: int) -> int:
    """1, or 2 for one kernel in five over 1×1 (dilated convolutions of segmentation nets: torch runs small ones with
    a kernel of its own, groupcost.run.latency.torch_cpu_kernel)."""
    return 2 if k > 1 and rng.random() < 0.2 else 1


def _conv_nd(rng: random.Random, kind: str, max_macs: int) -> LayerStep | None:
    """A 1-D or 3-D convolution: any G (1, a divisor, depthwise), kernel and stride."""
    c_in, c_out = rng.choice(CHANNELS), rng.choice(CHANNELS)
    groups = rng.choice([1, 1, c_in, *[g for g in (2, 4, 8, 32) if c_in % g == 0 and c_out % g == 0]])
    if groups == c_in:
        c_out = c_in
    if kind == "conv:1d":
        k, x = rng.choice((1, 3, 5, 7)), (c_in, rng.choice((16, 64, 256, 1024, 4096)))
    else:
        size = rng.choice((7, 14, 28, 56))
        k, x = rng.choice((1, 3)), (c_in, rng.choice((2, 4, 8, 16)), size, size)
    d = _dilation(rng, k)
    layer = LAYER_TYPES["conv"](out=c_out, k=k, s=rng.choice((1, 1, 2)), p=d * (k // 2), d=d, groups=groups, bias=rng.random() < 0.3)
    return _step(layer, x, max_macs)


def _step(layer, x: tuple[int, ...], max_macs: int) -> LayerStep | None:
    try:
        y = layer.out_shape(x)
        cost = layer.cost(x, y)
    except (GroupcostError, ValueError, TypeError, ZeroDivisionError):
        return None
    if cost.macs + cost.matmul_macs > max_macs or max(math.prod(x), math.prod(y)) > MAX_ELEMENTS or math.prod(y) == 0:  # attention's products too
        return None
    return LayerStep("op", layer, x, y, HERE)


def _filled(name: str, c: int, size: int, rng: random.Random) -> dict | None:
    """Values for a type's required arguments, from the input's shape; None where one cannot be guessed."""
    values: dict = {}
    for spec in LAYER_TYPES[name].arg_specs():
        if not spec.required:
            continue
        if spec.name == "out":
            values["out"] = rng.choice(CHANNELS)
        elif spec.name == "k":
            values["k"] = rng.choice((2, 3))
        elif spec.name == "size":
            values["size"] = max(1, size // rng.choice((1, 2, 4)))
        elif spec.name == "groups":
            values["groups"] = rng.choice([g for g in (1, 2, 4, 8) if c % g == 0])
        elif spec.name in ("r", "p"):
            values[spec.name] = 2
        elif spec.name == "squeeze":
            values["squeeze"] = max(1, c // 4)
        elif spec.name == "heads":
            values["heads"] = rng.choice([h for h in (1, 2, 4, 8) if c % h == 0])
        elif spec.name == "dims":  # views over the spatial dims (PyTorch's numbering); reductions over them, the channels or W
            values["dims"] = [0, 1, 3, 2] if name == "permute" else rng.choice(([2, 3], [1], [3]))
        elif spec.name == "shape":
            values["shape"] = [c, size * size]
        elif spec.name == "entries":  # a learned position table's entries per channel (bias_table)
            values["entries"] = rng.choice((16, 49, 196))
        elif getattr(spec.kind, "choices", None):
            values[spec.name] = rng.choice(spec.kind.choices)
        else:
            return None
    return values


def _other(rng: random.Random, name: str, max_macs: int) -> Step | None:
    """A random instance of a registered non-convolution type (or a merge, or fc on a flat vector)."""
    c, size = rng.choice(CHANNELS), rng.choice((2, 4, 8, 14, 28, 56, 112, 150))
    x = (c, size, size)
    if name in MERGE_TYPES:  # the input met with itself: a square matmul, a concat of twice the channels
        return MergeStep("op", name, (x, x), MERGE_TYPES[name].out_shape((x, x)), HERE, ("input", "input"), (None, None))
    if name == "fc":  # up to VGG's first (25,088 → 4,096, 411 MB of weights): past its range, a formula prices by another's
        return _step(LAYER_TYPES["fc"](out=rng.choice((10, 100, 1000, 2048, 4096))), (rng.choice((256, 512, 1024, 2048, 4096, 9216, 25088)),), max_macs)
    args = _filled(name, c, size, rng)
    if args is None:
        return None
    declared = {spec.name for spec in LAYER_TYPES[name].arg_specs()}
    extras = [{}, *([{"scale": 2}] if "scale" in declared else [])]  # a type that needs one of its optional sizes (upsample)
    for extra in extras:
        try:
            step = _step(LAYER_TYPES[name](**args, **extra), x, max_macs)
        except (GroupcostError, ValueError, TypeError):
            continue
        if step is not None:
            return step
    return None


def layer_at(rng: random.Random, x: tuple[int, ...]) -> LayerStep | None:
    """A random layer of any registered non-convolution type on input `x` (C×H×W): for the chains of groupcost.run.context."""
    names = [n for n in other_kinds() if n not in MERGE_TYPES and n not in ("fc", "opaque", "dist2bbox")]
    name = rng.choice(names)
    args = _filled(name, x[0], x[1], rng)
    if args is None:
        return None
    try:
        return _step(LAYER_TYPES[name](**args), x, 10**9)
    except (GroupcostError, ValueError, TypeError):
        return None


def other_kinds() -> list[str]:
    """The registered types measured apart from the convolutions: every non-macro, non-alias type, and the merges."""
    convs = {"conv", "dwconv", "pwconv", "gdc"}
    names = [n for n, cls in LAYER_TYPES.items() if n not in ALIASES and n not in convs and not issubclass(cls, Macro)]
    return sorted(names) + sorted(MERGE_TYPES)


def network_of(step: Step | Network) -> Network:
    if isinstance(step, Network):
        return step
    in_shape = step.in_shape if isinstance(step, LayerStep) else step.in_shapes[0]
    return Network("op", "", "<calibrate>", in_shape, 1, "float32", 4, {}, (step,), (step.name,))


CHUNK = 8
"""Operations built together (the others not held in memory). Each one's runs go back to back: timed round-robin, after the other seven, a 360-channel
grouped 1×1 of 56×56 took 1.95 ms against 1.3 ms back to back and 1.2 ms per layer in a chain of ten (Table 2's), and
its formula priced Table 2's G = 8 ÷ G = 1 at 2.4–2.6× for 1.8–2.2× measured (benchmarks/latency_accuracy_results.md §15)."""


def time_steps(steps: list[Step | Network], runs: int, bench) -> list[tuple[float, float] | None]:
    """(lower median, relative interquartile spread) of each step's runs; None for a step torch cannot build."""
    result: list[tuple[float, float] | None] = []
    for first in range(0, len(steps), CHUNK):
        result += _time_chunk(steps[first : first + CHUNK], runs, bench)
    return result


def _time_chunk(steps: list[Step | Network], runs: int, bench) -> list[tuple[float, float] | None]:
    torch = bench.torch
    prepared = []
    with torch.inference_mode():
        for step in steps:
            try:
                model, x = bench.built(network_of(step))
            except Exception:  # noqa: BLE001 -- a type whose module (or ONNX node) cannot be made here is skipped, not fatal
                prepared.append(None)
                continue
            bench.once(model, x)
            bench.once(model, x)
            prepared.append((model, x))
        runs_of: list[list[float]] = [[] for _ in steps]
        for k, entry in enumerate(prepared):
            if entry is not None:
                bench.once(*entry)  # runs after itself, as a layer timed alone is priced (groupcost.run.latency.COLD)
                runs_of[k] = [bench.once(*entry) for _ in range(runs)]
    return [low_and_spread(times) if times else None for times in runs_of]


def low_and_spread(times: list[float]) -> tuple[float, float]:
    """The lower median of one operation's runs and their relative interquartile spread (0 for a single run)."""
    low = statistics.median_low(times)
    quartiles = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else [low, low, low]
    return low, (quartiles[2] - quartiles[0]) / low if low > 0 else 0.0


def harness_seconds(bench, runs: int) -> float:
    """The time of calling a network of one operation beyond the operation's own share in a model: one identity
    timed alone (harness + identity) and two chained (harness + 2 × identity); it is taken off every sample."""

    identity = LAYER_TYPES["identity"]()
    x = (64, 8, 8)
    one = LayerStep("a", identity, x, x, HERE)
    two = Network("op", "", "<calibrate>", x, 1, "float32", 4, {}, (one, LayerStep("b", identity, x, x, HERE, ("a",))), ("b",))
    alone, chained = time_steps([one, two], runs, bench)
    return max(0.0, 2 * alone[0] - chained[0])


def draw(kind: str, rng: random.Random, count: int, max_macs: int) -> list[Step]:
    """Up to `count` random operations of one kind (fewer where the kind has few legal draws)."""
    steps: list[Step] = []
    for _ in range(count * 20):
        if len(steps) == count:
            break
        step = _conv(rng, kind, max_macs) if kind in CONV_KINDS else _other(rng, kind, max_macs)
        if step is not None:
            steps.append(step)
    return steps


def collect(plan: Plan, bench, seed: int = 0, progress: Callable[[str], None] = lambda text: None) -> list[Sample]:
    """Every measured operation: first draws of every kind, then adaptive rounds for the convolutions."""
    import numpy as np

    from groupcost.run import fit

    rng = random.Random(seed)
    samples: list[Sample] = []
    harness = harness_seconds(bench, plan.runs * 4)

    def measure(steps: list[Step]) -> None:
        for step, timed in zip(steps, time_steps(steps, plan.runs, bench)):
            if timed is not None and timed[0] > 0:
                samples.append(Sample(step, step_row(step, 1), max(timed[0] - harness, timed[0] / 10), timed[1]))

    first = [s for kind in CONV_KINDS for s in draw(kind, rng, plan.conv_first, plan.max_macs)]
    first += [s for kind in other_kinds() for s in draw(kind, rng, plan.other, plan.max_macs)]
    rng.shuffle(first)
    progress(f"measuring {len(first)} operations")
    measure(first)
    rare = few_of_a_kernel(samples, rng, plan.conv_first // 2, plan.max_macs)
    if rare:
        progress(f"measuring {len(rare)} operations of the kernels drawn least")
        measure(rare)
    for round_ in range(plan.conv_rounds):
        chosen = []
        for kind in CONV_KINDS:
            names = feature_names(kind)
            mine = [s for s in samples if base_kind(kind_of(s.row)) == kind]
            pool = draw(kind, rng, 120, plan.max_macs)
            if len(mine) < len(names) or not pool:
                chosen += pool[: plan.conv_per_round]
                continue
            table = np.array([[features(s.row, 4)[n] for n in names] for s in mine])
            seconds = np.array([s.seconds for s in mine])
            candidates = np.array([[features(step_row(p, 1), 4)[n] for n in names] for p in pool])
            technique = fit.choose(names, table, seconds).technique
            disagreement = fit.spread(technique, names, table, seconds, candidates, seed=seed + round_)
            chosen += [pool[i] for i in np.argsort(-disagreement)[: plan.conv_per_round]]
        progress(f"adaptive round {round_ + 1} of {plan.conv_rounds}: {len(chosen)} operations where the formulas are least sure")
        measure(chosen)
    return samples


DRAWN_AS = {"conv:grouped_pointwise": "conv:grouped"}
"""Convolution kinds that a draw of another kind gives (a grouped one of a 1×1 kernel). Whole-plane depthwise ones (GDC)
are not drawn again: the draws pad their maps, so the only ones are 1×1 kernels on 1×1 maps."""


def few_of_a_kernel(samples: list[Sample], rng: random.Random, least: int, max_macs: int) -> list[Step]:
    """More draws of each convolution kind split by kernel (groupcost.run.latency.torch_cpu_kernel) that the first draws
    gave fewer than `least` of: a dilated 3×3 on a small map (`conv:standard/slow_dilated`) came one draw in sixty, and
    its formula, fitted on 7 layers over 10 features, priced SK-ResNet's dilated branch at 6× its time."""
    counts: dict[str, int] = {}
    for s in samples:
        counts[kind_of(s.row)] = counts.get(kind_of(s.row), 0) + 1
    steps: list[Step] = []
    for kind, count in sorted(counts.items()):
        drawn_as = DRAWN_AS.get(base_kind(kind), base_kind(kind))
        if base_kind(kind) == kind or drawn_as not in CONV_KINDS or count >= least:
            continue
        wanted = least - count
        for _ in range(wanted * 200):
            step = _conv(rng, drawn_as, max_macs)
            if step is not None and kind_of(step_row(step, 1)) == kind:
                steps.append(step)
                wanted -= 1
                if not wanted:
                    break
    return steps


MIN_SAMPLES = 10
"""Operations of a kind measured before it has a formula of its own (every other kind is drawn 10 times in `--quick`); a
kind with fewer is priced by its base kind's, its family's, or the generic one. Kinds a draw of another kind gives now and
then had formulas of ten features fitted on one or two operations (`convtranspose:gdc/onednn`, `conv:gdc/onednn`)."""


def formulas(samples: list[Sample]) -> dict:
    """One formula per kind measured (MIN_SAMPLES or more), one per convolution family (for kinds never drawn: 1-D/3-D,
    transposed), and the generic one."""
    import numpy as np

    from groupcost.run import fit

    groups: dict[str, list[Sample]] = {}
    for s in samples:
        kind = kind_of(s.row)
        groups.setdefault(kind, []).append(s)
        if base_kind(kind) != kind:
            groups.setdefault(base_kind(kind), []).append(s)
        if ":" in kind:
            groups.setdefault(kind.split(":")[0], []).append(s)
        elif s.row.macs == 0:
            groups.setdefault(GENERIC, []).append(s)
    result = {}
    for kind, mine in sorted(groups.items()):
        if len(mine) < MIN_SAMPLES:
            continue
        names = feature_names(kind)
        table = np.array([[features(s.row, 4, s.since)[n] for n in names] for s in mine])
        formula = fit.choose(names, table, np.array([s.seconds for s in mine]))
        result[kind] = replace(formula, max_bytes=max(moved_bytes(s.row, 4) for s in mine))
    return result
