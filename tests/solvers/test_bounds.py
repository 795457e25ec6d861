"""Lower bounds: the arithmetic, and that they hold and bind where they should."""

from __future__ import annotations

from planner.plan import Figures
from planner.problem import build_problem
from planner.solve import solve
from solvers.bounds import gap, group_bound, lower_bounds, machines_bound
from tests.helpers.instances import instance
from tests.helpers.solving import assert_checked


def test_group_bound_sums_every_cth_longest():
    # sorted: 9 7 5 | 4 3 2 | 1 -> waves 3, seconds 9 + 4 + 1
    assert group_bound([3, 9, 1, 7, 2, 5, 4], 3) == (3, 14)
    assert group_bound([3, 9, 1], 1) == (3, 13)  # one at a time: everything in series
    assert group_bound([], 3) == (0, 0)


def test_machines_bound_takes_the_strongest_of_three():
    # 9 7 5 4 3 2 1 = 31 on 3 slots: longest 9, work ceil(31 / 3) = 11, d3 + d4 = 9
    assert machines_bound([3, 9, 1, 7, 2, 5, 4], 3) == 11
    # 10 10 10 10: two of the four share a slot, 10 + 10 beats the work 40 / 3
    assert machines_bound([10, 10, 10, 10], 3) == 20
    assert machines_bound([10, 10, 10, 1], 3) == 11  # the 1 follows any 10
    assert machines_bound([3, 9, 1], 1) == 13 and machines_bound([], 3) == 0


def test_gap_percent():
    assert gap(110, 100) == 10.0
    assert gap(0, 0) == 0.0
    assert gap(5, 0) == float("inf")


def test_pool_bound_is_the_max_over_pools_not_the_sum():
    x = instance("parallel-pools")
    p = build_problem(x.inv, x.goal)
    secs = sorted(p.job_seconds.tolist(), reverse=True)
    b = lower_bounds(p)
    pool_a = [s for j, s in enumerate(p.job_seconds.tolist()) if p.job_pool[j] == 0]
    pool_b = [s for j, s in enumerate(p.job_seconds.tolist()) if p.job_pool[j] != 0]
    assert b.waves == 2
    assert b.wave_seconds == max(group_bound(pool_a, 3)[1], group_bound(pool_b, 3)[1])
    assert b.wave_seconds < group_bound(secs, 3)[1] + 1
    # the schedule: pools run apart, the campaign is the longer of them
    assert b.seconds == max(machines_bound(pool_a, 3), machines_bound(pool_b, 3))
    assert b.seconds < machines_bound(secs, 3)


def test_sr_space_bound_forces_serial_moves():
    x = instance("serial-sr")
    inv = x.inv
    p = build_problem(inv, x.goal)
    b = lower_bounds(p)
    # any two of the moves reserve more than the target SR holds: one wave each
    assert b.waves == 3
    assert b.seconds == b.wave_seconds == int(p.job_seconds.sum())
    assert "target SR" in b.seconds_by and "target SR" in b.wave_seconds_by
    plan = solve(inv, x.goal, solver="greedy")
    assert_checked(inv, plan)
    assert plan.bounds == Figures(waves=3, seconds=b.seconds, wave_seconds=b.seconds)
    assert plan.estimate.seconds == b.seconds  # serial, and provably so


def test_source_sr_clique_bound():
    """Disks leaving a nearly full local SR: the 2x reservation plus the disk's own used
    bytes must fit in what the SR can ever have free, so big ones go one at a time."""
    x = instance("source-sr-clique")  # three 30 GiB disks on src's local 130 GiB SR
    inv = x.inv
    p = build_problem(inv, x.goal)
    # free ever = 130 - 45 + 45 = 130 GiB; each move weighs 2 x 30 + 15 = 75 GiB > 65
    bound = lower_bounds(p)
    assert bound.waves == 3 and bound.seconds == int(p.job_seconds.sum())
    assert bound.wave_seconds == bound.seconds
    for solver in ("greedy", "cpsat"):
        plan = solve(inv, x.goal, solver=solver, workers=1, time_limit=5)
        assert_checked(inv, plan)
        assert not plan.unplaced
        assert plan.estimate.seconds == bound.seconds  # serial, and provably so
