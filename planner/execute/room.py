"""The executor's running account of free memory and SR space ("does the live state have
room?"), kept as the FORMATS.md replay rules 2-4 keep it, starting from the live inventory.

A live or storage migration of a running VM commits the VM's memory on `to_host` when it
starts and frees it on `from_host` when it ends; a moved disk reserves 3x its size on the
target SR and 2x on the source while it moves and then holds its used bytes on the target
only. A failed migration gives its reservations back. Units are bytes. The capacity rules
themselves are `planner.rules.memory` and `planner.rules.storage`, not re-implemented here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.inventory.model import Disk, Inventory
from planner.options import PlanOptions
from planner.plan import Migration, Reason
from planner.rules.memory import free_memory, memory_reasons, vm_memory
from planner.rules.storage import reserve_on_source, reserve_on_target, sr_space_reasons


@dataclass
class Room:
    """Free bytes per host (memory) and per SR (space), updated as migrations go."""

    inv: Inventory
    options: PlanOptions
    host_free: dict[str, int] = field(default_factory=dict)
    sr_free: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, inv: Inventory, options: PlanOptions) -> Room:
        r = cls(inv, options, host_free=free_memory(inv, options))
        for s in inv.srs:
            r.sr_free[s.uuid] = s.size_bytes - s.used_bytes
        return r

    def _vm_mem(self, m: Migration) -> int:
        vm = self.inv.vm_by_uuid.get(m.vm)
        return vm_memory(vm, self.options.dmc) if vm is not None else 0

    def _disks(self, m: Migration) -> list[tuple[str, str, Disk]]:
        """(from_sr, to_sr, disk) of each moved disk the inventory knows."""
        out = []
        for d in m.disks:
            hit = self.inv.disk_by_uuid.get(d.vdi)
            if hit is not None and d.from_sr != d.to_sr:
                out.append((d.from_sr, d.to_sr, hit[1]))
        return out

    def _running(self, m: Migration) -> bool:
        vm = self.inv.vm_by_uuid.get(m.vm)
        return (
            vm is not None
            and m.kind in ("live", "storage")
            and m.to_host is not None
            and m.to_host != m.from_host
        )

    def reasons(self, m: Migration) -> list[Reason]:
        """Why `m` cannot start now (empty when there is room)."""
        out: list[Reason] = []
        vm = self.inv.vm_by_uuid.get(m.vm)
        if vm is None:
            return out
        if self._running(m):
            host = self.inv.host_by_uuid.get(m.to_host or "")
            if host is not None:
                out += memory_reasons(vm, host, self._vm_mem(m), self.host_free.get(host.uuid, 0))
        need: dict[str, int] = {}
        for src, dst, disk in self._disks(m):
            need[dst] = need.get(dst, 0) + reserve_on_target(disk)
            need[src] = need.get(src, 0) + reserve_on_source(disk)
        for sr_uuid, n in need.items():
            sr = self.inv.sr_by_uuid.get(sr_uuid)
            if sr is not None:
                out += sr_space_reasons(sr, n, self.sr_free.get(sr_uuid, 0))
        return out

    def start(self, m: Migration) -> None:
        if self._running(m):
            to = m.to_host or ""
            self.host_free[to] = self.host_free.get(to, 0) - self._vm_mem(m)
        for src, dst, disk in self._disks(m):
            self.sr_free[dst] = self.sr_free.get(dst, 0) - reserve_on_target(disk)
            self.sr_free[src] = self.sr_free.get(src, 0) - reserve_on_source(disk)

    def failed(self, m: Migration) -> None:
        """Give back what `start` took."""
        if self._running(m):
            to = m.to_host or ""
            self.host_free[to] = self.host_free.get(to, 0) + self._vm_mem(m)
        for src, dst, disk in self._disks(m):
            self.sr_free[dst] = self.sr_free.get(dst, 0) + reserve_on_target(disk)
            self.sr_free[src] = self.sr_free.get(src, 0) + reserve_on_source(disk)

    def done(self, m: Migration) -> None:
        if self._running(m) and m.from_host is not None:
            self.host_free[m.from_host] = self.host_free.get(m.from_host, 0) + self._vm_mem(m)
        for src, dst, disk in self._disks(m):
            moved = disk.used_bytes
            self.sr_free[dst] = self.sr_free.get(dst, 0) + reserve_on_target(disk) - moved
            self.sr_free[src] = self.sr_free.get(src, 0) + reserve_on_source(disk) + moved
