"""The greedy baseline: what an operator gets today from host.evacuate and a script.

Algorithm:
1. Placement, largest VM first (memory, then disk): onto the eligible host with the most
   free memory (XAPI's host.evacuate does this), its disks onto the eligible SR with the
   most free space. Free amounts are the campaign's end state (every VM placed so far has
   arrived, every VM leaving has left); a VM with no candidate that has room is left
   unplaced.
2. List scheduling, longest migration first: each wave takes, in that order, every job
   whose pool still has a slot (`max_per_pool`) and whose target host memory, target SR
   (3x) and source SR (2x) space and, for a halted VM, some host of its pool with room,
   hold at the wave's start with what the wave already holds (FORMATS.md rules 1-4).
   Grouping the longest three of a pool together is what makes sum-of-wave-maxima small.
   A job that never fits (a wave with nothing to start) is left unplaced.

Assumptions and limits: no look-ahead, no temporary moves; placement ignores timing, so a
placement that is feasible at the end can still leave a job unschedulable.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np

from planner.problem import Problem
from solvers.base import Solution, Status, apply_job


def place(p: Problem) -> np.ndarray:
    """Step 1: a candidate per job (-1 when none has room)."""
    J = p.n_jobs
    choice = np.full(J, -1, dtype=np.int64)
    host_free = (p.host_cap - p.host_init).astype(np.int64)
    sr_free = (p.sr_size - p.sr_used).astype(np.int64)
    for j in range(J):
        f = int(p.job_from_host[j])
        if f >= 0:
            host_free[f] += p.job_mem_down[j]
        for k in p.srcs(j):
            sr_free[int(p.src_sr[k])] += p.src_used_down[k]
    order = np.lexsort((-p.job_seconds, -p.job_reserve, -p.job_mem_up)) if J else []
    cand_host, cand_sr = p.cand_host.tolist(), p.cand_sr.tolist()
    for j in order:
        j = int(j)
        f = int(p.job_from_host[j])
        mem, res = int(p.job_mem_up[j]), int(p.job_reserve[j])
        need_sr = max(res, int(p.job_used_up[j]))
        best: tuple[int, int, int] | None = None  # (host free, sr free, candidate)
        for c in p.cands(j):
            h, s = cand_host[c], cand_sr[c]
            hf = 1 << 62 if h < 0 or h == f else int(host_free[h])
            if h >= 0 and h != f and hf < mem:
                continue
            sf = 1 << 62 if s < 0 else int(sr_free[s])
            if s >= 0 and sf < need_sr:
                continue
            if best is None or (hf, sf) > best[:2]:
                best = (hf, sf, c)
        if best is None:
            continue
        c = best[2]
        choice[j] = c
        h, s = cand_host[c], cand_sr[c]
        if h >= 0 and h != f:
            host_free[h] -= mem
        if s >= 0:
            sr_free[s] -= int(p.job_used_up[j])
    return choice


def schedule(p: Problem, choice: np.ndarray, order: list[int] | None = None,
             slots: list[int] | None = None) -> np.ndarray:  # fmt: skip
    """Step 2: a wave per placed job (-1 when it never fits), longest first.

    `slots` (optional) are the lengths of waves other parts of the campaign already have
    at each index: a job longer than wave w's slot waits when a later slot is long
    enough to hide it, so parts that share waves line up their long migrations."""
    J = p.n_jobs
    slots = slots or []
    later = [0] * (len(slots) + 1)  # longest slot after index w
    for i in range(len(slots) - 1, -1, -1):
        later[i] = max(later[i + 1], slots[i + 1] if i + 1 < len(slots) else 0)
    wave = np.full(J, -1, dtype=np.int64)
    if order is None:
        placed = [j for j in range(J) if choice[j] >= 0]
        order = sorted(placed, key=lambda j: (-int(p.job_seconds[j]), j))
    load = p.host_init.astype(np.int64).copy()
    used = p.sr_used.astype(np.int64).copy()
    cap, size = p.host_cap, p.sr_size
    pool_hosts: dict[int, list[int]] = defaultdict(list)
    # only the jobs' pools are looked up (a part's sub-problem holds the fleet's hosts)
    for h in np.flatnonzero(p.host_enabled & np.isin(p.host_pool, p.job_pool)).tolist():
        pool_hosts[int(p.host_pool[h])].append(h)
    pools_with_work = {int(p.job_pool[j]) for j in order}
    remaining = list(order)
    w = 0
    k = p.max_per_pool
    while remaining:
        incoming: dict[int, int] = defaultdict(int)
        reserved: dict[int, int] = defaultdict(int)
        per_pool: dict[int, int] = defaultdict(int)
        full = 0
        started: list[int] = []
        rest: list[int] = []
        here = slots[w] if w < len(slots) else 0
        after = later[w] if w < len(slots) else 0
        waited = False
        for i, j in enumerate(remaining):
            if full == len(pools_with_work):
                rest.extend(remaining[i:])
                break
            d = int(p.job_seconds[j])
            if here < d <= after:
                rest.append(j)  # a later wave is long anyway: start it there
                waited = True
                continue
            pool = int(p.job_pool[j])
            if per_pool[pool] >= k or not _fits(p, j, int(choice[j]), load, used, incoming,
                                                reserved, cap, size, pool_hosts):  # fmt: skip
                rest.append(j)
                continue
            c = int(choice[j])
            h, s, f = int(p.cand_host[c]), int(p.cand_sr[c]), int(p.job_from_host[j])
            if h >= 0 and h != f:
                incoming[h] += int(p.job_mem_up[j])
            if s >= 0:
                reserved[s] += int(p.job_reserve[j])
            for q in p.srcs(j):
                reserved[int(p.src_sr[q])] += int(p.src_reserve[q])
            per_pool[pool] += 1
            if per_pool[pool] == k:
                full += 1
            started.append(j)
            wave[j] = w
        if not started and not waited:
            break  # nothing fits and nothing will change: the rest stays unplaced
        for j in started:
            apply_job(p, j, int(choice[j]), load, used)
        pools_with_work = {int(p.job_pool[j]) for j in rest}
        remaining = rest
        w += 1
    return wave


def _fits(p: Problem, j: int, c: int, load: np.ndarray, used: np.ndarray,
          incoming: dict[int, int], reserved: dict[int, int], cap: np.ndarray,
          size: np.ndarray, pool_hosts: dict[int, list[int]]) -> bool:  # fmt: skip
    h, s, f = int(p.cand_host[c]), int(p.cand_sr[c]), int(p.job_from_host[j])
    if h >= 0 and h != f and load[h] + incoming[h] + p.job_mem_up[j] > cap[h]:
        return False
    if s >= 0 and used[s] + reserved[s] + p.job_reserve[j] > size[s]:
        return False
    extra: dict[int, int] = defaultdict(int)
    for q in p.srcs(j):
        sr = int(p.src_sr[q])
        extra[sr] += int(p.src_reserve[q])
        if used[sr] + reserved[sr] + extra[sr] > size[sr]:
            return False
    need = int(p.job_halted_mem[j])
    if need:
        pool = int(p.job_pool[j])
        best = max((cap[x] - load[x] - incoming[x] for x in pool_hosts[pool]), default=0)
        if best < need:
            return False
    return True


def solve_greedy(p: Problem, **_: Any) -> Solution:
    """Greedy placement then list scheduling; never proves anything (status FEASIBLE,
    or PARTIAL when a job is left unplaced)."""
    t0 = time.perf_counter()
    choice = place(p)
    wave = schedule(p, choice)
    choice = np.where(wave >= 0, choice, -1)
    status = Status.PARTIAL if (choice < 0).any() else Status.FEASIBLE
    return Solution("greedy", status, choice, wave, time.perf_counter() - t0)


solve_greedy.name = "greedy"  # type: ignore[attr-defined]
