"""The bundled samples: the properties their demos rely on (docs/inventory.md)."""

from __future__ import annotations

import itertools
from pathlib import Path

from planner.inventory import Inventory, sample_path
from planner.inventory.io import read_json
from planner.inventory.samples_make import make_sample, make_two_pools
from planner.options import PlanOptions
from planner.rules import codes, target_reasons
from planner.rules.exclusions import exclusion_reasons
from planner.rules.memory import host_capacity

EXCLUSIONS = {
    codes.HA_PROTECTED,
    codes.SRIOV,
    codes.PCI,
    codes.VGPU,
    codes.ON_BOOT_RESET,
    codes.NO_TOOLS,
    codes.CBT,
    codes.MCS,
    codes.PAUSED,
}


def _codes(inv: Inventory, vm, kind: str) -> set[str]:
    return {r.code for r in exclusion_reasons(inv, vm, kind)}


def test_files_are_what_the_script_writes():
    # the committed files must be reproducible from samples_make
    assert read_json(sample_path("sample"), "x") == make_sample()
    assert read_json(sample_path("two-pools"), "x") == make_two_pools()
    assert make_sample() == make_sample()


def test_sample_shape(sample_inv: Inventory):
    assert [p.name for p in sample_inv.pools] == ["lab"]
    assert sorted(h.name for h in sample_inv.hosts) == [f"xs-0{i}" for i in range(1, 6)]
    assert all(h.version == "8.4.0" for h in sample_inv.hosts)
    assert sample_inv.pools[0].ha_enabled
    assert 35 <= len(sample_inv.vms) <= 50
    states = {v.power_state for v in sample_inv.vms}
    assert {"Running", "Halted", "Suspended"} <= states
    names = {s.name for s in sample_inv.srs}
    assert {"nfs-old", "nfs-new"} <= names
    local = [s for s in sample_inv.srs if not s.shared]
    assert len(local) == 1 and sample_inv.label(local[0].hosts[0]) == "xs-02"


def test_every_exclusion_appears(sample_inv: Inventory):
    seen = set()
    for vm in sample_inv.vms:
        seen |= _codes(sample_inv, vm, "live") | _codes(sample_inv, vm, "storage")
    assert seen == EXCLUSIONS
    # NO_TOOLS must come from a running Windows VM
    assert any(
        v.os == "windows" and not v.tools and v.power_state == "Running" for v in sample_inv.vms
    )


def _xs02(inv: Inventory):
    h2 = inv.find("host", "xs-02")
    return h2, inv.vms_on_host[h2]


def test_evacuate_demo_has_no_excluded_vm_and_needs_storage_moves(sample_inv: Inventory):
    _, vms = _xs02(sample_inv)
    assert len(vms) > 3  # more than one wave at 3 migrations per pool
    for vm in vms:
        assert not _codes(sample_inv, vm, "storage"), vm.name
    local = {s.uuid for s in sample_inv.srs if not s.shared}
    on_local = [v for v in vms if any(d.sr in local for d in v.disks)]
    assert on_local and len(on_local) < len(vms)  # both live and storage migrations


def _targets(inv: Inventory, vm, hosts, new_sr: str) -> list[str]:
    """Hosts the static rules allow for `vm` (disks on local SRs go to `new_sr`)."""
    local = {s.uuid for s in inv.srs if not s.shared}
    moves = {d.uuid: new_sr for d in vm.disks if d.sr in local}
    kind = "storage" if moves else "live"
    return [
        h.uuid
        for h in hosts
        if not target_reasons(inv, vm, kind, h.uuid, vm.pool, moves, PlanOptions())
    ]


def test_evacuate_demo_packing_exists_but_is_tight(sample_inv: Inventory):
    inv = sample_inv
    h2, vms = _xs02(inv)
    others = [h for h in inv.hosts if h.uuid != h2]
    new_sr = inv.find("sr", "nfs-new")
    free = {
        h.uuid: host_capacity(h, 0.0) - sum(v.memory_bytes for v in inv.vms_on_host[h.uuid])
        for h in others
    }
    cands = [_targets(inv, v, others, new_sr) for v in vms]
    assert all(cands)
    # brute force over every assignment (4**7): count those that fit in memory
    fits = 0
    for combo in itertools.product(*cands):
        load: dict[str, int] = {}
        for v, h in zip(vms, combo, strict=True):
            load[h] = load.get(h, 0) + v.memory_bytes
        fits += all(load[h] <= free[h] for h in load)
    assert fits > 0
    total = 4 ** len(vms)
    assert fits < total / 100  # placement matters: almost every assignment overflows a host
    # first-fit in decreasing size, hosts in name order, fails: a naive packer gets stuck
    left = dict(free)
    stuck = False
    for v in sorted(vms, key=lambda v: -v.memory_bytes):
        h = next((h.uuid for h in others if left[h.uuid] >= v.memory_bytes), None)
        if h is None:
            stuck = True
            break
        left[h] -= v.memory_bytes
    assert stuck


def test_retire_sr_demo_needs_move_and_storage(sample_inv: Inventory):
    old = sample_inv.find("sr", "nfs-old")
    on_old = [v for v in sample_inv.vms if any(d.sr == old for d in v.disks)]
    states = {v.power_state for v in on_old}
    assert "Halted" in states and "Running" in states and "Suspended" in states
    blocked = [v.name for v in on_old if _codes(sample_inv, v, "storage")]
    assert blocked == ["backup-01"]  # the documented unplaced VM (CBT)


def test_two_pools_move_is_feasible_but_for_four(two_pools_inv: Inventory):
    inv = two_pools_inv
    old, new = inv.find("pool", "old"), inv.find("pool", "new")
    assert inv.pool_by_uuid[new].https_only
    master = inv.master_of(old)
    assert master.version == "8.2.1" and "XS82ECU1033" in master.hotfixes
    assert {h.version for h in inv.hosts_in_pool[new]} == {"8.4.0"}
    new_host = inv.hosts_in_pool[new][0]
    new_sr = inv.find("sr", "new-nfs")
    blocked = {}
    for vm in inv.vms_in_pool[old]:
        kind = "move" if vm.power_state == "Halted" else "storage"
        moves = {d.uuid: new_sr for d in vm.disks}
        # every VM but a Halted one names its destination host (FORMATS.md v2)
        to_host = new_host.uuid if vm.power_state != "Halted" else None
        reasons = target_reasons(inv, vm, kind, to_host, new, moves, PlanOptions())
        if reasons:
            blocked[vm.name] = {r.code for r in reasons}
    assert blocked == {
        "lic-01": {codes.PCI},
        "backup-01": {codes.CBT},
        "legacy-01": {codes.NO_TOOLS},
        "report-01": {codes.PAUSED},
    }
    assert 25 <= len(inv.vms_in_pool[old]) <= 35 and 1 <= len(inv.vms_in_pool[new]) <= 6


def test_samples_are_package_data():
    # found from the installed package, whatever the working directory
    for name in ("sample", "two-pools"):
        assert Path(sample_path(name)).is_file()
