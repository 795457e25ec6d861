"""The plan's header as typed values, and its JSON edge (FORMATS.md "Plan").

A plan file's `goal`, `options`, `solver`, `bounds` and `estimate` objects are read
into a `Goal` (planner/goals.py), `PlanOptions` (planner/options.py), `SolverInfo` and
`Figures` here, once, by `planner.plan.from_dict`, and written back by `to_json` in
`planner.plan.to_dict`. Nothing else in the planner handles them as dicts.

Readers ignore keys they do not know (FORMATS.md), but keep them: a goal's, the
options', a `SolverInfo`'s and a `Figures`' unknown keys sit in their `extra` mapping, and a solver
status this version does not know stays verbatim in `SolverInfo.status_text`, so that
load -> save gives back the document's header.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planner.errors import InputError
from planner.extra_keys import extra_field, unknown_keys, with_extra
from planner.goals import Goal, parse_goal_json
from planner.options import PlanOptions
from planner.plan_json import _Reader
from planner.status import Status


@dataclass(frozen=True)
class Figures:
    """The figures of `bounds`, `estimate` and the solver's `greedy` / `placed_bound`.

    waves: number of waves (lock-step).
    seconds: the schedule's length, seconds (flow mode, FORMATS.md rule 15); whole
        seconds in the planner's plans.
    wave_seconds: (v2) the lock-step length, seconds: each wave lasts as long as its
        longest migration.
    unplaced: VMs left unplaced (the solver's `greedy` figures only).
    A figure a document lacks is None and is not written back.
    """

    waves: int | None = None
    # float only in a document another tool wrote (the schema allows any number): the
    # planner writes whole seconds, and the checker reports a fractional estimate
    seconds: int | float | None = None
    wave_seconds: int | float | None = None
    unplaced: int | None = None
    extra: Mapping[str, Any] = extra_field()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("waves", "seconds", "wave_seconds", "unplaced"):
            v = getattr(self, key)
            if v is not None:
                out[key] = v
        return with_extra(out, self.extra)

    def __repr__(self) -> str:
        # the figures a document has, as a notebook shows them: Figures(waves=9, seconds=5244)
        items = ", ".join(f"{k}={v!r}" for k, v in self.to_json().items())
        return f"Figures({items})"


@dataclass(frozen=True)
class StepAside:
    """One step-aside move (`solver.step_aside`, planner/stepaside.py): migration
    `migration` moves VM `vm` out of the way of VM `for_vm` (JSON key `for`)."""

    migration: str
    vm: str
    for_vm: str

    def to_json(self) -> dict[str, str]:
        return {"migration": self.migration, "vm": self.vm, "for": self.for_vm}


@dataclass(frozen=True)
class SolveSettings:
    """What `planner.solve` was asked for (`solver.time_limit`, `workers`, `seed`):
    the time limit in seconds, the CP-SAT worker threads (None: the solver's default)
    and the random seed. Written as three keys, always together."""

    time_limit: float
    workers: int | None
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {"time_limit": self.time_limit, "workers": self.workers, "seed": self.seed}


@dataclass(frozen=True)
class SolverInfo:
    """The plan's `solver` object: who made the plan, how it ended, and the figures the
    reports compare it with.

    name: the planner ("cpsat", "greedy", "rebalance", "rolling", "target", ...).
    status: the outcome; None when the document names none this version knows (then
        `status_text` keeps its string verbatim, and the plan shows "no status").
    wall_seconds: the solve's wall-clock time, seconds.
    objective: the schedule's length the solver reached, whole seconds.
    best_bound: the best proven lower bound on it, whole seconds.
    bound_assumes: what the bounds assume (FORMATS.md: "say in solver what a bound
        assumes").
    greedy: the greedy baseline's figures (with `unplaced`).
    placed_bound: the bounds over the VMs the plan places (equal to `bounds` unless the
        plan is partial).
    components: independent parts solved apart.
    settings: time limit, workers and seed of `planner.solve`.
    step_aside: the step-aside moves (planner/stepaside.py), None when there are none.
    orders_tried: host orders a rolling upgrade tried (campaigns/rolling.py).
    restart_advice: advice lines a report shows (strings, or objects with a `message`).
    extra: every other key of the document, kept for load -> save.
    """

    name: str | None = None
    status: Status | None = None
    wall_seconds: float | None = None
    status_text: str | None = None
    objective: int | None = None
    best_bound: int | None = None
    bound_assumes: str | None = None
    greedy: Figures | None = None
    placed_bound: Figures | None = None
    components: int | None = None
    settings: SolveSettings | None = None
    step_aside: tuple[StepAside, ...] | None = None
    orders_tried: int | None = None
    restart_advice: tuple[str | Mapping[str, Any], ...] | None = None
    extra: Mapping[str, Any] = extra_field()

    @property
    def status_label(self) -> str:
        """The status as the document states it ("?" when it states none)."""
        if self.status is not None:
            return self.status.value
        return self.status_text if self.status_text is not None else "?"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        if self.status is not None or self.status_text is not None:
            out["status"] = self.status.value if self.status is not None else self.status_text
        if self.wall_seconds is not None:
            out["wall_seconds"] = self.wall_seconds
        for key in ("objective", "best_bound", "bound_assumes"):
            if (v := getattr(self, key)) is not None:
                out[key] = v
        if self.greedy is not None:
            out["greedy"] = self.greedy.to_json()
        if self.placed_bound is not None:
            out["placed_bound"] = self.placed_bound.to_json()
        if self.components is not None:
            out["components"] = self.components
        if self.settings is not None:
            out.update(self.settings.to_json())
        if self.step_aside is not None:
            out["step_aside"] = [s.to_json() for s in self.step_aside]
        if self.orders_tried is not None:
            out["orders_tried"] = self.orders_tried
        if self.restart_advice is not None:
            out["restart_advice"] = [
                x if isinstance(x, str) else dict(x) for x in self.restart_advice
            ]
        return with_extra(out, self.extra)


# ---------------------------------------------------------------- reading

_FIGURES = ("waves", "seconds", "wave_seconds", "unplaced")
_SETTINGS = ("time_limit", "workers", "seed")
_SOLVER = (
    "name",
    "status",
    "wall_seconds",
    "objective",
    "best_bound",
    "bound_assumes",
    "greedy",
    "placed_bound",
    "components",
    "step_aside",
    "orders_tried",
    "restart_advice",
)


def _whole(r: _Reader, d: Mapping[str, Any], key: str, path: str) -> int | None:
    """An optional whole, non-negative number (a float such as 12.0 reads as 12)."""
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        r.errors.append(f"{path}.{key}: must be a whole number, got {type(v).__name__}")
        return None
    if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
        r.errors.append(f"{path}.{key}: must be a whole number, got {v}")
        return None
    if v < 0:
        r.errors.append(f"{path}.{key}: must not be negative, got {v}")
        return None
    return int(v)


def _seconds(r: _Reader, d: Mapping[str, Any], key: str, path: str) -> int | float | None:
    """An optional non-negative number of seconds: whole ones as int (12.0 reads as
    12), a fraction kept (the schema allows it; the checker judges an estimate's)."""
    v = _number(r, d, key, path)
    return int(v) if v is not None and float(v).is_integer() else v


def _number(r: _Reader, d: Mapping[str, Any], key: str, path: str) -> float | None:
    """An optional finite, non-negative number (seconds); kept as the document has it."""
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        r.errors.append(f"{path}.{key}: must be a non-negative number, got {v!r}")
        return None
    return v


def read_figures(r: _Reader, d: Any, path: str) -> Figures:
    """`bounds`, `estimate`, or the solver's `greedy` / `placed_bound` object."""
    if not isinstance(d, dict):
        r.errors.append(f"{path}: must be an object")
        return Figures()
    return Figures(
        waves=_whole(r, d, "waves", path),
        seconds=_seconds(r, d, "seconds", path),
        wave_seconds=_seconds(r, d, "wave_seconds", path),
        unplaced=_whole(r, d, "unplaced", path),
        extra=unknown_keys(d, _FIGURES),
    )


def read_solver(r: _Reader, d: Any, path: str = "plan.solver") -> SolverInfo:
    """The plan's `solver` object; faults go to `r.errors`."""
    if not isinstance(d, dict):
        r.errors.append(f"{path}: must be an object")
        return SolverInfo()
    name = r.get(d, "name", path, str, nullable=True, default=None)
    # a status that is not even a string is kept verbatim too (in `extra`): it reads as
    # no status, as one this version does not know
    text = d.get("status") if isinstance(d.get("status"), str) else None
    status = Status.of(text)
    bound_assumes = r.get(d, "bound_assumes", path, str, nullable=True, default=None)
    figures = {
        k: read_figures(r, d[k], f"{path}.{k}") if d.get(k) is not None else None
        for k in ("greedy", "placed_bound")
    }
    extra = unknown_keys(d, (*_SOLVER, *_SETTINGS))
    if d.get("status") is not None and text is None:
        extra["status"] = d["status"]
    settings = None
    if all(k in d for k in _SETTINGS):
        workers = _whole(r, d, "workers", path)
        limit, seed = _number(r, d, "time_limit", path), _whole(r, d, "seed", path)
        if limit is not None and seed is not None:
            settings = SolveSettings(limit, workers, seed)
    else:  # not written by planner.solve: kept as the document has it
        extra.update({k: d[k] for k in _SETTINGS if k in d})
    return SolverInfo(
        name=name,
        status=status,
        wall_seconds=_number(r, d, "wall_seconds", path),
        status_text=text if status is None else None,
        objective=_whole(r, d, "objective", path),
        best_bound=_whole(r, d, "best_bound", path),
        bound_assumes=bound_assumes,
        greedy=figures["greedy"],
        placed_bound=figures["placed_bound"],
        components=_whole(r, d, "components", path),
        settings=settings,
        step_aside=_step_asides(r, d.get("step_aside"), f"{path}.step_aside"),
        orders_tried=_whole(r, d, "orders_tried", path),
        restart_advice=_advice(r, d.get("restart_advice"), f"{path}.restart_advice"),
        extra=extra,
    )


def _step_asides(r: _Reader, items: Any, path: str) -> tuple[StepAside, ...] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        r.errors.append(f"{path}: must be a list")
        return None
    out = []
    for i, x in enumerate(items):
        p = f"{path}[{i}]"
        if not isinstance(x, dict):
            r.errors.append(f"{p}: must be an object")
            continue
        got = [r.get(x, k, p, str) for k in ("migration", "vm", "for")]
        if all(isinstance(v, str) for v in got):
            out.append(StepAside(*got))
    return tuple(out)


def _advice(r: _Reader, items: Any, path: str) -> tuple[str | Mapping[str, Any], ...] | None:
    if items is None:
        return None
    if not isinstance(items, list) or not all(isinstance(x, str | dict) for x in items):
        r.errors.append(f"{path}: must be a list of strings or objects")
        return None
    return tuple(items)


def read_options(r: _Reader, d: Any, path: str = "plan.options") -> PlanOptions:
    """The plan's `options` object (missing keys take their defaults)."""
    if not isinstance(d, dict):
        r.errors.append(f"{path}: must be an object")
        return PlanOptions()
    try:
        return PlanOptions.from_json(d, path)
    except InputError as e:
        r.errors.append(e.message)
        return PlanOptions()


def read_goal(d: Any, path: str = "plan.goal") -> Goal:
    """The plan's `goal` object, checked for shape (`planner.goals.parse_goal_json`);
    raises `InputError` naming the bad field."""
    return parse_goal_json(d, path)
