"""What every solver shares: the `Solver` protocol, the `Solution` it returns, and a
replay of a solution against the problem's own integer arrays.

`replay` is not the plan checker (`planner.check` is): it checks a solution in the
problem's scaled units, so solvers and the merger can test a candidate schedule (for
example a reordering of waves) cheaply, before a plan exists.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from planner.problem import Problem


class Status(StrEnum):
    """Outcome of a solve. OPTIMAL: the objective is proven best (by CP-SAT, or because
    the plan meets the lower bound); FEASIBLE: a plan, not proven best; NOTHING_TO_DO: the
    goal already holds; PARTIAL: some VMs could not be placed; NO_PLAN: the solver found
    no plan in time (the caller offers greedy's instead)."""

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    NOTHING_TO_DO = "NOTHING_TO_DO"
    PARTIAL = "PARTIAL"
    NO_PLAN = "NO_PLAN"


@dataclass(frozen=True)
class Solution:
    """Per job: `choice` is the chosen candidate (an index into the problem's candidate
    arrays) and `wave` its wave, both -1 when the job is left unplaced. Waves are
    0-based and contiguous. `objective`/`bound` are the solver's own figures (None when
    it has none); `seconds`/`waves` are the campaign estimate of this solution."""

    solver: str
    status: Status
    choice: np.ndarray
    wave: np.ndarray
    wall_seconds: float
    objective: float | None = None
    bound: float | None = None
    notes: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def placed(self) -> int:
        return int((self.choice >= 0).sum())

    @property
    def n_unplaced(self) -> int:
        return int((self.choice < 0).sum())

    @property
    def n_waves(self) -> int:
        return int(self.wave.max()) + 1 if len(self.wave) and self.wave.max() >= 0 else 0

    def seconds(self, p: Problem) -> int:
        """Sum over waves of the longest migration (FORMATS.md rule 12)."""
        return wave_seconds(p, self.wave)

    def key(self, p: Problem) -> tuple[int, int, int]:
        """Lexicographic quality: fewer unplaced, then fewer seconds, then fewer waves."""
        return (self.n_unplaced, self.seconds(p), self.n_waves)


class Solver(Protocol):
    """A solver: problem in, solution out. Options it needs come as keyword arguments."""

    name: str

    def __call__(self, p: Problem, **kwargs: Any) -> Solution: ...


def wave_seconds(p: Problem, wave: np.ndarray) -> int:
    """Sum over waves of the longest job in each."""
    longest: dict[int, int] = defaultdict(int)
    for j, w in enumerate(wave.tolist()):
        if w >= 0:
            longest[w] = max(longest[w], int(p.job_seconds[j]))
    return sum(longest.values())


def compact(wave: np.ndarray) -> np.ndarray:
    """Renumber waves 0..n-1 keeping their order (empty waves vanish)."""
    used = sorted({int(w) for w in wave.tolist() if w >= 0})
    ren = {w: i for i, w in enumerate(used)}
    return np.array([ren.get(int(w), -1) for w in wave.tolist()], dtype=np.int64)


def replay(p: Problem, choice: np.ndarray, wave: np.ndarray) -> list[str]:
    """Faults of a solution against the replay rules, in the problem's units (MiB).

    Checks concurrency per source pool, memory on target hosts, 3x/2x SR space, the
    halted-VM memory rule, and that every job has either both a candidate and a wave or
    neither. Returns one line per fault (empty: feasible)."""
    out: list[str] = []
    n_waves = int(wave.max()) + 1 if len(wave) else 0
    load = p.host_init.astype(np.int64).copy()
    used = p.sr_used.astype(np.int64).copy()
    by_wave: dict[int, list[int]] = defaultdict(list)
    pool_hosts: dict[int, list[int]] = defaultdict(list)
    # only the jobs' pools are looked up; a component's sub-problem keeps every host of
    # the fleet, so a Python loop over all of them made each replay O(fleet)
    for h in np.flatnonzero(p.host_enabled & np.isin(p.host_pool, p.job_pool)).tolist():
        pool_hosts[int(p.host_pool[h])].append(h)
    for j in range(p.n_jobs):
        c, w = int(choice[j]), int(wave[j])
        if (c < 0) != (w < 0):
            out.append(f"job {j}: candidate {c} with wave {w}")
        elif c >= 0:
            if not p.cand_start[j] <= c < p.cand_start[j + 1]:
                out.append(f"job {j}: candidate {c} is not one of its own")
            by_wave[w].append(j)
    for w in range(n_waves):
        jobs = by_wave.get(w, [])
        incoming: dict[int, int] = defaultdict(int)
        reserved: dict[int, int] = defaultdict(int)
        per_pool: dict[int, int] = defaultdict(int)
        for j in jobs:
            c = int(choice[j])
            per_pool[int(p.job_pool[j])] += 1
            h, s = int(p.cand_host[c]), int(p.cand_sr[c])
            if h >= 0 and h != int(p.job_from_host[j]):
                incoming[h] += int(p.job_mem_up[j])
            if s >= 0:
                reserved[s] += int(p.job_reserve[j])
            for k in p.srcs(j):
                reserved[int(p.src_sr[k])] += int(p.src_reserve[k])
        for pool, n in per_pool.items():
            if n > p.max_per_pool:
                out.append(f"wave {w}: {n} jobs from pool {pool}")
        for h, inc in incoming.items():
            if load[h] + inc > p.host_cap[h]:
                out.append(f"wave {w}: host {h} {load[h] + inc} > {p.host_cap[h]} MiB")
        for s, r in reserved.items():
            if used[s] + r > p.sr_size[s]:
                out.append(f"wave {w}: SR {s} {used[s] + r} > {p.sr_size[s]} MiB")
        for j in jobs:
            need = int(p.job_halted_mem[j])
            if need:
                pool = int(p.job_pool[j])
                free = [p.host_cap[h] - load[h] - incoming[h] for h in pool_hosts[pool]]
                if max(free, default=0) < need:
                    out.append(f"wave {w}: job {j} halted memory {need} MiB")
        for j in jobs:
            apply_job(p, j, int(choice[j]), load, used)
    return out


def apply_job(p: Problem, j: int, c: int, load: np.ndarray, used: np.ndarray) -> None:
    """The end of job j's wave: memory and disks have moved."""
    h, s, f = int(p.cand_host[c]), int(p.cand_sr[c]), int(p.job_from_host[j])
    if h >= 0 and h != f:
        load[h] += p.job_mem_up[j]
        if f >= 0:
            load[f] -= p.job_mem_down[j]
    if s >= 0:
        used[s] += p.job_used_up[j]
    for k in p.srcs(j):
        used[int(p.src_sr[k])] -= p.src_used_down[k]


def balance(p: Problem, choice: np.ndarray) -> int:
    """Worst final memory utilisation over the hosts the jobs land on, per mille."""
    load = p.host_init.astype(np.int64).copy()
    used = p.sr_used.astype(np.int64).copy()
    targets = set()
    for j in range(p.n_jobs):
        c = int(choice[j])
        if c >= 0:
            apply_job(p, j, c, load, used)
            if p.cand_host[c] >= 0:
                targets.add(int(p.cand_host[c]))
    return max((int(1000 * load[h] // max(1, p.host_cap[h])) for h in targets), default=0)
