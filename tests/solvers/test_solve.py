"""`planner.solve.solve`: the assembled plan (FORMATS.md), statuses and options."""

from __future__ import annotations

import pytest

from planner.errors import InputError
from planner.goals import Evacuate, MovePool, RetireSR
from planner.inventory import digest
from planner.inventory.builder import Builder
from planner.options import PlanOptions
from planner.plan import Figures, estimate_of, from_dict, to_dict
from planner.solve import solve
from tests.helpers.instances import instance
from tests.helpers.solving import assert_checked


def _two_pools(n_vms: int = 4):
    b = Builder()
    old, new = b.pool("old"), b.pool("new")
    o1 = b.host(old, "o1", memory_gib=128)
    n1 = b.host(new, "n1", memory_gib=128)
    n2 = b.host(new, "n2", memory_gib=128)
    o_sr, n_sr = b.sr(old, "o-nfs"), b.sr(new, "n-nfs")
    o_net, o_back = b.network(old, "vm-net"), b.network(old, "backup")
    n_net, n_other = b.network(new, "vm-net"), b.network(new, "bk-2")
    for i in range(n_vms):
        b.vm(old, f"run-{i}", host=o1, memory_gib=4, disks=[(o_sr, 20)], networks=[o_net, o_back])
    b.vm(old, "cold", memory_gib=4, disks=[(o_sr, 20)], networks=[o_net, o_back])
    return b.build(), dict(
        old=old, new=new, n1=n1, n2=n2, n_sr=n_sr, n_net=n_net, n_other=n_other, o_back=o_back
    )


def test_move_pool_plan_has_every_formats_field():
    inv, x = _two_pools()
    opts = PlanOptions(network_map={x["o_back"]: x["n_other"]})
    plan = solve(inv, MovePool((x["old"],), (x["new"],)), opts, workers=1)
    assert_checked(inv, plan)
    assert plan.inventory_digest == digest(inv)
    assert plan.goal == MovePool((x["old"],), (x["new"],))
    assert plan.options == opts
    assert plan.estimate == estimate_of(plan.waves)
    assert set(to_dict(plan)["solver"]) >= {
        "name",
        "status",
        "wall_seconds",
        "objective",
        "best_bound",
        "greedy",
    }
    ids = [m.id for m in plan.migrations()]
    assert ids == [f"m{i}" for i in range(1, 6)]
    assert [w.index for w in plan.waves] == list(range(len(plan.waves)))
    for m in plan.migrations():
        vm = inv.vm_by_uuid[m.vm]
        assert m.to_pool == x["new"] and m.from_pool == x["old"]
        assert {d.to_sr for d in m.disks} == {x["n_sr"]}
        assert {d.vdi for d in m.disks} == {d.uuid for d in vm.disks}
        # vm-net maps by name, backup by the network map
        assert {v.device: v.to_network for v in m.vifs} == {"0": x["n_net"], "1": x["n_other"]}
        if vm.power_state == "Halted":
            assert m.kind == "move" and m.to_host is None and m.from_host is None
        else:
            assert m.kind == "storage" and m.to_host in (x["n1"], x["n2"])
    # the plan survives its JSON round trip
    assert from_dict(to_dict(plan)) == plan


def test_goal_already_met_is_an_empty_plan():
    b = Builder()
    p = b.pool("lab")
    h1 = b.host(p, "xs-01")
    b.host(p, "xs-02")
    sr = b.sr(p, "nfs")
    b.vm(p, "off", memory_gib=4, disks=[(sr, 10)])  # halted: nothing runs on xs-01
    inv = b.build()
    plan = solve(inv, Evacuate((h1,)))
    assert_checked(inv, plan)
    assert plan.status == "NOTHING_TO_DO"
    assert plan.waves == () and plan.unplaced == ()
    assert plan.estimate == plan.bounds == Figures(waves=0, seconds=0, wave_seconds=0)


