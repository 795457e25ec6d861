"""Planning options shared by the rules, the solvers, the checker and the plan file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from planner.errors import InputError
from planner.extra_keys import extra_field, unknown_keys, with_extra

MAX_PER_POOL = 3  # XenServer runs at most three concurrent migrations per source pool
ANTI_AFFINITY_MODES = ("strict", "soft")


def slots_error(what: str, value: int, *, null: bool = False) -> str | None:
    """The one range check of a count of migrations in flight (max_per_pool,
    max_per_host, the executor's --max-per-pool): None when `value` is 1..MAX_PER_POOL,
    else the one-line message naming `what` (`null`: the option may also be null)."""
    if 1 <= value <= MAX_PER_POOL:
        return None
    return f"{what}: must be {'null or ' if null else ''}1..{MAX_PER_POOL}, got {value}"


def headroom_error(what: str, value: float) -> str | None:
    """The one range check of a headroom fraction (the plan's `headroom_fraction`,
    `--headroom`, the config's `defaults.headroom`): None when 0 <= `value` < 1, else the
    one-line message naming `what`."""
    if 0.0 <= value < 1.0:
        return None
    return f"{what}: must be at least 0 and below 1, got {value}"


@dataclass(frozen=True)
class PlanOptions:
    """What the plan's `options` object holds.

    headroom_fraction: share of each host's `memory_total_bytes` kept free (0 <= f < 1).
    dmc: count running VMs at `memory_min_bytes` (Dynamic Memory Control squeezes them).
    max_per_pool: concurrent migrations per source pool in one wave (1..3).
    network_map: source network uuid -> target network uuid, for cross-pool moves
        where name matching is not wanted or not possible.
    max_per_host: (v2) None, or the most migrations in flight that leave or enter one
        host (1 where migration traffic shares a 1 GbE link).
    anti_affinity: (v2) "strict" (never co-locate members of an anti-affinity VM group)
        or "soft" (allowed, warned as ANTI_AFFINITY, minimised by the solver).
    migration_network: (v2) target pool uuid -> network uuid carrying the migration
        stream; a pool not named uses its management network.
    extra: keys of a plan document's `options` this version does not know, kept so
        that load -> save keeps them (FORMATS.md: readers ignore unknown keys); not
        compared.
    """

    headroom_fraction: float = 0.0
    dmc: bool = False
    max_per_pool: int = MAX_PER_POOL
    network_map: Mapping[str, str] = field(default_factory=dict)
    max_per_host: int | None = None
    anti_affinity: str = "strict"
    migration_network: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = extra_field()

    def __post_init__(self) -> None:
        why = headroom_error("headroom_fraction", self.headroom_fraction)
        why = why or slots_error("max_per_pool", self.max_per_pool)
        if why is None and self.max_per_host is not None:
            why = slots_error("max_per_host", self.max_per_host, null=True)
        if why is not None:
            raise InputError(why)
        if self.anti_affinity not in ANTI_AFFINITY_MODES:
            raise InputError(
                f"anti_affinity: must be one of {', '.join(ANTI_AFFINITY_MODES)}, "
                f"got {self.anti_affinity!r}"
            )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "headroom_fraction": self.headroom_fraction,
            "dmc": self.dmc,
            "max_per_pool": self.max_per_pool,
            "max_per_host": self.max_per_host,
            "anti_affinity": self.anti_affinity,
        }
        if self.network_map:
            out["network_map"] = dict(self.network_map)
        if self.migration_network:
            out["migration_network"] = dict(self.migration_network)
        return with_extra(out, self.extra)

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str = "plan.options") -> PlanOptions:
        """Options from a plan's `options` object (missing keys take their defaults).
        Raises `InputError` naming `where` and the bad key."""

        def get(key: str, conv: Callable[[Any], Any], default: Any) -> Any:
            v = d.get(key)
            if v is None:
                return default
            try:
                return conv(v)
            except (TypeError, ValueError):
                raise InputError(f"{where}.{key}: must be {_WANT[conv]}, got {v!r}") from None

        opts = dict(
            headroom_fraction=get("headroom_fraction", float, 0.0),
            dmc=get("dmc", bool, False),
            max_per_pool=get("max_per_pool", int, MAX_PER_POOL),
            network_map=get("network_map", dict, {}),
            max_per_host=get("max_per_host", int, None),
            anti_affinity=get("anti_affinity", str, "strict"),
            migration_network=get("migration_network", dict, {}),
        )
        try:
            return cls(**opts, extra=unknown_keys(d, _KNOWN))
        except InputError as e:  # a range check of __post_init__
            raise InputError(f"{where}: {e.message}") from None


_WANT: dict[Callable[[Any], Any], str] = {
    float: "a number",
    int: "an integer",
    bool: "true or false",
    str: "a string",
    dict: "an object",
}


# the keys of a plan's `options` that PlanOptions reads; any other is kept in `extra`
_KNOWN = tuple(f.name for f in fields(PlanOptions) if f.name != "extra")
