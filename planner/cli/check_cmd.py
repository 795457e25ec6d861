"""`planner check PLAN [INV]` (the replay checker) and `planner explain VM [INV]`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cli.common import INVENTORY_HELP, load_inventory
from planner.cli.options import (
    DMC_DEFAULT,
    HEADROOM_DEFAULT,
    check_headroom,
    dmc_option,
    headroom_option,
    migration_network_option,
    network_map_option,
)
from planner.cli.output import FormatOption, Output, OutputOption, plural

if TYPE_CHECKING:
    from rich.console import Console

    from planner.explain import Explanation
    from planner.inventory.model import Inventory


VIOLATION_COLUMNS = ("code", "message", "wave", "migration", "vm", "vm_name", "mode")


def check(
    plan: Annotated[Path, typer.Argument(help="Plan JSON file.", show_default=False)],
    inventory: Annotated[
        Path | None, typer.Argument(help=INVENTORY_HELP, show_default=False)
    ] = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Deprecated: same as --format json.", hidden=False)
    ] = False,
) -> None:
    """Replay PLAN against INV and report every broken promise (docs/check.md).

    A plan is replayed both ways: in waves (rules 1-12) and, for a v2 plan, as its
    schedule (flow mode, rules 13-15); a violation that breaks only one way is tagged
    [waves] or [flow].

    Exit status: 0 the plan is safe, 1 it has violations (one line each: wave, migration,
    VM -> target, rule code and the numbers), 2 the inputs are unusable, including a
    plan made for another inventory. A safe plan that leaves VMs unplaced says so.

    Example: planner check plan.json fleet.json --format json -o report.json
    """
    from planner.check import check_plan
    from planner.plan import load as load_plan

    if as_json:
        typer.echo("planner: --json is deprecated; use --format json", err=True)
        fmt = "json"
    out = Output.of(fmt, output)
    p = load_plan(plan)
    inv = load_inventory(inventory)
    report = check_plan(inv, p)
    n = len(report.violations)
    size = f"{plural(report.migrations, 'migration')} in {plural(report.waves, 'wave')}"
    unplaced = (
        f"; {plural(len(p.unplaced), 'VM')} left unplaced by the plan (not moved)"
        if p.unplaced
        else ""
    )
    if report.ok:
        verdict = f"plan is safe: {size}, every replay rule holds{unplaced}"
    else:
        verdict = f"plan is NOT safe: {plural(n, 'violation')} ({size}){unplaced}"

    def rows() -> list[dict[str, object]]:
        return [
            {
                "code": v.code,
                "message": v.message,
                "wave": v.wave,
                "migration": v.migration,
                "vm": v.vm,
                "vm_name": inv.label(v.vm) if v.vm else None,
                "mode": v.mode,
            }
            for v in report.violations
        ]

    def table(con: Console) -> None:
        for line in report.lines():
            con.print(line, markup=False, highlight=False)

    out.emit(
        doc=lambda: {
            "ok": report.ok,
            "waves": report.waves,
            "migrations": report.migrations,
            "unplaced": [u.vm for u in p.unplaced],
            "unplaced_claimed": report.claimed,
            "violations": rows(),
        },
        rows=rows,
        columns=VIOLATION_COLUMNS,
        table=table,
    )
    out.status(verdict)
    if report.claimed:
        # capacity reasons cannot be verified without solving again (FORMATS.md rule 11)
        out.status(
            f"{plural(report.claimed, 'unplaced VM')} excused by capacity reasons "
            "(the solver's claim, not verified)"
        )
    if not report.ok:
        raise typer.Exit(1)


def explain(
    vm: Annotated[str, typer.Argument(help="VM name or uuid.", show_default=False)],
    inventory: Annotated[
        Path | None, typer.Argument(help=INVENTORY_HELP, show_default=False)
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Only this host or pool (a pool of another pool: "
            "cross-pool storage migration candidates).",
            show_default=False,
        ),
    ] = None,
    network_map: Annotated[
        list[str] | None,
        network_map_option(
            "Map a source network to a target-pool network (names or uuids); repeatable."
        ),
    ] = None,
    headroom: Annotated[
        float, headroom_option("Share of each host's memory kept free.")
    ] = HEADROOM_DEFAULT,
    dmc: Annotated[bool, dmc_option("Count running VMs at their dynamic minimum.")] = DMC_DEFAULT,
    migration_network: Annotated[
        list[str] | None,
        migration_network_option(
            "The network carrying storage-migration streams into POOL, as for solve; repeatable."
        ),
    ] = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
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

    out = Output.of(fmt, output)
    inv = load_inventory(inventory)
    nmap = resolve_network_map(inv, network_map or [])
    check_headroom(headroom)
    from planner.rules.migration_network import resolve_migration_networks

    mnet = resolve_migration_networks(inv, migration_network or [])
    options = PlanOptions(
        headroom_fraction=headroom, dmc=dmc, network_map=nmap, migration_network=mnet
    )
    e = explain_vm(inv, vm, to=to, options=options)
    out.emit(
        doc=lambda: explanation_doc(inv, e),
        rows=lambda: candidate_rows(inv, e),
        columns=CANDIDATE_COLUMNS,
        table=lambda con: render(inv, e, con),
    )
    if out.is_data:
        out.status(
            f"{e.vm.name}: {len(e.eligible)} of {plural(len(e.candidates), 'candidate')}"
            " eligible now"
        )


CANDIDATE_COLUMNS = (
    "vm",
    "vm_name",
    "kind",
    "host",
    "host_name",
    "sr",
    "sr_name",
    "eligible",
    "reasons",
    "free_memory_bytes",
    "free_sr_bytes",
)


def candidate_rows(inv: Inventory, e: Explanation) -> list[dict[str, Any]]:
    """One row per candidate target of an explanation (uuids and names)."""
    return [
        {
            "vm": e.vm.uuid,
            "vm_name": e.vm.name,
            "kind": c.kind,
            "host": c.host,
            "host_name": inv.label(c.host) if c.host else None,
            "sr": c.sr,
            "sr_name": inv.label(c.sr) if c.sr else None,
            "eligible": c.eligible,
            "reasons": [f"{r.code}: {r.message}" for r in c.reasons],
            "free_memory_bytes": c.free_memory_bytes,
            "free_sr_bytes": c.free_sr_bytes,
        }
        for c in e.candidates
    ]


def explanation_doc(inv: Inventory, e: Explanation) -> dict[str, Any]:
    """An explanation as JSON: the VM, its exclusions, VIF mapping and candidates."""
    vm = e.vm
    return {
        "vm": vm.uuid,
        "vm_name": vm.name,
        "power_state": vm.power_state,
        "host": vm.host,
        "host_name": inv.label(vm.host) if vm.host else None,
        "pool": vm.pool,
        "pool_name": inv.label(vm.pool),
        "memory_bytes": vm.memory_bytes,
        "to_pool": e.to_pool,
        "to_host": e.to_host,
        "exclusions": [
            {"code": x.code, "message": x.message, "remedy": x.remedy, "kinds": list(x.kinds)}
            for x in e.exclusions
        ],
        "vifs": [
            {"device": v.device, "network": v.network, "to_network": v.to_network} for v in e.vifs
        ],
        "candidates": [
            {**r, "reasons": [{"code": x.code, "message": x.message} for x in c.reasons]}
            for r, c in zip(candidate_rows(inv, e), e.candidates, strict=True)
        ],
    }


def register(app: typer.Typer) -> None:
    """Add `check` and `explain` to `app`."""
    app.command("check")(check)
    app.command("explain")(explain)
