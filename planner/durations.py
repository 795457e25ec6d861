"""The migration-time model: how many seconds one migration is expected to take.

A live migration copies the VM's memory over the migration network, re-sending pages
the guest dirties meanwhile (the dirty-page factor); pool-level compression is modelled
as a bandwidth gain. A storage migration or a halted move copies each moved disk's
allocated bytes (`used_bytes`) and its snapshots' (`snapshot_used_bytes`, v2) at storage
throughput, plus a Suspended VM's memory image (`suspend_vdi.used_bytes`, v2), plus the
memory part when the VM is running. Each kind adds a fixed overhead (setup, VM pause
and resume, VDI mirror set-up).
Estimates are whole seconds, at least 1: CP-SAT and the plan file count in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from planner.errors import InputError
from planner.inventory.model import VM, Inventory


@dataclass(frozen=True)
class DurationModel:
    """Parameters of the time model. Units: bytes per second and seconds.

    network_bytes_per_s: effective throughput of one migration stream (1 Gb/s).
    dirty_factor: memory bytes sent per byte of VM memory (pre-copy rounds), >= 1.
    compression_gain: bandwidth multiplier when the pool compresses migrations.
    storage_bytes_per_s: throughput of a disk copy (storage motion), 100 MiB/s.
    live_overhead_s, storage_overhead_s: fixed seconds per live / storage migration.
    """

    network_bytes_per_s: float = 125_000_000.0
    dirty_factor: float = 1.2
    compression_gain: float = 1.5
    storage_bytes_per_s: float = 100 * 2**20
    live_overhead_s: float = 5.0
    storage_overhead_s: float = 30.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not (ok and math.isfinite(value) and value > 0):
                raise InputError(f"duration model {name}: must be a positive number, got {value}")
        if self.dirty_factor < 1 or self.compression_gain < 1:
            raise InputError("duration model: dirty_factor and compression_gain must be >= 1")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DurationModel:
        """A model from `to_json`'s keys; missing keys keep their defaults."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(
                f"duration model: unknown parameter {', '.join(unknown)}; "
                f"expected {', '.join(sorted(known))}"
            )
        return cls(**dict(d))

    def memory_seconds(self, memory_bytes: int, compressed: bool) -> float:
        """Seconds to copy `memory_bytes` of guest memory."""
        rate = self.network_bytes_per_s * (self.compression_gain if compressed else 1.0)
        return memory_bytes * self.dirty_factor / rate

    def estimate(self, inv: Inventory, vm: VM, kind: str, moved_disks: Collection[str]) -> int:
        """Whole seconds for `vm` to make a migration of `kind` moving `moved_disks`
        (disk uuids), rounded up, at least 1. Compression is the VM's pool's setting."""
        compressed = inv.pool_by_uuid[vm.pool].migration_compression
        # a disk's snapshots travel with it (xapi_vm_migrate.ml maps them with the disk)
        disk_bytes = sum(
            d.used_bytes + d.snapshot_used_bytes for d in vm.disks if d.uuid in moved_disks
        )
        if vm.suspend_vdi is not None and kind == "storage":
            # counted for every storage migration of a Suspended VM (the safe side: within
            # its pool, to a host that sees its SR, XAPI leaves the image in place)
            disk_bytes += vm.suspend_vdi.used_bytes
        if kind == "live":
            s = self.live_overhead_s + self.memory_seconds(vm.memory_bytes, compressed)
        else:
            s = self.storage_overhead_s + disk_bytes / self.storage_bytes_per_s
            if vm.is_running:
                s += self.memory_seconds(vm.memory_bytes, compressed)
        return max(1, math.ceil(s))


DEFAULT_MODEL = DurationModel()
