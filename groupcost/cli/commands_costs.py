"""The commands that answer what a network costs: analyze, layer, compare, whatif, verify, and the listings."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from groupcost.cli import options
from groupcost.cli.common import (
    BandwidthOption, BatchOption, DeviceOption, Format, FormatOption, InputOption, MeasuredDeviceOption, MeasureOption, OnOption, PeakOption,
    RunsOption,
    SetOption, SpecArgument, ThreadsOption, WideOption, emit, fail,
)
from groupcost.errors import GroupcostError, Location, UsageError


class By(str, Enum):
    type = "type"


def analyze(
    spec: SpecArgument,
    set_: SetOption = None,
    format: FormatOption = Format.table,
    depth: Annotated[Optional[int], typer.Option("--depth", min=1, help="Sum layers into blocks of at most N name segments.")] = None,
    by: Annotated[Optional[By], typer.Option("--by", help="Sum layers per layer type (convolutions per kind and kernel), with shares.")] = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="The optimizer of the training-memory figure: sgd | momentum | adam.")] = "adam",
    traffic: Annotated[bool, typer.Option("--traffic", help="Add memory traffic (bytes) and arithmetic intensity columns.")] = False,
    device: DeviceOption = None,
    peak_tflops: PeakOption = None,
    bandwidth_gbs: BandwidthOption = None,
    batch: BatchOption = None,
    input_: InputOption = None,
    wide: WideOption = False,
    measure: MeasureOption = False,
    on: OnOption = None,
    runs: RunsOption = 20,
    threads: ThreadsOption = None,
) -> None:
    """Per-layer input and output shapes, groups, params, MACs and memory, with totals.

    --traffic adds memory traffic and FLOP/byte; --device (or --peak-tflops with --bandwidth-gbs) adds a roofline latency estimate;
    --by type sums the cost per layer type, as MobileNet's Table 2 does.

    Example: [bold]groupcost analyze resnext50_32x4d --set G=64 --depth 2 --device a100[/bold]
    """
    from groupcost import api

    try:
        if depth is not None and by is not None:
            raise UsageError("--depth and --by type are two different summaries", "give one of them", Location("--by"))
        profile = options.device(device, peak_tflops, bandwidth_gbs, default=False)
        source = api.source(spec)
        network = source.network(options.assignments(set_ or []), input_shape=options.input_shape(input_), batch=batch)
        report = api.analyze_network(network, optimizer)
    except GroupcostError as exc:
        raise fail(exc, spec, "--set") from None
    if source.spec is not None:
        _warn_about_budgets(source.spec)
    if by is not None:
        from groupcost.render.report import TYPE_FORMATS

        emit(TYPE_FORMATS[format.value](report.by_type()), wide)
        return
    from groupcost.render.report import FORMATS

    main = FORMATS[format.value](report.at_depth(depth) if depth else report, traffic=traffic or profile is not None, device=profile)
    if measure:
        main = measured("analyze", format, main, [(network.name, network, None)], profile, on, runs, threads, report, depth)
    emit(main, wide)


def _warn_about_budgets(doc) -> None:
    """`analyze` reads no budgets, but says when `budgets:` has a mistake that `check` would refuse."""
    if doc.budgets is None:
        return
    from groupcost.language.budgets import budgets_from_spec

    try:
        budgets_from_spec(doc.budgets)
    except GroupcostError as exc:
        sys.stderr.write(str(exc).replace(": error: ", ": warning: ", 1) + "\n")


def layer(
    shape: Annotated[str, typer.Argument(help="Input C,H,W, e.g. 64,56,56 (or C,L for 1-D, C,T,H,W for 3-D).", metavar="C,H,W")],
    out: Annotated[int, typer.Option("--out", "-o", min=1, help="Output channels C_out.")],
    k: Annotated[str, typer.Option("-k", help="Kernel K or one per dimension: KH,KW (KL in 1-D, KT,KH,KW in 3-D).")] = "3",
    s: Annotated[str, typer.Option("-s", help="Stride S or one per dimension (SH,SW).")] = "1",
    p: Annotated[str, typer.Option("-p", help="Padding P, one per dimension (PH,PW), before,after per dimension (T,B,L,R), same or valid.")] = "0",
    d: Annotated[str, typer.Option("-d", help="Dilation D or one per dimension (DH,DW).")] = "1",
    g: Annotated[str, typer.Option("--g", help="Group counts to compare; dw = depthwise (G = C_in).")] = "1,2,4,8,dw",
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="Count a bias per output channel.")] = False,
    format: FormatOption = Format.table,
    wide: WideOption = False,
    device: MeasuredDeviceOption = None,
    measure: MeasureOption = False,
    on: OnOption = None,
    runs: RunsOption = 20,
    threads: ThreadsOption = None,
) -> None:
    """One convolution, no spec file: output shape, params, MACs and memory traffic (bytes at float32) for each G.

    A C,L input is a 1-D convolution, C,T,H,W a 3-D one, as torch's Conv1d and Conv3d.

    Example: [bold]groupcost layer 64,56,56 --out 128 -k 3 -p 1 --g 1,2,4,8,32,dw[/bold]
    """
    from groupcost import api
    from groupcost.ops import LayerError
    from groupcost.render.variants import FORMATS

    try:
        in_shape = tuple(options.positive(options.int_list(shape, "C,H,W", (2, 3, 4), "C,H,W (C,L in 1-D, C,T,H,W in 3-D)", "64,56,56"), "C,H,W"))
        rank = len(in_shape) - 1
        geometry = dict(k=options.per_dimension(k, "-k", rank), s=options.per_dimension(s, "-s", rank), p=options.padding(p, rank),
                        d=options.per_dimension(d, "-d", rank))
        choices = options.group_choices(g)
        profile = options.device(device, None, None, default=False)
        try:
            sweep = api.layer(in_shape, out, **geometry, groups=choices, bias=bias)
        except LayerError as exc:  # impossible whatever G is
            raise GroupcostError(exc.message, exc.hint, Location(f"-{exc.arg or 'k'}")) from None
    except GroupcostError as exc:
        raise fail(exc, "layer") from None
    main = FORMATS[format.value](sweep)
    if measure:
        from groupcost.run.beside import layer_configurations

        main = measured("layer", format, main, lambda device: layer_configurations(sweep.question, sweep, device), profile, on, runs, threads)
    emit(main, wide)


def compare(
    spec: SpecArgument,
    g: Annotated[str, typer.Option("--g", help="Group counts to try besides standard (G=1) and depthwise-separable.")] = "2,4,8,32",
    layers: Annotated[Optional[str], typer.Option("--layers", help="Only layers whose name matches this glob, e.g. 'layer3.*'.")] = None,
    set_: SetOption = None,
    format: FormatOption = Format.table,
    batch: BatchOption = None,
    input_: InputOption = None,
    wide: WideOption = False,
    device: MeasuredDeviceOption = None,
    measure: MeasureOption = False,
    on: OnOption = None,
    runs: RunsOption = 20,
    threads: ThreadsOption = None,
) -> None:
    """Every convolution as standard, grouped at each G and depthwise-separable; heads as GAP, GDC or dense; network totals.

    Example: [bold]groupcost compare resnet50 --g 2,4,8,32 --layers 'layer3.*'[/bold]
    """
    from groupcost import api
    from groupcost.render.compare import FORMATS

    try:
        choices = options.group_choices(g)
        profile = options.device(device, None, None, default=False)
        source = api.source(spec)  # an ONNX or torch model is read as its graph
        comparison = api.compare(source, choices, layers, options.assignments(set_ or []), input_shape=options.input_shape(input_), batch=batch)
        if measure:
            network = api.network(source, options.assignments(set_ or []), input_shape=options.input_shape(input_), batch=batch)
    except GroupcostError as exc:
        raise fail(exc, spec, "--set") from None
    main = FORMATS[format.value](comparison)
    if measure:
        from groupcost.run.beside import compare_configurations

        main = measured(network.name, format, main, lambda device: compare_configurations(network, comparison, layers, device), profile, on, runs, threads)
    emit(main, wide)


def whatif(
    spec: SpecArgument,
    vary: Annotated[Optional[list[str]], typer.Option("--vary", help="VAR=v1,v2,... (repeat for a grid).", metavar="VAR=V1,V2")] = None,
    layer: Annotated[Optional[str], typer.Option("--layer", help="Change the groups of this one layer (with --g).")] = None,
    g: Annotated[Optional[str], typer.Option("--g", help="Group counts for --layer, or 'divisors' for every legal G.")] = None,
    set_: SetOption = None,
    device: DeviceOption = None,
    peak_tflops: PeakOption = None,
    bandwidth_gbs: BandwidthOption = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also draw the sweep into this .png or .svg (needs matplotlib: pip install 'matplotlib>=3.6').")] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --plot overwrite an existing file.")] = False,
    format: FormatOption = Format.table,
    batch: BatchOption = None,
    input_: InputOption = None,
    wide: WideOption = False,
    measure: MeasureOption = False,
    on: OnOption = None,
    runs: RunsOption = 20,
    threads: ThreadsOption = None,
) -> None:
    """Sweep spec variables (a grid) or one layer's G: params, MACs, traffic, activations and estimated latency per configuration.

    Example: [bold]groupcost whatif resnext50_32x4d --vary G=1,2,4,8,16,32,64 --plot sweep.png[/bold]
    """
    from groupcost import api

    try:
        if g is not None and layer is None:
            raise UsageError("--g needs --layer", "e.g. --layer layer2.0.conv2 --g 1,2,4,8", Location("--g"))
        if not vary and layer is None:
            raise UsageError("nothing to vary", "give --vary VAR=v1,v2,... and/or --layer NAME --g 1,2,4", Location("--vary"))
        if plot is not None:
            from groupcost.render.plot import check_target

            check_target(plot, force)
        source = api.source(spec)
        result = api.whatif(
            source,
            options.variations(vary or []),
            options.device(device, peak_tflops, bandwidth_gbs, default=True),
            layer,
            options.group_choices(g, words=("divisors",)) if g is not None else None,
            options.assignments(set_ or []),
            input_shape=options.input_shape(input_),
            batch=batch,
        )
        if plot is not None:
            from groupcost.render.plot import write_plot

            write_plot(result, plot, force)
    except GroupcostError as exc:
        raise fail(exc, spec, "--vary") from None
    from groupcost.render.sweep import FORMATS

    main = FORMATS[format.value](result)
    if measure:
        from groupcost.run.beside import sweep_configurations

        given = result.device if device is not None or peak_tflops is not None else None
        doc, base = api.document(source, input_shape=options.input_shape(input_)), options.assignments(set_ or [])
        main = measured(result.model, format, main, lambda profile: sweep_configurations(doc, result, base, profile), given, on, runs, threads)
    emit(main, wide)
    if plot is not None:
        sys.stderr.write(f"wrote {plot}\n")


def measured(what: str, format: Format, main, configurations, device, on: str | None, runs: int, threads: int | None, report=None,
             depth: int | None = None):
    """The command's output with the measurement (groupcost.run.beside) beside it (table and markdown: appended; json: one object);
    analyze's per-layer measurement in the blocks of `depth`, as its table."""
    from groupcost.render import measure as shown
    from groupcost.run.beside import measure_beside

    try:
        if format is Format.csv:
            raise UsageError("--measure shows in table, markdown and json formats", "drop --format csv", Location("--measure"))
        result = measure_beside(configurations, device, on, runs, threads, report)
    except GroupcostError as exc:
        raise fail(exc, "--measure") from None
    lines = list(result.lines)
    if format is Format.json:
        import json

        return json.dumps({"analysis": json.loads(main), "measurement": shown.to_dict(lines, result.session, result.device, report)}, indent=2) + "\n"
    if format is Format.markdown:
        return main + "\n" + shown.to_markdown_lines(lines, result.session, result.device)
    from groupcost.render.blocks import Blocks, Note

    if report is not None:
        table = shown.layer_table(report, result.session, result.device, depth)
    else:
        table = shown.config_table(what, lines, result.session, result.device)
    return Blocks(main, table) if not isinstance(main, str) else Blocks(*(Note(line) for line in main.rstrip("\n").splitlines()), table)


