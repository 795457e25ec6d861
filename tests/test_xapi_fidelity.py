"""Fidelity to XAPI (issue 13's numbered cases, named in each test): the rules, the
problem builder, the collector and the simulator agree with what XAPI checks, one test
per case, each with its inventory built here. Plans go through the replay checker;
simulator tests go through the real XenAPI client."""

from __future__ import annotations

from typing import Any

import pytest
import XenAPI

from planner.check import check_plan
from planner.goals import Evacuate, MovePool, RetireSR
from planner.inventory.builder import AMD, Builder
from planner.options import PlanOptions
from planner.problem import build_problem
from planner.rules import codes, target_reasons
from planner.sim import Simulator
from planner.solve import solve
from tests.helpers.plans import mig, plan_of

GIB = 2**30
WIDE = "ffffffff-ffffffff-ffffffff-ffffffff"  # more features than BASE_FEATURES


def _two_pools(vendor_b: str = AMD):
    """Pool a (Intel, 2 hosts, shared SR; `_sleepy` adds its Suspended VM); pool b (one host of
    `vendor_b`)."""
    b = Builder()
    pa = b.pool("a")
    a1 = b.host(pa, "a1")
    b.host(pa, "a2")
    sa = b.sr(pa, "a-nfs")
    na = b.network(pa, "vm-net")
    b.network(pa, "mgmt", management=True)  # carries migration streams (has IPs)
    pb = b.pool("b")
    b1 = b.host(pb, "b1", vendor=vendor_b)
    sb = b.sr(pb, "b-nfs")
    b.network(pb, "vm-net")
    b.network(pb, "mgmt", management=True)
    return b, dict(pa=pa, a1=a1, sa=sa, na=na, pb=pb, b1=b1, sb=sb)


# ------------------------------------------------------------------ case 1


def _sleepy(b: Builder, o: dict[str, str], disk_gib: float = 10, **kw: Any) -> str:
    """A Suspended VM "sleepy" in pool a, one disk of `disk_gib` GiB on its SR, on its
    network; `kw` as `Builder.vm` takes them (suspend image, snapshots, CPU...)."""
    return b.vm(
        o["pa"],
        "sleepy",
        power_state="Suspended",
        disks=[(o["sa"], disk_gib)],
        networks=[o["na"]],
        **kw,
    )


def test_issue13_case1_suspended_vm_cpu_checked():
    b, o = _two_pools(AMD)
    vm = _sleepy(b, o)
    inv = b.build()
    v = inv.vm_by_uuid[vm]
    reasons = target_reasons(
        inv, v, "storage", o["b1"], o["pb"], {v.disks[0].uuid: o["sb"]}, PlanOptions()
    )
    assert codes.CPU_VENDOR in {r.code for r in reasons}
    # the solver leaves it unplaced with the CPU reason, and the checker refuses the move
    plan = solve(inv, MovePool((o["pa"],), (o["pb"],)), solver="greedy", time_limit=5, seed=0)
    assert [u.vm for u in plan.unplaced] == [vm]
    assert codes.CPU_VENDOR in {r.code for r in plan.unplaced[0].reasons}
    assert check_plan(inv, plan).ok
    bad = plan_of(
        inv,
        [[mig(inv, "m1", vm, to_host=o["b1"], to_sr=o["sb"])]],
        MovePool((o["pa"],), (o["pb"],)),
    )
    assert codes.CPU_VENDOR in check_plan(inv, bad).codes()


def test_issue13_case1_suspended_vm_feature_superset_refused():
    b, o = _two_pools(vendor_b="GenuineIntel")
    vm = _sleepy(b, o, cpu_features=WIDE)
    inv = b.build()
    bad = plan_of(
        inv,
        [[mig(inv, "m1", vm, to_host=o["b1"], to_sr=o["sb"])]],
        MovePool((o["pa"],), (o["pb"],)),
    )
    assert codes.CPU_FEATURES in check_plan(inv, bad).codes()


