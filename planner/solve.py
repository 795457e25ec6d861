"""`solve`: goal in, checked-ready `Plan` out. Every goal goes through here.

Stages for evacuate, move-pool and retire-sr: build the problem (rules prune targets) ->
split it into independent components (`solvers.decompose.components`: pools that share
no migration) -> solve each (`solvers.decompose.solve_component`: greedy targets and list
scheduling, then CP-SAT warm-started from it unless greedy already meets the proven
lower bound), one after another or on Dask workers (`planner.distributed`) -> every
component starts at time 0, so the campaign lasts as long as its longest component ->
derive the waves from the schedule (`solvers.base.derive_waves`) -> assemble the
FORMATS.md plan (ids, disks, VIF maps, dependencies, start times, estimate, bounds).

The campaign goals (rebalance, target, rolling-upgrade) keep their own planners in
`planner/campaigns/`, which choose the moves; their plans come back through here.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from planner.campaigns.dispatch import plan_campaign
from planner.distributed import solve_parts
from planner.durations import DEFAULT_MODEL, DurationModel
from planner.errors import InputError
from planner.goals import Evacuate, Goal, MovePool, RetireSR, resolve_goal
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
)
from planner.plan_header import Figures, SolverInfo, SolveSettings
from planner.problem import KINDS, Problem, build_problem
from planner.rules import codes
from planner.rules.affinity import anti_affinity_warnings
from planner.rules.network import management_network_warnings, map_vifs
from planner.stepaside import after_solve
from solvers.base import (
    Solution,
    Status,
    best_waves,
    longest_first,
    makespan,
    wave_seconds,
)
from solvers.bounds import BOUND_ASSUMES, Bounds, lower_bounds
from solvers.decompose import PartResult, components, solve_component, split_time

SOLVERS = ("cpsat", "greedy")
SOLVER_NOTE = "SOLVER"  # warning code for what the solver wants the reader to know


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

    `goal` is any goal: evacuate, move-pool and retire-sr are solved here; rebalance,
    target and rolling-upgrade go to their campaign planners. `solver` is "cpsat"
    (greedy first, then CP-SAT within `time_limit` seconds shared by the components) or
    "greedy". `workers` and `seed` go to CP-SAT. `progress` receives one-line messages
    while solving. With a `distributed.Client` as `client`, the independent components
    are solved on its workers, CP-SAT single-threaded there (`planner.distributed`)."""
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
    if not isinstance(goal, Evacuate | MovePool | RetireSR):
        return plan_campaign(inv, goal, options)
    say = progress or (lambda _msg: None)
    p = build_problem(inv, goal, options, durations)
    say(f"problem: {p.n_jobs} migrations to plan, {len(p.unplaced)} VMs without a target")
    bounds = lower_bounds(p)
    parts_idx = components(p)
    # a component no longer than this bound on the whole campaign is not worth CP-SAT's
    # time: the campaign lasts as long as its longest component. Fixed before solving
    # (not raised as parts finish) so that a Dask solve makes the very same choices
    good_enough = bounds.seconds
    if client is not None:
        results = solve_parts(
            client, p, parts_idx, solver, time_limit, seed, say, good_enough=good_enough
        )
        workers = 1  # CP-SAT ran single-threaded on the workers
    else:
        results = _solve_here(
            p, parts_idx, solver, t0 + time_limit, workers, seed, say, good_enough
        )

    choice, start = _combine(p, parts_idx, [r.kept for r in results])
    if p.n_jobs:  # the campaign lasts at least as long as any of its components must
        campaign_bound = max(bounds.seconds, *(r.bound for r in results))
        bounds = replace(
            bounds,
            seconds=campaign_bound,
            seconds_by=bounds.seconds_by
            if campaign_bound == bounds.seconds
            else "CP-SAT's proof on the longest component",
        )
    g_choice, g_start = _combine(p, parts_idx, [r.greedy for r in results])
    length = makespan(p, choice, start)
    wave = _waves(p, parts_idx, [r.kept for r in results])
    placed = np.flatnonzero(choice >= 0)
    # for a partial plan, the bound over the VMs it does move says how good it is at that
    placed_bound = lower_bounds(p.subset(placed)) if len(placed) < p.n_jobs else bounds
    status = _overall(p, parts_idx, results, choice, length, bounds.seconds)
    warnings = _solver_notes(results)
    cp_bounds = [r.kept.bound for r in results if r.kept.bound is not None]
    g_wave = _waves(p, parts_idx, [r.greedy for r in results])
    solver_info = SolverInfo(
        name=solver,
        status=status,
        wall_seconds=0.0,
        objective=length,
        best_bound=max([bounds.seconds, *[int(b) for b in cp_bounds]]) if p.n_jobs else 0,
        bound_assumes=BOUND_ASSUMES,
        greedy=Figures(
            seconds=makespan(p, g_choice, g_start),
            waves=int(g_wave.max()) + 1 if (g_wave >= 0).any() else 0,
            wave_seconds=wave_seconds(p, g_wave),
            unplaced=len(p.unplaced) + int((g_choice < 0).sum()),
        ),
        placed_bound=_figures(placed_bound),
        components=len(results),
        settings=SolveSettings(time_limit, workers, seed),
    )
    plan = _assemble(
        inv, goal, options, p, choice, start, wave, warnings, _figures(bounds), solver_info
    )
    wall = round(time.perf_counter() - t0, 3)
    plan = replace(plan, solver=replace(plan.solver, wall_seconds=wall))
    say(
        f"done: {status.value}, schedule {plan.estimate.seconds} s (bound "
        f"{bounds.seconds} s), {plan.estimate.waves} waves lock-step "
        f"{plan.estimate.wave_seconds} s, in {wall} s"
    )
    # step-aside moves: issue 13 item 11, docs/solving.md
    return after_solve(
        inv,
        goal,
        options,
        plan,
        dict(solver=solver, time_limit=time_limit, workers=workers, seed=seed, durations=durations),
        solve,
    )


