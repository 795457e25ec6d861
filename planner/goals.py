"""Goals: what a campaign must achieve, and the per-VM test of whether it holds.

A goal names objects by uuid; `parse_*` helpers resolve names given on the command line.
`must_move(goal, inv, vm)` says whether a VM has to move at all; `satisfied(goal, inv, vm,
where)` says whether the VM's final position meets the goal (FORMATS.md rule 11).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from planner.errors import InputError, LookupFailed
from planner.extra_keys import extra_field, unknown_keys, with_extra
from planner.inventory.model import VM, Inventory

DEFAULT_TOLERANCE = 0.10  # rebalance: max - min memory utilisation accepted, 10 points


@dataclass(frozen=True)
class Evacuate:
    """No Running or Paused VM may remain on `hosts` (maintenance)."""

    hosts: tuple[str, ...]
    kind: str = field(default="evacuate", init=False)
    extra: Mapping[str, Any] = extra_field()

    def to_json(self) -> dict[str, Any]:
        return with_extra({"kind": self.kind, "hosts": list(self.hosts)}, self.extra)


@dataclass(frozen=True)
class MovePool:
    """Every VM of `from_pools` ends in one of `to_pools`."""

    from_pools: tuple[str, ...]
    to_pools: tuple[str, ...]
    kind: str = field(default="move-pool", init=False)
    extra: Mapping[str, Any] = extra_field()

    def to_json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "from": list(self.from_pools), "to": list(self.to_pools)}
        return with_extra(out, self.extra)


@dataclass(frozen=True)
class RetireSR:
    """No disk may remain on `srs`."""

    srs: tuple[str, ...]
    kind: str = field(default="retire-sr", init=False)
    extra: Mapping[str, Any] = extra_field()

    def to_json(self) -> dict[str, Any]:
        return with_extra({"kind": self.kind, "srs": list(self.srs)}, self.extra)


@dataclass(frozen=True)
class Rebalance:
    """Even out memory utilisation within each pool, with at most `max_moves` moves.

    `tolerance`: the widest spread of memory utilisation (max - min, a fraction of 1)
    accepted in a pool. None only for a plan document that states none (older or
    hand-made plans): the checker then holds it to `max_moves` only, and the planner
    uses `DEFAULT_TOLERANCE` (`tolerance_or_default`)."""

    max_moves: int | None = None
    tolerance: float | None = DEFAULT_TOLERANCE
    kind: str = field(default="rebalance", init=False)
    extra: Mapping[str, Any] = extra_field()

    @property
    def tolerance_or_default(self) -> float:
        """The tolerance the planner works to (fraction of 1)."""
        return DEFAULT_TOLERANCE if self.tolerance is None else self.tolerance

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "max_moves": self.max_moves}
        if self.tolerance is not None:
            out["tolerance"] = self.tolerance
        return with_extra(out, self.extra)


@dataclass(frozen=True)
class Target:
    """Each named VM ends on its named host."""

    placements: Mapping[str, str]
    kind: str = field(default="target", init=False)
    extra: Mapping[str, Any] = extra_field()

    def to_json(self) -> dict[str, Any]:
        return with_extra({"kind": self.kind, "placements": dict(self.placements)}, self.extra)


@dataclass(frozen=True)
class RollingUpgrade:
    """Every host of `pool` ends at `to_version`, each upgraded while empty of running
    VMs, the master first (docs/plan-extensions.md). `order` is the operator's host order
    (empty: the planner chooses); `return_home` adds the moves back home afterwards."""

    pool: str
    to_version: str
    order: tuple[str, ...] = ()
    return_home: bool = False
    kind: str = field(default="rolling-upgrade", init=False)
    extra: Mapping[str, Any] = extra_field()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "pool": self.pool, "to_version": self.to_version}
        if self.order:
            out["order"] = list(self.order)
        if self.return_home:
            out["return_home"] = True
        return with_extra(out, self.extra)


Goal = Evacuate | MovePool | RetireSR | Rebalance | Target | RollingUpgrade


@dataclass(frozen=True, slots=True)
class Position:
    """Where a VM is: resident host (None unless running), pool, and each disk's SR."""

    host: str | None
    pool: str
    disks: Mapping[str, str]

    @classmethod
    def of(cls, vm: VM) -> Position:
        return cls(vm.host if vm.is_running else None, vm.pool, {d.uuid: d.sr for d in vm.disks})


def satisfied(goal: Goal, inv: Inventory, vm: VM, where: Position) -> bool:
    """Whether `vm`, at `where`, meets `goal` (VMs the goal does not concern always do)."""
    if isinstance(goal, Evacuate):
        return not (vm.is_running and where.host in goal.hosts)
    if isinstance(goal, MovePool):
        return vm.pool not in goal.from_pools or where.pool in goal.to_pools
    if isinstance(goal, RetireSR):
        return not any(sr in goal.srs for sr in where.disks.values())
    if isinstance(goal, Target):
        want = goal.placements.get(vm.uuid)
        return want is None or where.host == want
    return True  # Rebalance has no per-VM condition


