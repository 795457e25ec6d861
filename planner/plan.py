"""The plan (FORMATS.md "Plan"): frozen dataclasses, JSON load/save, a pandas view.

A plan (v2) is a schedule: every migration and host step has a planned start `start_s`
and a length `est_seconds` (whole seconds from the campaign's start); waves give the
order and the lock-step view (a wave starts when the previous one has ended). Version 1
files (no schedule) are still read; their `start_s` are 0 and `version` says 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.errors import InputError
from planner.goals import Goal
from planner.inventory.io import read_json, write_json
from planner.limits import MAX_INDEX, bad_number
from planner.moves import KINDS as KINDS
from planner.moves import DiskMove as DiskMove
from planner.moves import Migration as Migration
from planner.moves import Reason as Reason
from planner.moves import Unplaced as Unplaced
from planner.moves import VifMap as VifMap
from planner.options import PlanOptions
from planner.plan_header import Figures as Figures
from planner.plan_header import SolverInfo as SolverInfo
from planner.plan_header import read_figures, read_goal, read_options, read_solver
from planner.plan_json import _migration, _migration_json, _Reader, _reasons, _unplaced
from planner.status import Status

if TYPE_CHECKING:
    import pandas as pd

    from planner.inventory.model import Inventory

FORMAT_NAME = "xen-planner/plan"
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
# KINDS, Reason, DiskMove, VifMap, Migration and Unplaced are defined in planner.moves
# (below the rules that use them) and imported above, so they stay public here


STEP_KINDS = ("host-disable", "host-upgrade", "host-enable")
STEP_WHEN = ("before", "after")


@dataclass(frozen=True, slots=True)
class Step:
    """A host operation a wave runs `when` ("before" or "after") its migrations.
    `to_version` is set for a host-upgrade. (v2) `start_s` and `est_seconds` place it in
    the schedule, where it is a barrier for its pool."""

    kind: str  # "host-disable" | "host-upgrade" | "host-enable"
    host: str
    when: str = "after"
    to_version: str | None = None
    start_s: int = 0
    est_seconds: int = 0

    @property
    def end_s(self) -> int:
        return self.start_s + self.est_seconds

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "host": self.host, "when": self.when}
        if self.to_version is not None:
            out["to_version"] = self.to_version
        out["start_s"] = self.start_s
        out["est_seconds"] = self.est_seconds
        return out


@dataclass(frozen=True, slots=True)
class Wave:
    index: int
    migrations: tuple[Migration, ...]
    # added key: host operations of the wave (empty for the classic goals)
    steps: tuple[Step, ...] = ()

    @property
    def seconds(self) -> int:
        """The wave lasts as long as its longest migration."""
        return max((m.est_seconds for m in self.migrations), default=0)


@dataclass(frozen=True)
class Plan:
    """A plan: its header (goal, options, solver, bounds, estimate: typed values,
    turned to and from JSON only by `to_dict` / `from_dict`), its waves, the VMs it
    could not place and its warnings."""

    inventory_digest: str
    goal: Goal
    options: PlanOptions
    solver: SolverInfo
    bounds: Figures
    waves: tuple[Wave, ...]
    unplaced: tuple[Unplaced, ...] = ()
    warnings: tuple[Reason, ...] = ()
    estimate: Figures = field(default_factory=Figures)
    version: int = FORMAT_VERSION  # as read; a v1 plan has no schedule

    @property
    def has_schedule(self) -> bool:
        """True for a v2 plan: `start_s` are meaningful (rules 13-15 apply)."""
        return self.version >= 2

    @property
    def schedule_seconds(self) -> int:
        """The campaign's length in flow mode (FORMATS.md rule 15), seconds."""
        return int(self.estimate.seconds or 0)

    def migrations(self) -> Iterator[Migration]:
        """Every migration, in wave order."""
        for w in self.waves:
            yield from w.migrations

    @property
    def status(self) -> Status | None:
        """`solver.status` as a `Status` (None when the plan names none it knows)."""
        return self.solver.status

    def summary(self) -> str:
        """One line: goal, status, migrations, the schedule's length and its gap to the
        bound, the wave-mode figure, unplaced VMs."""
        n = sum(len(w.migrations) for w in self.waves)
        secs = self.estimate.seconds or 0
        bound = self.bounds.seconds
        gap = f" (bound {bound} s, {100 * (secs - bound) / bound:.1f}% above)" if bound else ""
        wave_s = secs if self.estimate.wave_seconds is None else self.estimate.wave_seconds
        waves = len(self.waves)
        return (
            f"{self.goal.kind}: {self.status or 'no status'}, "
            f"{n} migration{'' if n == 1 else 's'}, schedule {secs} s{gap}; "
            f"lock-step {waves} wave{'' if waves == 1 else 's'} {wave_s} s; "
            f"{len(self.unplaced)} unplaced"
        )

    def _repr_html_(self) -> str:
        """Jupyter shows a plan as its summary line and one table row per migration."""
        import html

        table = self.to_frame().to_html(index=False, max_rows=200, na_rep="")
        return f"<p><b>Plan</b> {html.escape(self.summary())}</p>{table}"

    def to_frame(self, inv: Inventory | None = None) -> pd.DataFrame:
        """One row per migration: wave, id, vm, kind, from, to, memory, disk bytes, seconds.

        With an inventory, names replace uuids and memory/disk sizes are filled in.
        """
        import pandas as pd

        rows = []
        for w in self.waves:
            for m in w.migrations:
                vm = inv.vm_by_uuid.get(m.vm) if inv else None
                disk_bytes = 0
                if vm is not None and m.disks:
                    moved = {d.vdi for d in m.disks}
                    disk_bytes = sum(d.size_bytes for d in vm.disks if d.uuid in moved)
                name = inv.label if inv else (lambda u: u)
                rows.append(
                    {
                        "wave": w.index,
                        "id": m.id,
                        "vm": name(m.vm),
                        "kind": m.kind,
                        "from_host": name(m.from_host) if m.from_host else None,
                        "to_host": name(m.to_host) if m.to_host else None,
                        "from_pool": name(m.from_pool),
                        "to_pool": name(m.to_pool),
                        "memory_bytes": vm.memory_bytes if vm else None,
                        "disk_bytes": disk_bytes,
                        "est_seconds": m.est_seconds,
                        "reason": m.reason,
                    }
                )
        columns = [
            "wave",
            "id",
            "vm",
            "kind",
            "from_host",
            "to_host",
            "from_pool",
            "to_pool",
            "memory_bytes",
            "disk_bytes",
            "est_seconds",
            "reason",
        ]
        return pd.DataFrame(rows, columns=columns)


