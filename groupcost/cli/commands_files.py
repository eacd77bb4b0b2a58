"""The commands that write files or touch torch: export (PyTorch, ONNX), import (ONNX, torch:) and calibrate."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from groupcost.cli import options
from groupcost.cli.common import FORCE_HINT, BatchOption, InputOption, SetOption, default_target, fail
from groupcost.errors import GroupcostError, Location, UsageError


class ExportFormat(str, Enum):
    pytorch = "pytorch"
    onnx = "onnx"


class WeightsChoice(str, Enum):
    random = "random"
    zeros = "zeros"


def export(
    spec: Annotated[str, typer.Argument(help="A spec file, a zoo model name, an ONNX file or torch:package.module:factory.", metavar="SPEC")],
    to: Annotated[Optional[ExportFormat], typer.Option("--to", help="pytorch (one .py file that imports only torch) | onnx (needs the onnx package).", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The file to write (default: NAME.py or NAME.onnx here; '-' prints the PyTorch source).")] = None,
    set_: SetOption = None,
    weights: Annotated[WeightsChoice, typer.Option("--weights", help="ONNX initializers: random (seeded, a fresh torch layer's range) or zeros.")] = WeightsChoice.random,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of the random ONNX weights (0 to 2^32 - 1).")] = 0,
    batch: BatchOption = None,
    input_: InputOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write the network as PyTorch source (blocks as classes, repeat as loops, variables as build()'s arguments) or as an ONNX model; layer names kept.

    With --input, the PyTorch file is the resolved graph at that input (one module per layer); ONNX takes --input and --batch.

    Example: [bold]groupcost export resnext50_32x4d --set G=8 --to pytorch -o resnext_g8.py[/bold]
    """
    from groupcost import api

    try:
        if to is None:
            raise UsageError("missing option '--to'", "--to pytorch or --to onnx", Location("--to"))
        shape = options.input_shape(input_)
        read_source = api.source(spec)
        overrides = options.assignments(set_ or [])
        network = read_source.network(overrides, input_shape=shape, batch=batch)
        doc = read_source.document(shape) if to is ExportFormat.pytorch else None
    except GroupcostError as exc:
        raise fail(exc, spec, "--set") from None
    suffix = ".py" if to is ExportFormat.pytorch else ".onnx"
    note = None
    try:
        target = output if output is not None else default_target(network.name, suffix, read_source.spec, spec)
        if str(target) == "-" and to is ExportFormat.onnx:
            raise UsageError("an ONNX model is binary: give a file", "e.g. -o model.onnx", Location("--output"))
        if str(target) != "-" and target.exists() and not force:
            raise UsageError(f"{target} exists", FORCE_HINT, Location("--output"))
        if str(target) != "-" and not target.parent.is_dir():
            raise UsageError(f"no directory {target.parent} to write {target.name} into", None, Location("--output"))
        if to is ExportFormat.pytorch:
            command = f"groupcost export {spec} --to pytorch" + "".join(f" --set {v}" for v in set_ or []) + (f" --input {input_}" if input_ else "")
            written = api.export_pytorch(read_source, overrides, command, input_shape=shape, batch=batch)
            source, note = written.text, written.fallback
            if note is not None:
                sys.stderr.write(f"{doc.path}: note: wrote the resolved graph (one module per layer, forward one node a line): {note}\n")
            if str(target) == "-":
                sys.stdout.write(source)
                return
            target.write_text(source, encoding="utf-8")
        else:
            api.export_onnx(network, target, weights.value, seed)
    except GroupcostError as exc:
        raise fail(exc, network.source) from None
    except OSError as exc:
        raise fail(UsageError(f"cannot write {target}: {exc.strerror or exc}", None, Location("--output")), "--output") from None
    sys.stderr.write(f"wrote {target}\n")


class Place(str, Enum):
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Clock(str, Enum):
    wall = "wall"
    cpu = "cpu"


class Runtime(str, Enum):
    torch_eager = "torch-eager"
    onnxruntime = "onnxruntime"


