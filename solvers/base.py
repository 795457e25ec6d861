"""What every solver shares: the `Solution` it returns (a target and a start time per
job), the capacity account at the problem's level, the list scheduler, both replays of a
solution (flow: FORMATS.md rules 13-15; waves: rules 1-4) and the derivation of waves
from a schedule.

The account is `planner.ledger`'s numbers-only ledger over the problem's integer arrays
(units: `Problem.unit` bytes, whole seconds). Keys are plain integers: host `h` is
memory key `h`, SR `s` is key `H + s`, pool `q`'s slots key `H + S + q`, host `h`'s
slots (when `max_per_host` is set) key `H + S + P + h`.

A migration is two deltas (FORMATS.md rule 14): its start commits the VM's memory on the
target host, reserves on the target SR (the larger of 3x the moved disks' size and what
arrives: see planner/problem.py) and 2x on each source SR, takes a slot of its source
pool (and of the hosts it leaves and enters); its end frees the memory on the source
host, releases the reservations (the moved used bytes are now on the target SR and off
the source SR) and gives the slots back. A halted or suspended VM's move also books its
memory on a "witness" host of its pool while it runs (rule 4: some enabled host of the
pool keeps room to start it) -- booking it is conservative, the rule asks only that
some host have room. An end never raises a usage, so a start that fits at an instant
fits for good: the schedule only has to ask "does it fit now" at each start.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np

from planner.ledger import Delta, Ledger, merge
from planner.problem import Problem
from planner.status import Status as Status  # defined below plans; solvers re-export it


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


class Solver(Protocol):
    """A solver: problem in, solution out. Options it needs come as keyword arguments."""

    name: str

    def __call__(self, p: Problem, **kwargs: Any) -> Solution: ...


def makespan(p: Problem, choice: np.ndarray, start: np.ndarray) -> int:
    """Latest end (start + est_seconds) of a placed job; 0 when none is placed."""
    placed = choice >= 0
    if not placed.any():
        return 0
    return int((start[placed] + p.job_seconds[placed]).max())


def wave_seconds(p: Problem, wave: np.ndarray) -> int:
    """Sum over waves of the longest job in each (the lock-step figure, rule 12)."""
    longest: dict[int, int] = defaultdict(int)
    for j, w in enumerate(wave.tolist()):
        if w >= 0:
            longest[w] = max(longest[w], int(p.job_seconds[j]))
    return sum(longest.values())


# ---------------------------------------------------------------- the account


class Account:
    """The capacity account of problem `p` (see the module docstring): a ledger with
    every host's memory, every SR's space and the slot counters, and the deltas of each
    (job, candidate)."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        H, S, P = len(p.host_uuid), len(p.sr_uuid), len(p.pool_uuid)
        self.sr0, self.pool0, self.hslot0 = H, H + S, H + S + P
        # only the keys the jobs can touch: a component's sub-problem keeps every host
        # and SR of the fleet, and a ledger of all of them made each part O(fleet)
        hosts = {int(h) for h in p.cand_host.tolist() if h >= 0}
        hosts |= {int(h) for h in p.job_from_host.tolist() if h >= 0}
        pools = set(np.unique(p.job_pool).tolist())
        self.pool_hosts: dict[int, list[int]] = defaultdict(list)
        for h in np.flatnonzero(p.host_enabled & np.isin(p.host_pool, list(pools))).tolist():
            self.pool_hosts[int(p.host_pool[h])].append(h)
            hosts.add(h)
        srs = {int(s) for s in p.src_sr.tolist()}
        for c in range(len(p.cand_sr)):
            s = int(p.cand_sr[c])
            if s >= 0:
                srs.add(s)
        for sp in p.cand_split.values():
            srs.update(s for s, _, _ in sp.per_sr)
        self.ledger = Ledger()
        led = self.ledger
        for h in hosts:
            led.set_capacity(h, int(p.host_cap[h]))
            led.used[h] = int(p.host_init[h])
        for s in srs:
            led.set_capacity(self.sr0 + s, int(p.sr_size[s]))
            led.used[self.sr0 + s] = int(p.sr_used[s])
        for q in pools:
            led.set_capacity(self.pool0 + int(q), p.max_per_pool)
        if p.max_per_host is not None:
            for h in hosts:
                led.set_capacity(self.hslot0 + h, p.max_per_host)

    def deltas(self, j: int, c: int, witness: int = -1) -> tuple[Delta, Delta]:
        """(start, end) of job j going to candidate c; `witness` books a halted VM's
        memory on that host while it runs."""
        p = self.p
        to, f = int(p.cand_host[c]), int(p.job_from_host[j])
        pool = int(p.job_pool[j])
        start: list[tuple[int, int]] = [(self.pool0 + pool, 1)]
        end: list[tuple[int, int]] = [(self.pool0 + pool, -1)]
        if to >= 0 and to != f:
            start.append((to, int(p.job_mem_up[j])))
            if f >= 0:
                end.append((f, -int(p.job_mem_down[j])))
        for s, res, used in p.targets(j, c):
            start.append((self.sr0 + s, res))
            end.append((self.sr0 + s, used - res))
        for k in p.srcs(j):
            s, res, down = int(p.src_sr[k]), int(p.src_reserve[k]), int(p.src_used_down[k])
            start.append((self.sr0 + s, res))
            end.append((self.sr0 + s, -res - down))
        if witness >= 0:
            need = int(p.job_halted_mem[j])
            start.append((witness, need))
            end.append((witness, -need))
        if p.max_per_host is not None:
            for h in {x for x in (to, f) if x >= 0}:
                start.append((self.hslot0 + h, 1))
                end.append((self.hslot0 + h, -1))
        return merge(start), merge(end)

    def witness(self, j: int) -> int:
        """For a halted job: the enabled host of its pool with the most free memory now,
        if it has room for the VM; -1 when none has (or the job is not halted); -2 for a
        job that needs no witness."""
        need = int(self.p.job_halted_mem[j])
        if not need:
            return -2
        led = self.ledger
        best, where = None, -1
        for h in self.pool_hosts.get(int(self.p.job_pool[j]), ()):
            free = led.cap[h] - led.used.get(h, 0)
            if best is None or free > best:
                best, where = free, h
        return where if best is not None and best >= need else -1

    def slot_full(self, j: int) -> bool:
        """The job's pool has no free slot now."""
        k = self.pool0 + int(self.p.job_pool[j])
        return self.ledger.used.get(k, 0) >= self.p.max_per_pool


