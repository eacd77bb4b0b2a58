"""One function per command, each returning a result; `groupcost.to_dict(result)` is the command's JSON.

    >>> import groupcost
    >>> groupcost.analyze_spec("resnet50", input_shape=(3, 160, 160)).totals.macs
    2087321600
    >>> groupcost.to_dict(groupcost.compare("resnet18", groups=[2, 4], layers="layer1.*"))["networks"][0]["macs"]
    1814073344

The command line calls these and renders what they return; nothing here prints. A spec is anything
`groupcost.sources.read` reads (a path, a zoo name, `-`, an ONNX file, `torch:package.module:factory`),
a `Source` already read, or an already parsed `SpecDocument`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from groupcost.errors import GroupcostError, Location, SpecError, UsageError
from groupcost.graph.analysis import OPTIMIZER_STATES, Report, Totals, analyze
from groupcost.graph.network import Network
from groupcost.language import SpecDocument, parse_text
from groupcost.language.expr import Number
from groupcost.sources import Source, check_values, plain, read, resolve

if TYPE_CHECKING:
    from groupcost.ops import Layer
    from groupcost.questions.check import SpecCheck
    from groupcost.questions.compare import Comparison, GroupSweep
    from groupcost.questions.diff import Diff, Rule
    from groupcost.questions.report import Overview
    from groupcost.questions.whatif import Sweep
    from groupcost.run.roofline import Device

Spec = Union[str, Path, Source, SpecDocument]


def _shape(input_shape: Sequence[int] | None) -> tuple[int, ...] | None:
    return tuple(input_shape) if input_shape else None


def _given(spec: Spec) -> str:
    """The spec as the user named it."""
    return spec.path if isinstance(spec, SpecDocument) else spec.name if isinstance(spec, Source) else str(spec)


def source(spec: Spec) -> Source:
    """The spec read (groupcost.sources.read), or as given when already read."""
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, SpecDocument):
        return Source(spec.path, "spec", spec=spec)
    return read(spec)


def document(spec: Spec, *, input_shape: Sequence[int] | None = None) -> SpecDocument:
    """The spec document (a model's: the spec its graph raises to; a torch model traced at `input_shape`)."""
    return spec if isinstance(spec, SpecDocument) else source(spec).document(_shape(input_shape))


def network(spec: Spec, variables: Mapping[str, Number] | None = None, *, input_shape: Sequence[int] | None = None,
            batch: int | None = None) -> Network:
    """The spec resolved: variables overridden, and another input shape (C, H, W) or batch if given.
    An ONNX or torch model is read as its graph, not through the spec it would be raised to."""
    return source(spec).network(variables, input_shape=_shape(input_shape), batch=batch)


def analyze_spec(spec: Spec, variables: Mapping[str, Number] | None = None, *, input_shape: Sequence[int] | None = None,
                 batch: int | None = None, optimizer: str = "adam") -> Report:
    """`groupcost analyze`: per-layer rows and totals; `optimizer` (sgd | momentum | adam) sets the training-memory
    figure. `groupcost.to_dict(report)` is the JSON; `report.by_type()` the breakdown."""
    return analyze_network(network(spec, variables, input_shape=input_shape, batch=batch), optimizer)


def analyze_network(net: Network, optimizer: str = "adam") -> Report:
    """`groupcost analyze` of a network already resolved; an unknown optimizer is a usage error."""
    if optimizer not in OPTIMIZER_STATES:
        raise UsageError(f"unknown optimizer '{optimizer}'", f"one of {', '.join(OPTIMIZER_STATES)}", Location("--optimizer"))
    return analyze(net, optimizer)


def layer(in_shape: Sequence[int], out: int, k: int | tuple[int, int] = 3, s: int | tuple[int, int] = 1,
          p: int | tuple[int, ...] | str = 0, d: int | tuple[int, int] = 1, groups: Sequence[int | str] = (1, 2, 4, 8, "dw"),
          bias: bool = False) -> GroupSweep:
    """`groupcost layer`: one convolution at every G in `groups` ('dw' = depthwise). Its input and output
    tensors are held to the bound `analyze` holds every tensor to (groupcost.graph.builder.MAX_ELEMENTS)."""
    from groupcost.graph.builder import LIMIT_HINT, too_large
    from groupcost.questions.compare import ConvQuestion, sweep_groups

    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    pads = p if isinstance(p, str) else (p,) * 4 if isinstance(p, int) else (p[0], p[0], p[1], p[1]) if len(p) == 2 else tuple(p)
    if pads == "valid":
        pads = (0, 0, 0, 0)
    question = ConvQuestion(tuple(in_shape), out, pair(k), pair(s), pads, pair(d), bias)
    if too_large(question.in_shape, 1):
        raise UsageError(f"input {'×'.join(map(str, in_shape))} has more than 2^40 elements", LIMIT_HINT, Location("C,H,W"))
    out_shape = question.step().out_shape
    if too_large(out_shape, 1):
        raise UsageError(f"output {'×'.join(map(str, out_shape))} has more than 2^40 elements", LIMIT_HINT, Location("--out"))
    return sweep_groups(question, list(groups))


def compare(spec: Spec, groups: Sequence[int | str] = (2, 4, 8, 32), layers: str | None = None,
            variables: Mapping[str, Number] | None = None, *, input_shape: Sequence[int] | None = None, batch: int | None = None) -> Comparison:
    """`groupcost compare`: every (or every `layers`-matching) convolution as standard, at each G and
    depthwise-separable; heads as GAP, GDC or dense; whole-network totals. A pattern matching nothing is an error."""
    from groupcost.questions.compare import compare as compare_network

    choices = [c for c in groups if c != "dw"] + (["dw"] if "dw" in groups else [])
    return compare_network(network(spec, variables, input_shape=input_shape, batch=batch), choices, layers)


def whatif(spec: Spec, vary: Mapping[str, Sequence[Number]] | None = None, device: Any = None, layer: str | None = None,
           groups: Sequence[int | str] | None = None, variables: Mapping[str, Number] | None = None, *,
           input_shape: Sequence[int] | None = None, batch: int | None = None) -> Sweep:
    """`groupcost whatif`: the spec for every combination of `vary`, and/or `layer` at every G of `groups`
    ('divisors' for every legal one). `device` is a roofline.Device or a profile name (default a100)."""
    from groupcost.run import roofline
    from groupcost.questions.whatif import whatif as sweep

    if not vary and layer is None:
        raise UsageError("nothing to vary", "give --vary VAR=v1,v2,... and/or --layer NAME --g 1,2,4", Location("--vary"))
    profile = device if isinstance(device, roofline.Device) else roofline.device(device)
    doc = document(spec, input_shape=input_shape)
    check_values(doc, variables, _shape(input_shape), batch, vary)
    return sweep(doc, {k: [str(v) if isinstance(v, str) else v for v in values] for k, values in (vary or {}).items()}, profile, layer,
                 list(groups) if groups else None, plain(variables), input_shape=_shape(input_shape), batch=batch)


@dataclass(frozen=True)
class CheckResult:
    """`groupcost check`: every spec's budgets and verdicts; a spec that could not be read carries its error."""

    specs: tuple[SpecCheck, ...]

    @property
    def status(self) -> str:
        """error (some spec is bad: exit 2) | over (exit 1) | ok."""
        return "error" if any(c.error for c in self.specs) else "over" if any(c.status == "over" for c in self.specs) else "ok"



def check(specs: Sequence[Spec], limits: Mapping[str, str | int] | None = None, warn_at: float | None = None,
          variables: Mapping[str, Number] | None = None, *, input_shape: Sequence[int] | None = None, batch: int | None = None) -> CheckResult:
    """`groupcost check`: each spec against its `budgets:` and `limits` ({'params': '5M'}, replacing the spec's
    whole-network budget on that metric). Every spec is checked; one that cannot be read is reported, not raised."""
    from groupcost.language.budgets import budgets_from_spec, flag_limits
    from groupcost.questions.check import SpecCheck, check_spec

    parsed = flag_limits({k: str(v) for k, v in (limits or {}).items() if v is not None})
    results = []
    for spec in specs:
        try:
            doc = document(spec, input_shape=input_shape)
            own = budgets_from_spec(doc.budgets)
            report = analyze(resolve(doc, dict(variables or {}), input_shape=_shape(input_shape), batch=batch))
            results.append(check_spec(doc.name, doc.path, own, parsed, report, warn_at))
        except GroupcostError as exc:
            if isinstance(exc, UsageError) and exc.location is None:
                raise  # a bad --set or --input is the same for every spec
            where = _given(spec)
            results.append(SpecCheck(where, where, (), str(exc.located(Location(where)))))  # named by its path: it has no name yet
    names = [c.model for c in results]
    if len(set(names)) < len(names):  # two specs share a `name:`: tell them apart by their path
        results = [SpecCheck(c.source, c.source, c.verdicts, c.error) if names.count(c.model) > 1 else c for c in results]
    return CheckResult(tuple(results))


def _empty_report(label: str) -> Report:
    return Report(label, label, (), (), 1, "float32", 4, {}, (), Totals(0, 0, 0, 0, 0, 0))


def diff(base: Spec | None, head: Spec, rules: str | Sequence[Rule] | None = None, variables: Mapping[str, Number] | None = None, *,
         git: str | None = None, input_shape: Sequence[int] | None = None, batch: int | None = None) -> Diff:
    """`groupcost diff`: totals and layers of `base` and `head`. With `git`, `base` is ignored and `head` is
    compared with itself at that revision (absent there: every layer added). `rules`: 'macs>5%,params>0'."""
    from groupcost.questions.diff import diff as compare_reports
    from groupcost.questions.diff import parse_rules
    from groupcost.language.gitsource import NotAtRevision, read_at_revision
    from groupcost.language.zoo import resolve_source

    parsed = parse_rules(rules) if isinstance(rules, str) else list(rules or [])
    options = {"input_shape": _shape(input_shape), "batch": batch}
    head_doc = document(head, input_shape=input_shape)
    place = head_doc.path
    try:
        if git is not None:
            try:
                text, label = read_at_revision(head.path if isinstance(head, SpecDocument) else resolve_source(_given(head)), git)
            except NotAtRevision as exc:
                base_report, base_label, base_doc, base_network = _empty_report(exc.label), exc.label, None, None
            else:
                place = label
                base_doc = parse_text(text, label)
                base_network = resolve(base_doc, dict(variables or {}), **options)
                base_report, base_label = analyze(base_network), label
        else:
            if base is None:
                raise UsageError("diff needs a base spec, or git=REV", None, Location("diff"))
            base_doc = document(base, input_shape=input_shape)
            place = base_doc.path
            base_network = resolve(base_doc, dict(variables or {}), **options)
            base_report, base_label = analyze(base_network), base_doc.path
        place = head_doc.path
        head_network = resolve(head_doc, dict(variables or {}), **options)
        head_report = analyze(head_network)
    except GroupcostError as exc:
        raise exc.located(Location(place)) from None
    return compare_reports(base_report, head_report, parsed, base_label, head_doc.path,
                           base_network=base_network, head_network=head_network, base_doc=base_doc, head_doc=head_doc)


@dataclass(frozen=True)
class VerifyResult:
    """`groupcost verify`: an execute.Verification (every layer's checks) with its one-line verdict."""

    verification: Any

    @property
    def ok(self) -> bool:
        return self.verification.ok

    @property
    def verdict(self) -> str:
        v = self.verification
        mismatch = v.first_mismatch
        if mismatch is not None:
            return f"MISMATCH at {mismatch.name} ({mismatch.type}): {mismatch.problem()}"
        macs = sum(c.counted_macs for c in v.checks)
        matmul = sum(c.counted_matmul_macs for c in v.checks)
        matmul_text = f", every matmul MAC count ({matmul:,} in all)" if matmul else ""
        return (f"verified: {len(v.checks)} layers, every output shape, every MAC count ({macs:,} in all){matmul_text} and every parameter count "
                f"equal the analysis (batch {v.batch}, {v.dtype}, seed {v.seed}, {v.seconds:.2f} s)")



def verify(spec: Spec | Network, batch: int | None = None, seed: int = 0, dtype: str = "float32", variables: Mapping[str, Number] | None = None,
           *, input_shape: Sequence[int] | None = None, on_step=None) -> VerifyResult:
    """`groupcost verify`: run the spec in NumPy with seeded weights and check every layer against the analysis.
    Running out of memory is an error (not a mismatch), saying what could not be allocated."""
    from groupcost.run.execute import DTYPES
    from groupcost.run.execute import verify as run_network

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise UsageError(f"seed must be a whole number from 0 to 2^63 - 1, got {seed}", None, Location("--seed"))
    if dtype not in DTYPES:
        raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}", None, Location("--dtype"))
    net = spec if isinstance(spec, Network) else network(spec, variables, input_shape=input_shape, batch=batch)
    try:
        result = VerifyResult(run_network(net, batch, seed, dtype, on_step))
    except MemoryError as exc:
        raise _out_of_memory(net, exc) from None
    mismatch = result.verification.first_mismatch
    if mismatch is not None and mismatch.error is not None and mismatch.error.startswith("MemoryError"):
        raise _out_of_memory(net, mismatch.error.removeprefix("MemoryError: "), mismatch.name)
    return result


