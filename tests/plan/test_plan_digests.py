"""Behaviour unchanged (issue 15): refactoring must not change a plan. The plans of a
fixed set of goals on the bundled samples are hashed (canonical JSON, without the
solver's wall-clock time) and compared with digests recorded in
tests/data/plan_digests.json. A change of behaviour that is meant updates that file in
the same commit (`python -m tests.plan.test_plan_digests` rewrites it) and says why."""

from __future__ import annotations

import hashlib
import json
import sys
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


def plan_digest(name: str) -> str:
    """The digest of case `name`'s plan; the plan must pass the replay checker."""
    sample, goal_of, solver = _cases()[name]
    inv = load(sample_path(sample))
    plan = solve(inv, goal_of(inv), solver=solver, time_limit=20, workers=1, seed=0)
    assert check_plan(inv, plan).ok, name
    doc = to_dict(plan)
    doc["solver"] = {
        k: v for k, v in doc["solver"].items() if "seconds" not in k and k != "time_limit"
    }  # wall-clock figures
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(_cases()))
def test_plans_are_unchanged(name):
    want = json.loads(DIGESTS.read_text())
    assert plan_digest(name) == want[name], (
        f"the {name} plan changed; if that is meant, rewrite {DIGESTS.name} with "
        "`python -m tests.plan.test_plan_digests` and say why in the commit"
    )


if __name__ == "__main__":
    DIGESTS.write_text(json.dumps({n: plan_digest(n) for n in sorted(_cases())}, indent=1) + "\n")
    sys.stdout.write(f"wrote {DIGESTS}\n")
