"""`solve`: goal in, checked-ready `Plan` out.

Stages: build the problem (rules prune targets) -> split into independent components ->
per component: greedy, then CP-SAT warm-started from it unless greedy already meets the
lower bound -> keep the better of the two -> merge the components' waves side by side ->
assemble the FORMATS.md plan (ids, disks, VIF maps, dependencies, estimate, bounds).

Merging: wave i of the plan is wave i of every component (they share no pool, host or
SR). The campaign lasts the sum over waves of the longest migration of any component, so
each component's waves are sorted longest first before merging (long waves line up with
long waves) -- but only when the reordered component still passes the replay in the
problem's units; otherwise its order is kept.
"""

from __future__ import annotations

import time
from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.durations import DEFAULT_MODEL, DurationModel
from planner.errors import InputError
from planner.goals import Goal, resolve_goal
from planner.inventory.io import digest
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import (
    DiskMove,
    Migration,
    Plan,
    Reason,
    Unplaced,
    Wave,
    estimate_of,
    lockstep,
)
from planner.problem import KINDS, Problem, build_problem
from planner.rules import codes
from planner.rules.network import map_vifs
from solvers.base import Solution, Status, balance, compact, replay, wave_seconds
from solvers.bounds import lower_bounds
from solvers.decompose import components, split_time
from solvers.greedy import solve_greedy

SOLVERS = ("cpsat", "greedy")
SOLVER_NOTE = "SOLVER"  # warning code for what the solver wants the reader to know
SELECT_WORK = 50_000  # _select: most (flip trials x parts) it may lay out (speed cap)


@dataclass(frozen=True)
class _Part:
    """One component: its job indexes (global), the kept and the greedy solutions."""

    jobs: np.ndarray
    sub: Problem
    kept: Solution
    greedy: Solution
    status: Status
    notes: tuple[str, ...]


