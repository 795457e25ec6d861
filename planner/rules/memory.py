"""Memory (FORMATS.md rules 2 and 4): what a VM commits and what a host can hold."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from planner.inventory.model import VM, Host, Inventory
from planner.moves import Reason
from planner.options import PlanOptions
from planner.rules import codes
from planner.rules.storage import amounts

if TYPE_CHECKING:  # a plan is an argument only: the rules sit below planner.plan
    from planner.plan import Plan


def host_capacity(host: Host, headroom_fraction: float) -> int:
    """Bytes guests may commit on `host`: total - overhead - headroom * total (floored)."""
    return int(
        host.memory_total_bytes
        - host.memory_overhead_bytes
        - headroom_fraction * host.memory_total_bytes
    )


def vm_memory(vm: VM, dmc: bool) -> int:
    """Bytes a running VM commits: `memory_min_bytes` under DMC, else `memory_bytes`."""
    return vm.memory_min_bytes if dmc else vm.memory_bytes


def memory_reasons(vm: VM, host: Host, need: int, free: int) -> list[Reason]:
    """Why `host` with `free` bytes cannot take `need` more bytes for `vm`."""
    if need <= free:
        return []
    need_s, free_s = amounts(need, free)
    return [Reason(codes.MEMORY, f"{host.name} needs {need_s} for {vm.name}, {free_s} free")]


def committed_memory(inv: Inventory, dmc: bool, *, exclude: Collection[str] = ()) -> dict[str, int]:
    """Bytes committed on every host by its Running/Paused VMs (VMs in `exclude` left out)."""
    used = {h.uuid: 0 for h in inv.hosts}
    for host, vms in inv.vms_on_host.items():
        if host in used:
            used[host] = sum(vm_memory(v, dmc) for v in vms if v.uuid not in exclude)
    return used


def free_memory(
    inv: Inventory, options: PlanOptions, *, exclude: Collection[str] = ()
) -> dict[str, int]:
    """Bytes free on every host now (negative on an overcommitted host)."""
    used = committed_memory(inv, options.dmc, exclude=exclude)
    return {h.uuid: host_capacity(h, options.headroom_fraction) - used[h.uuid] for h in inv.hosts}


def memory_after(
    inv: Inventory, plan: Plan | None, options: PlanOptions | None = None
) -> dict[str, int]:
    """Committed memory per host (bytes) once `plan` has run (now, without a plan)."""
    opts = options or (plan.options if plan else PlanOptions())
    used = committed_memory(inv, opts.dmc)
    for m in plan.migrations() if plan else ():
        vm = inv.vm_by_uuid[m.vm]
        if not vm.is_running:
            continue
        if m.from_host in used:
            used[m.from_host] -= vm_memory(vm, opts.dmc)
        if m.to_host in used:
            used[m.to_host] += vm_memory(vm, opts.dmc)
    return used


def utilisation(
    inv: Inventory, vms: Iterable[VM], pool: str, options: PlanOptions
) -> dict[str, float]:
    """Memory utilisation in points (0-100) of each enabled host of `pool`, with the
    running VMs `vms` where they are: committed bytes / capacity bytes (the capacity of
    `host_capacity`, so headroom counts as used)."""
    hosts = [h for h in inv.hosts_in_pool.get(pool, []) if h.enabled]
    used = {h.uuid: 0 for h in hosts}
    for v in vms:
        if v.is_running and v.host in used:
            used[v.host] += vm_memory(v, options.dmc)
    out = {}
    for h in hosts:
        cap = host_capacity(h, options.headroom_fraction)
        out[h.uuid] = 100.0 * used[h.uuid] / cap if cap > 0 else 100.0
    return out


def spread_points(inv: Inventory, vms: Iterable[VM], pool: str, options: PlanOptions) -> float:
    """Max minus min utilisation (points) over the enabled hosts of `pool` (0 if < 2)."""
    u = utilisation(inv, vms, pool, options)
    return max(u.values()) - min(u.values()) if len(u) > 1 else 0.0
