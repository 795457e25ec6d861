"""Waves for a lock-step run, derived from a schedule's targets (FORMATS.md rules 1-4
hold at every wave's start, and every dependency is in an earlier wave).
"""

from __future__ import annotations

import heapq
from collections import defaultdict

import numpy as np

from planner.ledger import Delta
from planner.problem import Problem
from solvers.account import Account, wave_replay, wave_seconds


def derive_waves(p: Problem, choice: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Waves for a lock-step run, derived from a schedule: jobs in start order (then
    longest first), each added to the current wave while the wave still passes rules
    1-4 at its start (everything earlier has ended) and no job of the wave is one this
    job depends on (it left this job's target host or SR and ended by this job's start:
    the plan's `depends_on`); otherwise a new wave begins. A job alone always fits (its
    schedule start saw at least as much in use), so every job gets a wave."""
    J = p.n_jobs
    wave = np.full(J, -1, dtype=np.int64)
    jobs = sorted(
        (j for j in range(J) if choice[j] >= 0),
        key=lambda j: (int(start[j]), -int(p.job_seconds[j]), j),
    )
    acc = Account(p)
    led = acc.ledger
    w = -1
    current: list[tuple[int, Delta]] = []
    left_host: dict[int, int] = {}  # host -> earliest end of a job of the wave leaving it
    left_sr: dict[int, int] = {}  # SR -> earliest end of a job of the wave leaving it

    def depends(j: int, c: int, s: int) -> bool:
        to = int(p.cand_host[c])
        if to >= 0 and to != int(p.job_from_host[j]) and left_host.get(to, s + 1) <= s:
            return True
        return any(left_sr.get(x, s + 1) <= s for x, _, _ in p.targets(j, c))

    def join(j: int, c: int, d: tuple[Delta, Delta]) -> None:
        current.append((j, d[1]))
        wave[j] = w
        end = int(start[j]) + int(p.job_seconds[j])
        to, f = int(p.cand_host[c]), int(p.job_from_host[j])
        if f >= 0 and to != f:
            left_host[f] = min(left_host.get(f, end), end)
        for k in p.srcs(j):
            x = int(p.src_sr[k])
            left_sr[x] = min(left_sr.get(x, end), end)

    for j in jobs:
        c = int(choice[j])
        d = acc.deltas(j, c)
        if current and not depends(j, c, int(start[j])) and led.fits(d[0]):
            led.apply(d[0])
            if _halted_ok(p, acc, [*current, (j, d[1])]):
                join(j, c, d)
                continue
            led.apply(tuple((k, -n) for k, n in d[0]))
        for _, e in current:  # the wave ends: everything in it has moved
            led.apply(e)
        current.clear()
        left_host.clear()
        left_sr.clear()
        w += 1
        led.apply(d[0])
        join(j, c, d)
    return wave


def pack_waves(
    p: Problem, choice: np.ndarray, start: np.ndarray, longest: bool = False
) -> np.ndarray | None:
    """Waves packed from a schedule's targets: each wave takes, in start order (with
    `longest`: longest first), every remaining job that fits at the wave's start (rules
    1-4) and whose dependencies (jobs that left its target host or SR and ended by its
    start in the schedule) are all in earlier waves -- a later job may join an earlier
    wave than `derive_waves` gives it, so long moves of a pool share waves. None when
    some job never fits this way (a job that jumped ahead took its room):
    `derive_waves` always succeeds."""
    J = p.n_jobs
    wave = np.full(J, -1, dtype=np.int64)
    key = (
        (lambda j: (-int(p.job_seconds[j]), int(start[j]), j))
        if longest
        else (lambda j: (int(start[j]), -int(p.job_seconds[j]), j))
    )
    order = sorted((j for j in range(J) if choice[j] >= 0), key=key)
    acc = Account(p)
    led = acc.ledger
    ends = (start + p.job_seconds).tolist()
    # per host / source SR: the ends of the jobs leaving it not yet in a closed wave
    leaving_host: dict[int, list[tuple[int, int]]] = defaultdict(list)
    leaving_sr: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for j in order:
        c, f = int(choice[j]), int(p.job_from_host[j])
        if f >= 0 and int(p.cand_host[c]) != f:
            heapq.heappush(leaving_host[f], (ends[j], j))
        for k in p.srcs(j):
            heapq.heappush(leaving_sr[int(p.src_sr[k])], (ends[j], j))
    closed: set[int] = set()

    def first_open(heap: list[tuple[int, int]]) -> int:
        while heap and heap[0][1] in closed:
            heapq.heappop(heap)
        return heap[0][0] if heap else 1 << 62

    def ready(j: int, c: int) -> bool:
        s = int(start[j])
        to = int(p.cand_host[c])
        if to >= 0 and to != int(p.job_from_host[j]) and first_open(leaving_host[to]) <= s:
            return False
        return all(first_open(leaving_sr[x]) > s for x, _, _ in p.targets(j, c))

    pools_left = {int(p.job_pool[j]) for j in order}
    remaining = order
    w = 0
    while remaining:
        taken: list[tuple[int, Delta]] = []
        rest: list[int] = []
        full: set[int] = set()
        for i, j in enumerate(remaining):
            if len(full) == len(pools_left):
                rest.extend(remaining[i:])
                break
            pool = int(p.job_pool[j])
            c = int(choice[j])
            if pool in full or not ready(j, c):
                rest.append(j)
                continue
            d = acc.deltas(j, c)
            if not led.fits(d[0]):
                if acc.slot_full(j):
                    full.add(pool)
                rest.append(j)
                continue
            led.apply(d[0])
            if not _halted_ok(p, acc, [*taken, (j, d[1])]):
                led.apply(tuple((k, -n) for k, n in d[0]))
                rest.append(j)
                continue
            taken.append((j, d[1]))
            wave[j] = w
            if acc.slot_full(j):
                full.add(pool)
        if not taken:
            return None
        for j, e in taken:
            led.apply(e)
            closed.add(j)
        remaining = rest
        pools_left = {int(p.job_pool[j]) for j in rest}
        w += 1
    return wave


def best_waves(p: Problem, choice: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The shortest in lock-step (sum of each wave's longest job) of `derive_waves` and
    `pack_waves` in start order and longest first: all keep the schedule's targets and
    its dependencies and pass rules 1-4 (longest first is the lock-step LPT rule: the
    three longest moves of a pool share a wave, then the next three, ...)."""
    best = derive_waves(p, choice, start)
    for longest in (False, True):
        packed = pack_waves(p, choice, start, longest)
        if packed is not None and wave_seconds(p, packed) < wave_seconds(p, best):
            best = packed
    return best


