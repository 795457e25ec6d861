"""Memory (FORMATS.md rules 2 and 4): what a VM commits and what a host can hold."""

from __future__ import annotations

from collections.abc import Collection

from planner.inventory.model import VM, Host, Inventory
from planner.options import PlanOptions
from planner.plan import Plan, Reason
from planner.rules import codes
from planner.rules.storage import amounts


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
    return [Reason(codes.MEMORY,
                   f"{host.name} needs {need_s} for {vm.name}, {free_s} free")]  # fmt: skip


def committed_memory(
    inv: Inventory, dmc: bool, *, exclude: Collection[str] = ()
) -> dict[str, int]:
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


def memory_after(inv: Inventory, plan: Plan | None, options: PlanOptions | None = None
                 ) -> dict[str, int]:  # fmt: skip
    """Committed memory per host (bytes) once `plan` has run (now, without a plan)."""
    opts = options or (PlanOptions.from_json(plan.options) if plan else PlanOptions())
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
