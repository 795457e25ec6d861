"""The inventory snapshot as frozen dataclasses (keys and meaning of FORMATS.md).

Sizes are integer bytes. Every object carries `uuid` and `name`; references between
objects are uuids. `Inventory` adds indexes (by uuid, by name, VMs per host) built once
on first use.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, TypeVar

from planner.errors import LookupFailed

PowerState = Literal["Running", "Paused", "Suspended", "Halted"]
POWER_STATES: tuple[str, ...] = ("Running", "Paused", "Suspended", "Halted")
# the states with a resident host, where the VM commits its memory (XAPI: a Paused VM
# keeps its domain); the one definition every layer tests a power state against
RESIDENT_STATES: tuple[str, ...] = ("Running", "Paused")
OS_KINDS: tuple[str, ...] = ("windows", "linux", "other")
ON_BOOT: tuple[str, ...] = ("persist", "reset")
CPU_VENDORS: tuple[str, ...] = ("GenuineIntel", "AuthenticAMD")

FORMAT_NAME = "xen-planner/inventory"
FORMAT_VERSION = 2
READ_VERSIONS: tuple[int, ...] = (1, 2)  # v1 files lack the v2 keys; defaults apply
GROUP_PLACEMENTS: tuple[str, ...] = ("anti-affinity", "normal")


@dataclass(frozen=True, slots=True)
class Cpu:
    vendor: str
    features: str  # XAPI hex words joined by "-"
    model: str
    count: int


@dataclass(frozen=True, slots=True)
class Pool:
    uuid: str
    name: str
    master: str
    ha_enabled: bool
    migration_compression: bool
    https_only: bool
    default_sr: str | None


@dataclass(frozen=True, slots=True)
class Host:
    uuid: str
    name: str
    pool: str
    enabled: bool
    version: str
    hotfixes: tuple[str, ...]
    cpu: Cpu
    memory_total_bytes: int
    memory_overhead_bytes: int


@dataclass(frozen=True, slots=True)
class SR:
    uuid: str
    name: str
    pool: str
    type: str
    shared: bool
    size_bytes: int
    used_bytes: int
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Network:
    uuid: str
    name: str
    pool: str
    management: bool
    sriov: bool
    hosts: tuple[str, ...]
    # (v2) hosts whose PIF on this network has an IP: where it can carry a migration
    # stream. io fills the FORMATS.md default (`hosts` for the management network).
    ip_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Disk:
    uuid: str
    sr: str
    size_bytes: int  # virtual size
    used_bytes: int  # physical utilisation
    cbt: bool
    on_boot: str  # "persist" | "reset"
    snapshot_used_bytes: int = 0  # (v2) this disk's snapshots, copied with it


@dataclass(frozen=True, slots=True)
class SuspendVdi:
    """(v2) A Suspended VM's memory image; it travels with a storage migration."""

    uuid: str
    sr: str
    size_bytes: int
    used_bytes: int


@dataclass(frozen=True, slots=True)
class VMGroup:
    """(v2) XAPI's VM_group: `placement` "anti-affinity" keeps members on distinct hosts."""

    uuid: str
    name: str
    pool: str
    placement: str  # "anti-affinity" | "normal"


@dataclass(frozen=True, slots=True)
class Vif:
    device: str
    network: str


@dataclass(frozen=True, slots=True)
class VM:
    uuid: str
    name: str
    pool: str
    power_state: str
    host: str | None
    affinity: str | None
    memory_bytes: int
    memory_min_bytes: int
    vcpus: int
    cpu_vendor: str | None
    cpu_features: str | None
    ha_protected: bool
    os: str
    tools: bool
    mcs: bool
    pci: bool
    vgpu: bool
    tags: tuple[str, ...]
    disks: tuple[Disk, ...]
    vifs: tuple[Vif, ...]
    suspend_vdi: SuspendVdi | None = None  # (v2)
    groups: tuple[str, ...] = ()  # (v2) VM group uuids

    @property
    def is_running(self) -> bool:
        """Running or Paused: the VM has a resident host and commits memory there."""
        return self.power_state in RESIDENT_STATES


T = TypeVar("T", Pool, Host, SR, Network, VM)

KIND_FIELDS = {"pool": "pools", "host": "hosts", "sr": "srs", "network": "networks", "vm": "vms"}


