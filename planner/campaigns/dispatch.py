"""Campaign goals from `planner solve`'s options, and the dispatch to their planners.

Library code (no terminal, no exit codes): `planner/cli/campaign_view.py` prints and
exits. Every bad option value is one line of the `InputError` raised.
"""

from __future__ import annotations

from pathlib import Path

from planner.campaigns.rebalance import plan_rebalance
from planner.campaigns.rolling import host_order, plan_rolling_upgrade
from planner.campaigns.target import plan_target
from planner.errors import InputError, LookupFailed
from planner.goals import DEFAULT_TOLERANCE, Goal, Rebalance, RollingUpgrade, Target
from planner.inventory.io import read_json
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan
from planner.rules.version import parse_version


def campaign_goal(
    inv: Inventory,
    *,
    rebalance: bool,
    max_moves: int | None,
    tolerance: float | None,
    target: Path | None,
    rolling_upgrade: str | None,
    order: list[str] | None,
    to_version: str | None,
    return_home: bool,
    other_goal: bool,
) -> Goal | None:
    """The campaign goal the options name, or None when they name none."""
    given = [
        n
        for n, v in (
            ("--rebalance", rebalance),
            ("--target", target),
            ("--rolling-upgrade", rolling_upgrade),
        )
        if v
    ]
    problems: list[str] = []
    if not given:
        for name, v in (
            ("--max-moves", max_moves is not None),
            ("--tolerance", tolerance is not None),
            ("--order", order),
            ("--to-version", to_version),
            ("--return-home", return_home),
        ):
            if v:
                problems.append(
                    f"{name} only goes with "
                    + (
                        "--rebalance"
                        if name in ("--max-moves", "--tolerance")
                        else "--rolling-upgrade"
                    )
                )
        if problems:
            _raise(problems, "the options")
        return None
    if len(given) > 1 or other_goal:
        raise InputError(
            "give one goal at a time, not "
            + " and ".join(given + (["another goal"] if other_goal else []))
        )
    goal: Goal
    if rebalance:
        goal = _rebalance_goal(max_moves, tolerance, problems)
    elif target is not None:
        goal = Target(_placements(inv, target, problems))
    else:
        assert rolling_upgrade is not None
        goal = _rolling_goal(inv, rolling_upgrade, order, to_version, return_home, problems)
    if problems:
        _raise(problems, "the goal")
    return goal


def _rebalance_goal(
    max_moves: int | None, tolerance: float | None, problems: list[str]
) -> Rebalance:
    """--rebalance's goal (tolerance 10 points by default); bad values go to `problems`."""
    if max_moves is not None and max_moves < 0:
        problems.append(f"--max-moves: must be 0 or more, got {max_moves}")
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    if not 0 <= tol <= 1:
        problems.append(f"--tolerance: must be a fraction in [0, 1] (0.10 = 10 points), got {tol}")
    return Rebalance(max_moves, tol)


def _rolling_goal(
    inv: Inventory,
    rolling_upgrade: str,
    order: list[str] | None,
    to_version: str | None,
    return_home: bool,
    problems: list[str],
) -> RollingUpgrade:
    """--rolling-upgrade's goal (to the fleet's newest version by default); bad values go
    to `problems`, and a valid goal's host order is checked."""
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
    ver = to_version or (max((h.version for h in inv.hosts), key=_vkey) if inv.hosts else "")
    if to_version is not None and not all(p.isdigit() for p in to_version.split(".")):
        problems.append(f"--to-version: must be dotted numbers like 8.4.0, got {to_version!r}")
    goal = RollingUpgrade(pool, ver, tuple(dict.fromkeys(hosts)), return_home)
    if pool and not problems:
        host_order(inv, goal)  # raises for hosts of other pools / master not first
    return goal


def _raise(problems: list[str], what: str) -> None:
    if len(problems) == 1:
        raise InputError(problems[0])
    raise InputError(f"{len(problems)} problems with {what}", problems)


def _vkey(v: str) -> tuple[int, ...]:
    return parse_version(v)


def _placements(inv: Inventory, path: Path, problems: list[str]) -> dict[str, str]:
    """`{vm: host}` by name or uuid; each bad entry is one problem."""
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
        return plan_rebalance(inv, goal, options)
    if isinstance(goal, Target):
        return plan_target(inv, goal, options)
    if isinstance(goal, RollingUpgrade):
        return plan_rolling_upgrade(inv, goal, options)
    raise InputError(f"{goal.kind} is not a campaign goal")