def test_unplaced_vm_makes_the_plan_partial_and_the_rest_still_moves():
    b = Builder()
    p = b.pool("lab", ha=True)
    h1, h2 = b.host(p, "xs-01"), b.host(p, "xs-02")
    sr = b.sr(p, "nfs")
    b.vm(p, "ha", host=h1, ha_protected=True, disks=[(sr, 10)])
    ok = b.vm(p, "web", host=h1, disks=[(sr, 10)])
    inv = b.build()
    plan = solve(inv, Evacuate((h1,)))
    assert_checked(inv, plan)
    assert plan.status == "PARTIAL"
    assert [m.vm for m in plan.migrations()] == [ok]
    assert [m.to_host for m in plan.migrations()] == [h2]
    assert [[r.code for r in u.reasons] for u in plan.unplaced] == [["HA_PROTECTED"]]


def test_headroom_leaves_a_vm_without_room():
    b = Builder()
    p = b.pool("lab")
    h1 = b.host(p, "xs-01", memory_gib=64)
    b.host(p, "xs-02", memory_gib=32, overhead_gib=2)  # 30 GiB usable, 26.8 with 10%
    sr = b.sr(p, "nfs")
    b.vm(p, "big", host=h1, memory_gib=28, disks=[(sr, 10)])
    inv = b.build()
    assert solve(inv, Evacuate((h1,))).status == "OPTIMAL"
    plan = solve(inv, Evacuate((h1,)), PlanOptions(headroom_fraction=0.1))
    assert_checked(inv, plan)
    assert plan.status == "PARTIAL"
    assert plan.unplaced[0].reasons[0].code == "NO_CAPACITY"


def test_retire_sr_with_halted_and_running_vms():
    b = Builder()
    p = b.pool("lab")
    h1, _ = b.host(p, "xs-01"), b.host(p, "xs-02")
    old, new = b.sr(p, "old"), b.sr(p, "new")
    run = b.vm(p, "run", host=h1, disks=[(old, 10), (new, 5)])
    cold = b.vm(p, "cold", disks=[(old, 10)])
    inv = b.build()
    plan = solve(inv, RetireSR((old,)), workers=1)
    assert_checked(inv, plan)
    kinds = {m.vm: (m.kind, m.from_host, m.to_host, len(m.disks)) for m in plan.migrations()}
    # a storage migration lists every disk, the one that stays with to_sr = from_sr
    assert kinds == {run: ("storage", h1, h1, 2), cold: ("move", None, None, 1)}
    (m,) = [m for m in plan.migrations() if m.vm == run]
    assert {(d.from_sr, d.to_sr) for d in m.disks} == {(old, new), (new, new)}


def test_progress_messages_and_bad_arguments():
    inv, goal = instance("binpacking-trap").inv, instance("binpacking-trap").goal
    seen: list[str] = []
    assert_checked(inv, solve(inv, goal, workers=1, progress=seen.append))
    assert seen[0].startswith("problem:") and seen[-1].startswith("done:")
    with pytest.raises(InputError, match="--solver"):
        solve(inv, goal, solver="magic")
    with pytest.raises(InputError, match="--time-limit"):
        solve(inv, goal, time_limit=0)
    with pytest.raises(InputError, match="--workers"):
        solve(inv, goal, workers=0)


def test_greedy_figures_are_reported_beside_cpsat():
    x = instance("binpacking-trap")
    inv = x.inv
    plan = solve(inv, x.goal, workers=1)
    assert_checked(inv, plan)
    g = plan.solver.greedy
    assert g.unplaced == 1 and g.seconds > 0 and g.waves >= 1
    assert plan.solver.objective == plan.estimate.seconds
    assert plan.solver.best_bound >= plan.bounds.seconds
    assert plan.solver.bound_assumes and "bounds hold" in plan.solver.bound_assumes


def test_every_start_and_dependency_is_consistent():
    """Start times: a migration starts after every migration it depends on has ended;
    ids follow start order; the estimate is the latest end, and the waves replay."""
    inv, x = _two_pools(n_vms=7)
    opts = PlanOptions(network_map={x["o_back"]: x["n_other"]})
    plan = solve(inv, MovePool((x["old"],), (x["new"],)), opts, workers=1, time_limit=5)
    assert_checked(inv, plan)
    migs = {m.id: m for m in plan.migrations()}
    assert len(migs) == 8 and not plan.unplaced
    order = sorted(migs.values(), key=lambda m: (m.start_s, int(m.id[1:])))
    assert [m.id for m in order] == [f"m{i}" for i in range(1, len(migs) + 1)]
    for m in migs.values():
        for d in m.depends_on:
            assert migs[d].end_s <= m.start_s
    assert plan.estimate.seconds == max(m.end_s for m in migs.values())
    # at most max_per_pool in flight from the old pool at any instant
    for t in {m.start_s for m in migs.values()}:
        assert sum(1 for m in migs.values() if m.start_s <= t < m.end_s) <= 3


