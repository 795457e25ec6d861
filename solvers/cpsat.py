"""CP-SAT: choose every job's target and start time together (docs/solving.md has the
model). Time is whole seconds, the problem's own unit: no rescaling (the horizon of a
component is a few hours, well within what CP-SAT's interval reasoning handles).

Variables, over a horizon H (below):
- x[c] per candidate: the job takes that target; placed[j] = sum of its x (0 or 1).
- start[j] in [0, H - d_j], end[j] = start[j] + d_j; the job's interval [start, end) is
  optional (present when placed).
- makespan >= end[j] of every placed job.
Constraints (FORMATS.md rule 14, as the account in solvers/base.py books it):
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
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from planner.problem import Problem
from solvers.base import Solution, Status, flow_replay, makespan

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
        key = (lambda c: (-host_free[p.cand_host[c]], -sr_free[p.cand_sr[c]], c))  # noqa: E731
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
    kept: np.ndarray | None = None  # candidate map when targets were pruned
    b = _Builder(p, H, hint)
    size = b.estimate_size()
    k = 8
    while size > max_model_size and k >= 1:
        # too big: keep the hint's target and the k next best per job, fewer until it fits
        kept = np.flatnonzero(_ranked_candidates(full, hint, k))
        mask = np.zeros(len(full.cand_host), dtype=bool)
        mask[kept] = True
        p = full.keep_candidates(mask)
        if hint is not None:
            new_index = np.full(len(full.cand_host), -1, dtype=np.int64)
            new_index[kept] = np.arange(len(kept))
            choice = np.where(hint.choice >= 0, new_index[np.maximum(hint.choice, 0)], -1)
            hint_p = Solution(hint.solver, hint.status, choice, hint.start, hint.wall_seconds,
                              witness=hint.witness)  # fmt: skip
        else:
            hint_p = None
        b = _Builder(p, H, hint_p)
        size = b.estimate_size()
        k //= 2
    if size > max_model_size:
        return Solution("cpsat", Status.NO_PLAN, empty, empty.copy(),
                        time.perf_counter() - t0,
                        notes=(f"model too large for CP-SAT ({size:,} terms > "
                               f"{max_model_size:,}) even with one target per VM; "
                               "greedy plan kept",),
                        info={"skipped": True, "size": size})  # fmt: skip
    b.build()
    if b.hint is not None and b.hint.n_unplaced == 0:
        # the hint places every job, so any better plan does too (unplaced jobs weigh
        # most); then the proven lower bound is a valid cut and tightens CP-SAT's bound
        for v in b.placed:
            b.m.add(v == 1)
        b.m.add(b.makespan >= int(min(min_seconds, H)))
    if b.hint is not None:
        b.add_hint(b.hint)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, float(time_limit))
    solver.parameters.num_workers = int(workers) if workers else 2
    solver.parameters.random_seed = int(seed)
    if size > PROBING_SIZE:
        solver.parameters.cp_model_probing_level = 0
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
    info: dict[str, Any] = {"horizon": H, "size": size, "status": solver.StatusName(code),
                            "stalled": watchdog.fired}  # fmt: skip
    if kept is not None:
        info["pruned_to"] = len(kept)
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
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
            return Solution("cpsat", Status.NO_PLAN, empty, empty.copy(), wall,
                            notes=("CP-SAT's plan failed the replay: " + faults[0],),
                            info=info)  # fmt: skip
        status = Status.OPTIMAL if code == cp_model.OPTIMAL else Status.FEASIBLE
        if (choice < 0).any():
            status = Status.PARTIAL
        # CP-SAT's bound holds within its model; with pruned targets it says nothing
        bound = None if kept is not None else b.seconds_bound(solver.BestObjectiveBound())
        info["objective_raw"] = solver.ObjectiveValue()
        # the model is rule 14 itself (not a stricter account) when no halted VM books a
        # witness host and no reservation was raised: its bound is then a proven lower
        # bound on every complete plan over these candidates
        info["exact"] = bool(kept is None and not b.witness and not p.reserve_raised
                             and b.hint is not None and b.hint.n_unplaced == 0)
        return Solution("cpsat", status, choice, start, wall,
                        objective=float(makespan(p, choice, start)), bound=bound,
                        info=info, witness=b.witness_array())  # fmt: skip
    if code == cp_model.INFEASIBLE:
        # cannot happen (leaving every job unplaced is always feasible): report, not crash
        note = "CP-SAT found the model infeasible; greedy plan kept"
    elif code == cp_model.MODEL_INVALID:
        note = f"CP-SAT rejected the model: {b.m.validate()}; greedy plan kept"
    else:  # UNKNOWN: the time limit came before any solution
        note = f"CP-SAT found no plan within {time_limit:.1f} s; greedy plan kept"
    return Solution("cpsat", Status.NO_PLAN, empty, empty.copy(), wall, notes=(note,),
                    info=info)  # fmt: skip


# the `name` the Solver Protocol (solvers/base.py) asks of a solver function
solve_cpsat.name = "cpsat"  # type: ignore[attr-defined]


class _Progress(cp_model.CpSolverSolutionCallback):
    """Notes when the search last improved; reports each new plan to `out`."""

    def __init__(self, out: Callable[[str], None] | None, b: _Builder) -> None:
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
        self.out(f"cpsat: schedule of {sec} s ({unplaced} unplaced), bound {bound} s, "
                 f"{self.WallTime():.1f} s")  # fmt: skip


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


class _Builder:
    """Builds the model for problem `p` over horizon `H` and maps solutions back."""

    def __init__(self, p: Problem, H: int, hint: Solution | None) -> None:
        self.p, self.H, self.hint = p, H, hint
        self.m = cp_model.CpModel()
        J = p.n_jobs
        ch = p.cand_host.tolist()
        fh = p.job_from_host.tolist()
        # host -> candidates landing there from elsewhere; SR -> (candidate, reserve, used)
        self.to_host: dict[int, list[int]] = defaultdict(list)
        self.to_sr: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
        for j in range(J):
            for c in p.cands(j):
                if ch[c] >= 0 and ch[c] != fh[j]:
                    self.to_host[ch[c]].append(c)
                for s, res, used in p.targets(j, c):
                    self.to_sr[s].append((j, c, res, used))
        self.job_of = np.repeat(np.arange(J), np.diff(p.cand_start)) if J else np.zeros(0)
        self.from_host: dict[int, list[int]] = defaultdict(list)
        for j in range(J):
            if fh[j] >= 0 and any(ch[c] != fh[j] for c in p.cands(j)):
                self.from_host[fh[j]].append(j)
        self.from_sr: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for j in range(J):
            for k in p.srcs(j):
                self.from_sr[int(p.src_sr[k])].append(
                    (j, int(p.src_reserve[k]), int(p.src_used_down[k])))
        # a halted job books its memory on one host while it moves: the hint's witness,
        # else the enabled host of its pool with the most room now
        self.witness: dict[int, int] = {}
        for j in range(J):
            if not p.job_halted_mem[j]:
                continue
            w = -1
            if hint is not None and hint.witness is not None and hint.witness[j] >= 0:
                w = int(hint.witness[j])
            if w < 0:
                pool = int(p.job_pool[j])
                hosts = np.flatnonzero((p.host_pool == pool) & p.host_enabled).tolist()
                w = max(hosts, key=lambda x: (int(p.host_cap[x] - p.host_init[x]), -x))
            self.witness[j] = w
        self.witness_on: dict[int, list[int]] = defaultdict(list)
        for j, h in self.witness.items():
            self.witness_on[h].append(j)
        self.hosts = [h for h in set(self.to_host) | set(self.witness_on)
                      if self._host_binds(h)]  # fmt: skip
        self.srs = [s for s in set(self.to_sr) | set(self.from_sr) if self._sr_binds(s)]

    def _host_binds(self, h: int) -> bool:
        p = self.p
        worst = sum(int(p.job_mem_up[self.job_of[c]]) for c in self.to_host.get(h, ()))
        worst += sum(int(p.job_halted_mem[j]) for j in self.witness_on.get(h, ()))
        return bool(p.host_init[h] + worst > p.host_cap[h])

    def _sr_binds(self, s: int) -> bool:
        p = self.p
        worst = sum(max(res, used) for _, _, res, used in self.to_sr.get(s, ()))
        worst += sum(res for _, res, _ in self.from_sr.get(s, ()))
        return bool(p.sr_used[s] + worst > p.sr_size[s])

    def estimate_size(self) -> int:
        p = self.p
        n = len(p.cand_host) + 4 * p.n_jobs
        for h in self.hosts:
            n += 2 * (len(self.to_host.get(h, ())) + len(self.from_host.get(h, ())))
        for s in self.srs:
            n += 2 * (len(self.to_sr.get(s, ())) + len(self.from_sr.get(s, ())))
        if p.max_per_host is not None:
            n += sum(len(v) for v in self.to_host.values()) + p.n_jobs
        return n

    # ------------------------------------------------------------ model
    def build(self) -> None:
        p, H, m = self.p, self.H, self.m
        J = p.n_jobs
        secs = p.job_seconds.tolist()
        fh = p.job_from_host.tolist()
        self.x = [m.new_bool_var(f"x{c}") for c in range(len(p.cand_host))]
        self.placed = [m.new_bool_var(f"placed{j}") for j in range(J)]
        self.start = [m.new_int_var(0, max(0, H - secs[j]), f"s{j}") for j in range(J)]
        self.end = [self.start[j] + secs[j] for j in range(J)]
        self.iv = [m.new_optional_fixed_size_interval_var(self.start[j], secs[j], self.placed[j],
                                                     f"iv{j}") for j in range(J)]  # fmt: skip
        self.makespan = m.new_int_var(0, H, "makespan")
        for j in range(J):
            m.add_exactly_one([self.placed[j].Not(), *(self.x[c] for c in p.cands(j))])
            m.add(self.makespan >= self.end[j]).OnlyEnforceIf(self.placed[j])
            # an unplaced job's start means nothing: pin it (less symmetry)
            m.add(self.start[j] == 0).OnlyEnforceIf(self.placed[j].Not())

        # slots per source pool (and per host)
        by_pool: dict[int, list[int]] = defaultdict(list)
        for j in range(J):
            by_pool[int(p.job_pool[j])].append(j)
        for jobs in by_pool.values():
            if len(jobs) > p.max_per_pool:
                m.add_cumulative([self.iv[j] for j in jobs], [1] * len(jobs), p.max_per_pool)
        if p.max_per_host is not None:
            touch: dict[int, list[Any]] = defaultdict(list)
            for j in range(J):
                if fh[j] >= 0:
                    touch[fh[j]].append(self.iv[j])
            for h, cs in self.to_host.items():
                for c in cs:
                    j = int(self.job_of[c])
                    touch[h].append(m.new_optional_fixed_size_interval_var(
                        self.start[j], secs[j], self.x[c], f"in{c}"))
            for touching in touch.values():
                if len(touching) > p.max_per_host:
                    m.add_cumulative(touching, [1] * len(touching), p.max_per_host)

        # host memory
        self.hold: dict[int, Any] = {}
        for h in self.hosts:
            ivs: list[Any] = []
            dem: list[int] = []
            base = int(p.host_init[h])
            for j in self.from_host.get(h, ()):
                mem = int(p.job_mem_down[j])
                base -= mem
                ivs.append(self._hold_interval(j))
                dem.append(mem)
            cap = int(p.host_cap[h]) - base
            for c in self.to_host.get(h, ()):
                j = int(self.job_of[c])
                if cap < 0:  # overcommitted even once all has left: nothing may arrive
                    m.add(self.x[c] == 0)
                    continue
                ivs.append(m.new_optional_interval_var(self.start[j], H - self.start[j], H,
                                                    self.x[c], f"arr{c}"))  # fmt: skip
                dem.append(int(p.job_mem_up[j]))
            for j in self.witness_on.get(h, ()):
                ivs.append(self.iv[j])
                dem.append(int(p.job_halted_mem[j]))
            if cap < 0:
                for j in self.witness_on.get(h, ()):
                    m.add(self.placed[j] == 0)
                continue
            if ivs:
                m.add_cumulative(ivs, dem, cap)

        # SR space
        for s in self.srs:
            ivs, dem = [], []
            base = int(p.sr_used[s])
            for j, res, down in self.from_sr.get(s, ()):
                base -= down
                ivs.append(self._src_hold(j))
                dem.append(down)
                ivs.append(self.iv[j])
                dem.append(res)
            cap = int(p.sr_size[s]) - base
            for j, c, res, used in self.to_sr.get(s, ()):
                if cap < 0:
                    m.add(self.x[c] == 0)
                    continue
                ivs.append(m.new_optional_fixed_size_interval_var(self.start[j], secs[j],
                                                             self.x[c], f"res{c}_{s}"))  # fmt: skip
                dem.append(res)
                if used:
                    ivs.append(m.new_optional_interval_var(self.end[j], H - self.end[j], H,
                                                        self.x[c], f"after{c}_{s}"))  # fmt: skip
                    dem.append(used)
            if cap < 0:
                continue
            if ivs:
                m.add_cumulative(ivs, dem, cap)

        # anti-affinity among moving members (strict): never a mate's source host, and at
        # most one member per target host (as greedy: stricter than rule 8's timing)
        if p.anti_affinity == "strict" and p.job_groups:
            avoid = p.group_conflicts()
            for j, hosts in avoid.items():
                for c in p.cands(j):
                    if int(p.cand_host[c]) in hosts:
                        m.add(self.x[c] == 0)
            for g in p.job_groups:
                on: dict[int, list[Any]] = defaultdict(list)
                for j in g:
                    for c in p.cands(j):
                        if int(p.cand_host[c]) >= 0:
                            on[int(p.cand_host[c])].append(self.x[c])
                for xs in on.values():
                    if len(xs) > 1:
                        m.add_at_most_one(xs)

        self.weight = H + 1
        m.minimize(self.weight * (J - sum(self.placed)) + self.makespan)

    def _hold_interval(self, j: int) -> Any:
        """[0, end) while the VM of job j is still on its source host: its end when it
        moves away, H when it stays (unplaced, or a candidate on its own host)."""
        got = self.hold.get(j)
        if got is not None:
            return got[0]
        p, m = self.p, self.m
        f = int(p.job_from_host[j])
        away = [self.x[c] for c in p.cands(j) if int(p.cand_host[c]) != f]
        if len(away) == len(p.cands(j)):
            moved = self.placed[j]
        else:
            moved = m.new_bool_var(f"away{j}")
            m.add(sum(away) == moved)
        iv, e = self._until(j, moved, f"hold{j}")
        self.hold[j] = (iv, e, moved)
        return iv

    def _src_hold(self, j: int) -> Any:
        """[0, end) while job j's disks still hold their used bytes on their source SRs
        (to H when the job is unplaced)."""
        key = -1 - j  # its own slot in `hold`, apart from the host hold
        got = self.hold.get(key)
        if got is not None:
            return got[0]
        iv, e = self._until(j, self.placed[j], f"srchold{j}")
        self.hold[key] = (iv, e, self.placed[j])
        return iv

    def _until(self, j: int, moved: Any, name: str) -> tuple[Any, Any]:
        m, H = self.m, self.H
        e = m.new_int_var(0, H, f"{name}_end")
        m.add(e == self.end[j]).OnlyEnforceIf(moved)
        m.add(e == H).OnlyEnforceIf(moved.Not())
        return m.new_interval_var(0, e, e, name), e

    # hints, solutions ------------------------------------------
    def add_hint(self, hint: Solution) -> None:
        p, m, H = self.p, self.m, self.H
        secs = p.job_seconds.tolist()
        chosen = {int(c) for c in hint.choice.tolist() if c >= 0}
        for c in range(len(self.x)):
            m.add_hint(self.x[c], 1 if c in chosen else 0)
        longest = 0
        for j in range(p.n_jobs):
            c, s = int(hint.choice[j]), int(hint.start[j])
            ok = c >= 0 and s >= 0 and s + secs[j] <= H
            m.add_hint(self.placed[j], 1 if ok else 0)
            m.add_hint(self.start[j], s if ok else 0)
            if ok:
                longest = max(longest, s + secs[j])
        m.add_hint(self.makespan, longest)
        for key, (_, e, _) in self.hold.items():
            j = key if key >= 0 else -1 - key
            c, s = int(hint.choice[j]), int(hint.start[j])
            if c < 0 or (key >= 0 and int(p.cand_host[c]) == int(p.job_from_host[j])):
                m.add_hint(e, H)
            else:
                m.add_hint(e, s + secs[j])

    def extract(self, solver: cp_model.CpSolver) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        choice = np.full(p.n_jobs, -1, dtype=np.int64)
        start = np.full(p.n_jobs, -1, dtype=np.int64)
        for j in range(p.n_jobs):
            if not solver.Value(self.placed[j]):
                continue
            choice[j] = next(c for c in p.cands(j) if solver.Value(self.x[c]))
            start[j] = solver.Value(self.start[j])
        return choice, start

    def witness_array(self) -> np.ndarray:
        out = np.full(self.p.n_jobs, -1, dtype=np.int64)
        for j, h in self.witness.items():
            out[j] = h
        return out

    def seconds_bound(self, objective_bound: float) -> int | None:
        """A bound on the makespan of plans that place every job, from CP-SAT's
        objective bound (valid within this model: its horizon and candidate targets)."""
        if objective_bound >= self.weight:
            return None
        return max(0, int(objective_bound + 0.999999))
