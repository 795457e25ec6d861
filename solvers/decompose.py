"""Split a problem into independent parts: pools that share no migration.

Two pools are coupled when a job of one may land in the other (a candidate target in
it). Within a component every host and SR a job touches belongs to a pool of that
component, and concurrency is counted per source pool, so components share nothing: each
is solved alone (`solve_component`, here or on a Dask worker), all start at time 0 and
the campaign lasts as long as the longest of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import numpy as np

from planner.problem import Problem
from solvers.base import Solution, Status


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


def solve_component(sub: Problem, solver: str = "cpsat", time_limit: float = 30.0,
                    workers: int | None = None, seed: int = 0,
                    progress: Callable[[str], None] | None = None) -> PartResult:  # fmt: skip
    """One component: greedy (targets, then list scheduling); then, unless greedy already
    meets the component's proven lower bound, CP-SAT warm-started from it within
    `time_limit` seconds; the better of the two (fewer unplaced, then shorter) is kept.
    Public so that `planner.distributed` runs the very same function on Dask workers."""
    from solvers.bounds import lower_bounds
    from solvers.greedy import solve_greedy

    g = solve_greedy(sub)
    b = lower_bounds(sub)
    meets_bound = g.n_unplaced == 0 and g.seconds(sub) <= b.seconds
    if solver == "greedy" or meets_bound:
        st = Status.OPTIMAL if meets_bound else g.status
        return PartResult(g, g, st)
    from solvers.cpsat import solve_cpsat  # ortools loads only when it is needed

    c = solve_cpsat(sub, time_limit=time_limit, workers=workers, seed=seed, hint=g,
                    min_seconds=b.seconds, progress=progress)  # fmt: skip
    if c.status == Status.NO_PLAN:
        st = g.status if c.info.get("skipped") else Status.NO_PLAN
        return PartResult(g, g, st, c.notes)
    if c.key(sub) < g.key(sub):
        return PartResult(c, g, c.status)
    # CP-SAT proved (or could not beat) a plan no better than greedy's: keep greedy's
    st = Status.OPTIMAL if c.status == Status.OPTIMAL else g.status
    kept = Solution("greedy", st, g.choice, g.start, g.wall_seconds + c.wall_seconds,
                    objective=g.objective, bound=c.bound, witness=g.witness)  # fmt: skip
    note = ("CP-SAT's plan is no shorter than greedy's; greedy's plan is kept"
            + (" (and proven optimal)" if st == Status.OPTIMAL else ""))  # fmt: skip
    return PartResult(kept, g, st, (note,))
