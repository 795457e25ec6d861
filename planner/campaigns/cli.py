"""The `planner solve` side of the campaigns: goal parsing from options, and the table.

Kept here (not in `planner/cli/solve_cmd.py`) so the solve command only gains options
and one call. Every bad option value is one line of the `InputError` raised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.errors import InputError, LookupFailed
from planner.goals import Goal, Rebalance, RollingUpgrade, Target
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan


def campaign_goal(inv: Inventory, *, rebalance: bool, max_moves: int | None,
                  tolerance: float | None, target: Path | None,
                  rolling_upgrade: str | None, order: list[str] | None,
                  to_version: str | None, return_home: bool,
                  other_goal: bool) -> Goal | None:  # fmt: skip
    """The campaign goal the options name, or None when they name none."""
    given = [n for n, v in (("--rebalance", rebalance), ("--target", target),
                            ("--rolling-upgrade", rolling_upgrade)) if v]  # fmt: skip
    problems: list[str] = []
    if not given:
        for name, v in (("--max-moves", max_moves is not None),
                        ("--tolerance", tolerance is not None), ("--order", order),
                        ("--to-version", to_version), ("--return-home", return_home)):
            if v:
                problems.append(f"{name} only goes with "
                                + ("--rebalance" if name in ("--max-moves", "--tolerance")
                                   else "--rolling-upgrade"))  # fmt: skip
        if problems:
            _raise(problems, "the options")
        return None
    if len(given) > 1 or other_goal:
        raise InputError("give one goal at a time, not "
                         + " and ".join(given + (["another goal"] if other_goal else [])))
    if rebalance:
        if max_moves is not None and max_moves < 0:
            problems.append(f"--max-moves: must be 0 or more, got {max_moves}")
        tol = 0.10 if tolerance is None else tolerance
        if not 0 <= tol <= 1:
            problems.append(f"--tolerance: must be a fraction in [0, 1] (0.10 = 10 points), "
                            f"got {tol}")  # fmt: skip
        goal: Goal = Rebalance(max_moves, tol)
    elif target is not None:
        goal = Target(_placements(inv, target, problems))
    else:
        assert rolling_upgrade is not None
        pool = ""
        try:
            pool = inv.find("pool", rolling_upgrade)
        except LookupFailed as e:
            problems.append(f"--rolling-upgrade: {e.message}")
        hosts: list[str] = []
        for ref in (p.strip() for o in order or [] for p in o.split(",")):
            if not ref:
                continue
            try:
                hosts.append(inv.find("host", ref))
            except LookupFailed as e:
                problems.append(f"--order: {e.message}")
        ver = to_version or (max((h.version for h in inv.hosts),
                                 key=_vkey) if inv.hosts else "")  # fmt: skip
        if to_version is not None and not all(p.isdigit() for p in to_version.split(".")):
            problems.append(f"--to-version: must be dotted numbers like 8.4.0, got "
                            f"{to_version!r}")  # fmt: skip
        goal = RollingUpgrade(pool, ver, tuple(dict.fromkeys(hosts)), return_home)
        if pool and not problems:
            from planner.campaigns.rolling import host_order

            host_order(inv, goal)  # raises for hosts of other pools / master not first
    if problems:
        _raise(problems, "the goal")
    return goal


def _raise(problems: list[str], what: str) -> None:
    if len(problems) == 1:
        raise InputError(problems[0])
    raise InputError(f"{len(problems)} problems with {what}", problems)


def _vkey(v: str) -> tuple[int, ...]:
    from planner.rules.version import parse_version

    return parse_version(v)


def _placements(inv: Inventory, path: Path, problems: list[str]) -> dict[str, str]:
    """`{vm: host}` by name or uuid; each bad entry is one problem."""
    from planner.inventory.io import read_json

    doc = read_json(path, "target")
    if not isinstance(doc, dict) or not doc:
        problems.append(f"{path}: must be a non-empty JSON object {{vm: host}}")
        return {}
    out: dict[str, str] = {}
    for vm_ref, host_ref in doc.items():
        where = f"{path}: {vm_ref!r}"
        vm = host = None
        try:
            vm = inv.find("vm", vm_ref)
        except LookupFailed as e:
            problems.append(f"{where}: {e.message}")
        if not isinstance(host_ref, str):
            problems.append(f"{where}: the host must be a name or uuid string")
        else:
            try:
                host = inv.find("host", host_ref)
            except LookupFailed as e:
                problems.append(f"{where}: {e.message}")
        if vm is not None and vm in out:
            problems.append(f"{where}: {inv.label(vm)} is named twice")
        elif vm is not None and host is not None:
            out[vm] = host
    return out


def plan_campaign(inv: Inventory, goal: Goal, options: PlanOptions) -> Plan:
    """Dispatch to the campaign planner of `goal`."""
    if isinstance(goal, Rebalance):
        from planner.campaigns.rebalance import plan_rebalance

        return plan_rebalance(inv, goal, options)
    if isinstance(goal, Target):
        from planner.campaigns.target import plan_target

        return plan_target(inv, goal, options)
    if isinstance(goal, RollingUpgrade):
        from planner.campaigns.rolling import plan_rolling_upgrade

        return plan_rolling_upgrade(inv, goal, options)
    raise InputError(f"{goal.kind} is not a campaign goal")


def show(inv: Inventory, plan: Plan, output: Path | None) -> None:
    """The table of a campaign plan: waves with their steps, unplaced VMs, warnings."""
    from rich.table import Table

    from planner.cli.output import hms, plural
    from planner.terminal import SafeConsole as Console  # names from XAPI: no markup or ESC

    out = Console(width=max(100, Console().width))
    g: dict[str, Any] = plan.goal
    head = g["kind"]
    if g["kind"] == "rolling-upgrade":
        head += f" {inv.label(g['pool'])} to {g['to_version']}"
    elif g["kind"] == "rebalance":
        head += (f" (tolerance {g['tolerance'] * 100:.0f} points, max moves "
                 f"{g['max_moves'] if g['max_moves'] is not None else 'any'})")  # fmt: skip
    out.print(f"[bold]{head}[/bold]")
    if plan.waves:
        from planner.execute.journal import step_ids

        sid = {id(st): k for k, _, st in step_ids(plan)}  # the executor's step ids
        t = Table(header_style="bold")
        for col in ("wave", "id", "VM / step", "from", "to", "note", "est"):
            t.add_column(col, justify="right" if col in ("wave", "est") else "left")
        for w in plan.waves:
            rows: list[tuple[str, ...]] = []
            for s in w.steps:
                if s.when == "before":
                    rows.append((sid[id(s)], f"{s.kind} {inv.label(s.host)}", "", "", "before",
                                 hms(s.est_seconds) if s.est_seconds else ""))  # fmt: skip
            for m in w.migrations:
                note = [m.reason] if m.reason else []
                if m.disks:
                    srs = ", ".join(dict.fromkeys(inv.label(d.to_sr) for d in m.disks))
                    note.insert(0, f"storage to {srs}")
                rows.append((m.id, inv.label(m.vm), inv.label(m.from_host),
                             inv.label(m.to_host), "; ".join(note), hms(m.est_seconds)))
            for s in w.steps:
                if s.when != "before":
                    what = f"{s.kind} {inv.label(s.host)}"
                    if s.to_version:
                        what += f" -> {s.to_version}"
                    rows.append((sid[id(s)], what, "", "", "after",
                                 hms(s.est_seconds) if s.est_seconds else ""))  # fmt: skip
            for i, r in enumerate(rows):
                t.add_row(str(w.index) if i == 0 else "", *r, end_section=i == len(rows) - 1)
        out.print(t)
    if plan.unplaced:
        from planner.cli.solve_cmd import print_reason_summary

        print_reason_summary(out, plan)
    for u in plan.unplaced:
        # one line per VM: its reasons, one per code (the planners already dedupe)
        why = "; ".join(f"{r.code} {r.message}" for r in u.reasons)
        out.print(f"unplaced {inv.label(u.vm)}: {why}", highlight=False)
    for r in plan.warnings:
        out.print(f"{r.code}: {r.message}", highlight=False)
    n = sum(len(w.migrations) for w in plan.waves)
    out.print(f"Plan: {plural(n, 'migration')} in {plural(plan.estimate['waves'], 'wave')}, "
              f"{hms(plan.estimate['seconds'])} ({plan.estimate['seconds']} s); "
              f"{plan.solver['name']} {plan.solver['status']} "
              f"in {plan.solver['wall_seconds']:.2f} s", highlight=False)  # fmt: skip
    if output is not None:
        out.print(f"Plan written to {output}", highlight=False)
    from planner.advice import advice_lines

    for line in advice_lines(inv, plan):
        out.print(line, highlight=False, soft_wrap=True)


def run_campaign(inventory: Path | None, *, fmt: str, output: Path | None, headroom: float,
                 dmc: bool, other_goal: bool, migration_network: list[str] | None = None,
                 set_home: str = "keep", **opts: Any) -> None:  # fmt: skip
    """`planner solve` with a campaign goal: plan, write, print; exit 1 when VMs are
    unplaced (typer.Exit), 0 otherwise."""
    from planner.cli.common import emit_plan, load_inventory
    from planner.home import assign_homes
    from planner.rules.migration_network import resolve_migration_networks

    inv = load_inventory(inventory)
    goal = campaign_goal(inv, other_goal=other_goal, **opts)
    if goal is None:  # pragma: no cover - solve_cmd calls this only with a campaign option
        raise InputError("no campaign goal")
    mnet = resolve_migration_networks(inv, migration_network or [])
    plan = plan_campaign(inv, goal, PlanOptions(headroom_fraction=headroom, dmc=dmc,
                                                migration_network=mnet))  # fmt: skip
    emit_plan(inv, assign_homes(inv, plan, set_home), fmt, output, show)
