"""Memory (FORMATS.md rules 2 and 4): what a VM commits and what a host can hold."""

from __future__ import annotations

from planner.inventory.model import VM, Host
from planner.plan import Reason
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