def test_issue13_case1_simulator_checks_suspended_cpu():
    b, o = _two_pools(AMD)
    vm = _sleepy(b, o)
    inv = b.build()
    with Simulator(inv, speed=2000) as sim:
        xa, xb = _session(sim, o["pa"]), _session(sim, o["pb"])
        vref = xa.VM.get_by_uuid(vm)
        dest = xb.host.migrate_receive(
            xb.host.get_by_uuid(o["b1"]), xb.network.get_by_name_label("mgmt")[0], {}
        )
        vdis = {
            xa.VBD.get_VDI(x): xb.SR.get_by_uuid(o["sb"])
            for x in xa.VM.get_VBDs(vref)
            if xa.VBD.get_type(x) == "Disk"
        }
        vifs = {x: xb.network.get_by_name_label("vm-net")[0] for x in xa.VM.get_VIFs(vref)}
        with pytest.raises(XenAPI.Failure) as e:
            xa.VM.migrate_send(vref, dest, True, vdis, vifs, {})
        assert e.value.details[0] == "VM_INCOMPATIBLE_WITH_THIS_HOST"


def _session(sim: Simulator, pool: str):
    s = XenAPI.Session(sim.urls[pool])
    s.xenapi.login_with_password("root", "secret")
    return s.xenapi


# ------------------------------------------------------------------ case 2


def _paused_lab():
    b = Builder()
    p = b.pool("a")
    h1, h2 = b.host(p, "a1"), b.host(p, "a2")
    sr = b.sr(p, "nfs")
    other = b.sr(p, "nfs2")
    net = b.network(p, "vm-net")
    b.network(p, "mgmt", management=True)
    vm = b.vm(p, "frozen", host=h1, power_state="Paused", disks=[(sr, 10)], networks=[net])
    return b.build(), dict(p=p, h1=h1, h2=h2, sr=sr, other=other, vm=vm)


def test_issue13_case2_paused_vm_unplaced_with_paused():
    inv, o = _paused_lab()
    goal = Evacuate((o["h1"],))
    plan = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    assert not list(plan.migrations())
    assert [(u.vm, [r.code for r in u.reasons]) for u in plan.unplaced] == [
        (o["vm"], [codes.PAUSED])
    ]
    assert check_plan(inv, plan).ok
    assert codes.REMEDY[codes.PAUSED].startswith("unpause it")
    # a hand-made live move of the Paused VM is refused by the checker
    bad = plan_of(inv, [[mig(inv, "m1", o["vm"], to_host=o["h2"], kind="live")]], goal)
    assert codes.PAUSED in check_plan(inv, bad).codes()


def test_issue13_case2_simulator_refuses_paused_vm():
    inv, o = _paused_lab()
    with Simulator(inv, speed=2000) as sim:
        x = _session(sim, o["p"])
        vref = x.VM.get_by_uuid(o["vm"])
        with pytest.raises(XenAPI.Failure) as e:
            x.VM.pool_migrate(vref, x.host.get_by_uuid(o["h2"]), {"live": "true"})
        assert e.value.details == ["VM_BAD_POWER_STATE", vref, "running", "paused"]
        dest = x.host.migrate_receive(
            x.host.get_by_uuid(o["h2"]), x.network.get_by_name_label("mgmt")[0], {}
        )
        vdis = {
            x.VBD.get_VDI(v): x.SR.get_by_uuid(o["other"])
            for v in x.VM.get_VBDs(vref)
            if x.VBD.get_type(v) == "Disk"
        }
        with pytest.raises(XenAPI.Failure) as e:
            x.VM.migrate_send(vref, dest, True, vdis, {}, {})
        assert e.value.details == [
            "VM_BAD_POWER_STATE",
            vref,
            "halted, suspended, running",
            "paused",
        ]


def test_issue13_case2_suspended_storage_migration_names_to_host():
    b, o = _two_pools(vendor_b="GenuineIntel")
    vm = _sleepy(b, o)
    inv = b.build()
    goal = MovePool((o["pa"],), (o["pb"],))
    plan = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    (m,) = plan.migrations()
    assert (m.vm, m.kind, m.to_host) == (vm, "storage", o["b1"])
    assert check_plan(inv, plan).ok
    # without to_host the checker says the storage migration lacks its destination
    bad = plan_of(inv, [[mig(inv, "m1", vm, to_pool=o["pb"], to_sr=o["sb"])]], goal)
    assert codes.WRONG_KIND in check_plan(inv, bad).codes()


