"""`planner check PLAN [INV]` (the replay checker) and `planner explain VM [INV]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import INVENTORY_HELP, load_inventory


def check(
    plan: Annotated[Path, typer.Argument(help="Plan JSON file.", show_default=False)],
    inventory: Annotated[
        Path | None, typer.Argument(help=INVENTORY_HELP, show_default=False)
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON on stdout.")
    ] = False,
) -> None:
    """Replay PLAN against INV and report every broken promise (docs/check.md).

    A plan is replayed both ways: in waves (rules 1-12) and, for a v2 plan, as its
    schedule (flow mode, rules 13-15); a violation that breaks only one way is tagged
    [waves] or [flow].

    Exit status: 0 the plan is safe, 1 it has violations (one line each: wave, migration,
    VM -> target, rule code and the numbers), 2 the inputs are unusable, including a
    plan made for another inventory.

    Example: planner check plan.json fleet.json
    """
    from planner.check import check_plan
    from planner.plan import load as load_plan

    p = load_plan(plan)
    inv = load_inventory(inventory)
    report = check_plan(inv, p)
    if as_json:
        import json

        doc = {
            "ok": report.ok,
            "waves": report.waves,
            "migrations": report.migrations,
            "unplaced_claimed": report.claimed,
            "violations": [
                {"code": v.code, "message": v.message, "wave": v.wave,
                 "migration": v.migration, "vm": v.vm, "mode": v.mode}
                for v in report.violations
            ],
        }
        typer.echo(json.dumps(doc, indent=1))
    else:
        for line in report.lines():
            typer.echo(line)
        n = len(report.violations)
        size = f"{report.migrations} migrations in {report.waves} waves"
        if report.ok:
            typer.echo(f"plan is safe: {size}, every replay rule holds")
        else:
            typer.echo(f"plan is NOT safe: {n} violation{'s' if n != 1 else ''} ({size})")
        if report.claimed:
            # capacity reasons cannot be verified without solving again (FORMATS.md rule 11)
            typer.echo(f"{report.claimed} unplaced VM{'s' if report.claimed != 1 else ''} "
                       "excused by capacity reasons (the solver's claim, not verified)")
    if not report.ok:
        raise typer.Exit(1)


def explain(
    vm: Annotated[str, typer.Argument(help="VM name or uuid.", show_default=False)],
    inventory: Annotated[
        Path | None, typer.Argument(help=INVENTORY_HELP, show_default=False)
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Only this host or pool (a pool of another pool: "
                     "cross-pool storage migration candidates).", show_default=False),
    ] = None,
    network_map: Annotated[
        list[str] | None,
        typer.Option("--network-map", metavar="SRC=DST",
                     help="Map a source network to a target-pool network (names or uuids); "
                     "repeatable.", show_default=False),
    ] = None,
    headroom: Annotated[
        float, typer.Option("--headroom", help="Share of each host's memory kept free.")
    ] = 0.0,
    dmc: Annotated[
        bool, typer.Option("--dmc", help="Count running VMs at their dynamic minimum.")
    ] = False,
    migration_network: Annotated[
        list[str] | None,
        typer.Option("--migration-network", metavar="POOL=NETWORK",
                     help="The network carrying storage-migration streams into POOL, as "
                     "for solve; repeatable.", show_default=False),
    ] = None,
) -> None:
    """Why VM can or cannot go to each candidate host (and SR), as a table.

    An excluded VM's reason and what the operator can do about it come first. Free
    memory and space are the figures now, before any migration.

    Examples: planner explain web-01 --to xs-03;  planner explain db-07 fleet.json --to
    pool-b --network-map "vm-net=VM Network"
    """
    from planner.explain import explain as explain_vm
    from planner.explain import render
    from planner.options import PlanOptions
    from planner.rules.network import resolve_network_map

    inv = load_inventory(inventory)
    nmap = resolve_network_map(inv, network_map or [])
    if not 0.0 <= headroom < 1.0:
        from planner.errors import InputError

        raise InputError(f"--headroom: must be at least 0 and below 1, got {headroom}")
    from planner.rules.migration_network import resolve_migration_networks

    mnet = resolve_migration_networks(inv, migration_network or [])
    options = PlanOptions(headroom_fraction=headroom, dmc=dmc, network_map=nmap,
                          migration_network=mnet)  # fmt: skip
    render(inv, explain_vm(inv, vm, to=to, options=options))


def register(app: typer.Typer) -> None:
    """Add `check` and `explain` to `app`."""
    app.command("check")(check)
    app.command("explain")(explain)
