"""What-if sweeps: one parsed spec resolved for a grid of variable values, and/or one layer's G.

The spec is parsed once; each configuration only re-resolves it (a few ms for ResNeXt-50).
A configuration that cannot be built is a result with the reason, not an error.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from groupcost.graph.analysis import Report, analyze
from groupcost.errors import Location, SpecError, UsageError
from groupcost.ops import LayerError
from groupcost.ops.conv import legal_groups
from groupcost.graph.network import LayerStep, Network, replace_steps
from groupcost.run.roofline import Device, report_seconds
from groupcost.language.build import build, resolve_variables
from groupcost.language.document import SpecDocument, suggest
from groupcost.language.expr import Number
from groupcost.questions.compare import is_groupable, replacement

DIVISORS = "divisors"


@dataclass(frozen=True)
class Config:
    variables: dict[str, Number]
    layer: str | None = None
    groups: int | None = None
    own_values: bool = False  # the varied variables have the spec's values (after --set)
    own_groups: bool = False  # `groups` is the G the spec gives `layer` (at these variables)

    @property
    def label(self) -> str:
        parts = [f"{k}={v}" for k, v in self.variables.items()]
        if self.layer is not None:
            parts.append(f"{self.layer} G={self.groups}")
        return ", ".join(parts) or "as written"

    @property
    def short_label(self) -> str:
        """The label without the layer's name (a layer sweep names its one layer in the title), with `*` on the layer's own G
        (a layer sweep) or on the spec as written (a variable sweep)."""
        parts = [f"{k}={v}" for k, v in self.variables.items()] + ([f"G={self.groups}"] if self.layer is not None else [])
        own = self.own_groups if self.layer is not None else self.own_values
        return (", ".join(parts) or "as written") + (" *" if own else "")

    @property
    def as_written(self) -> bool:
        return self.own_values and (self.layer is None or self.own_groups)


@dataclass(frozen=True)
class Outcome:
    config: Config
    report: Report | None = None
    seconds: float | None = None  # roofline estimate on the sweep's device
    reason: str | None = None

    @property
    def legal(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Sweep:
    model: str
    device: Device
    varied: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    layer: str | None = None  # the one layer whose G is swept

    @property
    def baseline(self) -> Outcome | None:
        """The spec as written where it is among the legal outcomes, else the first legal one."""
        legal = [o for o in self.outcomes if o.legal]
        return next((o for o in legal if o.config.as_written), legal[0] if legal else None)

    def baseline_of(self, outcome: Outcome) -> Outcome | None:
        """What `outcome`'s Δ is measured from: in a layer sweep, the layer's own G at the same variables; else the baseline."""
        if self.layer is not None:
            same = (o for o in self.outcomes if o.legal and o.config.own_groups and o.config.variables == outcome.config.variables)
            found = next(same, None)
            if found is not None:
                return found
        return self.baseline


def grid(vary: dict[str, list[Number]]) -> list[dict[str, Number]]:
    """Every combination, the first variable varying slowest."""
    names = list(vary)
    return [dict(zip(names, values)) for values in itertools.product(*(vary[n] for n in names))]


def _layer_step(network: Network, name: str) -> LayerStep:
    steps = {s.name: s for s in network.steps() if isinstance(s, LayerStep)}
    if name not in steps:
        raise UsageError(f"no layer named '{name}' in {network.name}", suggest(name, steps) or "`groupcost analyze` lists the names", Location("--layer"))
    step = steps[name]
    if not is_groupable(step):
        raise UsageError(f"layer '{name}' is a {step.type_name}; --g applies to conv, pwconv and convtranspose layers", None, Location("--layer"))
    return step


def _with_groups(network: Network, step: LayerStep, groups: int) -> Network:
    new = replacement(step, groups)  # raises LayerError when G is not legal there
    return replace_steps(network, lambda s: new if s.name == step.name else (s,))


def whatif(
    doc: SpecDocument,
    vary: dict[str, list[Number]],
    device: Device,
    layer: str | None = None,
    groups: list[int | str] | None = None,
    base: dict[str, Number] | None = None,
    *,
    input_shape: tuple[int, ...] | None = None,
    batch: int | None = None,
) -> Sweep:
    """Resolve `doc` for every combination of `vary` (over `base` variables) and every G of `layer`."""
    for names, option in ((vary, "--vary"), (base or {}, "--set")):
        for var in names:
            if var not in doc.variables:
                raise UsageError(f"spec '{doc.name}' has no variable '{var}'", f"its variables: {', '.join(doc.variables) or 'none'}", Location(option))
    written = _written(doc, base or {}) if vary else {}
    outcomes: list[Outcome] = []
    for values in grid(vary):
        variables = {**(base or {}), **values}
        own_values = all(written.get(k) == v for k, v in values.items())
        try:
            network = build(doc, variables, input_shape=input_shape, batch=batch)
        except SpecError as exc:
            _blame_the_flag(doc, vary, values, written, exc)
            outcomes.append(Outcome(Config(values, own_values=own_values), reason=exc.message))
            continue
        if layer is None:
            outcomes.append(_outcome(Config(values, own_values=own_values), network, device))
            continue
        step = _layer_step(network, layer)
        own = step.layer.geometry(step.in_shape).groups  # type: ignore[attr-defined]
        choices = groups or [DIVISORS]
        options = legal_groups(step.in_shape[0], step.out_shape[0]) if DIVISORS in choices else []
        for g in dict.fromkeys([*(int(c) for c in choices if c != DIVISORS), *options]):
            config = Config(values, layer, int(g), own_values, int(g) == own)
            try:
                outcomes.append(_outcome(config, _with_groups(network, step, int(g)), device))
            except LayerError as exc:
                outcomes.append(Outcome(config, reason=f"{exc.message} in {layer}"))
    return Sweep(doc.name, device, tuple(vary), tuple(outcomes), layer)


def _written(doc: SpecDocument, base: dict[str, Number]) -> dict:
    """The variables as the spec (with --set) gives them: what the `*` row has; none marked where they do not resolve."""
    try:
        return resolve_variables(doc, base)
    except SpecError:
        return {}


def _blame_the_flag(doc: SpecDocument, vary: dict[str, list[Number]], values: dict[str, Number], written: dict, exc: SpecError) -> None:
    """A varied number the spec refuses where its own value is positive and this one is not (`--vary G=0`) is the
    command line's mistake, not a configuration to tabulate: an error at its place in --vary, as `--set G=0` is."""
    for name, value in values.items():
        default = written.get(name)
        if _is_number(value) and _is_number(default) and value <= 0 < default:
            column = len(name) + 2 + sum(len(_shown(v)) + 1 for v in vary[name][: vary[name].index(value)])
            raise UsageError(f"{name}={value} is not a value {doc.name} takes: {exc.message.split('; in block')[0]}",
                             f"{name} is {default} in the spec", Location("--vary", 1, column)) from None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(value: object) -> str:
    return "[" + ",".join(map(_shown, value)) + "]" if isinstance(value, list) else str(value)


def _outcome(config: Config, network: Network, device: Device) -> Outcome:
    report = analyze(network)
    return Outcome(config, report, report_seconds(report, device))
