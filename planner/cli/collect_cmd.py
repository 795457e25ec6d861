"""`planner collect`: read live pools over XenAPI into an inventory file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from planner.cli import logs
from planner.cli.common import (
    CaFileOption,
    FingerprintOption,
    InsecureOption,
    LogFileOption,
    PoolOption,
    pool_access,
    tls_option_value,
)
from planner.cli.progress import PoolProgress, ProgressOption, enabled


def collect(
    urls: Annotated[
        list[str] | None,
        typer.Argument(
            help="Pool master URLs (https://host; http:// for the simulator; a bare host name "
            "means https). None: the --pool pools, or every pool of the config file.",
            show_default=False,
            metavar="[URL]...",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help="Inventory file to write (required; '-': stdout).",
            show_default=False,
        ),
    ] = None,
    pool: PoolOption = None,
    user: Annotated[str, typer.Option("-u", "--user", help="XAPI user name.")] = "root",
    password_env: Annotated[
        str | None,
        typer.Option(
            help="Environment variable holding the password (default XAPI_PASSWORD; else a "
            "prompt on a terminal, else a line on stdin)."
        ),
    ] = None,
    insecure: InsecureOption = False,
    ca_file: CaFileOption = None,
    fingerprint: FingerprintOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one call.")] = 120.0,
    mcs_key: Annotated[
        list[str] | None,
        typer.Option(
            help="other_config key marking a VM made by Machine Creation Services (repeatable; "
            "default: mcs).",
            metavar="KEY",
        ),
    ] = None,
    mcs_tag: Annotated[
        list[str] | None,
        typer.Option(help="VM tag marking an MCS VM (repeatable; default: none).", metavar="TAG"),
    ] = None,
    log_file: LogFileOption = None,
    show_progress: ProgressOption = None,
) -> None:
    """Collect an inventory from XenServer pool masters (one get_all_records per class).

    Examples: XS_PW=... planner collect https://pool1 https://pool2 --password-env XS_PW -o
    inv.json;  planner collect --pool lab -o lab.json (a pool of the config file)
    """
    from planner.cli.output import check_writable, is_stdout
    from planner.errors import InputError
    from planner.inventory import save
    from planner.inventory.collect import DEFAULT_MCS, McsRule, collect_with_warnings

    if output is None:
        raise InputError("-o/--output: required (the inventory file to write, '-' for stdout)")
    # before minutes of collecting: a path that cannot be written now fails the same later
    check_writable(output)
    cli_tls = tls_option_value(insecure, ca_file, fingerprint)
    if timeout <= 0:
        raise InputError(f"--timeout: must be positive, got {timeout:g}")
    urls, user, password, tls = pool_access(
        list(urls or []), list(pool or []), user, password_env, cli_tls, url_option="URL"
    )
    rule = McsRule(
        tuple(mcs_key) if mcs_key else DEFAULT_MCS.other_config_keys, tuple(mcs_tag or ())
    )
    log = logs.configure(log_file, secrets=[password])
    try:
        t0 = time.monotonic()
        log.info("collecting %d pool(s) as %s", len(urls), user, extra={"urls": ",".join(urls)})
        with PoolProgress(urls, enabled(show_progress)) as progress:
            inv, warnings = collect_with_warnings(
                urls, user, password, insecure=tls, timeout=timeout, mcs=rule, progress=progress
            )
        took = time.monotonic() - t0
        for w in warnings:
            log.warning(w)
        log.info(
            "collected %d pool(s), %d hosts, %d VMs in %.1f s",
            len(inv.pools),
            len(inv.hosts),
            len(inv.vms),
            took,
        )
    except Exception as e:
        log.error("collect failed: %s", e)
        raise
    finally:
        logs.close()
    if is_stdout(output):
        from planner.inventory.io import to_dict

        typer.echo(json.dumps(to_dict(inv), indent=1, ensure_ascii=False))
    else:
        save(inv, output)
    n_w = f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""
    typer.echo(
        f"collected {len(inv.pools)} pool(s), {len(inv.hosts)} hosts, {len(inv.srs)} "
        f"SRs, {len(inv.networks)} networks, {len(inv.vms)} VMs in {took:.1f} s{n_w} "
        f"-> {'stdout' if is_stdout(output) else output}",
        err=is_stdout(output),
    )


def register(app: typer.Typer) -> None:
    """Add `planner collect` to `app`."""
    app.command("collect")(collect)