def calibrate(
    models: Annotated[Optional[list[str]], typer.Argument(help="With --check: the models to measure (specs, zoo names, ONNX files, torch: sources with --input).", show_default=False)] = None,
    on: Annotated[Optional[Place], typer.Option("--on", help="cpu | cuda | mps (default: the best available).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the profile here (default: print it).")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch while measuring (the profile holds for this count; default 1; with --check, the profile's).", show_default=False)] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Fewer operations and runs: about a minute instead of up to ten.")] = False,
    roofline: Annotated[bool, typer.Option("--roofline", help="Only the roofline figures (peak matmul, bandwidth): seconds, no latency model.")] = False,
    clock: Annotated[Clock, typer.Option("--clock", help="wall: elapsed time | cpu: the timing thread's CPU time (one CPU thread; a machine other loads share).")] = Clock.wall,
    runtime: Annotated[Runtime, typer.Option("--runtime", help="torch-eager | onnxruntime: what runs the networks (onnxruntime: the ONNX export, its fusions; the onnxruntime extra).")] = Runtime.torch_eager,
    name: Annotated[Optional[str], typer.Option("--name", help="The profile's name (default: PLACE-Nt, -ort for onnxruntime).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Measure MODEL... and print predicted against measured, with the error distribution (needs --device).")] = False,
    device: Annotated[Optional[str], typer.Option("--device", help="With --check: the profile to check (a calibrated profile file, or a roofline device).")] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="With --check: timed runs per model (the lower median is taken).")] = 10,
    json_: Annotated[bool, typer.Option("--json", help="With --check: the result as JSON.")] = False,
    input_: InputOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Measure this machine and write a latency profile for --device: every operation kind timed (convolutions by G, kernel, channels,
    size and stride; every other layer type; merges), sampled where the fitted model is least sure, one formula per kind.

    Example: [bold]groupcost calibrate --on cpu -o cpu.yaml && groupcost calibrate --check resnet18 mobilenet_v2 --device cpu.yaml[/bold]
    """
    from groupcost import api
    from groupcost.run.calibrate import profile_yaml

    on_value = on.value if on is not None else None
    try:
        if check:
            _check(models or [], device, on_value, runs, threads, clock.value, json_, options.input_shape(input_))
            return
        if models:
            raise UsageError(f"unexpected argument '{models[0]}'", "models are measured with --check", Location("calibrate"))
        if input_ is not None:
            raise UsageError("--input is the shape of the models --check measures", "add --check and the models", Location("--input"))
        if output is not None and output.exists() and not force:
            raise UsageError(f"{output} exists", FORCE_HINT, Location("--output"))
        if roofline:
            profile = api.calibrate(on_value, threads or 1)
            text = profile_yaml(profile)
        else:
            from groupcost.run.calibrate import latency_profile
            from groupcost.run.profile import to_yaml

            profile = latency_profile(on_value, threads or 1, quick, name, clock.value, progress=lambda text: sys.stderr.write(f"calibrate: {text}\n"),
                                      runtime=runtime.value)
            text = to_yaml(profile)
        if output is None:
            sys.stdout.write(text)
            return
        output.write_text(text, encoding="utf-8")
    except GroupcostError as exc:
        if exc.location is not None and exc.location.path == "--measure":  # no torch: said at the command, not a flag it lacks
            exc.location = Location("calibrate")
        raise fail(exc, "calibrate") from None
    except OSError as exc:
        raise fail(UsageError(f"cannot write {output}: {exc.strerror or exc}", None, Location("--output")), "--output") from None
    sys.stderr.write(f"wrote {output}: {profile.label()}\n")


def _check(models: list[str], device: str | None, on: str | None, runs: int, threads: int | None, clock: str, as_json: bool,
           input_shape: tuple[int, ...] | None = None) -> None:
    """calibrate --check: the models measured beside the profile's prediction (at `input_shape`, where given: a torch:
    source needs one)."""
    from groupcost import api
    from groupcost.run import check

    if not models:
        raise UsageError("--check needs the models to measure", "e.g. groupcost calibrate --check resnet18 mobilenet_v2 --device cpu.yaml", Location("--check"))
    if device is None:
        raise UsageError("--check needs the profile to check", "give --device cpu.yaml (what groupcost calibrate -o cpu.yaml wrote)", Location("--device"))
    profile = options.device(device, None, None, default=True)
    networks = []
    for model in options.expand_specs(models):
        try:
            networks.append((model, api.network(model, input_shape=input_shape)))
        except GroupcostError as exc:
            raise exc.located(Location(model)) from None
    result = check.check(networks, profile, on, runs, threads, clock)
    if as_json:
        import json

        sys.stdout.write(json.dumps(check.to_dict(result), indent=2) + "\n")
    else:
        sys.stdout.write(check.to_text(result))


def import_model(
    source: Annotated[str, typer.Argument(help="An ONNX file, or torch:package.module:factory (needs torch).", metavar="MODEL")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the spec here (default: standard output).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")] = False,
    input_shape: Annotated[Optional[str], typer.Option("--input", help="torch: the input shape without the batch, e.g. 3,224,224.", metavar="C,H,W")] = None,
    arg: Annotated[Optional[list[str]], typer.Option("--arg", help="torch: a keyword for the factory, e.g. --arg num_classes=10 (repeatable).", metavar="KEY=VALUE")] = None,
    allow_unknown: Annotated[bool, typer.Option("--allow-unknown", help="Keep unsupported operators as opaque layers (shape from ONNX shape inference, params from initializers).")] = False,
) -> None:
    """Read a model and write it as a spec a person would write: module names, residual/parallel/se/shuffle, blocks and repeat.

    Every other command also reads an ONNX file directly: [bold]groupcost analyze model.onnx[/bold].

    Example: [bold]groupcost import resnet50.onnx -o resnet50.yaml[/bold]
    """
    from groupcost import api
    from groupcost.sources import kind

    try:
        if output is not None and output.exists() and not force:
            raise UsageError(f"{output} exists", FORCE_HINT, Location("--output"))
        shape, args = None, None
        if kind(source) == "torch":
            if input_shape is not None:  # without it, the import says so before reading any --arg
                from groupcost.formats.torch.reader import parse_args

                shape = tuple(options.positive(options.int_list(input_shape, "--input", (1, 2, 3), "C,H,W"), "--input"))
                args = parse_args(arg or [])
        elif input_shape is not None or arg:
            raise UsageError("--input and --arg are for torch: imports", "an ONNX file carries its input shape", Location("--input" if input_shape else "--arg"))
        imported = api.import_model(source, shape, args, allow_unknown=allow_unknown)
        network, text = imported.network, imported.text
    except GroupcostError as exc:
        raise fail(exc, source) from None
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(UsageError(f"cannot write: {exc.strerror or exc}", None, Location(str(output))), str(output)) from None
    report = api.analyze_network(network)
    sys.stderr.write(f"wrote {output}: {len(network.nodes)} layers, params {report.totals.params:,}, MACs {report.totals.macs:,}\n")
    for note in network.notes:
        sys.stderr.write(f"note: {note}\n")
