"""CP-SAT on cases with a known optimum; greedy's result is reported beside it."""

from __future__ import annotations

import numpy as np
import pytest
from solvehelp import (
    assert_checked,
    binpacking_trap,
    gib_seconds_live,
    one_good_pool,
    parallel_pools,
    serial_sr,
)

from planner.goals import Evacuate, MovePool, RetireSR
from planner.problem import build_problem
from planner.solve import solve
from solvers.base import Status, replay
from solvers.bounds import lower_bounds
from solvers.cpsat import solve_cpsat
from solvers.greedy import solve_greedy


def _both(inv, goal):
    out = {}
    for s in ("greedy", "cpsat"):
        plan = solve(inv, goal, solver=s, workers=1, seed=7, time_limit=10)
        assert_checked(inv, plan)
        out[s] = plan
    return out["greedy"], out["cpsat"]


def test_binpacking_trap_cpsat_places_everything():
    inv, src, _ = binpacking_trap()
    greedy, cp = _both(inv, Evacuate((src,)))
    assert len(greedy.unplaced) == 1  # worst fit strands a 2 GiB VM
    assert cp.unplaced == () and cp.status == "OPTIMAL"
    # optimum: waves {8, 6, 3} and {3, 2, 2}: the bound d(8) + d(3), met
    want = gib_seconds_live(8) + gib_seconds_live(3)
    assert cp.estimate == {"waves": 2, "seconds": want, "wave_seconds": want}
    assert cp.bounds["seconds"] == cp.estimate["seconds"]
    # the packing CP-SAT found is one of the two exact fits
    by_host: dict[str, set[float]] = {}
    for m in cp.migrations():
        by_host.setdefault(m.to_host, set()).add(inv.label(m.vm))
    assert sorted(map(sorted, by_host.values())) == [["v2a", "v2b", "v8"], ["v3a", "v3b", "v6"]]
    assert cp.solver["greedy"]["unplaced"] == 1


def test_serial_sr_moves_are_one_per_wave():
    inv, old, _ = serial_sr()
    greedy, cp = _both(inv, RetireSR((old,)))
    for plan in (greedy, cp):
        assert [len(w.migrations) for w in plan.waves] == [1, 1, 1]
        assert plan.estimate["seconds"] == plan.bounds["seconds"]
        assert plan.status == "OPTIMAL"


def test_independent_pools_run_side_by_side():
    inv, srcs = parallel_pools()
    greedy, cp = _both(inv, Evacuate(tuple(srcs)))
    d16, d8, d1 = gib_seconds_live(16), gib_seconds_live(8), gib_seconds_live(1)
    # pool A: {16,16,16} then {1,1,1}; pool B: {8,8,8} beside A's long wave
    for plan in (greedy, cp):
        assert plan.estimate == {"waves": 2, "seconds": d16 + d1, "wave_seconds": d16 + d1}
        assert sorted(m.est_seconds for m in plan.waves[0].migrations) == [d8] * 3 + [d16] * 3
        assert plan.solver["components"] == 2
        assert plan.status == "OPTIMAL"


def test_cpu_and_version_rules_leave_one_pool():
    inv, src, targets, good = one_good_pool()
    greedy, cp = _both(inv, MovePool((src,), tuple(targets)))
    for plan in (greedy, cp):
        assert plan.unplaced == ()
        assert {m.to_pool for m in plan.migrations()} == {good}
        assert plan.estimate["seconds"] == plan.bounds["seconds"]


def test_cpsat_beats_greedy_when_greedy_strands_a_vm_on_the_sample():
    """The bundled sample's maintenance demo: evacuating xs-02 needs an exact packing."""
    from planner.inventory import load, sample_path

    inv = load(sample_path())
    goal = Evacuate((inv.find("host", "xs-02"),))
    greedy, cp = _both(inv, goal)
    assert greedy.unplaced and not cp.unplaced
    assert cp.status == "OPTIMAL" and cp.estimate["seconds"] == cp.bounds["seconds"]


def test_statuses_nothing_to_do_and_no_plan():
    inv, src, _ = binpacking_trap()
    p = build_problem(inv, Evacuate((src,)))
    empty = p.subset([])
    assert solve_cpsat(empty).status == Status.NOTHING_TO_DO
    g = solve_greedy(p)
    too_big = solve_cpsat(p, hint=g, max_model_size=1)
    assert too_big.status == Status.NO_PLAN and "too large" in too_big.notes[0]
    assert (too_big.choice == -1).all()


def test_solution_replays_and_is_deterministic():
    inv, src, _ = binpacking_trap()
    p = build_problem(inv, Evacuate((src,)))
    g = solve_greedy(p)
    b = lower_bounds(p)
    runs = [solve_cpsat(p, hint=g, workers=1, seed=3, min_waves=b.waves,
                        min_seconds=b.seconds, time_limit=10) for _ in range(2)]  # fmt: skip
    assert runs[0].status == Status.OPTIMAL
    assert replay(p, runs[0].choice, runs[0].wave) == []
    assert np.array_equal(runs[0].choice, runs[1].choice)
    assert np.array_equal(runs[0].wave, runs[1].wave)
    assert runs[0].bound == runs[0].seconds(p)


def test_without_hint_cpsat_still_solves():
    inv, src, _ = binpacking_trap()
    p = build_problem(inv, Evacuate((src,)))
    sol = solve_cpsat(p, workers=1, time_limit=10, min_waves=2)
    assert sol.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert sol.n_unplaced == 0 and replay(p, sol.choice, sol.wave) == []


@pytest.mark.parametrize("limit", [0.01])
def test_tiny_time_limit_still_returns_a_checked_plan(limit):
    inv, src, _ = binpacking_trap()
    plan = solve(inv, Evacuate((src,)), time_limit=limit, workers=1)
    assert_checked(inv, plan)
    assert plan.status in ("OPTIMAL", "FEASIBLE", "PARTIAL", "NO_PLAN")
