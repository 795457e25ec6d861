"""`planner solve`: plan a campaign (evacuate hosts, move pools, retire SRs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from planner.cli.common import INVENTORY_HELP, emit_plan, load_inventory
from planner.cli.options import (
    DMC_DEFAULT,
    HEADROOM_DEFAULT,
    check_headroom,
    dmc_option,
    headroom_option,
    migration_network_option,
    network_map_option,
)
from planner.cli.output import (  # print_reason_summary: shared with campaign_view
    FORMATS,
    FormatOption,
    check_writable,
    hms,
    plural,
    print_reason_summary,
)
from planner.cli.progress import ProgressOption

if TYPE_CHECKING:
    from rich.console import Console

    from planner.inventory.model import Inventory
    from planner.plan import Plan

DEMO_HOST = "xs-02"  # the bundled sample's maintenance scenario
TABLE_ROWS = 300  # migrations shown in the table; the file and csv have them all

EPILOG = """\b
Examples:
  planner solve                                   # the bundled sample: evacuate xs-02
  planner solve fleet.json --evacuate xs-01,xs-02 -o plan.json
  planner solve fleet.json --move-pool old --to new-a,new-b --network-map vm-net=prod
  planner solve fleet.json --move-pool old --to new --migration-network new=storage \
      --set-home same-host
  planner solve fleet.json --retire-sr nfs-old --solver greedy --format csv
  planner solve --rebalance --max-moves 5
  planner solve fleet.json --target placement.json
  planner solve fleet.json --rolling-upgrade old --to-version 8.4.0 -o upgrade.json
