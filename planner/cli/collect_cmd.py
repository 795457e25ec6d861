"""`planner collect`: read live pools over XenAPI into an inventory file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import read_password


def collect(
    urls: Annotated[list[str], typer.Argument(
        help="Pool master URLs (https://host; http:// for the simulator; a bare host name "
        "means https).", show_default=False, metavar="URL")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Inventory file to write.",
                                         show_default=False)],
    user: Annotated[str, typer.Option("-u", "--user", help="XAPI user name.")] = "root",
    password_env: Annotated[str | None, typer.Option(
        help="Environment variable holding the password (default XAPI_PASSWORD; else a "
        "prompt on a terminal).")] = None,
    insecure: Annotated[bool, typer.Option(
        help="Do not verify TLS certificates (self-signed hosts).")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one call.")] = 120.0,
    mcs_key: Annotated[list[str] | None, typer.Option(
        help="other_config key marking a VM made by Machine Creation Services (repeatable; "
        "default: mcs).", metavar="KEY")] = None,
    mcs_tag: Annotated[list[str] | None, typer.Option(
        help="VM tag marking an MCS VM (repeatable; default: none).", metavar="TAG")] = None,
) -> None:
    """Collect an inventory from XenServer pool masters (one get_all_records per class).

    Example: XS_PW=... planner collect https://pool1 https://pool2 --password-env XS_PW -o inv.json
    """
    from planner.errors import InputError
    from planner.inventory import save
    from planner.inventory.collect import DEFAULT_MCS, McsRule, collect_with_warnings

    # before minutes of collecting: a path that cannot be written now fails the same later
    if output.is_dir():
        raise InputError(f"{output}: cannot write: Is a directory")
    if not output.absolute().parent.is_dir():
        raise InputError(f"{output}: cannot write: no directory {output.absolute().parent}")
    password = read_password(password_env)
    if timeout <= 0:
        raise InputError(f"--timeout: must be positive, got {timeout:g}")
    rule = McsRule(tuple(mcs_key) if mcs_key else DEFAULT_MCS.other_config_keys,
                   tuple(mcs_tag or ()))  # fmt: skip
    t0 = time.monotonic()
    inv, warnings = collect_with_warnings(urls, user, password, insecure=insecure,
                                          timeout=timeout, mcs=rule)  # fmt: skip
    took = time.monotonic() - t0
    for w in warnings:
        typer.echo(f"planner: warning: {w}", err=True)
    save(inv, output)
    n_w = f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""
    typer.echo(f"collected {len(inv.pools)} pool(s), {len(inv.hosts)} hosts, {len(inv.srs)} "
               f"SRs, {len(inv.networks)} networks, {len(inv.vms)} VMs in {took:.1f} s{n_w} "
               f"-> {output}")  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add `planner collect` to `app`."""
    app.command("collect")(collect)