def test_independent_components_all_start_at_zero():
    x = instance("parallel-pools")
    inv = x.inv
    plan = solve(inv, x.goal, workers=1)
    assert_checked(inv, plan)
    assert plan.solver.components == 2
    first = {}
    for m in plan.migrations():
        first[m.from_pool] = min(first.get(m.from_pool, 1 << 30), m.start_s)
    assert set(first.values()) == {0}
    longest = {}
    for m in plan.migrations():
        longest[m.from_pool] = max(longest.get(m.from_pool, 0), m.end_s)
    assert plan.estimate.seconds == max(longest.values())


@pytest.mark.parametrize("kind", ["rebalance", "target"])
def test_campaign_goals_go_through_solve(kind):
    """Every goal through one solve(): the campaign planners choose the moves."""
    from planner.goals import Rebalance, Target

    b = Builder()
    p = b.pool("lab")
    h1, h2 = b.host(p, "xs-01", memory_gib=64), b.host(p, "xs-02", memory_gib=64)
    sr = b.sr(p, "nfs")
    vms = [b.vm(p, f"v{i}", host=h1, memory_gib=8, disks=[(sr, 10)]) for i in range(4)]
    inv = b.build()
    goal = Rebalance() if kind == "rebalance" else Target({vms[0]: h2})
    plan = solve(inv, goal)
    assert_checked(inv, plan)
    assert plan.goal.kind == kind
    moved = list(plan.migrations())
    assert moved and all(m.to_host == h2 for m in moved)
    assert plan.estimate.seconds == max(m.end_s for m in moved)


@pytest.mark.slow
def test_ten_generated_pools_in_time_and_checked():
    """Scale: 4,000 generated VMs, evacuate two hosts per pool, both solvers."""
    import time

    from planner.inventory import from_dict
    from planner.inventory.generate import generate

    inv = from_dict(generate(10, 16, 400, seed=3))
    hosts = tuple(h.uuid for hs in inv.hosts_in_pool.values() for h in hs[:2])
    plans = {}
    for solver in ("greedy", "cpsat"):
        t0 = time.perf_counter()
        plans[solver] = solve(inv, Evacuate(hosts), solver=solver, time_limit=10, workers=2)
        assert time.perf_counter() - t0 < 15
        assert_checked(inv, plans[solver])
    g, c = plans["greedy"], plans["cpsat"]
    assert (len(c.unplaced), c.estimate.seconds) <= (len(g.unplaced), g.estimate.seconds)


def test_rolling_upgrade_goes_through_solve_with_a_schedule():
    """The rolling-upgrade campaign through the one solve(): host steps and moves get
    start times from the list scheduler; the plan passes both replays."""
    from planner.goals import RollingUpgrade

    b = Builder()
    p = b.pool("lab")
    hosts = [b.host(p, f"xs-0{i}", memory_gib=64, version="8.2.1") for i in range(1, 4)]
    sr = b.sr(p, "nfs")
    for i, h in enumerate(hosts):
        b.vm(p, f"v{i}", host=h, memory_gib=8, disks=[(sr, 10)])
    inv = b.build()
    plan = solve(inv, RollingUpgrade(p, "8.4.0"))
    assert_checked(inv, plan)
    assert plan.goal.kind == "rolling-upgrade"
    steps = [s for w in plan.waves for s in w.steps]
    assert {s.kind for s in steps} >= {"host-disable", "host-upgrade", "host-enable"}
    ends = [m.end_s for m in plan.migrations()] + [s.end_s for s in steps]
    assert plan.estimate.seconds == max(ends) > 0
