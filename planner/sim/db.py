"""The simulator's XAPI database: records per pool and class, indexed by ref and uuid.

One process serves several pools, but each pool has its own database in real XAPI: a
session only sees the objects of its pool. `Db` keeps one table per (pool, class) so
`get_all_records` never scans other pools, and a global `ref -> (pool, class)` index so
lookups are O(1). Objects move between pools on cross-pool migrations (`move`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from planner.sim.wire import NULL_REF, XapiError

# The classes the simulator serves, in XAPI's own spelling (the wire is case-insensitive).
CLASSES: tuple[str, ...] = (
    "pool",
    "host",
    "host_metrics",
    "VM",
    "VM_guest_metrics",
    "VM_metrics",
    "VBD",
    "VDI",
    "SR",
    "PBD",
    "network",
    "PIF",
    "VIF",
    "network_sriov",
    "pool_update",
    "task",
    "PCI",
    "VGPU",
    "VLAN",
    "VM_group",
)
CANONICAL: dict[str, str] = {c.lower(): c for c in CLASSES}

Record = dict[str, Any]


class Db:
    """Records of every pool. Not thread-safe by itself: the simulator holds its lock."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Record]]] = {}
        self.where: dict[str, tuple[str, str]] = {}  # ref -> (pool uuid, class)
        self.by_uuid: dict[str, dict[str, str]] = {c: {} for c in CLASSES}

    def add_pool(self, pool_uuid: str) -> None:
        self.tables[pool_uuid] = {c: {} for c in CLASSES}

    def add(self, pool_uuid: str, cls: str, ref: str, rec: Record) -> Record:
        self.tables[pool_uuid][cls][ref] = rec
        self.where[ref] = (pool_uuid, cls)
        self.by_uuid[cls][rec["uuid"]] = ref
        return rec

    def remove(self, ref: str) -> Record:
        pool, cls = self.where.pop(ref)
        rec = self.tables[pool][cls].pop(ref)
        self.by_uuid[cls].pop(rec["uuid"], None)
        return rec

    def move(self, ref: str, to_pool: str) -> None:
        """Move an object into another pool's database (same ref and uuid)."""
        pool, cls = self.where[ref]
        if pool == to_pool:
            return
        rec = self.tables[pool][cls].pop(ref)
        self.tables[to_pool][cls][ref] = rec
        self.where[ref] = (to_pool, cls)

    def table(self, pool_uuid: str, cls: str) -> dict[str, Record]:
        return self.tables[pool_uuid][cls]

    def get(self, ref: str, cls: str | None = None) -> Record:
        """The record of `ref` (any pool); HANDLE_INVALID when unknown or of another class."""
        hit = self.where.get(ref)
        if hit is None or (cls is not None and hit[1] != cls):
            raise XapiError("HANDLE_INVALID", cls or "object", ref)
        return self.tables[hit[0]][hit[1]][ref]

    def lookup(self, pool_uuid: str, cls: str, ref: str) -> Record:
        """The record of `ref` as seen from `pool_uuid`'s database."""
        hit = self.where.get(ref)
        if hit is None or hit != (pool_uuid, cls):
            raise XapiError("HANDLE_INVALID", cls, ref)
        return self.tables[pool_uuid][cls][ref]

    def pool_of(self, ref: str) -> str:
        return self.where[ref][0]

    def ref_of_uuid(self, cls: str, uuid: str) -> str:
        return self.by_uuid[cls][uuid]

    def maybe(self, ref: str) -> Record | None:
        if ref == NULL_REF:
            return None
        hit = self.where.get(ref)
        return None if hit is None else self.tables[hit[0]][hit[1]][ref]

    def iter_pool(self, pool_uuid: str, cls: str) -> Iterator[tuple[str, Record]]:
        yield from self.tables[pool_uuid][cls].items()
