"""The `planner` command line (typer).

Each command group lives in its own module with a `register(app)` function. Modules import
only light things at the top; heavy libraries (ortools, pandas, numpy, XenAPI) are imported
inside the commands so `planner --help` stays fast. Every `PlannerError` becomes one line
per problem on stderr and its exit status (2 for bad input); `OSError` likewise.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import typer
from typer.core import TyperGroup

from planner.errors import PlannerError


class _Group(TyperGroup):
    """Turns library errors into clean messages for every (sub)command, runner included."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlannerError as e:
            for line in e.lines():
                typer.echo(f"planner: {line}", err=True)
            raise typer.Exit(e.exit_code) from None
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
    add_completion=False,
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
        inventory_cmd, solve_cmd, check_cmd, collect_cmd, sim_cmd, execute_cmd, whatif_cmd,
    ):  # fmt: skip
        module.register(app)


@app.command("version")
def version() -> None:
    """Print the planner's version."""
    from planner import __version__

    typer.echo(__version__)


_register()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
