"""The greedy baseline: worst-fit placement and longest-first list scheduling."""

from __future__ import annotations

import numpy as np
from solvehelp import assert_checked, binpacking_trap, gib_seconds_live, serial_sr

from planner.goals import Evacuate, RetireSR
from planner.inventory.builder import Builder
from planner.problem import build_problem
from planner.solve import solve
from solvers.base import Status, replay
from solvers.greedy import place, schedule, solve_greedy


def test_largest_vm_goes_to_the_host_with_most_free_memory():
    b = Builder()
    p = b.pool("lab")
    src = b.host(p, "src", memory_gib=64)
    small = b.host(p, "small", memory_gib=34)  # 32 GiB usable
    big = b.host(p, "big", memory_gib=66)  # 64 GiB usable
    sr = b.sr(p, "nfs")
    b.vm(p, "large", host=src, memory_gib=20, disks=[(sr, 10)])
    inv = b.build()
    prob = build_problem(inv, Evacuate((src,)))
    choice = place(prob)
    assert prob.host_uuid[prob.cand_host[choice[0]]] == big
    assert small != big


def test_waves_group_the_longest_three_together():
    b = Builder()
    p = b.pool("lab")
    src = b.host(p, "src", memory_gib=256)
    b.host(p, "dst", memory_gib=256)
    sr = b.sr(p, "nfs")
    sizes = [1, 16, 2, 8, 4, 32]
    for i, gib in enumerate(sizes):
        b.vm(p, f"v{i}", host=src, memory_gib=gib, disks=[(sr, 10)])
    inv = b.build()
    plan = solve(inv, Evacuate((src,)), solver="greedy")
    assert_checked(inv, plan)
    waves = [sorted(m.est_seconds for m in w.migrations) for w in plan.waves]
    d = sorted((gib_seconds_live(g) for g in sizes), reverse=True)
    # two waves: the three longest, then the rest; seconds = d[0] + d[3]
    assert waves == [sorted(d[:3]), sorted(d[3:])]
    assert plan.estimate["seconds"] == d[0] + d[3]
    assert plan.status == "OPTIMAL"  # it meets the lower bound, which proves it


def test_greedy_falls_into_the_binpacking_trap():
    inv, src, _ = binpacking_trap()
    plan = solve(inv, Evacuate((src,)), solver="greedy")
    assert_checked(inv, plan)
    assert plan.status == "PARTIAL"
    assert [r.code for u in plan.unplaced for r in u.reasons] == ["NO_CAPACITY"]


def test_greedy_respects_sr_space_by_serialising():
    inv, old, _ = serial_sr()
    prob = build_problem(inv, RetireSR((old,)))
    sol = solve_greedy(prob)
    assert sol.status == Status.FEASIBLE and sol.n_waves == 3
    assert replay(prob, sol.choice, sol.wave) == []
    assert_checked(inv, solve(inv, RetireSR((old,)), solver="greedy"))


def test_schedule_leaves_a_job_that_never_fits_unplaced():
    inv, old, _ = serial_sr()
    prob = build_problem(inv, RetireSR((old,)))
    choice = place(prob)
    # shrink the target SR below any single reservation: nothing can start
    tight = prob.__class__(**{**prob.__dict__, "sr_size": np.where(
        np.arange(len(prob.sr_size)) == prob.cand_sr[choice[0]], 1, prob.sr_size)})
    wave = schedule(tight, choice)
    assert (wave == -1).all()


def test_max_per_pool_is_respected():
    b = Builder()
    p = b.pool("lab")
    src = b.host(p, "src", memory_gib=256)
    b.host(p, "dst", memory_gib=256)
    sr = b.sr(p, "nfs")
    for i in range(7):
        b.vm(p, f"v{i}", host=src, memory_gib=1, disks=[(sr, 10)])
    inv = b.build()
    from planner.options import PlanOptions

    plan = solve(inv, Evacuate((src,)), PlanOptions(max_per_pool=2), solver="greedy")
    assert_checked(inv, plan)
    assert [len(w.migrations) for w in plan.waves] == [2, 2, 2, 1]