@dataclass(frozen=True)
class Inventory:
    """A whole snapshot. Build it with `planner.inventory.io.load` or `from_dict`.

    `digest` is the FORMATS.md `inventory_digest` of the document this inventory was
    read from (None when it was built in memory; `planner.inventory.digest` computes it).
    """

    taken_at: str
    source: str
    pools: tuple[Pool, ...]
    hosts: tuple[Host, ...]
    srs: tuple[SR, ...]
    networks: tuple[Network, ...]
    vms: tuple[VM, ...]
    vm_groups: tuple[VMGroup, ...] = ()  # (v2)
    digest: str | None = field(default=None, compare=False)

    # ---- indexes (computed once; frozen dataclasses allow cached_property) ----
    @cached_property
    def pool_by_uuid(self) -> dict[str, Pool]:
        return {p.uuid: p for p in self.pools}

    @cached_property
    def host_by_uuid(self) -> dict[str, Host]:
        return {h.uuid: h for h in self.hosts}

    @cached_property
    def sr_by_uuid(self) -> dict[str, SR]:
        return {s.uuid: s for s in self.srs}

    @cached_property
    def network_by_uuid(self) -> dict[str, Network]:
        return {n.uuid: n for n in self.networks}

    @cached_property
    def vm_by_uuid(self) -> dict[str, VM]:
        return {v.uuid: v for v in self.vms}

    @cached_property
    def vm_group_by_uuid(self) -> dict[str, VMGroup]:
        return {g.uuid: g for g in self.vm_groups}

    @cached_property
    def disk_by_uuid(self) -> dict[str, tuple[VM, Disk]]:
        return {d.uuid: (v, d) for v in self.vms for d in v.disks}

    @cached_property
    def vms_on_host(self) -> dict[str, list[VM]]:
        """Running/Paused VMs by resident host uuid."""
        out: dict[str, list[VM]] = defaultdict(list)
        for v in self.vms:
            if v.is_running and v.host is not None:
                out[v.host].append(v)
        return dict(out)

    @cached_property
    def hosts_in_pool(self) -> dict[str, list[Host]]:
        out: dict[str, list[Host]] = defaultdict(list)
        for h in self.hosts:
            out[h.pool].append(h)
        return dict(out)

    @cached_property
    def srs_in_pool(self) -> dict[str, list[SR]]:
        out: dict[str, list[SR]] = defaultdict(list)
        for s in self.srs:
            out[s.pool].append(s)
        return dict(out)

    @cached_property
    def networks_in_pool(self) -> dict[str, list[Network]]:
        out: dict[str, list[Network]] = defaultdict(list)
        for n in self.networks:
            out[n.pool].append(n)
        return dict(out)

    @cached_property
    def vms_in_pool(self) -> dict[str, list[VM]]:
        out: dict[str, list[VM]] = defaultdict(list)
        for v in self.vms:
            out[v.pool].append(v)
        return dict(out)

    @cached_property
    def _by_name(self) -> dict[str, dict[str, list[str]]]:
        out: dict[str, dict[str, list[str]]] = {}
        for kind, attr in KIND_FIELDS.items():
            names: dict[str, list[str]] = defaultdict(list)
            for obj in getattr(self, attr):
                names[obj.name].append(obj.uuid)
            out[kind] = dict(names)
        return out

    def _index(self, kind: str) -> dict:
        return getattr(self, f"{kind}_by_uuid")

    def find(self, kind: str, ref: str) -> str:
        """Resolve a name or uuid of a `kind` ("pool", "host", "sr", "network", "vm").

        Returns the uuid. Raises `LookupFailed` naming close matches when `ref` matches
        nothing, or listing the candidates when a name is ambiguous.
        """
        index = self._index(kind)
        if ref in index:
            return ref
        uuids = self._by_name[kind].get(ref, [])
        if len(uuids) == 1:
            return uuids[0]
        if len(uuids) > 1:
            raise LookupFailed(
                f"{kind} name {ref!r} is ambiguous: uuids {', '.join(sorted(uuids))}"
            )
        # a unique uuid prefix (at least 8 characters) is accepted, as `xe` users expect
        if len(ref) >= 8:
            hits = [u for u in index if u.startswith(ref)]
            if len(hits) == 1:
                return hits[0]
        close = difflib.get_close_matches(ref, list(self._by_name[kind]), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise LookupFailed(f"no {kind} named or with uuid {ref!r}{hint}")

    def find_all(self, kind: str, refs: Iterable[str]) -> list[str]:
        """Resolve several names/uuids (comma-separated items are split); keeps order."""
        out: list[str] = []
        for ref in refs:
            for part in ref.split(","):
                part = part.strip()
                if part:
                    uuid = self.find(kind, part)
                    if uuid not in out:
                        out.append(uuid)
        return out

    def label(self, uuid: str | None) -> str:
        """A readable name for any object uuid (the uuid itself if unknown)."""
        if uuid is None:
            return "-"
        for kind in KIND_FIELDS:
            obj = self._index(kind).get(uuid)
            if obj is not None:
                return obj.name
        hit = self.disk_by_uuid.get(uuid)
        return f"{hit[0].name}/{uuid[:8]}" if hit else uuid

    def master_of(self, pool_uuid: str) -> Host:
        return self.host_by_uuid[self.pool_by_uuid[pool_uuid].master]