def _figures(b: Bounds) -> Figures:
    """The plan's figures of a solver's lower bounds (whole seconds)."""
    return Figures(waves=b.waves, seconds=b.seconds, wave_seconds=b.wave_seconds)


def _solve_here(
    p: Problem,
    parts_idx: list[np.ndarray],
    solver: str,
    deadline: float,
    workers: int | None,
    seed: int,
    say: Callable[[str], None],
    good_enough: int,
) -> list[PartResult]:
    """Solve the components one after another in this process, each with its share of
    the time left until `deadline` (time.perf_counter seconds)."""
    sizes = [len(a) for a in parts_idx]
    results: list[PartResult] = []
    for i, idx in enumerate(parts_idx):
        budget = split_time(max(0.05, deadline - time.perf_counter()), sizes, i)
        results.append(
            solve_component(p.subset(idx), solver, budget, workers, seed, say, good_enough)
        )
        if len(parts_idx) > 1:
            say(
                f"component {i + 1}/{len(parts_idx)}: {len(idx)} migrations, "
                f"{results[-1].status.value}"
            )
    return results


def _solver_notes(results: list[PartResult]) -> list[Reason]:
    """The parts' solver notes as plan warnings, each once, with how many parts gave it."""
    notes: dict[str, int] = {}
    for r in results:
        for n in r.notes:
            notes[n] = notes.get(n, 0) + 1
    return [
        Reason(
            SOLVER_NOTE,
            n if k == 1 or len(results) == 1 else f"{n} ({k} of {len(results)} independent parts)",
        )
        for n, k in notes.items()
    ]


def _combine(
    p: Problem,
    parts_idx: list[np.ndarray],
    sols: list[Solution],
) -> tuple[np.ndarray, np.ndarray]:
    """Global (choice, start): each part's candidate indexes mapped back from its
    sub-problem's arrays to the whole problem's; every part starts at time 0."""
    choice = np.full(p.n_jobs, -1, dtype=np.int64)
    start = np.full(p.n_jobs, -1, dtype=np.int64)
    for jobs, sol in zip(parts_idx, sols, strict=True):
        sub_start = np.zeros(len(jobs) + 1, dtype=np.int64)
        np.cumsum(p.cand_start[jobs + 1] - p.cand_start[jobs], out=sub_start[1:])
        local = sol.choice - sub_start[:-1]  # offset within the job's candidates
        choice[jobs] = np.where(sol.choice >= 0, p.cand_start[jobs] + local, -1)
        start[jobs] = np.where(sol.choice >= 0, sol.start, -1)
    return choice, start


def _waves(p: Problem, parts_idx: list[np.ndarray], sols: list[Solution]) -> np.ndarray:
    """Waves for lock-step runs: each component's derived from its own schedule
    (`solvers.base.best_waves`: in start order, so its longest moves come first), and
    wave i of the plan is wave i of every
    component -- they share no pool, host or SR, so the rules hold wave by wave. With
    several components, each one's waves run longest first when the rules allow it, so
    long waves of different components line up."""
    wave = np.full(p.n_jobs, -1, dtype=np.int64)
    for jobs, sol in zip(parts_idx, sols, strict=True):
        sub = p.subset(jobs)
        mine = best_waves(sub, sol.choice, sol.start)
        wave[jobs] = longest_first(sub, sol.choice, sol.start, mine) if len(sols) > 1 else mine
    return wave


def _overall(
    p: Problem,
    parts_idx: list[np.ndarray],
    results: list[PartResult],
    choice: np.ndarray,
    seconds: int,
    bound: int,
) -> Status:
    if p.n_jobs == 0 and not p.unplaced:
        return Status.NOTHING_TO_DO
    if p.unplaced or (choice < 0).any():
        return Status.PARTIAL
    if any(r.status == Status.NO_PLAN for r in results):
        return Status.NO_PLAN
    if seconds <= bound:
        return Status.OPTIMAL
    # the campaign lasts as long as its longest part: when that part is proven
    # optimal, no plan is shorter
    longest = [
        r for r in results if r.kept.objective is not None and int(r.kept.objective) == seconds
    ]
    if longest and any(r.status == Status.OPTIMAL for r in longest):
        return Status.OPTIMAL
    return Status.FEASIBLE


