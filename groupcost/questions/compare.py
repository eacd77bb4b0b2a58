"""Variants of convolutions: standard, grouped at G, depthwise, depthwise-separable; and heads
(GAP, GDC, a dense conv over the plane). Pure functions over resolved steps.

A variant replaces one layer step by one or two new steps with the same input and output
shapes, so the rest of the network is untouched and whole-network totals are the analysis
of the network with the steps replaced.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass

from groupcost.graph.analysis import Row, Totals, analyze, step_row
from groupcost.errors import Location, UsageError
from groupcost.ops import Layer, LayerError, Shape
from groupcost.ops.conv import Conv, ConvLike, ConvTranspose, DepthwiseConv, GlobalDepthwiseConv, PointwiseConv, TransposedGeometry, legal_groups, nearest
from groupcost.ops.pool import GlobalAvgPool
from groupcost.graph.network import LayerStep, Network, Step, replace_steps

DEPTHWISE = "dw"
SEPARABLE = "dwsep"
Choice = int | str  # a group count, "dw" (G = C_in) or "dwsep"


@dataclass(frozen=True)
class Variant:
    """One way to build a layer: its rows (one, or two for dwsep), or why it cannot be built."""

    label: str
    rows: tuple[Row, ...] = ()
    reason: str | None = None
    nearest_legal: tuple[int, ...] = ()

    @property
    def legal(self) -> bool:
        return self.reason is None

    @property
    def out_shape(self) -> Shape:
        return self.rows[-1].out_shape

    def total(self, metric: str) -> int:
        return sum(getattr(row, metric) for row in self.rows)


def is_groupable(step) -> bool:
    """The layers whose G is a design choice (their type says so): standard, pointwise and transposed convolutions."""
    return isinstance(step, LayerStep) and step.layer.groupable


def choice_label(choice: Choice) -> str:
    return {1: "standard", DEPTHWISE: "depthwise", SEPARABLE: "dw-separable"}.get(choice, f"G={choice}")


def replacement(step: LayerStep, choice: Choice) -> tuple[LayerStep, ...]:
    """`step`'s convolution rebuilt as `choice` (one step, or two for dwsep) reading what it read;
    raises LayerError when that is not possible."""
    assert isinstance(step.layer, ConvLike)
    g = step.layer.geometry(step.in_shape)
    x = step.in_shape
    transposed = isinstance(g, TransposedGeometry)
    if choice == SEPARABLE:
        if all(k == 1 for k in g.kernel):
            raise LayerError("a 1×1 convolution has no spatial part to separate")
        if transposed:  # a depthwise transposed conv (C_in → C_in, G = C_in) then the pointwise conv
            dw: Layer = ConvTranspose(out=g.c_in, k=g.kernel, s=g.stride, p=g.pads[::2], output_padding=g.output_padding, d=g.dilation, groups=g.c_in, bias=g.bias)
        else:
            dw = DepthwiseConv(k=g.kernel, s=g.stride, p=g.pads, d=g.dilation, bias=g.bias)
        pw = PointwiseConv(out=g.c_out, bias=g.bias)
        mid = dw.out_shape(x)
        first = dataclasses.replace(step, name=f"{step.name}.dw", layer=dw, out_shape=mid)
        return first, LayerStep(f"{step.name}.pw", pw, mid, pw.out_shape(mid), step.loc, (first.name,))
    groups = g.c_in if choice == DEPTHWISE else int(choice)
    if transposed:
        conv: Layer = ConvTranspose(out=g.c_out, k=g.kernel, s=g.stride, p=g.pads[::2], output_padding=g.output_padding, d=g.dilation, groups=groups, bias=g.bias)
    else:
        conv = Conv(out=g.c_out, k=g.kernel, s=g.stride, p=g.pads, d=g.dilation, groups=groups, bias=g.bias)
    return (dataclasses.replace(step, layer=conv, out_shape=conv.out_shape(x)),)


def variant(step: LayerStep, choice: Choice, batch: int = 1) -> Variant:
    label = choice_label(choice)
    try:
        node = replacement(step, choice)
    except LayerError as exc:
        g = step.layer.geometry(step.in_shape)  # type: ignore[attr-defined]
        groups = g.c_in if choice == DEPTHWISE else choice
        legal = nearest(legal_groups(g.c_in, g.c_out), groups) if exc.arg == "groups" and isinstance(groups, int) else []
        return Variant(label, reason=exc.message, nearest_legal=tuple(legal))
    return Variant(label, tuple(step_row(s, batch) for s in node))


# ---- one convolution on the command line (`groupcost layer`) --------------------------------


@dataclass(frozen=True)
class ConvQuestion:
    """One convolution as asked on the command line: input C×L, C×H×W or C×T×H×W and the conv's arguments
    (k, s, d one entry per spatial dimension; p a (before, after) pair per dimension, flattened, or 'same')."""

    in_shape: Shape
    out: int
    k: tuple[int, ...]
    s: tuple[int, ...] = (1, 1)
    p: tuple[int, ...] | str = (0, 0, 0, 0)
    d: tuple[int, ...] = (1, 1)
    bias: bool = False

    def step(self) -> LayerStep:
        """The standard convolution; raises LayerError when it is impossible whatever G is."""
        conv = Conv(out=self.out, k=self.k, s=self.s, p=self.p, d=self.d, bias=self.bias)
        return LayerStep("conv", conv, self.in_shape, conv.out_shape(self.in_shape), Location("<layer>"))


@dataclass(frozen=True)
class GroupSweep:
    question: ConvQuestion
    baseline: Variant  # G = 1, what every ratio is taken against
    variants: tuple[Variant, ...]



def sweep_groups(question: ConvQuestion, choices: list[Choice]) -> GroupSweep:
    step = question.step()
    return GroupSweep(question, variant(step, 1), tuple(dataclasses.replace(variant(step, c), label=str(c)) for c in choices))


# ---- a whole network (`groupcost compare`) ---------------------------------------------------


@dataclass(frozen=True)
class LayerComparison:
    name: str
    in_shape: Shape
    written: Variant  # the layer as the spec has it
    variants: tuple[Variant, ...]  # standard first


@dataclass(frozen=True)
class Scenario:
    """The whole network with every selected convolution built one way."""

    label: str
    totals: Totals
    replaced: int = 0
    illegal: tuple[str, ...] = ()  # layers kept as written because the choice is not legal there


@dataclass(frozen=True)
class Comparison:
    model: str
    dtype_bytes: int
    choices: tuple[Choice, ...]
    layers: tuple[LayerComparison, ...]
    heads: tuple[LayerComparison, ...]
    scenarios: tuple[Scenario, ...]



def _head(step: LayerStep, batch: int) -> LayerComparison | None:
    """A layer that reduces a whole plane to 1×1: compare GAP, GDC and a dense conv over the plane."""
    if len(step.in_shape) != 3 or step.in_shape[1] * step.in_shape[2] == 1:
        return None
    c, h, w = step.in_shape
    if isinstance(step.layer, GlobalAvgPool):
        c_out = c
    elif isinstance(step.layer, ConvLike) and step.out_shape[1:] == (1, 1):
        g = step.layer.geometry(step.in_shape)
        if g.kernel != (h, w) or any(g.pads):
            return None
        c_out = g.c_out
    else:
        return None
    options: list[tuple[str, Layer]] = [("GAP", GlobalAvgPool()), ("GDC", GlobalDepthwiseConv()), ("dense conv", Conv(out=c_out, k=(h, w), bias=False))]
    variants = tuple(Variant(label, (step_row(LayerStep(step.name, layer, step.in_shape, layer.out_shape(step.in_shape), step.loc), batch),)) for label, layer in options)
    return LayerComparison(step.name, step.in_shape, Variant("as written", (step_row(step, batch),)), variants)


def compare(network: Network, choices: list[Choice], pattern: str | None = None) -> Comparison:
    """Every selected convolution at G = 1, each G in `choices` and depthwise-separable; heads; totals."""
    selected = [s for s in network.steps() if is_groupable(s) and (pattern is None or fnmatch.fnmatchcase(s.name, pattern))]
    if pattern is not None and not selected:
        from groupcost.language.document import suggest

        names = [s.name for s in network.steps() if is_groupable(s)]
        raise UsageError(f"--layers '{pattern}' matches no standard or pointwise convolution in {network.name}",
                         suggest(pattern, names) or f"e.g. --layers '{names[0]}'" if names else "this network has none", Location("--layers"))
    options: list[Choice] = [1, *(c for c in choices if c != 1), SEPARABLE]
    batch = network.batch
    layers = tuple(
        LayerComparison(s.name, s.in_shape, Variant("as written", (step_row(s, batch),)), tuple(variant(s, c, batch) for c in options))
        for s in selected
    )
    heads = tuple(h for h in (_head(s, batch) for s in network.steps() if isinstance(s, LayerStep)) if h is not None)
    scenarios = [Scenario("as written", analyze(network).totals)]
    names = {s.name for s in selected}
    for choice in options:
        illegal: list[str] = []

        def rebuild(step: LayerStep, choice: Choice = choice, illegal: list[str] = illegal) -> tuple[Step, ...]:
            if step.name not in names:
                return (step,)
            try:
                return replacement(step, choice)
            except LayerError:
                illegal.append(step.name)
                return (step,)

        rebuilt = replace_steps(network, rebuild)
        scenarios.append(Scenario(f"all {choice_label(choice)}", analyze(rebuilt).totals, len(names) - len(illegal), tuple(illegal)))
    return Comparison(network.name, network.dtype_bytes, tuple(options), layers, heads, tuple(scenarios))
