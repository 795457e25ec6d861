"""The `planner` command line (typer).

Each command group lives in its own module with a `register(app)` function. Modules import
only light things at the top; heavy libraries (ortools, pandas, numpy, XenAPI) are imported
inside the commands so `planner --help` stays fast. Every `PlannerError` becomes one line
per problem on stderr and its exit status (2 for bad input); `OSError` likewise.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from planner.cli.common import CONFIG_KEY
from planner.errors import PlannerError

if TYPE_CHECKING:  # only for annotations: importing the installed click costs 0.1 s
    # typer 0.2x's vendored click: the classes typer's own commands and contexts are
    from typer import _click as click

try:  # typer 0.2x parses with its own vendored copy of click, not the installed one
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    # older typer: the installed click's own classes, same names and API
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[assignment]


class _Group(TyperGroup):
    """Turns library errors into clean messages for every (sub)command, runner included."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reflow_help(self)  # the sub-commands exist already: typer builds them first
        guard_options(self)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlannerError as e:
            for line in e.lines():
                typer.echo(f"planner: {_printable(line)}", err=True)
            raise typer.Exit(e.exit_code) from None
        except NoArgsIsHelpError:
            raise  # `planner inventory` alone: click prints the group's help
        except UsageError as e:
            # a mistyped option or a bad choice is bad input like any other: one line,
            # exit 2 (typer would draw a five-line box)
            where = e.ctx.command_path if e.ctx is not None else "planner"
            message = " ".join(e.format_message().split())
            typer.echo(f"planner: {message} (see '{where} --help')", err=True)
            raise typer.Exit(2) from None
        except BrokenPipeError:
            # `planner ... | head` closed the pipe: not an error worth a message
            sys.stderr.close()
            raise typer.Exit(1) from None
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            typer.echo(f"planner: {where}{e.strerror or e}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Group,
    name="planner",
    help="Plan and carry out XenServer / Citrix Hypervisor migration campaigns.\n\n"
    "Start with `planner solve` (plans the bundled sample inventory) or "
    "`planner inventory show`.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _register() -> None:
    from planner.cli import (
        check_cmd,
        collect_cmd,
        execute_cmd,
        inventory_cmd,
        sim_cmd,
        solve_cmd,
        whatif_cmd,
    )

    for module in (
        inventory_cmd,
        solve_cmd,
        check_cmd,
        collect_cmd,
        sim_cmd,
        execute_cmd,
        whatif_cmd,
    ):
        module.register(app)
    __import__("planner.cli.report_cmd", fromlist=["register"]).register(app)  # issue 14


def _reflow(text: str) -> str:
    """Join the hard-wrapped lines of each help paragraph.

    typer's rich help keeps single newlines after the first paragraph, so docstrings
    wrapped at 88 columns come out ragged at 80 or 120. Paragraphs with an indented line
    (example lists) keep their layout.
    """
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p
        if p.startswith("\b") or any(line[:1].isspace() for line in p.splitlines())
        else " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
    )


def reflow_help(command: click.Command) -> None:
    """Apply `_reflow` to the help of `command` and of every sub-command, in place."""
    if command.help:
        command.help = _reflow(command.help)
    for sub in getattr(command, "commands", {}).values():
        reflow_help(sub)


def _print_version(value: bool) -> None:
    if value:
        from planner import __version__

        typer.echo(f"planner {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the planner's version and exit.",
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            show_default=False,
            help="Config file (TOML: pools and defaults; docs/cli.md). Default: "
            "$XEN_PLANNER_CONFIG, else config.toml in the user config directory.",
        ),
    ] = None,
) -> None:
    """Global options (the group's help is the `help=` of `app` above)."""
    from planner import config as cfg

    loaded = cfg.load(config)  # errors: one line each, exit 2 (see _Group.invoke)
    ctx.meta[CONFIG_KEY] = loaded
    # [defaults] become option defaults; an option given on the command line still wins
    ctx.default_map = {**(ctx.default_map or {}), **loaded.default_map()}


def _printable(line: str) -> str:
    """An error line safe for a terminal (`planner.terminal.printable`, capped)."""
    from planner.terminal import MAX_LINE, printable

    return printable(line, cap=MAX_LINE)


def guard_options(command: click.Command) -> None:
    """Check every option value of every sub-command against `planner.limits` before the
    command runs: finite numbers in range, no empty or unprintable texts (one line,
    exit 2)."""
    import functools

    subs = getattr(command, "commands", None)
    if subs is not None:
        for sub in subs.values():
            guard_options(sub)
        return
    inner = command.callback
    if inner is None or getattr(inner, "_guarded", False):
        return
    flags = {p.name: _flag(p) for p in command.params}

    @functools.wraps(inner)
    def checked(*args: Any, **kwargs: Any) -> Any:
        from planner.errors import InputError
        from planner.limits import check_option

        problems = []
        for name, value in kwargs.items():
            try:
                check_option(name, str(flags.get(name, name)), value)
            except InputError as e:
                problems.append(e.message)
        problems += _overwrites(kwargs, flags)
        if len(problems) == 1:
            raise InputError(problems[0])
        if problems:
            raise InputError("bad options", problems)
        return inner(*args, **kwargs)

    checked._guarded = True  # type: ignore[attr-defined]  # marker: each command guarded once
    command.callback = checked


def _flag(p: Any) -> str:
    """How people name a parameter: an option's first flag, an argument's metavar."""
    opts = getattr(p, "opts", None) or []
    if getattr(p, "param_type_name", "") == "option" and opts:
        return str(opts[0])
    return str(getattr(p, "metavar", None) or str(p.name).upper())


def _overwrites(kwargs: dict[str, Any], flags: dict[str, Any]) -> list[str]:
    """`-o FILE` naming a file that is also an input of the command (`solve INV -o INV`):
    writing would destroy the input, so it is refused before anything is read."""
    import os
    from pathlib import Path

    out = kwargs.get("output")
    if not isinstance(out, Path) or not out.exists():
        return []
    for name, value in kwargs.items():
        if name == "output":
            continue
        for v in value if isinstance(value, (list, tuple)) else (value,):
            try:
                same = isinstance(v, Path) and v.exists() and os.path.samefile(out, v)
            except OSError:
                same = False
            if same:
                return [
                    f"-o {out}: is also an input ({flags.get(name, name)}); refusing to "
                    "overwrite it"
                ]
    return []


@app.command("version")
def version() -> None:
    """Print the planner's version.

    Example: planner version
    """
    from planner import __version__

    typer.echo(__version__)


_register()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
