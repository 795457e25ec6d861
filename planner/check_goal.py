"""The replay checker's end-of-plan checks: the goal holds (rule 11), unplaced VMs' reason
codes are true, the estimate adds up (rules 12 and 15) and home hosts are in their pools.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from planner.check_types import FLOW, WAVES, Violation
from planner.errors import InputError
from planner.goals import (
    Evacuate,
    Goal,
    MovePool,
    Position,
    Rebalance,
    RetireSR,
    RollingUpgrade,
    check_goal_refs,
    satisfied,
)
from planner.home import home_violations
from planner.inventory.model import VM, Inventory
from planner.options import PlanOptions
from planner.plan import Plan, estimate_of
from planner.problem_candidates import (
    _affinity_reasons,
    _moved_disks,
    _options_for,
    _target_pools,
)
from planner.rules import codes, expected_kind, target_reasons
from planner.rules.exclusions import exclusion_reasons
from planner.rules.memory import spread_points
from planner.rules.reasons import reason_class
from planner.rules.version import version_at_least

if TYPE_CHECKING:
    from planner.check import _Replay


def goal_violations(inv: Inventory, plan: Plan, replay: _Replay) -> list[Violation]:
    """Rule 11: after the last wave the goal holds, except for VMs listed as unplaced
    with the reason codes that stop them."""
    out: list[Violation] = []
    excused: set[str] = set()
    for u in plan.unplaced:
        vm = inv.vm_by_uuid.get(u.vm)
        if vm is None:
            out.append(
                Violation(codes.UNKNOWN_OBJECT, f"unplaced names vm {u.vm}, not in the inventory")
            )
        elif not u.reasons:
            out.append(
                Violation(
                    codes.GOAL, f"{vm.name} is listed as unplaced without a reason", vm=vm.name
                )
            )
        else:
            excused.add(u.vm)
    goal: Goal = plan.goal  # its shape was checked when the plan was read
    try:
        check_goal_refs(goal, inv)
    except InputError as e:
        out.append(Violation(codes.UNKNOWN_OBJECT, f"the plan's goal is unusable: {e.message}"))
        return out
    if isinstance(goal, Rebalance):
        n = sum(len(w.migrations) for w in plan.waves)
        if goal.max_moves is not None and n > goal.max_moves:
            out.append(
                Violation(
                    codes.GOAL, f"rebalance allows {goal.max_moves} moves, the plan makes {n}"
                )
            )
        if goal.tolerance is not None:
            # the planner always states the tolerance; a goal without it (older plans,
            # hand-made ones) is held to max_moves only, as before
            out += _rebalance_violations(inv, plan, goal.tolerance, replay)
        return out
    if isinstance(goal, RollingUpgrade):
        return out + _rolling_violations(goal, replay, excused)
    for vm in inv.vms:
        if vm.uuid in excused:
            continue
        now = replay.vms[vm.uuid]
        where = Position(
            now.host if now.is_running else None, now.pool, {d.uuid: d.sr for d in now.disks}
        )
        if not satisfied(goal, inv, vm, where):
            out.append(
                Violation(
                    codes.GOAL,
                    f"{vm.name} does not meet the {goal.kind} goal after the "
                    f"last wave (on {inv.label(where.host)}, pool "
                    f"{inv.label(where.pool)}) and is not listed as unplaced",
                    vm=vm.name,
                )
            )
    return out


def unplaced_reason_violations(inv: Inventory, plan: Plan) -> tuple[list[Violation], int]:
    """Rule 11 (v2): every unplaced VM's reason codes are checked (planner/rules/reasons.py).

    An exclusion must be a property of the VM; a target-rule code must rule out every
    target the goal allows (evacuate, move-pool and retire-sr: the targets the problem
    builder would consider) and be among their reasons; a capacity code is the solver's
    claim (counted); an unknown code is a violation. Returns the violations and the number
    of unplaced VMs excused by capacity claims only."""
    goal: Goal | None = plan.goal
    try:
        check_goal_refs(plan.goal, inv)
    except InputError:
        goal = None  # reported by the goal check
    options = plan.options
    out: list[Violation] = []
    claimed = 0
    for u in plan.unplaced:
        vm = inv.vm_by_uuid.get(u.vm)
        if vm is None or not u.reasons:
            continue  # reported by the goal check
        held = False  # some verified static reason
        for r in u.reasons:
            cls = reason_class(r.code)
            if cls == "unknown":
                out.append(
                    Violation(
                        codes.UNKNOWN_REASON,
                        f"{vm.name} is unplaced with reason code {r.code!r}, which no rule gives",
                        vm=vm.name,
                    )
                )
            elif cls == "exclusion":
                have = {
                    x.code
                    for k in ("live", "storage", "move")
                    for x in exclusion_reasons(inv, vm, k)
                }
                if r.code in have:
                    held = True
                else:
                    out.append(
                        Violation(
                            codes.GOAL,
                            f"{vm.name} is unplaced with {r.code}, but it is not "
                            f"{codes.MEANING[r.code].lower()}",
                            vm=vm.name,
                        )
                    )
            elif cls == "target":
                why = _static_reasons(inv, goal, vm, options)
                # NO_TARGET says only that every target fails some rule; another planner
                # may have tried more kinds of target (storage moves to any SR)
                if (
                    why is None
                    or r.code in why
                    or (r.code == codes.NO_TARGET and why)
                    or (why and r.code in _broad_reasons(inv, goal, vm, options))
                ):
                    held = True
                elif not why:
                    out.append(
                        Violation(
                            codes.GOAL,
                            f"{vm.name} is unplaced with {r.code}, but a target "
                            "the goal allows passes every rule",
                            vm=vm.name,
                        )
                    )
                else:
                    out.append(
                        Violation(
                            codes.GOAL,
                            f"{vm.name} is unplaced with {r.code}, but no target "
                            f"fails that rule (they fail {', '.join(sorted(why))})",
                            vm=vm.name,
                        )
                    )
        if not held and all(reason_class(r.code) == "capacity" for r in u.reasons):
            claimed += 1
    return out, claimed


def _static_reasons(
    inv: Inventory, goal: Goal | None, vm: VM, options: PlanOptions
) -> set[str] | None:
    """The codes that stop every target the goal allows `vm` (empty: some target passes
    every static rule). None when the checker cannot enumerate the goal's targets
    (campaign goals): then a target-rule claim is accepted."""
    if not isinstance(goal, Evacuate | MovePool | RetireSR):
        return None
    moved = _moved_disks(inv, goal, vm, options)
    pools = _target_pools(goal, vm)
    kind = expected_kind(vm, pools[0], bool(moved))
    targets = _options_for(inv, goal, vm, moved, pools)
    if not targets:
        return {codes.NO_TARGET}
    out: set[str] = set()
    for h, s, pool in targets:
        disk_targets = {u: s for u in moved} if s else {}
        reasons = target_reasons(inv, vm, kind, h, pool, disk_targets, options)
        reasons += _affinity_reasons(inv, goal, vm, h, options)  # strict mode, static
        if not reasons:
            return set()
        out |= {x.code for x in reasons}
    return out


def _broad_reasons(inv: Inventory, goal: Goal | None, vm: VM, options: PlanOptions) -> set[str]:
    """The codes that stop `vm` on any host (or none, for a Halted VM) and any SR of the
    goal's target pools with all its disks moving there: the widest scope a planner may
    have tried. Asked only when the builder's scope lacks a claimed code."""
    if not isinstance(goal, Evacuate | MovePool | RetireSR):
        return set()
    out: set[str] = set()
    for pool in _target_pools(goal, vm):
        kind = expected_kind(vm, pool, True)
        hosts: list[str | None] = [None]
        if vm.power_state != "Halted":
            hosts = [h.uuid for h in inv.hosts_in_pool.get(pool, [])]
        for h in hosts:
            for sr in inv.srs_in_pool.get(pool, []):
                moving = {d.uuid: sr.uuid for d in vm.disks}
                out |= {x.code for x in target_reasons(inv, vm, kind, h, pool, moving, options)}
    return out


