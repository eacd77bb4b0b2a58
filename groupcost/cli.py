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
        report = load(spec, options.assignments(set_ or [])).analyze()
    except GroupcostError as exc:
        raise _fail(exc, spec, "--set") from None
    _emit(FORMATS[format.value](report.at_depth(depth) if depth else report, traffic=traffic or profile is not None, device=profile))


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
    _emit(FORMATS[format.value](sweep))


@app.command()
def compare(
    spec: Annotated[str, typer.Argument(help="A spec file or a zoo model name.")],
    g: Annotated[str, typer.Option("--g", help="Group counts to try besides standard (G=1) and depthwise-separable.")] = "2,4,8,32",
    layers: Annotated[Optional[str], typer.Option("--layers", help="Only layers whose name matches this glob, e.g. 'layer3.*'.")] = None,
    set_: SetOption = None,
    format: FormatOption = Format.table,
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
        comparison = compare_network(load(spec, options.assignments(set_ or [])), choices, layers)
    except GroupcostError as exc:
        raise _fail(exc, spec, "--set") from None
    _emit(FORMATS[format.value](comparison))


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
    _emit(FORMATS[format.value](result))
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
    from groupcost import options
    from groupcost.io.raise_spec import raise_spec

    try:
        if output is not None and output.exists() and not force:
            raise UsageError(f"{output} exists", "add --force to overwrite it", Location("--output"))
        if source.startswith("torch:"):
            from groupcost.io.torch_import import parse_args, read_factory

            if input_shape is None:
                raise UsageError("torch: imports need --input", "e.g. --input 3,224,224", Location("--input"))
            shape = tuple(options.positive(options.int_list(input_shape, "--input", (1, 2, 3), "C,H,W"), "--input"))
            network = read_factory(source, shape, parse_args(arg or []), allow_unknown=allow_unknown)
        else:
            if input_shape is not None or arg:
                raise UsageError("--input and --arg are for torch: imports", "an ONNX file carries its input shape", Location("--input" if input_shape else "--arg"))
            from groupcost.io.onnx_import import read_network

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
