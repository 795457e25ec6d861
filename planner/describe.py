"""Plans in words and times, without matplotlib: shared by the figures, the report and
anything else that shows a plan to a person."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from planner.goals import Evacuate, Goal, MovePool, Rebalance, RetireSR, Target
from planner.plan import Migration, Plan, Step, Wave, lockstep

if TYPE_CHECKING:
    from planner.inventory.model import Inventory


def hmm(seconds: float, *, with_seconds: bool = False) -> str:
    """Seconds as h:mm (hours are not wrapped at 24), or h:mm:ss; rounded to the unit."""
    if seconds < 0:
        return "-" + hmm(-seconds, with_seconds=with_seconds)
    s = round(seconds)
    if not with_seconds:
        m = round(s / 60)
        return f"{m // 60}:{m % 60:02d}"
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def name_of(inv: Inventory | None, uuid: str | None, *, short: bool = True) -> str:
    """An object's name from `inv`; without an inventory its uuid (the first 8 characters
    when `short`); "-" for None."""
    if uuid is None:
        return "-"
    if inv is not None:
        return inv.label(uuid)
    return uuid[:8] if short else uuid


def describe_goal(goal: Goal, inv: Inventory | None = None, *, most: int | None = 4) -> str:
    """A plan's goal in words, with names when an inventory is given; at most `most`
    names of a list ("and 3 more"), every one when `most` is None."""

    def names(items: Sequence[str]) -> str:
        cut = len(items) if most is None else most
        shown = [name_of(inv, u) for u in items[:cut]]
        more = f" and {len(items) - cut} more" if len(items) > cut else ""
        return ", ".join(shown) + more

    if isinstance(goal, Evacuate):
        return f"Evacuate {names(goal.hosts)}".rstrip()
    if isinstance(goal, MovePool):
        return f"Move pool {names(goal.from_pools)} into {names(goal.to_pools)}"
    if isinstance(goal, RetireSR):
        return f"Retire SR {names(goal.srs)}"
    if isinstance(goal, Rebalance):
        n = goal.max_moves
        return "Rebalance" + (f" (at most {n} moves)" if n is not None else "")
    if isinstance(goal, Target):
        return f"Reach a target placement of {len(goal.placements)} VMs"
    return f"Rolling upgrade of pool {name_of(inv, goal.pool)} to {goal.to_version}"


def scheduled_waves(plan: Plan) -> tuple[Wave, ...]:
    """The plan's waves with every migration's and step's planned `start_s`.

    A v2 plan carries its schedule. A v1 plan (or a hand-made one whose starts are all
    zero) runs in lock step, as `planner.plan.lockstep` stamps it: a wave starts when
    the previous one has ended, its "before" steps first and its "after" steps last.
    """
    items: list[Migration | Step] = [*plan.migrations(), *(s for w in plan.waves for s in w.steps)]
    if plan.has_schedule and any(x.start_s for x in items):
        return plan.waves
    return lockstep(plan.waves)


def migration_starts(plan: Plan) -> dict[str, int]:
    """Planned start (seconds from the campaign's start) of every migration, by id."""
    return {m.id: m.start_s for w in scheduled_waves(plan) for m in w.migrations}
