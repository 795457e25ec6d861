"""The greedy baseline: what an operator gets today from host.evacuate and a script.

Algorithm:
1. Placement, largest VM first (memory, then disk): onto the eligible host with the most
   free memory (XAPI's host.evacuate does this), its disks onto the eligible SR with the
   most free space. Free amounts are the campaign's end state (every VM placed so far has
   arrived, every VM leaving has left); a VM with no candidate that has room is left
   unplaced.
2. List scheduling (`solvers.base.list_schedule`), longest migration first: each
   migration starts at the earliest instant the capacity account accepts it -- a slot
   of its source pool (`max_per_pool`, and of its hosts when `max_per_host` is set),
   memory on the target host (the VM holds its source until its migration ends), SR
   space (3x/2x reservations while it runs, then the used bytes), and for a halted VM a
   host of its pool with room. A job that never fits is left unplaced.

Anti-affinity (FORMATS.md rule 8) among VMs that both move: a VM never goes to a host a
group-mate runs on now or goes to ("soft": only when no other candidate has room).

Assumptions and limits: no look-ahead, no temporary moves; placement ignores timing, so a
placement that is feasible at the end can still leave a job unschedulable.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from planner.problem import Problem
from solvers.base import Solution, Status, list_schedule


def place(p: Problem) -> np.ndarray:
    """Step 1: a candidate per job (-1 when none has room)."""
    J = p.n_jobs
    choice = np.full(J, -1, dtype=np.int64)
    host_free, sr_free = _end_free(p)
    order: np.ndarray | list[int] = (
        np.lexsort((-p.job_seconds, -p.job_reserve, -p.job_mem_up)) if J else []
    )
    cand_host, cand_sr = p.cand_host.tolist(), p.cand_sr.tolist()
    # anti-affinity among moving members: hosts a job must avoid (its mates' sources and
    # the targets they take); strict forbids them, soft only prefers others
    avoid = p.group_conflicts()
    group_of = _mates(p)
    strict = p.anti_affinity == "strict"
    for j in order:
        j = int(j)
        f = int(p.job_from_host[j])
        mem, res = int(p.job_mem_up[j]), int(p.job_reserve[j])
        need_sr = max(res, int(p.job_used_up[j]))
        best: tuple[int, int, int, int] | None = None  # (clash, host free, sr free, cand)
        bad = avoid.get(j, set())
        for c in p.cands(j):
            h, s = cand_host[c], cand_sr[c]
            clash = int(h >= 0 and h in bad)
            if clash and strict:
                continue
            hf = 1 << 62 if h < 0 or h == f else int(host_free[h])
            if h >= 0 and h != f and hf < mem:
                continue
            sf = _sr_free(p, j, c, s, sr_free, need_sr)
            if sf is None:
                continue
            if best is None or (-clash, hf, sf) > (-best[0], best[1], best[2]):
                best = (clash, hf, sf, c)
        if best is None:
            continue
        c = best[3]
        choice[j] = c
        h = cand_host[c]
        if h >= 0:
            for k in group_of.get(j, ()):
                avoid.setdefault(k, set()).add(h)
        if h >= 0 and h != f:
            host_free[h] -= mem
        for x, _, u in p.targets(j, c):
            sr_free[x] -= u
    return choice


def _end_free(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Free memory per host and free space per SR once every job has left its source
    (the campaign's end state before any arrival)."""
    host_free = (p.host_cap - p.host_init).astype(np.int64)
    sr_free = (p.sr_size - p.sr_used).astype(np.int64)
    for j in range(p.n_jobs):
        f = int(p.job_from_host[j])
        if f >= 0:
            host_free[f] += p.job_mem_down[j]
        for k in p.srcs(j):
            sr_free[int(p.src_sr[k])] += p.src_used_down[k]
    return host_free, sr_free


def _mates(p: Problem) -> dict[int, list[int]]:
    """Per job of an anti-affinity group, the other moving members of its groups."""
    group_of: dict[int, list[int]] = {}
    for g in p.job_groups:
        for j in g:
            group_of.setdefault(j, []).extend(k for k in g if k != j)
    return group_of


def _sr_free(p: Problem, j: int, c: int, s: int, sr_free: np.ndarray, need_sr: int) -> int | None:
    """The free space candidate `c` of job `j` leaves its placement to compare by (the
    least over its SRs; "infinite" when no disk moves); None when it does not fit."""
    if s >= 0:
        sf = int(sr_free[s])
        return sf if sf >= need_sr else None
    if s == -1:
        return 1 << 62
    # one SR per disk: every SR it uses must hold its share
    parts = p.targets(j, c)
    if any(int(sr_free[x]) < max(r, u) for x, r, u in parts):
        return None
    return min(int(sr_free[x]) for x, _, _ in parts)


def solve_greedy(p: Problem, **_: Any) -> Solution:
    """Greedy placement then list scheduling; never proves anything (status FEASIBLE,
    or PARTIAL when a job is left unplaced)."""
    t0 = time.perf_counter()
    choice = place(p)
    start, witness = list_schedule(p, choice)
    choice = np.where(start >= 0, choice, -1)
    status = Status.PARTIAL if (choice < 0).any() else Status.FEASIBLE
    sol = Solution("greedy", status, choice, start, time.perf_counter() - t0, witness=witness)
    return Solution(
        sol.solver,
        sol.status,
        choice,
        start,
        sol.wall_seconds,
        objective=float(sol.seconds(p)),
        witness=witness,
    )