# ---------------------------------------------------------------- list scheduling


def list_schedule(p: Problem, choice: np.ndarray, order: list[int] | None = None,
                  fifo: bool = False) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
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
        slot_keys = acc.pool0
        for j in waiting:
            d = cache.setdefault(j, acc.deltas(j, int(choice[j])))
            # this account's keys are plain ints (module docstring); Delta types them Hashable
            fifo_keys[j] = [cast(int, k) for k, n in d[0] if n > 0 and cast(int, k) < slot_keys]
            for k in fifo_keys[j]:
                queues[k].append(j)
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


# ---------------------------------------------------------------- replays


def flow_replay(p: Problem, choice: np.ndarray, start: np.ndarray) -> list[str]:
    """Faults of a schedule in the problem's units (rule 14 at this level): an event
    sweep, ends before starts at one instant, each start checked against the account;
    a halted job needs an enabled host of its pool with room for its memory at its start
    and whenever something starts while it runs. One line per fault (empty: feasible)."""
    out: list[str] = []
    acc = Account(p)
    led = acc.ledger
    events: list[tuple[int, int, int]] = []  # (time, 0 end / 1 start, job)
    for j in range(p.n_jobs):
        c, s = int(choice[j]), int(start[j])
        if (c < 0) != (s < 0):
            out.append(f"job {j}: candidate {c} with start {s}")
        elif c >= 0:
            if not p.cand_start[j] <= c < p.cand_start[j + 1]:
                out.append(f"job {j}: candidate {c} is not one of its own")
                continue
            events.append((s, 1, j))
            events.append((s + int(p.job_seconds[j]), 0, j))
    events.sort()
    halted: set[int] = set()
    for t, kind, j in events:
        d = acc.deltas(j, int(choice[j]))
        if kind == 0:
            led.apply(d[1])
            halted.discard(j)
            continue
        if not led.fits(d[0]):
            out.append(f"t={t}: job {j} does not fit")
        led.apply(d[0])
        if p.job_halted_mem[j]:
            halted.add(j)
        for h in halted:
            need = int(p.job_halted_mem[h])
            free = max((led.cap[x] - led.used.get(x, 0)
                        for x in acc.pool_hosts.get(int(p.job_pool[h]), ())), default=-1)
            if free < need:
                out.append(f"t={t}: halted job {h} has no host with {need} free")
    return out