def solve(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions | None = None,
    *,
    solver: str = "cpsat",
    time_limit: float = 30.0,
    workers: int | None = None,
    seed: int = 0,
    durations: DurationModel = DEFAULT_MODEL,
    progress: Callable[[str], None] | None = None,
    client: Any = None,
) -> Plan:
    """A plan that meets `goal` on `inv` as far as it can (the rest is `unplaced`).

    `solver` is "cpsat" (greedy first, then CP-SAT within `time_limit` seconds shared by
    the components) or "greedy". `workers` and `seed` go to CP-SAT. `progress` receives
    one-line messages while solving. With a `distributed.Client` as `client`, the
    independent components are solved on its workers, CP-SAT single-threaded there
    (`planner.distributed`)."""
    t0 = time.perf_counter()
    if solver not in SOLVERS:
        raise InputError(f"--solver: must be one of {', '.join(SOLVERS)}, got {solver!r}")
    if not time_limit > 0:
        raise InputError(f"--time-limit: must be a positive number of seconds, got {time_limit}")
    if workers is not None and workers < 1:
        raise InputError(f"--workers: must be at least 1, got {workers}")
    options = options or PlanOptions()
    # names as on the command line: Evacuate(("xs-02",)) is Evacuate((<its uuid>,))
    goal = resolve_goal(inv, goal)
    say = progress or (lambda _msg: None)
    p = build_problem(inv, goal, options, durations)
    say(f"problem: {p.n_jobs} migrations to plan, {len(p.unplaced)} VMs without a target")
    bounds = lower_bounds(p)
    parts_idx = components(p)
    sizes = [len(a) for a in parts_idx]
    parts: list[_Part] = []
    deadline = t0 + time_limit
    if client is not None:
        from planner.distributed import solve_parts

        parts = solve_parts(client, p, parts_idx, solver, time_limit, seed, say)
        parts_idx, workers = [], 1  # solved; CP-SAT ran single-threaded on the workers
    for i, idx in enumerate(parts_idx):
        sub = p.subset(idx)
        budget = split_time(max(0.05, deadline - time.perf_counter()), sizes, i)
        parts.append(_solve_part(sub, idx, solver, budget, workers, seed, say))
        if len(parts_idx) > 1:
            say(f"component {i + 1}/{len(parts_idx)}: {len(idx)} migrations, "
                f"{parts[-1].status.value}")  # fmt: skip

    pairs = []
    for pt in parts:
        g = _prepare(pt.jobs, pt.sub, pt.greedy)
        k = g if pt.kept is pt.greedy else _prepare(pt.jobs, pt.sub, pt.kept)
        pairs.append((k, g))
    selected, flipped = _select(p, pairs)
    aware = _slot_aware(selected)
    if _layout_seconds(aware) < _layout_seconds(selected):
        selected = aware
    if flipped:
        for i, (x, (_, g)) in enumerate(zip(selected, pairs, strict=True)):
            if x is g and parts[i].kept is not parts[i].greedy:
                pt = parts[i]
                parts[i] = _Part(pt.jobs, pt.sub, pt.greedy, pt.greedy, pt.greedy.status,
                                 ("CP-SAT's plan of a part lines up worse with the other "
                                  "parts than greedy's; greedy's is used there",))  # fmt: skip
    aligned = _realign(selected)
    if _layout_seconds(aligned) < _layout_seconds(selected):
        selected = aligned
    choice, wave = _assemble_merge(p, selected)
    greedy_parts = [g for _, g in pairs]
    aware = _slot_aware(greedy_parts)
    if _layout_seconds(aware) < _layout_seconds(greedy_parts):
        greedy_parts = aware
    g_choice, g_wave = _assemble_merge(p, greedy_parts)
    if _key(p, g_choice, g_wave) < _key(p, choice, wave):
        # each part was better alone but their waves line up worse than greedy's do
        choice, wave = g_choice, g_wave
        parts = [_Part(pt.jobs, pt.sub, pt.greedy, pt.greedy, pt.greedy.status, ())
                 for pt in parts]  # fmt: skip
        parts[0] = _Part(parts[0].jobs, parts[0].sub, parts[0].kept, parts[0].greedy,
                         parts[0].status, ("CP-SAT's parts merged into a longer campaign "
                                           "than greedy's; greedy's plan is kept",))  # fmt: skip

    plan_seconds = wave_seconds(p, wave)
    placed = np.flatnonzero(choice >= 0)
    # for a partial plan, the bound over the VMs it does move says how good it is at that
    placed_bound = lower_bounds(p.subset(placed)) if len(placed) < p.n_jobs else bounds
    status = _overall(p, parts, choice, plan_seconds, bounds.seconds)
    notes: dict[str, int] = {}
    for pt in parts:
        for n in pt.notes:
            notes[n] = notes.get(n, 0) + 1
    warnings = [Reason(SOLVER_NOTE, n if k == 1 or len(parts) == 1 else
                       f"{n} ({k} of {len(parts)} independent parts)")
                for n, k in notes.items()]  # fmt: skip
    cp_bounds = [pt.kept.bound for pt in parts if pt.kept.bound is not None]
    solver_info = {
        "name": solver,
        "status": status.value,
        "wall_seconds": 0.0,
        "objective": plan_seconds,
        "best_bound": max([bounds.seconds, *cp_bounds]) if p.n_jobs else 0,
        "greedy": {"waves": int(g_wave.max()) + 1 if (g_wave >= 0).any() else 0,
                   "seconds": wave_seconds(p, g_wave),
                   "unplaced": len(p.unplaced) + int((g_choice < 0).sum())},
        "placed_bound": placed_bound.to_json(),
        "components": len(parts),
        "time_limit": time_limit,
        "workers": workers,
        "seed": seed,
    }
    plan = _assemble(inv, goal, options, p, choice, wave, warnings, bounds.to_json(),
                     solver_info)  # fmt: skip
    solver_info["wall_seconds"] = round(time.perf_counter() - t0, 3)
    say(f"done: {status.value}, {plan.estimate['waves']} waves, {plan.estimate['seconds']} s "
        f"(bound {bounds.seconds} s) in {solver_info['wall_seconds']} s")  # fmt: skip
    return plan