def _out_of_memory(net: Network, detail: object, where: str | None = None) -> GroupcostError:
    report = analyze(net)
    need = report.metric("param_bytes") + 2 * report.metric("largest_activation_bytes")
    what = str(detail).strip() or "an allocation failed"
    return SpecError(f"out of memory while verifying {net.name}{f' at {where}' if where else ''}: {what}",
                     f"the run needs at least {need:,} bytes (weights + two largest activations); try a smaller --batch or --input",
                     Location(net.source))


def report(spec: Spec, variables: Mapping[str, Number] | None = None, device: Any = None, depth: int | None = None,
           vary: Mapping[str, Sequence[Number]] | None = None, *, input_shape: Sequence[int] | None = None,
           batch: int | None = None) -> Overview:
    """`groupcost report`: what the HTML page shows (groupcost.render.html.to_html draws it): the network, its
    analysis, costs per stage (`depth`: name segments; None chooses), what-if sweeps (`vary`; None: the spec's
    number variables) and budgets, at another input shape (C, H, W) or batch if given (a torch model: traced at
    `input_shape`). `device` is a roofline.Device or a profile name (default a100)."""
    from groupcost.questions.report import overview
    from groupcost.run import roofline

    profile = device if isinstance(device, roofline.Device) else roofline.device(device)
    variations = {k: list(v) for k, v in vary.items()} if vary is not None else None
    read_source, shape = source(spec), _shape(input_shape)
    doc = read_source.document(shape)
    if read_source.kind == "torch":
        shape = None  # traced at that shape
    check_values(doc, variables, shape, batch, variations)
    variables = plain(variables)
    variations = {k: [str(v) if isinstance(v, str) else v for v in values] for k, values in variations.items()} if variations else variations
    network = resolve(doc, variables, shape, batch)
    return overview(doc, variables, profile, depth, variations, network=network, input_shape=shape, batch=batch)


