"""XAPI records to inventory documents: the collector's pure mapping (XAPI.md's table).

`convert_pool(tables)` maps one pool's `get_all_records` tables (class -> {ref: record})
to FORMATS.md dicts, one converter per XAPI class (host, pool, SR, network, VM_group,
VM) in that order, each adding its objects and its warnings; `assemble` joins the pools
into one `Inventory`. Pure: nothing here talks to XAPI (`planner.inventory.collect`
does) and the tables are not changed; the simulator's `inventory()` uses the same code.
Memory and disk amounts are bytes, as XAPI gives them (decimal strings).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from planner.inventory.convert_fields import DEFAULT_MCS as DEFAULT_MCS
from planner.inventory.convert_fields import LINUX_WORDS as LINUX_WORDS
from planner.inventory.convert_fields import NULL_REF as NULL_REF
from planner.inventory.convert_fields import PLACEMENTS as PLACEMENTS
from planner.inventory.convert_fields import McsRule as McsRule
from planner.inventory.convert_fields import Record as Record
from planner.inventory.convert_fields import Tables as Tables
from planner.inventory.convert_fields import (
    _int,
    _is_sriov_network,
    _os_of,
    _ref,
    _skipped_sr,
    _skipped_vm,
)
from planner.inventory.convert_fields import pif_has_ip as pif_has_ip
from planner.inventory.io import from_dict
from planner.inventory.model import (
    FORMAT_NAME,
    FORMAT_VERSION,
    POWER_STATES,
    RESIDENT_STATES,
    Inventory,
)


@dataclass
class PoolDoc:
    """The inventory objects of one pool (FORMATS.md dicts) and the mapping warnings."""

    pools: list[dict[str, Any]] = field(default_factory=list)
    hosts: list[dict[str, Any]] = field(default_factory=list)
    srs: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    vms: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    vm_groups: list[dict[str, Any]] = field(default_factory=list)  # (v2)


class _Pool:
    """One pool's tables while they are converted: lookups, the warnings, the output."""

    def __init__(self, t: Tables, out: PoolDoc, where: str) -> None:
        self.t = t
        self.out = out
        self.pre = f"{where}: " if where else ""
        self.pools, self.hosts = self.table("pool"), self.table("host")
        self.srs, self.nets = self.table("SR"), self.table("network")
        self.vms, self.vbds = self.table("VM"), self.table("VBD")
        self.vdis, self.vifs = self.table("VDI"), self.table("VIF")
        self.pbds, self.pifs = self.table("PBD"), self.table("PIF")
        self.metrics, self.guest = self.table("host_metrics"), self.table("VM_guest_metrics")
        self.updates, self.groups = self.table("pool_update"), self.table("VM_group")
        self.pool_uuid = ""
        # what the later converters need from the earlier ones
        self.all_https = bool(self.hosts)
        self.kept_srs: set[str] = set()
        self.kept_nets: set[str] = set()

    def table(self, cls: str) -> Mapping[str, Record]:
        return self.t.get(cls) or {}

    def warn(self, msg: str) -> None:
        self.out.warnings.append(self.pre + msg)

    def uuid_in(self, tab: Mapping[str, Record], ref: Any) -> str | None:
        rec = tab.get(ref) if ref else None
        return None if rec is None else rec["uuid"]


def convert_pool(t: Tables, *, mcs: McsRule = DEFAULT_MCS, where: str = "") -> PoolDoc:
    """Map one pool's `get_all_records` tables (class -> {ref: record}) to inventory dicts.

    Pure: the tables are not changed. `where` prefixes warnings (e.g. the URL).
    """
    out = PoolDoc()
    p = _Pool(t, out, where)
    if not p.pools:
        p.warn("no pool object: nothing collected")
        return out
    if len(p.pools) > 1:
        p.warn(f"{len(p.pools)} pool objects in one database; using the first")
    pool = next(iter(p.pools.values()))
    p.pool_uuid = pool["uuid"]
    _hosts(p)
    _pool(p, pool)
    _srs(p)
    _networks(p)
    _vm_groups(p)
    for v in p.vms.values():
        if not _skipped_vm(v):
            _vm(p, v, mcs)
    return out


