"""The outcome of a solve, `Status`: what `solver.status` of a plan file says.

One definition for every planner (the solvers, the campaign planners, step-asides) and
every reader (summaries, reports, what-if); plan files carry its string value
(FORMATS.md `solver.status`), read back by `Status.of` at the file's edge.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Outcome of a solve. OPTIMAL: the objective is proven best (by CP-SAT, or because
    the plan meets the lower bound); FEASIBLE: a plan, not proven best; NOTHING_TO_DO: the
    goal already holds; PARTIAL: some VMs could not be placed; NO_PLAN: the solver found
    no plan in time (the caller offers greedy's instead)."""

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    NOTHING_TO_DO = "NOTHING_TO_DO"
    PARTIAL = "PARTIAL"
    NO_PLAN = "NO_PLAN"

    @classmethod
    def of(cls, value: object) -> Status | None:
        """The status a plan file's `solver.status` names; None when it names none, or
        one this version does not know (a hand-made plan: shown as "no status")."""
        if not isinstance(value, str):
            return None
        try:
            return cls(value)
        except ValueError:
            return None
