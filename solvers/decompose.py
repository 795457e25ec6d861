"""Split a problem into independent parts: pools that share no migration.

Two pools are coupled when a job of one may land in the other (a candidate target in
it). Within a component every host and SR a job touches belongs to a pool of that
component, and concurrency is counted per source pool, so components share nothing: each
is solved alone (`solve_component`, here or on a Dask worker), all start at time 0 and
the campaign lasts as long as the longest of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

from planner.problem import Problem
from solvers.base import Solution, Status, compact, makespan
from solvers.bounds import lower_bounds
from solvers.greedy import solve_greedy


def components(p: Problem) -> list[np.ndarray]:
    """Job indexes of each component, largest first (ties: first job first)."""
    g = nx.Graph()
    for j in range(p.n_jobs):
        src = int(p.job_pool[j])
        g.add_node(src)
        for c in p.cands(j):
            dst = int(p.cand_pool[c])
            if dst != src:
                g.add_edge(src, dst)
    comp_of: dict[int, int] = {}
    for i, pools in enumerate(nx.connected_components(g)):
        for pool in pools:
            comp_of[pool] = i
    members: dict[int, list[int]] = {}
    for j in range(p.n_jobs):
        members.setdefault(comp_of[int(p.job_pool[j])], []).append(j)
    parts = [np.array(js, dtype=np.int64) for js in members.values()]
    parts.sort(key=lambda a: (-len(a), int(a[0])))
    return parts


def split_time(total: float, sizes: list[int], done: int) -> float:
    """Seconds for part `done` out of the `total` still available: its share by size of
    the parts not yet solved, so time a quick part leaves over goes to the later ones."""
    rest = sum(sizes[done:])
    return total * sizes[done] / rest if rest else 0.0


@dataclass(frozen=True)
class PartResult:
    """A component solved: the kept solution, greedy's (the baseline), the status and
    notes for the plan's warnings. Solutions index the component's own sub-problem."""

    kept: Solution
    greedy: Solution
    status: Status
    notes: tuple[str, ...] = ()
    bound: int = 0  # proven lower bound on this component's schedule length, seconds


def solve_component(
    sub: Problem,
    solver: str = "cpsat",
    time_limit: float = 30.0,
    workers: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    good_enough: int = 0,
) -> PartResult:
    """One component: greedy (targets, then list scheduling); then CP-SAT warm-started
    from it within `time_limit` seconds, unless greedy places every job within
    `good_enough` seconds or the component's proven lower bound (the campaign lasts as
    long as its longest component, so a component shorter than a bound on the whole
    campaign cannot make it shorter); the better of the two (fewer unplaced, then
    shorter) is kept. The result's `bound` is the component's proven lower bound: the
    combinatorial one (solvers.bounds) or CP-SAT's own when its model is exact.
    Public so that `planner.distributed` runs the very same function on Dask workers."""
    g = solve_greedy(sub)
    b = lower_bounds(sub)
    complete = g.n_unplaced == 0
    meets_bound = complete and g.seconds(sub) <= b.seconds
    if solver == "greedy" or meets_bound:
        st = Status.OPTIMAL if meets_bound else g.status
        return PartResult(g, g, st, bound=b.seconds)
    if complete and g.seconds(sub) <= good_enough:
        return PartResult(g, g, Status.FEASIBLE, bound=b.seconds)
    if progress is not None:  # the phase line of `planner solve --progress`
        progress(
            f"greedy: schedule of {g.seconds(sub)} s ({g.n_unplaced} unplaced), bound "
            f"{b.seconds} s; CP-SAT searching"
        )
    from solvers.cpsat import solve_cpsat  # ortools loads only when it is needed

    t0 = time.perf_counter()
    c = solve_cpsat(
        sub,
        time_limit=time_limit,
        workers=workers,
        seed=seed,
        hint=g,
        min_seconds=b.seconds,
        progress=progress,
    )
    if c.status != Status.NO_PLAN and c.n_unplaced:
        left = time_limit - (time.perf_counter() - t0)
        c = _tighten(sub, c, left, workers, seed, progress)
    if c.status == Status.NO_PLAN:
        st = g.status if c.info.get("skipped") else Status.NO_PLAN
        return PartResult(g, g, st, c.notes, bound=b.seconds)
    bound = b.seconds
    if c.info.get("exact") and c.bound is not None:
        bound = max(bound, int(c.bound))
    if c.key(sub) < g.key(sub):
        return PartResult(c, g, c.status, bound=bound)
    # CP-SAT proved (or could not beat) a plan no better than greedy's: keep greedy's
    st = Status.OPTIMAL if c.status == Status.OPTIMAL else g.status
    kept = Solution(
        "greedy",
        st,
        g.choice,
        g.start,
        g.wall_seconds + c.wall_seconds,
        objective=g.objective,
        bound=c.bound,
        witness=g.witness,
    )
    note = "CP-SAT's plan is no shorter than greedy's; greedy's plan is kept" + (
        " (and proven optimal)" if st == Status.OPTIMAL else ""
    )
    return PartResult(kept, g, st, (note,), bound=bound)


def _tighten(
    sub: Problem,
    c: Solution,
    left: float,
    workers: int | None,
    seed: int,
    progress: Callable[[str], None] | None,
) -> Solution:
    """CP-SAT placed what it could but (placing VMs weighs most) its schedule may be
    long: shift every move as early as the account allows in its start order, then,
    with the time left, solve the placed moves again for the shortest schedule."""
    from solvers.cpsat import solve_cpsat  # ortools loads only when it is needed

    start = compact(sub, c.choice, c.start)
    if start is not None and makespan(sub, c.choice, start) < c.seconds(sub):
        c = replace(
            c,
            start=np.where(c.choice >= 0, start, -1),
            objective=float(makespan(sub, c.choice, start)),
        )
    placed = np.flatnonzero(c.choice >= 0)
    if left < 0.5 or not len(placed):
        return c
    part = sub.subset(placed)
    local = c.choice[placed] - sub.cand_start[placed] + part.cand_start[:-1]
    hint = Solution(
        "cpsat",
        c.status,
        local,
        c.start[placed],
        0.0,
        witness=None if c.witness is None else c.witness[placed],
    )
    again = solve_cpsat(
        part, time_limit=left, workers=workers, seed=seed, hint=hint, progress=progress
    )
    if again.status == Status.NO_PLAN or again.n_unplaced or again.seconds(part) >= c.seconds(sub):
        return c
    choice = c.choice.copy()
    start2 = np.full(sub.n_jobs, -1, dtype=np.int64)
    choice[placed] = again.choice - part.cand_start[:-1] + sub.cand_start[placed]
    start2[placed] = again.start
    witness = None
    if again.witness is not None:
        witness = np.full(sub.n_jobs, -1, dtype=np.int64)
        witness[placed] = again.witness
    return replace(
        c,
        choice=choice,
        start=start2,
        objective=float(again.seconds(part)),
        wall_seconds=c.wall_seconds + again.wall_seconds,
        witness=witness,
    )
