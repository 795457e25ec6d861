"""Restart placement: can a pool restart a set of VMs on its remaining hosts?

This is what HA must do after a host fails: boot the failed host's VMs elsewhere in the
pool. A restart is a cold boot, not a migration, so CPU features, versions and the
migration exclusions do not apply; what does is memory (with headroom and DMC as
options), every disk's SR being attached to the new host (a VM on the failed host's
local SR cannot restart), every network having a PIF there, and the host being enabled.

The packing is best-fit decreasing first (what HA's planner approximates); when it
leaves VMs out, a small CP-SAT model decides exactly whether a packing exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.inventory.model import VM, Host, Inventory
from planner.options import PlanOptions
from planner.plan import Reason
from planner.rules import codes
from planner.rules.memory import committed_memory, free_memory, host_capacity, vm_memory
from planner.rules.network import networks_attached_reasons
from planner.rules.storage import sr_attached_reasons


@dataclass(frozen=True)
class RestartResult:
    """Where each VM would restart (vm uuid -> host uuid), and why the others cannot.

    `utilisation_after` is the highest committed/capacity ratio over the pool's hosts
    once the placed VMs run (0 when the pool has no usable host).
    """

    placed: dict[str, str]
    unplaced: dict[str, tuple[Reason, ...]]
    utilisation_after: float
    exact: bool  # True when the answer was proven (packing found or proven impossible)


def restart_reasons(inv: Inventory, vm: VM, host: Host) -> list[Reason]:
    """Static reasons `vm` cannot boot on `host` (memory aside)."""
    out: list[Reason] = []
    if not host.enabled:
        out.append(Reason(codes.HOST_DISABLED, f"{host.name} is disabled"))
    for d in vm.disks:
        sr = inv.sr_by_uuid.get(d.sr)
        if sr is not None:
            out += sr_attached_reasons(sr, host, f"disk {d.uuid[:8]} of {vm.name}")
    out += networks_attached_reasons(inv, vm, [x.network for x in vm.vifs], host)
    return out


def place_restarts(
    inv: Inventory,
    vms: list[VM],
    options: PlanOptions | None = None,
    *,
    time_limit: float = 5.0,
) -> RestartResult:
    """Place `vms` (all of one pool) onto that pool's hosts, as HA would restart them.

    Memory committed by the pool's other running VMs counts; a VM in `vms` that is
    running is placed afresh (so all running VMs of a pool re-pack its hosts).
    `time_limit` (seconds) bounds the exact CP-SAT attempt.
    """
    options = options or PlanOptions()
    if not vms:
        return RestartResult({}, {}, 0.0, True)
    pool = vms[0].pool
    hosts = list(inv.hosts_in_pool.get(pool, []))
    moving = {v.uuid for v in vms}
    everywhere = free_memory(inv, options, exclude=moving)
    free = {h.uuid: everywhere[h.uuid] for h in hosts}
    need = {v.uuid: vm_memory(v, options.dmc) for v in vms}
    eligible: dict[str, list[str]] = {}
    unplaced: dict[str, tuple[Reason, ...]] = {}
    for v in vms:
        ok, why = [], []
        for h in hosts:
            r = restart_reasons(inv, v, h)
            (why.extend(r) if r else ok.append(h.uuid))
        if ok:
            eligible[v.uuid] = ok
        else:
            unplaced[v.uuid] = _dedupe(why) or (
                Reason(codes.NO_TARGET, f"pool {inv.label(pool)} has no other host"),
            )
    placed = _best_fit(eligible, need, dict(free))
    exact = True
    if len(placed) < len(eligible):
        exact_placed, proven = _cpsat_pack(eligible, need, free, time_limit)
        if len(exact_placed) > len(placed):
            placed = exact_placed
        exact = proven
    for u in eligible:
        if u not in placed:
            vm = inv.vm_by_uuid[u]
            unplaced[u] = (
                Reason(
                    codes.NO_CAPACITY,
                    f"no eligible host has {need[u] / 2**30:.1f} GiB free for {vm.name}",
                ),
            )
    return RestartResult(placed, unplaced, _utilisation(inv, pool, placed, need, options), exact)


def _dedupe(reasons: list[Reason]) -> tuple[Reason, ...]:
    seen: dict[str, Reason] = {}
    for r in reasons:
        seen.setdefault(r.code, r)
    return tuple(seen.values())


def _best_fit(
    eligible: dict[str, list[str]], need: dict[str, int], free: dict[str, int]
) -> dict[str, str]:
    """Largest VM first onto the eligible host that it leaves with the least free memory."""
    placed: dict[str, str] = {}
    for u in sorted(eligible, key=lambda x: (-need[x], x)):
        fits = [h for h in eligible[u] if free[h] >= need[u]]
        if fits:
            h = min(fits, key=lambda x: (free[x] - need[u], x))
            free[h] -= need[u]
            placed[u] = h
    return placed


def _cpsat_pack(
    eligible: dict[str, list[str]], need: dict[str, int], free: dict[str, int], time_limit: float
) -> tuple[dict[str, str], bool]:
    """Maximise the number of VMs placed; returns (placement, proven optimal)."""
    from ortools.sat.python import cp_model

    mib = 2**20
    model = cp_model.CpModel()
    x: dict[tuple[str, str], cp_model.IntVar] = {}
    for u, hs in eligible.items():
        for h in hs:
            x[u, h] = model.new_bool_var(f"x_{u}_{h}")
        model.add_at_most_one(x[u, h] for h in hs)
    for h, cap in free.items():
        terms = [(-(-need[u] // mib), x[u, h]) for u in eligible if (u, h) in x]
        if terms:
            # demands round up and capacity down, so a packing in MiB is one in bytes
            model.add(sum(c * v for c, v in terms) <= max(cap, 0) // mib)
    model.maximize(sum(x.values()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return {}, False
    placed = {u: h for (u, h), var in x.items() if solver.value(var)}
    return placed, status == cp_model.OPTIMAL


def _utilisation(
    inv: Inventory,
    pool: str | None,
    placed: dict[str, str],
    need: dict[str, int],
    options: PlanOptions,
) -> float:
    if pool is None:
        return 0.0
    worst = 0.0
    committed = committed_memory(inv, options.dmc, exclude=need)
    for h in inv.hosts_in_pool.get(pool, []):
        cap = host_capacity(h, options.headroom_fraction)
        if cap <= 0:
            continue
        used = committed[h.uuid] + sum(need[u] for u, hh in placed.items() if hh == h.uuid)
        worst = max(worst, used / cap)
    return worst
