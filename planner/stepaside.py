"""Step-aside moves (issue 13 item 11; docs/solving.md "Step-aside moves").

The solver moves only the VMs the goal moves, each once. A VM it leaves unplaced for
lack of room (NO_CAPACITY, HALTED_MEMORY) may still fit once *another* VM steps aside:
a running VM moves live from a host the stuck VM could use to a third host, or a VM's
disks move off an SR the stuck VM could use to another SR of its pool; or once one of
the stuck VM's own disks has moved first. `step_aside` looks for such moves after a
solve and keeps one when it places more VMs:

1. For each stuck VM, the blockers are the VMs the goal does not move (and those the
   plan leaves unplaced anyway) that hold memory on an enabled host of the stuck VM's
   target pools (for a halted VM's rule 4 also of its own pool) or disk space on an SR
   of those pools. Their relocations pass the static rules
   (`planner.rules.target_reasons`, as the checker calls it) and fit now. Those that
   keep the goal for the blocker come first; one that does not (onto a retired SR, an
   evacuated host) leaves the blocker for the re-solve to move on ("temporary").
2. Each relocation, goal-keeping and cheapest first, is tried: the inventory as it
   would be after it is solved again (greedy first; the caller's solver when no greedy
   trial helps). The trial that leaves fewest VMs unplaced, then the shortest campaign,
   wins if it places more VMs than the plan without it. Up to `MAX_ROUNDS` relocations
   are added this way (the target-placement campaign, `campaigns/target.py`, breaks
   cycles the same way: one temporary move per round).
3. The winner is solved again with the caller's solver; the relocation joins the first
   wave of that plan where the checker accepts the whole plan, else a wave of its own
   before one of them, else after a move of that plan that frees what it needs
   (`_compose`). Every composed plan goes through `planner.check.check_plan`; one it
   refuses is dropped. Waves get real start times from `planner.schedule`.

A relocation costs time in the objective (its own wave, or a longer wave), so it is
kept only when it places more VMs. A migration that steps aside has `reason`
"temporary" only when its VM moves again later; the plan's warnings (code SOLVER) and
`solver.step_aside` say which VM moved for which.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from planner.check import check_plan
from planner.durations import DEFAULT_MODEL, DurationModel
from planner.goals import Evacuate, Goal, MovePool, RetireSR
from planner.inventory.io import digest
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Migration, Plan, Reason, Wave, estimate_of
from planner.plan_header import StepAside
from planner.rules import codes
from planner.schedule import schedule
from planner.status import Status
from planner.stepaside_moves import MAX_CANDIDATES as MAX_CANDIDATES
from planner.stepaside_moves import PER_BLOCKER as PER_BLOCKER
from planner.stepaside_moves import STUCK_PER_ROUND as STUCK_PER_ROUND
from planner.stepaside_moves import Relocation as Relocation
from planner.stepaside_moves import _relocations
from planner.stepaside_moves import apply as apply

MAX_ROUNDS = 2  # relocations added to one plan (each must place more VMs)
MAX_TRIES = 12  # relocations tried per round (each costs a quick re-solve)
PLACES = 4  # waves of the re-solved plan a step-aside may join or precede
STUCK_CODES = (codes.NO_CAPACITY, codes.HALTED_MEMORY)
NOTE = "SOLVER"  # the warning code solve.py uses for what the solver tells the reader

# set while step_aside re-solves, so the nested solve() does not look for step-asides
_ACTIVE: ContextVar[bool] = ContextVar("step_aside_active", default=False)

Resolve = Callable[[Inventory, bool], Plan]  # (inventory, quick) -> plan of the goal


def step_aside(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions,
    plan: Plan,
    resolve: Resolve,
    *,
    durations: DurationModel = DEFAULT_MODEL,
    time_budget: float = 30.0,
) -> Plan:
    """`plan`, or a plan that places more VMs thanks to step-aside moves (module
    docstring). `resolve(inventory, quick)` solves `goal` on an inventory (quick: a
    greedy trial); `time_budget` bounds the trials in seconds."""
    if _ACTIVE.get() or not isinstance(goal, Evacuate | MovePool | RetireSR):
        return plan
    if not _stuck(plan):
        return plan
    token = _ACTIVE.set(True)
    try:
        return _improve(inv, goal, options, plan, resolve, durations, time_budget)
    finally:
        _ACTIVE.reset(token)


def after_solve(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions,
    plan: Plan,
    solve_args: dict[str, Any],
    solve: Callable[..., Plan],
) -> Plan:
    """`planner.solve.solve`'s hook: `step_aside` with `solve` (same arguments; greedy
    for the trials) as the re-solver, within the solve's own time limit. (`solve` is
    passed in, not imported: this module sits below `planner.solve`.)"""
    args = dict(solve_args)
    args.pop("progress", None)
    args.pop("client", None)

    # the trials get half the solve's time limit; the final re-solve what is left of
    # the whole limit (so a solve with step-asides takes at most about twice as long)
    limit = float(args.get("time_limit", 30.0))
    deadline = time.perf_counter() + limit

    def resolve(after: Inventory, quick: bool) -> Plan:
        # each re-solve gets what is left of the budget (at least a moment)
        left = max(0.2, min(limit, deadline - time.perf_counter()))
        extra = {"solver": "greedy"} if quick else {"time_limit": left}
        return solve(after, goal, options, **{**args, **extra})

    durations = args.get("durations", DEFAULT_MODEL)
    return step_aside(inv, goal, options, plan, resolve, durations=durations, time_budget=limit / 2)


def _stuck(plan: Plan) -> list[str]:
    return [
        u.vm for u in plan.unplaced if u.reasons and all(r.code in STUCK_CODES for r in u.reasons)
    ]


def _improve(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions,
    plan: Plan,
    resolve: Resolve,
    durations: DurationModel,
    budget: float,
) -> Plan:
    deadline = time.perf_counter() + budget
    chosen: list[Relocation] = []
    now, best = inv, plan
    for _ in range(MAX_ROUNDS):
        stuck = _stuck(best)
        if not stuck or time.perf_counter() > deadline:
            break
        moved = {r.vm for r in chosen}
        parked = {u.vm for u in best.unplaced}
        # goal-keeping relocations first, then those the re-solve must undo; cheapest first
        tries = sorted(
            _relocations(
                now, goal, options, stuck, parked, durations, moved, f"s{len(chosen) + 1}."
            ),
            key=lambda r: (
                r.migration.reason == "temporary",
                r.migration.est_seconds,
                r.migration.id,
            ),
        )[:MAX_TRIES]
        winner: tuple[tuple[int, int], Relocation, Inventory] | None = None
        # greedy trials first; when none helps, the caller's solver (greedy may pack the
        # inventory after the step-aside worse than CP-SAT does)
        for quick in (True, False):
            for rel in tries:
                if time.perf_counter() > deadline:
                    break
                after = apply(now, rel.migration)
                trial = _compose(
                    inv, goal, options, [*chosen, rel], resolve(after, quick), deadline
                )
                if trial is None:
                    continue
                key = (len(trial.unplaced), trial.schedule_seconds)
                if key[0] < len(best.unplaced) and (winner is None or key < winner[0]):
                    winner = (key, rel, after)
            if winner is not None:
                break
        if winner is None:
            break
        _, rel, now = winner
        chosen.append(rel)
        final = _compose(inv, goal, options, chosen, resolve(now, False))
        fast = _compose(inv, goal, options, chosen, resolve(now, True))
        cands = [p for p in (final, fast) if p is not None]
        if not cands:
            break
        best = min(cands, key=lambda p: (len(p.unplaced), p.schedule_seconds))
    return best


# ---------------------------------------------------------------- the plan


def _compose(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions,
    rels: list[Relocation],
    post: Plan,
    deadline: float | None = None,
) -> Plan | None:
    """The step-asides `rels` followed by `post` (a plan of the inventory after them),
    as one plan of `inv` that the checker accepts, or None. Each step-aside goes into the
    first of these places where the whole plan checks: alongside the moves of one of
    `post`'s first waves (no extra wave), else in a wave of its own before one of them
    (before every wave is what `post` assumes; later, once moves of `post` have freed
    what it needs); else after one move of `post` that frees what it needs, pulled to
    the front. At most `PLACES` of each are tried (each is a replay), and none once
    `deadline` (a `time.perf_counter()` value) has passed."""
    waves = [list(w.migrations) for w in post.waves]
    for rel in rels:
        m = rel.migration
        n = min(PLACES, len(waves))
        places: list[tuple[str, Any]] = [("with", k) for k in range(n)]
        places += [("own", k) for k in range(n + 1)]
        places += [("after", x) for w in waves for x in w if _frees_for(inv, x, m)][:PLACES]
        for how, k in places:
            if deadline is not None and time.perf_counter() > deadline:
                return None
            if how == "with" and any(x.vm == m.vm for x in waves[k]):
                continue
            trial = [list(w) for w in waves]
            if how == "with":
                trial[k].append(m)
            elif how == "own":
                trial.insert(k, [m])
            else:  # `k` is a migration of post: it first, then the step-aside, then the rest
                trial = [[k], [m], *([x for x in w if x is not k] for w in trial)]
            if _checks(inv, goal, options, rels, trial, post):
                waves = trial
                break
        else:
            return None
    return _plan(inv, goal, options, rels, waves, post)


def _checks(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions,
    rels: list[Relocation],
    waves: list[list[Migration]],
    post: Plan,
) -> bool:
    """Whether the plan with every step-aside not yet in `waves` in a wave of its own
    first (the order `_compose` falls back to) passes the checker."""
    have = {m.id for w in waves for m in w}
    rest = [[r.migration] for r in rels if r.migration.id not in have]
    return check_plan(inv, _plan(inv, goal, options, rels, rest + waves, post)).ok


def _plan(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions,
    rels: list[Relocation],
    waves: list[list[Migration]],
    post: Plan,
) -> Plan:
    ids = {r.migration.id for r in rels}
    again = {m.vm for w in waves for m in w if m.id not in ids}
    out: list[Wave] = []
    before: list[Migration] = []  # step-asides of earlier waves
    earlier: list[Migration] = []  # the other moves of earlier waves
    for w in waves:
        if not w:
            continue
        migs = []
        for m in w:
            if m.id in ids:  # FORMATS.md: "temporary" only when it moves again later
                m = replace(m, reason="temporary" if m.vm in again else None)
                # a move pulled before it frees what it needs
                deps = [x.id for x in earlier if _frees_for(inv, x, m)]
                m = replace(m, depends_on=tuple(dict.fromkeys([*m.depends_on, *deps])))
            if m.id not in ids:
                # the room an earlier step-aside frees is used after it ends (flow mode)
                deps = [r.id for r in before if _frees_for(inv, r, m)]
                m = replace(m, depends_on=tuple(dict.fromkeys([*m.depends_on, *deps])))
            migs.append(m)
        before += [m for m in migs if m.id in ids]
        earlier += [m for m in migs if m.id not in ids]
        out.append(Wave(len(out), tuple(migs)))
    # real start times, as every planner gives its waves (the list scheduler)
    staged = schedule(inv, options, out)
    notes = [
        Reason(
            NOTE,
            f"step-aside: {inv.label(r.vm)} moves ({_where(inv, r.migration)}) "
            + (
                f"to make room for {inv.label(r.for_vm)}"
                if r.vm != r.for_vm
                else "first, so that the SRs its other disks leave have room for them"
            ),
        )
        for r in rels
    ]
    solver = replace(
        post.solver, step_aside=tuple(StepAside(r.migration.id, r.vm, r.for_vm) for r in rels)
    )
    if solver.status == Status.OPTIMAL:  # optimal after the step-asides, not overall
        solver = replace(solver, status=Status.FEASIBLE)
    return Plan(
        inventory_digest=digest(inv),
        goal=goal,
        options=options,
        solver=solver,
        bounds=post.bounds,
        waves=staged,
        unplaced=post.unplaced,
        warnings=(*post.warnings, *notes),
        estimate=estimate_of(staged),
    )


def _frees_for(inv: Inventory, step: Migration, m: Migration) -> bool:
    """Whether `m` may use what `step` frees: memory on its host (or, for a VM that is
    not running, in its pool: rule 4) or space on an SR its disks leave (for a disk of
    `m` moving to it, or away from it); or it is the same VM's next move."""
    if m.vm == step.vm:
        return True
    if step.from_host is not None and step.from_host != step.to_host:
        if m.to_host == step.from_host:
            return True
        vm = inv.vm_by_uuid[m.vm]
        if not vm.is_running and m.disks and step.from_pool == m.from_pool:
            return True
    left = {d.from_sr for d in step.disks if d.from_sr != d.to_sr}
    # SR space: the 3x on a target SR, or the 2x on a source SR, of a disk that moves
    return any(d.to_sr in left or d.from_sr in left for d in m.disks if d.from_sr != d.to_sr)


def _where(inv: Inventory, m: Migration) -> str:
    if m.kind == "live":
        return f"{inv.label(m.from_host)} -> {inv.label(m.to_host)}"
    moved = [d for d in m.disks if d.from_sr != d.to_sr]
    return ", ".join(
        f"disk {inv.label(d.vdi)} {inv.label(d.from_sr)} -> {inv.label(d.to_sr)}" for d in moved
    )