def _hosts(p: _Pool) -> None:
    """Hosts; memory overhead counts the control domain's memory."""
    dom0_by_host: dict[str, Record] = {}
    for vm in p.vms.values():
        if vm.get("is_control_domain") and _ref(vm.get("resident_on")):
            dom0_by_host.setdefault(vm["resident_on"], vm)
    for href, h in p.hosts.items():
        p.out.hosts.append(
            _host(p, h, p.vms.get(h.get("control_domain") or NULL_REF) or dom0_by_host.get(href))
        )


def _host(p: _Pool, h: Record, dom0: Record | None) -> dict[str, Any]:
    overhead = _int(h.get("memory_overhead"))
    if dom0 is not None:
        overhead += _int(dom0.get("memory_static_max")) + _int(dom0.get("memory_overhead"))
    else:
        p.warn(
            f"host {h['name_label']}: no control domain found; its memory is not "
            "counted in memory_overhead_bytes"
        )
    m = p.metrics.get(h.get("metrics") or NULL_REF)
    if m is None:
        p.warn(f"host {h['name_label']}: no host_metrics; memory_total_bytes set to 0")
    sv = h.get("software_version") or {}
    version = sv.get("product_version") or ""
    if not version:
        version = sv.get("platform_version") or "0"
        p.warn(f"host {h['name_label']}: no product_version; using platform_version {version}")
    if "updates" in h:
        fixes = [p.updates[u]["name_label"] for u in h["updates"] if u in p.updates]
    else:
        fixes = []
        p.warn(f"host {h['name_label']}: no `updates` field (pre-8.0 host); hotfixes not collected")
    ci = h.get("cpu_info") or {}
    features = ci.get("features_hvm") or ci.get("features") or ""
    if not ci.get("vendor"):
        p.warn(f"host {h['name_label']}: cpu_info has no vendor")
    p.all_https = p.all_https and bool(h.get("https_only", False))
    return {
        "uuid": h["uuid"],
        "name": h["name_label"],
        "pool": p.pool_uuid,
        "enabled": bool(h.get("enabled")),
        "version": version,
        "hotfixes": fixes,
        "cpu": {
            "vendor": ci.get("vendor", ""),
            "features": features,
            "model": ci.get("modelname", ""),
            "count": _int(ci.get("cpu_count")),
        },
        "memory_total_bytes": _int(m.get("memory_total")) if m else 0,
        "memory_overhead_bytes": overhead,
    }


def _pool(p: _Pool, pool: Record) -> None:
    """The pool object (after the hosts: `https_only` holds when it holds on every host)."""
    default_sr = p.srs.get(pool.get("default_SR") or NULL_REF)
    p.out.pools.append(
        {
            "uuid": p.pool_uuid,
            "name": pool.get("name_label", ""),
            "master": p.uuid_in(p.hosts, pool.get("master")),
            "ha_enabled": bool(pool.get("ha_enabled")),
            "migration_compression": bool(pool.get("migration_compression", False)),
            "https_only": p.all_https,
            "default_sr": default_sr["uuid"]
            if default_sr and not _skipped_sr(default_sr)
            else None,
        }
    )
    if p.out.pools[0]["master"] is None:
        p.warn(f"pool {pool.get('name_label', '')}: master is not among its hosts")


def _srs(p: _Pool) -> None:
    """SRs a VM can live on, with the hosts that have them attached (PBDs)."""
    for sref, s in p.srs.items():
        if _skipped_sr(s):
            continue
        p.kept_srs.add(sref)
        attached: list[str] = []
        for ref in s.get("PBDs", []):
            pbd = p.pbds.get(ref)
            if pbd and pbd.get("currently_attached"):
                hu = p.uuid_in(p.hosts, pbd.get("host"))
                if hu and hu not in attached:
                    attached.append(hu)
        p.out.srs.append(
            {
                "uuid": s["uuid"],
                "name": s.get("name_label", ""),
                "pool": p.pool_uuid,
                "type": s.get("type", ""),
                "shared": bool(s.get("shared")),
                "size_bytes": _int(s.get("physical_size")),
                "used_bytes": _int(s.get("physical_utilisation")),
                "hosts": attached,
            }
        )


