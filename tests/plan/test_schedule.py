"""The list scheduler (planner/schedule.py): real start times for ordered waves."""

from __future__ import annotations

import itertools
from dataclasses import replace

from planner.plan import estimate_of
from planner.schedule import schedule
from planner.solve import solve
from tests.helpers.instances import instance
from tests.helpers.solving import assert_checked


def _scheduled(inv, plan):
    waves = schedule(inv, plan.options, plan.waves)
    return replace(plan, waves=waves, estimate=estimate_of(waves))


def test_pools_do_not_wait_for_each_other():
    """Pool B's three moves run beside pool A's, not after A's first wave."""
    x = instance("parallel-pools")
    inv = x.inv
    plan = solve(inv, x.goal, solver="greedy")
    flow = _scheduled(inv, plan)
    assert_checked(inv, flow)
    pool_b = inv.find("pool", "B")
    assert all(m.start_s == 0 for m in flow.migrations() if m.from_pool == pool_b)
    assert flow.estimate.seconds <= plan.estimate.seconds
    # pool A: six moves, three slots: the second three start as the first three end
    a = sorted((m for m in flow.migrations() if m.from_pool != pool_b), key=lambda m: m.start_s)
    ends = sorted(m.end_s for m in a[:3])
    assert [m.start_s for m in a[3:]] == ends


def test_sr_space_serialises_storage_moves():
    """Three storage moves onto a 60 GiB SR: only one reservation fits at a time."""
    x = instance("serial-sr")
    inv = x.inv
    plan = _scheduled(inv, solve(inv, x.goal, solver="greedy"))
    assert_checked(inv, plan)
    ms = sorted(plan.migrations(), key=lambda m: m.start_s)
    for x, y in itertools.pairwise(ms):
        assert y.start_s >= x.end_s
    assert plan.estimate.seconds == sum(m.est_seconds for m in ms)


def test_lower_slot_limit_stretches_the_schedule():
    x = instance("parallel-pools")
    inv = x.inv
    plan = solve(inv, x.goal, solver="greedy")
    opts = plan.options
    one = schedule(inv, opts, plan.waves, max_per_pool=1)
    per_pool: dict[str, list] = {}
    for w in one:
        for m in w.migrations:
            per_pool.setdefault(m.from_pool, []).append(m)
    for ms in per_pool.values():
        ms.sort(key=lambda m: m.start_s)
        assert all(y.start_s >= x.end_s for x, y in itertools.pairwise(ms))