# ------------------------------------------------------------------ case 3


def _case3_lab():
    b = Builder()
    p = b.pool("a", ha=True)
    h1, h2 = b.host(p, "a1"), b.host(p, "a2", vendor=AMD)
    sr = b.sr(p, "nfs")
    net = b.network(p, "vm-net")
    web = b.vm(p, "web", host=h1, disks=[(sr, 10)], networks=[net])
    ha = b.vm(p, "ha", host=h1, ha_protected=True, disks=[(sr, 10)], networks=[net])
    return b.build(), dict(p=p, h1=h1, h2=h2, web=web, ha=ha)


def test_issue13_case3_unplaced_reasons_are_checked():
    inv, o = _case3_lab()
    goal = Evacuate((o["h1"],))
    # an empty plan excusing every VM with a made-up code: UNKNOWN_REASON
    whatever = plan_of(inv, [], goal, unplaced={o["web"]: ["WHATEVER"], o["ha"]: ["WHATEVER"]})
    report = check_plan(inv, whatever)
    assert not report.ok and codes.UNKNOWN_REASON in report.codes()
    # a false HA_PROTECTED: web is not HA-protected
    false_ha = plan_of(
        inv, [], goal, unplaced={o["web"]: ["HA_PROTECTED"], o["ha"]: ["HA_PROTECTED"]}
    )
    lines = check_plan(inv, false_ha).lines()
    assert len(lines) == 1 and "web is unplaced with HA_PROTECTED" in lines[0]
    # the true exclusion and a true target rule (a2 is AMD: CPU_VENDOR on every target)
    true = plan_of(inv, [], goal, unplaced={o["web"]: ["CPU_VENDOR"], o["ha"]: ["HA_PROTECTED"]})
    assert check_plan(inv, true).ok
    # a target rule that does not stop web: a2 is enabled
    wrong = plan_of(
        inv, [], goal, unplaced={o["web"]: ["HOST_DISABLED"], o["ha"]: ["HA_PROTECTED"]}
    )
    assert "no target fails that rule" in check_plan(inv, wrong).lines()[0]
    # a capacity code is the solver's claim: accepted, counted apart
    claim = plan_of(inv, [], goal, unplaced={o["web"]: ["NO_CAPACITY"], o["ha"]: ["HA_PROTECTED"]})
    report = check_plan(inv, claim)
    assert report.ok and report.claimed == 1


def test_issue13_case3_target_claim_false_when_a_target_passes():
    b = Builder()
    p = b.pool("a")
    h1 = b.host(p, "a1")
    b.host(p, "a2")
    sr = b.sr(p, "nfs")
    net = b.network(p, "vm-net")
    web = b.vm(p, "web", host=h1, disks=[(sr, 10)], networks=[net])
    inv = b.build()
    plan = plan_of(inv, [], Evacuate((h1,)), unplaced={web: ["CPU_VENDOR"]})
    lines = check_plan(inv, plan).lines()
    assert len(lines) == 1 and "passes every rule" in lines[0]


# ------------------------------------------------------------------ case 4


def _case4_doc():
    """One pool, two hosts, SR `full` (1,000 GiB) whose disks use 900 GiB but whose
    used_bytes says 0; a 40 GiB disk on `old` must move (retire-sr old)."""
    b = Builder()
    p = b.pool("a")
    h1 = b.host(p, "a1")
    b.host(p, "a2")
    full = b.sr(p, "full", size_gib=1000, used_gib=0)
    old = b.sr(p, "old", size_gib=1000)
    net = b.network(p, "vm-net")
    for i in range(9):
        b.vm(p, f"fat-{i}", disks=[(full, 100)], disk_used_fraction=1.0)
    vm = b.vm(p, "mover", host=h1, disks=[(old, 40)], networks=[net])
    return b, dict(p=p, full=full, old=old, vm=vm)