def _networks(p: _Pool) -> None:
    """Networks (not the host-internal management one), the hosts with a PIF on each
    and those whose PIF has an address (`ip_hosts`, see `pif_has_ip`)."""
    for nref, n in p.nets.items():
        if str((n.get("other_config") or {}).get("is_host_internal_management_network")) == "true":
            continue
        p.kept_nets.add(nref)
        on_hosts: list[str] = []
        ip_hosts: list[str] = []
        management = False
        for ref in n.get("PIFs", []):
            pif = p.pifs.get(ref)
            if pif is None:
                continue
            management = management or bool(pif.get("management"))
            hu = p.uuid_in(p.hosts, pif.get("host"))
            if hu and hu not in on_hosts:
                on_hosts.append(hu)
            if hu and hu not in ip_hosts and pif_has_ip(pif):
                ip_hosts.append(hu)
        p.out.networks.append(
            {
                "uuid": n["uuid"],
                "name": n.get("name_label", ""),
                "pool": p.pool_uuid,
                "management": management,
                "sriov": _is_sriov_network(n, p.t),
                "hosts": on_hosts,
                "ip_hosts": ip_hosts,
            }
        )


def _vm_groups(p: _Pool) -> None:
    """VM groups (v2): VM_group has no pool field; its pool is the one read here."""
    for g in p.groups.values():
        placement = PLACEMENTS.get(str(g.get("placement", "normal")))
        if placement is None:
            p.warn(
                f"VM group {g.get('name_label', '')}: unknown placement "
                f"{g.get('placement')!r}; read as normal"
            )
            placement = "normal"
        p.out.vm_groups.append(
            {
                "uuid": g["uuid"],
                "name": g.get("name_label", ""),
                "pool": p.pool_uuid,
                "placement": placement,
            }
        )


def _vm(p: _Pool, v: Record, mcs: McsRule) -> None:
    """One VM (not a template, snapshot or control domain) with its disks and VIFs."""
    name = v.get("name_label", "")
    state = v.get("power_state", "")
    if state not in POWER_STATES:
        p.warn(f"VM {name}: unknown power state {state!r}; left out")
        return
    up = state in RESIDENT_STATES
    host = p.uuid_in(p.hosts, v.get("resident_on")) if up else None
    if up and host is None:
        p.warn(f"VM {name}: {state} but resident on no host of the pool")
    affinity = p.uuid_in(p.hosts, v.get("affinity"))
    ov = _int(v.get("memory_overhead"))
    top = v.get("memory_static_max") or v.get("memory_dynamic_max")
    flags = v.get("last_boot_CPU_flags") or {}
    gm = p.guest.get(v.get("guest_metrics") or NULL_REF)
    disks = _vm_disks(p, v, name)
    suspend = _vm_suspend(p, v, name, state)
    vm_vifs = _vm_vifs(p, v, name)
    p.out.vms.append(
        {
            "uuid": v["uuid"],
            "name": name,
            "pool": p.pool_uuid,
            "power_state": state,
            "host": host,
            "affinity": affinity,
            "memory_bytes": _int(top) + ov,
            "memory_min_bytes": _int(v.get("memory_dynamic_min")) + ov,
            "vcpus": _int(v.get("VCPUs_at_startup") or v.get("VCPUs_max")),
            "cpu_vendor": (flags.get("vendor") or None) if state != "Halted" else None,
            "cpu_features": (flags.get("features") or None) if state != "Halted" else None,
            "ha_protected": bool(v.get("ha_always_run"))
            and v.get("ha_restart_priority") == "restart",
            "os": _os_of(v, gm),
            "tools": bool(gm and gm.get("PV_drivers_detected")),
            "mcs": mcs.matches(v),
            "pci": bool(v.get("attached_PCIs")),
            "vgpu": bool(v.get("VGPUs")),
            "tags": list(v.get("tags") or []),
            "disks": disks,
            "vifs": vm_vifs,
            "suspend_vdi": suspend,
            "groups": [p.groups[g]["uuid"] for g in v.get("groups") or () if g in p.groups],
        }
    )


