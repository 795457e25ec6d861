"""Helpers shared by CLI commands: inventory arguments, output, option parsing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.inventory.model import Inventory

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
