"""The migration network (issue 17): which network carries a migration's stream, and
whether it can on the destination host.

XenServer's Migrate VM wizard asks for the *storage network* of the destination pool. In
XAPI that is the `network` argument of `host.migrate_receive(host, network, options)`,
called on the destination pool before every `VM.migrate_send` (storage and halted
moves, within a pool or across pools); `xe vm-migrate` takes it as `remote-network=`.
`migrate_receive` takes the destination host's PIF on that network and refuses when it
has none (HOST_CANNOT_ATTACH_NETWORK) or when that PIF has no address
(PIF_HAS_NO_NETWORK_CONFIGURATION, INTERFACE_HAS_NO_IP; xen-api `xapi_host.ml`). The
inventory says where a network has an address in its `ip_hosts`.

A live migration within a pool (`VM.pool_migrate`) does not go through
`migrate_receive`: it streams over the management network (recent XAPI reads a `network`
key in `pool_migrate`'s options, `xe vm-migrate` has no way to pass it, and the planner
does not use it), so the rule does not apply to it.

The plan's `options.migration_network` maps a target pool to the network that carries
the streams into it; a pool it does not name uses its management network, as XAPI's own
`xe vm-migrate` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from planner.errors import InputError, LookupFailed
from planner.inventory.model import Host, Inventory, Network
from planner.moves import Reason
from planner.rules import codes

RECEIVING_KINDS = ("storage", "move")  # the kinds that call host.migrate_receive


def stream_network(inv: Inventory, to_pool: str, named: Mapping[str, str]) -> Network | None:
    """The network that carries migration streams into `to_pool`: the one `named`
    (pool uuid -> network uuid) gives, else the pool's management network; None when
    the inventory knows neither (the network named may be of another pool: the rule
    reports that)."""
    uuid = named.get(to_pool)
    if uuid is not None:
        return inv.network_by_uuid.get(uuid)
    return next((n for n in inv.networks_in_pool.get(to_pool, []) if n.management), None)


def receiving_host(
    inv: Inventory, to_host: str | None, to_pool: str, srs: Iterable[str] = ()
) -> str | None:
    """The host whose `migrate_receive` takes the stream: `to_host`; for a VM moved
    without one, as the executor picks it: the target pool's master when it has every
    target SR in `srs` attached, else the first enabled host of the pool that has (a
    local SR is attached to one host only), else the master."""
    if to_host is not None:
        return to_host
    pool = inv.pool_by_uuid.get(to_pool)
    if pool is None:
        return None
    want = set(srs)

    def sees(h: Host) -> bool:
        return all(h.uuid in inv.sr_by_uuid[s].hosts for s in want if s in inv.sr_by_uuid)

    master = inv.host_by_uuid.get(pool.master)
    if master is None or sees(master):
        return pool.master
    other = next(
        (
            h
            for h in inv.hosts_in_pool.get(to_pool, [])
            if h.uuid != pool.master and h.enabled and sees(h)
        ),
        None,
    )
    return other.uuid if other is not None else pool.master


def migration_network_reasons(
    inv: Inventory,
    kind: str,
    to_host: str | None,
    to_pool: str,
    named: Mapping[str, str],
    srs: Iterable[str] = (),
) -> list[Reason]:
    """Why the migration network cannot carry this migration's stream
    (MIGRATION_NETWORK_NO_IP): the receiving host has no IP on it, or the network
    named for `to_pool` is not a network of that pool. `srs`: the target SR of every
    disk (they decide the receiving host of a move without `to_host`). Empty for a
    live migration."""
    if kind not in RECEIVING_KINDS:
        return []
    uuid = named.get(to_pool)
    net = stream_network(inv, to_pool, named)
    pool_name = inv.label(to_pool)
    if uuid is not None and (net is None or net.pool != to_pool):
        return [
            Reason(
                codes.MIGRATION_NETWORK_NO_IP,
                f"migration network {inv.label(uuid)} is not a network of pool {pool_name}",
            )
        ]
    host = receiving_host(inv, to_host, to_pool, srs)
    if net is None or host is None or host in net.ip_hosts:
        return []
    why = "has no PIF on it" if host not in net.hosts else "its PIF on it has no IP"
    return [
        Reason(
            codes.MIGRATION_NETWORK_NO_IP,
            f"{inv.label(host)} cannot receive the migration stream on network {net.name}: {why}",
        )
    ]


def resolve_migration_networks(inv: Inventory, items: list[str]) -> dict[str, str]:
    """Parse `POOL=NETWORK` items into {pool uuid: network uuid}.

    POOL is a pool name or uuid; NETWORK a network name or uuid of that pool (names
    repeat across pools, so the name is looked up in POOL only). Every bad item is
    reported in one `InputError`.
    """
    out: dict[str, str] = {}
    problems: list[str] = []
    for item in items:
        pool_ref, sep, net_ref = (x.strip() for x in item.partition("="))
        if not sep or not pool_ref or not net_ref:
            problems.append(f"--migration-network {item!r}: expected POOL=NETWORK (names or uuids)")
            continue
        try:
            pool = inv.find("pool", pool_ref)
        except LookupFailed as e:
            problems.append(f"--migration-network {item!r}: {e.message}")
            continue
        nets = inv.networks_in_pool.get(pool, [])
        hits = [n for n in nets if net_ref in (n.uuid, n.name)]
        if not hits and len(net_ref) >= 8:
            hits = [n for n in nets if n.uuid.startswith(net_ref)]
        if len(hits) != 1:
            what = "no network" if not hits else f"{len(hits)} networks"
            problems.append(
                f"--migration-network {item!r}: {what} named or with uuid "
                f"{net_ref!r} in pool {inv.label(pool)}"
            )
        elif out.get(pool, hits[0].uuid) != hits[0].uuid:
            problems.append(
                f"--migration-network {item!r}: pool {inv.label(pool)} "
                f"already has {inv.label(out[pool])}"
            )
        else:
            out[pool] = hits[0].uuid
    if problems:
        n = len(problems)
        raise InputError(f"{n} bad migration network{'s' if n != 1 else ''}", problems)
    return out