def longest_first(
    p: Problem, choice: np.ndarray, start: np.ndarray, wave: np.ndarray
) -> np.ndarray:
    """`wave` renumbered so that its waves run longest first, when that order still
    passes rules 1-4 and keeps every dependency in an earlier wave; else `wave`. Parts
    whose waves run side by side (wave i of each) then line up long with long."""
    longest: dict[int, int] = defaultdict(int)
    for j, w in enumerate(wave.tolist()):
        if w >= 0:
            longest[w] = max(longest[w], int(p.job_seconds[j]))
    order = sorted(longest, key=lambda w: (-longest[w], w))
    if order == sorted(longest):
        return wave
    rank = {w: i for i, w in enumerate(order)}
    new = np.array([rank[int(w)] if w >= 0 else -1 for w in wave.tolist()], dtype=np.int64)
    if wave_replay(p, choice, new) or not _deps_before(p, choice, start, new):
        return wave
    return new


def _deps_before(
    p: Problem,
    choice: np.ndarray,
    start: np.ndarray,
    wave: np.ndarray,
) -> bool:
    """Every job that left a placed job's target host or SR and ended by its start is in
    an earlier wave (the plan's `depends_on`, FORMATS.md rule 13 in wave order)."""
    ends = (start + p.job_seconds).tolist()
    left_host: dict[int, list[int]] = defaultdict(list)
    left_sr: dict[int, list[int]] = defaultdict(list)
    placed = [j for j in range(p.n_jobs) if choice[j] >= 0]
    for i in placed:
        c, f = int(choice[i]), int(p.job_from_host[i])
        if f >= 0 and int(p.cand_host[c]) != f:
            left_host[f].append(i)
        for k in p.srcs(i):
            left_sr[int(p.src_sr[k])].append(i)
    for j in placed:
        c, s = int(choice[j]), int(start[j])
        to = int(p.cand_host[c])
        deps = left_host.get(to, []) if to >= 0 and to != int(p.job_from_host[j]) else []
        deps = deps + [i for x, _, _ in p.targets(j, c) for i in left_sr.get(x, [])]
        if any(ends[i] <= s and wave[i] >= wave[j] for i in deps):
            return False
    return True


def _halted_ok(p: Problem, acc: Account, current: list[tuple[int, Delta]]) -> bool:
    """Every halted job of the wave still has a host of its pool with room."""
    led = acc.ledger
    for j, _ in current:
        need = int(p.job_halted_mem[j])
        if need:
            free = max(
                (
                    led.cap[x] - led.used.get(x, 0)
                    for x in acc.pool_hosts.get(int(p.job_pool[j]), ())
                ),
                default=-1,
            )
            if free < need:
                return False
    return True
