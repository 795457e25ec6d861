"""Helpers shared by CLI commands: inventory arguments, output, option parsing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from planner.inventory.model import Inventory
    from planner.plan import Plan

INVENTORY_HELP = "Inventory JSON file (default: the bundled sample inventory)."


def load_inventory(path: Path | None) -> Inventory:
    """Load `path`, or the bundled sample when it is None; errors raise InputError."""
    from planner.inventory import load, sample_path

    return load(path if path is not None else sample_path())


DEFAULT_PASSWORD_ENV = "XAPI_PASSWORD"


def read_password(var: str | None) -> str:
    """The XAPI password: from environment variable `var` (default XAPI_PASSWORD), else
    a hidden prompt on stderr. Never from an argument, so it stays out of argv."""
    import os

    import click
    import typer

    from planner.errors import InputError

    name = var or DEFAULT_PASSWORD_ENV
    value = os.environ.get(name)
    if value:
        return value
    if var is not None:
        raise InputError(f"--password-env: environment variable {name} is not set")
    # prompt (hidden on a terminal; a pipe works too); no input at all is an error
    import sys

    if not sys.stdin.isatty():
        # getpass on a pipe warns "Can not control echo" over three lines of stderr:
        # nothing is echoed from a pipe, so read the line directly
        line = sys.stdin.readline().rstrip("\r\n")
        if line:
            return line
        raise InputError(
            f"no password: set {name}, name a variable with --password-env, or pipe it "
            "on stdin"
        )
    try:
        return str(typer.prompt("XAPI password", hide_input=True, err=True))
    except (typer.Abort, click.exceptions.Abort, EOFError):
        raise InputError(
            f"no password: set {name}, name a variable with --password-env, or type it "
            "at the prompt"
        ) from None


def split_refs(values: list[str] | None) -> list[str]:
    """`--opt a,b --opt c` -> ["a", "b", "c"] (blank items dropped)."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def emit_plan(inv: Inventory, plan: Plan, fmt: str, output: Path | None,
              table: Callable[[Inventory, Plan, Path | None], None]) -> NoReturn:  # fmt: skip
    """Save `plan` to `output` (if given), print it as `fmt` (json, csv, or `table`), and
    exit 1 when VMs are unplaced, else 0."""
    import json

    import typer

    from planner.plan import save, to_dict

    if output is not None:
        save(plan, output)
    if fmt == "json":
        from planner.advice import restart_advice

        # added key (docs/plan-extensions.md): derived from the plan, not saved with it
        doc = {**to_dict(plan),
               "restart_advice": [a.to_json() for a in restart_advice(inv, plan)]}  # fmt: skip
        typer.echo(json.dumps(doc, indent=1, ensure_ascii=False))
    elif fmt == "csv":
        typer.echo(plan.to_frame(inv).to_csv(index=False), nl=False)
    else:
        table(inv, plan, output)
    raise typer.Exit(1 if plan.unplaced else 0)
