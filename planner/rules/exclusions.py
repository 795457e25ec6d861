"""VM-level exclusions (FORMATS.md rule 8): properties that forbid a kind of migration."""

from __future__ import annotations

from planner.inventory.model import VM, Inventory
from planner.moves import Reason
from planner.rules import codes

STORAGE_KINDS = ("storage", "move")


def exclusion_reasons(inv: Inventory, vm: VM, kind: str) -> list[Reason]:
    """Why `vm` cannot make a migration of `kind` ("live", "storage", "move") at all.

    CBT and MCS block only the moves that copy disks (storage, move); everything else
    blocks every kind. Windows without tools only matters while the guest is up
    (Running, Paused, Suspended). A Paused VM cannot migrate at all: XAPI allows
    `pool_migrate` only from Running and `migrate_send` only from Running, Suspended or
    Halted (`xapi_vm_lifecycle.ml`, `allowed_power_states`).
    """
    out: list[Reason] = []
    if vm.power_state == "Paused":
        out.append(
            Reason(
                codes.PAUSED,
                f"{vm.name} is Paused: XAPI migrates only Running, Suspended or "
                "Halted VMs; unpause it",
            )
        )
    pool = inv.pool_by_uuid.get(vm.pool)
    if vm.ha_protected and pool is not None and pool.ha_enabled:
        out.append(
            Reason(
                codes.HA_PROTECTED,
                f"{vm.name} is HA-protected in pool {pool.name}: disable its "
                "HA restart priority (or HA) before migrating",
            )
        )
    nets = inv.network_by_uuid
    sriov = [x.device for x in vm.vifs if (n := nets.get(x.network)) is not None and n.sriov]
    if sriov:
        msg = f"{vm.name} has VIF {', '.join(sriov)} on an SR-IOV network"
        out.append(Reason(codes.SRIOV, msg))
    if vm.pci:
        out.append(Reason(codes.PCI, f"{vm.name} has a PCI passthrough device"))
    if vm.vgpu:
        out.append(Reason(codes.VGPU, f"{vm.name} has a vGPU"))
    reset = [d.uuid for d in vm.disks if d.on_boot == "reset"]
    if reset:
        out.append(
            Reason(
                codes.ON_BOOT_RESET,
                f"{vm.name} has disk {', '.join(reset)} with on-boot=reset: set "
                "on-boot=persist to migrate it",
            )
        )
    if vm.os == "windows" and not vm.tools and vm.power_state != "Halted":
        out.append(
            Reason(
                codes.NO_TOOLS,
                f"{vm.name} is a Windows VM running without VM tools: install "
                "the XenServer VM Tools",
            )
        )
    if kind in STORAGE_KINDS:
        cbt = [d.uuid for d in vm.disks if d.cbt]
        if cbt:
            out.append(
                Reason(
                    codes.CBT,
                    f"{vm.name} has disk {', '.join(cbt)} with changed block "
                    "tracking: disable CBT to move its storage",
                )
            )
        if vm.mcs:
            out.append(
                Reason(
                    codes.MCS,
                    f"{vm.name} was created by Machine Creation Services: its "
                    "storage cannot be migrated",
                )
            )
    return out
