"""Issue 13 (fidelity to XAPI): one test per numbered case this branch owns, each with its
inventory built here. Plans go through the replay checker; simulator tests go through the
real XenAPI client."""

from __future__ import annotations

import pytest
import XenAPI

from planner.check import check_plan
from planner.goals import Evacuate, MovePool
from planner.inventory.builder import AMD, Builder
from planner.options import PlanOptions
from planner.rules import codes, target_reasons
from planner.sim import Simulator
from planner.solve import solve
from tests.planhelp import mig, plan_of

GIB = 2**30
WIDE = "ffffffff-ffffffff-ffffffff-ffffffff"  # more features than BASE_FEATURES


def _two_pools(vendor_b: str = AMD):
    """Pool a (Intel, 2 hosts, shared SR) with a Suspended VM; pool b (one host of
    `vendor_b`)."""
    b = Builder()
    pa = b.pool("a")
    a1 = b.host(pa, "a1")
    b.host(pa, "a2")
    sa = b.sr(pa, "a-nfs")
    na = b.network(pa, "vm-net")
    pb = b.pool("b")
    b1 = b.host(pb, "b1", vendor=vendor_b)
    sb = b.sr(pb, "b-nfs")
    b.network(pb, "vm-net")
    return b, dict(pa=pa, a1=a1, sa=sa, na=na, pb=pb, b1=b1, sb=sb)


# ------------------------------------------------------------------ case 1


def test_issue13_case1_suspended_vm_cpu_checked():
    b, o = _two_pools(AMD)
    vm = b.vm(o["pa"], "sleepy", power_state="Suspended", disks=[(o["sa"], 10)],
              networks=[o["na"]])  # fmt: skip
    inv = b.build()
    v = inv.vm_by_uuid[vm]
    reasons = target_reasons(inv, v, "storage", o["b1"], o["pb"], {v.disks[0].uuid: o["sb"]},
                             PlanOptions())  # fmt: skip
    assert codes.CPU_VENDOR in {r.code for r in reasons}
    # the solver leaves it unplaced with the CPU reason, and the checker refuses the move
    plan = solve(inv, MovePool((o["pa"],), (o["pb"],)), solver="greedy", time_limit=5, seed=0)
    assert [u.vm for u in plan.unplaced] == [vm]
    assert codes.CPU_VENDOR in {r.code for r in plan.unplaced[0].reasons}
    assert check_plan(inv, plan).ok
    bad = plan_of(inv, [[mig(inv, "m1", vm, to_host=o["b1"], to_sr=o["sb"])]],
                  MovePool((o["pa"],), (o["pb"],)).to_json())  # fmt: skip
    assert codes.CPU_VENDOR in check_plan(inv, bad).codes()


def test_issue13_case1_suspended_vm_feature_superset_refused():
    b, o = _two_pools(vendor_b="GenuineIntel")
    vm = b.vm(o["pa"], "sleepy", power_state="Suspended", cpu_features=WIDE,
              disks=[(o["sa"], 10)], networks=[o["na"]])  # fmt: skip
    inv = b.build()
    bad = plan_of(inv, [[mig(inv, "m1", vm, to_host=o["b1"], to_sr=o["sb"])]],
                  MovePool((o["pa"],), (o["pb"],)).to_json())  # fmt: skip
    assert codes.CPU_FEATURES in check_plan(inv, bad).codes()


def test_issue13_case1_simulator_checks_suspended_cpu():
    b, o = _two_pools(AMD)
    vm = b.vm(o["pa"], "sleepy", power_state="Suspended", disks=[(o["sa"], 10)],
              networks=[o["na"]])  # fmt: skip
    inv = b.build()
    with Simulator(inv, speed=2000) as sim:
        xa, xb = _session(sim, o["pa"]), _session(sim, o["pb"])
        vref = xa.VM.get_by_uuid(vm)
        dest = xb.host.migrate_receive(xb.host.get_by_uuid(o["b1"]),
                                       xb.network.get_by_name_label("vm-net")[0], {})
        vdis = {xa.VBD.get_VDI(x): xb.SR.get_by_uuid(o["sb"]) for x in xa.VM.get_VBDs(vref)
                if xa.VBD.get_type(x) == "Disk"}  # fmt: skip
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
    vm = b.vm(p, "frozen", host=h1, power_state="Paused", disks=[(sr, 10)], networks=[net])
    return b.build(), dict(p=p, h1=h1, h2=h2, sr=sr, other=other, vm=vm)