@dataclass(frozen=True)
class PytorchSource:
    """`groupcost export --to pytorch`: the file's text; `fallback` says why it is the resolved graph
    (one module per layer) rather than the spec's structure, or is None."""

    text: str
    fallback: str | None


def export_pytorch(spec: Spec, variables: Mapping[str, Number] | None = None, command: str | None = None, *,
                   input_shape: Sequence[int] | None = None, batch: int | None = None) -> PytorchSource:
    """`groupcost export --to pytorch`: one .py file that imports only torch (`command` is named in its header).
    At another input shape than the spec's, the file is the resolved graph at that shape (the structure's
    build() takes the spec's own input); the batch is not part of a PyTorch module."""
    from groupcost.formats.torch.export import export_pytorch as write_source
    from groupcost.formats.torch.graph import pytorch_source

    read_source, shape = source(spec), _shape(input_shape)
    doc = read_source.document(shape)
    if shape is not None and read_source.kind != "torch":
        network = resolve(doc, dict(variables or {}), shape, batch)
        return PytorchSource(pytorch_source(network, command), f"--input {','.join(map(str, shape))} is not the spec's input")
    check_values(doc, variables, None, batch)
    return PytorchSource(*write_source(doc, plain(variables), command))


def export_onnx(spec: Spec | Network, path: str | Path, weights: str = "random", seed: int = 0,
                variables: Mapping[str, Number] | None = None, *, input_shape: Sequence[int] | None = None,
                batch: int | None = None) -> Network:
    """`groupcost export --to onnx`: the network written to `path` (needs onnx), weights random (seeded, a seed
    from 0 to 2^32 - 1) or zeros; at another input shape (C, H, W) or batch if given."""
    from groupcost.formats.onnx.export import write_onnx

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise UsageError(f"the seed must be a whole number from 0 to 2^32 - 1, got {seed!r}", "e.g. --seed 0", Location("--seed"))
    net = spec if isinstance(spec, Network) else network(spec, variables, input_shape=input_shape, batch=batch)
    write_onnx(net, path, weights, seed)
    return net