def estimate_of(waves: tuple[Wave, ...] | list[Wave]) -> Figures:
    """FORMATS.md rules 12 and 15: the number of waves, the schedule's length (`seconds`:
    the latest planned end of any migration or step) and the lock-step figure
    (`wave_seconds`: the sum of each wave's longest migration)."""
    ends = [m.end_s for w in waves for m in w.migrations]
    ends += [s.end_s for w in waves for s in w.steps]
    return Figures(
        waves=len(waves),
        seconds=max(ends, default=0),
        wave_seconds=sum(w.seconds for w in waves),
    )


def lockstep(waves: tuple[Wave, ...] | list[Wave]) -> tuple[Wave, ...]:
    """The waves with `start_s` stamped as a lock-step run would realise them: a wave's
    "before" steps one after another, then all its migrations together, then its
    "after" steps; the next wave starts when the previous one has ended. A schedule
    that is safe whenever the waves are (rules 1-12 imply rules 13-15)."""
    from dataclasses import replace

    out = []
    t = 0
    for w in waves:
        steps = []
        for s in w.steps:
            if s.when == "before":
                steps.append(replace(s, start_s=t))
                t += s.est_seconds
        migs = tuple(replace(m, start_s=t) for m in w.migrations)
        t += w.seconds
        for s in w.steps:
            if s.when != "before":
                steps.append(replace(s, start_s=t))
                t += s.est_seconds
        out.append(replace(w, migrations=migs, steps=tuple(steps)))
    return tuple(out)


# ---------------------------------------------------------------- JSON


def _wave_json(w: Wave) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": w.index,
        "migrations": [_migration_json(m) for m in w.migrations],
    }
    if w.steps:  # only when present: plans of the classic goals are unchanged
        out["steps"] = [s.to_json() for s in w.steps]
    return out


def _steps(r: _Reader, items: Any, path: str) -> tuple[Step, ...]:
    out = []
    for i, x in enumerate(items or []):
        p = f"{path}[{i}]"
        if not isinstance(x, dict):
            r.errors.append(f"{p}: must be an object")
            continue
        kind = r.get(x, "kind", p, str)
        host = r.get(x, "host", p, str)
        when = r.get(x, "when", p, str, default="after")
        ver = r.get(x, "to_version", p, str, nullable=True, default=None)
        start = r.seconds(x, "start_s", p)
        est = r.seconds(x, "est_seconds", p)
        if kind is not None and kind not in STEP_KINDS:
            r.errors.append(f"{p}.kind: must be one of {', '.join(STEP_KINDS)}, got {kind!r}")
        elif kind == "host-upgrade" and ver is None:
            r.errors.append(f"{p}.to_version: a host-upgrade step needs a version string")
        if when is not None and when not in STEP_WHEN:
            r.errors.append(f"{p}.when: must be before or after, got {when!r}")
        if kind is not None and host is not None:
            out.append(Step(kind, host, when or "after", ver, start, est))
    return tuple(out)


