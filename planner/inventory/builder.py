"""A small builder for hand-made inventories (tests, notebooks, what-if edits).

    b = Builder()
    p = b.pool("lab")
    h1 = b.host(p, "xs-01", memory_gib=64)
    sr = b.sr(p, "nfs", size_gib=1000, shared=True)
    net = b.network(p, "vm-net")
    b.vm(p, "web-01", host=h1, memory_gib=4, disks=[(sr, 20)], networks=[net])
    inv = b.build()

Uuids are deterministic (derived from a counter) so tests are repeatable. Shared SRs and
networks attach to every host of their pool, including hosts added later; local SRs name
their host.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

from planner.inventory.io import from_dict
from planner.inventory.model import RESIDENT_STATES

GIB = 2**30
INTEL = "GenuineIntel"
AMD = "AuthenticAMD"
BASE_FEATURES = "1fcbfbff-f7fa3223-2d93fbff-00000023"


@dataclass
class Builder:
    taken_at: str = "2026-11-28T12:00:00Z"
    source: str = "builder"
    doc: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {k: [] for k in ("pools", "hosts", "srs", "networks", "vms")}
    )
    _n: int = 0

    def _uuid(self) -> str:
        self._n += 1
        return str(uuidlib.UUID(int=self._n))

    def _pool(self, uuid: str) -> dict[str, Any]:
        return next(p for p in self.doc["pools"] if p["uuid"] == uuid)

    def pool(
        self, name: str, *, ha: bool = False, compression: bool = False, https_only: bool = False
    ) -> str:
        """Add a pool; its first host becomes master."""
        u = self._uuid()
        self.doc["pools"].append(
            {
                "uuid": u,
                "name": name,
                "master": None,
                "ha_enabled": ha,
                "migration_compression": compression,
                "https_only": https_only,
                "default_sr": None,
            }
        )
        return u

    def host(
        self,
        pool: str,
        name: str,
        *,
        memory_gib: float = 64,
        overhead_gib: float = 2,
        version: str = "8.4.0",
        hotfixes: tuple[str, ...] = (),
        vendor: str = INTEL,
        features: str = BASE_FEATURES,
        model: str = "Xeon",
        cpus: int = 32,
        enabled: bool = True,
        master: bool = False,
    ) -> str:
        u = self._uuid()
        self.doc["hosts"].append(
            {
                "uuid": u,
                "name": name,
                "pool": pool,
                "enabled": enabled,
                "version": version,
                "hotfixes": list(hotfixes),
                "cpu": {"vendor": vendor, "features": features, "model": model, "count": cpus},
                "memory_total_bytes": int(memory_gib * GIB),
                "memory_overhead_bytes": int(overhead_gib * GIB),
            }
        )
        p = self._pool(pool)
        if p["master"] is None or master:
            p["master"] = u
        for kind in ("srs", "networks"):
            for obj in self.doc[kind]:
                if obj["pool"] == pool and obj.get("_shared_all"):
                    obj["hosts"].append(u)
        return u

    def sr(
        self,
        pool: str,
        name: str,
        *,
        size_gib: float = 1000,
        used_gib: float | None = None,
        shared: bool = True,
        host: str | None = None,
        type: str | None = None,
        default: bool = False,
    ) -> str:
        """Add an SR. Shared: attached to all hosts of the pool; else to `host` only.

        `used_gib` None: the SR holds exactly its disks' used bytes (computed at build).
        """
        u = self._uuid()
        hosts = [h["uuid"] for h in self.doc["hosts"] if h["pool"] == pool] if shared else [host]
        self.doc["srs"].append(
            {
                "uuid": u,
                "name": name,
                "pool": pool,
                "type": type or ("nfs" if shared else "ext"),
                "shared": shared,
                "size_bytes": int(size_gib * GIB),
                "used_bytes": None if used_gib is None else int(used_gib * GIB),
                "hosts": hosts,
                "_shared_all": shared,
            }
        )
        if default:
            self._pool(pool)["default_sr"] = u
        return u

    def network(
        self,
        pool: str,
        name: str,
        *,
        management: bool = False,
        sriov: bool = False,
        hosts: list[str] | None = None,
        ip_hosts: list[str] | None = None,
    ) -> str:
        """Add a network. `ip_hosts` (v2): hosts whose PIF on it has an IP; None gives
        the FORMATS.md default (all its hosts for the management network, else none)."""
        u = self._uuid()
        all_hosts = [h["uuid"] for h in self.doc["hosts"] if h["pool"] == pool]
        self.doc["networks"].append(
            {
                "uuid": u,
                "name": name,
                "pool": pool,
                "management": management,
                "sriov": sriov,
                "hosts": list(hosts) if hosts is not None else all_hosts,
                "_shared_all": hosts is None,
                **({"ip_hosts": list(ip_hosts)} if ip_hosts is not None else {}),
            }
        )
        return u

    def vm(
        self,
        pool: str,
        name: str,
        *,
        host: str | None = None,
        power_state: str | None = None,
        memory_gib: float = 4,
        memory_min_gib: float | None = None,
        vcpus: int = 2,
        disks: list[tuple[str, float]] | None = None,
        disk_used_fraction: float = 0.5,
        networks: list[str] | None = None,
        os: str = "linux",
        tools: bool = True,
        ha_protected: bool = False,
        mcs: bool = False,
        pci: bool = False,
        vgpu: bool = False,
        cbt: bool = False,
        on_boot: str = "persist",
        affinity: str | None = None,
        tags: list[str] | None = None,
        cpu_features: str | None = None,
        cpu_vendor: str | None = None,
        groups: list[str] | None = None,
        snapshot_gib: float = 0,
        suspend_sr: str | None = None,
        suspend_gib: float = 0,
    ) -> str:
        """Add a VM. `disks` is [(sr uuid, size GiB)], `networks` [network uuid].

        A Suspended VM keeps the CPU flags it was saved with: `cpu_vendor` (default
        Intel) and `cpu_features`. `groups` are VM group uuids (`vm_group`);
        `snapshot_gib` the snapshot bytes of each disk; `suspend_sr` + `suspend_gib` a
        Suspended VM's memory image (default size: its memory)."""
        u = self._uuid()
        state = power_state or ("Running" if host else "Halted")
        running = state in RESIDENT_STATES
        vendor = features = None
        if running:
            h = next(x for x in self.doc["hosts"] if x["uuid"] == host)
            vendor = cpu_vendor or h["cpu"]["vendor"]
            features = cpu_features or h["cpu"]["features"]
        elif state == "Suspended":
            vendor = cpu_vendor or INTEL
            features = cpu_features or BASE_FEATURES
        disk_docs = []
        for sr_uuid, size in disks or []:
            size_b = int(size * GIB)
            disk_docs.append(
                {
                    "uuid": self._uuid(),
                    "sr": sr_uuid,
                    "size_bytes": size_b,
                    "used_bytes": int(size_b * disk_used_fraction),
                    "cbt": cbt,
                    "on_boot": on_boot,
                    "snapshot_used_bytes": int(snapshot_gib * GIB),
                }
            )
        mem = int(memory_gib * GIB)
        suspend = None
        if suspend_sr is not None:
            size = int(suspend_gib * GIB) if suspend_gib else mem
            suspend = {
                "uuid": self._uuid(),
                "sr": suspend_sr,
                "size_bytes": size,
                "used_bytes": size,
            }
        self.doc["vms"].append(
            {
                "uuid": u,
                "name": name,
                "pool": pool,
                "power_state": state,
                "host": host if running else None,
                "affinity": affinity,
                "memory_bytes": mem,
                "memory_min_bytes": int(memory_min_gib * GIB)
                if memory_min_gib is not None
                else mem,
                "vcpus": vcpus,
                "cpu_vendor": vendor,
                "cpu_features": features,
                "ha_protected": ha_protected,
                "os": os,
                "tools": tools,
                "mcs": mcs,
                "pci": pci,
                "vgpu": vgpu,
                "tags": list(tags or []),
                "disks": disk_docs,
                "vifs": [{"device": str(i), "network": n} for i, n in enumerate(networks or [])],
                "suspend_vdi": suspend,
                "groups": list(groups or []),
            }
        )
        return u

    def vm_group(self, pool: str, name: str, *, placement: str = "anti-affinity") -> str:
        """Add a VM group (XAPI's VM_group); pass its uuid in `vm(..., groups=[...])`."""
        u = self._uuid()
        self.doc.setdefault("vm_groups", []).append(
            {"uuid": u, "name": name, "pool": pool, "placement": placement}
        )
        return u

    def document(self) -> dict[str, Any]:
        """The FORMATS.md document (SR used_bytes filled from disks where not given)."""
        used: dict[str, int] = {}
        for v in self.doc["vms"]:
            for d in v["disks"]:
                used[d["sr"]] = (
                    used.get(d["sr"], 0) + d["used_bytes"] + d.get("snapshot_used_bytes", 0)
                )
            if v.get("suspend_vdi"):
                sv = v["suspend_vdi"]
                used[sv["sr"]] = used.get(sv["sr"], 0) + sv["used_bytes"]
        srs = []
        for s in self.doc["srs"]:
            s = {k: v for k, v in s.items() if not k.startswith("_")}
            if s["used_bytes"] is None:
                s["used_bytes"] = used.get(s["uuid"], 0)
            srs.append(s)
        nets = [{k: v for k, v in n.items() if not k.startswith("_")} for n in self.doc["networks"]]
        for n in nets:  # the FORMATS.md v2 default
            n.setdefault("ip_hosts", list(n["hosts"]) if n["management"] else [])
        vms = []
        for v in self.doc["vms"]:
            v = dict(v)
            v.setdefault("suspend_vdi", None)
            v.setdefault("groups", [])
            v["disks"] = [{"snapshot_used_bytes": 0, **d} for d in v["disks"]]
            vms.append(v)
        return {
            "format": "xen-planner/inventory",
            "version": 2,
            "taken_at": self.taken_at,
            "source": self.source,
            "pools": [dict(p) for p in self.doc["pools"]],
            "hosts": [dict(h) for h in self.doc["hosts"]],
            "srs": srs,
            "networks": nets,
            "vms": vms,
            "vm_groups": [dict(g) for g in self.doc.get("vm_groups", [])],
        }

    def build(self, *, validate: bool = True):  # -> Inventory
        """The inventory (validated by default, like a loaded file)."""
        return from_dict(self.document(), validate=validate, where="builder")
