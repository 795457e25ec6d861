"""Build XAPI records (with opaque refs) from an inventory, so the collector can map back.

Every FORMATS.md key is recoverable by the table in XAPI.md (docs/simulator.md lists the
choices where XAPI has no single field):

- host `memory_overhead_bytes` = `host.memory_overhead` + the control domain's
  `memory_static_max` + its `memory_overhead`; the simulator gives 1/8 to the host
  (Xen), 1/64 to dom0's own overhead and the rest to dom0's memory.
- vm `memory_bytes` = `memory_static_max` + `memory_overhead` and `memory_min_bytes` =
  `memory_dynamic_min` + `memory_overhead`; the VM overhead is 1/128 of `memory_bytes`
  (about what XAPI's shadow and page-table estimate gives), never above `memory_min_bytes`.
- vm `os`: guest metrics `os_version` when tools run; the `platform:viridian` flag
  (Windows) and `other_config:base_template_name` otherwise.
- vm `mcs`: `other_config:mcs = "true"` (the collector's default MCS rule).

To exercise the collector's filtering each pool also gets: a control domain per host,
two default templates, one snapshot, the tools ISO SR with its ISO (as a CD of every
Windows VM), the host-internal management network, unattached PBDs of shared SRs on
hosts missing from `sr.hosts`, and PCI / VGPU objects for VMs that have them.
"""

from __future__ import annotations

from planner.inventory.collect import gc_paused
from planner.inventory.model import SR, Host, Inventory, Network, Pool
from planner.sim.db import Db
from planner.sim.objects_vms import VmBuilder
from planner.sim.records import (
    ALLOWED_OPS,
    HALTED_OPS,
    MCS_KEY,
    OS_TEMPLATES,
    OS_VERSION,
    PAUSED_OPS,
    RUNNING_OPS,
    SUSPENDED_OPS,
    platform_version,
    split_host_overhead,
    split_vm_memory,
)
from planner.sim.wire import NULL_REF, i

__all__ = [
    "ALLOWED_OPS",
    "HALTED_OPS",
    "MCS_KEY",
    "OS_TEMPLATES",
    "OS_VERSION",
    "PAUSED_OPS",
    "RUNNING_OPS",
    "SUSPENDED_OPS",
    "Builder",
    "build",
    "host_address",
    "platform_version",
    "split_host_overhead",
    "split_vm_memory",
]


