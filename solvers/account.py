"""The capacity account at the problem's level, and the replays of a solution against it
(flow: FORMATS.md rules 13-15; waves: rules 1-4).

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

from collections import defaultdict

import numpy as np

from planner.ledger import Delta, Ledger, merge
from planner.problem import Problem


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
            free = max(
                (
                    led.cap[x] - led.used.get(x, 0)
                    for x in acc.pool_hosts.get(int(p.job_pool[h]), ())
                ),
                default=-1,
            )
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
                free = max(
                    (
                        led.cap[x] - led.used.get(x, 0)
                        for x in acc.pool_hosts.get(int(p.job_pool[j]), ())
                    ),
                    default=-1,
                )
                if free < need:
                    out.append(f"wave {w}: halted job {j} has no host with {need} free")
        for e in ends:
            led.apply(e)
    return out