def _assemble(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions,
    p: Problem,
    choice: np.ndarray,
    start: np.ndarray,
    wave: np.ndarray,
    warnings: list[Reason],
    bounds: Figures,
    solver_info: SolverInfo,
) -> Plan:
    """The FORMATS.md plan of a solution: migrations numbered in start order, each with
    its `start_s`, grouped into the waves derived from the schedule. `depends_on` lists
    the migrations that left the target host or SR and ended by this one's start (the
    derived waves put them in earlier waves)."""
    secs = p.job_seconds
    jobs = sorted(
        np.flatnonzero(choice >= 0).tolist(),
        key=lambda j: (int(start[j]), int(wave[j]), -int(secs[j]), j),
    )
    left_host: dict[str, list[tuple[int, str]]] = defaultdict(list)  # host -> (end, id)
    left_sr: dict[str, list[tuple[int, str]]] = defaultdict(list)  # SR -> (end, id)
    by_wave: dict[int, list[Migration]] = defaultdict(list)
    for n, j in enumerate(jobs, start=1):
        m = _migration(
            inv, options, p, j, int(choice[j]), f"m{n}", int(start[j]), left_host, left_sr
        )
        by_wave[int(wave[j])].append(m)
        end = m.start_s + m.est_seconds
        if m.from_host and m.to_host != m.from_host:
            left_host[m.from_host].append((end, m.id))
        for d in m.disks:
            if d.to_sr != d.from_sr:
                left_sr[d.from_sr].append((end, m.id))
    waves = tuple(Wave(i, tuple(by_wave[w])) for i, w in enumerate(sorted(by_wave)))
    unplaced = list(p.unplaced)
    for j in np.flatnonzero(choice < 0).tolist():
        vm = inv.vm_by_uuid[p.job_vm[j]]
        unplaced.append(
            Unplaced(
                vm.uuid,
                (
                    Reason(
                        codes.NO_CAPACITY,
                        f"eligible targets exist for {vm.name}, but no instant of this plan has "
                        "room for it (host memory, SR space or, for a halted VM, a host to start "
                        "it on)",
                    ),
                ),
            )
        )
    all_migs = [m for w in waves for m in w.migrations]
    warnings = warnings + list(
        management_network_warnings(inv, all_migs, options.migration_network)
    )
    if options.anti_affinity == "soft":
        # FORMATS.md rule 8 (v2): each placement next to a group member is a warning
        warnings = warnings + list(anti_affinity_warnings(inv, [w.migrations for w in waves]))
    return Plan(
        inventory_digest=digest(inv),
        goal=goal,
        options=options,
        solver=solver_info,
        bounds=bounds,
        waves=waves,
        unplaced=tuple(unplaced),
        warnings=tuple(warnings),
        estimate=estimate_of(waves),
    )


def _migration(
    inv: Inventory,
    options: PlanOptions,
    p: Problem,
    j: int,
    c: int,
    mid: str,
    start_s: int,
    left_host: dict[str, list[tuple[int, str]]],
    left_sr: dict[str, list[tuple[int, str]]],
) -> Migration:
    vm = inv.vm_by_uuid[p.job_vm[j]]
    h = int(p.cand_host[c])
    to_host = p.host_uuid[h] if h >= 0 else None
    to_pool = p.pool_uuid[int(p.cand_pool[c])]
    from_host = vm.host if vm.is_running else None
    disks = {d.uuid: d for d in vm.disks}
    to_srs = [p.sr_uuid[s] for s in p.disk_targets(j, c)]
    target = dict(zip(p.job_moved[j], to_srs, strict=True))
    kind = KINDS[int(p.job_kind[j])]
    if kind == "storage":
        # FORMATS.md: a storage migration lists every disk of the VM, `to_sr` equal to
        # `from_sr` for one that stays (XAPI's migrate_send maps every VDI)
        moves = tuple(DiskMove(d.uuid, d.sr, target.get(d.uuid, d.sr)) for d in vm.disks)
    else:
        moves = tuple(DiskMove(u, disks[u].sr, s) for u, s in target.items())
    vifs = map_vifs(inv, vm, to_pool, options.network_map)[0] if to_pool != vm.pool else ()
    deps: list[str] = []
    if to_host is not None and to_host != from_host:
        deps += [mid_ for end, mid_ in left_host.get(to_host, []) if end <= start_s]
    for s in dict.fromkeys(to_srs):
        deps += [mid_ for end, mid_ in left_sr.get(s, []) if end <= start_s]
    return Migration(
        id=mid,
        vm=vm.uuid,
        kind=kind,
        from_host=from_host,
        to_host=to_host,
        from_pool=vm.pool,
        to_pool=to_pool,
        disks=moves,
        vifs=vifs,
        est_seconds=int(p.job_seconds[j]),
        depends_on=tuple(dict.fromkeys(deps)),
        start_s=start_s,
    )
