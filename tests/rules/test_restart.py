"""HA restart placement: memory at both sides of the threshold, reachability, exactness."""

from __future__ import annotations

from planner.inventory.builder import GIB, Builder
from planner.options import PlanOptions
from planner.restart import place_restarts
from planner.rules import codes
from planner.scenarios import remove_hosts


def _pool(free_gib: float, need_gib: float):
    """xs-01 fails holding one VM of `need_gib`; xs-02 has exactly `free_gib` free."""
    b = Builder()
    p = b.pool("lab")
    h1 = b.host(p, "xs-01", memory_gib=64, overhead_gib=0)
    h2 = b.host(p, "xs-02", memory_gib=64, overhead_gib=0)
    sr = b.sr(p, "nfs")
    net = b.network(p, "vm-net")
    b.vm(p, "big", host=h2, memory_gib=64 - free_gib, disks=[(sr, 1)], networks=[net])
    b.vm(p, "victim", host=h1, memory_gib=need_gib, disks=[(sr, 1)], networks=[net])
    inv = remove_hosts(b.build(), ["xs-01"])
    return inv, [v for v in inv.vms if v.name == "victim"]


def test_exactly_full_fits_and_one_byte_over_does_not():
    inv, vms = _pool(8, 8)
    assert place_restarts(inv, vms).placed == {vms[0].uuid: inv.find("host", "xs-02")}
    b = Builder()
    p = b.pool("lab")
    h1 = b.host(p, "xs-01", memory_gib=64, overhead_gib=0)
    h2 = b.host(p, "xs-02", memory_gib=64, overhead_gib=0)
    sr = b.sr(p, "nfs")
    b.vm(p, "big", host=h2, memory_gib=56, disks=[(sr, 1)])
    b.doc["vms"][-1]["memory_bytes"] += 1  # one byte over: 8 GiB - 1 byte free
    b.doc["vms"][-1]["memory_min_bytes"] += 1
    b.vm(p, "victim", host=h1, memory_gib=8, disks=[(sr, 1)])
    inv = remove_hosts(b.build(), ["xs-01"])
    res = place_restarts(inv, [v for v in inv.vms if v.name == "victim"])
    assert not res.placed
    assert [r.code for r in next(iter(res.unplaced.values()))] == [codes.NO_CAPACITY]
    assert res.exact


def test_headroom_and_dmc_change_the_answer():
    inv, vms = _pool(8, 8)
    assert place_restarts(inv, vms, PlanOptions(headroom_fraction=0.05)).unplaced
    b = Builder()
    p = b.pool("lab")
    h1 = b.host(p, "xs-01", memory_gib=64, overhead_gib=0)
    h2 = b.host(p, "xs-02", memory_gib=64, overhead_gib=0)
    b.vm(p, "big", host=h2, memory_gib=60)
    b.vm(p, "victim", host=h1, memory_gib=8, memory_min_gib=4)
    inv = remove_hosts(b.build(), ["xs-01"])
    victim = [v for v in inv.vms if v.name == "victim"]
    assert place_restarts(inv, victim).unplaced
    assert not place_restarts(inv, victim, PlanOptions(dmc=True)).unplaced


def test_local_storage_cannot_restart_elsewhere():
    b = Builder()
    p = b.pool("lab")
    h1 = b.host(p, "xs-01")
    b.host(p, "xs-02")
    local = b.sr(p, "local", shared=False, host=h1)
    b.vm(p, "pinned", host=h1, disks=[(local, 10)])
    inv = remove_hosts(b.build(), ["xs-01"])
    res = place_restarts(inv, list(inv.vms))
    assert [r.code for r in next(iter(res.unplaced.values()))] == [codes.SR_NOT_ATTACHED]


def test_trap_where_best_fit_fails_but_a_packing_exists():
    """Hosts of 11 and 9 GiB, VMs of 6, 5, 5, 4 GiB (20 in 20). Best fit decreasing puts
    6 on the 9 (3 left), 5 and 5 on the 11 (1 left) and has no room for 4; the exact
    model finds {6, 5} + {5, 4}."""
    b = Builder()
    p = b.pool("lab")
    dead = b.host(p, "xs-00", memory_gib=64, overhead_gib=0)
    b.host(p, "xs-01", memory_gib=11, overhead_gib=0)
    b.host(p, "xs-02", memory_gib=9, overhead_gib=0)
    for i, g in enumerate([6, 5, 5, 4]):
        b.vm(p, f"v{i}", host=dead, memory_gib=g)
    inv = remove_hosts(b.build(), ["xs-00"])
    res = place_restarts(inv, list(inv.vms))
    assert not res.unplaced and res.exact
    caps = {inv.find("host", "xs-01"): 11 * GIB, inv.find("host", "xs-02"): 9 * GIB}
    for h, cap in caps.items():
        assert sum(v.memory_bytes for v in inv.vms if res.placed[v.uuid] == h) <= cap
