"""The ledger at inventory level (planner/ledger_migration.py): what a migration takes at
its start and gives back at its end, in bytes, for the cases the older copies missed
(snapshots, suspend images, halted moves starved by later arrivals)."""

from __future__ import annotations

from planner.inventory.builder import GIB, Builder
from planner.inventory.io import from_dict
from planner.ledger_migration import Account
from planner.options import PlanOptions
from planner.plan import DiskMove, Migration
from planner.rules import codes


def _fleet():
    """Pool a: h1 (16 GiB for guests), h2 (64); SRs old (holding everything) and new.
    run: Running on h1, 20 GiB disk with 3 GiB of snapshots; sus: Suspended, 8 GiB
    memory image on old; cold: Halted, 13 GiB of memory."""
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1", memory_gib=18, overhead_gib=2)
    b.host(a, "h2", memory_gib=66, overhead_gib=2)
    old = b.sr(a, "old", size_gib=1000)
    b.sr(a, "new", size_gib=200)
    net = b.network(a, "vm-net")
    b.vm(a, "run", host=h1, memory_gib=4, disks=[(old, 20)], networks=[net])
    b.vm(a, "sus", power_state="Suspended", memory_gib=8, disks=[(old, 10)], networks=[net])
    b.vm(a, "cold", memory_gib=13, disks=[(old, 10)], networks=[net])
    doc = b.document()
    for v in doc["vms"]:
        if v["name"] == "run":
            v["disks"][0]["snapshot_used_bytes"] = 3 * GIB
        if v["name"] == "sus":
            v["suspend_vdi"] = {
                "uuid": "img",
                "sr": old,
                "size_bytes": 8 * GIB,
                "used_bytes": 8 * GIB,
            }
    return from_dict(doc)


def _move(inv, mid, name, to_sr, *, to_host=None, kind="storage"):
    vm = inv.vm_by_uuid[inv.find("vm", name)]
    return Migration(
        mid,
        vm.uuid,
        kind,
        vm.host,
        to_host,
        vm.pool,
        vm.pool,
        tuple(DiskMove(d.uuid, d.sr, to_sr) for d in vm.disks),
    )


def test_snapshots_move_with_the_disk():
    inv = _fleet()
    acc = Account.of(inv, PlanOptions())
    old, new = inv.find("sr", "old"), inv.find("sr", "new")
    h1 = inv.find("host", "h1")
    before = dict(acc.ledger.used)
    d = acc.demand(_move(inv, "m1", "run", new, to_host=h1))
    assert dict(d.start)[("sr", new)] == 60 * GIB and dict(d.start)[("sr", old)] == 40 * GIB
    assert ("mem", h1) not in dict(d.start)  # same host: no second copy of its memory
    acc.start(d)
    acc.end(d)
    moved = 10 * GIB + 3 * GIB  # used (half of 20 GiB) + snapshots
    assert acc.ledger.used[("sr", new)] == before.get(("sr", new), 0) + moved
    assert acc.ledger.used[("sr", old)] == before[("sr", old)] - moved
    assert acc.ledger.used[("pool", inv.find("pool", "a"))] == 0


def test_suspend_image_travels_and_reserves():
    inv = _fleet()
    acc = Account.of(inv, PlanOptions())
    old, new = inv.find("sr", "old"), inv.find("sr", "new")
    h2 = inv.find("host", "h2")
    # within its pool, onto a host that sees `old`, XAPI leaves the image where it is:
    # only the disk (10 GiB) is reserved, 3x on new and 2x on old
    d = acc.demand(_move(inv, "m1", "sus", new, to_host=h2))
    assert dict(d.start)[("sr", new)] == 3 * 10 * GIB
    assert dict(d.start)[("sr", old)] == 2 * 10 * GIB
    assert d.halted_need == 8 * GIB and d.suspend_to is None
    # a plan that names the image in `disks` moves it: disk 10 GiB + image 8 GiB
    m = _move(inv, "m1", "sus", new, to_host=h2)
    m = Migration(
        m.id,
        m.vm,
        m.kind,
        m.from_host,
        m.to_host,
        m.from_pool,
        m.to_pool,
        (*m.disks, DiskMove("img", old, new)),
    )
    d = acc.demand(m)
    assert dict(d.start)[("sr", new)] == 3 * 18 * GIB
    assert dict(d.start)[("sr", old)] == 2 * 18 * GIB
    assert d.halted_need == 8 * GIB and d.suspend_to == new
    acc.start(d)
    acc.end(d)
    assert acc.suspend_at[inv.find("vm", "sus")] == new


def test_a_halted_move_in_flight_is_not_starved_by_an_arrival():
    """cold (13 GiB) moves its disk: some host must keep 13 GiB free meanwhile. With h2
    down to 14 GiB free (h1 has 12), run's 4 GiB arrival on h2 would leave none: it
    waits until cold's move has ended."""
    inv = _fleet()
    acc = Account.of(inv, PlanOptions())
    h2 = inv.find("host", "h2")
    cold = acc.demand(_move(inv, "m1", "cold", inv.find("sr", "new"), kind="move"))
    assert acc.fits(cold)
    acc.start(cold)
    acc.ledger.used[("mem", h2)] = 50 * GIB  # others arrived: 14 GiB free
    run = acc.demand(
        Migration(
            "m2", inv.find("vm", "run"), "live", inv.find("host", "h1"), h2, cold.pool, cold.pool
        )
    )
    assert not acc.fits(run)
    assert [r.code for r in acc.reasons(run)] == [codes.HALTED_MEMORY]
    acc.end(cold)
    assert acc.fits(run) and acc.reasons(run) == []
