"""The command line: parse flags, call the library, render, choose the exit code. Nothing else."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from groupcost import __version__
from groupcost.errors import GroupcostError, Location, UsageError, one_line

app = typer.Typer(
    help="Exact parameter, MAC, memory and traffic counts for convolutional networks, from a YAML spec.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


DeviceOption = Annotated[Optional[str], typer.Option("--device", help="Device profile for the roofline estimate (a100, h100, v100, gtx1080ti, jetson_nano, rpi4).")]
PeakOption = Annotated[Optional[float], typer.Option("--peak-tflops", help="Custom device: peak TFLOP/s (with --bandwidth-gbs).")]
BandwidthOption = Annotated[Optional[float], typer.Option("--bandwidth-gbs", help="Custom device: memory bandwidth in GB/s (with --peak-tflops).")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table (human units) | json | csv | markdown (exact integers in json and csv).")]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", help="Override a spec variable: --set G=8 (repeatable).", metavar="VAR=VALUE")]
_MEASURE_PANEL = "Measure (needs torch)"
MeasureOption = Annotated[bool, typer.Option("--measure", help="Also build it in torch and time forward passes, beside the roofline estimate.", rich_help_panel=_MEASURE_PANEL)]
OnOption = Annotated[Optional[str], typer.Option("--on", help="Where to measure: cpu | cuda | mps (default: the best available).", rich_help_panel=_MEASURE_PANEL)]
RunsOption = Annotated[int, typer.Option("--runs", min=1, help="Timed runs per configuration (after 3 warm-up runs); the median is shown.", rich_help_panel=_MEASURE_PANEL)]
ThreadsOption = Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch (default: torch's choice; reported either way).", rich_help_panel=_MEASURE_PANEL)]


def _emit(renderable) -> None:
    if isinstance(renderable, str):
        sys.stdout.write(renderable)
    else:
        from rich.console import Console

        # A pipe or file gets a fixed 120 columns (rich would assume 80); a terminal its own width.
        Console(highlight=False, width=None if sys.stdout.isatty() else 120).print(renderable)


def _fail(error: GroupcostError, default_place: str, usage_place: str | None = None) -> typer.Exit:
    """Report `error` as one located line; unplaced usage errors (a bad --set) go to `usage_place`."""
    if error.location is None:
        error.location = Location(usage_place if usage_place and isinstance(error, UsageError) else default_place)
    sys.stderr.write(f"{error}\n")
    return typer.Exit(2)


def _located(parse, text: str, option: str):
    """parse(text), its error placed at `option` when it has no place of its own."""
    try:
        return parse(text)
    except GroupcostError as exc:
        raise exc.located(Location(option)) from None


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"groupcost {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """groupcost: what will this architecture cost? Exit codes: 0 ok, 1 over budget or mismatch, 2 bad input."""


@app.command()
def analyze(
    spec: Annotated[str, typer.Argument(help="A spec file or a zoo model name (see `groupcost zoo`).")],
    set_: SetOption = None,
    format: FormatOption = Format.table,
    depth: Annotated[Optional[int], typer.Option("--depth", min=1, help="Sum layers into blocks of at most N name segments.")] = None,
    traffic: Annotated[bool, typer.Option("--traffic", help="Add memory traffic (bytes) and arithmetic intensity columns.")] = False,
    device: DeviceOption = None,
    peak_tflops: PeakOption = None,
    bandwidth_gbs: BandwidthOption = None,
    measure: MeasureOption = False,
    on: OnOption = None,
    runs: RunsOption = 20,
    threads: ThreadsOption = None,
) -> None:
    """Per-layer output shape, groups, params, MACs and activations, with totals.

    --traffic adds memory traffic and FLOP/byte; --device (or --peak-tflops with --bandwidth-gbs) adds a roofline latency estimate.

    Example: [bold]groupcost analyze resnext50_32x4d --set G=64 --depth 2 --device a100[/bold]
    """
    from groupcost import options, roofline
    from groupcost.render.report import FORMATS
    from groupcost.spec import load

    try:
        wants_device = device is not None or peak_tflops is not None or bandwidth_gbs is not None
        profile = roofline.device(device, peak_tflops, bandwidth_gbs) if wants_device else None
        network = load(spec, options.assignments(set_ or []))
        report = network.analyze()
    except GroupcostError as exc:
        raise _fail(exc, spec, "--set") from None
    main = FORMATS[format.value](report.at_depth(depth) if depth else report, traffic=traffic or profile is not None, device=profile)
    if measure:
        main = _measured("analyze", format, main, [(network.name, network, None)], profile, on, runs, threads, report)
    _emit(main)


@app.command()
def layer(
    shape: Annotated[str, typer.Argument(help="Input C,H,W, e.g. 64,56,56.", metavar="C,H,W")],
    out: Annotated[int, typer.Option("--out", "-o", min=1, help="Output channels C_out.")],
    k: Annotated[str, typer.Option("-k", help="Kernel K or KH,KW.")] = "3",
    s: Annotated[str, typer.Option("-s", help="Stride S or SH,SW.")] = "1",
    p: Annotated[str, typer.Option("-p", help="Padding P, PH,PW, T,B,L,R, same or valid.")] = "0",
    d: Annotated[str, typer.Option("-d", help="Dilation D or DH,DW.")] = "1",
    g: Annotated[str, typer.Option("--g", help="Group counts to compare; dw = depthwise (G = C_in).")] = "1,2,4,8,dw",
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="Count a bias per output channel.")] = False,
    format: FormatOption = Format.table,
    measure: MeasureOption = False,
    on: OnOption = None,
    runs: RunsOption = 20,
    threads: ThreadsOption = None,
) -> None:
    """One convolution, no spec file: output shape, params, MACs and memory traffic for each G.

    Example: [bold]groupcost layer 64,56,56 --out 128 -k 3 -p 1 --g 1,2,4,8,32,dw[/bold]
    """
    from groupcost import options
    from groupcost.layers import LayerError
    from groupcost.render.variants import FORMATS
    from groupcost.variants import ConvQuestion, sweep_groups

    try:
        in_shape = tuple(options.positive(options.int_list(shape, "C,H,W", (3,), "C,H,W"), "C,H,W"))
        question = ConvQuestion(in_shape, out, options.pair(k, "-k"), options.pair(s, "-s"), options.padding(p), options.pair(d, "-d"), bias)
        choices = options.group_choices(g)
        try:
            sweep = sweep_groups(question, choices)
        except LayerError as exc:  # impossible whatever G is
            raise GroupcostError(exc.message, exc.hint, Location(f"-{exc.arg or 'k'}")) from None
    except GroupcostError as exc:
        raise _fail(exc, "layer") from None
    main = FORMATS[format.value](sweep)
    if measure:
        from groupcost.measure import layer_configurations

        main = _measured("layer", format, main, lambda device: layer_configurations(question, sweep, device), None, on, runs, threads)
    _emit(main)


@app.command()
def compare(
    spec: Annotated[str, typer.Argument(help="A spec file or a zoo model name.")],
    g: Annotated[str, typer.Option("--g", help="Group counts to try besides standard (G=1) and depthwise-separable.")] = "2,4,8,32",
    layers: Annotated[Optional[str], typer.Option("--layers", help="Only layers whose name matches this glob, e.g. 'layer3.*'.")] = None,
    set_: SetOption = None,
    format: FormatOption = Format.table,
    measure: MeasureOption = False,
    on: OnOption = None,
    runs: RunsOption = 20,
    threads: ThreadsOption = None,
) -> None:
    """Every convolution as standard, grouped at each G and depthwise-separable; heads as GAP, GDC or dense; network totals.

    Example: [bold]groupcost compare resnet50 --g 2,4,8,32 --layers 'layer3.*'[/bold]
    """
    from groupcost import options
    from groupcost.render.compare import FORMATS
    from groupcost.spec import load
    from groupcost.variants import compare as compare_network

    try:
        choices = [c for c in options.group_choices(g) if c != "dw"] + (["dw"] if "dw" in g.split(",") else [])
        network = load(spec, options.assignments(set_ or []))
        comparison = compare_network(network, choices, layers)
    except GroupcostError as exc:
        raise _fail(exc, spec, "--set") from None
    main = FORMATS[format.value](comparison)
    if measure:
        from groupcost.measure import compare_configurations

        main = _measured(network.name, format, main, lambda device: compare_configurations(network, comparison, layers, device), None, on, runs, threads)
    _emit(main)


@app.command()
def whatif(
    spec: Annotated[str, typer.Argument(help="A spec file or a zoo model name.")],
    vary: Annotated[Optional[list[str]], typer.Option("--vary", help="VAR=v1,v2,... (repeat for a grid).", metavar="VAR=V1,V2")] = None,
    layer: Annotated[Optional[str], typer.Option("--layer", help="Change the groups of this one layer (with --g).")] = None,
    g: Annotated[Optional[str], typer.Option("--g", help="Group counts for --layer, or 'divisors' for every legal G.")] = None,
    set_: SetOption = None,
    device: DeviceOption = None,
    peak_tflops: PeakOption = None,
    bandwidth_gbs: BandwidthOption = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also draw the sweep into this .png or .svg (needs groupcost[plot]).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --plot overwrite an existing file.")] = False,
    format: FormatOption = Format.table,
    measure: MeasureOption = False,
    on: OnOption = None,
    runs: RunsOption = 20,
    threads: ThreadsOption = None,
) -> None:
    """Sweep spec variables (a grid) or one layer's G: params, MACs, traffic, activations and estimated latency per configuration.

    Example: [bold]groupcost whatif resnext50_32x4d --vary G=1,2,4,8,16,32,64 --plot sweep.png[/bold]
    """
    from groupcost import options, roofline
    from groupcost.render.sweep import FORMATS
    from groupcost.spec import load_document
    from groupcost.sweep import whatif as sweep

    try:
        if g is not None and layer is None:
            raise UsageError("--g needs --layer", "e.g. --layer layer2.0.conv2 --g 1,2,4,8", Location("--g"))
        if not vary and layer is None:
            raise UsageError("nothing to vary", "give --vary VAR=v1,v2,... and/or --layer NAME --g 1,2,4", Location("--vary"))
        if plot is not None:
            from groupcost.render.plot import check_target

            check_target(plot, force)
        result = sweep(
            load_document(spec),
            options.variations(vary or []),
            roofline.device(device, peak_tflops, bandwidth_gbs),
            layer,
            options.group_choices(g, words=("divisors",)) if g is not None else None,
            options.assignments(set_ or []),
        )
        if plot is not None:
            from groupcost.render.plot import write_plot

            write_plot(result, plot, force)
    except GroupcostError as exc:
        raise _fail(exc, spec, "--vary") from None
    main = FORMATS[format.value](result)
    if measure:
        from groupcost.measure import sweep_configurations

        given = result.device if device is not None or peak_tflops is not None else None
        doc, base = load_document(spec), options.assignments(set_ or [])
        main = _measured(result.model, format, main, lambda profile: sweep_configurations(doc, result, base, profile), given, on, runs, threads)
    _emit(main)
    if plot is not None:
        sys.stderr.write(f"wrote {plot}\n")


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    github = "github"


def _max_option(metric: str, example: str):
    return Annotated[Optional[str], typer.Option(f"--max-{metric.replace('_', '-')}", help=f"Budget for total {metric}, e.g. {example}.", show_default=False)]


@app.command()
def check(
    specs: Annotated[list[str], typer.Argument(help="Spec files, globs (quoted: 'models/*.yaml') or zoo names.")],
    max_params: _max_option("params", "5M") = None,
    max_weights: _max_option("weights", "4M") = None,
    max_macs: _max_option("macs", "600M") = None,
    max_flops: _max_option("flops", "1.2G") = None,
    max_activations: _max_option("activations", "20M") = None,
    max_activation_bytes: _max_option("activation_bytes", "64MiB") = None,
    max_peak_activation_bytes: _max_option("peak_activation_bytes", "8MiB") = None,
    max_weight_bytes: _max_option("weight_bytes", "20MB") = None,
    max_traffic: _max_option("traffic", "100M") = None,
    max_traffic_bytes: _max_option("traffic_bytes", "400MiB") = None,
    warn_at: Annotated[Optional[str], typer.Option("--warn-at", help="Also report budgets used to this fraction, e.g. 90%.")] = None,
    set_: SetOption = None,
    format: Annotated[CheckFormat, typer.Option("--format", "-f", help="table | json | markdown (a PR comment) | github (workflow commands).")] = CheckFormat.table,
) -> None:
    """Check specs against their budgets (`budgets:` in the spec, or --max-... flags). Exit 0 within, 1 over, 2 bad input.

    Example: [bold]groupcost check 'models/*.yaml' --max-params 5M --max-macs 600M --warn-at 90%[/bold]
    """
    from groupcost import budget, options
    from groupcost.render.guard import CHECK_FORMATS
    from groupcost.spec import load_document

    flags = {"params": max_params, "weights": max_weights, "macs": max_macs, "flops": max_flops, "activations": max_activations,
             "activation_bytes": max_activation_bytes, "peak_activation_bytes": max_peak_activation_bytes, "weight_bytes": max_weight_bytes,
             "traffic": max_traffic, "traffic_bytes": max_traffic_bytes}
    try:
        fraction = _located(budget.parse_fraction, warn_at, "--warn-at") if warn_at is not None else None
        limits = budget.flag_limits(flags)
        variables = options.assignments(set_ or [])
        results = []
        for source in options.expand_specs(specs):
            try:
                results.append(budget.check_spec(load_document(source), variables, limits, fraction))
            except GroupcostError as exc:
                raise exc.located(Location("--set" if isinstance(exc, UsageError) else source)) from None
        if not any(r.verdicts for r in results):
            raise UsageError("no budgets to check", "add `budgets:` to the spec or give --max-params, --max-macs, ...", Location(specs[0]))
    except GroupcostError as exc:
        raise _fail(exc, "check") from None
    _emit(CHECK_FORMATS[format.value](results))
    if any(r.status == "over" for r in results):
        raise typer.Exit(1)


@app.command()
def diff(
    specs: Annotated[list[str], typer.Argument(help="BASE HEAD (files or zoo names), or one spec with --git REV.", metavar="BASE [HEAD]")],
    git: Annotated[Optional[str], typer.Option("--git", help="Compare the one spec given with itself at this git revision (read with git show).")] = None,
    fail_on_increase: Annotated[Optional[str], typer.Option("--fail-on-increase", help="Exit 1 when a total grows past a rule: macs>5%,params>0.")] = None,
    set_: SetOption = None,
    format: FormatOption = Format.table,
) -> None:
    """What a change costs: every total and every layer added, removed or changed. Exit 1 only when a --fail-on-increase rule fires.

    Example: [bold]groupcost diff --git origin/main models/net.yaml --fail-on-increase macs>5%,params>0[/bold]
    """
    from groupcost import options
    from groupcost.diff import diff as compare_reports
    from groupcost.diff import parse_rules
    from groupcost.render.guard import DIFF_FORMATS
    from groupcost.spec import build, load_document, parse_text
    from groupcost.spec.gitsource import read_at_revision

    place = "diff"
    try:
        rules = parse_rules(fail_on_increase) if fail_on_increase else []
        variables = options.assignments(set_ or [])
        if git is not None:
            if len(specs) != 1:
                raise UsageError(f"--git compares one spec with itself; got {len(specs)}", "groupcost diff --git main models/net.yaml", Location("--git"))
            head_doc = load_document(specs[0])
            text, label = read_at_revision(head_doc.path, git)
            place = label
            base_doc = parse_text(text, label)
        else:
            if len(specs) != 2:
                raise UsageError(f"diff takes BASE and HEAD; got {len(specs)} spec(s)", "or one spec with --git REV", Location("diff"))
            place = specs[0]
            base_doc = load_document(specs[0])
            place = specs[1]
            head_doc = load_document(specs[1])
        place = base_doc.path
        base = build(base_doc, variables).analyze()
        place = head_doc.path
        head = build(head_doc, variables).analyze()
        result = compare_reports(base, head, rules, base_doc.path, head_doc.path)
    except GroupcostError as exc:
        raise _fail(exc, place) from None
    _emit(DIFF_FORMATS[format.value](result))
    if result.fired:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec language (for editors: yaml-language-server, VS Code YAML).

    Example: [bold]groupcost schema > groupcost.schema.json[/bold]
    """
    from groupcost.schema import spec_schema_json

    sys.stdout.write(spec_schema_json())


