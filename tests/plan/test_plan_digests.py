"""Behaviour unchanged (issue 15): refactoring must not change a plan. The plans of a
fixed set of goals on the bundled samples, and (slow) on the fleets of
`python -m benchmarks --quick`, are hashed (canonical JSON, without the solver's
wall-clock figures) and compared with digests recorded in tests/data/plan_digests.json.
A change of behaviour that is meant updates that file in the same commit
(`python -m tests.plan.test_plan_digests` rewrites it) and says why.

The benchmark cases solve with one CP-SAT worker and a time limit the solve does not
reach, so the search, and the plan, are deterministic; the ladder itself runs two
workers against a clock, whose plans may differ from run to run."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from planner import sample_path
from planner.check import check_plan
from planner.goals import Evacuate, Goal, MovePool, Rebalance, RetireSR, RollingUpgrade
from planner.inventory import load
from planner.inventory.model import Inventory
from planner.plan import to_dict
from planner.solve import solve

DIGESTS = Path(__file__).resolve().parents[1] / "data" / "plan_digests.json"


def _cases() -> dict[str, tuple[str, Callable[[Inventory], Goal], str]]:
    """name -> (sample, goal from the inventory, solver)."""
    return {
        "sample-evacuate-greedy": (
            "sample",
            lambda i: Evacuate((i.find("host", "xs-02"),)),
            "greedy",
        ),
        "sample-evacuate-cpsat": (
            "sample",
            lambda i: Evacuate((i.find("host", "xs-02"),)),
            "cpsat",
        ),
        "sample-retire-sr-greedy": (
            "sample",
            lambda i: RetireSR((i.find("sr", "nfs-old"),)),
            "greedy",
        ),
        "sample-rebalance": ("sample", lambda i: Rebalance(), "greedy"),
        "sample-rolling-upgrade": (
            "sample",
            lambda i: RollingUpgrade(i.pools[0].uuid, "8.4.1"),
            "greedy",
        ),
        "two-pools-move-pool-greedy": (
            "two-pools",
            lambda i: MovePool((i.find("pool", "old"),), (i.find("pool", "new"),)),
            "greedy",
        ),
    }


# name -> (pools of the generated fleet, goal, solver): the ladder's 400 and 4,000 VM
# rungs (benchmarks/ladder.py QUICK), with its fleet generator, seed and goals
BENCH_CASES = {
    "bench-400-evacuate-cpsat": (1, "evacuate", "cpsat"),
    "bench-4k-evacuate-greedy": (10, "evacuate", "greedy"),
    "bench-4k-evacuate-cpsat": (10, "evacuate", "cpsat"),
    "bench-4k-move-pool-greedy": (10, "move-pool", "greedy"),
}
BENCH_LIMIT_S = 120.0  # far above the ~30 s these solves take on a 2-core machine


def plan_digest(name: str) -> str:
    """The digest of case `name`'s plan; the plan must pass the replay checker."""
    if name in BENCH_CASES:
        from benchmarks.ladder import HOSTS_PER_POOL, SEED, VMS_PER_POOL
        from benchmarks.ladder import _goal as bench_goal
        from planner.inventory.generate import generate
        from planner.inventory.io import from_dict

        pools, goal_name, solver = BENCH_CASES[name]
        # through JSON, as the ladder writes the fleet to a file and loads it
        doc = json.loads(json.dumps(generate(pools, HOSTS_PER_POOL, VMS_PER_POOL, seed=SEED)))
        inv = from_dict(doc)
        goal: Goal = bench_goal(inv, goal_name)  # type: ignore[assignment]
        limit = BENCH_LIMIT_S
    else:
        sample, goal_of, solver = _cases()[name]
        inv = load(sample_path(sample))
        goal, limit = goal_of(inv), 20
    t0 = time.perf_counter()
    plan = solve(inv, goal, solver=solver, time_limit=limit, workers=1, seed=0)
    assert time.perf_counter() - t0 < limit, f"{name}: the time limit cut the search short"
    assert check_plan(inv, plan).ok, name
    doc = to_dict(plan)
    doc["solver"] = {
        k: v for k, v in doc["solver"].items() if "seconds" not in k and k != "time_limit"
    }  # wall-clock figures
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _assert_unchanged(name: str) -> None:
    want = json.loads(DIGESTS.read_text())
    assert plan_digest(name) == want[name], (
        f"the {name} plan changed; if that is meant, rewrite {DIGESTS.name} with "
        "`python -m tests.plan.test_plan_digests` and say why in the commit"
    )


@pytest.mark.parametrize("name", sorted(_cases()))
def test_plans_are_unchanged(name):
    _assert_unchanged(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BENCH_CASES))
def test_benchmark_plans_are_unchanged(name):
    _assert_unchanged(name)


if __name__ == "__main__":
    names = sorted([*_cases(), *BENCH_CASES])
    DIGESTS.write_text(json.dumps({n: plan_digest(n) for n in names}, indent=1) + "\n")
    sys.stdout.write(f"wrote {DIGESTS}\n")
