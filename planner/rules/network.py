"""Networks (FORMATS.md rule 7): every VIF needs its network, or a mapped one, on the target.

Across pools each VIF maps to the target pool's network of the same name unless the
options' `network_map` names another; a VIF that maps to nothing is NETWORK_UNMAPPED.
"""

from __future__ import annotations

from collections.abc import Mapping

from planner.inventory.model import VM, Host, Inventory, Network
from planner.plan import Reason, VifMap
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
        if target is not None:
            net = inv.network_by_uuid.get(target)
            if net is None or net.pool != to_pool:
                reasons.append(Reason(codes.NETWORK_UNMAPPED,
                                      f"{vm.name} VIF {vif.device}: mapped network {target} "
                                      f"is not in pool {inv.label(to_pool)}"))  # fmt: skip
                continue
            out.append(VifMap(vif.device, net.uuid))
            continue
        src = inv.network_by_uuid.get(vif.network)
        net = by_name.get(src.name) if src is not None else None
        if net is None:
            reasons.append(Reason(codes.NETWORK_UNMAPPED,
                                  f"{vm.name} VIF {vif.device}: pool {inv.label(to_pool)} has "
                                  f"no network named {src.name if src else vif.network!r}; "
                                  "map it with --network-map"))  # fmt: skip
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
            out.append(Reason(codes.NETWORK_NOT_ATTACHED,
                              f"{host.name} has no PIF on network {inv.label(uuid)} "
                              f"({vm.name})"))  # fmt: skip
    return out
