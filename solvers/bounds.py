"""Proven lower bounds on the schedule's length, and on the lock-step figures.

Every plan that moves all the problem's jobs (the VMs that must move and have an
eligible target) lasts at least `seconds` as a schedule (FORMATS.md rule 15), and, run
in lock-step, has at least `waves` waves lasting at least `wave_seconds` (sum over waves
of the longest migration). The arguments are in docs/bounds.md.

Schedule (`seconds`): a group of jobs of which at most `c` can run at once is `c`
machines: it takes at least its longest job, its work / c, and, with more than c jobs,
the c-th plus the (c+1)-th longest (two of the c+1 longest share a slot). Groups: the
jobs of each source pool (c = max_per_pool); with `max_per_host`, the jobs that leave
one host (c = max_per_host); the jobs forced onto one SR, or off one, when its room
admits fewer than c reservations at once; and SR cliques (jobs that pairwise cannot run
together: their durations add up). The longest chain is one job here (the problem has
no precedence but a job's own length).

Lock-step (`waves`, `wave_seconds`), as before:

- A group of jobs of which at most `c` can share a wave needs ceil(n / c) waves, and its
  seconds are at least the sum of every c-th duration sorted longest first (the i-th
  longest wave must hold a job at least as long as the (c*(i-1)+1)-th longest job).
  A plan's waves restricted to the group are such a schedule, and each wave of the plan
  lasts at least as long as the group's jobs in it, so the bound holds for the plan.
- Groups: the jobs of each source pool (c = max_per_pool); the jobs forced onto one
  target SR, or moving disks off one SR, when that SR's free space admits fewer than c
  reservations at once (c = the most reservations, smallest first, that fit in the most
  space the SR can ever have free).
- Groups run side by side: the i-th longest wave of the plan lasts at least the
  (c*(i-1)+1)-th longest job of every group, so the campaign lasts at least the sum over
  i of the maximum over groups (`joint_bound`); with one group this is the group bound.
- Jobs of one SR that pairwise cannot share a wave (a clique) take a wave each, and the
  rest of their pool can fill at most max_per_pool - 1 slots beside each.
- The campaign bound is the largest of these.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from planner.problem import Problem

BOUND_ASSUMES = (
    "bounds hold for plans that move every VM with an eligible target, "
    "each to one of its candidate targets, with the plan's max_per_pool "
    "(and max_per_host) and the duration model's est_seconds"
)


@dataclass(frozen=True)
class Bounds:
    """Lower bounds and, for each, the group that gives it (for the table footer):
    `seconds` on the schedule's length, `waves` and `wave_seconds` on lock-step runs."""

    waves: int
    wave_seconds: int
    seconds: int = 0
    waves_by: str = ""
    wave_seconds_by: str = ""
    seconds_by: str = ""


