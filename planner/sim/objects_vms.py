"""The VM side of the simulator's XAPI records: VMs with their disks, VIFs, groups and
devices, and the filler objects a real pool has (tools SR and ISO, templates, a snapshot).

`VmBuilder` is the half of `planner.sim.objects.Builder` that makes these records; the
module docstring of planner.sim.objects says how inventory keys map onto XAPI fields.
"""

from __future__ import annotations

from planner.inventory.model import RESIDENT_STATES, VM, Host, Pool, VMGroup
from planner.sim.records import MCS_KEY, OS_TEMPLATES, OS_VERSION, Records, split_vm_memory
from planner.sim.wire import NULL_REF, i


class VmBuilder(Records):
    """Makes the VM-side records of an inventory (uses `Records`' helpers)."""

    # ------------------------------------------------------------------ VMs
    def vm_group(self, g: VMGroup) -> None:
        """XAPI's VM_group (ocaml/idl/datamodel_vm_group.ml): placement is the enum
        `anti_affinity` | `normal`; `VMs` is filled as member VMs are added."""
        self.new(
            g.pool,
            "VM_group",
            {
                "name_label": g.name,
                "name_description": "",
                "placement": "anti_affinity" if g.placement == "anti-affinity" else "normal",
                "VMs": [],
            },
            ref=self.ref[g.uuid],
            uuid=g.uuid,
        )

    def vm(self, v: VM) -> None:
        ref = self.ref[v.uuid]
        static_max, dyn_min, ov = split_vm_memory(v.memory_bytes, v.memory_min_bytes)
        rec = self.vm_base(v.name, v.power_state, static_max, dyn_min, ov, v.vcpus)
        up = v.power_state in RESIDENT_STATES
        master = self.inv.master_of(v.pool)
        other = {"base_template_name": OS_TEMPLATES.get(v.os, OS_TEMPLATES["other"])}
        if v.mcs:
            other[MCS_KEY] = "true"
        platform = {"acpi": "1", "viridian": "true" if v.os == "windows" else "false"}
        rec.update(
            {
                "resident_on": self.r(v.host) if up and v.host else NULL_REF,
                "affinity": self.r(v.affinity),
                "domid": str(len(self.db.where) % 4000 + 1) if up else "-1",
                "last_boot_CPU_flags": _boot_flags(v, master),
                "other_config": other,
                "platform": platform,
                "tags": list(v.tags),
                "ha_always_run": v.ha_protected,
                "ha_restart_priority": "restart" if v.ha_protected else "",
            }
        )
        rec["metrics"] = self.vm_metrics(v.pool, v.memory_bytes, v.vcpus, v.power_state)
        if v.tools:
            rec["guest_metrics"] = self.guest_metrics(
                v.pool, v.os if v.os in OS_VERSION else "other"
            )
        self.new(v.pool, "VM", rec, ref=ref, uuid=v.uuid)
        if up and v.host:
            self.db.get(self.ref[v.host])["resident_VMs"].append(ref)
        # the order of these calls fixes the refs of the records they make: keep it
        self.vm_disks(v, ref, up)
        if v.suspend_vdi is not None:
            sv = v.suspend_vdi
            rec["suspend_VDI"] = self.vdi(
                v.pool,
                self.ref[sv.sr],
                f"Suspend image for {v.name}",
                size=sv.size_bytes,
                used=sv.used_bytes,
                uuid=sv.uuid,
                type="suspend",
            )
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
            vdi = self.vdi(
                v.pool,
                self.ref[d.sr],
                f"{v.name} disk {n}",
                size=d.size_bytes,
                used=d.used_bytes,
                uuid=d.uuid,
                cbt=d.cbt,
                on_boot=d.on_boot,
            )
            self.ref[d.uuid] = vdi
            self.vbd(v.pool, ref, vdi, n, attached=up)
            if d.snapshot_used_bytes:
                # (v2) one snapshot VDI holding the disk's snapshot bytes (VDI.snapshots)
                snap = self.vdi(
                    v.pool,
                    self.ref[d.sr],
                    f"{v.name} disk {n} snapshot",
                    size=d.size_bytes,
                    used=d.snapshot_used_bytes,
                    snapshot_of=vdi,
                )
                self.db.get(vdi)["snapshots"].append(snap)

    # ------------------------------------------------------------------ filler objects
    def extras(self, p: Pool) -> None:
        """Objects a real pool has that are not inventory objects (the collector drops them)."""
        hosts = self.inv.hosts_in_pool.get(p.uuid, [])
        tools_sr = self.new(
            p.uuid,
            "SR",
            {
                "name_label": "XenServer Tools",
                "name_description": "XenServer Tools ISOs",
                "allowed_operations": [],
                "current_operations": {},
                "VDIs": [],
                "PBDs": [],
                "virtual_allocation": i(0),
                "physical_utilisation": i(0),
                "physical_size": i(0),
                "type": "iso",
                "content_type": "iso",
                "shared": True,
                "other_config": {},
                "tags": [],
                "sm_config": {},
                "blobs": {},
                "local_cache_enabled": False,
                "introduced_by": NULL_REF,
                "clustered": False,
                "is_tools_sr": True,
            },
        )
        for h in hosts:
            self.pbd(p.uuid, tools_sr, self.ref[h.uuid], True)
        iso = self.vdi(
            p.uuid,
            tools_sr,
            "guest-tools.iso",
            size=60 * 2**20,
            used=60 * 2**20,
            type="user",
            read_only=True,
            is_tools_iso=True,
        )
        for v in self.inv.vms_in_pool.get(p.uuid, []):
            if v.os == "windows":
                self.vbd(p.uuid, self.ref[v.uuid], iso, 3, type="CD", attached=v.is_running)
            elif v.os == "other":
                self.vbd(p.uuid, self.ref[v.uuid], NULL_REF, 3, type="CD")
        self.new(
            p.uuid,
            "network",
            {
                "name_label": "Host internal management network",
                "name_description": "",
                "allowed_operations": [],
                "current_operations": {},
                "VIFs": [],
                "PIFs": [],
                "MTU": i(1500),
                "other_config": {
                    "is_guest_installer_network": "true",
                    "is_host_internal_management_network": "true",
                    "ip_begin": "169.254.0.1",
                    "ip_end": "169.254.255.254",
                },
                "bridge": "xenapi",
                "managed": True,
                "blobs": {},
                "tags": [],
                "default_locking_mode": "unlocked",
                "assigned_ips": {},
                "purpose": [],
            },
        )
        for name in ("Windows Server 2019 (64-bit)", "Ubuntu Jammy Jellyfish 22.04"):
            rec = self.vm_base(name, "Halted", 2 * 2**30, 2 * 2**30, 0, 2)
            rec.update(
                {
                    "is_a_template": True,
                    "is_default_template": True,
                    "other_config": {"default_template": "true"},
                }
            )
            rec["metrics"] = self.vm_metrics(p.uuid, 0, 2, "Halted")
            self.new(p.uuid, "VM", rec)
        self.snapshot(p)

    def snapshot(self, p: Pool) -> None:
        """A snapshot of the pool's first VM with a disk (a VM record the collector skips)."""
        vm = next((v for v in self.inv.vms_in_pool.get(p.uuid, []) if v.disks), None)
        if vm is None:
            return
        static_max, dyn_min, ov = split_vm_memory(vm.memory_bytes, vm.memory_min_bytes)
        rec = self.vm_base(f"{vm.name} before upgrade", "Halted", static_max, dyn_min, ov, vm.vcpus)
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
            vdi = self.vdi(
                p.uuid,
                self.ref[d.sr],
                f"{vm.name} disk 0 snapshot",
                size=d.size_bytes,
                used=0,
                snapshot_of=self.ref[d.uuid],
            )
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
