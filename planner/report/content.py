"""What a plan report says, whatever its format: the rows, the summary, the reasons and
the shared sections the HTML and Markdown renderers lay out."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner import __version__
from planner.describe import describe_goal, hmm, migration_starts, name_of, scheduled_waves
from planner.inventory.io import canonical_json, digest
from planner.plan import Migration, Plan, to_dict
from planner.rules import codes

if TYPE_CHECKING:
    from planner.check import CheckReport
    from planner.inventory.model import Inventory

FORMATS = ("html", "md")
GIB = 2**30


# ---------------------------------------------------------------- the content


@dataclass(frozen=True)
class Row:
    """One migration as the report shows it (names when an inventory was given)."""

    wave: int
    start_s: int
    end_s: int
    vm: str
    kind: str
    from_host: str
    to_host: str
    from_pool: str
    to_pool: str
    disks: str
    reason: str


def plan_file_digest(doc: dict[str, Any]) -> str:
    """sha256 hex of a parsed plan document serialised as canonical JSON (sorted keys,
    separators `,` and `:`, UTF-8, non-ASCII kept): the rule FORMATS.md fixes for the
    inventory digest, applied to the plan file."""
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def _name(inv: Inventory | None, uuid: str | None) -> str:
    return name_of(inv, uuid, short=False)


def _disks(inv: Inventory | None, m: Migration) -> str:
    """ "2 disks, 60 GiB: local-xs02 -> nfs" (moves grouped by source and target SR)."""
    if not m.disks:
        return ""
    sizes = {}
    if inv is not None and m.vm in inv.vm_by_uuid:
        sizes = {d.uuid: d.size_bytes for d in inv.vm_by_uuid[m.vm].disks}
    pairs = Counter((d.from_sr, d.to_sr) for d in m.disks)
    moves = "; ".join(
        f"{_name(inv, a)} → {_name(inv, b)}" + (f" ×{n}" if n > 1 else "")
        if a != b
        else f"{_name(inv, a)} (stays)" + (f" ×{n}" if n > 1 else "")
        for (a, b), n in pairs.items()
    )
    size = sum(sizes.get(d.vdi, 0) for d in m.disks)
    total = f", {size / GIB:,.0f} GiB" if size else ""
    return f"{len(m.disks)} disk{'s' * (len(m.disks) != 1)}{total}: {moves}"


def rows(plan: Plan, inv: Inventory | None = None) -> list[Row]:
    """The migration table, in planned start order (then wave and id)."""
    starts = migration_starts(plan)
    out = []
    for w in plan.waves:
        for m in w.migrations:
            s = starts[m.id]
            out.append(
                Row(
                    w.index,
                    s,
                    s + m.est_seconds,
                    _name(inv, m.vm),
                    m.kind,
                    _name(inv, m.from_host),
                    _name(inv, m.to_host),
                    _name(inv, m.from_pool),
                    _name(inv, m.to_pool),
                    _disks(inv, m),
                    m.reason or "",
                )
            )
    out.sort(key=lambda r: (r.start_s, r.wave))
    return out


@dataclass(frozen=True)
class ReasonCount:
    code: str
    vms: int
    meaning: str
    remedy: str
    names: tuple[str, ...]


def unplaced_by_reason(plan: Plan, inv: Inventory | None = None) -> list[ReasonCount]:
    """Unplaced VMs counted by their first reason, most common first, with the code's
    meaning and remedy (planner.rules.codes)."""
    by: dict[str, list[str]] = {}
    for u in plan.unplaced:
        code = u.reasons[0].code if u.reasons else "UNKNOWN"
        by.setdefault(code, []).append(_name(inv, u.vm))
    return [
        ReasonCount(c, len(v), codes.MEANING.get(c, ""), codes.REMEDY.get(c, ""), tuple(sorted(v)))
        for c, v in sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]


def restart_advice(plan: Plan) -> list[str]:
    """Restart advice the plan carries (issue 17: VMs that moved to a newer version
    should restart to pick up its features), one line each; empty when there is none.
    Reads `plan.solver.restart_advice`: strings or objects with a `message` (or `vm`
    and `reason`)."""
    out = []
    for x in plan.solver.restart_advice or ():
        if not isinstance(x, str):
            out.append(str(x.get("message") or " ".join(f"{k}: {v}" for k, v in x.items())))
        else:
            out.append(str(x))
    return out


@dataclass(frozen=True)
class Summary:
    goal: str  # short: at most four names of a list
    goal_in_full: str
    status: str
    solver: str
    migrations: int
    by_kind: dict[str, int]
    waves: int
    seconds: int
    bound: int | None
    gap_percent: float | None
    unplaced: int
    check: CheckReport | None
    wave_seconds: int | None = None  # the lock-step figure (each wave waits for the last)


def summary(plan: Plan, inv: Inventory | None = None, check: CheckReport | None = None) -> Summary:
    """The headline figures of `plan`."""
    n = sum(len(w.migrations) for w in plan.waves)
    secs = plan.schedule_seconds
    bound = None if plan.bounds.seconds is None else int(plan.bounds.seconds)
    gap = 100 * (secs - bound) / bound if bound else None
    solver = plan.solver.name or "?"
    wall = plan.solver.wall_seconds
    if wall is not None:
        solver += f", {wall:.1f} s"
    return Summary(
        describe_goal(plan.goal, inv),
        describe_goal(plan.goal, inv, most=None),
        plan.status or "no status",
        solver,
        n,
        dict(Counter(m.kind for m in plan.migrations())),
        len(plan.waves),
        secs,
        bound,
        gap,
        len(plan.unplaced),
        check,
        None if plan.estimate.wave_seconds is None else int(plan.estimate.wave_seconds),
    )


@dataclass(frozen=True)
class _Context:
    plan: Plan
    inv: Inventory | None
    summary: Summary
    rows: list[Row]
    reasons: list[ReasonCount]
    plan_digest: str
    figures: dict[str, str | None]


def _headline(s: Summary) -> str:
    """ "OPTIMAL: 7 migrations in 3 waves, 0:28 (h:mm), 0 unplaced"."""
    return (
        f"{s.status}: {s.migrations} migration{'s' * (s.migrations != 1)} in {s.waves} "
        f"wave{'s' * (s.waves != 1)}, {hmm(s.seconds)} (h:mm) estimated, "
        f"{s.unplaced} unplaced"
    )


def _summary_items(c: _Context) -> list[tuple[str, str]]:
    s = c.summary
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(s.by_kind.items()))
    items = [
        ("Goal", s.goal_in_full),
        ("Solver", f"{s.solver}; status {s.status}"),
        ("Schedule length", f"{hmm(s.seconds)} (h:mm, {s.seconds:,} s estimated)"),
        ("Lower bound", f"{hmm(s.bound)} ({s.bound:,} s)" if s.bound is not None else "not known"),
        ("Gap to the bound", f"{s.gap_percent:.1f}%" if s.gap_percent is not None else "-"),
        (
            "Waves",
            str(s.waves)
            + (
                f" (in lock step, one after another: {hmm(s.wave_seconds)})"
                if s.wave_seconds not in (None, s.seconds)
                else ""
            ),
        ),
        ("Migrations", f"{s.migrations}" + (f" ({kinds})" if kinds else "")),
        ("Unplaced VMs", str(s.unplaced)),
    ]
    if s.check is not None:
        n = len(s.check.violations)
        verdict = (
            "safe: every replay rule holds"
            if s.check.ok
            else f"NOT safe: {n} violation{'s' * (n != 1)}"
        )
        items.append(("Replay check", verdict))
    else:
        items.append(("Replay check", "not run (no inventory given)"))
    return items


def _digest_items(c: _Context) -> list[tuple[str, str]]:
    items = [("Plan digest", c.plan_digest)]
    # the executor's journal digests the plan as this planner writes it: the same for a
    # file it wrote, different for an older version's file or one with unknown keys
    journal = plan_file_digest(to_dict(c.plan))
    if journal != c.plan_digest:
        items.append(("Plan digest in the executor's journal", journal))
    items.append(("Inventory digest (the plan's)", c.plan.inventory_digest or "(empty)"))
    if c.inv is not None:
        same = digest(c.inv) == c.plan.inventory_digest
        items.append(
            (
                "Inventory given",
                "the same digest: the plan was made for it" if same else digest(c.inv),
            )
        )
    items.append(("Planner", f"xen-planner {__version__}"))
    opts = ", ".join(f"{k}={v}" for k, v in sorted(c.plan.options.to_json().items()))
    items.append(("Options", opts or "-"))
    return items


DIGEST_NOTE = (
    "The plan digest is the sha256 of the plan file's JSON in canonical form "
    "(sorted keys, separators ',' and ':', UTF-8, non-ASCII kept), the rule "
    "FORMATS.md fixes for the inventory digest. Check it with:"
)
DIGEST_COMMAND = (
    'python3 -c "import json,hashlib,sys; d=json.load(open(sys.argv[1])); '
    "print(hashlib.sha256(json.dumps(d,sort_keys=True,separators=(',',':'),"
    'ensure_ascii=False).encode()).hexdigest())" plan.json'
)

COLUMNS = (
    "Start",
    "End",
    "Wave",
    "VM",
    "Kind",
    "From host",
    "To host",
    "From pool",
    "To pool",
    "Disks",
    "Note",
)


def _clock(seconds: int, short: bool) -> str:
    return hmm(seconds, with_seconds=short)


def _cells(r: Row, short: bool) -> list[str]:
    return [
        _clock(r.start_s, short),
        _clock(r.end_s, short),
        str(r.wave + 1),
        r.vm,
        r.kind,
        r.from_host,
        r.to_host,
        r.from_pool,
        r.to_pool,
        r.disks,
        r.reason,
    ]


def _short_plan(c: _Context) -> bool:
    """Under ten minutes the table shows h:mm:ss, as the schedule figure does."""
    return max((r.end_s for r in c.rows), default=0) < 600


def _steps(c: _Context) -> list[list[str]]:
    out = []
    short = _short_plan(c)
    for w in scheduled_waves(c.plan):
        for s in w.steps:
            out.append(
                [
                    str(w.index + 1),
                    s.when,
                    s.kind,
                    _name(c.inv, s.host),
                    s.to_version or "",
                    _clock(s.start_s, short),
                    hmm(s.est_seconds, with_seconds=short) if s.est_seconds else "",
                ]
            )
    return out


STEP_COLUMNS = ("Wave", "When", "Step", "Host", "To version", "Start", "Duration")
