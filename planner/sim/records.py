"""XAPI records one at a time (opaque refs, uuids, the fields clients read), for
`planner.sim.objects.Builder`, which walks an inventory and calls these."""

from __future__ import annotations

from planner.inventory.model import RESIDENT_STATES, Inventory
from planner.sim.db import Db, Record
from planner.sim.wire import NULL_REF, RefMaker, i, xapi_datetime

MCS_KEY = "mcs"
OS_TEMPLATES = {
    "windows": "Windows Server 2019 (64-bit)",
    "linux": "Ubuntu Jammy Jellyfish 22.04",
    "other": "Other install media",
}
OS_VERSION = {
    "windows": {
        "name": "Microsoft Windows Server 2019 Standard|C:\\Windows|\\Device\\Harddisk0"
        "\\Partition2",
        "distro": "windows",
        "major": "10",
        "minor": "0",
    },
    "linux": {
        "name": "Ubuntu 22.04.3 LTS",
        "uname": "5.15.0-91-generic",
        "distro": "ubuntu",
        "major": "22",
        "minor": "04",
    },
    "other": {
        "name": "FreeBSD 13.2-RELEASE",
        "uname": "13.2-RELEASE",
        "distro": "freebsd",
        "major": "13",
        "minor": "2",
    },
}
RUNNING_OPS = ["pool_migrate", "migrate_send", "clean_shutdown", "suspend"]
HALTED_OPS = ["start", "migrate_send", "export", "destroy"]
SUSPENDED_OPS = ["resume", "migrate_send", "hard_shutdown"]
PAUSED_OPS = ["unpause", "pool_migrate", "migrate_send", "hard_shutdown"]
ALLOWED_OPS = {
    "Running": RUNNING_OPS,
    "Paused": PAUSED_OPS,
    "Suspended": SUSPENDED_OPS,
    "Halted": HALTED_OPS,
}


def split_host_overhead(overhead: int) -> tuple[int, int, int]:
    """(host.memory_overhead, dom0 memory_static_max, dom0 memory_overhead), summing exactly."""
    host_ov = overhead // 8
    dom0_ov = overhead // 64
    return host_ov, overhead - host_ov - dom0_ov, dom0_ov