class Precision(str, Enum):
    float32 = "float32"
    float64 = "float64"


def verify(
    spec: SpecArgument,
    batch: BatchOption = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**63 - 1, help="Seed of the random weights and input (0 or more).")] = 0,
    dtype: Annotated[Precision, typer.Option("--dtype", help="NumPy precision of the run.")] = Precision.float32,
    set_: SetOption = None,
    format: FormatOption = Format.table,
    input_: InputOption = None,
    wide: WideOption = False,
) -> None:
    """Run the spec in NumPy with seeded random weights; prove every layer's shape, MACs and params. Exit 1 on a mismatch, 2 out of memory.

    Example: [bold]groupcost verify resnext50_32x4d --set G=8 --batch 2[/bold]
    """
    from groupcost import api

    try:
        source = api.source(spec)
        variables, shape = options.assignments(set_ or []), options.input_shape(input_)
        net = api.network(api.document(source, input_shape=shape), variables, input_shape=shape, batch=batch)
        with _progress_after(1.0, f"verifying {net.name}") as on_step:
            result = api.verify(net, None, seed, dtype.value, on_step=on_step)
    except GroupcostError as exc:
        raise fail(exc, spec, "--set") from None
    from groupcost.render.verify import FORMATS

    emit(FORMATS[format.value](result), wide)
    if not result.ok:
        sys.stderr.write(result.verdict + "\n")
        raise typer.Exit(1)