def machines_bound(durations: list[int], c: int) -> int:
    """Least length of a schedule of `durations` on `c` identical slots: the longest,
    the work / c (rounded up), and the c-th + (c+1)-th longest when there are more."""
    if not durations:
        return 0
    c = max(1, c)
    d = sorted(durations, reverse=True)
    out = max(d[0], -(-sum(d) // c))
    if len(d) > c:
        out = max(out, d[c - 1] + d[c])
    return out


def group_bound(durations: list[int], c: int) -> tuple[int, int]:
    """(waves, seconds) for jobs of `durations` when at most `c` share a wave."""
    if not durations:
        return 0, 0
    c = max(1, c)
    d = sorted(durations, reverse=True)
    return -(-len(d) // c), sum(d[::c])


def joint_bound(groups: list[tuple[list[int], int]]) -> int:
    """Seconds for several groups (durations, concurrency) running side by side.

    Sort the plan's waves longest first. A group's c*(i-1)+1 longest jobs cannot all fit
    in i-1 waves, so the i-th longest wave lasts at least that job: the group's
    (c*(i-1)+1)-th longest duration. It holds for every group at once, so the i-th wave
    lasts at least the maximum over groups, and the plan at least the sum over i."""
    columns: list[int] = []
    for durations, c in groups:
        d = sorted(durations, reverse=True)[:: max(1, c)]
        for i, x in enumerate(d):
            if i == len(columns):
                columns.append(x)
            elif x > columns[i]:
                columns[i] = x
    return sum(columns)


def _concurrency(reserves: list[int], free: int) -> int:
    """How many of `reserves` fit together in `free` at most (smallest first)."""
    total, n = 0, 0
    for r in sorted(reserves):
        total += r
        if total > free:
            break
        n += 1
    return n


class _Best:
    """The largest bound offered so far and the group that gives it (first one on ties)."""

    def __init__(self) -> None:
        self.value, self.by = 0, ""

    def offer(self, value: int, by: str) -> None:
        if value > self.value:
            self.value, self.by = value, by


def lower_bounds(p: Problem) -> Bounds:
    """The strongest of the pool, host and SR-space bounds for problem `p`."""
    groups: list[tuple[str, list[int], int]] = []
    secs = p.job_seconds.tolist()
    by_pool: dict[int, list[int]] = defaultdict(list)
    for j in range(p.n_jobs):
        by_pool[int(p.job_pool[j])].append(j)
    for pool, jobs in by_pool.items():
        groups.append((f"pool {p.pool_uuid[pool]}", jobs, p.max_per_pool))
    host_groups = _host_groups(p)
    sr = _SrTables(p)
    groups += sr.groups(p)

    waves, seconds, length = _Best(), _Best(), _Best()
    for label, jobs, c in groups + host_groups:
        w, s = group_bound([secs[j] for j in jobs], c)
        waves.offer(w, label)
        seconds.offer(s, label)
        length.offer(machines_bound([secs[j] for j in jobs], c), label)
    for label, clique in sr.cliques(p, secs):
        if len(clique) < 2:
            continue
        why = f"{label} ({len(clique)} moves one at a time)"
        length.offer(sum(secs[j] for j in clique), why)
        w, s = _clique_bound(p, clique, by_pool, secs)
        waves.offer(w, why)
        seconds.offer(s, why)
        groups.append((label, clique, 1))
    joint = joint_bound([([secs[j] for j in jobs], c) for _, jobs, c in groups])
    seconds.offer(joint, f"{len(groups)} groups side by side")
    return Bounds(waves.value, seconds.value, length.value, waves.by, seconds.by, length.by)


def _host_groups(p: Problem) -> list[tuple[str, list[int], int]]:
    """With `max_per_host`: every job touches its source host (and, when all its
    candidates agree, its target host): those that share a host run at most
    max_per_host at once."""
    if p.max_per_host is None:
        return []
    touch: dict[int, list[int]] = defaultdict(list)
    for j in range(p.n_jobs):
        hs = {int(p.job_from_host[j])} - {-1}
        tos = {int(p.cand_host[c]) for c in p.cands(j)}
        if len(tos) == 1:
            hs |= tos - {-1}
        for h in hs:
            touch[h].append(j)
    return [
        (f"host {p.host_uuid[h]} ({p.max_per_host} at a time)", js, p.max_per_host)
        for h, js in touch.items()
    ]


class _SrTables:
    """SR space: what each SR can ever have free, and who must reserve on it."""

    def __init__(self, p: Problem) -> None:
        self.departs: dict[int, int] = defaultdict(int)
        self.src_of: dict[int, list[tuple[int, int]]] = defaultdict(list)  # sr -> (job, reserve)
        # sr -> (job, used bytes leaving), built once: one scan per SR was O(jobs x SRs)
        self.used_of: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for j in range(p.n_jobs):
            for k in p.srcs(j):
                s = int(p.src_sr[k])
                self.departs[s] += int(p.src_used_down[k])
                self.src_of[s].append((j, int(p.src_reserve[k])))
                self.used_of[s].append((j, int(p.src_used_down[k])))
        self.forced: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for j in range(p.n_jobs):
            srs = {int(p.cand_sr[c]) for c in p.cands(j)}
            if len(srs) == 1 and (s := srs.pop()) >= 0:
                self.forced[s].append((j, int(p.job_reserve[j])))

    def free(self, p: Problem, s: int) -> int:
        """The most SR `s` can ever have free (every disk that may leave it has)."""
        return int(p.sr_size[s] - p.sr_used[s]) + self.departs[s]

    def groups(self, p: Problem) -> list[tuple[str, list[int], int]]:
        """The jobs forced onto one SR, or off one, when its room admits fewer than
        max_per_pool reservations per pool at once."""
        out = []
        for label, table in (("target SR", self.forced), ("source SR", self.src_of)):
            for s, items in table.items():
                free = self.free(p, s)
                pools = {int(p.job_pool[j]) for j, _ in items}
                c = max(1, _concurrency([r for _, r in items], free))
                if c < p.max_per_pool * len(pools):
                    out.append(
                        (f"{label} {p.sr_uuid[s]} ({c} at a time)", [j for j, _ in items], c)
                    )
        return out

    def cliques(self, p: Problem, secs: list[int]) -> list[tuple[str, list[int]]]:
        """SRs where some jobs pairwise cannot share a wave (a clique): each takes its
        own wave; the pool's other jobs fill at most max_per_pool - 1 slots beside each."""
        cliques: list[tuple[str, list[int]]] = []
        for s_ix, items in self.src_of.items():
            # at a wave start the jobs in it have not left yet: their own used bytes are
            # still there, so a job "weighs" its reservation plus its used bytes on the SR
            used_on = {j: u for j, u in self.used_of[s_ix]}  # as _src_used(p, s_ix) gives
            weights = {j: r + used_on.get(j, 0) for j, r in items}
            cliques.append(
                (f"source SR {p.sr_uuid[s_ix]}", _clique(weights, self.free(p, s_ix), secs))
            )
        for s_ix, items in self.forced.items():
            cliques.append(
                (f"target SR {p.sr_uuid[s_ix]}", _clique(dict(items), self.free(p, s_ix), secs))
            )
        return cliques


def _src_used(p: Problem, s: int) -> list[tuple[int, int]]:
    return [
        (j, int(p.src_used_down[k]))
        for j in range(p.n_jobs)
        for k in p.srcs(j)
        if int(p.src_sr[k]) == s
    ]


def _clique(weights: dict[int, int], free: int, secs: list[int]) -> list[int]:
    """Jobs that pairwise do not fit together in `free`: every job heavier than half of
    it, plus the longest lighter job that still clashes with the lightest of those."""
    heavy = [j for j, w in weights.items() if 2 * w > free]
    if not heavy:
        return []
    lightest = min(weights[j] for j in heavy)
    light = [j for j, w in weights.items() if 2 * w <= free and w + lightest > free]
    if light:
        heavy.append(max(light, key=lambda j: secs[j]))
    return heavy


def _clique_bound(
    p: Problem, clique: list[int], by_pool: dict[int, list[int]], secs: list[int]
) -> tuple[int, int]:
    """(waves, seconds) when `clique`'s jobs need a wave each. With one source pool the
    pool's other jobs can fill at most max_per_pool - 1 slots beside each clique job;
    removing the longest of them gives the least the rest can cost."""
    base = sum(secs[j] for j in clique)
    pools = {int(p.job_pool[j]) for j in clique}
    if len(pools) != 1:
        return len(clique), base
    inside = set(clique)
    rest = sorted((secs[j] for j in by_pool[pools.pop()] if j not in inside), reverse=True)
    rest = rest[(p.max_per_pool - 1) * len(clique) :]
    w, s = group_bound(rest, p.max_per_pool)
    return len(clique) + w, base + s


def gap(value: float, bound: float) -> float:
    """Relative gap of `value` over `bound`, in percent (0 when both are 0)."""
    if bound <= 0:
        return 0.0 if value <= 0 else float("inf")
    return 100.0 * (value - bound) / bound


__all__ = ["BOUND_ASSUMES", "Bounds", "gap", "group_bound", "lower_bounds", "machines_bound"]