def _rebalance_violations(
    inv: Inventory, plan: Plan, tolerance: float, replay: _Replay
) -> list[Violation]:
    """Rebalance: live moves within a pool only; no moves in a pool that was within the
    `tolerance` (max - min utilisation, fraction of 1); no pool ends with a wider spread
    than it began (docs/check.md)."""
    out: list[Violation] = []
    moved_pools: set[str] = set()
    for m in plan.migrations():
        moved_pools.add(m.from_pool)
        if m.kind != "live" or m.from_pool != m.to_pool:
            vm = inv.vm_by_uuid.get(m.vm)
            out.append(
                Violation(
                    codes.GOAL,
                    "rebalance moves are live migrations within a pool",
                    migration=m.id,
                    vm=vm.name if vm else m.vm,
                )
            )
    end_vms = list(replay.vms.values())
    for pool in inv.pools:
        before = spread_points(inv, inv.vms, pool.uuid, replay.options)
        after = spread_points(inv, end_vms, pool.uuid, replay.options)
        if pool.uuid in moved_pools and before <= tolerance * 100 + 1e-9:
            out.append(
                Violation(
                    codes.GOAL,
                    f"pool {pool.name} was within the tolerance "
                    f"({before:.1f} points) but the plan moves VMs in it",
                )
            )
        if after > before + 1e-9:
            out.append(
                Violation(
                    codes.GOAL,
                    f"pool {pool.name} ends less balanced "
                    f"({after:.1f} points) than it began ({before:.1f})",
                )
            )
    return out