def test_issue13_case4_sr_used_bytes_as_xapi_reports_it():
    from planner.inventory.validate import validate_document as validate

    b, o = _case4_doc()
    inv = b.build()
    goal = RetireSR((o["old"],))
    # the solver and the checker read the same figure: 0 used, so 3 x 40 GiB fit
    p = build_problem(inv, goal)
    assert p.sr_used[p.sr_uuid.index(o["full"])] == 0
    plan = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    (m,) = plan.migrations()
    assert {d.to_sr for d in m.disks} == {o["full"]}
    assert check_plan(inv, plan).ok
    hand = plan_of(
        inv,
        [[mig(inv, "m1", o["vm"], to_sr=o["full"], to_host=inv.vm_by_uuid[o["vm"]].host)]],
        goal,
    )
    assert check_plan(inv, hand).ok
    # and `inventory validate` says the figure is below its disks' sum
    warnings = validate(b.document()).warnings
    assert any(w.startswith("srs[0].used_bytes") and "less than" in w for w in warnings)


def test_issue13_v2_keys_validated():
    from planner.inventory.validate import validate_document as validate

    b = Builder()
    p, q = b.pool("a"), b.pool("b")
    h = b.host(p, "a1")
    b.host(q, "b1")
    sr, sq = b.sr(p, "nfs"), b.sr(q, "nfs-b")
    g, gq = b.vm_group(p, "web"), b.vm_group(q, "other")
    b.vm(p, "ok", host=h, disks=[(sr, 10)], groups=[g])
    b.vm(p, "s", power_state="Suspended", disks=[(sr, 10)], suspend_sr=sr, groups=[g])
    doc = b.document()
    assert validate(doc).ok
    vms = doc["vms"]
    vms[0]["groups"] = ["nope", gq]
    vms[0]["suspend_vdi"] = {"uuid": "sv", "sr": sq, "size_bytes": -1, "used_bytes": 1}
    vms[1]["disks"][0]["snapshot_used_bytes"] = 1.5
    doc["vm_groups"][0]["placement"] = "anti_affinity"  # XAPI's spelling, not the file's
    errors = validate(doc).errors
    for want in (
        "vms[0].groups[0]: no VM group",
        "vms[0].groups[1]: VM group",
        "vms[0].suspend_vdi: only a Suspended VM",
        "vms[0].suspend_vdi.sr: SR",
        "vms[0].suspend_vdi.size_bytes: must be a non-negative integer",
        "vms[1].disks[0].snapshot_used_bytes",
        "vm_groups[0].placement",
    ):
        assert any(e.startswith(want) for e in errors), (want, errors)


# ------------------------------------------------------------------ case 5


def test_issue13_case5_export_maps_every_vdi():
    from planner.execute.export import to_xe_script

    b = Builder()
    p = b.pool("a")
    h1 = b.host(p, "a1")
    b.host(p, "a2")
    old, keep, new = b.sr(p, "old"), b.sr(p, "keep"), b.sr(p, "new")
    assert new not in (old, keep)
    net = b.network(p, "vm-net")
    vm = b.vm(p, "two-disks", host=h1, disks=[(old, 10), (keep, 10)], networks=[net])
    inv = b.build()
    d_old, d_keep = (d.uuid for d in inv.vm_by_uuid[vm].disks)
    goal = RetireSR((old,))
    plan = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    assert check_plan(inv, plan).ok
    (m,) = plan.migrations()
    to_sr = {d.vdi: d.to_sr for d in m.disks}[d_old]
    assert to_sr != old
    (line,) = [x for x in to_xe_script(plan, inv).splitlines() if "vm-migrate" in x]
    # both disks named: the one that moves and the one that stays on its SR
    assert f"vdi:{d_old}={to_sr}" in line
    assert f"vdi:{d_keep}={keep}" in line


def test_issue13_case5_export_maps_the_suspend_image():
    from planner.execute.export import to_xe_script

    b, o = _two_pools(vendor_b="GenuineIntel")
    vm = _sleepy(b, o, suspend_sr=o["sa"])
    inv = b.build()
    plan = plan_of(
        inv,
        [[mig(inv, "m1", vm, to_host=o["b1"], to_sr=o["sb"])]],
        MovePool((o["pa"],), (o["pb"],)),
    )
    sv = inv.vm_by_uuid[vm].suspend_vdi
    (line,) = [x for x in to_xe_script(plan, inv).splitlines() if "vm-migrate" in x]
    assert f"vdi:{sv.uuid}={o['sb']}" in line