Exit status: 0 goal met in full (or nothing to do), 1 some VMs unplaced, 2 bad input."""


def register(app: typer.Typer) -> None:
    """Add `solve` to `app`."""
    app.command("solve", epilog=EPILOG)(solve_command)


def solve_command(
    inventory: Annotated[Path | None, typer.Argument(help=INVENTORY_HELP)] = None,
    evacuate: Annotated[
        list[str] | None,
        typer.Option(
            "--evacuate",
            metavar="HOST[,HOST]",
            help="Hosts to empty of running VMs (maintenance). Repeatable.",
        ),
    ] = None,
    move_pool: Annotated[
        list[str] | None,
        typer.Option(
            "--move-pool",
            metavar="POOL[,POOL]",
            help="Pools whose every VM moves into the --to pools. Repeatable.",
        ),
    ] = None,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", metavar="POOL[,POOL]", help="Pools that receive --move-pool's VMs."),
    ] = None,
    retire_sr: Annotated[
        list[str] | None,
        typer.Option(
            "--retire-sr", metavar="SR[,SR]", help="SRs to empty of every disk. Repeatable."
        ),
    ] = None,
    solver: Annotated[str, typer.Option(help="cpsat (optimising) or greedy (baseline).")] = "cpsat",
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="Seconds CP-SAT may spend in all.")
    ] = 30.0,
    workers: Annotated[int | None, typer.Option(help="CP-SAT worker threads (default 2).")] = None,
    seed: Annotated[int, typer.Option(help="CP-SAT random seed.")] = 0,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="Solve independent parts on this Dask scheduler (tcp://host:port); "
            "CP-SAT runs single-threaded per part there.",
        ),
    ] = None,
    headroom: Annotated[
        float, headroom_option("Share of each host's memory kept free, 0 <= F < 1.")
    ] = HEADROOM_DEFAULT,
    max_per_host: Annotated[
        int | None,
        typer.Option(
            "--max-per-host",
            metavar="N",
            help="At most N migrations in flight that leave or enter one host (1..3; "
            "1 where migration traffic shares a 1 GbE link). Default: no limit.",
        ),
    ] = None,
    dmc: Annotated[
        bool, dmc_option("Count running VMs at their dynamic minimum memory.")
    ] = DMC_DEFAULT,
    network_map: Annotated[
        list[str] | None,
        network_map_option(
            "Map a source network to a target-pool network (names or uuids). Repeatable."
        ),
    ] = None,
    anti_affinity: Annotated[
        str,
        typer.Option(
            "--anti-affinity",
            metavar="MODE",
            help="strict: never put two VMs of an anti-affinity VM group on one host; soft: "
            "allow it with a warning ANTI_AFFINITY per placement.",
        ),
    ] = "strict",
    migration_network: Annotated[
        list[str] | None,
        migration_network_option(
            "Network (name or uuid) of target pool POOL that carries the storage "
            "migration streams into it (default: its management network). "
            "Repeatable."
        ),
    ] = None,
    set_home: Annotated[
        str,
        typer.Option(
            "--set-home",
            metavar="MODE",
            help="Home server of each migrated VM: keep (a VM with a home gets the host it "
            "lands on when it changes pool), same-host (every VM: the host it lands on) "
            "or none.",
        ),
    ] = "keep",
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help="Write the plan JSON here ('-': on stdout, the status line on stderr).",
        ),
    ] = None,
    fmt: FormatOption = "table",
    # campaigns of issue 9 (planner/campaigns, docs/plan-extensions.md)
    rebalance: Annotated[
        bool, typer.Option("--rebalance", help="Even out memory utilisation within each pool.")
    ] = False,
    max_moves: Annotated[
        int | None, typer.Option("--max-moves", help="--rebalance: at most this many migrations.")
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance",
            help="--rebalance: max - min utilisation accepted, as a fraction "
            "(default 0.10 = 10 points).",
        ),
    ] = None,
    target: Annotated[
        Path | None,
        typer.Option("--target", metavar="FILE", help="Reach the placement of a JSON {vm: host}."),
    ] = None,
    rolling_upgrade: Annotated[
        str | None,
        typer.Option(
            "--rolling-upgrade",
            metavar="POOL",
            help="Upgrade every host of POOL in turn (master first).",
        ),
    ] = None,
    order: Annotated[
        list[str] | None,
        typer.Option(
            "--order",
            metavar="HOST[,HOST]",
            help="--rolling-upgrade: host order (default: the planner's).",
        ),
    ] = None,
    to_version: Annotated[
        str | None,
        typer.Option(
            "--to-version",
            help="--rolling-upgrade: the version (default: the newest in the inventory).",
        ),
    ] = None,
    return_home: Annotated[
        bool,
        typer.Option("--return-home", help="--rolling-upgrade: move VMs back home afterwards."),
    ] = False,
    show_progress: ProgressOption = None,
) -> None:
    """Plan the shortest safe migration campaign for a goal.

    With no inventory and no goal it plans the bundled sample's maintenance scenario
    (evacuate host xs-02). The footer compares the plan with its proven lower bound and
    with the greedy baseline."""

    from planner.errors import InputError
    from planner.goals import parse_goal
    from planner.home import HOME_MODES, assign_homes
    from planner.options import PlanOptions

    if fmt not in FORMATS:
        raise InputError(f"--format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if set_home not in HOME_MODES:
        raise InputError(f"--set-home: must be one of {', '.join(HOME_MODES)}, got {set_home!r}")
    check_headroom(headroom)
    if anti_affinity not in ("strict", "soft"):
        raise InputError(f"--anti-affinity: must be strict or soft, got {anti_affinity!r}")
    check_writable(output)
    no_goal = not (evacuate or move_pool or retire_sr or to)
    if (
        rebalance
        or target is not None
        or rolling_upgrade
        or max_moves is not None
        or tolerance is not None
        or order
        or to_version
        or return_home
    ):
        from planner.cli.campaign_view import run_campaign

        run_campaign(
            inventory,
            fmt=fmt,
            output=output,
            headroom=headroom,
            dmc=dmc,
            other_goal=not no_goal,
            rebalance=rebalance,
            max_moves=max_moves,
            tolerance=tolerance,
            target=target,
            rolling_upgrade=rolling_upgrade,
            order=order,
            to_version=to_version,
            return_home=return_home,
            migration_network=migration_network,
            set_home=set_home,
        )
    inv = load_inventory(inventory)  # a bad file is reported before a missing goal
    if no_goal and inventory is not None:
        raise InputError(
            "no goal: give --evacuate HOST, --move-pool POOL --to POOL, --retire-sr SR, "
            "--rebalance, --target FILE or --rolling-upgrade POOL"
        )
    if no_goal:
        evacuate = [DEMO_HOST]
    goal = parse_goal(inv, evacuate=evacuate, move_pool=move_pool, to=to, retire_sr=retire_sr)
    nmap: dict[str, str] = {}
    if network_map:
        from planner.rules.network import resolve_network_map

        nmap = resolve_network_map(inv, network_map)
    from planner.rules.migration_network import resolve_migration_networks

    mnet = resolve_migration_networks(inv, migration_network or [])
    options = PlanOptions(
        headroom_fraction=headroom,
        dmc=dmc,
        network_map=nmap,
        max_per_host=max_per_host,
        migration_network=mnet,
        anti_affinity=anti_affinity,
    )

    from planner.cli.progress import SolveProgress, enabled
    from planner.solve import solve

    client = None
    if dask is not None:
        from planner.distributed import connect

        client = connect(dask)
    try:
        with SolveProgress(enabled(show_progress)) as progress:
            plan = solve(
                inv,
                goal,
                options,
                solver=solver,
                time_limit=time_limit,
                workers=workers,
                seed=seed,
                progress=progress,
                client=client,
            )
    finally:
        if client is not None:
            client.close()
    plan = assign_homes(inv, plan, set_home)
    emit_plan(inv, plan, fmt, output, _table)


def _table(inv: Inventory, plan: Plan, output: Path | None) -> None:
    from planner.goals import Evacuate, MovePool, RetireSR
    from planner.terminal import SafeConsole as Console  # names from XAPI: no markup or ESC

    out = Console(width=max(100, Console().width))
    goal = plan.goal
    if isinstance(goal, Evacuate):
        names = ", ".join(inv.label(u) for u in goal.hosts)
    elif isinstance(goal, MovePool):
        names = ", ".join(inv.label(u) for u in goal.from_pools)
        names += " -> " + ", ".join(inv.label(u) for u in goal.to_pools)
    elif isinstance(goal, RetireSR):
        names = ", ".join(inv.label(u) for u in goal.srs)
    else:  # the campaign goals have their own view (cli/campaign_view.py)
        raise TypeError(f"no table for a {goal.kind} goal")
    out.print(f"[bold]{goal.kind}[/bold] {names}")
    if plan.waves:
        _migrations_table(out, inv, plan)
    if plan.unplaced:
        _unplaced_table(out, inv, plan)
    for line in _footer(inv, plan, output):
        # the table may be wider than the terminal; the summary lines never hard-wrap
        out.print(line, highlight=False, soft_wrap=True)


def _migrations_table(out: Console, inv: Inventory, plan: Plan) -> None:
    """The first TABLE_ROWS migrations, one section per wave, and how many were left out."""
    from rich.table import Table

    t = Table(show_lines=False, header_style="bold")
    for col in ("wave", "id", "VM", "kind", "from", "to", "disks to", "start", "est"):
        t.add_column(col, justify="right" if col in ("wave", "start", "est") else "left")
    shown = 0
    for w in plan.waves:
        for i, m in enumerate(w.migrations):
            if shown >= TABLE_ROWS:
                break
            shown += 1
            frm = inv.label(m.from_host) if m.from_host else inv.label(m.from_pool)
            dst = inv.label(m.to_host) if m.to_host else inv.label(m.to_pool)
            disks = ", ".join(sorted({inv.label(d.to_sr) for d in m.disks})) or "-"
            t.add_row(
                str(w.index) if i == 0 else "",
                m.id,
                inv.label(m.vm),
                m.kind,
                frm,
                dst,
                disks,
                _hms(m.start_s),
                _hms(m.est_seconds),
                end_section=i == len(w.migrations) - 1,
            )
    out.print(t)
    total = sum(len(w.migrations) for w in plan.waves)
    if total > shown:
        out.print(f"... and {total - shown} more migrations (see --format csv or -o)")


def _unplaced_table(out: Console, inv: Inventory, plan: Plan) -> None:
    """The reason summary, then the first TABLE_ROWS unplaced VMs with their reasons."""
    from rich.table import Table

    print_reason_summary(out, plan)
    t = Table(title="Unplaced VMs", header_style="bold", title_justify="left")
    t.add_column("VM")
    t.add_column("reasons")
    for u in plan.unplaced[:TABLE_ROWS]:
        t.add_row(inv.label(u.vm), "\n".join(f"{r.code}: {r.message}" for r in u.reasons))
    out.print(t)
    if len(plan.unplaced) > TABLE_ROWS:
        out.print(f"... and {len(plan.unplaced) - TABLE_ROWS} more unplaced VMs")


def _footer(inv: Inventory, plan: Plan, output: Path | None) -> list[str]:
    """The summary lines: schedule against its bound, wave mode, greedy, solver, unplaced,
    solver notes, where the plan went, and the advice."""
    from planner.advice import advice_lines
    from planner.plan_header import Figures
    from solvers.bounds import gap

    s = plan.solver
    secs, bound = plan.estimate.seconds or 0, plan.bounds.seconds or 0
    g = s.greedy or Figures()
    n = sum(len(w.migrations) for w in plan.waves)
    pb = s.placed_bound or plan.bounds
    wave_s = plan.estimate.wave_seconds if plan.estimate.wave_seconds is not None else secs
    placed = pb.seconds or 0
    parts = s.components or 1
    lines = [
        f"Schedule: {plural(n, 'migration')} in {_hms(secs)} ({secs} s); lower "
        f"bound {_hms(bound)} ({bound} s) "
        + (
            f"(gap {_pct(gap(secs, bound))})"
            if pb == plan.bounds
            else f"for the whole goal; for the VMs it moves {_hms(placed)} "
            f"(gap {_pct(gap(secs, placed))})"
        ),
        f"Wave mode (lock-step): {plural(plan.estimate.waves or 0, 'wave')}, "
        f"{_hms(wave_s)} ({wave_s} s)",
        f"Greedy: {_hms(g.seconds or 0)} ({g.seconds or 0} s)"
        + (f", {_vms(g.unplaced)} unplaced" if g.unplaced else ""),
        f"Solver: {s.name} {s.status_label} in {s.wall_seconds or 0:.2f} s"
        + (f", {parts} independent parts" if parts > 1 else ""),
    ]
    if plan.unplaced:
        lines.append(f"Unplaced: {_vms(len(plan.unplaced))} (exit status 1)")
    for warning in plan.warnings:
        if warning.code == "SOLVER":
            lines.append(f"Note: {warning.message}")
    if output is not None:
        lines.append(f"Plan written to {output}")
    return lines + advice_lines(inv, plan)


def _vms(n: int) -> str:
    return plural(n, "VM")


_hms = hms


def _pct(x: float) -> str:
    return "n/a" if x == float("inf") else f"{x:.1f}%"
