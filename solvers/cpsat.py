"""CP-SAT: choose every job's target and wave together (docs/solving.md has the model).

Variables (W waves, the horizon: greedy's wave count, plus room for what greedy left):
- x[c] for each candidate c: the job takes that target; placed[j] = sum of its x.
- y[j][w]: job j has started by wave w (monotone in w; y[j][W-1] = placed[j]); the job
  runs in wave w when y[j][w] - y[j][w-1] = 1.
- L[w]: the longest job of wave w; U: the worst final utilisation (per mille) of a
  host that receives VMs.
Constraints, at every wave start, as FORMATS.md's replay rules define:
- at most max_per_pool jobs of a source pool per wave;
- memory: a host that only receives VMs just needs its final load to fit (its load only
  grows); a host that also loses VMs (or serves as the halted-VM witness) is checked at
  every wave: committed now - left before w + arrived by w (incoming included) <= cap;
- SR space at every wave: used + arrived earlier + 3x reservations of this wave +
  2x reservations on the SRs disks leave - what left earlier <= size;
- a halted VM's disks move only when a chosen host of its pool has room for its memory.
Constraints that can never bind (the SR or host holds every possible demand at once)
are not written, which keeps ordinary fleets small.
Objective (lexicographic by weights): unplaced jobs, then campaign seconds (sum of L),
then U. The number of migrations is fixed by the goal (one per VM that must move), so
it only enters through the unplaced count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from planner.problem import Problem
from solvers.base import Solution, Status, balance, compact, replay

MAX_MODEL_SIZE = 120_000  # terms; beyond this CP-SAT rarely even repeats the hint in time


def horizon_for(p: Problem, hint: Solution | None, min_waves: int) -> int:
    """Waves the model may use: enough for the hint and for what it left unplaced."""
    if hint is None:
        return max(min_waves, math.ceil(p.n_jobs / p.max_per_pool))
    # room for what the hint left unplaced, but not unbounded: a capacity-starved goal
    # would otherwise get a horizon of every job
    extra = min(math.ceil(hint.n_unplaced / p.max_per_pool), max(2, hint.n_waves // 4))
    # `min_waves` counts every job; when the hint leaves some out, fewer may be best
    return max(min_waves if hint.n_unplaced == 0 else 1, hint.n_waves + extra, 1)


def _ranked_candidates(p: Problem, hint: Solution | None, k: int) -> np.ndarray:
    """A bool per candidate: the hint's choice and the next best (most free memory on the
    host, then most free space on the SR) up to `k` per job."""
    keep = np.zeros(len(p.cand_host), dtype=bool)
    host_free = np.append(p.host_cap - p.host_init, 1 << 40)  # index -1: no host
    sr_free = np.append(p.sr_size - p.sr_used, 1 << 40)
    for j in range(p.n_jobs):
        cs = list(p.cands(j))
        if hint is not None and hint.choice[j] >= 0:
            first = int(hint.choice[j])
            cs.remove(first)
            cs = [first, *sorted(cs, key=lambda c: (-host_free[p.cand_host[c]],
                                                    -sr_free[p.cand_sr[c]], c))]  # fmt: skip
        else:
            cs.sort(key=lambda c: (-host_free[p.cand_host[c]], -sr_free[p.cand_sr[c]], c))
        keep[cs[:k]] = True
    return keep


def solve_cpsat(
    p: Problem,
    *,
    time_limit: float = 30.0,
    workers: int | None = None,
    seed: int = 0,
    hint: Solution | None = None,
    min_waves: int = 1,
    min_seconds: int = 0,
    progress: Callable[[str], None] | None = None,
    max_model_size: int = MAX_MODEL_SIZE,
    stall: float | None = None,
) -> Solution:
    """Solve `p` with CP-SAT within `time_limit` seconds, warm-started from `hint`.

    `min_waves` and `min_seconds` are proven lower bounds (solvers.bounds): the horizon
    is at least `min_waves`, and `min_seconds` is added as a cut when the hint places
    every job. `stall` stops the search early when neither the plan nor the bound has
    improved for that many seconds (None: 2% of the time limit, within 0.5-10 s)."""
    t0 = time.perf_counter()
    J = p.n_jobs
    empty = np.full(J, -1, dtype=np.int64)
    if J == 0:
        return Solution("cpsat", Status.NOTHING_TO_DO, empty, empty.copy(), 0.0, 0, 0)
    W = horizon_for(p, hint, min_waves)
    full = p
    kept: np.ndarray | None = None  # candidate map when targets were pruned
    b = _Builder(p, W)
    size = b.estimate_size()
    k = 8
    while size > max_model_size and k >= 1:
        # too big: keep the hint's target and the k next best per job, fewer until it fits
        kept = np.flatnonzero(_ranked_candidates(full, hint, k))
        mask = np.zeros(len(full.cand_host), dtype=bool)
        mask[kept] = True
        p = full.keep_candidates(mask)
        b = _Builder(p, W)
        size = b.estimate_size()
        k //= 2
    if size > max_model_size:
        return Solution("cpsat", Status.NO_PLAN, empty, empty.copy(),
                        time.perf_counter() - t0,
                        notes=(f"model too large for CP-SAT ({size:,} terms > "
                               f"{max_model_size:,}) even with one target per VM; "
                               "greedy plan kept",),
                        info={"skipped": True, "size": size})  # fmt: skip
    if kept is not None and hint is not None:
        # the hint's choices, as indexes into the pruned candidate arrays
        new_index = np.full(len(full.cand_host), -1, dtype=np.int64)
        new_index[kept] = np.arange(len(kept))
        hint = Solution(hint.solver, hint.status,
                        np.where(hint.choice >= 0, new_index[np.maximum(hint.choice, 0)], -1),
                        hint.wave, hint.wall_seconds)  # fmt: skip
    b.build()
    if hint is not None and hint.n_unplaced == 0:
        # the hint places every job, so any better plan does too (unplaced jobs weigh
        # most); then the proven lower bound is a valid cut and tightens CP-SAT's bound
        for v in b.placed:
            b.m.Add(v == 1)
        b.m.Add(sum(b.L) >= int(min_seconds))
    if hint is not None:
        b.add_hint(hint)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, float(time_limit))
    solver.parameters.num_workers = int(workers) if workers else 2
    solver.parameters.random_seed = int(seed)
    if stall is None:
        stall = min(10.0, max(0.5, 0.02 * time_limit))
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
    info: dict[str, Any] = {"horizon": W, "size": size, "status": solver.StatusName(code),
                            "stalled": watchdog.fired}  # fmt: skip

    if kept is not None:
        info["pruned_to"] = len(kept)
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        choice, wave = b.extract(solver)
        faults = replay(p, choice, wave)
        if kept is not None:  # back to the full problem's candidate indexes
            choice = np.where(choice >= 0, kept[np.maximum(choice, 0)], -1)
            p = full
        if kept is not None and code == cp_model.OPTIMAL:
            code = cp_model.FEASIBLE  # optimal among the kept targets only
        if faults:  # a modelling bug: never hand out a plan that breaks the rules
            return Solution("cpsat", Status.NO_PLAN, empty, empty.copy(), wall,
                            notes=("CP-SAT's plan failed the replay: " + faults[0],),
                            info=info)  # fmt: skip
        status = Status.OPTIMAL if code == cp_model.OPTIMAL else Status.FEASIBLE
        if (choice < 0).any():
            status = Status.PARTIAL
        # CP-SAT's bound holds within its model; with pruned targets it says nothing
        seconds_bound = None if kept is not None else b.seconds_bound(solver.BestObjectiveBound())
        info["objective_raw"] = solver.ObjectiveValue()
        return Solution("cpsat", status, choice, wave, wall,
                        objective=float(_seconds_of(p, wave)), bound=seconds_bound,
                        info=info)  # fmt: skip
    if code == cp_model.INFEASIBLE:
        # cannot happen (leaving every job unplaced is always feasible): report, not crash
        note = "CP-SAT found the model infeasible; greedy plan kept"
    elif code == cp_model.MODEL_INVALID:
        note = f"CP-SAT rejected the model: {b.m.Validate()}; greedy plan kept"
    else:  # UNKNOWN: the time limit came before any solution
        note = f"CP-SAT found no plan within {time_limit:.1f} s; greedy plan kept"
    return Solution("cpsat", Status.NO_PLAN, empty, empty.copy(), wall, notes=(note,),
                    info=info)  # fmt: skip


solve_cpsat.name = "cpsat"  # type: ignore[attr-defined]


def _seconds_of(p: Problem, wave: np.ndarray) -> int:
    from solvers.base import wave_seconds

    return wave_seconds(p, wave)


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
        sec = sum(self.Value(v) for v in self.b.L)
        bound = self.b.seconds_bound(self.BestObjectiveBound())
        unplaced = sum(1 - self.Value(v) for v in self.b.placed)
        self.out(f"cpsat: plan of {sec} s ({unplaced} unplaced), bound {bound} s, "
                 f"{self.WallTime():.1f} s")  # fmt: skip


class _Watchdog(threading.Thread):
    """Stops CP-SAT when it has not improved its plan or bound for `stall` seconds: on
    sum-of-maxima objectives its bound barely moves, so waiting out the whole time limit
    after the last improvement rarely pays."""

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
    """Builds the model for problem `p` over `W` waves and maps solutions back."""

    def __init__(self, p: Problem, W: int) -> None:
        self.p, self.W = p, W
        self.m = cp_model.CpModel()
        self._q: dict[tuple[int, int, int], Any] = {}
        self._aux: list[tuple[Any, tuple]] = []  # auxiliary booleans, for hints
        self._picks: dict[tuple[int, int, int], Any] = {}
        J = p.n_jobs
        ch, cs = p.cand_host.tolist(), p.cand_sr.tolist()
        fh = p.job_from_host.tolist()
        # destinations: host -> jobs that may arrive (from elsewhere), SR -> jobs
        self.to_host: dict[int, set[int]] = defaultdict(set)
        self.to_sr: dict[int, set[int]] = defaultdict(set)
        for j in range(J):
            for c in p.cands(j):
                if ch[c] >= 0 and ch[c] != fh[j]:
                    self.to_host[ch[c]].add(j)
                if cs[c] >= 0:
                    self.to_sr[cs[c]].add(j)
        self.from_host: dict[int, list[int]] = defaultdict(list)
        for j in range(J):
            if fh[j] >= 0 and any(ch[c] != fh[j] for c in p.cands(j)):
                self.from_host[fh[j]].append(j)
        self.from_sr: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for j in range(J):
            for k in p.srcs(j):
                self.from_sr[int(p.src_sr[k])].append(
                    (j, int(p.src_reserve[k]), int(p.src_used_down[k])))
        self.timed_hosts = {h for h in self.to_host if h in self.from_host}
        self.witness: dict[int, int] = {}
        for j in range(J):
            need = int(p.job_halted_mem[j])
            if not need:
                continue
            pool = int(p.job_pool[j])
            # numpy, not a loop over every host of the fleet (parts keep global hosts)
            hosts = np.flatnonzero((p.host_pool == pool) & p.host_enabled).tolist()
            safe = [h for h in hosts
                    if p.host_cap[h] - p.host_init[h] - self._potential(h) >= need]  # fmt: skip
            if safe:
                continue
            h = max(hosts, key=lambda x: int(p.host_cap[x] - p.host_init[x]))
            self.witness[j] = h
            self.timed_hosts.add(h)
        self.timed_srs = [s for s in set(self.to_sr) | set(self.from_sr) if self._sr_binds(s)]
        self.final_hosts = [h for h in self.to_host
                            if h not in self.timed_hosts and self._host_binds(h)]  # fmt: skip

    def _potential(self, h: int) -> int:
        return int(sum(int(self.p.job_mem_up[j]) for j in self.to_host.get(h, ())))

    def _host_binds(self, h: int) -> bool:
        p = self.p
        return bool(p.host_init[h] + self._potential(h) > p.host_cap[h])

    def _sr_binds(self, s: int) -> bool:
        """Whether SR s could ever run out: every arrival plus the largest reservations
        a wave can hold (max_per_pool per pool involved) exceed its free space."""
        p = self.p
        arrivals = [int(p.job_used_up[j]) for j in self.to_sr.get(s, ())]
        reserves = [int(p.job_reserve[j]) for j in self.to_sr.get(s, ())]
        reserves += [r for _, r, _ in self.from_sr.get(s, ())]
        jobs = set(self.to_sr.get(s, ())) | {j for j, _, _ in self.from_sr.get(s, ())}
        slots = p.max_per_pool * len({int(p.job_pool[j]) for j in jobs})
        worst = sum(arrivals) + sum(sorted(reserves, reverse=True)[:slots])
        return bool(p.sr_used[s] + worst > p.sr_size[s])

    def estimate_size(self) -> int:
        p, W = self.p, self.W
        n = len(p.cand_host) + 3 * p.n_jobs * W
        for s in self.timed_srs:
            n += 4 * W * (len(self.to_sr.get(s, ())) + len(self.from_sr.get(s, ())))
        for h in self.timed_hosts:
            n += 3 * W * (len(self.to_host.get(h, ())) + len(self.from_host.get(h, ())))
        n += sum(len(self.to_host[h]) for h in self.to_host)
        return n

    # ------------------------------------------------------------ model
    def build(self) -> None:
        p, W, m = self.p, self.W, self.m
        J = p.n_jobs
        secs = p.job_seconds.tolist()
        self.x = [m.NewBoolVar(f"x{c}") for c in range(len(p.cand_host))]
        self.placed = [m.NewBoolVar(f"placed{j}") for j in range(J)]
        self.y = [[m.NewBoolVar(f"y{j}_{w}") for w in range(W)] for j in range(J)]
        for j in range(J):
            m.Add(sum(self.x[c] for c in p.cands(j)) == self.placed[j])
            m.Add(self.y[j][W - 1] == self.placed[j])
            for w in range(1, W):
                m.AddImplication(self.y[j][w - 1], self.y[j][w])
        dmax = max(secs)
        self.L = [m.NewIntVar(0, dmax, f"L{w}") for w in range(W)]
        by_pool: dict[int, list[int]] = defaultdict(list)
        for j in range(J):
            by_pool[int(p.job_pool[j])].append(j)
        for w in range(W):
            for jobs in by_pool.values():
                if len(jobs) > p.max_per_pool:
                    m.Add(sum(self.z(j, w) for j in jobs) <= p.max_per_pool)
            for j in range(J):
                m.Add(self.L[w] >= secs[j] * self.z(j, w))

        # memory: hosts that only receive need their final load to fit
        for h in self.final_hosts:
            m.Add(int(p.host_init[h]) + sum(int(p.job_mem_up[j]) * self.xh(j, h)
                                            for j in self.to_host[h]) <= int(p.host_cap[h]))
        self.load: dict[int, list[Any]] = {}
        for h in self.timed_hosts:
            self.load[h] = []
            for w in range(W):
                expr = int(p.host_init[h])
                expr -= sum(int(p.job_mem_down[j]) * self.yb(j, w - 1)
                            for j in self.from_host.get(h, ()))  # fmt: skip
                expr += sum(int(p.job_mem_up[j]) * self.arrived(j, h, w)
                            for j in self.to_host.get(h, ()))  # fmt: skip
                self.load[h].append(expr)
                m.Add(expr <= int(p.host_cap[h]))
        for j, h in self.witness.items():
            need = int(p.job_halted_mem[j])
            big = need + self._potential(h)
            for w in range(W):
                # enforced only in the wave the halted VM's disks move
                m.Add(self.load[h][w] + need <= int(p.host_cap[h]) + big * (1 - self.z(j, w)))

        # SR space at every wave start
        for s in self.timed_srs:
            src = self.from_sr.get(s, [])
            for w in range(W):
                expr = int(p.sr_used[s])
                for j in self.to_sr.get(s, ()):
                    res, up = int(p.job_reserve[j]), int(p.job_used_up[j])
                    expr += res * self.q(j, s, w) + (up - res) * self.q(j, s, w - 1)
                for j, res, down in src:
                    expr += res * self.z(j, w) - down * self.yb(j, w - 1)
                m.Add(expr <= int(p.sr_size[s]))

        # balance: worst final utilisation (per mille) of a receiving host
        caps = {h: int(p.host_cap[h]) for h in self.to_host if p.host_cap[h] > 0}
        umax = 1000
        for h, cap in caps.items():
            umax = max(umax, math.ceil(1000 * (int(p.host_init[h]) + self._potential(h)) / cap))
        self.U = m.NewIntVar(0, umax, "U")
        for h, cap in caps.items():
            final = int(p.host_init[h])
            final += sum(int(p.job_mem_up[j]) * self.xh(j, h) for j in self.to_host[h])
            final -= sum(int(p.job_mem_down[j]) * self.placed[j]
                         for j in self.from_host.get(h, ()))  # fmt: skip
            m.Add(1000 * final <= cap * self.U)
        self.M2 = umax + 1
        self.M1 = self.M2 * (sum(secs) + 1)
        m.Minimize(self.M1 * (J - sum(self.placed)) + self.M2 * sum(self.L) + self.U)

    # expressions ------------------------------------------------
    def z(self, j: int, w: int) -> Any:
        """1 when job j runs in wave w."""
        return self.y[j][w] - self.y[j][w - 1] if w > 0 else self.y[j][0]

    def yb(self, j: int, w: int) -> Any:
        """1 when job j has started by wave w (0 before wave 0)."""
        return self.y[j][w] if w >= 0 else 0

    def xh(self, j: int, h: int) -> Any:
        """1 when job j goes to host h."""
        return self._pick(j, h, self.p.cand_host)

    def xs(self, j: int, s: int) -> Any:
        """1 when job j's disks go to SR s."""
        return self._pick(j, s, self.p.cand_sr)

    def _pick(self, j: int, t: int, targets: np.ndarray) -> Any:
        key = (j, t, id(targets))
        got = self._picks.get(key)
        if got is None:
            cs = [c for c in self.p.cands(j) if targets[c] == t]
            full = len(cs) == len(self.p.cands(j))
            got = self.placed[j] if full else sum(self.x[c] for c in cs)
            self._picks[key] = got
        return got

    def arrived(self, j: int, h: int, w: int) -> Any:
        """>= 1 when job j goes to host h and has started by wave w (a lower bound is
        enough: it only ever adds load)."""
        xh = self.xh(j, h)
        if xh is self.placed[j]:
            return self.y[j][w]
        a = self.m.NewBoolVar(f"a{j}_{h}_{w}")
        self.m.Add(a >= xh + self.y[j][w] - 1)
        self._aux.append((a, ("a", j, h, w)))
        return a

    def q(self, j: int, s: int, w: int) -> Any:
        """Exactly: job j goes to SR s and has started by wave w (0 before wave 0)."""
        if w < 0:
            return 0
        key = (j, s, w)
        got = self._q.get(key)
        if got is not None:
            return got
        xs = self.xs(j, s)
        if xs is self.placed[j]:
            v: Any = self.y[j][w]
        else:
            v = self.m.NewBoolVar(f"q{j}_{s}_{w}")
            self.m.Add(v <= xs)
            self.m.Add(v <= self.y[j][w])
            self.m.Add(v >= xs + self.y[j][w] - 1)
            self._aux.append((v, ("q", j, s, w)))
        self._q[key] = v
        return v

    # hints, solutions ------------------------------------------
    def add_hint(self, hint: Solution) -> None:
        p, m, W = self.p, self.m, self.W
        chosen = {int(c) for c, w in zip(hint.choice, hint.wave, strict=True)
                  if c >= 0 and 0 <= w < W}  # fmt: skip
        for c in range(len(self.x)):
            m.AddHint(self.x[c], 1 if c in chosen else 0)
        longest: dict[int, int] = defaultdict(int)
        for j in range(p.n_jobs):
            c, wj = int(hint.choice[j]), int(hint.wave[j])
            ok = c >= 0 and 0 <= wj < W
            if ok:
                longest[wj] = max(longest[wj], int(p.job_seconds[j]))
            m.AddHint(self.placed[j], 1 if ok else 0)
            for w in range(W):
                m.AddHint(self.y[j][w], 1 if ok and w >= wj else 0)
        for w in range(W):
            m.AddHint(self.L[w], longest.get(w, 0))
        for v, (kind, j, t, w) in self._aux:
            c, wj = int(hint.choice[j]), int(hint.wave[j])
            if c < 0:
                m.AddHint(v, 0)
                continue
            target = int(p.cand_host[c]) if kind == "a" else int(p.cand_sr[c])
            m.AddHint(v, 1 if target == t and w >= wj else 0)
        m.AddHint(self.U, min(balance(p, hint.choice), self.M2 - 1))

    def extract(self, solver: cp_model.CpSolver) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        choice = np.full(p.n_jobs, -1, dtype=np.int64)
        wave = np.full(p.n_jobs, -1, dtype=np.int64)
        for j in range(p.n_jobs):
            if not solver.Value(self.placed[j]):
                continue
            choice[j] = next(c for c in p.cands(j) if solver.Value(self.x[c]))
            wave[j] = next(w for w in range(self.W) if solver.Value(self.y[j][w]))
        return choice, compact(wave)

    def seconds_bound(self, objective_bound: float) -> int | None:
        """A bound on seconds for plans that place every job, from CP-SAT's objective
        bound (valid within this model: its horizon and candidate targets)."""
        if objective_bound >= self.M1:
            return None
        return max(0, math.ceil((objective_bound - (self.M2 - 1)) / self.M2))