# ------------------------------------------------------------------ cases 7 and 8


def test_issue13_case7_evacuate_storage_migrates_when_live_is_blocked():
    b = Builder()
    p = b.pool("a")
    ha = b.host(p, "a")  # evacuated
    hb = b.host(p, "b", memory_gib=10)  # full: 8 GiB for guests, all taken
    hc = b.host(p, "c")
    pair = b.sr(p, "pair", shared=False, host=ha)  # seen by a and b only
    next(s for s in b.doc["srs"] if s["uuid"] == pair)["hosts"].append(hb)
    shared = b.sr(p, "shared")
    net = b.network(p, "vm-net")
    b.vm(p, "filler", host=hb, memory_gib=8, disks=[(shared, 10)], networks=[net])
    vm = b.vm(p, "web", host=ha, disks=[(pair, 10)], networks=[net])
    inv = b.build()
    goal = Evacuate((ha,))
    plan = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    assert not plan.unplaced
    (m,) = plan.migrations()
    assert (m.vm, m.kind, m.to_host) == (vm, "storage", hc)
    assert [(d.from_sr, d.to_sr) for d in m.disks] == [(pair, shared)]
    assert check_plan(inv, plan).ok


def test_issue13_case8_retire_sr_considers_other_hosts():
    b = Builder()
    p = b.pool("a")
    h1, h2 = b.host(p, "a1"), b.host(p, "a2")
    old = b.sr(p, "old")
    small = b.sr(p, "small-local", shared=False, host=h1, size_gib=20)  # too small for 3x
    big = b.sr(p, "big-local", shared=False, host=h2, size_gib=1000)
    net = b.network(p, "vm-net")
    vm = b.vm(p, "web", host=h1, disks=[(old, 30)], networks=[net])
    inv = b.build()
    assert small != big
    goal = RetireSR((old,))
    plan = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    assert not plan.unplaced
    (m,) = plan.migrations()
    assert (m.vm, m.kind, m.to_host) == (vm, "storage", h2)
    assert {d.to_sr for d in m.disks} == {big}
    assert check_plan(inv, plan).ok


# ------------------------------------------------------------------ case 13


def _group_lab(c_enabled: bool = True):
    """Pool a: hosts a (evacuated, runs x), b (runs y, same anti-affinity group), c
    (enabled or not); x and y are in group `spread`."""
    b = Builder()
    p = b.pool("a")
    ha, hb = b.host(p, "a"), b.host(p, "b")
    hc = b.host(p, "c", enabled=c_enabled)
    sr = b.sr(p, "nfs")
    net = b.network(p, "vm-net")
    g = b.vm_group(p, "spread")
    x = b.vm(p, "x", host=ha, disks=[(sr, 10)], networks=[net], groups=[g])
    y = b.vm(p, "y", host=hb, disks=[(sr, 10)], networks=[net], groups=[g])
    return b, dict(p=p, ha=ha, hb=hb, hc=hc, sr=sr, g=g, x=x, y=y)


def test_issue13_case13_anti_affinity_rule_function():
    from planner.rules.affinity import anti_affinity_reasons, current_hosts, member_hosts

    b, o = _group_lab()
    b.vm_group(o["p"], "loose", placement="normal")
    inv = b.build()
    x = inv.vm_by_uuid[o["x"]]
    now = current_hosts(inv)
    assert member_hosts(inv, x, now) == {o["hb"]: [o["y"]]}
    (r,) = anti_affinity_reasons(inv, x, o["hb"], now)
    assert r.code == codes.ANTI_AFFINITY and "spread" in r.message
    assert anti_affinity_reasons(inv, x, o["hc"], now) == []
    # y gone from b at that instant: no conflict
    assert anti_affinity_reasons(inv, x, o["hb"], {**now, o["y"]: None}) == []


