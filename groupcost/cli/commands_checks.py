"""The commands a review or a CI job runs: check (budgets), diff (what a change costs) and report (one HTML page)."""

from __future__ import annotations

import inspect
import sys
import typing
from pathlib import Path
from typing import Annotated, Optional

import typer

from groupcost.cli import options
from groupcost.cli.common import (
    BandwidthOption, BatchOption, CheckFormat, DeviceOption, DiffFormat, InputOption, PeakOption, SetOption, WideOption, default_target, emit, fail,
)
from groupcost.errors import GroupcostError, Location, UsageError


def report(
    spec: Annotated[str, typer.Argument(help="A spec file or a zoo model name.")],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="The page to write ('-': stdout). Default: MODEL.html here.")] = None,
    set_: SetOption = None,
    vary: Annotated[Optional[list[str]], typer.Option("--vary", help="A what-if sweep, VAR=v1,v2,... (repeatable, one chart each). Default: the spec's number variables.", metavar="VAR=V1,V2")] = None,
    depth: Annotated[Optional[int], typer.Option("--depth", min=1, help="Stages of the cost charts: names cut to N segments (default: the fewest at which no stage holds 60% of the MACs).")] = None,
    device: DeviceOption = None,
    peak_tflops: PeakOption = None,
    bandwidth_gbs: BandwidthOption = None,
    batch: BatchOption = None,
    input_: InputOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing page.")] = False,
) -> None:
    """One self-contained HTML page: the architecture as a graph coloured by cost, the layer table, charts per stage, the roofline, what-ifs and budgets.

    Example: [bold]groupcost report resnext50_32x4d -o resnext.html --device a100[/bold]
    """
    from groupcost import api
    from groupcost.render.html import check_target, to_html, write_page

    try:
        profile = options.device(device, peak_tflops, bandwidth_gbs, default=True)
        variations = options.variations(vary) if vary else None
        variables = options.assignments(set_ or [])
        shape = options.input_shape(input_)
        read_source = api.source(spec)
        doc = read_source.document(shape)
        target = None if output == "-" else Path(output) if output else default_target(doc.name, ".html", read_source.spec, spec)
        if target is not None:
            check_target(target, force)
        chosen = profile if device is not None or peak_tflops is not None or bandwidth_gbs is not None else None  # None: the default, said so
        page = to_html(api.report(doc, variables, chosen, depth, variations, input_shape=shape, batch=batch))
        if target is not None:
            write_page(page, target, force)
    except GroupcostError as exc:
        raise fail(exc, spec, "--set") from None
    if target is None:
        sys.stdout.write(page)
    else:
        sys.stderr.write(f"wrote {target}\n")


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
    from groupcost.api import check as check_specs
    from groupcost.language.budgets import parse_fraction
    from groupcost.render.guard import CHECK_FORMATS

    flags = {key.removeprefix("max_"): value for key, value in limits.items()}
    try:
        fraction = options.located(parse_fraction, warn_at, "--warn-at") if warn_at is not None else None
        variables = options.assignments(set_ or [])
        if specs.count("-") > 1:
            raise UsageError("standard input is named twice, and can be read once", "give the other specs as files", Location("-"))
        try:
            result = check_specs(options.expand_specs(specs), flags, fraction, variables, input_shape=options.input_shape(input_), batch=batch)
        except UsageError as exc:
            raise exc.located(Location("--set")) from None
        if not any(c.verdicts or c.error for c in result.specs):
            raise UsageError("no budgets to check", "add `budgets:` to the spec or give --max-params, --max-macs, ...", Location(specs[0]))
    except GroupcostError as exc:
        raise fail(exc, "check") from None
    emit(CHECK_FORMATS[format.value](result), wide)
    for spec in result.specs:
        if spec.error is not None:
            sys.stderr.write(spec.error + "\n")
    if result.status == "error":
        raise typer.Exit(2)
    if result.status == "over":
        raise typer.Exit(1)


def with_budget_flags(command):
    """One --max-METRIC flag per metric of groupcost.graph.analysis.METRICS (the flags follow the metrics)."""
    from groupcost.graph.analysis import METRICS, RENAMED

    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)
    params = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    annotations = {k: v for k, v in hints.items() if k != "limits"}
    for metric in METRICS:
        name = f"max_{metric.key}"
        flags = [f"--max-{key.replace('_', '-')}" for key in (metric.key, *(old for old, new in RENAMED.items() if new == metric.key))]
        hint = Annotated[Optional[str], typer.Option(*flags, help=f"Budget for total {metric.key}, e.g. {metric.example}.", show_default=False)]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint))
        annotations[name] = hint
    command.__signature__ = signature.replace(parameters=params)
    command.__annotations__ = annotations
    return command


def _diff_page(result, variables, profile, input_shape, batch) -> str:
    """Both sides' overviews (the networks the diff built), rendered with the diff on one page."""
    from groupcost.questions.report import overview
    from groupcost.render.diffpage import diff_html

    def side(doc, network):
        if doc is None:
            return None
        return overview(doc, variables, profile, network=network, input_shape=input_shape, batch=batch)

    return diff_html(result, side(result.base_doc, result.base_network), side(result.head_doc, result.head_network))


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
        if specs.count("-") > 1:
            raise UsageError("BASE and HEAD are both standard input, which can be read once", "give one of them as a file", Location("-"))
        if output is not None and format is not DiffFormat.html:
            raise UsageError("--output writes the html page", "add --format html", Location("--output"))
        target = Path(output) if format is DiffFormat.html and output not in (None, "-") else None
        if target is not None:
            check_target(target, force)
        base, head = (None, specs[0]) if git is not None else (specs[0], specs[1])
        result = diff_specs(base, head, rules, variables, git=git, input_shape=options.input_shape(input_), batch=batch)
        if format is DiffFormat.html:
            page = _diff_page(result, variables, options.device(device, None, None, default=True), options.input_shape(input_), batch)
    except GroupcostError as exc:
        raise fail(exc, "diff", "--set") from None
    if format is not DiffFormat.html:
        emit(DIFF_FORMATS[format.value](result), wide)
    elif target is None:
        sys.stdout.write(page)
    else:
        try:
            write_page(page, target, force)
        except GroupcostError as exc:
            raise fail(exc, "diff") from None
        sys.stderr.write(f"wrote {target}\n")
    if result.fired:
        raise typer.Exit(1)

