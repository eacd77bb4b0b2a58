"""The command line: parse flags, call the library (groupcost.api), render, choose the exit code. Nothing else.

This module holds the app and its entry point; the commands live in commands_costs (analyze, layer,
compare, whatif, verify, the listings), commands_checks (report, check, diff) and commands_files
(export, import, calibrate), their shared options in common, value parsing in options.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer
from typer.core import TyperArgument

from groupcost.cli import commands_checks, commands_costs, commands_files
from groupcost.errors import one_line
from groupcost.version import __version__

APP_SETTINGS = dict(
    help="Exact parameter, MAC, memory and traffic counts for convolutional networks, from a YAML spec.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion SHELL: bash, zsh, fish, powershell
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(**APP_SETTINGS)


def _usage_metavar(make_metavar):
    """Usage lines show an argument as `SPEC`, `C,H,W` or `BASE [HEAD]`, as the help text and README
    write them; typer 0.28 writes a required one in braces, `{spec}`."""

    def metavar(self, ctx, *, usage: bool = False) -> str:
        shown = make_metavar(self, ctx, usage=usage)
        if usage and shown.startswith("{") and "}" in shown:
            inner, _, rest = shown[1:].partition("}")
            shown = (inner if self.metavar is not None else inner.upper()) + rest
        return shown

    return metavar


TyperArgument.make_metavar = _usage_metavar(TyperArgument.make_metavar)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"groupcost {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """groupcost: what will this architecture cost? Exit codes: 0 ok, 1 over budget or mismatch, 2 bad input."""


COMMANDS = (
    ("analyze", commands_costs.analyze),
    ("layer", commands_costs.layer),
    ("compare", commands_costs.compare),
    ("whatif", commands_costs.whatif),
    ("report", commands_checks.report),
    ("check", commands_checks.with_budget_flags(commands_checks.check)),
    ("diff", commands_checks.diff),
    ("schema", commands_costs.schema),
    ("verify", commands_costs.verify),
    ("zoo", commands_costs.zoo),
    ("layers", commands_costs.layer_types),
    ("export", commands_files.export),
    ("calibrate", commands_files.calibrate),
    ("import", commands_files.import_model),
)
"""Every command by name, in the order `--help` lists them."""
for name, command in COMMANDS:
    app.command(name)(command)


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
    message = re.sub(r"\s*\n\s*", " ", exc.format_message())  # click's "Choose from:\n\tpytorch,\n\tonnx" on one line
    sys.stderr.write(one_line(f"{place}:1:1: error: {message} (see `{command} --help`)") + "\n")
    raise SystemExit(2) from None
