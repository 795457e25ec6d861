"""CP-SAT: choose every job's target and start time together (docs/solving.md has the
model; solvers/cpsat_model.py writes it). Time is whole seconds, the problem's own unit:
no rescaling (the horizon of a component is a few hours, well within what CP-SAT's
interval reasoning handles).

Variables, over a horizon H (below):
- x[c] per candidate: the job takes that target; placed[j] = sum of its x (0 or 1).
- start[j] in [0, H - d_j], end[j] = start[j] + d_j; the job's interval [start, end) is
  optional (present when placed).
- makespan >= end[j] of every placed job.
Constraints (FORMATS.md rule 14, as the account in solvers/account.py books it):
- per source pool, a cumulative of the job intervals, capacity max_per_pool; with
  max_per_host, per host a cumulative of the intervals that leave it (the job's) or
  enter it (one optional interval per candidate landing there, present with x[c]);
- host memory, per host that could ever run out: a cumulative whose capacity is what is
  free once every VM that may leave has left; a leaving VM holds its memory from 0 to
  its end (to H when it does not move away); an arriving VM from its start to H
  (optional, per candidate); a halted VM's memory on its witness host while it moves;
- SR space, per SR that could ever run out: likewise, a leaving disk holds its used
  bytes from 0 to its end (to H when unplaced) and reserves 2x while it moves; an
  arriving one reserves on the target SR (3x, or what arrives when larger) while it
  moves and holds its used bytes from its end to H (optional, per candidate).
- anti-affinity (strict) among VMs that both move: no candidate on a group-mate's
  source host, at most one member per target host.
Constraints that can never bind (the host or SR holds every possible demand at once)
are not written, which keeps ordinary fleets small.
Objective (lexicographic by weights): unplaced jobs, then the makespan.

Horizon: the hint's makespan when the hint places every job (an optimal plan is no
longer); otherwise the sum of every job's duration, which is always enough -- any set of
jobs that can run at all can run one after another in start order (each then sees at
most what it saw in the parallel plan), so no job is left out for want of time (issue
13 item 10; the wave model's horizon was capped and left jobs unplaced).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from planner.problem import Problem
from solvers.base import Solution, Status, flow_replay, makespan
from solvers.cpsat_model import Builder

MAX_MODEL_SIZE = 120_000  # terms; beyond this CP-SAT rarely even repeats the hint in time
# beyond this many terms presolve's probing is off: on a 68,000-term pool move it took
# 14 s of a 15 s budget before the search (and the hint) got a chance
PROBING_SIZE = 20_000


def horizon_for(p: Problem, hint: Solution | None) -> int:
    """Seconds the schedule may use (see the module docstring)."""
    total = int(p.job_seconds.sum()) if p.n_jobs else 0
    if hint is not None and hint.n_unplaced == 0:
        return max(1, min(total, hint.seconds(p)))
    return max(1, total)


def _ranked_candidates(p: Problem, hint: Solution | None, k: int) -> np.ndarray:
    """A bool per candidate: the hint's choice and the next best (most free memory on the
    host, then most free space on the SR) up to `k` per job."""
    keep = np.zeros(len(p.cand_host), dtype=bool)
    host_free = np.append(p.host_cap - p.host_init, 1 << 40)  # index -1: no host
    sr_free = np.append(p.sr_size - p.sr_used, [1 << 40, 1 << 40])  # -1, SPLIT
    for j in range(p.n_jobs):
        cs = list(p.cands(j))
        key = lambda c: (-host_free[p.cand_host[c]], -sr_free[p.cand_sr[c]], c)  # noqa: E731
        if hint is not None and hint.choice[j] >= 0:
            first = int(hint.choice[j])
            cs.remove(first)
            cs = [first, *sorted(cs, key=key)]
        else:
            cs.sort(key=key)
        keep[cs[:k]] = True
    return keep


def solve_cpsat(
    p: Problem,
    *,
    time_limit: float = 30.0,
    workers: int | None = None,
    seed: int = 0,
    hint: Solution | None = None,
    min_seconds: int = 0,
    progress: Callable[[str], None] | None = None,
    max_model_size: int = MAX_MODEL_SIZE,
    stall: float | None = None,
) -> Solution:
    """Solve `p` with CP-SAT within `time_limit` seconds, warm-started from `hint`.

    `min_seconds` is a proven lower bound on the makespan (solvers.bounds), added as a
    cut when the hint places every job. `stall` stops the search early when neither the
    plan nor the bound has improved for that many seconds (None: 5% of the time limit,
    within 1-10 s, when the hint places every job; otherwise no early stop)."""
    t0 = time.perf_counter()
    J = p.n_jobs
    empty = np.full(J, -1, dtype=np.int64)
    if J == 0:
        return Solution("cpsat", Status.NOTHING_TO_DO, empty, empty.copy(), 0.0, 0, 0)
    H = horizon_for(p, hint)
    full = p
    b, size, kept = _fit(full, H, hint, max_model_size)
    if size > max_model_size:
        return Solution(
            "cpsat",
            Status.NO_PLAN,
            empty,
            empty.copy(),
            time.perf_counter() - t0,
            notes=(
                f"model too large for CP-SAT ({size:,} terms > "
                f"{max_model_size:,}) even with one target per VM; "
                "greedy plan kept",
            ),
            info={"skipped": True, "size": size},
        )
    b.build()
    if b.hint is not None and b.hint.n_unplaced == 0:
        # the hint places every job, so any better plan does too (unplaced jobs weigh
        # most); then the proven lower bound is a valid cut and tightens CP-SAT's bound
        for v in b.placed:
            b.m.add(v == 1)
        b.m.add(b.makespan >= int(min(min_seconds, H)))
    if b.hint is not None:
        b.add_hint(b.hint)

    solver = _solver(time_limit, workers, seed, size)
    if stall is None:
        # a hint that leaves VMs out leaves CP-SAT real work (placing one more VM can
        # take seconds between improvements): no early stop then
        complete = b.hint is not None and b.hint.n_unplaced == 0
        stall = min(10.0, max(1.0, 0.05 * time_limit)) if complete else float("inf")
    callback = _Progress(progress, b)
    solver.best_bound_callback = callback.improved
    watchdog = _Watchdog(solver, callback, stall)
    watchdog.start()
    try:
        code = solver.Solve(b.m, callback)
    finally:
        watchdog.done.set()
        watchdog.join()
    wall = time.perf_counter() - t0
    info: dict[str, Any] = {
        "horizon": H,
        "size": size,
        "status": solver.StatusName(code),
        "stalled": watchdog.fired,
    }
    if kept is not None:
        info["pruned_to"] = len(kept)
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return _found(full, b, solver, code, kept, wall, info)
    if code == cp_model.INFEASIBLE:
        # cannot happen (leaving every job unplaced is always feasible): report, not crash
        note = "CP-SAT found the model infeasible; greedy plan kept"
    elif code == cp_model.MODEL_INVALID:
        note = f"CP-SAT rejected the model: {b.m.validate()}; greedy plan kept"
    else:  # UNKNOWN: the time limit came before any solution
        note = f"CP-SAT found no plan within {time_limit:.1f} s; greedy plan kept"
    return Solution("cpsat", Status.NO_PLAN, empty, empty.copy(), wall, notes=(note,), info=info)


def _found(
    full: Problem,
    b: Builder,
    solver: cp_model.CpSolver,
    code: Any,
    kept: np.ndarray | None,
    wall: float,
    info: dict[str, Any],
) -> Solution:
    """The solution CP-SAT found (OPTIMAL or FEASIBLE `code`), in `full`'s candidate
    indexes, replayed (rule 14 at the problem's level) before it is handed out."""
    p = b.p
    empty = np.full(full.n_jobs, -1, dtype=np.int64)
    choice, start = b.extract(solver)
    faults = flow_replay(p, choice, start)
    if kept is not None:  # back to the full problem's candidate indexes
        choice = np.where(choice >= 0, kept[np.maximum(choice, 0)], -1)
        p = full
    if (kept is not None or b.witness or p.reserve_raised) and code == cp_model.OPTIMAL:
        # optimal among the kept targets only, or in a model stricter than the rules
        # (a halted VM's memory booked on one witness host, a raised reservation):
        # another plan may still place more VMs or be shorter
        code = cp_model.FEASIBLE
    if faults:  # a modelling bug: never hand out a plan that breaks the rules
        return Solution(
            "cpsat",
            Status.NO_PLAN,
            empty,
            empty.copy(),
            wall,
            notes=("CP-SAT's plan failed the replay: " + faults[0],),
            info=info,
        )
    status = Status.OPTIMAL if code == cp_model.OPTIMAL else Status.FEASIBLE
    if (choice < 0).any():
        status = Status.PARTIAL
    # CP-SAT's bound holds within its model; with pruned targets it says nothing
    bound = None if kept is not None else b.seconds_bound(solver.BestObjectiveBound())
    info["objective_raw"] = solver.ObjectiveValue()
    # the model is rule 14 itself (not a stricter account) when no halted VM books a
    # witness host and no reservation was raised: its bound is then a proven lower
    # bound on every complete plan over these candidates
    info["exact"] = bool(
        kept is None
        and not b.witness
        and not p.reserve_raised
        and b.hint is not None
        and b.hint.n_unplaced == 0
    )
    return Solution(
        "cpsat",
        status,
        choice,
        start,
        wall,
        objective=float(makespan(p, choice, start)),
        bound=bound,
        info=info,
        witness=b.witness_array(),
    )


def _fit(
    full: Problem,
    H: int,
    hint: Solution | None,
    max_model_size: int,
) -> tuple[Builder, int, np.ndarray | None]:
    """The model's builder, its estimated size and, when targets were pruned to fit
    `max_model_size`, the kept candidates' indexes in `full` (None: all kept). Too big:
    keep the hint's target and the k next best per job, fewer until it fits."""
    p = full
    kept: np.ndarray | None = None  # candidate map when targets were pruned
    b = Builder(p, H, hint)
    size = b.estimate_size()
    k = 8
    while size > max_model_size and k >= 1:
        kept = np.flatnonzero(_ranked_candidates(full, hint, k))
        mask = np.zeros(len(full.cand_host), dtype=bool)
        mask[kept] = True
        p = full.keep_candidates(mask)
        if hint is not None:
            new_index = np.full(len(full.cand_host), -1, dtype=np.int64)
            new_index[kept] = np.arange(len(kept))
            choice = np.where(hint.choice >= 0, new_index[np.maximum(hint.choice, 0)], -1)
            hint_p = Solution(
                hint.solver,
                hint.status,
                choice,
                hint.start,
                hint.wall_seconds,
                witness=hint.witness,
            )
        else:
            hint_p = None
        b = Builder(p, H, hint_p)
        size = b.estimate_size()
        k //= 2
    return b, size, kept


def _solver(time_limit: float, workers: int | None, seed: int, size: int) -> cp_model.CpSolver:
    """A CP-SAT solver with the time limit (seconds), workers (default 2) and seed; presolve's
    probing off for large models (PROBING_SIZE)."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, float(time_limit))
    solver.parameters.num_workers = int(workers) if workers else 2
    solver.parameters.random_seed = int(seed)
    if size > PROBING_SIZE:
        solver.parameters.cp_model_probing_level = 0
    return solver


class _Progress(cp_model.CpSolverSolutionCallback):
    """Notes when the search last improved; reports each new plan to `out`."""

    def __init__(self, out: Callable[[str], None] | None, b: Builder) -> None:
        super().__init__()
        self.out = out
        self.b = b
        self.last = time.monotonic()
        self.found = False  # no early stop before a first plan: presolve can be long

    def improved(self, *_: Any) -> None:
        self.last = time.monotonic()

    def on_solution_callback(self) -> None:
        self.last = time.monotonic()
        self.found = True
        if self.out is None:
            return
        sec = self.Value(self.b.makespan)
        bound = self.b.seconds_bound(self.BestObjectiveBound())
        unplaced = sum(1 - self.Value(v) for v in self.b.placed)
        self.out(
            f"cpsat: schedule of {sec} s ({unplaced} unplaced), bound {bound} s, "
            f"{self.WallTime():.1f} s"
        )


class _Watchdog(threading.Thread):
    """Stops CP-SAT when it has not improved its plan or bound for `stall` seconds:
    waiting out the whole time limit after the last improvement rarely pays."""

    def __init__(self, solver: cp_model.CpSolver, progress: _Progress, stall: float) -> None:
        super().__init__(daemon=True)
        self.solver, self.progress, self.stall = solver, progress, stall
        self.done = threading.Event()
        self.fired = False

    def run(self) -> None:
        while not self.done.wait(0.05):
            p = self.progress
            if p.found and time.monotonic() - p.last > self.stall:
                self.fired = True
                self.solver.stop_search()
                return