def test_issue13_case13_strict_keeps_members_apart():
    b, o = _group_lab()
    inv = b.build()
    goal = Evacuate((o["ha"],))
    p = build_problem(inv, goal)
    hosts = {p.host_uuid[int(p.cand_host[c])] for c in p.cands(0)}
    assert hosts == {o["hc"]}  # b holds y, which stays
    plan = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    (m,) = plan.migrations()
    assert m.to_host == o["hc"] and check_plan(inv, plan).ok
    # a hand-made move next to y is an ANTI_AFFINITY violation in strict mode
    bad = plan_of(inv, [[mig(inv, "m1", o["x"], to_host=o["hb"])]], goal)
    assert codes.ANTI_AFFINITY in check_plan(inv, bad).codes()


def test_issue13_case13_moving_members_listed_for_the_solver():
    b, o = _group_lab()
    g = o["g"]
    z = b.vm(o["p"], "z", host=o["ha"], disks=[(o["sr"], 10)], groups=[g])
    inv = b.build()
    p = build_problem(inv, Evacuate((o["ha"],)))
    assert set(p.job_vm) == {o["x"], z}
    assert [sorted(p.job_vm[j] for j in grp) for grp in p.job_groups] == [sorted([o["x"], z])]
    assert p.subset([1]).job_groups == ()


def test_issue13_case13_soft_mode_warns():
    b, o = _group_lab(c_enabled=False)  # c is disabled: only b remains
    inv = b.build()
    goal = Evacuate((o["ha"],))
    strict = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    assert [(u.vm, {r.code for r in u.reasons}) for u in strict.unplaced] == [
        (o["x"], {codes.ANTI_AFFINITY, codes.HOST_DISABLED})
    ]
    report = check_plan(inv, strict)
    assert report.ok and report.claimed == 0  # HOST_DISABLED holds: statically verified
    soft = solve(
        inv, goal, PlanOptions(anti_affinity="soft"), solver="greedy", time_limit=5, seed=0
    )
    (m,) = soft.migrations()
    assert m.to_host == o["hb"]
    assert [w.code for w in soft.warnings if w.code == codes.ANTI_AFFINITY] == [codes.ANTI_AFFINITY]
    assert check_plan(inv, soft).ok


def test_issue13_case13_explain_shows_anti_affinity():
    from planner.explain import explain

    b, o = _group_lab()
    inv = b.build()
    e = explain(inv, o["x"])
    by_host = {c.host: {r.code for r in c.reasons} for c in e.candidates if c.kind == "live"}
    assert codes.ANTI_AFFINITY in by_host[o["hb"]] and not by_host[o["hc"]]


def test_issue13_case13_collector_and_simulator():
    from planner.inventory.collect import collect

    b, o = _group_lab()
    inv = b.build()
    with Simulator(inv, speed=2000) as sim:
        x = _session(sim, o["p"])
        (gref,) = x.VM_group.get_all()
        assert x.VM_group.get_placement(gref) == "anti_affinity"  # XAPI's enum spelling
        got = collect(list(sim.urls.values()), "root", "secret")
        assert got.vm_groups == inv.vm_groups
        assert got.vm_by_uuid[o["x"]].groups == (o["g"],)
        # XAPI does not refuse a migration next to a member: accepted, and a warning kept
        x.VM.pool_migrate(x.VM.get_by_uuid(o["x"]), x.host.get_by_uuid(o["hb"]), {})
        assert sim.inventory().vm_by_uuid[o["x"]].host == o["hb"]
        (w,) = sim.state.affinity_warnings
        assert "spread" in w


# ------------------------------------------------------------------ case 14


def test_issue13_case14_suspend_image_and_snapshots_collected():
    from planner.inventory.collect import collect

    b, o = _two_pools(vendor_b="GenuineIntel")
    vm = _sleepy(b, o, suspend_sr=o["sa"], suspend_gib=3, snapshot_gib=2)
    inv = b.build()
    with Simulator(inv, speed=2000) as sim:
        got = collect(list(sim.urls.values()), "root", "secret").vm_by_uuid[vm]
    assert got.suspend_vdi == inv.vm_by_uuid[vm].suspend_vdi
    assert got.suspend_vdi.size_bytes == 3 * GIB
    assert got.disks[0].snapshot_used_bytes == 2 * GIB


