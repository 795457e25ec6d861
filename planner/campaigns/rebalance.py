"""Rebalance memory utilisation within each pool (docs/solving.md "Rebalance").

Utilisation of a host is committed bytes / capacity bytes, in points (0-100). A pool
whose enabled hosts are within `tolerance` (max - min, default 10 points) gets
NOTHING_TO_DO. Otherwise a greedy search makes live moves within the pool, each VM at
most once, minimising

    J = D + MOVE_COST * moves + MINUTE_COST * migration minutes

where D is the pool's total absolute deviation from its mean utilisation (points,
summed over hosts). A move is made only when it lowers D by more than its own cost, so
a 1-point gain never pays for a long migration; moves that widen the max - min range
are never made. The search stops at the tolerance, at `max_moves`, or when no move pays.
"""

from __future__ import annotations

import time

from planner.campaigns.common import Sequencer, spread_points
from planner.goals import Rebalance
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan, Reason
from planner.rules import codes
from planner.status import Status

MOVE_COST = 1.0  # points of total deviation a move must buy, beyond its duration
MINUTE_COST = 1.0 / 10  # points per minute of migration: 10 minutes cost one point


def _deviation(util: dict[str, float]) -> float:
    mean = sum(util.values()) / len(util)
    return sum(abs(x - mean) for x in util.values())


def _best_move(
    inv: Inventory,
    seq: Sequencer,
    hosts: list[str],
    u: dict[str, float],
    cap: dict[str, int],
    moved: set[str],
    spread: float,
) -> tuple[float, str, str] | None:
    """The move (gain in points, VM, destination host) that lowers the pool's deviation
    most beyond its cost without widening `spread`, fullest source hosts first; None when
    no move pays. `u` is each host's utilisation in points, `cap` its capacity (bytes)."""
    dev = _deviation(u)
    best = None
    for src in sorted(hosts, key=lambda h: -u[h]):
        for vm_uuid in seq.vms_on(src):
            if vm_uuid in moved:
                continue
            need = seq.need(vm_uuid)
            vm = seq.vm(vm_uuid)
            minutes = seq.durations.estimate(inv, vm, "live", ()) / 60
            for dst in hosts:
                if dst == src or seq.free(dst) < need or u[dst] >= u[src]:
                    continue
                after = dict(u)
                after[src] -= 100.0 * need / cap[src]
                after[dst] += 100.0 * need / cap[dst]
                if max(after.values()) - min(after.values()) > spread:
                    continue
                gain = dev - _deviation(after) - MOVE_COST - MINUTE_COST * minutes
                if gain <= 0 or (best is not None and gain <= best[0]):
                    continue
                if seq.reasons(vm_uuid, dst):
                    continue
                best = (gain, vm_uuid, dst)
    return best


def plan_rebalance(inv: Inventory, goal: Rebalance, options: PlanOptions) -> Plan:
    """The rebalance plan (see the module docstring)."""
    started = time.monotonic()
    seq = Sequencer(inv, options)
    warnings: list[Reason] = []
    budget = goal.max_moves
    tol = goal.tolerance_or_default * 100
    for pool in inv.pools:
        hosts = [h.uuid for h in inv.hosts_in_pool.get(pool.uuid, []) if h.enabled]
        if len(hosts) < 2:
            continue
        before = spread_points(inv, inv.vms, pool.uuid, options)
        if before <= tol:
            warnings.append(
                Reason(
                    codes.NOTHING_TO_DO,
                    f"pool {pool.name} is within the tolerance: {before:.1f} "
                    f"points between its fullest and emptiest host, at most "
                    f"{tol:.0f}",
                )
            )
            continue
        moved: set[str] = set()
        cap = {h: seq.capacity[h] for h in hosts}

        while budget is None or budget > 0:
            u = {h: 100.0 * seq.committed[h] / cap[h] if cap[h] > 0 else 100.0 for h in hosts}
            spread = max(u.values()) - min(u.values())
            if spread <= tol:
                break
            best = _best_move(inv, seq, hosts, u, cap, moved, spread)
            if best is None:
                break
            _, vm_uuid, dst = best
            seq.move(vm_uuid, dst)
            moved.add(vm_uuid)
            if budget is not None:
                budget -= 1
        spread_after = spread_points(inv, [seq.vm(v.uuid) for v in inv.vms], pool.uuid, options)
        if spread_after > tol:
            why = "--max-moves is spent" if budget == 0 else "no further move pays its cost"
            warnings.append(
                Reason(
                    codes.REBALANCE_INCOMPLETE,
                    f"pool {pool.name}: {before:.1f} -> {spread_after:.1f} points; {why}",
                )
            )
    status = Status.FEASIBLE if seq.migrations() else Status.NOTHING_TO_DO
    return seq.plan(goal, name="rebalance", status=status, started=started, warnings=warnings)
