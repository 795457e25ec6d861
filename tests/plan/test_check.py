"""The replay checker: one plan per FORMATS.md replay rule that breaks exactly that rule,
valid plans that pass, and the `planner check` command's exit statuses."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from planner.check import check_plan
from planner.cli import app
from planner.errors import InputError
from planner.goals import Evacuate, MovePool, Rebalance, RetireSR, Target
from planner.inventory import save
from planner.inventory.builder import GIB, Builder
from planner.options import PlanOptions
from planner.plan import DiskMove, Figures, Wave, estimate_of
from planner.plan import save as save_plan
from planner.rules import codes
from tests.helpers.plans import mig, plan_of


def fleet(
    *,
    h2_gib: float = 64,
    ha: bool = False,
    b_https: bool = False,
    a_version: str = "8.4.0",
    a_hotfixes: tuple[str, ...] = (),
):
    """Pool a: h1 (4 web VMs, 4 GiB each), h2, h3; shared nfs; a halted VM. Pool b: g1."""
    b = Builder()
    a = b.pool("a", ha=ha)
    h1 = b.host(a, "h1", version=a_version, hotfixes=a_hotfixes)
    b.host(a, "h2", memory_gib=h2_gib, version=a_version)
    b.host(a, "h3", version=a_version)
    nfs = b.sr(a, "nfs", size_gib=1000)
    b.sr(a, "nfs2", size_gib=1000)
    net = b.network(a, "vm-net")
    b.network(a, "mgmt", management=True)
    for i in range(4):
        b.vm(a, f"web-{i}", host=h1, memory_gib=4, disks=[(nfs, 20)], networks=[net])
    b.vm(a, "cold", disks=[(nfs, 10)], networks=[net])
    pb = b.pool("b", https_only=b_https)
    b.host(pb, "g1")
    b.sr(pb, "nfs-b", size_gib=1000)
    b.network(pb, "vm-net")
    b.network(pb, "mgmt-b", management=True)
    return b.build()


def ev(inv, *names):
    return Evacuate(tuple(inv.find("host", n) for n in names))


def evacuate_h1(inv):
    """A valid plan: web-0..2 to h2 in wave 0, web-3 to h3 in wave 1."""
    h2, h3 = inv.find("host", "h2"), inv.find("host", "h3")
    w0 = [mig(inv, f"m{i}", f"web-{i}", to_host=h2) for i in range(3)]
    w1 = [mig(inv, "m3", "web-3", to_host=h3)]
    return plan_of(inv, [w0, w1], ev(inv, "h1"))


def test_valid_plan_passes():
    inv = fleet()
    report = check_plan(inv, evacuate_h1(inv))
    assert report.ok, report.lines()
    assert (report.waves, report.migrations) == (2, 4)


def test_empty_plan_for_a_goal_already_met_passes():
    inv = fleet()
    assert check_plan(inv, plan_of(inv, [], ev(inv, "h3"))).ok


def test_digest_mismatch_raises_input_error():
    inv = fleet()
    plan = replace(evacuate_h1(inv), inventory_digest="0" * 64)
    with pytest.raises(InputError, match="another inventory"):
        check_plan(inv, plan)


# ---------------------------------------------------------------- rule 1
def test_concurrency_four_from_one_pool_in_a_wave():
    inv = fleet()
    h2 = inv.find("host", "h2")
    w0 = [mig(inv, f"m{i}", f"web-{i}", to_host=h2) for i in range(4)]
    report = check_plan(inv, plan_of(inv, [w0], ev(inv, "h1")))
    assert report.codes() == {codes.CONCURRENCY}
    assert "4 migrations from pool a" in report.lines()[0]


def test_concurrency_honours_max_per_pool_option():
    inv = fleet()
    plan = evacuate_h1(inv)
    plan = replace(plan, options=replace(plan.options, max_per_pool=2))
    assert check_plan(inv, plan).codes() == {codes.CONCURRENCY}


# ---------------------------------------------------------------- rule 2
def _one_vm_to_small_host(
    vm_gib: float,
    h2_gib: float,
    dmc: bool = False,
    min_gib: float | None = None,
    headroom: float = 0.0,
):
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1")
    b.host(a, "h2", memory_gib=h2_gib, overhead_gib=2)
    sr = b.sr(a, "nfs")
    b.vm(a, "big", host=h1, memory_gib=vm_gib, memory_min_gib=min_gib, disks=[(sr, 10)])
    inv = b.build()
    m = mig(inv, "m0", "big", to_host=inv.find("host", "h2"))
    opts = PlanOptions(headroom_fraction=headroom, dmc=dmc)
    return inv, plan_of(inv, [[m]], ev(inv, "h1"), options=opts)


def test_memory_exactly_full_passes_one_byte_over_fails():
    assert check_plan(*_one_vm_to_small_host(8, 10)).ok  # capacity 10 - 2 = 8 GiB
    report = check_plan(*_one_vm_to_small_host(8 + 1 / GIB, 10))
    assert report.codes() == {codes.MEMORY}
    v = report.violations[0]
    assert (v.wave, v.migration, v.vm) == (0, "m0", "big")
    assert "8589934593 bytes" in v.message and "8589934592 bytes" in v.message
    assert str(v).startswith("wave 0, m0 (big -> h2): MEMORY")


def test_memory_headroom_and_dmc():
    # headroom 10% of 10 GiB leaves 7 GiB: an 8 GiB VM no longer fits
    assert check_plan(*_one_vm_to_small_host(8, 10, headroom=0.1)).codes() == {codes.MEMORY}
    # under DMC the VM counts at its dynamic minimum
    assert check_plan(*_one_vm_to_small_host(9, 10, dmc=True, min_gib=6)).ok
    assert not check_plan(*_one_vm_to_small_host(9, 10, dmc=False, min_gib=6)).ok


def test_memory_is_freed_only_at_the_end_of_the_wave():
    """Swapping two VMs between two full hosts in one wave needs both copies at once."""
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1", memory_gib=10)
    h2 = b.host(a, "h2", memory_gib=10)
    h3 = b.host(a, "h3", memory_gib=10)
    b.vm(a, "x", host=h1, memory_gib=8)
    b.vm(a, "y", host=h2, memory_gib=8)
    inv = b.build()
    goal = Target({inv.find("vm", "x"): h2, inv.find("vm", "y"): h1})
    swap = [mig(inv, "m0", "x", to_host=h2), mig(inv, "m1", "y", to_host=h1)]
    report = check_plan(inv, plan_of(inv, [swap], goal))
    assert report.codes() == {codes.MEMORY}
    assert len(report.violations) == 2
    # via the spare host, in three waves, it is safe
    waves = [
        [mig(inv, "m0", "x", to_host=h3)],
        [mig(inv, "m1", "y", to_host=h1, depends_on=("m0",))],
        [mig(inv, "m2", "x", to_host=h2, from_host=h3, depends_on=("m1",))],
    ]
    assert check_plan(inv, plan_of(inv, waves, goal)).ok


# ---------------------------------------------------------------- rule 3
def _disk_to_sr(target_gib: float, source_gib: float = 1000):
    b = Builder()
    a = b.pool("a")
    b.host(a, "h1")
    src = b.sr(a, "old", size_gib=source_gib)
    b.sr(a, "new", size_gib=target_gib)
    b.vm(a, "cold", disks=[(src, 10)], disk_used_fraction=0.5)
    inv = b.build()
    m = mig(inv, "m0", "cold", to_sr=inv.find("sr", "new"))
    return inv, plan_of(inv, [[m]], RetireSR((src,)))


def test_sr_space_target_three_times_size_exactly_and_one_byte_short():
    assert check_plan(*_disk_to_sr(30)).ok
    report = check_plan(*_disk_to_sr(30 - 1 / GIB))
    assert report.codes() == {codes.SR_SPACE}
    assert "SR new" in report.violations[0].message


def test_sr_space_source_two_times_size():
    # the source holds 5 GiB used; it needs 2 x 10 GiB more free during the move
    assert check_plan(*_disk_to_sr(1000, source_gib=25)).ok
    report = check_plan(*_disk_to_sr(1000, source_gib=25 - 1 / GIB))
    assert report.codes() == {codes.SR_SPACE}
    assert "SR old" in report.violations[0].message


def test_sr_space_used_moves_at_the_end_of_the_wave():
    """Two disks into one SR: room for both reservations in separate waves only."""
    b = Builder()
    a = b.pool("a")
    b.host(a, "h1")
    src = b.sr(a, "old")
    new = b.sr(a, "new", size_gib=35)
    b.vm(a, "c1", disks=[(src, 10)], disk_used_fraction=0.5)
    b.vm(a, "c2", disks=[(src, 10)], disk_used_fraction=0.5)
    inv = b.build()
    goal = RetireSR((src,))
    both = [mig(inv, "m0", "c1", to_sr=new), mig(inv, "m1", "c2", to_sr=new)]
    assert check_plan(inv, plan_of(inv, [both], goal)).codes() == {codes.SR_SPACE}
    # wave 1: 5 GiB used + 30 GiB reserved = 35 GiB: exactly full
    apart = [[both[0]], [both[1]]]
    assert check_plan(inv, plan_of(inv, apart, goal)).ok


# ---------------------------------------------------------------- rule 4
def test_halted_vm_needs_a_host_that_could_start_it():
    def run(h1_gib: float, enabled: bool = True):
        b = Builder()
        a = b.pool("a")
        b.host(a, "h1", memory_gib=h1_gib, overhead_gib=2, enabled=enabled)
        src, new = b.sr(a, "old"), b.sr(a, "new")
        b.vm(a, "cold", memory_gib=8, disks=[(src, 10)])
        inv = b.build()
        m = mig(inv, "m0", "cold", to_sr=new)
        return check_plan(inv, plan_of(inv, [[m]], RetireSR((src,))))

    assert run(10).ok
    assert run(10 - 1 / GIB).codes() == {codes.HALTED_MEMORY}
    assert run(64, enabled=False).codes() == {codes.HALTED_MEMORY}


# ---------------------------------------------------------------- rule 5
def test_cpu_vendor_and_features():
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1", features="000000ff")
    amd = b.host(a, "amd", vendor="AuthenticAMD", features="000000ff")
    small = b.host(a, "small", features="0000000f")
    b.vm(a, "v", host=h1, cpu_features="000000f0")
    inv = b.build()
    for host, code in ((amd, codes.CPU_VENDOR), (small, codes.CPU_FEATURES)):
        plan = plan_of(inv, [[mig(inv, "m0", "v", to_host=host)]], ev(inv, "h1"))
        assert check_plan(inv, plan).codes() == {code}


# ---------------------------------------------------------------- rule 6
def test_version_older_target():
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1", version="8.4.0")
    old = b.host(a, "old", version="8.2.1")
    b.vm(a, "v", host=h1)
    inv = b.build()
    plan = plan_of(inv, [[mig(inv, "m0", "v", to_host=old)]], ev(inv, "h1"))
    assert check_plan(inv, plan).codes() == {codes.VERSION}


# ---------------------------------------------------------------- rule 7
def test_reachability_disabled_host_sr_and_network_not_attached():
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1")
    off = b.host(a, "off", enabled=False)
    h3 = b.host(a, "h3")
    local = b.sr(a, "local1", shared=False, host=h1)
    nfs = b.sr(a, "nfs")
    net = b.network(a, "vm-net", hosts=[h1, off])
    b.vm(a, "loc", host=h1, disks=[(local, 10)])
    b.vm(a, "netv", host=h1, disks=[(nfs, 10)], networks=[net])
    b.vm(a, "fine", host=h1, disks=[(nfs, 10)])
    inv = b.build()
    cases = [
        ("fine", off, codes.HOST_DISABLED),
        ("loc", h3, codes.SR_NOT_ATTACHED),
        ("netv", h3, codes.NETWORK_NOT_ATTACHED),
    ]
    for vm, host, code in cases:
        goal = Target({inv.find("vm", vm): host})
        plan = plan_of(inv, [[mig(inv, "m0", vm, to_host=host)]], goal)
        assert check_plan(inv, plan).codes() == {code}, vm


def test_cross_pool_sr_in_wrong_pool_and_unmapped_vif():
    inv = fleet()
    g1, nfs2 = inv.find("host", "g1"), inv.find("sr", "nfs2")
    goal = MovePool((inv.find("pool", "a"),), (inv.find("pool", "b"),))
    m = mig(inv, "m0", "web-0", to_host=g1, to_sr=nfs2)
    report = check_plan(inv, plan_of(inv, [[m]], goal, unplaced=_rest(inv, "web-0")))
    assert codes.SR_WRONG_POOL in report.codes()
    assert report.codes() <= {codes.SR_WRONG_POOL, codes.SR_NOT_ATTACHED}
    m = replace(mig(inv, "m0", "web-0", to_host=g1, to_sr=inv.find("sr", "nfs-b")), vifs=())
    report = check_plan(inv, plan_of(inv, [[m]], goal, unplaced=_rest(inv, "web-0")))
    assert report.codes() == {codes.NETWORK_UNMAPPED}


def _rest(inv, *moved):
    """Every VM of pool a except `moved`, excused as unplaced (for cross-pool tests)."""
    pa = inv.find("pool", "a")
    return {v.name: [codes.NO_CAPACITY] for v in inv.vms if v.pool == pa and v.name not in moved}


def test_valid_cross_pool_storage_migration_passes():
    inv = fleet()
    goal = MovePool((inv.find("pool", "a"),), (inv.find("pool", "b"),))
    m = mig(inv, "m0", "web-0", to_host=inv.find("host", "g1"), to_sr=inv.find("sr", "nfs-b"))
    report = check_plan(inv, plan_of(inv, [[m]], goal, unplaced=_rest(inv, "web-0")))
    assert report.ok, report.lines()


# ---------------------------------------------------------------- rule 8
@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({"ha_protected": True}, codes.HA_PROTECTED),
        ({"pci": True}, codes.PCI),
        ({"vgpu": True}, codes.VGPU),
        ({"on_boot": "reset"}, codes.ON_BOOT_RESET),
        ({"os": "windows", "tools": False}, codes.NO_TOOLS),
    ],
)
def test_exclusions_block_live_migration(props, code):
    b = Builder()
    a = b.pool("a", ha=True)
    h1, h2 = b.host(a, "h1"), b.host(a, "h2")
    sr = b.sr(a, "nfs")
    b.vm(a, "v", host=h1, disks=[(sr, 10)], **props)
    inv = b.build()
    plan = plan_of(inv, [[mig(inv, "m0", "v", to_host=h2)]], ev(inv, "h1"))
    assert check_plan(inv, plan).codes() == {code}


def test_sriov_blocks_migration():
    b = Builder()
    a = b.pool("a")
    h1, h2 = b.host(a, "h1"), b.host(a, "h2")
    net = b.network(a, "vf", sriov=True)
    b.vm(a, "v", host=h1, networks=[net])
    inv = b.build()
    plan = plan_of(inv, [[mig(inv, "m0", "v", to_host=h2)]], ev(inv, "h1"))
    assert check_plan(inv, plan).codes() == {codes.SRIOV}


@pytest.mark.parametrize(
    ("props", "code"), [({"cbt": True}, codes.CBT), ({"mcs": True}, codes.MCS)]
)
def test_cbt_and_mcs_block_storage_moves_only(props, code):
    b = Builder()
    a = b.pool("a")
    h1, h2 = b.host(a, "h1"), b.host(a, "h2")
    src, new = b.sr(a, "old"), b.sr(a, "new")
    b.vm(a, "v", host=h1, disks=[(src, 10)], **props)
    inv = b.build()
    live = plan_of(inv, [[mig(inv, "m0", "v", to_host=h2)]], ev(inv, "h1"))
    assert check_plan(inv, live).ok
    storage = plan_of(inv, [[mig(inv, "m0", "v", to_host=h2, to_sr=new)]], ev(inv, "h1"))
    assert check_plan(inv, storage).codes() == {code}


# ---------------------------------------------------------------- rule 9
@pytest.mark.parametrize(("hotfixes", "ok"), [((), False), (("XS82ECU1033",), True)])
def test_port80_needs_hotfix_into_https_only_pool(hotfixes, ok):
    inv = fleet(b_https=True, a_version="8.2.1", a_hotfixes=hotfixes)
    goal = MovePool((inv.find("pool", "a"),), (inv.find("pool", "b"),))
    m = mig(inv, "m0", "web-0", to_host=inv.find("host", "g1"), to_sr=inv.find("sr", "nfs-b"))
    report = check_plan(inv, plan_of(inv, [[m]], goal, unplaced=_rest(inv, "web-0")))
    assert report.ok if ok else report.codes() == {codes.PORT80}


# ---------------------------------------------------------------- rule 10
def test_continuity_wrong_from_host():
    inv = fleet()
    h2, h3 = inv.find("host", "h2"), inv.find("host", "h3")
    plan = evacuate_h1(inv)
    bad = replace(plan.waves[1].migrations[0], from_host=h2)
    plan = replace(plan, waves=(plan.waves[0], Wave(1, (bad,))))
    report = check_plan(inv, plan)
    assert report.codes() == {codes.CONTINUITY}
    assert "h1" in report.violations[0].message
    assert h3  # the move itself is fine: only its start is wrong


def test_continuity_second_move_starts_where_the_first_ended():
    inv = fleet()
    h2, h3 = inv.find("host", "h2"), inv.find("host", "h3")
    ok = [
        [mig(inv, "m0", "web-0", to_host=h2)],
        [mig(inv, "m1", "web-0", to_host=h3, from_host=h2)],
    ]
    goal = Target({inv.find("vm", "web-0"): h3})
    assert check_plan(inv, plan_of(inv, ok, goal)).ok
    stale = [ok[0], [mig(inv, "m1", "web-0", to_host=h3)]]  # from h1 again
    assert check_plan(inv, plan_of(inv, stale, goal)).codes() == {codes.CONTINUITY}


def test_continuity_same_vm_twice_in_a_wave():
    inv = fleet()
    h2, h3 = inv.find("host", "h2"), inv.find("host", "h3")
    twice = [[mig(inv, "m0", "web-0", to_host=h2), mig(inv, "m1", "web-0", to_host=h3)]]
    goal = Target({inv.find("vm", "web-0"): h2})
    assert check_plan(inv, plan_of(inv, twice, goal)).codes() == {codes.CONTINUITY}


def test_continuity_disk_from_wrong_sr():
    inv = fleet()
    nfs, nfs2 = inv.find("sr", "nfs"), inv.find("sr", "nfs2")
    cold = inv.vm_by_uuid[inv.find("vm", "cold")]
    assert cold.disks[0].sr == nfs
    good = mig(inv, "m0", "cold", to_sr=nfs2)
    anything = Rebalance(None, tolerance=None)  # no per-VM goal to meet
    plan = plan_of(inv, [[good]], anything)
    assert check_plan(inv, plan).ok
    # the same move, claiming the disk starts on nfs2 where it is not
    bad = replace(good, disks=(DiskMove(cold.disks[0].uuid, nfs2, nfs2),))
    plan = plan_of(inv, [[bad]], anything)
    assert check_plan(inv, plan).codes() == {codes.CONTINUITY}


# ---------------------------------------------------------------- rule 11
def test_goal_not_met_unless_unplaced_with_reasons():
    inv = fleet()
    plan = evacuate_h1(inv)
    short = replace(plan, waves=plan.waves[:1], estimate=estimate_of(plan.waves[:1]))
    report = check_plan(inv, short)
    assert report.codes() == {codes.GOAL}
    assert report.violations[0].vm == "web-3"
    excused = plan_of(
        inv,
        [list(plan.waves[0].migrations)],
        ev(inv, "h1"),
        unplaced={"web-3": [codes.NO_CAPACITY]},
    )
    assert check_plan(inv, excused).ok
    no_reason = plan_of(
        inv, [list(plan.waves[0].migrations)], ev(inv, "h1"), unplaced={"web-3": []}
    )
    assert check_plan(inv, no_reason).codes() == {codes.GOAL}


def test_goal_rebalance_max_moves():
    inv = fleet()
    plan = replace(evacuate_h1(inv), goal=Rebalance(3, tolerance=None))
    assert check_plan(inv, plan).codes() == {codes.GOAL}
    plan = replace(plan, goal=Rebalance(4, tolerance=None))
    assert check_plan(inv, plan).ok


# ---------------------------------------------------------------- rule 12
def test_estimate_must_match_waves():
    inv = fleet()
    plan = evacuate_h1(inv)
    want = plan.estimate.wave_seconds
    assert want == sum(max(m.est_seconds for m in w.migrations) for w in plan.waves)
    # lock-step schedule: the schedule's length is the wave figure
    assert plan.estimate.seconds == want
    for key, value in (("wave_seconds", want - 1), ("seconds", want + 1), ("waves", 3)):
        bad = replace(plan, estimate=replace(plan.estimate, **{key: value}))
        assert check_plan(inv, bad).codes() == {codes.ESTIMATE}, key
    # a version 1 plan: `seconds` is the wave figure, rule 15 does not apply
    v1 = replace(plan, version=1, estimate=Figures(waves=2, seconds=want))
    assert check_plan(inv, v1).ok


# ---------------------------------------------------------------- integrity
def test_unknown_objects_and_dependencies():
    inv = fleet()
    plan = evacuate_h1(inv)
    m = replace(plan.waves[1].migrations[0], to_host="no-such-host")
    bogus = replace(plan, waves=(plan.waves[0], Wave(1, (m,))))
    report = check_plan(inv, bogus)
    assert codes.UNKNOWN_OBJECT in report.codes()
    assert "no-such-host" in report.lines()[0]
    # depends_on a migration of the same wave, and one that does not exist
    m = replace(plan.waves[1].migrations[0], depends_on=("m0",))
    assert check_plan(inv, replace(plan, waves=(plan.waves[0], Wave(1, (m,))))).ok
    w0 = list(plan.waves[0].migrations)
    w0[1] = replace(w0[1], depends_on=("m0",))
    w1 = (replace(plan.waves[1].migrations[0], depends_on=("m99",)),)
    report = check_plan(inv, replace(plan, waves=(Wave(0, tuple(w0)), Wave(1, w1))))
    assert report.codes() == {codes.DEPENDENCY}
    assert len(report.violations) == 2


def test_wrong_kind_for_the_vm_state():
    inv = fleet()
    plan = evacuate_h1(inv)
    m = replace(plan.waves[1].migrations[0], kind="move")
    report = check_plan(inv, replace(plan, waves=(plan.waves[0], Wave(1, (m,)))))
    assert report.codes() == {codes.WRONG_KIND}


def test_every_violation_is_reported():
    """Two broken rules in one plan: both are reported, not just the first."""
    inv = fleet(h2_gib=10)
    h2 = inv.find("host", "h2")
    w0 = [mig(inv, f"m{i}", f"web-{i}", to_host=h2) for i in range(4)]
    report = check_plan(inv, plan_of(inv, [w0], ev(inv, "h1"), estimate=Figures()))
    assert report.codes() == {codes.CONCURRENCY, codes.MEMORY, codes.ESTIMATE}
    # h2 holds 8 GiB: web-0 and web-1 fit, web-2 and web-3 do not
    assert [v.migration for v in report.violations if v.code == codes.MEMORY] == ["m2", "m3"]


# ---------------------------------------------------------------- CLI
def _files(tmp_path, inv, plan):
    ip, pp = tmp_path / "inv.json", tmp_path / "plan.json"
    save(inv, ip)
    from planner.inventory import load

    # the digest of the file as written is the one a plan must carry
    plan = replace(plan, inventory_digest=load(ip).digest)
    save_plan(plan, pp)
    return str(pp), str(ip)


def test_cli_check_exit_codes(tmp_path):
    runner = CliRunner()
    inv = fleet()
    good = _files(tmp_path, inv, evacuate_h1(inv))
    r = runner.invoke(app, ["check", *good])
    assert r.exit_code == 0, r.output
    assert "safe" in r.output
    plan = evacuate_h1(inv)
    bad = _files(tmp_path, inv, replace(plan, estimate=Figures(waves=9, seconds=1)))
    r = runner.invoke(app, ["check", *bad])
    assert r.exit_code == 1
    assert "ESTIMATE" in r.output


def test_cli_check_unusable_inputs_exit_2(tmp_path):
    runner = CliRunner()
    inv = fleet()
    pp, ip = _files(tmp_path, inv, evacuate_h1(inv))
    other = tmp_path / "other.json"
    save(fleet(h2_gib=32), other)
    r = runner.invoke(app, ["check", pp, str(other)])
    assert r.exit_code == 2
    assert "another inventory" in r.stderr and "Traceback" not in r.output
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "xen-planner/plan", "version": 1, "waves": [')
    r = runner.invoke(app, ["check", str(broken), ip])
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1
    r = runner.invoke(app, ["check", str(tmp_path / "missing.json"), ip])
    assert r.exit_code == 2 and "no such file" in r.stderr
    doc = json.loads((tmp_path / "plan.json").read_text())
    doc["waves"][0]["migrations"][0]["kind"] = "teleport"
    del doc["waves"][0]["migrations"][1]["vm"]
    (tmp_path / "plan.json").write_text(json.dumps(doc))
    r = runner.invoke(app, ["check", pp, ip])
    assert r.exit_code == 2
    assert "teleport" in r.stderr and ".vm: missing" in r.stderr


# ---------------------------------------------------------------- scale
@pytest.mark.slow
def test_fifty_thousand_migrations_replay_in_seconds():
    import time

    from planner.inventory import digest
    from planner.plan import Migration, Plan, SolverInfo, estimate_of, lockstep

    b = Builder()
    pools = []
    for p in range(20):
        pool = b.pool(f"p{p}")
        hosts = [b.host(pool, f"p{p}h{i}", memory_gib=1024) for i in range(8)]
        sr = b.sr(pool, f"p{p}nfs", size_gib=100_000)
        net = b.network(pool, f"p{p}net")
        vms = [
            b.vm(
                pool, f"p{p}v{i}", host=hosts[i % 8], memory_gib=4, disks=[(sr, 10)], networks=[net]
            )
            for i in range(100)
        ]
        pools.append((pool, hosts, vms))
    inv = b.build()
    at = {v.uuid: v.host for v in inv.vms}
    waves, n = [], 0
    for w in range(50_000 // 60):  # 20 pools x 3 moves per wave
        ms = []
        for pool, hosts, vms in pools:
            for k in range(3):
                vm = vms[(w * 3 + k) % len(vms)]
                to = hosts[(hosts.index(at[vm]) + 1) % len(hosts)]
                ms.append(Migration(f"m{n}", vm, "live", at[vm], to, pool, pool, est_seconds=60))
                at[vm] = to
                n += 1
        waves.append(Wave(w, tuple(ms)))
    goal = Target(dict(at))
    waves = lockstep(waves)  # both replays: the schedule is the lock-step one
    plan = Plan(
        digest(inv),
        goal,
        PlanOptions(),
        SolverInfo(name="hand"),
        Figures(),
        tuple(waves),
        estimate=estimate_of(waves),
    )
    t = time.perf_counter()
    report = check_plan(inv, plan)
    seconds = time.perf_counter() - t
    assert report.ok, report.lines()[:5]
    assert report.migrations == n >= 49_980
    assert seconds < 20, f"{n} migrations took {seconds:.1f} s"
    # and one slip deep inside the plan is still found
    last = waves[-1].migrations[0]
    broken = (
        *waves[:-1],
        Wave(waves[-1].index, (replace(last, from_host=last.to_host), *waves[-1].migrations[1:])),
    )
    report = check_plan(inv, replace(plan, waves=broken))
    assert report.codes() == {codes.CONTINUITY}