def _rolling_violations(
    goal: RollingUpgrade, replay: _Replay, excused: set[str]
) -> list[Violation]:
    """Rolling upgrade: every host of the pool ends at `to_version`, except a host that
    still holds a VM the plan lists as unplaced (it could not be evacuated)."""
    out: list[Violation] = []
    held = {v.host for u, v in replay.vms.items() if u in excused and v.is_running}
    master = replay.inv.master_of(goal.pool)
    if master.uuid in held and not version_at_least(master.version, goal.to_version):
        return out  # a pinned master blocks the whole pool (UPGRADE_ORDER): excused
    for h in replay.inv.hosts_in_pool.get(goal.pool, []):
        if version_at_least(h.version, goal.to_version) or h.uuid in held:
            continue
        out.append(
            Violation(
                codes.GOAL, f"{h.name} runs {h.version} after the last wave, not {goal.to_version}"
            )
        )
    return out


def home_host_violations(inv: Inventory, plan: Plan) -> list[Violation]:
    """(issue 17) Every `home_host` is a host of its migration's `to_pool`."""
    wave_of = {m.id: w.index for w in plan.waves for m in w.migrations}
    return [
        Violation(
            codes.HOME_HOST,
            msg,
            wave_of[m.id],
            m.id,
            inv.label(m.vm),
            f"{inv.label(m.vm)} -> {inv.label(m.to_host or m.to_pool)}",
        )
        for m, msg in home_violations(inv, plan)
    ]


def estimate_violations(plan: Plan) -> list[Violation]:
    """Rules 12 and 15: the estimate is the number of waves, the sum of each wave's
    longest (`wave_seconds`; v1: `seconds`) and (v2) the schedule's length (`seconds`)."""
    want = estimate_of(plan.waves)
    keys: tuple[str, ...] = ("waves", "seconds", "wave_seconds")
    if not plan.has_schedule:
        want = replace(want, seconds=want.wave_seconds)
        keys = ("waves", "seconds")
    out = []
    for key in keys:
        mode = FLOW if key == "seconds" and plan.has_schedule else WAVES
        # a figure the plan does not state (None) is wrong too
        have, should = getattr(plan.estimate, key), getattr(want, key)
        if have != should:
            what = "the schedule gives" if mode == FLOW else "the waves give"
            out.append(
                Violation(codes.ESTIMATE, f"estimate.{key} is {have!r}, {what} {should}", mode=mode)
            )
    return out
