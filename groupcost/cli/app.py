"""The command line: parse flags, call the library (groupcost.api), render, choose the exit code. Nothing else."""

from __future__ import annotations

import inspect
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from groupcost import __version__
from groupcost.errors import GroupcostError, Location, UsageError, one_line

APP_SETTINGS = dict(
    help="Exact parameter, MAC, memory and traffic counts for convolutional networks, from a YAML spec.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(**APP_SETTINGS)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


SpecArgument = Annotated[str, typer.Argument(help="A spec file, a zoo model name (see `groupcost zoo`), or - for standard input.")]
DeviceOption = Annotated[Optional[str], typer.Option("--device", help="Device profile for the roofline estimate (a100, h100, v100, gtx1080ti, jetson_nano, rpi4).")]
PeakOption = Annotated[Optional[float], typer.Option("--peak-tflops", help="Custom device: peak TFLOP/s (with --bandwidth-gbs; not with --device).")]
BandwidthOption = Annotated[Optional[float], typer.Option("--bandwidth-gbs", help="Custom device: memory bandwidth in GB/s (with --peak-tflops).")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table (human units) | json | csv | markdown (exact integers in json and csv).")]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", help="Override a spec variable: --set G=8 (repeatable).", metavar="VAR=VALUE")]
BatchOption = Annotated[Optional[int], typer.Option("--batch", min=1, help="Batch size instead of the spec's.", show_default=False)]
InputOption = Annotated[Optional[str], typer.Option("--input", help="Input shape C,H,W (or F) instead of the spec's, e.g. 3,160,160.", metavar="C,H,W", show_default=False)]
WideOption = Annotated[bool, typer.Option("--wide", help="Show every table column, however wide the terminal (lines may wrap).")]
_MEASURE_PANEL = "Measure (needs torch)"
MeasureOption = Annotated[bool, typer.Option("--measure", help="Also build it in torch and time forward passes, beside the roofline estimate.", rich_help_panel=_MEASURE_PANEL)]
OnOption = Annotated[Optional[str], typer.Option("--on", help="Where to measure: cpu | cuda | mps (default: the best available).", rich_help_panel=_MEASURE_PANEL)]
RunsOption = Annotated[int, typer.Option("--runs", min=1, help="Timed runs per configuration (after 3 warm-up runs); the median is shown.", rich_help_panel=_MEASURE_PANEL)]
ThreadsOption = Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch (default: torch's choice; reported either way).", rich_help_panel=_MEASURE_PANEL)]


def _width() -> int | None:
    """COLUMNS when set (in a terminal or a pipe); else the terminal's own width, or 120 for a pipe or file."""
    import os

    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout.isatty() else 120


def _emit(renderable, wide: bool = False) -> None:
    import os

    if isinstance(renderable, str):
        sys.stdout.write(renderable)
        return
    width = 10_000 if wide else _width()
    if hasattr(renderable, "plain") and not sys.stdout.isatty() and not os.environ.get("FORCE_COLOR"):
        sys.stdout.write(renderable.plain(width or 120))  # a pipe or file: the same lines, without loading rich's console
        return
    from rich.console import Console

    # Never crop: a table that cannot fit (under ~60 columns, or --wide) runs past the edge instead.
    Console(highlight=False, width=width).print(renderable, crop=False)


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


def _input(text: str | None) -> tuple[int, ...] | None:
    """--input C,H,W → (C, H, W)."""
    from groupcost.cli import options

    if text is None:
        return None
    return tuple(options.positive(options.int_list(text, "--input", (1, 2, 3, 4), "C,H,W (or C,L, C,T,H,W, F)", "3,160,160"), "--input"))


def _device(device: str | None, peak_tflops: float | None, bandwidth_gbs: float | None, default: bool):
    from groupcost.run import roofline

    if device is not None and (peak_tflops is not None or bandwidth_gbs is not None):
        raise UsageError("--device and --peak-tflops/--bandwidth-gbs both describe the device", "give one or the other", Location("--device"))
    if not default and device is None and peak_tflops is None and bandwidth_gbs is None:
        return None
    return roofline.device(device, peak_tflops, bandwidth_gbs)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"groupcost {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """groupcost: what will this architecture cost? Exit codes: 0 ok, 1 over budget or mismatch, 2 bad input."""


class By(str, Enum):
    type = "type"


@app.command()
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
    from groupcost.cli import options
    from groupcost.api import network as resolve
    from groupcost.language import is_onnx

    try:
        if depth is not None and by is not None:
            raise UsageError("--depth and --by type are two different summaries", "give one of them", Location("--by"))
        profile = _device(device, peak_tflops, bandwidth_gbs, default=False)
        doc = None if is_onnx(spec) else _document(spec)
        network = resolve(doc or spec, options.assignments(set_ or []), input_shape=_input(input_), batch=batch)
        from groupcost.graph.analysis import OPTIMIZER_STATES

        if optimizer not in OPTIMIZER_STATES:
            raise UsageError(f"unknown optimizer '{optimizer}'", f"one of {', '.join(OPTIMIZER_STATES)}", Location("--optimizer"))
        report = network.analyze(optimizer)
    except GroupcostError as exc:
        raise _fail(exc, spec, "--set") from None
    if doc is not None:
        _warn_about_budgets(doc)
    if by is not None:
        from groupcost.render.report import TYPE_FORMATS

        _emit(TYPE_FORMATS[format.value](report.by_type()), wide)
        return
    from groupcost.render.report import FORMATS

    main = FORMATS[format.value](report.at_depth(depth) if depth else report, traffic=traffic or profile is not None, device=profile)
    if measure:
        main = _measured("analyze", format, main, [(network.name, network, None)], profile, on, runs, threads, report)
    _emit(main, wide)


def _document(spec: str):
    from groupcost.language import load_document

    return load_document(spec)


def _warn_about_budgets(doc) -> None:
    """`analyze` reads no budgets, but says when `budgets:` has a mistake that `check` would refuse."""
    if doc.budgets is None:
        return
    from groupcost.questions.check import budgets_from_spec

    try:
        budgets_from_spec(doc.budgets)
    except GroupcostError as exc:
        sys.stderr.write(str(exc).replace(": error: ", ": warning: ", 1) + "\n")


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
    wide: WideOption = False,
    measure: MeasureOption = False,
    on: OnOption = None,
    runs: RunsOption = 20,
    threads: ThreadsOption = None,
) -> None:
    """One convolution, no spec file: output shape, params, MACs and memory traffic (bytes at float32) for each G.

    Example: [bold]groupcost layer 64,56,56 --out 128 -k 3 -p 1 --g 1,2,4,8,32,dw[/bold]
    """
    from groupcost.cli import options
    from groupcost.ops import LayerError
    from groupcost.render.variants import FORMATS
    from groupcost.questions.compare import ConvQuestion, sweep_groups

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
        from groupcost.run.measure import layer_configurations

        main = _measured("layer", format, main, lambda device: layer_configurations(question, sweep, device), None, on, runs, threads)
    _emit(main, wide)


@app.command()
def compare(
    spec: SpecArgument,
    g: Annotated[str, typer.Option("--g", help="Group counts to try besides standard (G=1) and depthwise-separable.")] = "2,4,8,32",
    layers: Annotated[Optional[str], typer.Option("--layers", help="Only layers whose name matches this glob, e.g. 'layer3.*'.")] = None,
    set_: SetOption = None,
    format: FormatOption = Format.table,
    batch: BatchOption = None,
    input_: InputOption = None,
    wide: WideOption = False,
    measure: MeasureOption = False,
    on: OnOption = None,
    runs: RunsOption = 20,
    threads: ThreadsOption = None,
) -> None:
    """Every convolution as standard, grouped at each G and depthwise-separable; heads as GAP, GDC or dense; network totals.

    Example: [bold]groupcost compare resnet50 --g 2,4,8,32 --layers 'layer3.*'[/bold]
    """
    from groupcost.cli import options
    from groupcost.api import compare as compare_spec
    from groupcost.render.compare import FORMATS

    try:
        choices = options.group_choices(g)
        from groupcost.language import is_onnx

        doc = spec if is_onnx(spec) else _document(spec)  # an ONNX file is read as its graph
        comparison = compare_spec(doc, choices, layers, options.assignments(set_ or []), input_shape=_input(input_), batch=batch)
        if measure:
            from groupcost.api import network as resolve

            network = resolve(doc, options.assignments(set_ or []), input_shape=_input(input_), batch=batch)
    except GroupcostError as exc:
        raise _fail(exc, spec, "--set") from None
    main = FORMATS[format.value](comparison)
    if measure:
        from groupcost.run.measure import compare_configurations

        main = _measured(network.name, format, main, lambda device: compare_configurations(network, comparison, layers, device), None, on, runs, threads)
    _emit(main, wide)


@app.command()
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
    from groupcost.cli import options
    from groupcost.api import whatif as sweep

    try:
        if g is not None and layer is None:
            raise UsageError("--g needs --layer", "e.g. --layer layer2.0.conv2 --g 1,2,4,8", Location("--g"))
        if not vary and layer is None:
            raise UsageError("nothing to vary", "give --vary VAR=v1,v2,... and/or --layer NAME --g 1,2,4", Location("--vary"))
        if plot is not None:
            from groupcost.render.plot import check_target

            check_target(plot, force)
        result = sweep(
            _document(spec),
            options.variations(vary or []),
            _device(device, peak_tflops, bandwidth_gbs, default=True),
            layer,
            options.group_choices(g, words=("divisors",)) if g is not None else None,
            options.assignments(set_ or []),
            input_shape=_input(input_),
            batch=batch,
        )
        if plot is not None:
            from groupcost.render.plot import write_plot

            write_plot(result, plot, force)
    except GroupcostError as exc:
        raise _fail(exc, spec, "--vary") from None
    from groupcost.render.sweep import FORMATS

    main = FORMATS[format.value](result)
    if measure:
        from groupcost.run.measure import sweep_configurations
        from groupcost.language import load_document

        given = result.device if device is not None or peak_tflops is not None else None
        doc, base = load_document(spec), options.assignments(set_ or [])
        main = _measured(result.model, format, main, lambda profile: sweep_configurations(doc, result, base, profile), given, on, runs, threads)
    _emit(main, wide)
    if plot is not None:
        sys.stderr.write(f"wrote {plot}\n")


@app.command()
def report(
    spec: Annotated[str, typer.Argument(help="A spec file or a zoo model name.")],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="The page to write ('-': stdout). Default: MODEL.html here.")] = None,
    set_: SetOption = None,
    vary: Annotated[Optional[list[str]], typer.Option("--vary", help="A what-if sweep, VAR=v1,v2,... (repeatable, one chart each). Default: the spec's number variables.", metavar="VAR=V1,V2")] = None,
    depth: Annotated[Optional[int], typer.Option("--depth", min=1, help="Stages of the cost charts: names cut to N segments (default: the fewest at which no stage holds 60% of the MACs).")] = None,
    device: DeviceOption = None,
    peak_tflops: PeakOption = None,
    bandwidth_gbs: BandwidthOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing page.")] = False,
) -> None:
    """One self-contained HTML page: the architecture as a graph coloured by cost, the layer table, charts per stage, the roofline, what-ifs and budgets.

    Example: [bold]groupcost report resnext50_32x4d -o resnext.html --device a100[/bold]
    """
    from groupcost.cli import options
    from groupcost.questions.report import overview
    from groupcost.render.html import check_target, to_html, write_page
    from groupcost.language import load_document

    try:
        profile = _device(device, peak_tflops, bandwidth_gbs, default=True)
        variations = options.variations(vary) if vary else None
        variables = options.assignments(set_ or [])
        doc = load_document(spec)
        target = None if output == "-" else Path(output or f"{doc.name}.html")
        if target is not None:
            check_target(target, force)
        page = to_html(overview(doc, variables, profile, depth, variations))
        if target is not None:
            write_page(page, target, force)
    except GroupcostError as exc:
        raise _fail(exc, spec, "--set") from None
    if target is None:
        sys.stdout.write(page)
    else:
        sys.stderr.write(f"wrote {target}\n")


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    github = "github"


def check(
    specs: Annotated[list[str], typer.Argument(help="Spec files, globs (quoted: 'models/*.yaml'), zoo names, or - for standard input.")],
    warn_at: Annotated[Optional[str], typer.Option("--warn-at", help="Also report budgets used to this fraction, e.g. 90%.")] = None,
    set_: SetOption = None,
    format: Annotated[CheckFormat, typer.Option("--format", "-f", help="table | json | csv | markdown (a PR comment) | github (workflow commands).")] = CheckFormat.table,
    batch: BatchOption = None,
    input_: InputOption = None,
    wide: WideOption = False,
    **limits: Optional[str],
) -> None:
    """Check specs against their budgets (`budgets:` in the spec, or --max-... flags). Exit 0 within, 1 over, 2 bad input.

    Every spec is checked; one that cannot be read is reported as its error, and the exit code is then 2.

    Example: [bold]groupcost check 'models/*.yaml' --max-params 5M --max-macs 600M --warn-at 90%[/bold]
    """
    from groupcost.questions import check as budget
    from groupcost.cli import options
    from groupcost.api import check as check_specs
    from groupcost.render.guard import CHECK_FORMATS

    flags = {key.removeprefix("max_"): value for key, value in limits.items()}
    try:
        fraction = _located(budget.parse_fraction, warn_at, "--warn-at") if warn_at is not None else None
        variables = options.assignments(set_ or [])
        try:
            result = check_specs(options.expand_specs(specs), flags, fraction, variables, input_shape=_input(input_), batch=batch)
        except UsageError as exc:
            raise exc.located(Location("--set")) from None
        if not any(c.verdicts or c.error for c in result.specs):
            raise UsageError("no budgets to check", "add `budgets:` to the spec or give --max-params, --max-macs, ...", Location(specs[0]))
    except GroupcostError as exc:
        raise _fail(exc, "check") from None
    _emit(CHECK_FORMATS[format.value](result), wide)
    for spec in result.specs:
        if spec.error is not None:
            sys.stderr.write(spec.error + "\n")
    if result.status == "error":
        raise typer.Exit(2)
    if result.status == "over":
        raise typer.Exit(1)


def _with_budget_flags(command):
    """One --max-METRIC flag per metric of groupcost.graph.analysis.METRICS (the flags follow the metrics)."""
    from groupcost.graph.analysis import METRICS

    import typing

    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)
    params = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    annotations = {k: v for k, v in hints.items() if k != "limits"}
    from groupcost.graph.analysis import RENAMED

    for metric in METRICS:
        name = f"max_{metric.key}"
        flags = [f"--max-{key.replace('_', '-')}" for key in (metric.key, *(old for old, new in RENAMED.items() if new == metric.key))]
        hint = Annotated[Optional[str], typer.Option(*flags, help=f"Budget for total {metric.key}, e.g. {metric.example}.", show_default=False)]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint))
        annotations[name] = hint
    command.__signature__ = signature.replace(parameters=params)
    command.__annotations__ = annotations
    return command


app.command("check")(_with_budget_flags(check))


class DiffFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


def _diff_page(result, variables, profile, input_shape, batch) -> str:
    """Both sides' overviews (the networks the diff built), rendered with the diff on one page."""
    from groupcost.questions.report import overview
    from groupcost.render.diffpage import diff_html

    def side(doc, network):
        if doc is None:
            return None
        return overview(doc, variables, profile, network=network, input_shape=input_shape, batch=batch)

    return diff_html(result, side(result.base_doc, result.base_network), side(result.head_doc, result.head_network))


@app.command()
def diff(
    specs: Annotated[list[str], typer.Argument(help="BASE HEAD (files or zoo names), or one spec with --git REV.", metavar="BASE [HEAD]")],
    git: Annotated[Optional[str], typer.Option("--git", help="Compare the one spec given with itself at this git revision (read with git show); a spec new since then is all added.")] = None,
    fail_on_increase: Annotated[Optional[str], typer.Option("--fail-on-increase", help="Exit 1 when a total grows past a rule, quoted for the shell: 'macs>5%,params>0'.")] = None,
    set_: SetOption = None,
    format: Annotated[DiffFormat, typer.Option("--format", "-f", help="table | json | csv | markdown (a PR comment, with a Mermaid graph of the changed region) | html (one page, both sides' reports).")] = DiffFormat.table,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="With --format html: the page to write (default: stdout).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output page.")] = False,
    device: DeviceOption = None,
    batch: BatchOption = None,
    input_: InputOption = None,
    wide: WideOption = False,
) -> None:
    """What a change costs: every total and every layer added, removed or changed. Exit 1 only when a --fail-on-increase rule fires.

    Example: [bold]groupcost diff --git origin/main models/net.yaml --fail-on-increase 'macs>5%,params>0'[/bold]
    """
    from groupcost.cli import options
    from groupcost.api import diff as diff_specs
    from groupcost.questions.diff import parse_rules
    from groupcost.render.guard import DIFF_FORMATS
    from groupcost.render.html import check_target, write_page

    try:
        rules = parse_rules(fail_on_increase) if fail_on_increase else []
        variables = options.assignments(set_ or [])
        if git is not None and len(specs) != 1:
            raise UsageError(f"--git compares one spec with itself; got {len(specs)}", "groupcost diff --git main models/net.yaml", Location("--git"))
        if git is None and len(specs) != 2:
            raise UsageError(f"diff takes BASE and HEAD; got {len(specs)} spec(s)", "or one spec with --git REV", Location("diff"))
        if output is not None and format is not DiffFormat.html:
            raise UsageError("--output writes the html page", "add --format html", Location("--output"))
        target = Path(output) if format is DiffFormat.html and output not in (None, "-") else None
        if target is not None:
            check_target(target, force)
        base, head = (None, specs[0]) if git is not None else (specs[0], specs[1])
        result = diff_specs(base, head, rules, variables, git=git, input_shape=_input(input_), batch=batch)
        if format is DiffFormat.html:
            page = _diff_page(result, variables, _device(device, None, None, default=True), _input(input_), batch)
    except GroupcostError as exc:
        raise _fail(exc, "diff", "--set") from None
    if format is not DiffFormat.html:
        _emit(DIFF_FORMATS[format.value](result), wide)
    elif target is None:
        sys.stdout.write(page)
    else:
        try:
            write_page(page, target, force)
        except GroupcostError as exc:
            raise _fail(exc, "diff") from None
        sys.stderr.write(f"wrote {target}\n")
    if result.fired:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec language (for editors: yaml-language-server, VS Code YAML).

    Example: [bold]groupcost schema > groupcost.language.schema.json[/bold]
    """
    from groupcost.language.schema import spec_schema_json

    sys.stdout.write(spec_schema_json())


class Precision(str, Enum):
    float32 = "float32"
    float64 = "float64"


@app.command()
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
    from groupcost.cli import options
    from groupcost.api import network, verify as run_network

    try:
        net = network(_document(spec), options.assignments(set_ or []), input_shape=_input(input_), batch=batch)
        with _progress_after(1.0, f"verifying {net.name}") as on_step:
            result = run_network(net, None, seed, dtype.value, on_step=on_step)
    except GroupcostError as exc:
        raise _fail(exc, spec, "--set") from None
    from groupcost.render.verify import FORMATS

    _emit(FORMATS[format.value](result), wide)
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


@app.command()
def zoo(format: FormatOption = Format.table, wide: WideOption = False) -> None:
    """The bundled models with their input, params and MACs.

    Example: [bold]groupcost analyze $(groupcost zoo --format csv | tail -n +2 | cut -d, -f1 | head -1)[/bold]
    """
    from groupcost.render.catalog import FORMATS
    from groupcost.language import load, zoo_names

    try:
        entries = [(name, load(name)) for name in zoo_names()]
    except GroupcostError as exc:
        raise _fail(exc, "zoo") from None
    _emit(FORMATS[format.value]([(name, net, net.analyze()) for name, net in entries]), wide)


@app.command("layers")
def layer_types() -> None:
    """The layer types a spec can use, with their arguments and defaults.

    Example: [bold]groupcost layers[/bold]
    """
    from groupcost.render.catalog import layer_types_table

    _emit(layer_types_table())


# ---- export, measure and calibrate (groupcost.formats, groupcost.run.measure, groupcost.run.calibrate) ----------


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
    from groupcost.cli import options
    from groupcost.language import build, load_document

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
            from groupcost.formats.torch.export import export_pytorch

            source, note = export_pytorch(doc, overrides, f"groupcost export {spec} --to pytorch" + "".join(f" --set {v}" for v in set_ or []))
            if note is not None:
                sys.stderr.write(f"{doc.path}: note: wrote the resolved graph (one module per layer, forward one node a line): {note}\n")
            if str(target) == "-":
                sys.stdout.write(source)
                return
            target.write_text(source, encoding="utf-8")
        else:
            from groupcost.formats.onnx.export import write_onnx

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
    from groupcost.run import measure as measuring
    from groupcost.render import measure as shown

    try:
        if format is Format.csv:
            raise UsageError("--measure shows in table, markdown and json formats", "drop --format csv", Location("--measure"))
        measuring.import_torch()
        if device is None:
            from groupcost.run.calibrate import calibrate

            device = calibrate(on, threads, quick=True)
        listed = configurations(device) if callable(configurations) else configurations
        session = measuring.measure([(label, net) for label, net, _ in listed], on, runs, threads, per_layer=report is not None)
    except GroupcostError as exc:
        raise _fail(exc, "--measure") from None
    if report is not None:
        from groupcost.run.roofline import report_seconds

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
    from groupcost.run.calibrate import calibrate as run_calibration
    from groupcost.run.calibrate import profile_yaml

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


@app.command("import")
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
    from groupcost.cli import options
    from groupcost.language.raising import raise_spec

    try:
        if output is not None and output.exists() and not force:
            raise UsageError(f"{output} exists", "add --force to overwrite it", Location("--output"))
        if source.startswith("torch:"):
            from groupcost.formats.torch.reader import parse_args, read_factory

            if input_shape is None:
                raise UsageError("torch: imports need --input", "e.g. --input 3,224,224", Location("--input"))
            shape = tuple(options.positive(options.int_list(input_shape, "--input", (1, 2, 3), "C,H,W"), "--input"))
            network = read_factory(source, shape, parse_args(arg or []), allow_unknown=allow_unknown)
        else:
            if input_shape is not None or arg:
                raise UsageError("--input and --arg are for torch: imports", "an ONNX file carries its input shape", Location("--input" if input_shape else "--arg"))
            from groupcost.formats.onnx.reader import read_network

            network = read_network(source, allow_unknown=allow_unknown)
        text = raise_spec(network)
    except GroupcostError as exc:
        raise _fail(exc, source) from None
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(UsageError(f"cannot write: {exc.strerror or exc}", None, Location(str(output))), str(output)) from None
    report = network.analyze()
    sys.stderr.write(f"wrote {output}: {len(network.nodes)} layers, params {report.totals.params:,}, MACs {report.totals.macs:,}\n")
    for note in network.notes:
        sys.stderr.write(f"note: {note}\n")


def run(argv: list[str] | None = None) -> None:
    """The `groupcost` command: typer's own usage errors also become one located line and exit 2."""
    from typer._click import exceptions as click_errors

    try:
        code = _app_for(sys.argv[1:] if argv is None else argv)(argv, prog_name="groupcost", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.format_message())
        raise SystemExit(0) from None
    except click_errors.NoSuchOption as exc:
        token = next((a for a in (argv if argv is not None else sys.argv[1:]) if exc.option_name and a.startswith(exc.option_name)), exc.option_name)
        if re.fullmatch(r"-\d.*", token or ""):  # `layer -64,56,56`: a negative number, not an option
            command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "groupcost"
            sys.stderr.write(one_line(f"{token}:1:1: error: '{token}' is negative; sizes are positive whole numbers (see `{command} --help`)") + "\n")
            raise SystemExit(2) from None
        _usage_error(exc)
    except click_errors.ClickException as exc:
        _usage_error(exc)
    except KeyboardInterrupt:
        sys.stderr.write("groupcost:1:1: error: interrupted\n")
        raise SystemExit(130) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def _app_for(argv: list[str]) -> typer.Typer:
    """The app with only the command asked for: typer builds a click command for every registered one
    at each start (~4 ms each, more for `check`'s flags); `--help`, `--version` and typos get them all."""
    wanted = [info for info in app.registered_commands if (info.name or info.callback.__name__) == (argv[0] if argv else None)]
    if not wanted:
        return app
    single = typer.Typer(**APP_SETTINGS)
    single.registered_callback = app.registered_callback
    single.registered_commands = wanted
    return single


def _usage_error(exc) -> None:
    """typer's own usage error as one located line, exit 2."""
    param = getattr(exc, "param", None)
    place = (param.opts[0] if param is not None and getattr(param, "opts", None) else None) or getattr(exc, "option_name", None) or "groupcost"
    command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "groupcost"
    sys.stderr.write(one_line(f"{place}:1:1: error: {exc.format_message()} (see `{command} --help`)") + "\n")
    raise SystemExit(2) from None
