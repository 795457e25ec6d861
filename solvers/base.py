"""What every solver shares: the `Solution` it returns (a target and a start time per
job) with its `Status`, and the list scheduler. The capacity account and the replays of
a solution are in solvers/account.py, the derivation of waves from a schedule in
solvers/waves.py; both are re-exported here.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from planner.ledger import Delta
from planner.problem import Problem
from planner.status import Status as Status  # defined below plans; solvers re-export it
from solvers.account import Account as Account
from solvers.account import flow_replay as flow_replay
from solvers.account import makespan as makespan
from solvers.account import wave_replay as wave_replay
from solvers.account import wave_seconds as wave_seconds
from solvers.waves import best_waves as best_waves
from solvers.waves import derive_waves as derive_waves
from solvers.waves import longest_first as longest_first
from solvers.waves import pack_waves as pack_waves


@dataclass(frozen=True)
class Solution:
    """Per job: `choice` is the chosen candidate (an index into the problem's candidate
    arrays) and `start` its planned start in whole seconds from the campaign's start,
    both -1 when the job is left unplaced. `objective`/`bound` are the solver's own
    figures on the schedule's length in seconds (None when it has none); `witness`
    (optional) is the host a halted job books its memory on, -1 for the others."""

    solver: str
    status: Status
    choice: np.ndarray
    start: np.ndarray
    wall_seconds: float
    objective: float | None = None
    bound: float | None = None
    notes: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    witness: np.ndarray | None = None

    @property
    def placed(self) -> int:
        return int((self.choice >= 0).sum())

    @property
    def n_unplaced(self) -> int:
        return int((self.choice < 0).sum())

    def seconds(self, p: Problem) -> int:
        """The schedule's length: latest start + duration (FORMATS.md rule 15)."""
        return makespan(p, self.choice, self.start)

    def key(self, p: Problem) -> tuple[int, int]:
        """Lexicographic quality: fewer unplaced, then a shorter schedule."""
        return (self.n_unplaced, self.seconds(p))


# ---------------------------------------------------------------- list scheduling


def list_schedule(
    p: Problem, choice: np.ndarray, order: list[int] | None = None, fifo: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Start times for the placed jobs of `choice`: a time sweep over the account that,
    at each instant (0, then every end), starts in `order` (default: longest first)
    every waiting job that fits now (parallel schedule generation). Returns (start,
    witness); a job that never fits keeps start -1.

    Longest first is the LPT rule: with `max_per_pool` identical slots per pool it stays
    within 4/3 of the optimum and, with many jobs per pool, close to work / slots.

    `fifo`: a job also waits until every job before it in `order` that takes memory or
    SR space on a key it takes has started (slots are not FIFO). Given the order of a
    feasible schedule, that is a left shift that keeps every job: the first waiting job
    of each key always fits once everything before it has ended."""
    J = p.n_jobs
    start = np.full(J, -1, dtype=np.int64)
    witness = np.full(J, -1, dtype=np.int64)
    if order is None:
        placed = [j for j in range(J) if choice[j] >= 0]
        order = sorted(placed, key=lambda j: (-int(p.job_seconds[j]), j))
    acc = Account(p)
    led = acc.ledger
    secs = p.job_seconds.tolist()
    cache: dict[int, tuple[Delta, Delta]] = {}
    ends: list[tuple[int, int, int]] = []  # (end time, job, tie) heap
    end_delta: dict[int, Delta] = {}
    waiting = list(order)
    queues: dict[int, deque[int]] = defaultdict(deque)
    fifo_keys: dict[int, list[int]] = {}
    if fifo:
        _fifo(acc, choice, waiting, cache, queues, fifo_keys)
    t = 0
    while waiting:
        rest: list[int] = []
        full_pools: set[int] = set()
        for j in waiting:
            pool = int(p.job_pool[j])
            if pool in full_pools:
                rest.append(j)
                continue
            if acc.slot_full(j):
                full_pools.add(pool)
                rest.append(j)
                continue
            c = int(choice[j])
            if fifo and any(queues[k][0] != j for k in fifo_keys[j]):
                rest.append(j)
                continue
            w = acc.witness(j)
            if w == -1:
                rest.append(j)
                continue
            if w >= 0:
                d = acc.deltas(j, c, w)
            else:
                d = cache.get(j) or cache.setdefault(j, acc.deltas(j, c))
            if not led.fits(d[0]):
                rest.append(j)
                continue
            led.apply(d[0])
            for k in fifo_keys.get(j, ()):
                queues[k].popleft()
            start[j] = t
            witness[j] = max(w, -1)
            end_delta[j] = d[1]
            heapq.heappush(ends, (t + secs[j], j, j))
        waiting = rest
        if not waiting:
            break
        if not ends:
            break  # nothing in flight and nothing fits: the rest never will
        t = ends[0][0]
        while ends and ends[0][0] == t:
            _, j, _ = heapq.heappop(ends)
            led.apply(end_delta.pop(j))
    return start, witness


def _fifo(
    acc: Account,
    choice: np.ndarray,
    order: list[int],
    cache: dict[int, tuple[Delta, Delta]],
    queues: dict[int, deque[int]],
    fifo_keys: dict[int, list[int]],
) -> None:
    """`list_schedule`'s FIFO queues: per memory or SR key, the jobs that take room on it
    in `order`; per job, those keys (its start deltas cached in `cache`)."""
    slot_keys = acc.pool0
    for j in order:
        d = cache.setdefault(j, acc.deltas(j, int(choice[j])))
        # this account's keys are plain ints (solvers/account.py); Delta types them Hashable
        fifo_keys[j] = [cast(int, k) for k, n in d[0] if n > 0 and cast(int, k) < slot_keys]
        for k in fifo_keys[j]:
            queues[k].append(j)


def compact(p: Problem, choice: np.ndarray, start: np.ndarray) -> np.ndarray | None:
    """A schedule of the same jobs and targets, each started as early as the account
    allows in the given schedule's start order (`list_schedule` with `fifo`); None when
    that leaves a job out (a halted VM's witness can break the FIFO argument)."""
    placed = [j for j in range(p.n_jobs) if choice[j] >= 0]
    order = sorted(placed, key=lambda j: (int(start[j]), -int(p.job_seconds[j]), j))
    new, _ = list_schedule(p, choice, order, fifo=True)
    if any(new[j] < 0 for j in placed):
        return None
    return new


def balance(p: Problem, choice: np.ndarray) -> int:
    """Worst final memory utilisation over the hosts the jobs land on, per mille."""
    load = p.host_init.astype(np.int64).copy()
    targets = set()
    for j in range(p.n_jobs):
        c = int(choice[j])
        if c < 0:
            continue
        h, f = int(p.cand_host[c]), int(p.job_from_host[j])
        if h >= 0 and h != f:
            load[h] += p.job_mem_up[j]
            if f >= 0:
                load[f] -= p.job_mem_down[j]
            targets.add(h)
    return max((int(1000 * load[h] // max(1, p.host_cap[h])) for h in targets), default=0)
