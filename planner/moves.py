"""One migration of a plan and why a VM has none: the parts of a plan the rules use.

These frozen values sit below the rules (docs/architecture.md): a rule returns `Reason`s
and judges `Migration`s, so they cannot live in `planner.plan`, which holds the whole
schedule (steps, waves, the plan) and its file format. `planner.plan` re-exports them.
Seconds are whole seconds from the campaign's start.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("live", "storage", "move")


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason code (see docs/rules.md) with a human message."""

    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class DiskMove:
    vdi: str
    from_sr: str
    to_sr: str


@dataclass(frozen=True, slots=True)
class VifMap:
    device: str
    to_network: str


@dataclass(frozen=True, slots=True)
class Migration:
    id: str
    vm: str
    kind: str  # "live" | "storage" | "move"
    from_host: str | None
    to_host: str | None
    from_pool: str
    to_pool: str
    disks: tuple[DiskMove, ...] = ()
    vifs: tuple[VifMap, ...] = ()
    est_seconds: int = 0
    depends_on: tuple[str, ...] = ()
    # why a move exists beyond the goal: "temporary" (steps aside, moves again later),
    # "return-home"
    reason: str | None = None
    start_s: int = 0  # (v2) planned start, whole seconds from the campaign's start
    home_host: str | None = None  # (v2) home server (affinity) to set once arrived

    @property
    def end_s(self) -> int:
        """Planned end in seconds from the campaign's start."""
        return self.start_s + self.est_seconds


@dataclass(frozen=True, slots=True)
class Unplaced:
    vm: str
    reasons: tuple[Reason, ...]