class Builder(VmBuilder):
    """Fills a `Db` with the records of an inventory. Use `build(inv, seed)`."""

    # ------------------------------------------------------------------ pools and hosts
    def build(self) -> Db:
        for p in self.inv.pools:
            self.db.add_pool(p.uuid)
            self.ref[p.uuid] = self.refs.ref()
        for kind in (self.inv.hosts, self.inv.srs, self.inv.networks, self.inv.vms):
            for obj in kind:
                self.ref[obj.uuid] = self.refs.ref()
        for g in self.inv.vm_groups:  # (v2) none in most fleets: refs above are unchanged
            self.ref[g.uuid] = self.refs.ref()
        for p in self.inv.pools:
            self.pool(p)
        for h in self.inv.hosts:
            self.host(h)
        for s in self.inv.srs:
            self.sr(s)
        for n in self.inv.networks:
            self.network(n)
        for g in self.inv.vm_groups:
            self.vm_group(g)
        for v in self.inv.vms:
            self.vm(v)
        for p in self.inv.pools:
            self.extras(p)
        return self.db

    def pool(self, p: Pool) -> None:
        rec = {
            "name_label": p.name,
            "name_description": "",
            "master": self.r(p.master),
            "default_SR": self.r(p.default_sr),
            "suspend_image_SR": self.r(p.default_sr),
            "crash_dump_SR": self.r(p.default_sr),
            "ha_enabled": p.ha_enabled,
            "ha_configuration": {},
            "ha_statefiles": [],
            "ha_host_failures_to_tolerate": i(1 if p.ha_enabled else 0),
            "ha_plan_exists_for": i(1 if p.ha_enabled else 0),
            "ha_allow_overcommit": False,
            "ha_overcommitted": False,
            "blobs": {},
            "tags": [],
            "gui_config": {},
            "other_config": {},
            "cpu_info": {},
            "wlb_enabled": False,
            "migration_compression": p.migration_compression,
            "tls_verification_enabled": True,
            "allowed_operations": [],
            "current_operations": {},
        }
        self.new(p.uuid, "pool", rec, ref=self.ref[p.uuid], uuid=p.uuid)
        # hotfixes become pool_update objects shared by the hosts that carry them
        names = sorted({x for h in self.inv.hosts_in_pool.get(p.uuid, []) for x in h.hotfixes})
        for name in names:
            upd = {
                "name_label": name,
                "name_description": f"Hotfix {name}",
                "version": "1.0",
                "installation_size": i(2**20),
                "key": "",
                "after_apply_guidance": [],
                "vdi": NULL_REF,
                "hosts": [],
                "other_config": {},
                "enforce_homogeneity": False,
            }
            self.ref[f"update:{p.uuid}:{name}"] = self.new(p.uuid, "pool_update", upd)

    def host(self, h: Host) -> None:
        pool = self.inv.pool_by_uuid[h.pool]
        host_ov, dom0_mem, dom0_ov = split_host_overhead(h.memory_overhead_bytes)
        metrics = self.new(
            h.pool,
            "host_metrics",
            {
                "memory_total": i(h.memory_total_bytes),
                "memory_free": i(0),
                "live": True,
                "last_updated": self.now,
                "other_config": {},
            },
        )
        ref = self.ref[h.uuid]
        f = h.cpu.features
        cpu_info = {
            "cpu_count": i(h.cpu.count),
            "socket_count": i(2 if h.cpu.count >= 16 else 1),
            "threads_per_core": "2",
            "nr_nodes": "1",
            "vendor": h.cpu.vendor,
            "speed": "2999.998",
            "modelname": h.cpu.model,
            "family": "6",
            "model": "85",
            "stepping": "7",
            "flags": "fpu de tsc msr pae mce cx8 apic sep mtrr",
            "features": f,
            "features_pv": f,
            "features_hvm": f,
            "features_pv_host": f,
            "features_hvm_host": f,
        }
        brand = "Citrix Hypervisor" if h.version.startswith("8.2") else "XenServer"
        software = {
            "product_version": h.version,
            "product_version_text": h.version,
            "product_version_text_short": h.version,
            "product_brand": brand,
            "platform_name": "XCP",
            "platform_version": platform_version(h.version),
            "build_number": "release/yangtze/master/8",
            "xapi": "24.19",
            "xapi_build": "24.19.1",
            "xen": "4.17.3-4",
            "linux": "4.19.0+1",
            "hostname": h.name,
            "date": "2026-01-15",
            "db_schema": "5.780",
        }
        updates = [self.ref[f"update:{h.pool}:{x}"] for x in h.hotfixes]
        for u in updates:
            self.db.get(u)["hosts"].append(ref)
        dom0 = self.refs.ref()
        rec = {
            "name_label": h.name,
            "name_description": "",
            "memory_overhead": i(host_ov),
            "allowed_operations": ["provision", "evacuate", "vm_start", "vm_resume", "vm_migrate"],
            "current_operations": {},
            "API_version_major": "2",
            "API_version_minor": "21",
            "API_version_vendor": "XenSource",
            "API_version_vendor_implementation": {},
            "enabled": h.enabled,
            "software_version": software,
            "other_config": {},
            "capabilities": ["xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_64"],
            "cpu_configuration": {},
            "sched_policy": "credit",
            "supported_bootloaders": ["pygrub"],
            "resident_VMs": [dom0],
            "logging": {},
            "PIFs": [],
            "suspend_image_sr": NULL_REF,
            "crash_dump_sr": NULL_REF,
            "crashdumps": [],
            "patches": [],
            "updates": updates,
            "PBDs": [],
            "host_CPUs": [],
            "cpu_info": cpu_info,
            "hostname": h.name,
            "address": "127.0.0.1",
            "metrics": metrics,
            "license_params": {},
            "ha_statefiles": [],
            "ha_network_peers": [],
            "blobs": {},
            "tags": [],
            "external_auth_type": "",
            "external_auth_service_name": "",
            "external_auth_configuration": {},
            "edition": "xenserver-premium",
            "license_server": {},
            "bios_strings": {},
            "power_on_mode": "",
            "power_on_config": {},
            "local_cache_sr": NULL_REF,
            "chipset_info": {},
            "PCIs": [],
            "PGPUs": [],
            "PUSBs": [],
            "ssl_legacy": False,
            "guest_VCPUs_params": {},
            "display": "enabled",
            "virtual_hardware_platform_versions": ["0", "1", "2"],
            "control_domain": dom0,
            "updates_requiring_reboot": [],
            "features": [],
            "iscsi_iqn": f"iqn.2026-01.com.example:{h.name}",
            "multipathing": False,
            "uefi_certificates": "",
            "certificates": [],
            "editions": ["xenserver-premium"],
            "pending_guidances": [],
            "tls_verification_enabled": True,
            "https_only": pool.https_only,
        }
        self.new(h.pool, "host", rec, ref=ref, uuid=h.uuid)
        self.control_domain(h, dom0, dom0_mem, dom0_ov)

    def control_domain(self, h: Host, ref: str, mem: int, ov: int) -> None:
        rec = self.vm_base(f"Control domain on host: {h.name}", "Running", mem, mem, ov, 16)
        rec.update(
            {
                "is_control_domain": True,
                "resident_on": self.ref[h.uuid],
                "domid": "0",
                "domain_type": "pv",
                "allowed_operations": [],
                "other_config": {"storage_driver_domain": ref, "is_system_domain": "true"},
                "last_boot_CPU_flags": {"vendor": h.cpu.vendor, "features": h.cpu.features},
            }
        )
        rec["metrics"] = self.vm_metrics(h.pool, mem + ov, 16, "Running")
        self.new(h.pool, "VM", rec, ref=ref)

    # ------------------------------------------------------------------ storage
    def sr(self, s: SR) -> None:
        ref = self.ref[s.uuid]
        rec = {
            "name_label": s.name,
            "name_description": "",
            "allowed_operations": [
                "vdi_create",
                "vdi_destroy",
                "vdi_snapshot",
                "vdi_clone",
                "vdi_resize",
                "vdi_mirror",
                "vdi_enable_cbt",
                "vdi_disable_cbt",
                "scan",
                "update",
            ],
            "current_operations": {},
            "VDIs": [],
            "PBDs": [],
            "virtual_allocation": i(0),
            "physical_utilisation": i(s.used_bytes),
            "physical_size": i(s.size_bytes),
            "type": s.type,
            "content_type": "user",
            "shared": s.shared,
            "other_config": {},
            "tags": [],
            "sm_config": {},
            "blobs": {},
            "local_cache_enabled": False,
            "introduced_by": NULL_REF,
            "clustered": False,
            "is_tools_sr": False,
        }
        self.new(s.pool, "SR", rec, ref=ref, uuid=s.uuid)
        attached = list(s.hosts)
        others = [h.uuid for h in self.inv.hosts_in_pool.get(s.pool, []) if h.uuid not in s.hosts]
        for hu in attached + (others if s.shared else []):
            self.pbd(s.pool, ref, self.ref[hu], hu in s.hosts)

    # ------------------------------------------------------------------ networks
    def network(self, n: Network) -> None:
        ref = self.ref[n.uuid]
        idx = [x.uuid for x in self.inv.networks_in_pool[n.pool]].index(n.uuid)
        rec = {
            "name_label": n.name,
            "name_description": "",
            "allowed_operations": [],
            "current_operations": {},
            "VIFs": [],
            "PIFs": [],
            "MTU": i(1500),
            "other_config": {},
            "bridge": f"xenbr{idx}",
            "managed": True,
            "blobs": {},
            "tags": [],
            "default_locking_mode": "unlocked",
            "assigned_ips": {},
            "purpose": [],
        }
        self.new(n.pool, "network", rec, ref=ref, uuid=n.uuid)
        for hu in n.hosts:
            pif = self.pif(
                n.pool,
                ref,
                self.ref[hu],
                f"eth{idx}",
                n.management,
                not n.sriov,
                ip=hu in n.ip_hosts,
            )
            self.pif_of[(hu, n.uuid)] = pif
            if n.sriov:
                sriov = self.new(
                    n.pool,
                    "network_sriov",
                    {
                        "physical_PIF": pif,
                        "logical_PIF": pif,
                        "requires_reboot": False,
                        "configuration_mode": "sysfs",
                    },
                )
                self.db.get(pif)["sriov_logical_PIF_of"] = [sriov]
                self.db.get(pif)["sriov_physical_PIF_of"] = [sriov]


def build(inv: Inventory, seed: int = 0) -> tuple[Db, dict[str, str]]:
    """The records of `inv` and the map inventory uuid -> ref."""

    b = Builder(inv, seed)
    with gc_paused():  # millions of acyclic records: collector passes would only cost time
        db = b.build()
    return db, b.ref


def host_address(base: str, host_uuid: str) -> str:
    """What `host.address` holds in the simulator: `127.0.0.1:PORT/host/<uuid>`.

    A real address is an IP; the simulator's also carries the path of the host's URL so
    that HOST_IS_SLAVE [address] can be followed (`http://` + address + `/`).
    """
    return f"{base}/host/{host_uuid}"
