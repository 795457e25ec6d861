"""`planner solve` with a campaign goal: plan, write, print the table, exit code.

The goal parsing and the planners are library code (`planner.campaigns.dispatch`);
this is the terminal side of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from planner.advice import advice_lines
from planner.campaigns.dispatch import campaign_goal, plan_campaign
from planner.cli.common import emit_plan, load_inventory
from planner.cli.output import hms, plural, print_reason_summary
from planner.errors import InputError
from planner.execute.journal import step_ids
from planner.goals import Rebalance, RollingUpgrade
from planner.home import assign_homes
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan, Wave
from planner.rules.migration_network import resolve_migration_networks
from planner.terminal import SafeConsole as Console  # names from XAPI: no markup or ESC


def show(inv: Inventory, plan: Plan, output: Path | None) -> None:
    """The table of a campaign plan: waves with their steps, unplaced VMs, warnings."""
    out = Console(width=max(100, Console().width))
    g = plan.goal
    head = g.kind
    if isinstance(g, RollingUpgrade):
        head += f" {inv.label(g.pool)} to {g.to_version}"
    elif isinstance(g, Rebalance):
        head += (
            f" (tolerance {g.tolerance_or_default * 100:.0f} points, max moves "
            f"{g.max_moves if g.max_moves is not None else 'any'})"
        )
    out.print(f"[bold]{head}[/bold]")
    if plan.waves:
        sid = {id(st): k for k, _, st in step_ids(plan)}  # the executor's step ids
        t = Table(header_style="bold")
        for col in ("wave", "id", "VM / step", "from", "to", "note", "est"):
            t.add_column(col, justify="right" if col in ("wave", "est") else "left")
        for w in plan.waves:
            rows = _wave_rows(inv, w, sid)
            for i, r in enumerate(rows):
                t.add_row(str(w.index) if i == 0 else "", *r, end_section=i == len(rows) - 1)
        out.print(t)
    if plan.unplaced:
        print_reason_summary(out, plan)
    for u in plan.unplaced:
        # one line per VM: its reasons, one per code (the planners already dedupe)
        why = "; ".join(f"{r.code} {r.message}" for r in u.reasons)
        out.print(f"unplaced {inv.label(u.vm)}: {why}", highlight=False)
    for warning in plan.warnings:
        out.print(f"{warning.code}: {warning.message}", highlight=False)
    n = sum(len(w.migrations) for w in plan.waves)
    out.print(
        f"Plan: {plural(n, 'migration')} in {plural(plan.estimate.waves or 0, 'wave')}, "
        f"{hms(plan.estimate.seconds or 0)} ({plan.estimate.seconds or 0} s); "
        f"{plan.solver.name} {plan.solver.status_label} "
        f"in {plan.solver.wall_seconds or 0:.2f} s",
        highlight=False,
    )
    if output is not None:
        out.print(f"Plan written to {output}", highlight=False)
    for line in advice_lines(inv, plan):
        out.print(line, highlight=False, soft_wrap=True)


def _wave_rows(inv: Inventory, w: Wave, sid: dict[int, str]) -> list[tuple[str, ...]]:
    """One wave's rows: its "before" steps, its migrations, its "after" steps (`sid`: the
    executor's step id of each step, by `id()`)."""
    rows: list[tuple[str, ...]] = []
    for s in w.steps:
        if s.when == "before":
            rows.append(
                (
                    sid[id(s)],
                    f"{s.kind} {inv.label(s.host)}",
                    "",
                    "",
                    "before",
                    hms(s.est_seconds) if s.est_seconds else "",
                )
            )
    for m in w.migrations:
        note = [m.reason] if m.reason else []
        if m.disks:
            srs = ", ".join(dict.fromkeys(inv.label(d.to_sr) for d in m.disks))
            note.insert(0, f"storage to {srs}")
        rows.append(
            (
                m.id,
                inv.label(m.vm),
                inv.label(m.from_host),
                inv.label(m.to_host),
                "; ".join(note),
                hms(m.est_seconds),
            )
        )
    for s in w.steps:
        if s.when != "before":
            what = f"{s.kind} {inv.label(s.host)}"
            if s.to_version:
                what += f" -> {s.to_version}"
            rows.append(
                (sid[id(s)], what, "", "", "after", hms(s.est_seconds) if s.est_seconds else "")
            )
    return rows


def run_campaign(
    inventory: Path | None,
    *,
    fmt: str,
    output: Path | None,
    headroom: float,
    dmc: bool,
    other_goal: bool,
    migration_network: list[str] | None = None,
    set_home: str = "keep",
    **opts: Any,
) -> None:
    """`planner solve` with a campaign goal: plan, write, print; exit 1 when VMs are
    unplaced (typer.Exit), 0 otherwise."""
    inv = load_inventory(inventory)
    goal = campaign_goal(inv, other_goal=other_goal, **opts)
    if goal is None:  # pragma: no cover - solve_cmd calls this only with a campaign option
        raise InputError("no campaign goal")
    mnet = resolve_migration_networks(inv, migration_network or [])
    plan = plan_campaign(
        inv, goal, PlanOptions(headroom_fraction=headroom, dmc=dmc, migration_network=mnet)
    )
    emit_plan(inv, assign_homes(inv, plan, set_home), fmt, output, show)
