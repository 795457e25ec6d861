"""What a replay reports: `Violation` (one broken promise) and `CheckReport` (all of them).

Shared by the replay checker's wave mode (planner/check.py), its flow mode
(planner/check_flow.py) and its goal and reason checks (planner/check_goal.py).
"""

from __future__ import annotations

from dataclasses import dataclass

WAVES = "waves"
FLOW = "flow"


@dataclass(frozen=True)
class Violation:
    """One broken promise: its reason code, a message with the numbers involved, and
    where it happened (wave index, migration id and VM name, when they apply)."""

    code: str
    message: str
    wave: int | None = None
    migration: str | None = None
    vm: str | None = None
    # added for display: "db-07 -> xs-03" (VM name -> target host, SR or pool name)
    move: str | None = None
    # the way of running the plan this breaks: "waves" (rules 1-12, lock-step), "flow"
    # (rules 13-15, the schedule), None: both (a static rule, or broken either way)
    mode: str | None = None

    def __str__(self) -> str:
        where = []
        if self.wave is not None:
            where.append(f"wave {self.wave}")
        if self.migration is not None:
            where.append(f"{self.migration} ({self.move})" if self.move else self.migration)
        prefix = f"{', '.join(where)}: " if where else ""
        tag = f"[{self.mode}] " if self.mode is not None else ""
        return f"{tag}{prefix}{self.code} {self.message}"


@dataclass(frozen=True)
class CheckReport:
    """The outcome of a replay: every violation, and the size of the plan checked."""

    violations: tuple[Violation, ...]
    waves: int
    migrations: int
    # (v2) unplaced VMs excused only by capacity codes: the solver's claim, not verified
    claimed: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations

    def codes(self) -> set[str]:
        """The distinct codes found (handy in tests and summaries)."""
        return {v.code for v in self.violations}

    def lines(self) -> list[str]:
        return [str(v) for v in self.violations]
