"""`planner sim serve`: the XAPI simulator on loopback, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import INVENTORY_HELP

DEFAULT_PASSWORD_ENV = "XP_SIM_PASSWORD"

sim_app = typer.Typer(
    name="sim",
    help="XAPI simulator: serve an inventory as XenServer pools for tests and rehearsals.\n\n"
    "Example: XP_SIM_PASSWORD=pw planner sim serve fleet.json --speed 600",
    no_args_is_help=True,
)


@sim_app.command("serve")
def serve(
    inventory: Annotated[
        Path | None, typer.Argument(help=INVENTORY_HELP, show_default=False)
    ] = None,
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 0,
    host: Annotated[
        str, typer.Option(help="Address to bind (loopback unless told otherwise).")
    ] = "127.0.0.1",
    speed: Annotated[
        float,
        typer.Option(
            help="Simulated seconds per wall second (a 600 s migration takes 10 s at 60)."
        ),
    ] = 60.0,
    fail_rate: Annotated[
        float,
        typer.Option(help="Share of migrations that fail mid-way with VM_MIGRATE_FAILED (0..1)."),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the failure draws and of the refs.")] = 0,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Scripted fault, repeatable: VM:CODE, VM:STALL, offline:HOST@S, sessions:S, "
            "expire@S, delay:METHOD:S:N (see docs/simulator.md).",
            metavar="SPEC",
        ),
    ] = None,
    user: Annotated[str, typer.Option(help="User name the pools accept.")] = "root",
    password_env: Annotated[
        str,
        typer.Option(
            help="Environment variable holding the password (unset: the password is 'secret')."
        ),
    ] = DEFAULT_PASSWORD_ENV,
    audit: Annotated[
        Path | None, typer.Option(help="Append every migration attempt to this JSONL file.")
    ] = None,
) -> None:
    """Serve INV as XAPI pools: prints one URL per pool master, runs until Ctrl-C.

    Example: XP_SIM_PASSWORD=pw planner sim serve fleet.json --speed 600 --fail-rate 0.05
    """
    from planner.cli.common import load_inventory
    from planner.sim import Simulator

    inv = load_inventory(inventory)
    if host not in ("127.0.0.1", "::1", "localhost"):
        # anyone who reaches the port can log in with the simulator's password and move
        # its VMs; refs are unpredictable, but the password is often the default
        typer.echo(
            f"planner: warning: --host {host} is not loopback: the simulator is "
            "reachable from other machines",
            err=True,
        )
    password = os.environ.get(password_env)
    note = f"password from ${password_env}"
    if password is None:
        password, note = "secret", f"password 'secret' (${password_env} is not set)"
    sim = Simulator(
        inv,
        speed=speed,
        fail_rate=fail_rate,
        seed=seed,
        faults=fault or [],
        user=user,
        password=password,
        host=host,
        port=port,
        audit_path=audit,
    )
    # Ctrl-C and `kill` both stop cleanly, also when started in the background of a
    # script (where SIGINT arrives ignored and Python would not raise KeyboardInterrupt).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    sim.start()
    try:
        typer.echo(
            f"simulating {len(inv.pools)} pool(s), {len(inv.hosts)} hosts, "
            f"{len(inv.vms)} VMs at speed {speed:g}; user {user!r}, {note}"
        )
        for pool_uuid, url in sim.urls.items():
            typer.echo(f"pool {inv.label(pool_uuid)}: {url}")
        typer.echo("press Ctrl-C to stop")
        while True:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    n = len(sim.audit())
    typer.echo(f"stopped; {n} migration attempt{'s' if n != 1 else ''} audited")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    """Add `planner sim ...` to `app`."""
    app.add_typer(sim_app)
