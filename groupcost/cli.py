"""The command line: parse flags, call the library, render, choose the exit code. Nothing else."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from groupcost import __version__
from groupcost.errors import GroupcostError, Location, UsageError

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


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table (human units) | json | csv | markdown (exact integers in json and csv).")]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", help="Override a spec variable: --set G=8 (repeatable).", metavar="VAR=VALUE")]


def _emit(renderable) -> None:
    if isinstance(renderable, str):
        sys.stdout.write(renderable)
    else:
        from rich.console import Console

        # A pipe or file gets a fixed 120 columns (rich would assume 80); a terminal its own width.
        Console(highlight=False, width=None if sys.stdout.isatty() else 120).print(renderable)


def _fail(error: GroupcostError, default_place: str) -> typer.Exit:
    if error.location is None:
        error.location = Location(default_place)
    sys.stderr.write(f"{error}\n")
    return typer.Exit(2)


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
) -> None:
    """Per-layer output shape, groups, params, MACs and activations, with totals.

    Example: [bold]groupcost analyze resnext50_32x4d --set G=64 --depth 2[/bold]
    """
    from groupcost import options
    from groupcost.render.report import FORMATS
    from groupcost.spec import load

    try:
        report = load(spec, options.assignments(set_ or [])).analyze()
    except GroupcostError as exc:
        raise _fail(exc, "--set" if isinstance(exc, UsageError) else spec) from None
    _emit(FORMATS[format.value](report.at_depth(depth) if depth else report))


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
        except LayerError as exc:
            raise GroupcostError(exc.message, exc.hint, Location(f"-{exc.arg or 'k'}")) from None
    except GroupcostError as exc:
        raise _fail(exc, "layer") from None
    _emit(FORMATS[format.value](sweep))


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


def run() -> None:
    app()
