"""`--measure`: a command's configurations built as networks, timed in torch (groupcost.run.measure), or in
ONNX Runtime where the device is a profile calibrated there, beside their estimates. No torch here: run.measure imports it when the timing starts.

Without a device given, the estimate uses this machine's own figures, calibrated at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from groupcost.graph.analysis import Report, analyze
from groupcost.graph.network import Network, replace_steps
from groupcost.run.measure import Session, import_torch, measure
from groupcost.run.roofline import Device, report_seconds


@dataclass(frozen=True)
class Line:
    """One configuration as the measurement tables show it."""

    label: str
    macs: int
    estimate: float  # roofline seconds


Configuration = tuple[str, Network, Union[Line, None]]
"""(label, network, its line): what a command measures; analyze's one network has its report instead of a line."""


@dataclass(frozen=True)
class Measured:
    """The timings of a command's configurations, their lines and the estimate's device (report: analyze's, per layer)."""

    lines: tuple[Line, ...]
    session: Session
    device: Device
    report: Report | None = None


def measure_beside(configurations: list[Configuration] | Callable[[Device], list[Configuration]], device: Device | None, on: str | None,
                   runs: int, threads: int | None, report: Report | None = None) -> Measured:
    """Time the configurations (or those a function of the estimate's device gives); with `report`
    (analyze), every layer too. Without `device`, this machine is calibrated now for the estimate."""
    import_torch()
    on, threads = where_profiled(device, on, threads)
    if device is None:
        from groupcost.run.calibrate import calibrate

        device = calibrate(on, threads, quick=True)
    listed = configurations(device) if callable(configurations) else configurations
    session = measure([(label, net) for label, net, _ in listed], on, runs, threads, per_layer=report is not None,
                      runtime=getattr(device, "runtime", "torch-eager"))
    if report is not None:
        lines = (Line(report.model, report.totals.macs, report_seconds(report, device)),)
    else:
        lines = tuple(line for _, _, line in listed)
    return Measured(lines, session, device, report)


def where_profiled(device: Device | None, on: str | None, threads: int | None) -> tuple[str | None, int | None]:
    """Where to measure and on how many CPU threads: what is given, else, for a calibrated profile, what it was fitted on
    (its estimates hold there: a one-thread profile beside torch's default of every core priced VGG-11 at half its time)."""
    if device is None or getattr(device, "model", None) is None:  # a roofline device holds for no thread count
        return on, threads
    on = on or device.place
    return on, threads or (device.threads if on == "cpu" else None)


def sweep_configurations(doc, sweep, base, device) -> list[Configuration]:
    """whatif: every legal outcome rebuilt as a network, with its table line."""
    from groupcost.language.build import build
    from groupcost.questions.whatif import _layer_step, _with_groups

    configurations = []
    for outcome in sweep.outcomes:
        if not outcome.legal:
            continue
        config = outcome.config
        network = build(doc, {**(base or {}), **config.variables})
        if config.layer is not None:
            network = _with_groups(network, _layer_step(network, config.layer), config.groups)
        estimate = report_seconds(outcome.report, device)  # on the measurement's estimate device, not necessarily the sweep's
        configurations.append((config.label, network, Line(config.label, outcome.report.totals.macs, estimate)))
    return configurations


def compare_configurations(network: Network, comparison, pattern: str | None, device) -> list[Configuration]:
    """compare: the network as written and with every selected convolution built each way (illegal ones kept)."""
    import fnmatch

    from groupcost.ops import LayerError
    from groupcost.questions.compare import choice_label, is_groupable, replacement

    names = {s.name for s in network.steps() if is_groupable(s) and (pattern is None or fnmatch.fnmatchcase(s.name, pattern))}
    networks = [("as written", network)]
    for choice in comparison.choices:
        def rebuild(step, choice=choice):
            if step.name not in names:
                return (step,)
            try:
                return replacement(step, choice)
            except LayerError:
                return (step,)

        networks.append((f"all {choice_label(choice)}", replace_steps(network, rebuild)))
    result = []
    for label, net in networks:
        report = analyze(net)
        result.append((label, net, Line(label, report.totals.macs, report_seconds(report, device))))
    return result


def layer_configurations(question, sweep, device) -> list[Configuration]:
    """layer: the one convolution at each legal G, as a network of one layer."""
    from groupcost.questions.compare import DEPTHWISE, replacement

    step = question.step()
    result = []
    for variant in sweep.variants:
        if not variant.legal:
            continue
        choice = DEPTHWISE if variant.label == DEPTHWISE else int(variant.label)
        steps = replacement(step, choice)
        net = Network(f"G={variant.label}", "", "<layer>", question.in_shape, 1, "float32", 4, {}, steps, (steps[-1].name,))
        report = analyze(net)
        label = f"G={variant.label}" if variant.label != DEPTHWISE else "depthwise"
        result.append((label, net, Line(label, report.totals.macs, report_seconds(report, device))))
    return result