def test_issue13_case14_suspend_image_takes_space_and_time():
    from planner.durations import DEFAULT_MODEL

    b, o = _two_pools(vendor_b="GenuineIntel")
    # b-nfs has 1,000 GiB; 3 x (300 GiB disk) = 900 GiB fits, with the 8 GiB image's 24
    # GiB reservation it does not
    vm = _sleepy(b, o, disk_gib=300, memory_gib=8, suspend_sr=o["sa"])
    b.vm(o["pb"], "resident", disks=[(o["sb"], 160)], disk_used_fraction=0.5)  # 80 GiB used
    inv = b.build()
    goal = MovePool((o["pa"],), (o["pb"],))
    plan = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    assert [u.vm for u in plan.unplaced] == [vm]
    assert check_plan(inv, plan).ok
    hand = plan_of(inv, [[mig(inv, "m1", vm, to_host=o["b1"], to_sr=o["sb"])]], goal)
    assert codes.SR_SPACE in check_plan(inv, hand).codes()
    # copying the image (and snapshots) takes time
    v = inv.vm_by_uuid[vm]
    bare = DEFAULT_MODEL.estimate(
        inv, v.__class__(**{**_fields(v), "suspend_vdi": None}), "storage", {v.disks[0].uuid}
    )
    assert DEFAULT_MODEL.estimate(inv, v, "storage", {v.disks[0].uuid}) > bare


def test_issue13_case14_snapshots_move_with_the_disk_in_the_simulator():
    b, o = _two_pools(vendor_b="GenuineIntel")
    vm = _sleepy(b, o, suspend_sr=o["sa"], snapshot_gib=2)
    inv = b.build()
    before = inv.sr_by_uuid[o["sb"]].used_bytes
    v = inv.vm_by_uuid[vm]
    with Simulator(inv, speed=2000) as sim:
        xa, xb = _session(sim, o["pa"]), _session(sim, o["pb"])
        vref = xa.VM.get_by_uuid(vm)
        net = xb.network.get_by_name_label("vm-net")[0]
        mgmt = xb.network.get_by_name_label("mgmt")[0]
        dest = xb.host.migrate_receive(xb.host.get_by_uuid(o["b1"]), mgmt, {})
        sr = xb.SR.get_by_uuid(o["sb"])
        vdis = {xa.VBD.get_VDI(x): sr for x in xa.VM.get_VBDs(vref) if xa.VBD.get_type(x) == "Disk"}
        vdis[xa.VM.get_suspend_VDI(vref)] = sr
        xa.VM.migrate_send(vref, dest, True, vdis, {x: net for x in xa.VM.get_VIFs(vref)}, {})
        after = sim.inventory()
    moved = after.vm_by_uuid[vm]
    assert moved.pool == o["pb"] and moved.suspend_vdi.sr == o["sb"]
    want = v.disks[0].used_bytes + 2 * GIB + v.suspend_vdi.used_bytes
    assert after.sr_by_uuid[o["sb"]].used_bytes - before == want


def _fields(v):
    from dataclasses import fields

    return {f.name: getattr(v, f.name) for f in fields(v)}


def test_issue13_case13_whatif_maintenance_honours_groups():
    from planner.whatif import Scenario, run_scenario

    b = Builder()
    p = b.pool("a")
    ha, hb = b.host(p, "a"), b.host(p, "b")
    sr = b.sr(p, "nfs")
    net = b.network(p, "vm-net")
    g = b.vm_group(p, "spread")
    b.vm(p, "x", host=ha, disks=[(sr, 10)], networks=[net], groups=[g])
    b.vm(p, "y", host=hb, disks=[(sr, 10)], networks=[net], groups=[g])
    inv = b.build()
    strict = run_scenario(inv, Scenario("maintenance", (ha,)))
    assert not strict["feasible"] and strict["reasons"] == "ANTI_AFFINITY:1"
    soft = run_scenario(
        inv, Scenario("maintenance", (ha,), options=PlanOptions(anti_affinity="soft"))
    )
    assert soft["feasible"]