def split_vm_memory(memory: int, memory_min: int) -> tuple[int, int, int]:
    """(memory_static_max, memory_dynamic_min, memory_overhead) for a VM's footprint."""
    ov = max(0, min(memory // 128, memory_min))
    return memory - ov, memory_min - ov, ov


def platform_version(product: str) -> str:
    """XenServer 8.x runs platform 3.x (product major - 5); used only as a fallback."""
    parts = product.split(".")
    if parts and parts[0].isdigit() and int(parts[0]) >= 5:
        parts[0] = str(int(parts[0]) - 5)
    return ".".join(parts)


class Records:
    """Makes one XAPI record per call into a `Db`, refs and uuids from a seeded maker (the
    order of calls fixes every ref: callers keep it)."""

    def __init__(self, inv: Inventory, seed: int) -> None:
        self.inv = inv
        self.refs = RefMaker(seed)
        self.db = Db()
        self.now = xapi_datetime()
        self.ref: dict[str, str] = {}  # inventory uuid -> ref
        self.pif_of: dict[tuple[str, str], str] = {}  # (host, network) -> PIF ref

    def new(
        self, pool: str, cls: str, rec: Record, ref: str | None = None, uuid: str | None = None
    ) -> str:
        ref = ref or self.refs.ref()
        rec["uuid"] = uuid or self.refs.uuid()
        self.db.add(pool, cls, ref, rec)
        return ref

    def r(self, uuid: str | None) -> str:
        return self.ref.get(uuid, NULL_REF) if uuid else NULL_REF

    def pbd(self, pool: str, sr: str, host: str, attached: bool) -> None:
        pbd = self.new(
            pool,
            "PBD",
            {
                "host": host,
                "SR": sr,
                "device_config": {},
                "currently_attached": attached,
                "other_config": {},
            },
        )
        self.db.get(sr)["PBDs"].append(pbd)
        self.db.get(host)["PBDs"].append(pbd)

    def vdi(
        self,
        pool: str,
        sr: str,
        name: str,
        *,
        size: int,
        used: int,
        uuid: str | None = None,
        cbt: bool = False,
        on_boot: str = "persist",
        type: str = "user",
        snapshot_of: str = NULL_REF,
        read_only: bool = False,
        is_tools_iso: bool = False,
    ) -> str:
        rec = {
            "name_label": name,
            "current_operations": {},
            "SR": sr,
            "VBDs": [],
            "virtual_size": i(size),
            "physical_utilisation": i(used),
            "type": type,
            "sharable": False,
            "read_only": read_only,
            "other_config": {},
            "location": uuid or "",
            "managed": True,
            "is_a_snapshot": snapshot_of != NULL_REF,
            "snapshot_of": snapshot_of,
            "snapshots": [],
            "allow_caching": False,
            "on_boot": on_boot,
            "is_tools_iso": is_tools_iso,
            "cbt_enabled": cbt,
        }
        ref = self.new(pool, "VDI", rec, uuid=uuid)
        if not rec["location"]:
            rec["location"] = rec["uuid"]
        srec = self.db.get(sr)
        srec["VDIs"].append(ref)
        srec["virtual_allocation"] = i(int(srec["virtual_allocation"]) + size)
        return ref

    def vbd(
        self,
        pool: str,
        vm: str,
        vdi: str,
        userdevice: int,
        *,
        type: str = "Disk",
        attached: bool = True,
    ) -> str:
        empty = vdi == NULL_REF
        rec = {
            "VM": vm,
            "VDI": vdi,
            "device": f"xvd{chr(ord('a') + userdevice % 26)}",
            "userdevice": str(userdevice),
            "bootable": userdevice == 0,
            "mode": "RO" if type == "CD" else "RW",
            "type": type,
            "empty": empty,
            "other_config": {},
            "currently_attached": attached,
        }
        ref = self.new(pool, "VBD", rec)
        self.db.get(vm)["VBDs"].append(ref)
        if not empty:
            self.db.get(vdi)["VBDs"].append(ref)
        return ref

    def pif(
        self,
        pool: str,
        net: str,
        host: str,
        device: str,
        management: bool,
        physical: bool,
        ip: bool | None = None,
    ) -> str:
        """A PIF; `ip` (default: `management`) gives it a static IPv4 address, which is
        what makes a network's `ip_hosts` and what host.migrate_receive needs."""
        n = len(self.pif_of) + 1
        ip = management if ip is None else ip
        rec = {
            "device": device,
            "network": net,
            "host": host,
            "MAC": f"02:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}:01",
            "MTU": i(1500),
            "VLAN": i(-1),
            "metrics": NULL_REF,
            "physical": physical,
            "currently_attached": True,
            "ip_configuration_mode": "Static" if ip else "None",
            "IP": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" if ip else "",
            "netmask": "255.0.0.0" if ip else "",
            "gateway": "",
            "DNS": "",
            "bond_slave_of": NULL_REF,
            "bond_master_of": [],
            "VLAN_master_of": NULL_REF,
            "VLAN_slave_of": [],
            "management": management,
            "other_config": {},
            "disallow_unplug": management,
            "tunnel_access_PIF_of": [],
            "tunnel_transport_PIF_of": [],
            "ipv6_configuration_mode": "None",
            "IPv6": [],
            "ipv6_gateway": "",
            "primary_address_type": "IPv4",
            "managed": True,
            "properties": {},
            "capabilities": [],
            "igmp_snooping_status": "unknown",
            "sriov_physical_PIF_of": [],
            "sriov_logical_PIF_of": [],
            "PCI": NULL_REF,
        }
        ref = self.new(pool, "PIF", rec)
        self.db.get(net)["PIFs"].append(ref)
        self.db.get(host)["PIFs"].append(ref)
        return ref

    def vm_base(
        self, name: str, state: str, static_max: int, dyn_min: int, ov: int, vcpus: int
    ) -> Record:
        # A subset of XAPI's ~100 VM fields: the ones clients of a migration planner read
        # (docs/simulator.md). Fewer fields keep get_all_records of 40,000 VMs fast.
        return {
            "name_label": name,
            "name_description": "",
            "allowed_operations": list(ALLOWED_OPS[state]),
            "current_operations": {},
            "power_state": state,
            "is_a_template": False,
            "is_default_template": False,
            "is_a_snapshot": False,
            "snapshot_of": NULL_REF,
            "snapshots": [],
            "suspend_VDI": NULL_REF,
            "resident_on": NULL_REF,
            "scheduled_to_be_resident_on": NULL_REF,
            "affinity": NULL_REF,
            "memory_overhead": i(ov),
            "memory_target": i(static_max),
            "memory_static_max": i(static_max),
            "memory_dynamic_max": i(static_max),
            "memory_dynamic_min": i(dyn_min),
            "memory_static_min": i(min(dyn_min, static_max)),
            "VCPUs_max": i(vcpus),
            "VCPUs_at_startup": i(vcpus),
            "VIFs": [],
            "VBDs": [],
            "VUSBs": [],
            "platform": {},
            "other_config": {},
            "domid": "-1",
            "last_boot_CPU_flags": {},
            "is_control_domain": False,
            "metrics": NULL_REF,
            "guest_metrics": NULL_REF,
            "ha_always_run": False,
            "ha_restart_priority": "",
            "VGPUs": [],
            "attached_PCIs": [],
            "domain_type": "hvm",
            "tags": [],
            "blocked_operations": {},
            "groups": [],
        }

    def vm_metrics(self, pool: str, memory: int, vcpus: int, state: str) -> str:
        up = state in RESIDENT_STATES
        return self.new(
            pool,
            "VM_metrics",
            {
                "memory_actual": i(memory if up else 0),
                "VCPUs_number": i(vcpus if up else 0),
                "start_time": self.now,
                "last_updated": self.now,
                "other_config": {},
                "hvm": True,
                "nomigrate": False,
                "current_domain_type": "hvm" if up else "unspecified",
            },
        )

    def guest_metrics(self, pool: str, os: str) -> str:
        return self.new(
            pool,
            "VM_guest_metrics",
            {
                "os_version": dict(OS_VERSION[os]),
                "PV_drivers_version": {"major": "9", "minor": "3", "micro": "3", "build": "83"},
                "PV_drivers_up_to_date": True,
                "PV_drivers_detected": True,
                "last_updated": self.now,
                "other_config": {},
                "live": True,
            },
        )

    def vif(self, pool: str, vm: str, device: str, net: str, up: bool) -> str:
        """A VIF of VM `vm` on network `net` (listed in the network's VIFs when it exists)."""
        vif = self.new(
            pool,
            "VIF",
            {
                "device": device,
                "network": net,
                "VM": vm,
                "MAC": f"16:3e:{int(device) if device.isdigit() else 0:02x}:"
                f"{vm[-6:-4]}:{vm[-4:-2]}:{vm[-2:]}",
                "MTU": i(1500),
                "other_config": {},
                "currently_attached": up,
                "locking_mode": "network_default",
            },
        )
        rec = self.db.maybe(net)
        if rec is not None:
            rec["VIFs"].append(vif)
        return vif

    def pci(self, pool: str, host: str) -> str:
        """A passed-through NIC on `host` (a VM with one cannot migrate)."""
        return self.new(
            pool,
            "PCI",
            {
                "class_name": "Network controller",
                "vendor_name": "Intel Corporation",
                "device_name": "Ethernet Controller X710",
                "host": host,
                "dependencies": [],
                "other_config": {},
                "subsystem_vendor_name": "",
                "subsystem_device_name": "",
                "driver_name": "vfio-pci",
                "pci_id": "0000:3b:00.0",
            },
        )

    def vgpu(self, pool: str, vm: str, up: bool) -> str:
        """A vGPU of VM `vm`."""
        return self.new(
            pool,
            "VGPU",
            {
                "VM": vm,
                "GPU_group": NULL_REF,
                "device": "0",
                "currently_attached": up,
                "other_config": {},
                "type": NULL_REF,
                "resident_on": NULL_REF,
                "scheduled_to_be_resident_on": NULL_REF,
                "compatibility_metadata": {},
                "extra_args": "",
                "PCI": NULL_REF,
            },
        )
