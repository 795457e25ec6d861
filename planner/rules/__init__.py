"""Eligibility rules: pure checks that return reason codes (see docs/rules.md).

One module per concern; `target_reasons` combines the rules that do not depend on the
moment (FORMATS.md rules 5-9 and reachability). Capacity at a moment (memory, SR space,
concurrency) is answered by `memory` and `storage` with the free amounts the caller
tracks: the problem builder, the replay checker, `explain` and the executor's pre-flight
all call these same functions.
"""

from __future__ import annotations

from collections.abc import Mapping

from planner.inventory.model import VM, Inventory
from planner.moves import Reason, VifMap
from planner.options import PlanOptions
from planner.rules import codes
from planner.rules.cpu import cpu_reasons
from planner.rules.exclusions import exclusion_reasons
from planner.rules.migration_network import migration_network_reasons
from planner.rules.network import map_vifs, networks_attached_reasons
from planner.rules.port80 import port80_reasons
from planner.rules.storage import sr_attached_reasons, sr_pool_reasons
from planner.rules.version import source_version, version_reasons

__all__ = [
    "codes",
    "exclusion_reasons",
    "expected_kind",
    "kind_reasons",
    "target_reasons",
]


def expected_kind(vm: VM, to_pool: str, moves_disks: bool) -> str:
    """The migration kind a move needs: live within a pool without disk copies, storage
    for a VM that is up and copies disks or changes pool, move for a halted VM. (A Paused
    VM gets "storage" here but cannot migrate at all: `exclusion_reasons` says PAUSED.)"""
    if vm.power_state == "Halted":
        return "move"
    if vm.power_state == "Running" and to_pool == vm.pool and not moves_disks:
        return "live"
    return "storage"


def kind_reasons(vm: VM, kind: str, to_pool: str, moves_disks: bool) -> list[Reason]:
    """Why `kind` does not fit this VM's power state and this move (WRONG_KIND)."""
    want = expected_kind(vm, to_pool, moves_disks)
    if kind == want:
        return []
    # a live-capable move may also be done as a storage migration within the pool
    if kind == "storage" and want == "live":
        return []
    return [
        Reason(
            codes.WRONG_KIND,
            f"{vm.name} ({vm.power_state}) cannot make a {kind} migration here; it needs {want}",
        )
    ]


def target_reasons(
    inv: Inventory,
    vm: VM,
    kind: str,
    to_host: str | None,
    to_pool: str,
    disk_targets: Mapping[str, str],
    options: PlanOptions,
    vifs: tuple[VifMap, ...] | None = None,
) -> list[Reason]:
    """Every static reason why `vm` cannot make this migration.

    `disk_targets` maps the uuid of each disk that moves to its target SR (empty for a
    live migration). `vifs` is the plan's VIF mapping across pools; None computes it by
    name and `options.network_map`. Capacity is not checked here.
    """
    out = kind_reasons(vm, kind, to_pool, bool(disk_targets))
    out += exclusion_reasons(inv, vm, kind)
    pool_name = inv.label(to_pool)
    host = inv.host_by_uuid.get(to_host) if to_host else None
    out += _destination_reasons(inv, vm, kind, to_host, to_pool, disk_targets, pool_name)
    for disk in vm.disks:
        to_sr = disk_targets.get(disk.uuid, disk.sr)
        sr = inv.sr_by_uuid[to_sr]
        out += sr_pool_reasons(sr, to_pool, pool_name)
        if host is not None:
            out += sr_attached_reasons(sr, host, f"disk {disk.uuid[:8]} of {vm.name}")
    if to_pool != vm.pool:
        out += port80_reasons(inv, vm.pool, to_pool)
        networks = _target_networks(inv, vm, to_pool, options, vifs, pool_name, out)
    else:
        networks = [v.network for v in vm.vifs]
    if host is not None:
        out += networks_attached_reasons(inv, vm, networks, host)
    out += migration_network_reasons(
        inv,
        kind,
        to_host,
        to_pool,
        options.migration_network,
        [disk_targets.get(d.uuid, d.sr) for d in vm.disks],
    )
    return out


def _destination_reasons(
    inv: Inventory,
    vm: VM,
    kind: str,
    to_host: str | None,
    to_pool: str,
    disk_targets: Mapping[str, str],
    pool_name: str,
) -> list[Reason]:
    """The reasons about the destination itself: a missing host where one is needed, the
    host's pool, state, CPU and version (the pool master's version without a host)."""
    out: list[Reason] = []
    host = inv.host_by_uuid.get(to_host) if to_host else None
    if vm.power_state != "Halted" and to_host is None:
        # a running or suspended VM always lands on a host: XAPI's pool_migrate and
        # migrate_send need a destination (migrate_send's dest token names one)
        out.append(
            Reason(
                codes.WRONG_KIND,
                f"{vm.name} is {vm.power_state}: its {kind} migration needs a to_host",
            )
        )
    if kind == "storage" and to_host is None:
        local = [
            inv.sr_by_uuid[s]
            for s in disk_targets.values()
            if s in inv.sr_by_uuid and not inv.sr_by_uuid[s].shared
        ]
        if local:
            # FORMATS.md: a storage migration sets to_host (VM.migrate_send needs a
            # destination host); without one the pool master gets it, and a local SR is
            # attached to one host only (VM_REQUIRES_SR at run time)
            out.append(
                Reason(
                    codes.WRONG_KIND,
                    f"{vm.name}'s storage migration has no to_host, but its disk "
                    f"goes to local SR {local[0].name}: name the host that has "
                    "it",
                )
            )
    if host is not None:
        if host.pool != to_pool:
            out.append(Reason(codes.WRONG_KIND, f"{host.name} is not in pool {pool_name}"))
        if not host.enabled:
            out.append(Reason(codes.HOST_DISABLED, f"{host.name} is disabled"))
        # XAPI checks the CPU for every power state but Halted (cpuid_helpers.ml,
        # assert_vm_is_compatible): a Suspended VM resumes on the CPU it was saved on
        out += cpu_reasons(vm, host)
        out += version_reasons(vm, source_version(inv, vm), host)
    elif to_pool != vm.pool:
        # a halted VM moving pools without a named host lands on the pool master's version
        master = inv.master_of(to_pool)
        out += version_reasons(vm, source_version(inv, vm), master)
    return out


def _target_networks(
    inv: Inventory,
    vm: VM,
    to_pool: str,
    options: PlanOptions,
    vifs: tuple[VifMap, ...] | None,
    pool_name: str,
    out: list[Reason],
) -> list[str]:
    """The target-pool networks a cross-pool migration's VIFs land on; what is unmapped or
    mapped outside `to_pool` is appended to `out` (once per VIF)."""
    if vifs is None:
        vifs, unmapped = map_vifs(inv, vm, to_pool, options.network_map)
        out += unmapped
    else:
        mapped = {v.device for v in vifs}
        for vif in vm.vifs:
            if vif.device not in mapped:
                msg = f"{vm.name} VIF {vif.device} has no target network"
                out.append(Reason(codes.NETWORK_UNMAPPED, msg))
    networks = []
    for v in vifs:
        net = inv.network_by_uuid.get(v.to_network)
        if net is None or net.pool != to_pool:
            out.append(
                Reason(
                    codes.NETWORK_UNMAPPED,
                    f"{vm.name} VIF {v.device}: network {v.to_network} is not in pool {pool_name}",
                )
            )
        else:
            networks.append(v.to_network)  # unmapped ones are reported once, above
    return networks