def must_move(goal: Goal, inv: Inventory, vm: VM) -> bool:
    """Whether `vm` has to move for `goal` to hold (False for Rebalance: optional moves)."""
    return not satisfied(goal, inv, vm, Position.of(vm))


# the keys each kind of goal document knows; any other key is kept in the goal's `extra`
_KEYS = {
    "evacuate": ("hosts",),
    "move-pool": ("from", "to"),
    "retire-sr": ("srs",),
    "rebalance": ("max_moves", "tolerance"),
    "target": ("placements",),
    "rolling-upgrade": ("pool", "to_version", "order", "return_home"),
}


def _strings(kind: str, values: Any, path: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(x, str) for x in values):
        raise InputError(f"{path}: must be a list of {kind} uuids")
    return tuple(values)


def parse_goal_json(d: Any, where: str = "goal") -> Goal:
    """The goal a plan document's `goal` object states, checked for shape only (no
    inventory: whether its uuids exist is `check_goal_refs`'s question). Keys this
    version does not know are kept in the goal's `extra`. Raises `InputError` naming
    the first bad field (`{where}.hosts: must be a list of host uuids`)."""
    if not isinstance(d, dict) or "kind" not in d:
        raise InputError(f"{where}: must be an object with a 'kind'")
    kind = d["kind"]
    if kind not in _KEYS:
        raise InputError(
            f"{where}.kind: unknown goal {kind!r}; "
            "expected evacuate, move-pool, retire-sr, rebalance, target or rolling-upgrade"
        )
    extra = unknown_keys(d, ("kind", *_KEYS[kind]))
    if kind == "evacuate":
        return Evacuate(_strings("host", d.get("hosts"), f"{where}.hosts"), extra=extra)
    if kind == "move-pool":
        return MovePool(
            _strings("pool", d.get("from"), f"{where}.from"),
            _strings("pool", d.get("to"), f"{where}.to"),
            extra=extra,
        )
    if kind == "retire-sr":
        return RetireSR(_strings("sr", d.get("srs"), f"{where}.srs"), extra=extra)
    if kind == "rebalance":
        mm = d.get("max_moves")
        if mm is not None and (not isinstance(mm, int) or isinstance(mm, bool) or mm < 0):
            raise InputError(f"{where}.max_moves: must be a non-negative integer or null")
        tol = d.get("tolerance")  # absent (or null): the document states none
        if tol is not None and (
            not isinstance(tol, int | float) or isinstance(tol, bool) or not 0 <= tol <= 1
        ):
            raise InputError(f"{where}.tolerance: must be a number in [0, 1]")
        return Rebalance(mm, None if tol is None else float(tol), extra=extra)
    if kind == "target":
        pl = d.get("placements")
        if not isinstance(pl, dict):
            raise InputError(f"{where}.placements: must be an object {{vm: host}}")
        _strings("vm", list(pl), f"{where}.placements")
        _strings("host", list(pl.values()), f"{where}.placements")
        return Target(dict(pl), extra=extra)
    pool = d.get("pool")
    if not isinstance(pool, str):
        raise InputError(f"{where}.pool: must be a pool uuid")
    ver = d.get("to_version")
    if not isinstance(ver, str) or not ver:
        raise InputError(f"{where}.to_version: must be a version string")
    order = _strings("host", d.get("order", []), f"{where}.order")
    back = d.get("return_home", False)
    if not isinstance(back, bool):
        raise InputError(f"{where}.return_home: must be true or false")
    return RollingUpgrade(pool, ver, order, back, extra=extra)


def check_goal_refs(goal: Goal, inv: Inventory, where: str = "goal") -> None:
    """Raise `InputError` (`{where}.hosts: no host with uuid ...`) for the first object
    `goal` names that `inv` does not have."""

    def known(kind: str, values: Iterable[str], path: str) -> None:
        index = getattr(inv, f"{kind}_by_uuid")
        for x in values:
            if x not in index:
                raise InputError(f"{path}: no {kind} with uuid {x}")

    if isinstance(goal, Evacuate):
        known("host", goal.hosts, f"{where}.hosts")
    elif isinstance(goal, MovePool):
        known("pool", goal.from_pools, f"{where}.from")
        known("pool", goal.to_pools, f"{where}.to")
    elif isinstance(goal, RetireSR):
        known("sr", goal.srs, f"{where}.srs")
    elif isinstance(goal, Target):
        known("vm", goal.placements, f"{where}.placements")
        known("host", goal.placements.values(), f"{where}.placements")
    elif isinstance(goal, RollingUpgrade):
        known("pool", [goal.pool], f"{where}.pool")
        known("host", goal.order, f"{where}.order")


