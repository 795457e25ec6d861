"""Networks (FORMATS.md rule 7): every VIF needs its network, or a mapped one, on the target.

Across pools each VIF maps to the network the options' `network_map` names for it in the
target pool, else to the target pool's network of the same name; a VIF that maps to
nothing is NETWORK_UNMAPPED. `resolve_network_map` turns the CLI's `SRC=DST` items into
that map; `management_network_warnings` says when migration traffic will share the
management network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from planner.errors import InputError, LookupFailed
from planner.inventory.model import VM, Host, Inventory, Network
from planner.moves import Migration, Reason, VifMap
from planner.rules import codes


def map_vifs(
    inv: Inventory, vm: VM, to_pool: str, network_map: Mapping[str, str]
) -> tuple[tuple[VifMap, ...], list[Reason]]:
    """Target networks for every VIF of `vm` when it moves into `to_pool`.

    Within its own pool a VIF keeps its network (empty mapping). Returns the mapping and
    the reasons for VIFs that cannot be mapped.
    """
    if vm.pool == to_pool:
        return (), []
    by_name: dict[str, Network] = {}
    for n in inv.networks_in_pool.get(to_pool, []):
        by_name.setdefault(n.name, n)
    out: list[VifMap] = []
    reasons: list[Reason] = []
    for vif in vm.vifs:
        target = network_map.get(vif.network)
        # one map serves every target pool: an entry pointing into another pool does not
        # apply to this move, which falls back to the same-name rule
        mapped = inv.network_by_uuid.get(target) if target is not None else None
        if mapped is not None and mapped.pool == to_pool:
            out.append(VifMap(vif.device, mapped.uuid))
            continue
        src = inv.network_by_uuid.get(vif.network)
        net = by_name.get(src.name) if src is not None else None
        if net is None:
            reasons.append(
                Reason(
                    codes.NETWORK_UNMAPPED,
                    f"{vm.name} VIF {vif.device}: pool {inv.label(to_pool)} has "
                    f"no network named {src.name if src else vif.network!r}; "
                    "map it with --network-map",
                )
            )
            continue
        out.append(VifMap(vif.device, net.uuid))
    return tuple(out), reasons


def networks_attached_reasons(
    inv: Inventory, vm: VM, networks: list[str], host: Host
) -> list[Reason]:
    """Why `host` lacks a PIF on one of `networks` (the VM's networks after mapping)."""
    out = []
    for uuid in networks:
        net = inv.network_by_uuid.get(uuid)
        if net is None or host.uuid not in net.hosts:
            out.append(
                Reason(
                    codes.NETWORK_NOT_ATTACHED,
                    f"{host.name} has no PIF on network {inv.label(uuid)} ({vm.name})",
                )
            )
    return out


def _find_network(inv: Inventory, ref: str) -> Network:
    """A network by uuid, name, or POOL/NAME (names repeat across pools: "vm-net")."""
    try:
        return inv.network_by_uuid[inv.find("network", ref)]
    except LookupFailed:
        pool_ref, sep, name = ref.partition("/")
        if not sep:
            raise
        pool = inv.find("pool", pool_ref)
        hits = [n for n in inv.networks_in_pool.get(pool, []) if n.name == name]
        if len(hits) != 1:
            what = "no network" if not hits else f"{len(hits)} networks"
            raise LookupFailed(f"{what} named {name!r} in pool {inv.label(pool)}") from None
        return hits[0]


def resolve_network_map(inv: Inventory, pairs: list[str]) -> dict[str, str]:
    """Parse `SRC=DST` items into {source network uuid: target network uuid}.

    Each side is a network uuid (or unique prefix), a name, or POOL/NAME when the name
    is used in several pools.

    DST must be in another pool than SRC and must not be a management network (VM
    traffic is mapped onto VM networks). Every bad item is reported in one `InputError`.
    """
    out: dict[str, str] = {}
    problems: list[str] = []
    for item in pairs:
        src_ref, sep, dst_ref = item.partition("=")
        src_ref, dst_ref = src_ref.strip(), dst_ref.strip()
        if not sep or not src_ref or not dst_ref:
            problems.append(f"--network-map {item!r}: expected SRC=DST (network names or uuids)")
            continue
        try:
            src = _find_network(inv, src_ref)
            dst = _find_network(inv, dst_ref)
        except LookupFailed as e:
            problems.append(f"--network-map {item!r}: {e.message}")
            continue
        if src.pool == dst.pool:
            problems.append(
                f"--network-map {item!r}: {src.name} and {dst.name} are both in "
                f"pool {inv.label(src.pool)}; map into another pool"
            )
        elif dst.management:
            problems.append(
                f"--network-map {item!r}: {dst.name} is the management network "
                f"of pool {inv.label(dst.pool)}; map VIFs to a VM network"
            )
        elif out.get(src.uuid, dst.uuid) != dst.uuid:
            problems.append(
                f"--network-map {item!r}: {src.name} is already mapped to "
                f"{inv.label(out[src.uuid])}"
            )
        else:
            out[src.uuid] = dst.uuid
    if problems:
        n = len(problems)
        raise InputError(f"{n} bad network mapping{'s' if n != 1 else ''}", problems)
    return out


def management_network_warnings(
    inv: Inventory,
    migrations: Iterable[Migration],
    migration_networks: Mapping[str, str] | None = None,
) -> tuple[Reason, ...]:
    """One MANAGEMENT_NETWORK warning per pool whose migration traffic uses its
    management network.

    XenServer sends migration traffic over the management interface unless another
    network is named for it: `migration_networks` (the plan's `options.migration_network`,
    target pool uuid -> network uuid; planner/rules/migration_network.py). A pool counts
    as using its management network unless it names a non-management network of its
    own. A storage or halted move loads the network of its source pool and, across
    pools, of its target pool too; a live migration (`VM.pool_migrate`, which takes no
    stream network from the planner) always loads its pool's management network.
    """
    named = migration_networks or {}
    pools: dict[str, int] = {}
    for m in migrations:
        # pool_migrate (live, within one pool) streams over the management network
        named_here = {} if m.kind == "live" else named
        for pool in dict.fromkeys((m.from_pool, m.to_pool)):  # plan order, not hash order
            net = inv.network_by_uuid.get(named_here.get(pool, ""))
            if net is not None and net.pool == pool and not net.management:
                continue
            pools[pool] = pools.get(pool, 0) + 1
    out = []
    for pool, n in pools.items():
        mgmt = next(
            (x.name for x in inv.networks_in_pool.get(pool, []) if x.management),
            "the management network",
        )
        out.append(
            Reason(
                codes.MANAGEMENT_NETWORK,
                f"pool {inv.label(pool)}: {n} migration{'s' if n != 1 else ''} "
                f"will use {mgmt}; a dedicated migration network keeps management "
                "traffic responsive",
            )
        )
    return tuple(out)
