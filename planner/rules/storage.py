"""Storage (FORMATS.md rules 3 and 7): SR reachability and the space a storage move reserves.

During a storage migration the target SR must have 3x the disk's virtual size free and
the source SR 2x (XenServer's documented requirement for snapshot chains and mirrors).
"""

from __future__ import annotations

from collections.abc import Mapping

from planner.inventory.model import SR, VM, Disk, Host, Inventory, SuspendVdi
from planner.moves import Reason
from planner.rules import codes

TARGET_FACTOR = 3
SOURCE_FACTOR = 2


def sr_attached_reasons(sr: SR, host: Host, what: str) -> list[Reason]:
    """Why `host` cannot see `sr` (`what` names the disk for the message)."""
    if host.uuid in sr.hosts:
        return []
    return [Reason(codes.SR_NOT_ATTACHED, f"SR {sr.name} ({what}) is not attached to {host.name}")]


def sr_pool_reasons(sr: SR, to_pool: str, pool_name: str) -> list[Reason]:
    if sr.pool == to_pool:
        return []
    return [Reason(codes.SR_WRONG_POOL, f"SR {sr.name} is not in pool {pool_name}")]


def reserve_on_target(disk: Disk | SuspendVdi) -> int:
    """Bytes reserved on the target SR while `disk` (or a suspend image) moves."""
    return TARGET_FACTOR * disk.size_bytes


def reserve_on_source(disk: Disk | SuspendVdi) -> int:
    """Bytes reserved on the source SR while `disk` (or a suspend image) moves."""
    return SOURCE_FACTOR * disk.size_bytes


def moved_bytes(disk: Disk | SuspendVdi) -> int:
    """Bytes that leave the source SR and land on the target SR once `disk` has moved:
    its `used_bytes` plus (v2) its snapshots' `snapshot_used_bytes`, which a storage
    migration copies with it."""
    return disk.used_bytes + getattr(disk, "snapshot_used_bytes", 0)


def sr_space_reasons(sr: SR, need: int, free: int) -> list[Reason]:
    """Why `sr` cannot take a reservation of `need` bytes with `free` bytes free."""
    if need <= free:
        return []
    need_s, free_s = amounts(need, free)
    return [Reason(codes.SR_SPACE, f"SR {sr.name} needs {need_s}, {free_s} free")]


def gib(n: int | float) -> str:
    """Bytes as GiB with one decimal, for messages."""
    return f"{n / 2**30:.1f} GiB"


def amounts(need: int, free: int) -> tuple[str, str]:
    """`need` and `free` for a message: GiB, with exact bytes when the GiB figures look
    equal (one byte over would otherwise read "needs 4.0 GiB, 4.0 GiB free")."""
    a, b = gib(need), gib(free)
    if a == b:
        return f"{a} ({need} bytes)", f"{b} ({free} bytes)"
    return a, b


def suspend_target(
    inv: Inventory,
    vm: VM,
    at: str,
    to_host: str | None,
    to_pool: str,
    disk_to_sr: Mapping[str, str],
) -> str | None:
    """The SR a Suspended VM's memory image ends on after a migration (None: no image).

    XAPI (xapi_vm_migrate.ml, the suspend VDIs of `migrate_send`) leaves the image where
    it is when the VM stays in its pool and `to_host` sees its SR (`at`); otherwise it
    copies it. The planner then names its SR explicitly (the executor and `export --to
    xe` map it, so XAPI's fallback to the pool's suspend-image or default SR never
    applies): the target SR of the VM's first disk, which `to_host` sees (rule 7), else
    the target pool's default SR.
    """
    if vm.suspend_vdi is None:
        return None
    sr = inv.sr_by_uuid.get(at)
    if to_pool == vm.pool and sr is not None and (to_host is None or to_host in sr.hosts):
        return at
    for d in vm.disks:
        return disk_to_sr.get(d.uuid, d.sr)
    return inv.pool_by_uuid[to_pool].default_sr


Moved = tuple[Disk | SuspendVdi, str, str]


def vdi_moves(
    inv: Inventory, vm: VM, to_host: str | None, to_pool: str, disk_to_sr: Mapping[str, str]
) -> list[Moved]:
    """Every VDI of `vm` that changes SR in this migration, as (disk or suspend image,
    from SR, to SR): the disks whose target differs from their SR (`disk_to_sr` maps disk
    uuid -> target SR; absent: it stays) and (v2) a Suspended VM's memory image when
    `suspend_target` moves it. FORMATS.md rule 3 reserves 3x / 2x `size_bytes` for each."""
    out: list[Moved] = []
    full = {d.uuid: disk_to_sr.get(d.uuid, d.sr) for d in vm.disks}
    for d in vm.disks:
        if full[d.uuid] != d.sr:
            out.append((d, d.sr, full[d.uuid]))
    sv = vm.suspend_vdi
    if sv is not None and vm.power_state == "Suspended":
        to = suspend_target(inv, vm, sv.sr, to_host, to_pool, full)
        if to is not None and to != sv.sr:
            out.append((sv, sv.sr, to))
    return out
