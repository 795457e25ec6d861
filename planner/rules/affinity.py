"""Anti-affinity VM groups (FORMATS.md rule 8, v2): XenServer's `VM_group` with placement
anti-affinity.

XAPI's own placement (`xapi_vm_helpers.ml`: `vm_has_anti_affinity`,
`rank_hosts_by_vm_cnt_in_group`) and `host.evacuate` (`xapi_ha_vm_failover.ml`, the
"spread evenly" and "no breach" plans) prefer hosts with the fewest running members of the
VM's group; a migration to an explicitly named host is not refused (`xapi_vm_migrate.ml`
only updates the group's breach alert, `Xapi_vm_group_helpers`). The planner is stricter
by default: with `options.anti_affinity` "strict" no migration puts a VM on a host where
another member of one of its anti-affinity groups runs at that moment; "soft" turns each
such placement into a warning ANTI_AFFINITY.

These functions are pure: the caller says where every VM runs at the instant it asks
about (the problem builder: now; the checker and the ledger: at each wave or instant).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping

from planner.inventory.model import VM, Inventory
from planner.moves import Migration, Reason
from planner.rules import codes

ANTI = "anti-affinity"


def anti_groups(inv: Inventory, vm: VM) -> tuple[str, ...]:
    """Uuids of `vm`'s groups whose placement is anti-affinity (unknown groups ignored)."""
    by = inv.vm_group_by_uuid
    return tuple(g for g in vm.groups if (x := by.get(g)) is not None and x.placement == ANTI)


_MEMBERS: dict[int, tuple[weakref.ref, dict[str, tuple[str, ...]]]] = {}


def group_members(inv: Inventory) -> dict[str, tuple[str, ...]]:
    """Anti-affinity group uuid -> uuids of its member VMs (inventory order). Computed
    once per inventory object (the checker asks for every migration)."""
    hit = _MEMBERS.get(id(inv))
    if hit is not None and hit[0]() is inv:
        return hit[1]
    out: dict[str, list[str]] = {}
    for v in inv.vms:
        for g in anti_groups(inv, v):
            out.setdefault(g, []).append(v.uuid)
    members = {g: tuple(m) for g, m in out.items()}
    if len(_MEMBERS) > 32:
        _MEMBERS.clear()
    _MEMBERS[id(inv)] = (weakref.ref(inv), members)
    return members


def current_hosts(inv: Inventory) -> dict[str, str | None]:
    """VM uuid -> the host it runs on now (None unless Running). XAPI counts Running
    members only (`host_to_vm_count_map` skips Paused ones); the planner counts Paused
    ones too, since they hold the host (safe side)."""
    return {v.uuid: v.host if v.is_running else None for v in inv.vms}


def member_hosts(
    inv: Inventory, vm: VM, hosts_of: Mapping[str, str | None]
) -> dict[str, list[str]]:
    """Host uuid -> uuids of the other members of `vm`'s anti-affinity groups running there,
    with `hosts_of` (VM uuid -> host or None) saying where each VM runs at the instant."""
    out: dict[str, list[str]] = {}
    groups = anti_groups(inv, vm)
    if not groups:
        return out
    members = group_members(inv)
    seen: set[str] = {vm.uuid}
    for g in groups:
        for u in members.get(g, ()):
            if u in seen:
                continue
            seen.add(u)
            h = hosts_of.get(u)
            if h is not None:
                out.setdefault(h, []).append(u)
    return out


def anti_affinity_reasons(
    inv: Inventory, vm: VM, to_host: str | None, hosts_of: Mapping[str, str | None]
) -> list[Reason]:
    """Why placing `vm` on `to_host` breaks anti-affinity at the instant `hosts_of`
    describes (VM uuid -> host it runs on, None when not running). Empty when `to_host`
    is None (the VM does not run after the move) or no other member runs there."""
    if to_host is None:
        return []
    others = member_hosts(inv, vm, hosts_of).get(to_host)
    if not others:
        return []
    names = ", ".join(sorted(inv.label(u) for u in others))
    groups = ", ".join(inv.vm_group_by_uuid[g].name for g in anti_groups(inv, vm))
    return [
        Reason(
            codes.ANTI_AFFINITY,
            f"{vm.name} would share {inv.label(to_host)} with {names} "
            f"(anti-affinity group {groups})",
        )
    ]


def anti_affinity_warnings(
    inv: Inventory, waves: Iterable[Iterable[Migration]]
) -> tuple[Reason, ...]:
    """One ANTI_AFFINITY warning per migration that puts a VM next to another member of
    its group during its wave (soft mode: the plan says so instead of refusing). Members
    count on their host from the start of the wave they arrive in until the end of the
    wave they leave in, as the checker's wave mode sees them."""
    if not group_members(inv):
        return ()
    where = current_hosts(inv)
    out: list[Reason] = []
    for wave in waves:
        wave = list(wave)
        during: dict[str, str | None] = dict(where)
        extra: dict[str, str] = {}
        for m in wave:
            if m.to_host is not None and inv.vm_by_uuid[m.vm].power_state == "Running":
                extra[m.vm] = m.to_host
        for m in wave:
            vm = inv.vm_by_uuid.get(m.vm)
            if vm is None or m.vm not in extra:
                continue
            out += _wave_reasons(inv, vm, m.to_host, during, extra)
        for u, h in extra.items():
            where[u] = h
    return tuple(out)


def _wave_reasons(
    inv: Inventory,
    vm: VM,
    to_host: str | None,
    during: Mapping[str, str | None],
    arriving: Mapping[str, str],
) -> list[Reason]:
    """Anti-affinity during a wave: members where they were at its start, and members
    arriving in it (both hold their hosts for the wave)."""
    if to_host is None:
        return []
    start = {u: h for u, h in during.items() if u != vm.uuid}
    reasons = anti_affinity_reasons(inv, vm, to_host, start)
    if reasons:
        return reasons
    incoming = {u: h for u, h in arriving.items() if u != vm.uuid}
    return anti_affinity_reasons(inv, vm, to_host, incoming)
