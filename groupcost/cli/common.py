"""What every command shares: the option types, the output formats, writing the output and failing with one located line."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from groupcost.errors import GroupcostError, Location, UsageError


FORCE_HINT = "add --force to overwrite it"
"""The one wording of --force's hint, in every command that writes a file."""


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def zoo_completions(incomplete: str) -> list[str]:
    """Shell completion of a SPEC: the zoo's names (file names the shell completes itself)."""
    from groupcost.language import zoo_names

    return [name for name in zoo_names() if name.startswith(incomplete)]


SpecArgument = Annotated[str, typer.Argument(help="A spec file, a zoo model name (see `groupcost zoo`), or - for standard input.",
                                             autocompletion=zoo_completions)]
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
MeasuredDeviceOption = Annotated[Optional[str], typer.Option("--device", help="With --measure: the estimate's device, a calibrated profile (groupcost calibrate -o FILE.yaml) or a datasheet name (default: this machine's roofline, measured on the spot).", rich_help_panel=_MEASURE_PANEL)]
OnOption = Annotated[Optional[str], typer.Option("--on", help="Where to measure: cpu | cuda | mps (default: a calibrated --device's, else the best available).", rich_help_panel=_MEASURE_PANEL)]
RunsOption = Annotated[int, typer.Option("--runs", min=1, help="Timed runs per configuration (after 3 warm-up runs); the median is shown.", rich_help_panel=_MEASURE_PANEL)]
ThreadsOption = Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch (default: a calibrated --device's threads, else torch's choice; reported either way).", rich_help_panel=_MEASURE_PANEL)]


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    github = "github"


class DiffFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


def terminal_width() -> int | None:
    """COLUMNS when set (in a terminal or a pipe); else the terminal's own width, or 120 for a pipe or file."""
    import os

    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout.isatty() else 120


def emit(renderable, wide: bool = False) -> None:
    import os

    if isinstance(renderable, str):
        sys.stdout.write(renderable)
        return
    width = 10_000 if wide else terminal_width()
    if hasattr(renderable, "plain") and not sys.stdout.isatty() and not os.environ.get("FORCE_COLOR"):
        sys.stdout.write(renderable.plain(width or 120))  # a pipe or file: the same lines, without loading rich's console
        return
    from rich.console import Console

    # Never crop: a table that cannot fit (under ~60 columns, or --wide) runs past the edge instead.
    Console(highlight=False, width=width).print(renderable, crop=False)


def default_target(name: str, suffix: str, doc=None, source: str | None = None):
    """NAME.suffix in the current folder, for a command's default output file. The name comes from the
    spec (or an ONNX graph), which may be untrusted: a name that is not a plain file name (a slash, a
    leading dot, `..`, an absolute path, a control character) is refused, located at the spec's `name:`."""
    import re
    from pathlib import Path

    plain = bool(name) and not name.startswith((".", "-")) and not re.search(r"[/\\\x00-\x1f\x7f:]", name)
    target = Path(f"{name}{suffix}")
    if plain and target.parent == Path(".") and target.name == f"{name}{suffix}":
        return target
    node = doc.root.value.get("name") if doc is not None and isinstance(getattr(doc.root, "value", None), dict) else None
    where = node.loc if node is not None and getattr(node, "loc", None) is not None else Location(source or (doc.path if doc is not None else "groupcost"))
    raise UsageError(f"name {name!r} is not a plain file name, and the default NAME{suffix} is written in the current folder only",
                     f"give the file to write with -o, e.g. -o model{suffix}", where)


def fail(error: GroupcostError, default_place: str, usage_place: str | None = None) -> typer.Exit:
    """Report `error` as one located line; unplaced usage errors (a bad --set) go to `usage_place`."""
    if error.location is None:
        error.location = Location(usage_place if usage_place and isinstance(error, UsageError) else default_place)
    sys.stderr.write(f"{error}\n")
    return typer.Exit(2)

