"""Helpers shared by CLI commands: inventory arguments, output, option parsing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from planner.errors import InputError

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


def plan_status(plan: Plan) -> str:
    """The one-line status of a plan: solver, status, size, length, bound, unplaced."""
    from planner.cli.output import hms, plural

    s, est, b = plan.solver, plan.estimate, plan.bounds
    n = sum(len(w.migrations) for w in plan.waves)
    bound = f", lower bound {hms(b['seconds'])}" if b.get("seconds") is not None else ""
    return (f"plan: {plural(n, 'migration')} in {plural(int(est.get('waves', 0)), 'wave')}, "
            f"{hms(est.get('seconds', 0))}{bound}; {plural(len(plan.unplaced), 'VM')} "
            f"unplaced; {s.get('name', '?')} {s.get('status', '?')} in "
            f"{float(s.get('wall_seconds', 0)):.2f} s")  # fmt: skip


def emit_plan(inv: Inventory, plan: Plan, fmt: str, output: Path | None,
              table: Callable[[Inventory, Plan, Path | None], None]) -> NoReturn:  # fmt: skip
    """Save `plan` to `output` (if given; `-`: the plan on stdout, as csv with --format
    csv, else as its JSON document), print it
    as `fmt` (json: the plan document, csv: `planner.rows`, or `table`), and exit 1 when
    VMs are unplaced, else 0. With data on stdout the status line goes to stderr."""
    import typer

    from planner.cli.output import Output, is_stdout
    from planner.plan import save, to_dict
    from planner.rows import PLAN_COLUMNS, plan_rows

    if output is not None and is_stdout(output):
        # `-o -`: the plan is stdout's data: its JSON document, or the csv rows
        fmt, output = ("csv" if fmt == "csv" else "json"), None
    if output is not None:
        save(plan, output)
    out = Output(fmt)
    if fmt == "table":
        table(inv, plan, output)
    else:
        out.emit(doc=lambda: to_dict(plan), rows=lambda: plan_rows(plan, inv),
                 columns=PLAN_COLUMNS, table=lambda _c: None)  # fmt: skip
        out.status(plan_status(plan))
        if output is not None:
            out.status(f"plan written to {output}")
    raise typer.Exit(1 if plan.unplaced else 0)