class _progress_after:
    """A rich progress bar on stderr that appears only once a run has taken `delay` seconds."""

    def __init__(self, delay: float, label: str):
        import time

        self.clock, self.delay, self.label = time.perf_counter, delay, label
        self.start = self.clock()
        self.bar = None
        self.task = None

    def __enter__(self):
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is None and self.clock() - self.start > self.delay and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        if self.bar is not None:
            self.bar.update(self.task, completed=done)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def zoo(format: FormatOption = Format.table, wide: WideOption = False) -> None:
    """The bundled models with their input, params and MACs.

    Example: [bold]groupcost analyze $(groupcost zoo --format csv | tail -n +2 | cut -d, -f1 | head -1)[/bold]
    """
    from groupcost import api
    from groupcost.render.catalog import FORMATS

    try:
        entries = api.zoo()
    except GroupcostError as exc:
        raise fail(exc, "zoo") from None
    emit(FORMATS[format.value](entries), wide)


def layer_types() -> None:
    """The layer types a spec can use, with their arguments and defaults.

    Example: [bold]groupcost layers[/bold]
    """
    from groupcost import api
    from groupcost.render.catalog import layer_types_table

    emit(layer_types_table(api.layer_types()))


def schema() -> None:
    """Print the JSON Schema of the spec language (for editors: yaml-language-server, VS Code YAML).

    Example: [bold]groupcost schema > groupcost.language.schema.json[/bold]
    """
    from groupcost.language.schema import spec_schema_json

    sys.stdout.write(spec_schema_json())