def goal_from_json(d: Any, inv: Inventory, where: str = "goal") -> Goal:
    """Goal from a plan's `goal` object; every uuid must exist in `inv`
    (`parse_goal_json`, then `check_goal_refs`)."""
    goal = parse_goal_json(d, where)
    check_goal_refs(goal, inv, where)
    return goal


# ---------------------------------------------------------------- command-line parsing

SOLVABLE = ("evacuate", "move-pool", "retire-sr")


def _resolve(
    inv: Inventory, kind: str, refs: list[str], option: str, problems: list[str]
) -> tuple[str, ...]:
    """Resolve names/uuids (comma-separated or repeated); each bad one is one problem."""
    out: list[str] = []
    for ref in refs:
        for part in ref.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                uuid = inv.find(kind, part)
            except LookupFailed as e:
                problems.append(f"{option}: {e.message}")
                continue
            if uuid not in out:
                out.append(uuid)
    return tuple(out)


def parse_goal(
    inv: Inventory,
    *,
    evacuate: list[str] | None = None,
    move_pool: list[str] | None = None,
    to: list[str] | None = None,
    retire_sr: list[str] | None = None,
) -> Goal:
    """The goal the CLI options name: exactly one of evacuate, move-pool (with `to`) or
    retire-sr. Objects are named by name, uuid or unique uuid prefix; every bad name,
    and every conflict, is one line of the `InputError` raised."""
    given = [
        name
        for name, v in (
            ("--evacuate", evacuate),
            ("--move-pool", move_pool),
            ("--retire-sr", retire_sr),
        )
        if v
    ]
    if len(given) > 1:
        raise InputError(f"give one goal at a time, not {' and '.join(given)}")
    if to and not move_pool:
        raise InputError("--to only goes with --move-pool")
    if not given:
        raise InputError(
            "no goal: give --evacuate HOST, --move-pool POOL --to POOL or --retire-sr SR"
        )
    problems: list[str] = []
    goal: Goal
    if evacuate:
        goal = Evacuate(_resolve(inv, "host", evacuate, "--evacuate", problems))
    elif retire_sr:
        goal = RetireSR(_resolve(inv, "sr", retire_sr, "--retire-sr", problems))
    else:
        if not to:
            problems.append("--move-pool needs --to POOL (the pools that receive the VMs)")
        src = _resolve(inv, "pool", move_pool or [], "--move-pool", problems)
        dst = _resolve(inv, "pool", to or [], "--to", problems)
        both = [inv.label(p) for p in src if p in dst]
        if both:
            problems.append(f"--to: pool {', '.join(both)} is also given to --move-pool")
        goal = MovePool(src, dst)
    if problems:
        if len(problems) == 1:
            raise InputError(problems[0])
        raise InputError(f"{len(problems)} problems with the goal", problems)
    return goal


def resolve_goal(inv: Inventory, goal: Goal) -> Goal:
    """`goal` with every object named as the command line names them (name, uuid or
    unique uuid prefix; `a,b` splits) replaced by its uuid, so `Evacuate(("xs-02",))`
    works from Python exactly as `--evacuate xs-02` does. Unknown names raise InputError,
    one line each, naming the field (`Evacuate.hosts: no host named ...`)."""

    problems: list[str] = []

    def refs(kind: str, values: Any, where: str) -> tuple[str, ...]:
        if isinstance(values, str):  # Evacuate("xs-02") instead of Evacuate(("xs-02",))
            values = [values]
        return _resolve(inv, kind, list(values), where, problems)

    def one(kind: str, value: Any, where: str) -> str:
        try:
            return inv.find(kind, value)
        except LookupFailed as e:
            problems.append(f"{where}: {e.message}")
            return value

    out: Goal
    if isinstance(goal, Evacuate):
        out = Evacuate(refs("host", goal.hosts, "Evacuate.hosts"))
    elif isinstance(goal, MovePool):
        out = MovePool(
            refs("pool", goal.from_pools, "MovePool.from_pools"),
            refs("pool", goal.to_pools, "MovePool.to_pools"),
        )
    elif isinstance(goal, RetireSR):
        out = RetireSR(refs("sr", goal.srs, "RetireSR.srs"))
    elif isinstance(goal, Target):
        out = Target(
            {
                one("vm", v, "Target.placements"): one("host", h, "Target.placements")
                for v, h in goal.placements.items()
            }
        )
    elif isinstance(goal, RollingUpgrade):
        out = RollingUpgrade(
            one("pool", goal.pool, "RollingUpgrade.pool"),
            goal.to_version,
            refs("host", goal.order, "RollingUpgrade.order"),
            goal.return_home,
        )
    else:
        return goal  # Rebalance names no object
    if problems:
        if len(problems) == 1:
            raise InputError(problems[0])
        raise InputError(f"{len(problems)} problems with the goal", problems)
    return out