def _solve_part(sub: Problem, idx: np.ndarray, solver: str, budget: float,
                workers: int | None, seed: int, say: Callable[[str], None]) -> _Part:  # fmt: skip
    g = solve_greedy(sub)
    b = lower_bounds(sub)
    meets_bound = g.n_unplaced == 0 and g.seconds(sub) <= b.seconds
    if solver == "greedy" or meets_bound:
        st = Status.OPTIMAL if meets_bound else g.status
        return _Part(idx, sub, g, g, st, ())
    say(f"greedy: plan of {g.seconds(sub)} s ({g.n_unplaced} unplaced), bound {b.seconds} s; "
        "CP-SAT searching")
    from solvers.cpsat import solve_cpsat  # ortools loads only when it is needed

    c = solve_cpsat(sub, time_limit=budget, workers=workers, seed=seed, hint=g,
                    min_waves=b.waves, min_seconds=b.seconds, progress=say)  # fmt: skip
    if c.status == Status.NO_PLAN:
        st = g.status if c.info.get("skipped") else Status.NO_PLAN
        return _Part(idx, sub, g, g, st, c.notes)
    c_key = (*c.key(sub), balance(sub, c.choice))
    g_key = (*g.key(sub), balance(sub, g.choice))
    if c_key < g_key:
        return _Part(idx, sub, c, g, c.status, ())
    # CP-SAT proved (or could not beat) a plan no better than greedy's: keep greedy's
    st = Status.OPTIMAL if c.status == Status.OPTIMAL else g.status
    kept = Solution("greedy", st, g.choice, g.wave, g.wall_seconds + c.wall_seconds,
                    bound=c.bound)  # fmt: skip
    note = ("CP-SAT's plan is no better than greedy's; greedy's plan is kept"
            + (" (and proven optimal)" if st == Status.OPTIMAL else ""))  # fmt: skip
    return _Part(idx, sub, kept, g, st, (note,))


def _key(p: Problem, choice: np.ndarray, wave: np.ndarray) -> tuple[int, int]:
    return (int((choice < 0).sum()), wave_seconds(p, wave))


@dataclass(frozen=True)
class _Prepared:
    """A part's solution as the merge sees it: wave lengths, longest-first order, and
    whether that order passes the replay (a "free" part can be reordered)."""

    jobs: np.ndarray
    sub: Problem
    sol: Solution
    lengths: list[int]
    desc: list[int]
    free: bool
    pinned: bool = False  # its waves already sit in their global slots (offset 0)


def _prepare(jobs: np.ndarray, sub: Problem, sol: Solution) -> _Prepared:
    lengths = [0] * sol.n_waves
    for j, w in enumerate(sol.wave.tolist()):
        if w >= 0:
            lengths[w] = max(lengths[w], int(sub.job_seconds[j]))
    desc = sorted(range(len(lengths)), key=lambda w: (-lengths[w], w))
    free = bool(lengths) and not replay(sub, sol.choice, _renumber(sol.wave, desc))
    return _Prepared(jobs, sub, sol, lengths, desc, free)


