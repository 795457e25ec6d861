"""The greedy baseline: worst-fit placement and longest-first list scheduling."""

from __future__ import annotations

import numpy as np

from planner.goals import Evacuate
from planner.inventory.builder import Builder
from planner.options import PlanOptions
from planner.problem import build_problem
from planner.solve import solve
from solvers.base import Status, derive_waves, flow_replay, list_schedule, wave_replay
from solvers.greedy import place, solve_greedy
from tests.helpers.instances import instance
from tests.helpers.solving import assert_checked, gib_seconds_live


def _in_flight(plan, key) -> int:
    """The most migrations in flight at once that share `key(m)` (an event sweep of the
    plan's own start_s / est_seconds, independent of the solver's account)."""
    events = []
    for m in plan.migrations():
        for k in key(m):
            events += [(m.start_s + m.est_seconds, -1, k), (m.start_s, 1, k)]
    now: dict = {}
    most = 0
    for _, d, k in sorted(events):
        now[k] = now.get(k, 0) + d
        most = max(most, now[k])
    return most


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


def test_longest_first_list_schedule_meets_the_longest_job():
    """Six VMs, three slots: the 32 GiB move alone lasts longer than all the others on
    the two other slots, so the schedule's length is that move's, which is optimal."""
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
    d = sorted((gib_seconds_live(g) for g in sizes), reverse=True)
    assert sum(d[1:]) <= 2 * d[0]  # the premise: the others fit beside the longest
    assert plan.estimate.seconds == d[0] == plan.bounds.seconds
    assert plan.status == "OPTIMAL"  # it meets the lower bound, which proves it
    starts = sorted((m.start_s, m.est_seconds) for m in plan.migrations())
    # the three longest start at once; each later one when a slot frees
    assert [s for s, _ in starts[:3]] == [0, 0, 0]
    assert starts[3][0] == d[2]
    assert _in_flight(plan, lambda m: [m.from_pool]) == 3
    # the derived waves replay in lock-step too (assert_checked), and are not shorter
    assert plan.estimate.wave_seconds >= plan.estimate.seconds


def test_greedy_falls_into_the_binpacking_trap():
    x = instance("binpacking-trap")
    inv = x.inv
    plan = solve(inv, x.goal, solver="greedy")
    assert_checked(inv, plan)
    assert plan.status == "PARTIAL"
    assert [r.code for u in plan.unplaced for r in u.reasons] == ["NO_CAPACITY"]


def test_greedy_respects_sr_space_by_serialising():
    x = instance("serial-sr")
    inv = x.inv
    prob = build_problem(inv, x.goal)
    sol = solve_greedy(prob)
    assert sol.status == Status.FEASIBLE
    # any two reservations overflow the target SR: one after another
    assert sol.seconds(prob) == int(prob.job_seconds.sum())
    assert flow_replay(prob, sol.choice, sol.start) == []
    wave = derive_waves(prob, sol.choice, sol.start)
    assert sorted(wave.tolist()) == [0, 1, 2]
    assert wave_replay(prob, sol.choice, wave) == []
    # starting two at once is caught by the replay
    both = sol.start.copy()
    both[both == both.max()] = 0
    assert flow_replay(prob, sol.choice, both) != []
    assert_checked(inv, solve(inv, x.goal, solver="greedy"))


def test_schedule_leaves_a_job_that_never_fits_unplaced():
    x = instance("serial-sr")
    inv = x.inv
    prob = build_problem(inv, x.goal)
    choice = place(prob)
    # shrink the target SR below any single reservation: nothing can start
    tight = prob.__class__(
        **{
            **prob.__dict__,
            "sr_size": np.where(
                np.arange(len(prob.sr_size)) == prob.cand_sr[choice[0]], 1, prob.sr_size
            ),
        }
    )
    start, _ = list_schedule(tight, choice)
    assert (start == -1).all()


def test_max_per_pool_is_respected():
    b = Builder()
    p = b.pool("lab")
    src = b.host(p, "src", memory_gib=256)
    b.host(p, "dst", memory_gib=256)
    sr = b.sr(p, "nfs")
    for i in range(7):
        b.vm(p, f"v{i}", host=src, memory_gib=1, disks=[(sr, 10)])
    inv = b.build()
    plan = solve(inv, Evacuate((src,)), PlanOptions(max_per_pool=2), solver="greedy")
    assert_checked(inv, plan)
    d = gib_seconds_live(1)
    assert _in_flight(plan, lambda m: [m.from_pool]) == 2
    assert plan.estimate.seconds == 4 * d  # 7 equal moves on 2 slots
    assert [len(w.migrations) for w in plan.waves] == [2, 2, 2, 1]


def test_max_per_host_limits_moves_that_leave_or_enter_a_host():
    """Four VMs leave `src` for two hosts; with max_per_host 1 they go one at a time
    (each leaves src), without it three at once."""
    x = instance("one-per-host")  # its options: max_per_host 1
    inv = x.inv
    assert x.options == PlanOptions(max_per_host=1)
    d = gib_seconds_live(2)
    for solver in ("greedy", "cpsat"):
        free = solve(inv, x.goal, solver=solver, time_limit=5)
        one = solve(inv, x.goal, x.options, solver=solver, time_limit=5)
        for plan in (free, one):
            assert_checked(inv, plan)
        assert free.estimate.seconds == 2 * d
        assert one.estimate.seconds == 4 * d == one.bounds.seconds
        hosts = lambda m: {m.from_host, m.to_host} - {None}  # noqa: E731
        assert _in_flight(one, hosts) == 1 and _in_flight(free, hosts) == 3


def test_compact_shifts_a_loose_schedule_left_and_keeps_every_move():
    """A feasible schedule with idle gaps (what CP-SAT may return when placing VMs is
    all it optimised) is shifted as early as the account allows, in its own order."""
    from solvers.base import compact

    x = instance("serial-sr")
    inv = x.inv
    prob = build_problem(inv, x.goal)
    sol = solve_greedy(prob)
    loose = sol.start * 2 + 500  # same order, gaps everywhere
    assert flow_replay(prob, sol.choice, loose) == []
    tight = compact(prob, sol.choice, loose)
    assert tight is not None and flow_replay(prob, sol.choice, tight) == []
    assert sorted(tight.tolist()) == sorted(sol.start.tolist())  # back to back from 0
    assert list(np.argsort(tight)) == list(np.argsort(loose))  # the order is kept