def wave_replay(p: Problem, choice: np.ndarray, wave: np.ndarray) -> list[str]:
    """Faults of waves (rules 1-4 at this level): at each wave start, everything of the
    earlier waves has ended and everything of this wave starts. One line per fault."""
    out: list[str] = []
    acc = Account(p)
    led = acc.ledger
    by_wave: dict[int, list[int]] = defaultdict(list)
    for j in range(p.n_jobs):
        c, w = int(choice[j]), int(wave[j])
        if (c < 0) != (w < 0):
            out.append(f"job {j}: candidate {c} with wave {w}")
        elif c >= 0:
            by_wave[w].append(j)
    for w in sorted(by_wave):
        ends = []
        for j in by_wave[w]:
            d = acc.deltas(j, int(choice[j]))
            if not led.fits(d[0]):
                out.append(f"wave {w}: job {j} does not fit")
            led.apply(d[0])
            ends.append(d[1])
        for j in by_wave[w]:
            need = int(p.job_halted_mem[j])
            if need:
                free = max((led.cap[x] - led.used.get(x, 0)
                            for x in acc.pool_hosts.get(int(p.job_pool[j]), ())), default=-1)
                if free < need:
                    out.append(f"wave {w}: halted job {j} has no host with {need} free")
        for e in ends:
            led.apply(e)
    return out


def derive_waves(p: Problem, choice: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Waves for a lock-step run, derived from a schedule: jobs in start order (then
    longest first), each added to the current wave while the wave still passes rules
    1-4 at its start (everything earlier has ended) and no job of the wave is one this
    job depends on (it left this job's target host or SR and ended by this job's start:
    the plan's `depends_on`); otherwise a new wave begins. A job alone always fits (its
    schedule start saw at least as much in use), so every job gets a wave."""
    J = p.n_jobs
    wave = np.full(J, -1, dtype=np.int64)
    jobs = sorted((j for j in range(J) if choice[j] >= 0),
                  key=lambda j: (int(start[j]), -int(p.job_seconds[j]), j))  # fmt: skip
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


def pack_waves(p: Problem, choice: np.ndarray, start: np.ndarray,
               longest: bool = False) -> np.ndarray | None:  # fmt: skip
    """Waves packed from a schedule's targets: each wave takes, in start order (with
    `longest`: longest first), every remaining job that fits at the wave's start (rules
    1-4) and whose dependencies (jobs that left its target host or SR and ended by its
    start in the schedule) are all in earlier waves -- a later job may join an earlier
    wave than `derive_waves` gives it, so long moves of a pool share waves. None when
    some job never fits this way (a job that jumped ahead took its room):
    `derive_waves` always succeeds."""
    J = p.n_jobs
    wave = np.full(J, -1, dtype=np.int64)
    key = ((lambda j: (-int(p.job_seconds[j]), int(start[j]), j)) if longest else
           (lambda j: (int(start[j]), -int(p.job_seconds[j]), j)))  # fmt: skip
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


def longest_first(p: Problem, choice: np.ndarray, start: np.ndarray,
                  wave: np.ndarray) -> np.ndarray:  # fmt: skip
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


def _deps_before(p: Problem, choice: np.ndarray, start: np.ndarray, wave: np.ndarray,
                 ) -> bool:  # fmt: skip
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
            free = max((led.cap[x] - led.used.get(x, 0)
                        for x in acc.pool_hosts.get(int(p.job_pool[j]), ())), default=-1)
            if free < need:
                return False
    return True


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