class Precision(str, Enum):
    float32 = "float32"
    float64 = "float64"


@app.command()
def verify(
    spec: Annotated[str, typer.Argument(help="A spec file or a zoo model name.")],
    batch: Annotated[Optional[int], typer.Option("--batch", min=1, help="Batch size (default: the spec's).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random weights and input.")] = 0,
    dtype: Annotated[Precision, typer.Option("--dtype", help="NumPy precision of the run.")] = Precision.float32,
    set_: SetOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Run the spec in NumPy with seeded random weights; prove every layer's shape, MACs and params. Exit 1 on a mismatch.

    Example: [bold]groupcost verify resnext50_32x4d --set G=8 --batch 2[/bold]
    """
    from groupcost import options
    from groupcost.spec import load

    try:
        network = load(spec, options.assignments(set_ or []))
    except GroupcostError as exc:
        raise _fail(exc, spec, "--set") from None
    from groupcost.execute import verify as run_network
    from groupcost.render.verify import FORMATS, verdict

    with _progress_after(1.0, f"verifying {network.name}") as on_step:
        result = run_network(network, batch, seed, dtype.value, on_step)
    _emit(FORMATS[format.value](result))
    if not result.ok:
        sys.stderr.write(verdict(result) + "\n")
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


@app.command()
def zoo(format: FormatOption = Format.table) -> None:
    """The bundled models with their input, params and MACs.

    Example: [bold]groupcost analyze $(groupcost zoo --format csv | tail -n +2 | cut -d, -f1 | head -1)[/bold]
    """
    from groupcost.render.catalog import FORMATS
    from groupcost.spec import load, zoo_names

    try:
        entries = [(name, load(name)) for name in zoo_names()]
    except GroupcostError as exc:
        raise _fail(exc, "zoo") from None
    _emit(FORMATS[format.value]([(name, net, net.analyze()) for name, net in entries]))


@app.command("layers")
def layer_types() -> None:
    """The layer types a spec can use, with their arguments and defaults.

    Example: [bold]groupcost layers[/bold]
    """
    from groupcost.render.catalog import layer_types_table

    _emit(layer_types_table())


# ---- export, measure and calibrate (groupcost.io, groupcost.measure, groupcost.calibrate) ----------


class ExportFormat(str, Enum):
    pytorch = "pytorch"
    onnx = "onnx"


class WeightsChoice(str, Enum):
    random = "random"
    zeros = "zeros"


@app.command()
def export(
    spec: Annotated[str, typer.Argument(help="A spec file or a zoo model name.")],
    to: Annotated[ExportFormat, typer.Option("--to", help="pytorch (one .py file that imports only torch) | onnx (needs the onnx package).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The file to write (default: NAME.py or NAME.onnx here; '-' prints the PyTorch source).")] = None,
    set_: SetOption = None,
    weights: Annotated[WeightsChoice, typer.Option("--weights", help="ONNX initializers: random (seeded, a fresh torch layer's range) or zeros.")] = WeightsChoice.random,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random ONNX weights.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write the network as PyTorch source (blocks as classes, repeat as loops, variables as build()'s arguments) or as an ONNX model; layer names kept.

    Example: [bold]groupcost export resnext50_32x4d --set G=8 --to pytorch -o resnext_g8.py[/bold]
    """
    from groupcost import options
    from groupcost.spec import build, load_document

    try:
        doc = load_document(spec)
        overrides = options.assignments(set_ or [])
        network = build(doc, overrides)
    except GroupcostError as exc:
        raise _fail(exc, spec, "--set") from None
    suffix = ".py" if to is ExportFormat.pytorch else ".onnx"
    note = None
    target = output if output is not None else Path(f"{network.name}{suffix}")
    try:
        if str(target) == "-" and to is ExportFormat.onnx:
            raise UsageError("an ONNX model is binary: give a file", "e.g. -o model.onnx", Location("--output"))
        if str(target) != "-" and target.exists() and not force:
            raise UsageError(f"{target} exists", "give --force to overwrite it", Location("--output"))
        if str(target) != "-" and not target.parent.is_dir():
            raise UsageError(f"no directory {target.parent} to write {target.name} into", None, Location("--output"))
        if to is ExportFormat.pytorch:
            from groupcost.io.pytorch_export import export_pytorch

            source, note = export_pytorch(doc, overrides, f"groupcost export {spec} --to pytorch" + "".join(f" --set {v}" for v in set_ or []))
            if note is not None:
                sys.stderr.write(f"{doc.path}: note: wrote the resolved graph (one module per layer, forward one node a line): {note}\n")
            if str(target) == "-":
                sys.stdout.write(source)
                return
            target.write_text(source, encoding="utf-8")
        else:
            from groupcost.io.onnx_export import write_onnx

            write_onnx(network, target, weights.value, seed)
    except GroupcostError as exc:
        raise _fail(exc, network.source) from None
    except OSError as exc:
        raise _fail(UsageError(f"cannot write {target}: {exc.strerror or exc}", None, Location("--output")), "--output") from None
    sys.stderr.write(f"wrote {target}\n")


def _measured(what: str, format: Format, main, configurations, device, on: str | None, runs: int, threads: int | None, report=None):
    """The command's output with the measurement beside it (table and markdown: appended; json: one object).

    `configurations` is a list of (label, network, line) or a function of the estimate's device
    giving one; without --device the estimate uses this machine's figures, calibrated now.
    """
    from groupcost import measure as measuring
    from groupcost.render import measure as shown

    try:
        if format is Format.csv:
            raise UsageError("--measure shows in table, markdown and json formats", "drop --format csv", Location("--measure"))
        measuring.import_torch()
        if device is None:
            from groupcost.calibrate import calibrate

            device = calibrate(on, threads, quick=True)
        listed = configurations(device) if callable(configurations) else configurations
        session = measuring.measure([(label, net) for label, net, _ in listed], on, runs, threads, per_layer=report is not None)
    except GroupcostError as exc:
        raise _fail(exc, "--measure") from None
    if report is not None:
        from groupcost.roofline import report_seconds

        lines = [shown.Line(report.model, report.totals.macs, report_seconds(report, device))]
    else:
        lines = [line for _, _, line in listed]
    if format is Format.json:
        import json

        return json.dumps({"analysis": json.loads(main), "measurement": shown.to_dict(lines, session, device, report)}, indent=2) + "\n"
    if format is Format.markdown:
        return main + "\n" + shown.to_markdown_lines(lines, session, device)
    from rich.console import Group

    table = shown.layer_table(report, session, device) if report is not None else shown.config_table(what, lines, session, device)
    return Group(main, table) if not isinstance(main, str) else Group(main.rstrip("\n"), table)


class Place(str, Enum):
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


@app.command()
def calibrate(
    on: Annotated[Optional[Place], typer.Option("--on", help="cpu | cuda | mps (default: the best available).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the profile here (default: print it).")] = None,
    threads: ThreadsOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Measure this machine's peak matmul throughput and memory bandwidth (with torch) and write a device profile for --device.

    Example: [bold]groupcost calibrate --on cpu -o cpu.yaml && groupcost analyze resnet50 --device cpu.yaml[/bold]
    """
    from groupcost.calibrate import calibrate as run_calibration
    from groupcost.calibrate import profile_yaml

    try:
        if output is not None and output.exists() and not force:
            raise UsageError(f"{output} exists", "give --force to overwrite it", Location("--output"))
        profile = run_calibration(on.value if on is not None else None, threads)
        text = profile_yaml(profile)
        if output is None:
            sys.stdout.write(text)
            return
        output.write_text(text, encoding="utf-8")
    except GroupcostError as exc:
        raise _fail(exc, "calibrate") from None
    except OSError as exc:
        raise _fail(UsageError(f"cannot write {output}: {exc.strerror or exc}", None, Location("--output")), "--output") from None
    sys.stderr.write(f"wrote {output}: {profile.label()}\n")


def run(argv: list[str] | None = None) -> None:
    """The `groupcost` command: typer's own usage errors also become one located line and exit 2."""
    from typer._click import exceptions as click_errors

    try:
        code = app(argv, prog_name="groupcost", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.format_message())
        raise SystemExit(0) from None
    except click_errors.ClickException as exc:
        param = getattr(exc, "param", None)
        place = (param.opts[0] if param is not None and getattr(param, "opts", None) else None) or getattr(exc, "option_name", None) or "groupcost"
        command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "groupcost"
        sys.stderr.write(one_line(f"{place}:1:1: error: {exc.format_message()} (see `{command} --help`)") + "\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        sys.stderr.write("groupcost:1:1: error: interrupted\n")
        raise SystemExit(130) from None
    raise SystemExit(code if isinstance(code, int) else 0)