def to_dict(plan: Plan) -> dict[str, Any]:
    """The FORMATS.md plan document."""
    return {
        "format": FORMAT_NAME,
        "version": plan.version,
        "inventory_digest": plan.inventory_digest,
        "goal": plan.goal.to_json(),
        "options": plan.options.to_json(),
        "solver": plan.solver.to_json(),
        "bounds": plan.bounds.to_json(),
        "waves": [_wave_json(w) for w in plan.waves],
        "unplaced": [
            {"vm": u.vm, "reasons": [r.to_json() for r in u.reasons]} for u in plan.unplaced
        ],
        "warnings": [r.to_json() for r in plan.warnings],
        "estimate": plan.estimate.to_json(),
    }


def _wave(r: _Reader, w: Any, i: int, ids: set[str]) -> Wave | None:
    """Wave `i` of a document (None when it is not an object); `ids` collects the
    migration ids seen so far, to report duplicates."""
    path = f"waves[{i}]"
    if not isinstance(w, dict):
        r.errors.append(f"{path}: must be an object")
        return None
    index = r.get(w, "index", path, int)
    why = None if index is None else bad_number(index, 0, MAX_INDEX, integer=True)
    if why is not None:
        r.errors.append(f"{path}.index: {why}")
        index = None
    migs = []
    for j, m in enumerate(r.get(w, "migrations", path, list) or []):
        mig = _migration(r, m, f"{path}.migrations[{j}]")
        if mig is None:
            continue
        if mig.id in ids:
            r.errors.append(f"{path}.migrations[{j}].id: duplicate migration id {mig.id!r}")
        ids.add(mig.id)
        migs.append(mig)
    steps = _steps(r, r.get(w, "steps", path, list, default=[]), f"{path}.steps")
    return Wave(index if index is not None else i, tuple(migs), steps)


def from_dict(doc: Any, where: str = "plan") -> Plan:
    """Build a Plan from a parsed document; every structural fault raises one InputError."""
    r = _Reader()
    if not isinstance(doc, dict):
        raise InputError(f"{where}: must be a JSON object with format {FORMAT_NAME!r}")
    fmt = doc.get("format")
    if fmt != FORMAT_NAME:
        raise InputError(f"{where}: format must be {FORMAT_NAME!r}, got {fmt!r}")
    version = doc.get("version")
    if type(version) is not int or version not in READ_VERSIONS:
        raise InputError(
            f"{where}: unsupported plan version {version!r} (this planner reads 1 and 2)"
        )
    ids: set[str] = set()
    waves = [
        wave
        for i, w in enumerate(r.get(doc, "waves", "plan", list) or [])
        if (wave := _wave(r, w, i, ids)) is not None
    ]
    unplaced = _unplaced(r, doc)
    digest = r.get(doc, "inventory_digest", "plan", str) or ""
    options = read_options(r, doc.get("options", {}))
    solver = read_solver(r, doc.get("solver", {}))
    bounds = read_figures(r, doc.get("bounds", {}), "plan.bounds")
    estimate = read_figures(r, doc.get("estimate", {}), "plan.estimate")
    warnings = _reasons(r, r.get(doc, "warnings", "plan", list, default=[]), "warnings")
    goal: Goal | None = None
    if "goal" not in doc:
        r.errors.append("plan.goal: missing")
    else:
        try:
            goal = read_goal(doc["goal"])
        except InputError as e:
            if not r.errors:  # the only fault: one line naming it
                raise InputError(f"{where}: {e.message}") from None
            r.errors.append(e.message)
    if r.errors or goal is None:
        n = len(r.errors)
        raise InputError(f"{where}: {n} problem{'s' if n != 1 else ''}", r.errors)
    return Plan(
        inventory_digest=digest,
        goal=goal,
        options=options,
        solver=solver,
        bounds=bounds,
        waves=tuple(waves),
        unplaced=tuple(unplaced),
        warnings=warnings,
        estimate=estimate,
        version=version,
    )


def load(path: str | Path) -> Plan:
    """Read a plan file. Raises `InputError` (one line per fault) when it is unusable."""
    return from_dict(read_json(path, "plan"), where=str(path))


def save(plan: Plan, path: str | Path) -> None:
    """Write a plan file; large plans are written without indentation."""
    n = sum(len(w.migrations) for w in plan.waves)
    write_json(path, to_dict(plan), indent=None if n > 2000 else 1)
