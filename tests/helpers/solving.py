"""The one assertion every solver plan of a test goes through (`planner.check.check_plan`
reports it ok, in both modes), and the live-migration time the solver tests derive by
hand. The small fleets with known answers are data: tests/helpers/instances.py."""

from __future__ import annotations

from planner.check import check_plan
from planner.inventory.model import Inventory
from planner.plan import Plan


def assert_checked(inv: Inventory, plan: Plan) -> None:
    """Every plan a solver returns must pass the replay checker."""
    report = check_plan(inv, plan)
    assert report.ok, "\n".join(report.lines())


def gib_seconds_live(gib: float) -> int:
    """est_seconds of a live migration of `gib` GiB with the default model, computed
    here from the model's documented formula (5 s + 1.2 x memory over 125 MB/s)."""
    import math

    return max(1, math.ceil(5 + gib * 2**30 * 1.2 / 125_000_000))