def _merge(p: Problem, parts: list[tuple[np.ndarray, Problem, Solution]],
           ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Global (choice, wave) from the parts' solutions (see `_layout`)."""
    return _assemble_merge(p, [_prepare(*x) for x in parts])


def _assemble_merge(p: Problem, prepared: list[_Prepared]) -> tuple[np.ndarray, np.ndarray]:
    """Candidate indexes mapped back from each part's arrays to the whole problem's;
    waves laid out by `_layout` (with the replay checking each reordered part)."""
    choice = np.full(p.n_jobs, -1, dtype=np.int64)
    wave = np.full(p.n_jobs, -1, dtype=np.int64)
    for x, at in _layout(prepared, check=True):
        local = x.sol.choice - x.sub.cand_start[:-1]  # offset within the job's candidates
        choice[x.jobs] = np.where(x.sol.choice >= 0, p.cand_start[x.jobs] + local, -1)
        wave[x.jobs] = [at[w] if w >= 0 else -1 for w in x.sol.wave.tolist()]
    return choice, compact(wave)


def _layout(prepared: list[_Prepared], check: bool) -> list[tuple[_Prepared, list[int]]]:
    """The global slot of every wave of every part.

    The global wave i holds wave slots of every part and lasts as long as the longest of
    them, so long waves of different parts should share a slot. Parts whose waves cannot
    be reordered (the replay fails, e.g. SR space freed by an earlier wave) keep their
    order and are placed first, each at the start slot (0 or later: empty slots before a
    part change nothing) where its waves add least, revised a few times (`_offsets`);
    every other part, longest first, puts its longest wave in the slot that is already
    longest, its next in the next, and so on (pairing long with long minimises the sum
    of maxima), as long as the replay accepts the resulting order (`check`; without it
    this is the quick estimate the part selection uses); failing that, its waves go
    longest first from slot 0."""
    slots: list[int] = []  # longest wave in each global slot so far
    placed: list[tuple[_Prepared, list[int]]] = []
    for x in prepared:
        if x.pinned:
            placed.append((x, list(range(len(x.lengths)))))
            _fill(slots, x.lengths, placed[-1][1])
    fixed = sorted((x for x in prepared if not x.free and not x.pinned),
                   key=lambda x: -max(x.lengths, default=0))  # fmt: skip
    offsets = _offsets([x.lengths for x in fixed])
    for x, offset in zip(fixed, offsets, strict=True):
        placed.append((x, [offset + w for w in range(len(x.lengths))]))
        _fill(slots, x.lengths, placed[-1][1])
    free = sorted((x for x in prepared if x.free and not x.pinned),
                  key=lambda x: -max(x.lengths, default=0))  # fmt: skip
    for x in free:
        n = len(x.lengths)
        room = max(len(slots), n)
        best = sorted(range(room), key=lambda i: (-(slots[i] if i < len(slots) else 0), i))
        at = [0] * n
        for w, slot in zip(x.desc, best[:n], strict=True):
            at[w] = slot
        order = sorted(range(n), key=lambda w: at[w])  # the part's waves in slot order
        if check and replay(x.sub, x.sol.choice, _renumber(x.sol.wave, order)):
            at = [0] * n
            for i, w in enumerate(x.desc):
                at[w] = i
        _fill(slots, x.lengths, at)
        placed.append((x, at))
    return placed


def _layout_seconds(prepared: list[_Prepared]) -> int:
    slots: list[int] = []
    for x, at in _layout(prepared, check=False):
        _fill(slots, x.lengths, at)
    return sum(slots)


def _slot_aware(prepared: list[_Prepared]) -> list[_Prepared]:
    """An alternative layout: parts whose order is fixed, longest first, are list
    scheduled again into the global slots the parts before them fill (`greedy.schedule`
    with `slots`: a long job waits for a slot that is long anyway), then pinned there;
    the other parts fill in as usual. A part whose new schedule leaves a job out, or
    fails the replay, keeps its own."""
    from solvers.greedy import schedule

    out: list[_Prepared] = []
    slots: list[int] = []
    for x in sorted(prepared, key=lambda x: -max(x.lengths, default=0)):
        if x.free:
            out.append(x)
            continue
        wave = schedule(x.sub, x.sol.choice, slots=slots)
        same = np.array_equal(wave < 0, x.sol.wave < 0)
        if not same or replay(x.sub, x.sol.choice, wave):
            out.append(x)  # laid out by offsets, as before
            continue
        sol = Solution(x.sol.solver, x.sol.status, x.sol.choice, wave, x.sol.wall_seconds,
                       x.sol.objective, x.sol.bound, x.sol.notes, x.sol.info)  # fmt: skip
        y = _prepare(x.jobs, x.sub, sol)
        y = _Prepared(y.jobs, y.sub, y.sol, y.lengths, y.desc, False, pinned=True)
        _fill(slots, y.lengths, list(range(len(y.lengths))))
        out.append(y)
    return out


def _realign(prepared: list[_Prepared], passes: int = 3) -> list[_Prepared]:
    """The layout of `prepared`, then every part list-scheduled again against the global
    slots all the other parts fill (`greedy.schedule` with `slots`: a long migration
    waits for a slot that is long anyway), longest part first, a few passes; a part's
    new schedule is kept when it places the same jobs, passes the replay and shortens
    the campaign. Every part comes back pinned to its slots (waves renumbered to them).

    Why: parts are solved alone, so their long migrations land in different waves; one
    forced order (a big disk that can only leave after another) makes a long slot that
    the other parts' long migrations should share (the 40,000-VM evacuation: 23% above
    the bound before, 9% after). Per-slot sorted lengths keep each step O(slots).

    Two starts are tried, the shorter result kept: the usual layout, and one where the
    fixed-order parts are shifted so that their longest waves share one slot (moving
    any one of them alone never pays, so the offset search cannot get there)."""
    best: list[_Prepared] = []
    best_s = -1
    for start in (prepared, _peaks_aligned(prepared)):
        out = _realign_from(start, passes)
        s = _layout_seconds(out)
        if best_s < 0 or s < best_s:
            best, best_s = out, s
    return best


def _peaks_aligned(prepared: list[_Prepared]) -> list[_Prepared]:
    """`prepared` with every fixed-order part pinned so its longest wave (the first of
    equal ones) falls in the same global slot; free parts unchanged."""
    peak = {id(x): max(range(len(x.lengths)), key=lambda w: (x.lengths[w], -w))
            for x in prepared if not x.free and x.lengths}  # fmt: skip
    top = max(peak.values(), default=0)
    return [x if id(x) not in peak else
            _pin(x, [top - peak[id(x)] + w for w in range(len(x.lengths))])
            for x in prepared]  # fmt: skip


def _realign_from(prepared: list[_Prepared], passes: int) -> list[_Prepared]:
    """`_realign` from the layout of `prepared`."""
    from solvers.greedy import schedule

    placed = _layout(prepared, check=True)
    # pin every part where the layout put it: wave w of part x -> global slot at[w]
    out = [_pin(x, at) for x, at in placed]
    bags: list[list[int]] = []

    def put(y: _Prepared, sign: int) -> None:
        bags.extend([] for _ in range(len(y.lengths) - len(bags)))
        for slot, x in enumerate(y.lengths):
            if x:  # an empty slot of a part adds nothing (every job lasts >= 1 s)
                if sign > 0:
                    insort(bags[slot], x)
                else:
                    del bags[slot][bisect_left(bags[slot], x)]

    def total_with(y: _Prepared) -> int:
        n = max(len(bags), len(y.lengths))
        return sum(max(bags[i][-1] if i < len(bags) and bags[i] else 0,
                       y.lengths[i] if i < len(y.lengths) else 0) for i in range(n))  # fmt: skip

    for y in out:
        put(y, 1)
    order = sorted(range(len(out)), key=lambda i: -max(out[i].lengths, default=0))
    for _ in range(passes):
        improved = False
        for i in order:
            y = out[i]
            put(y, -1)
            slots = [b[-1] if b else 0 for b in bags]
            wave = schedule(y.sub, y.sol.choice, slots=slots)
            if np.array_equal(wave < 0, y.sol.wave < 0) and not replay(y.sub, y.sol.choice, wave):
                sol = Solution(y.sol.solver, y.sol.status, y.sol.choice, wave,
                               y.sol.wall_seconds, y.sol.objective, y.sol.bound, y.sol.notes,
                               y.sol.info)  # fmt: skip
                z = _pin(_prepare(y.jobs, y.sub, sol), None)
                if total_with(z) < total_with(y):
                    out[i], y, improved = z, z, True
            put(y, 1)
        if not improved:
            break
    return out


def _pin(x: _Prepared, at: list[int] | None) -> _Prepared:
    """`x` with its waves renumbered to global slots `at` (None: as they are), pinned."""
    sol = x.sol
    if at is not None and at != list(range(len(at))):
        wave = np.array([at[w] if w >= 0 else -1 for w in sol.wave.tolist()], dtype=np.int64)
        sol = Solution(sol.solver, sol.status, sol.choice, wave, sol.wall_seconds,
                       sol.objective, sol.bound, sol.notes, sol.info)  # fmt: skip
    y = _prepare(x.jobs, x.sub, sol)
    return _Prepared(y.jobs, y.sub, y.sol, y.lengths, y.desc, False, pinned=True)


def _select(p: Problem, options: list[tuple[_Prepared, _Prepared]],
            ) -> tuple[list[_Prepared], bool]:  # fmt: skip
    """Per part, CP-SAT's or greedy's solution (`options[i] = (kept, greedy)`), so that
    the merged campaign is shortest: start from each part's own best, then flip parts
    to greedy's while the quick estimate improves. Fewer unplaced always wins. Returns
    the choice and whether any part was flipped."""
    chosen = [k for k, _ in options]

    def key(sel: list[_Prepared]) -> tuple[int, int]:
        return (sum(x.sol.n_unplaced for x in sel), _layout_seconds(sel))

    best = key(chosen)
    flipped = False
    # each trial lays out every part: cap trials x parts so 1,000 parts stay linear-ish
    trials = SELECT_WORK // max(1, len(options))
    for _ in range(2):
        improved = False
        for i, (kept, greedy) in enumerate(options):
            if chosen[i] is greedy or kept is greedy:
                continue
            if trials <= 0:
                break
            trials -= 1
            trial = [*chosen[:i], greedy, *chosen[i + 1:]]
            k = key(trial)
            if k < best:
                chosen, best, improved, flipped = trial, k, True, True
        if not improved:
            break
    return chosen, flipped


def _fill(slots: list[int], lengths: list[int], at: list[int]) -> None:
    """Put waves of `lengths` into slots `at`, growing `slots` as needed."""
    slots.extend([0] * (max(at, default=-1) + 1 - len(slots)))
    for w, slot in enumerate(at):
        slots[slot] = max(slots[slot], lengths[w])


def _offsets(parts: list[list[int]], passes: int = 3) -> list[int]:
    """Start slots for parts whose wave order is fixed (wave lengths each), so that the
    sum over slots of the longest wave is small: each part in turn takes the offset that
    adds least to the others (the first pass: to the parts before it), repeated a few
    passes (coordinate descent). Shifting a part later only inserts empty slots before
    it."""
    offsets = [0] * len(parts)
    # per slot, the sorted wave lengths of the parts placed there: taking one part out
    # and reading the others' slots is then O(slots), not O(parts) (1,000 parts at
    # 400,000 VMs made the rebuild-every-time version quadratic)
    bags: list[list[int]] = []

    def put(k: int) -> None:
        need = offsets[k] + len(parts[k])
        bags.extend([] for _ in range(need - len(bags)))
        for w, x in enumerate(parts[k]):
            insort(bags[offsets[k] + w], x)

    def take(k: int) -> None:
        for w, x in enumerate(parts[k]):
            bag = bags[offsets[k] + w]
            del bag[bisect_left(bag, x)]

    def slots_now() -> list[int]:
        n = len(bags)
        while n and not bags[n - 1]:
            n -= 1
        return [b[-1] if b else 0 for b in bags[:n]]

    def added(slots: list[int], lengths: list[int], o: int) -> int:
        ext = slots + [0] * max(0, o + len(lengths) - len(slots))
        return sum(max(ext[o + w], x) - ext[o + w] for w, x in enumerate(lengths))

    for sweep in range(passes):
        changed = False
        for k, lengths in enumerate(parts):
            if sweep:  # the others: every part but k (the first pass: those before k)
                take(k)
            slots = slots_now()
            best = min(range(len(slots) + 1), key=lambda o: (added(slots, lengths, o), o))
            if best != offsets[k]:
                offsets[k], changed = best, True
            put(k)
        if sweep and not changed:
            break
    return offsets


def _renumber(wave: np.ndarray, order: list[int]) -> np.ndarray:
    """Waves renumbered so that wave `order[i]` becomes wave i."""
    rank = {w: i for i, w in enumerate(order)}
    return np.array([rank[int(w)] if w >= 0 else -1 for w in wave.tolist()], dtype=np.int64)


def _overall(p: Problem, parts: list[_Part], choice: np.ndarray, seconds: int,
             bound: int) -> Status:  # fmt: skip
    if p.n_jobs == 0 and not p.unplaced:
        return Status.NOTHING_TO_DO
    if p.unplaced or (choice < 0).any():
        return Status.PARTIAL
    if any(pt.status == Status.NO_PLAN for pt in parts):
        return Status.NO_PLAN
    all_optimal = all(pt.status == Status.OPTIMAL for pt in parts)
    if seconds <= bound or (len(parts) == 1 and all_optimal):
        return Status.OPTIMAL
    return Status.FEASIBLE


def _assemble(inv: Inventory, goal: Goal, options: PlanOptions, p: Problem,
              choice: np.ndarray, wave: np.ndarray, warnings: list[Reason],
              bounds: dict, solver_info: dict) -> Plan:  # fmt: skip
    """The FORMATS.md plan of a merged solution."""
    by_wave: dict[int, list[int]] = defaultdict(list)
    for j, w in enumerate(wave.tolist()):
        if w >= 0:
            by_wave[w].append(j)
    left_host: dict[str, list[str]] = defaultdict(list)  # host -> ids that left it
    left_sr: dict[str, list[str]] = defaultdict(list)  # SR -> ids whose disks left it
    waves: list[Wave] = []
    n = 0
    for w in sorted(by_wave):
        migs = []
        leaving: list[tuple[str, Migration]] = []
        for j in sorted(by_wave[w], key=lambda j: (-int(p.job_seconds[j]), j)):
            n += 1
            m = _migration(inv, options, p, j, int(choice[j]), f"m{n}", left_host, left_sr)
            migs.append(m)
            leaving.append((m.id, m))
        for mid, m in leaving:
            if m.from_host and m.to_host != m.from_host:
                left_host[m.from_host].append(mid)
            for d in m.disks:
                left_sr[d.from_sr].append(mid)
        waves.append(Wave(len(waves), tuple(migs)))
    unplaced = list(p.unplaced)
    for j in np.flatnonzero(choice < 0).tolist():
        vm = inv.vm_by_uuid[p.job_vm[j]]
        unplaced.append(Unplaced(vm.uuid, (Reason(
            codes.NO_CAPACITY,
            f"eligible targets exist for {vm.name}, but no wave of this plan has room for "
            "it (host memory, SR space or, for a halted VM, a host to start it on)"),)))
    all_migs = [m for w in waves for m in w.migrations]
    try:
        from planner.rules.network import management_network_warnings

        warnings = warnings + list(management_network_warnings(inv, all_migs))
    except ImportError:  # pragma: no cover - older rules module
        pass
    return Plan(
        inventory_digest=digest(inv),
        goal=goal.to_json(),
        options=options.to_json(),
        solver=solver_info,
        bounds=bounds,
        waves=(staged := lockstep(waves)),
        unplaced=tuple(unplaced),
        warnings=tuple(warnings),
        estimate=estimate_of(staged),
    )


def _migration(inv: Inventory, options: PlanOptions, p: Problem, j: int, c: int, mid: str,
               left_host: dict[str, list[str]],
               left_sr: dict[str, list[str]]) -> Migration:  # fmt: skip
    vm = inv.vm_by_uuid[p.job_vm[j]]
    h, s = int(p.cand_host[c]), int(p.cand_sr[c])
    to_host = p.host_uuid[h] if h >= 0 else None
    to_sr = p.sr_uuid[s] if s >= 0 else None
    to_pool = p.pool_uuid[int(p.cand_pool[c])]
    from_host = vm.host if vm.is_running else None
    disks = {d.uuid: d for d in vm.disks}
    moves = tuple(DiskMove(u, disks[u].sr, to_sr) for u in p.job_moved[j] if to_sr)
    vifs = map_vifs(inv, vm, to_pool, options.network_map)[0] if to_pool != vm.pool else ()
    deps: list[str] = []
    if to_host is not None and to_host != from_host:
        deps += left_host.get(to_host, [])
    if to_sr is not None:
        deps += left_sr.get(to_sr, [])
    return Migration(
        id=mid, vm=vm.uuid, kind=KINDS[int(p.job_kind[j])], from_host=from_host,
        to_host=to_host, from_pool=vm.pool, to_pool=to_pool, disks=moves, vifs=vifs,
        est_seconds=int(p.job_seconds[j]), depends_on=tuple(dict.fromkeys(deps)),
    )  # fmt: skip
