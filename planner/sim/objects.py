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

from planner.inventory.model import SR, VM, Host, Inventory, Network, Pool, VMGroup
from planner.sim.db import Db
from planner.sim.records import (
    ALLOWED_OPS,
    HALTED_OPS,
    MCS_KEY,
    OS_TEMPLATES,
    OS_VERSION,
    PAUSED_OPS,
    RUNNING_OPS,
    SUSPENDED_OPS,
    Records,
    platform_version,
    split_host_overhead,
    split_vm_memory,
)
from planner.sim.wire import NULL_REF, i

__all__ = [
    "ALLOWED_OPS", "HALTED_OPS", "MCS_KEY", "OS_TEMPLATES", "OS_VERSION", "PAUSED_OPS",
    "RUNNING_OPS", "SUSPENDED_OPS", "Builder", "build", "host_address", "platform_version",
    "split_host_overhead", "split_vm_memory",
]  # fmt: skip


class Builder(Records):
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
            "name_label": p.name, "name_description": "", "master": self.r(p.master),
            "default_SR": self.r(p.default_sr), "suspend_image_SR": self.r(p.default_sr),
            "crash_dump_SR": self.r(p.default_sr), "ha_enabled": p.ha_enabled,
            "ha_configuration": {}, "ha_statefiles": [],
            "ha_host_failures_to_tolerate": i(1 if p.ha_enabled else 0),
            "ha_plan_exists_for": i(1 if p.ha_enabled else 0), "ha_allow_overcommit": False,
            "ha_overcommitted": False, "blobs": {}, "tags": [], "gui_config": {},
            "other_config": {}, "cpu_info": {}, "wlb_enabled": False,
            "migration_compression": p.migration_compression, "tls_verification_enabled": True,
            "allowed_operations": [], "current_operations": {},
        }  # fmt: skip
        self.new(p.uuid, "pool", rec, ref=self.ref[p.uuid], uuid=p.uuid)
        # hotfixes become pool_update objects shared by the hosts that carry them
        names = sorted({x for h in self.inv.hosts_in_pool.get(p.uuid, []) for x in h.hotfixes})
        for name in names:
            upd = {"name_label": name, "name_description": f"Hotfix {name}", "version": "1.0",
                   "installation_size": i(2**20), "key": "", "after_apply_guidance": [],
                   "vdi": NULL_REF, "hosts": [], "other_config": {},
                   "enforce_homogeneity": False}  # fmt: skip
            self.ref[f"update:{p.uuid}:{name}"] = self.new(p.uuid, "pool_update", upd)

    def host(self, h: Host) -> None:
        pool = self.inv.pool_by_uuid[h.pool]
        host_ov, dom0_mem, dom0_ov = split_host_overhead(h.memory_overhead_bytes)
        metrics = self.new(h.pool, "host_metrics", {
            "memory_total": i(h.memory_total_bytes), "memory_free": i(0), "live": True,
            "last_updated": self.now, "other_config": {},
        })  # fmt: skip
        ref = self.ref[h.uuid]
        f = h.cpu.features
        cpu_info = {
            "cpu_count": i(h.cpu.count), "socket_count": i(2 if h.cpu.count >= 16 else 1),
            "threads_per_core": "2", "nr_nodes": "1", "vendor": h.cpu.vendor,
            "speed": "2999.998", "modelname": h.cpu.model, "family": "6", "model": "85",
            "stepping": "7", "flags": "fpu de tsc msr pae mce cx8 apic sep mtrr", "features": f,
            "features_pv": f, "features_hvm": f, "features_pv_host": f, "features_hvm_host": f,
        }  # fmt: skip
        brand = "Citrix Hypervisor" if h.version.startswith("8.2") else "XenServer"
        software = {
            "product_version": h.version, "product_version_text": h.version,
            "product_version_text_short": h.version, "product_brand": brand,
            "platform_name": "XCP", "platform_version": platform_version(h.version),
            "build_number": "release/yangtze/master/8", "xapi": "24.19", "xapi_build": "24.19.1",
            "xen": "4.17.3-4", "linux": "4.19.0+1", "hostname": h.name, "date": "2026-01-15",
            "db_schema": "5.780",
        }  # fmt: skip
        updates = [self.ref[f"update:{h.pool}:{x}"] for x in h.hotfixes]
        for u in updates:
            self.db.get(u)["hosts"].append(ref)
        dom0 = self.refs.ref()
        rec = {
            "name_label": h.name, "name_description": "", "memory_overhead": i(host_ov),
            "allowed_operations": ["provision", "evacuate", "vm_start", "vm_resume",
                                   "vm_migrate"],
            "current_operations": {}, "API_version_major": "2", "API_version_minor": "21",
            "API_version_vendor": "XenSource", "API_version_vendor_implementation": {},
            "enabled": h.enabled, "software_version": software, "other_config": {},
            "capabilities": ["xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_64"],
            "cpu_configuration": {}, "sched_policy": "credit", "supported_bootloaders": ["pygrub"],
            "resident_VMs": [dom0], "logging": {}, "PIFs": [], "suspend_image_sr": NULL_REF,
            "crash_dump_sr": NULL_REF, "crashdumps": [], "patches": [], "updates": updates,
            "PBDs": [], "host_CPUs": [], "cpu_info": cpu_info, "hostname": h.name,
            "address": "127.0.0.1", "metrics": metrics, "license_params": {},
            "ha_statefiles": [], "ha_network_peers": [], "blobs": {}, "tags": [],
            "external_auth_type": "", "external_auth_service_name": "",
            "external_auth_configuration": {}, "edition": "xenserver-premium",
            "license_server": {}, "bios_strings": {}, "power_on_mode": "",
            "power_on_config": {}, "local_cache_sr": NULL_REF, "chipset_info": {},
            "PCIs": [], "PGPUs": [], "PUSBs": [], "ssl_legacy": False, "guest_VCPUs_params": {},
            "display": "enabled", "virtual_hardware_platform_versions": ["0", "1", "2"],
            "control_domain": dom0, "updates_requiring_reboot": [], "features": [],
            "iscsi_iqn": f"iqn.2026-01.com.example:{h.name}", "multipathing": False,
            "uefi_certificates": "", "certificates": [], "editions": ["xenserver-premium"],
            "pending_guidances": [], "tls_verification_enabled": True,
            "https_only": pool.https_only,
        }  # fmt: skip
        self.new(h.pool, "host", rec, ref=ref, uuid=h.uuid)
        self.control_domain(h, dom0, dom0_mem, dom0_ov)

    def control_domain(self, h: Host, ref: str, mem: int, ov: int) -> None:
        rec = self.vm_base(f"Control domain on host: {h.name}", "Running", mem, mem, ov, 16)
        rec.update({
            "is_control_domain": True, "resident_on": self.ref[h.uuid], "domid": "0",
            "domain_type": "pv", "allowed_operations": [],
            "other_config": {"storage_driver_domain": ref, "is_system_domain": "true"},
            "last_boot_CPU_flags": {"vendor": h.cpu.vendor, "features": h.cpu.features},
        })  # fmt: skip
        rec["metrics"] = self.vm_metrics(h.pool, mem + ov, 16, "Running")
        self.new(h.pool, "VM", rec, ref=ref)

    # ------------------------------------------------------------------ storage
    def sr(self, s: SR) -> None:
        ref = self.ref[s.uuid]
        rec = {
            "name_label": s.name, "name_description": "", "allowed_operations": [
                "vdi_create", "vdi_destroy", "vdi_snapshot", "vdi_clone", "vdi_resize",
                "vdi_mirror", "vdi_enable_cbt", "vdi_disable_cbt", "scan", "update"],
            "current_operations": {}, "VDIs": [], "PBDs": [], "virtual_allocation": i(0),
            "physical_utilisation": i(s.used_bytes), "physical_size": i(s.size_bytes),
            "type": s.type, "content_type": "user", "shared": s.shared, "other_config": {},
            "tags": [], "sm_config": {}, "blobs": {}, "local_cache_enabled": False,
            "introduced_by": NULL_REF, "clustered": False, "is_tools_sr": False,
        }  # fmt: skip
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
            "name_label": n.name, "name_description": "", "allowed_operations": [],
            "current_operations": {}, "VIFs": [], "PIFs": [], "MTU": i(1500), "other_config": {},
            "bridge": f"xenbr{idx}", "managed": True, "blobs": {}, "tags": [],
            "default_locking_mode": "unlocked", "assigned_ips": {}, "purpose": [],
        }  # fmt: skip
        self.new(n.pool, "network", rec, ref=ref, uuid=n.uuid)
        for hu in n.hosts:
            pif = self.pif(n.pool, ref, self.ref[hu], f"eth{idx}", n.management, not n.sriov,
                           ip=hu in n.ip_hosts)
            self.pif_of[(hu, n.uuid)] = pif
            if n.sriov:
                sriov = self.new(n.pool, "network_sriov", {
                    "physical_PIF": pif, "logical_PIF": pif, "requires_reboot": False,
                    "configuration_mode": "sysfs",
                })  # fmt: skip
                self.db.get(pif)["sriov_logical_PIF_of"] = [sriov]
                self.db.get(pif)["sriov_physical_PIF_of"] = [sriov]

    # ------------------------------------------------------------------ VMs
    def vm_group(self, g: VMGroup) -> None:
        """XAPI's VM_group (ocaml/idl/datamodel_vm_group.ml): placement is the enum
        `anti_affinity` | `normal`; `VMs` is filled as member VMs are added."""
        self.new(g.pool, "VM_group", {
            "name_label": g.name, "name_description": "",
            "placement": "anti_affinity" if g.placement == "anti-affinity" else "normal",
            "VMs": [],
        }, ref=self.ref[g.uuid], uuid=g.uuid)  # fmt: skip

    def vm(self, v: VM) -> None:
        ref = self.ref[v.uuid]
        static_max, dyn_min, ov = split_vm_memory(v.memory_bytes, v.memory_min_bytes)
        rec = self.vm_base(v.name, v.power_state, static_max, dyn_min, ov, v.vcpus)
        up = v.power_state in ("Running", "Paused")
        master = self.inv.master_of(v.pool)
        other = {"base_template_name": OS_TEMPLATES.get(v.os, OS_TEMPLATES["other"])}
        if v.mcs:
            other[MCS_KEY] = "true"
        platform = {"acpi": "1", "viridian": "true" if v.os == "windows" else "false"}
        rec.update({
            "resident_on": self.r(v.host) if up and v.host else NULL_REF,
            "affinity": self.r(v.affinity), "domid": str(len(self.db.where) % 4000 + 1)
            if up else "-1", "last_boot_CPU_flags": _boot_flags(v, master),
            "other_config": other, "platform": platform, "tags": list(v.tags),
            "ha_always_run": v.ha_protected,
            "ha_restart_priority": "restart" if v.ha_protected else "",
        })  # fmt: skip
        rec["metrics"] = self.vm_metrics(v.pool, v.memory_bytes, v.vcpus, v.power_state)
        if v.tools:
            rec["guest_metrics"] = self.guest_metrics(v.pool, v.os if v.os in OS_VERSION
                                                      else "other")  # fmt: skip
        self.new(v.pool, "VM", rec, ref=ref, uuid=v.uuid)
        if up and v.host:
            self.db.get(self.ref[v.host])["resident_VMs"].append(ref)
        # the order of these calls fixes the refs of the records they make: keep it
        self.vm_disks(v, ref, up)
        if v.suspend_vdi is not None:
            sv = v.suspend_vdi
            rec["suspend_VDI"] = self.vdi(v.pool, self.ref[sv.sr], f"Suspend image for {v.name}",
                                          size=sv.size_bytes, used=sv.used_bytes, uuid=sv.uuid,
                                          type="suspend")  # fmt: skip
            self.ref[sv.uuid] = rec["suspend_VDI"]
        for g in v.groups:
            gref = self.ref.get(g)
            if gref is not None and self.db.maybe(gref) is not None:
                rec["groups"].append(gref)
                self.db.get(gref)["VMs"].append(ref)
        for x in v.vifs:
            vif = self.vif(v.pool, ref, x.device, self.r(x.network), up)
            rec["VIFs"].append(vif)
        host_ref = self.r(v.host) if up and v.host else self.ref[master.uuid]
        if v.pci:
            rec["attached_PCIs"] = [self.pci(v.pool, host_ref)]
        if v.vgpu:
            rec["VGPUs"] = [self.vgpu(v.pool, ref, up)]

    def vm_disks(self, v: VM, ref: str, up: bool) -> None:
        """A VDI and VBD per disk of `v` (VM ref `ref`), and a snapshot VDI for its
        snapshot bytes."""
        for n, d in enumerate(v.disks):
            vdi = self.vdi(v.pool, self.ref[d.sr], f"{v.name} disk {n}", size=d.size_bytes,
                           used=d.used_bytes, uuid=d.uuid, cbt=d.cbt, on_boot=d.on_boot)
            self.ref[d.uuid] = vdi
            self.vbd(v.pool, ref, vdi, n, attached=up)
            if d.snapshot_used_bytes:
                # (v2) one snapshot VDI holding the disk's snapshot bytes (VDI.snapshots)
                snap = self.vdi(v.pool, self.ref[d.sr], f"{v.name} disk {n} snapshot",
                                size=d.size_bytes, used=d.snapshot_used_bytes,
                                snapshot_of=vdi)  # fmt: skip
                self.db.get(vdi)["snapshots"].append(snap)

    # ------------------------------------------------------------------ filler objects
    def extras(self, p: Pool) -> None:
        """Objects a real pool has that are not inventory objects (the collector drops them)."""
        hosts = self.inv.hosts_in_pool.get(p.uuid, [])
        tools_sr = self.new(p.uuid, "SR", {
            "name_label": "XenServer Tools", "name_description": "XenServer Tools ISOs",
            "allowed_operations": [], "current_operations": {}, "VDIs": [], "PBDs": [],
            "virtual_allocation": i(0), "physical_utilisation": i(0), "physical_size": i(0),
            "type": "iso", "content_type": "iso", "shared": True, "other_config": {},
            "tags": [], "sm_config": {}, "blobs": {}, "local_cache_enabled": False,
            "introduced_by": NULL_REF, "clustered": False, "is_tools_sr": True,
        })  # fmt: skip
        for h in hosts:
            self.pbd(p.uuid, tools_sr, self.ref[h.uuid], True)
        iso = self.vdi(p.uuid, tools_sr, "guest-tools.iso", size=60 * 2**20, used=60 * 2**20,
                       type="user", read_only=True, is_tools_iso=True)
        for v in self.inv.vms_in_pool.get(p.uuid, []):
            if v.os == "windows":
                self.vbd(p.uuid, self.ref[v.uuid], iso, 3, type="CD", attached=v.is_running)
            elif v.os == "other":
                self.vbd(p.uuid, self.ref[v.uuid], NULL_REF, 3, type="CD")
        self.new(p.uuid, "network", {
            "name_label": "Host internal management network", "name_description": "",
            "allowed_operations": [], "current_operations": {}, "VIFs": [], "PIFs": [],
            "MTU": i(1500), "other_config": {"is_guest_installer_network": "true",
                                             "is_host_internal_management_network": "true",
                                             "ip_begin": "169.254.0.1",
                                             "ip_end": "169.254.255.254"},
            "bridge": "xenapi", "managed": True, "blobs": {}, "tags": [],
            "default_locking_mode": "unlocked", "assigned_ips": {}, "purpose": [],
        })  # fmt: skip
        for name in ("Windows Server 2019 (64-bit)", "Ubuntu Jammy Jellyfish 22.04"):
            rec = self.vm_base(name, "Halted", 2 * 2**30, 2 * 2**30, 0, 2)
            rec.update({"is_a_template": True, "is_default_template": True,
                        "other_config": {"default_template": "true"}})  # fmt: skip
            rec["metrics"] = self.vm_metrics(p.uuid, 0, 2, "Halted")
            self.new(p.uuid, "VM", rec)
        self.snapshot(p)

    def snapshot(self, p: Pool) -> None:
        """A snapshot of the pool's first VM with a disk (a VM record the collector skips)."""
        vm = next((v for v in self.inv.vms_in_pool.get(p.uuid, []) if v.disks), None)
        if vm is None:
            return
        static_max, dyn_min, ov = split_vm_memory(vm.memory_bytes, vm.memory_min_bytes)
        rec = self.vm_base(f"{vm.name} before upgrade", "Halted", static_max, dyn_min, ov,
                           vm.vcpus)  # fmt: skip
        src = self.ref[vm.uuid]
        rec.update({"is_a_snapshot": True, "snapshot_of": src, "tags": list(vm.tags)})
        rec["metrics"] = self.vm_metrics(p.uuid, 0, vm.vcpus, "Halted")
        ref = self.new(p.uuid, "VM", rec)
        self.db.get(src)["snapshots"].append(ref)
        d = vm.disks[0]
        have = self.db.get(self.ref[d.uuid])["snapshots"]
        if have:  # the disk's own snapshot VDI (snapshot_used_bytes) serves this snapshot
            vdi = have[0]
        else:
            # no snapshot bytes in the inventory: an empty snapshot VDI keeps the
            # collected snapshot_used_bytes (the sum over VDI.snapshots) at 0
            vdi = self.vdi(p.uuid, self.ref[d.sr], f"{vm.name} disk 0 snapshot",
                           size=d.size_bytes, used=0, snapshot_of=self.ref[d.uuid])
            have.append(vdi)
        self.vbd(p.uuid, ref, vdi, 0, attached=False)


def _boot_flags(v: VM, master: Host) -> dict[str, str]:
    """`last_boot_CPU_flags` of `v`: its own, else (halted) its pool master's."""
    if v.cpu_vendor:
        return {"vendor": v.cpu_vendor, "features": v.cpu_features or ""}
    if v.power_state == "Halted":
        # a halted VM keeps the flags of its last boot; the collector must ignore them
        return {"vendor": master.cpu.vendor, "features": master.cpu.features}
    return {}


def build(inv: Inventory, seed: int = 0) -> tuple[Db, dict[str, str]]:
    """The records of `inv` and the map inventory uuid -> ref."""
    from planner.inventory.collect import gc_paused

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

