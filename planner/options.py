"""Planning options shared by the rules, the solvers, the checker and the plan file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from planner.errors import InputError

MAX_PER_POOL = 3  # XenServer runs at most three concurrent migrations per source pool


@dataclass(frozen=True)
class PlanOptions:
    """What the plan's `options` object holds.

    headroom_fraction: share of each host's `memory_total_bytes` kept free (0 <= f < 1).
    dmc: count running VMs at `memory_min_bytes` (Dynamic Memory Control squeezes them).
    max_per_pool: concurrent migrations per source pool in one wave (1..3).
    network_map: source network uuid -> target network uuid, for cross-pool moves
        where name matching is not wanted or not possible.
    """

    headroom_fraction: float = 0.0
    dmc: bool = False
    max_per_pool: int = MAX_PER_POOL
    network_map: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.headroom_fraction < 1.0:
            raise InputError(
                f"headroom_fraction: must be in [0, 1), got {self.headroom_fraction}"
            )
        if not 1 <= self.max_per_pool <= MAX_PER_POOL:
            raise InputError(f"max_per_pool: must be 1..{MAX_PER_POOL}, got {self.max_per_pool}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "headroom_fraction": self.headroom_fraction,
            "dmc": self.dmc,
            "max_per_pool": self.max_per_pool,
        }
        if self.network_map:
            out["network_map"] = dict(self.network_map)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PlanOptions:
        """Options from a plan's `options` object (missing keys take their defaults)."""
        try:
            return cls(
                headroom_fraction=float(d.get("headroom_fraction", 0.0)),
                dmc=bool(d.get("dmc", False)),
                max_per_pool=int(d.get("max_per_pool", MAX_PER_POOL)),
                network_map=dict(d.get("network_map") or {}),
            )
        except (TypeError, ValueError) as e:
            raise InputError(f"plan options: {e}") from None
