"""Property tests on hypothesis-generated small fleets: every plan from both solvers
passes the checker, CP-SAT is never worse than greedy, and the bounds hold."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.goals import Evacuate, MovePool, RetireSR
from planner.inventory.builder import AMD, INTEL, Builder
from planner.problem import build_problem
from planner.solve import solve
from tests.helpers.solving import assert_checked


@st.composite
def fleets(draw):
    b = Builder()
    n_pools = draw(st.sampled_from([1, 2, 2]))
    pools = []
    for pi in range(n_pools):
        p = b.pool(f"p{pi}", https_only=draw(st.booleans()))
        hosts = [
            b.host(
                p,
                f"p{pi}-h{hi}",
                memory_gib=draw(st.sampled_from([16, 24, 32, 48])),
                version=draw(st.sampled_from(["8.2.1", "8.4.0", "8.4.0"])),
                vendor=draw(st.sampled_from([INTEL] * 4 + [AMD])),
            )
            for hi in range(draw(st.integers(2, 4)))
        ]
        shared = b.sr(p, f"p{pi}-nfs", size_gib=draw(st.sampled_from([150, 400, 2000])))
        b.sr(p, f"p{pi}-nfs2", size_gib=draw(st.sampled_from([100, 300, 2000])))
        local = b.sr(
            p,
            f"p{pi}-local",
            size_gib=draw(st.sampled_from([120, 500])),
            shared=False,
            host=hosts[0],
        )
        net = b.network(p, "vm-net")
        for vi in range(draw(st.integers(2, 8))):
            state = draw(st.sampled_from(["Running", "Running", "Running", "Halted", "Suspended"]))
            host = draw(st.sampled_from(hosts)) if state == "Running" else None
            on_local = draw(st.booleans()) and (host in (None, hosts[0]))
            if on_local and state == "Running":
                host = hosts[0]
            disks = [(local if on_local else shared, draw(st.sampled_from([5, 20, 40])))]
            if draw(st.booleans()):
                disks.append((shared, draw(st.sampled_from([5, 10]))))
            b.vm(
                p,
                f"p{pi}-v{vi}",
                host=host,
                power_state=state,
                memory_gib=draw(st.sampled_from([1, 2, 4, 8])),
                disks=disks,
                networks=[net],
                cbt=draw(st.booleans()) and draw(st.booleans()),
            )
        pools.append((p, hosts, shared))
    inv = b.build()
    kinds = ["evacuate", "retire-sr"] + (["move-pool"] if n_pools == 2 else [])
    kind = draw(st.sampled_from(kinds + kinds[-1:]))
    p0, hosts0, shared0 = pools[0]
    if kind == "evacuate":
        goal = Evacuate(
            tuple(draw(st.lists(st.sampled_from(hosts0), min_size=1, max_size=2, unique=True)))
        )
    elif kind == "retire-sr":
        goal = RetireSR((shared0,))
    else:
        goal = MovePool((p0,), (pools[1][0],))
    return inv, goal


@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(fleets())
def test_both_solvers_give_checked_plans_and_cpsat_is_never_worse(case):
    inv, goal = case
    plans = {}
    for solver in ("greedy", "cpsat"):
        plan = solve(inv, goal, solver=solver, workers=1, seed=1, time_limit=3)
        assert_checked(inv, plan)
        plans[solver] = plan
    g, c = plans["greedy"], plans["cpsat"]
    assert (len(c.unplaced), c.estimate.seconds) <= (len(g.unplaced), g.estimate.seconds)
    assert c.solver.greedy.seconds == g.estimate.seconds
    jobs = build_problem(inv, goal).n_jobs
    for plan in (g, c):
        if sum(1 for _ in plan.migrations()) == jobs:  # the bounds are for complete plans
            assert plan.bounds.seconds <= plan.estimate.seconds
            assert plan.bounds.waves <= plan.estimate.waves
        if plan.status == "OPTIMAL" and plan.solver.components == 1:
            assert c.estimate.seconds <= plan.estimate.seconds