@dataclass(frozen=True)
class Imported:
    """`groupcost import`: the model's graph and the spec a person would write for it."""

    network: Network
    text: str


def import_model(model: str | Path, input_shape: Sequence[int] | None = None, args: Mapping[str, object] | None = None, *,
                 allow_unknown: bool = False) -> Imported:
    """`groupcost import`: an ONNX file, or `torch:package.module:factory` (traced at `input_shape`, the factory
    called with `args`), written as a spec. `allow_unknown` keeps unsupported operators as opaque layers."""
    from groupcost.language.raising import raise_spec
    from groupcost.sources import read_graph

    graph = read_graph(model, _shape(input_shape), args, allow_unknown=allow_unknown)
    return Imported(graph, raise_spec(graph))


def zoo() -> list[tuple[str, Network, Report]]:
    """`groupcost zoo`: every bundled model by name, resolved and analyzed."""
    from groupcost.language import zoo_names

    entries = [(name, read(name).network()) for name in zoo_names()]
    return [(name, net, analyze(net)) for name, net in entries]


def layer_types() -> dict[str, type[Layer]]:
    """`groupcost layers`: the layer types a spec can use, by name (aliases left out)."""
    from groupcost.ops import ALIASES, LAYER_TYPES

    return {name: cls for name, cls in LAYER_TYPES.items() if name not in ALIASES}


def calibrate(on: str | None = None, threads: int | None = None) -> Device:
    """`groupcost calibrate`: this machine's peak matmul throughput and memory bandwidth, measured in torch (cpu | cuda | mps)."""
    from groupcost.run.calibrate import calibrate as measure

    return measure(on, threads)