def test_issue13_case2_paused_vm_unplaced_with_paused():
    inv, o = _paused_lab()
    goal = Evacuate((o["h1"],))
    plan = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    assert not list(plan.migrations())
    assert [(u.vm, [r.code for r in u.reasons]) for u in plan.unplaced] == [
        (o["vm"], [codes.PAUSED])]
    assert check_plan(inv, plan).ok
    assert codes.REMEDY[codes.PAUSED].startswith("unpause it")
    # a hand-made live move of the Paused VM is refused by the checker
    bad = plan_of(inv, [[mig(inv, "m1", o["vm"], to_host=o["h2"], kind="live")]], goal.to_json())
    assert codes.PAUSED in check_plan(inv, bad).codes()


def test_issue13_case2_simulator_refuses_paused_vm():
    inv, o = _paused_lab()
    with Simulator(inv, speed=2000) as sim:
        x = _session(sim, o["p"])
        vref = x.VM.get_by_uuid(o["vm"])
        with pytest.raises(XenAPI.Failure) as e:
            x.VM.pool_migrate(vref, x.host.get_by_uuid(o["h2"]), {"live": "true"})
        assert e.value.details == ["VM_BAD_POWER_STATE", vref, "running", "paused"]
        dest = x.host.migrate_receive(x.host.get_by_uuid(o["h2"]),
                                      x.network.get_by_name_label("vm-net")[0], {})
        vdis = {x.VBD.get_VDI(v): x.SR.get_by_uuid(o["other"]) for v in x.VM.get_VBDs(vref)
                if x.VBD.get_type(v) == "Disk"}  # fmt: skip
        with pytest.raises(XenAPI.Failure) as e:
            x.VM.migrate_send(vref, dest, True, vdis, {}, {})
        assert e.value.details == ["VM_BAD_POWER_STATE", vref, "halted, suspended, running",
                                   "paused"]  # fmt: skip


def test_issue13_case2_suspended_storage_migration_names_to_host():
    b, o = _two_pools(vendor_b="GenuineIntel")
    vm = b.vm(o["pa"], "sleepy", power_state="Suspended", disks=[(o["sa"], 10)],
              networks=[o["na"]])  # fmt: skip
    inv = b.build()
    goal = MovePool((o["pa"],), (o["pb"],))
    plan = solve(inv, goal, solver="greedy", time_limit=5, seed=0)
    (m,) = plan.migrations()
    assert (m.vm, m.kind, m.to_host) == (vm, "storage", o["b1"])
    assert check_plan(inv, plan).ok
    # without to_host the checker says the storage migration lacks its destination
    bad = plan_of(inv, [[mig(inv, "m1", vm, to_pool=o["pb"], to_sr=o["sb"])]], goal.to_json())
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
    goal = Evacuate((o["h1"],)).to_json()
    # an empty plan excusing every VM with a made-up code: UNKNOWN_REASON
    whatever = plan_of(inv, [], goal, unplaced={o["web"]: ["WHATEVER"], o["ha"]: ["WHATEVER"]})
    report = check_plan(inv, whatever)
    assert not report.ok and codes.UNKNOWN_REASON in report.codes()
    # a false HA_PROTECTED: web is not HA-protected
    false_ha = plan_of(inv, [], goal, unplaced={o["web"]: ["HA_PROTECTED"],
                                                o["ha"]: ["HA_PROTECTED"]})
    lines = check_plan(inv, false_ha).lines()
    assert len(lines) == 1 and "web is unplaced with HA_PROTECTED" in lines[0]
    # the true exclusion and a true target rule (a2 is AMD: CPU_VENDOR on every target)
    true = plan_of(inv, [], goal, unplaced={o["web"]: ["CPU_VENDOR"], o["ha"]: ["HA_PROTECTED"]})
    assert check_plan(inv, true).ok
    # a target rule that does not stop web: a2 is enabled
    wrong = plan_of(inv, [], goal, unplaced={o["web"]: ["HOST_DISABLED"],
                                             o["ha"]: ["HA_PROTECTED"]})
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
    plan = plan_of(inv, [], Evacuate((h1,)).to_json(), unplaced={web: ["CPU_VENDOR"]})
    lines = check_plan(inv, plan).lines()
    assert len(lines) == 1 and "passes every rule" in lines[0]
