"""Scenario edits: each returns a new Inventory and leaves the one it was given untouched.

These are the building blocks of what-if analysis: a host fails or is decommissioned,
new hardware arrives, hosts are disabled for maintenance, VMs grow. Edits keep the
inventory consistent (a removed host's running VMs become Halted and lose their host;
SRs and networks lose the host), so the result validates like any loaded file.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import replace

from planner.errors import InputError
from planner.inventory.model import VM, Host, Inventory


def _resolve(inv: Inventory, kind: str, refs: Iterable[str]) -> list[str]:
    return inv.find_all(kind, list(refs))


def remove_hosts(inv: Inventory, hosts: Iterable[str]) -> Inventory:
    """The inventory without `hosts` (names or uuids), as after a failure or decommission.

    Their running VMs become Halted with no host (what HA would have to restart); SRs
    and networks are detached from them. Removing a pool's master promotes the pool's
    first remaining host; removing every host of a pool is an error.
    """
    gone = set(_resolve(inv, "host", hosts))
    for pool in inv.pools:
        left = [h for h in inv.hosts_in_pool.get(pool.uuid, []) if h.uuid not in gone]
        if not left and inv.hosts_in_pool.get(pool.uuid):
            raise InputError(f"removing these hosts would leave pool {pool.name} with none")
    pools = []
    for p in inv.pools:
        if p.master in gone:
            master = next(h for h in inv.hosts_in_pool[p.uuid] if h.uuid not in gone)
            p = replace(p, master=master.uuid)
        pools.append(p)
    vms = tuple(_without_hosts(v, gone) for v in inv.vms)
    return replace(
        inv,
        pools=tuple(pools),
        hosts=tuple(h for h in inv.hosts if h.uuid not in gone),
        srs=tuple(replace(s, hosts=tuple(h for h in s.hosts if h not in gone)) for s in inv.srs),
        networks=tuple(
            replace(n, hosts=tuple(h for h in n.hosts if h not in gone)) for n in inv.networks
        ),
        vms=vms,
        digest=None,
    )


def _without_hosts(vm: VM, gone: set[str]) -> VM:
    """`vm` once `gone` hosts have vanished: halted if it ran there, no home host there."""
    if vm.is_running and vm.host in gone:
        vm = replace(vm, power_state="Halted", host=None, cpu_vendor=None, cpu_features=None)
    if vm.affinity in gone:
        vm = replace(vm, affinity=None)
    return vm


def disable_hosts(inv: Inventory, hosts: Iterable[str]) -> Inventory:
    """The inventory with `hosts` disabled (they accept no VMs; running ones stay)."""
    off = set(_resolve(inv, "host", hosts))
    return replace(
        inv,
        hosts=tuple(replace(h, enabled=False) if h.uuid in off else h for h in inv.hosts),
        digest=None,
    )


def add_hosts(
    inv: Inventory,
    like: str,
    count: int = 1,
    *,
    pool: str | None = None,
    name_prefix: str | None = None,
    memory_total_bytes: int | None = None,
    version: str | None = None,
) -> Inventory:
    """The inventory with `count` new empty hosts copied from host `like`.

    The copies join `pool` (default: `like`'s pool), see the pool's shared SRs and
    networks, and may override memory and version (new hardware). Their names are
    `name_prefix` + a number (default: `like`'s name + "-new").
    """
    if count < 1:
        raise InputError(f"add_hosts: count must be at least 1, got {count}")
    if memory_total_bytes is not None and memory_total_bytes <= 0:
        raise InputError(
            f"add_hosts: memory_total_bytes must be positive, got {memory_total_bytes}"
        )
    model = inv.host_by_uuid[inv.find("host", like)]
    pool_uuid = inv.find("pool", pool) if pool else model.pool
    prefix = name_prefix or f"{model.name}-new"
    taken = {h.name for h in inv.hosts}
    new: list[Host] = []
    n = 0
    while len(new) < count:
        n += 1
        name = f"{prefix}{n}"
        if name in taken:
            continue
        new.append(
            replace(
                model,
                uuid=str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"xen-planner/{pool_uuid}/{name}")),
                name=name,
                pool=pool_uuid,
                enabled=True,
                memory_total_bytes=memory_total_bytes or model.memory_total_bytes,
                version=version or model.version,
            )
        )
    ids = tuple(h.uuid for h in new)
    srs = tuple(
        replace(s, hosts=s.hosts + ids) if s.pool == pool_uuid and s.shared else s for s in inv.srs
    )
    # a new host is cabled like the others: it gets every network all pool hosts have
    pool_hosts = {h.uuid for h in inv.hosts_in_pool.get(pool_uuid, [])}
    networks = tuple(
        replace(n, hosts=n.hosts + ids)
        if n.pool == pool_uuid and pool_hosts and pool_hosts <= set(n.hosts)
        else n
        for n in inv.networks
    )
    return replace(inv, hosts=inv.hosts + tuple(new), srs=srs, networks=networks, digest=None)


def grow_memory(inv: Inventory, factor: float, *, pools: Iterable[str] | None = None) -> Inventory:
    """The inventory with every VM's memory (and dynamic minimum) multiplied by `factor`.

    `pools` limits the growth to some pools (names or uuids). Sizes are rounded to bytes.
    """
    if not factor > 0:
        raise InputError(f"grow_memory: factor must be positive, got {factor}")
    only = set(_resolve(inv, "pool", pools)) if pools is not None else None
    vms = tuple(
        replace(
            v,
            memory_bytes=round(v.memory_bytes * factor),
            memory_min_bytes=round(v.memory_min_bytes * factor),
        )
        if only is None or v.pool in only
        else v
        for v in inv.vms
    )
    return replace(inv, vms=vms, digest=None)