def _vm_disks(p: _Pool, v: Record, name: str) -> list[dict[str, Any]]:
    """The VM's disks (VBDs of type Disk) on kept SRs; sizes in bytes."""
    disks = []
    for b in v.get("VBDs", []):
        vbd = p.vbds.get(b)
        if vbd is None or vbd.get("type") != "Disk":
            continue  # CDs and floppies are not disks
        vdi = p.vdis.get(vbd.get("VDI") or NULL_REF)
        if vdi is None:
            p.warn(f"VM {name}: disk VBD {vbd.get('userdevice', '?')} has no VDI; left out")
            continue
        if vdi.get("SR") not in p.kept_srs:
            p.warn(f"VM {name}: disk {vdi['uuid']} is on an ISO or unknown SR; left out")
            continue
        # (v2) the disk's snapshot VDIs travel with it in a storage migration
        snaps = sum(
            _int(p.vdis[x].get("physical_utilisation"))
            for x in vdi.get("snapshots") or ()
            if x in p.vdis
        )
        disks.append(
            {
                "uuid": vdi["uuid"],
                "sr": p.srs[vdi["SR"]]["uuid"],
                "size_bytes": _int(vdi.get("virtual_size")),
                "used_bytes": _int(vdi.get("physical_utilisation")),
                "cbt": bool(vdi.get("cbt_enabled")),
                "on_boot": vdi.get("on_boot", "persist"),
                "snapshot_used_bytes": snaps,
            }
        )
    return disks


def _vm_suspend(p: _Pool, v: Record, name: str, state: str) -> dict[str, Any] | None:
    """A Suspended VM's memory image (suspend_VDI), when it is on a kept SR."""
    sv = p.vdis.get(v.get("suspend_VDI") or NULL_REF) if state == "Suspended" else None
    if sv is not None and sv.get("SR") in p.kept_srs:
        return {
            "uuid": sv["uuid"],
            "sr": p.srs[sv["SR"]]["uuid"],
            "size_bytes": _int(sv.get("virtual_size")),
            "used_bytes": _int(sv.get("physical_utilisation")),
        }
    if sv is not None:
        p.warn(f"VM {name}: suspend image {sv['uuid']} is on an unknown SR; left out")
    return None


def _vm_vifs(p: _Pool, v: Record, name: str) -> list[dict[str, Any]]:
    """The VM's VIFs on kept networks."""
    vm_vifs = []
    for x in v.get("VIFs", []):
        vif = p.vifs.get(x)
        if vif is None:
            continue
        if vif.get("network") not in p.kept_nets:
            p.warn(f"VM {name}: VIF {vif.get('device')} is on an unknown network; left out")
            continue
        vm_vifs.append({"device": vif.get("device", ""), "network": p.nets[vif["network"]]["uuid"]})
    return vm_vifs


def assemble(
    parts: list[PoolDoc], *, source: str, taken_at: str | None = None, validate: bool = True
) -> Inventory:
    """One inventory from the pools' parts (pools in the given order)."""
    doc: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "taken_at": taken_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": source,
        "pools": [],
        "hosts": [],
        "srs": [],
        "networks": [],
        "vms": [],
    }
    for p in parts:
        for key in ("pools", "hosts", "srs", "networks", "vms"):
            doc[key].extend(getattr(p, key))
    doc["vm_groups"] = [g for p in parts for g in getattr(p, "vm_groups", ())]
    # the v2 defaults written out, so that the digest of this document is that of the
    # file it is saved to, and a plan made from it matches that file
    for n in doc["networks"]:
        n.setdefault("ip_hosts", list(n["hosts"]) if n["management"] else [])
    for v in doc["vms"]:
        v.setdefault("suspend_vdi", None)
        v.setdefault("groups", [])
        for d in v["disks"]:
            d.setdefault("snapshot_used_bytes", 0)
    return from_dict(doc, validate=validate, where=f"collected inventory ({source})")
