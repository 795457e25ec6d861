"""Inventory + goal + options -> an immutable `Problem` of integer numpy arrays.

The solvers never see inventory objects: they see jobs (one per VM that must move), each
with its candidate targets (host, SR) that pass every static rule, and integer demands and
capacities. Scaling is done here and only here:

- memory and disk amounts are exact: bytes divided by `Problem.unit`, the greatest
  common divisor of every amount the problem holds (typically 1 MiB or more on real
  fleets, 1 byte at worst). Nothing is rounded, so a byte-exact fit stays a fit
  (issue 13 item 12: MiB rounding used to refuse them);
- durations are whole seconds (`planner.durations` already returns integers); the
  solvers use them as they are.

Decisions (docs/solving.md):
- One job per VM, one kind per job: the disks that must move are fixed by the goal (a
  disk on a retired SR; a disk on an SR only the evacuated hosts see; every disk when
  the pool changes). A candidate sends all of them to one target SR (`cand_sr`), or,
  when no single SR can ever hold them, one SR per disk (`cand_sr` = SPLIT and
  `cand_split`: issue 13 item 9). Disks that need not move stay.
- retire-sr keeps a running VM on its host (storage migration onto the same host) when
  that host sees a target SR; only otherwise are the pool's other hosts candidates.
- Halted and Suspended VMs have no target host (`to_host` null).
- Rules are evaluated once per VM "signature" (everything the static rules read), so
  40,000 similar VMs cost a few thousand rule calls, not 40,000 x hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.durations import DEFAULT_MODEL, DurationModel
from planner.errors import InputError
from planner.goals import Evacuate, Goal, MovePool, RetireSR
from planner.inventory.model import Inventory
from planner.moves import KINDS as KINDS  # one definition (planner.moves); public here too
from planner.moves import Unplaced
from planner.options import PlanOptions
from planner.problem_arrays import Split as Split
from planner.problem_arrays import arrays
from planner.problem_candidates import jobs_of
from planner.problem_demands import capacities, demand_rows
from planner.problem_pruning import SPLIT as SPLIT
from planner.problem_pruning import Room, prune
from planner.rules.affinity import group_members

MIB = 2**20


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything a solver needs, as arrays. `j` indexes jobs, `c` candidates, `h` hosts,
    `s` SRs, `p` pools. Candidates of job j are `cand_start[j]:cand_start[j+1]`; a
    candidate's `cand_host` (-1: no target host) and `cand_sr` (-1: no disk moves).
    Source-SR demands of job j are `src_start[j]:src_start[j+1]`.
    Memory and disk amounts in units of `unit` bytes (exact, see the module docstring),
    durations in whole seconds. `max_per_host` (None: no limit) bounds the migrations in
    flight that leave or enter one host."""

    max_per_pool: int
    # jobs
    job_vm: tuple[str, ...]
    job_kind: np.ndarray  # int8, index into KINDS
    job_pool: np.ndarray  # int32 source pool
    job_from_host: np.ndarray  # int32, -1 when the VM is not running
    job_seconds: np.ndarray  # int64 est_seconds
    job_mem_up: np.ndarray  # int64 committed on a new target host (0 if not running)
    job_mem_down: np.ndarray  # int64 freed on the source host when it leaves (= mem_up)
    job_halted_mem: np.ndarray  # int64 rule 4 needs free in the source pool (0: none)
    job_reserve: np.ndarray  # int64 reserved on the target SR while it runs (3x)
    job_used_up: np.ndarray  # int64 the moved disks hold on the target SR afterwards
    job_moved: tuple[tuple[str, ...], ...]  # disk uuids that move
    cand_start: np.ndarray  # int64, len J+1
    cand_host: np.ndarray  # int32
    cand_sr: np.ndarray  # int32 (-1: no disk moves; SPLIT: see cand_split)
    cand_pool: np.ndarray  # int32 target pool
    src_start: np.ndarray  # int64, len J+1
    src_sr: np.ndarray  # int32
    src_reserve: np.ndarray  # int64 reserved on the source SR while it runs (2x)
    src_used_down: np.ndarray  # int64 freed on the source SR afterwards
    # hosts, SRs, pools (the whole inventory: indexes are global)
    host_uuid: tuple[str, ...]
    host_pool: np.ndarray  # int32
    host_enabled: np.ndarray  # bool
    host_cap: np.ndarray  # int64 guests may commit (headroom applied)
    host_init: np.ndarray  # int64 committed by running VMs now
    sr_uuid: tuple[str, ...]
    sr_pool: np.ndarray  # int32
    sr_size: np.ndarray  # int64
    sr_used: np.ndarray  # int64
    pool_uuid: tuple[str, ...]
    unplaced: tuple[Unplaced, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    max_per_host: int | None = None
    unit: int = 1  # bytes per amount unit
    cand_split: Mapping[int, Split] = field(default_factory=dict)
    # some job's target reservation was raised above 3x to what arrives (huge
    # snapshots): the solvers' account is then stricter than rule 14, not equal to it
    reserve_raised: bool = False
    # (v2) anti-affinity (FORMATS.md rule 8): per anti-affinity VM group with two or more
    # moving members, the job indexes of those members. In strict mode no two of them may
    # be on one host at once (candidates next to members that stay are already pruned);
    # in soft mode each overlap is a warning the solver minimises. Empty: no constraint.
    job_groups: tuple[tuple[int, ...], ...] = ()
    anti_affinity: str = "strict"  # options.anti_affinity: "strict" or "soft"

    def __post_init__(self) -> None:
        # immutable in fact, not only by convention: solvers share one Problem
        for value in self.__dict__.values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False

    @property
    def n_jobs(self) -> int:
        return len(self.job_vm)

    def cands(self, j: int) -> range:
        return range(int(self.cand_start[j]), int(self.cand_start[j + 1]))

    def srcs(self, j: int) -> range:
        return range(int(self.src_start[j]), int(self.src_start[j + 1]))

    def targets(self, j: int, c: int) -> tuple[tuple[int, int, int], ...]:
        """(target SR, 3x reservation, used amount arriving) per SR candidate `c` of job
        `j` sends disks to (empty when no disk moves)."""
        s = int(self.cand_sr[c])
        if s == SPLIT:
            return self.cand_split[c].per_sr
        if s < 0:
            return ()
        return ((s, int(self.job_reserve[j]), int(self.job_used_up[j])),)

    def disk_targets(self, j: int, c: int) -> tuple[int, ...]:
        """The target SR of each moved disk of job `j` under candidate `c`."""
        s = int(self.cand_sr[c])
        if s == SPLIT:
            return self.cand_split[c].disk_srs
        return tuple(s for _ in self.job_moved[j]) if s >= 0 else ()

    def group_conflicts(self) -> dict[int, set[int]]:
        """Per job of an anti-affinity group (`job_groups`), the hosts its group-mates
        run on now (their sources). The solvers keep a job off those hosts and off the
        targets its mates take, so no two members ever share a host, whatever the
        timing (stricter than rule 8, which allows a host once its mate has left)."""
        out: dict[int, set[int]] = {}
        for g in self.job_groups:
            for j in g:
                out.setdefault(j, set()).update(
                    int(self.job_from_host[k]) for k in g if k != j and self.job_from_host[k] >= 0
                )
        return out

    def bytes_of(self, amount: int) -> int:
        """An amount in the problem's units, in bytes."""
        return int(amount) * self.unit

    def keep_candidates(self, keep: np.ndarray) -> Problem:
        """The same problem with only the candidates where `keep` (a bool per candidate)
        is true; every job must keep at least one. Map a new candidate index `c` back
        with `np.flatnonzero(keep)[c]`."""
        from dataclasses import replace

        counts = (
            np.add.reduceat(keep.astype(np.int64), self.cand_start[:-1])
            if len(keep)
            else np.zeros(self.n_jobs, dtype=np.int64)
        )
        start = np.zeros(self.n_jobs + 1, dtype=np.int64)
        np.cumsum(counts, out=start[1:])
        split = _remap_split(self.cand_split, np.flatnonzero(keep))
        return replace(
            self,
            cand_start=start,
            cand_host=self.cand_host[keep],
            cand_sr=self.cand_sr[keep],
            cand_pool=self.cand_pool[keep],
            cand_split=split,
        )

    def subset(self, jobs: list[int] | np.ndarray) -> Problem:
        """The same problem restricted to `jobs` (in that order); hosts, SRs and pools
        keep their global indexes. Unplaced VMs are not carried over."""
        jobs = np.asarray(jobs, dtype=np.int64)

        def ragged(start: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
            lens = start[jobs + 1] - start[jobs]
            new_start = np.zeros(len(jobs) + 1, dtype=np.int64)
            np.cumsum(lens, out=new_start[1:])
            idx = (
                np.concatenate([np.arange(start[j], start[j + 1]) for j in jobs])
                if len(jobs)
                else np.zeros(0, dtype=np.int64)
            )
            return (new_start, idx, *(a[idx] for a in arrays))

        cs, cidx, ch, csr, cp = ragged(
            self.cand_start, self.cand_host, self.cand_sr, self.cand_pool
        )
        ss, _, ssr, sres, sused = ragged(
            self.src_start, self.src_sr, self.src_reserve, self.src_used_down
        )
        return Problem(
            max_per_pool=self.max_per_pool,
            max_per_host=self.max_per_host,
            unit=self.unit,
            cand_split=_remap_split(self.cand_split, cidx),
            reserve_raised=self.reserve_raised,
            anti_affinity=self.anti_affinity,
            job_vm=tuple(self.job_vm[j] for j in jobs),
            job_kind=self.job_kind[jobs],
            job_pool=self.job_pool[jobs],
            job_from_host=self.job_from_host[jobs],
            job_seconds=self.job_seconds[jobs],
            job_mem_up=self.job_mem_up[jobs],
            job_mem_down=self.job_mem_down[jobs],
            job_halted_mem=self.job_halted_mem[jobs],
            job_reserve=self.job_reserve[jobs],
            job_used_up=self.job_used_up[jobs],
            job_moved=tuple(self.job_moved[j] for j in jobs),
            cand_start=cs,
            cand_host=ch,
            cand_sr=csr,
            cand_pool=cp,
            src_start=ss,
            src_sr=ssr,
            src_reserve=sres,
            src_used_down=sused,
            host_uuid=self.host_uuid,
            host_pool=self.host_pool,
            host_enabled=self.host_enabled,
            host_cap=self.host_cap,
            host_init=self.host_init,
            sr_uuid=self.sr_uuid,
            sr_pool=self.sr_pool,
            sr_size=self.sr_size,
            sr_used=self.sr_used,
            pool_uuid=self.pool_uuid,
            job_groups=self._groups_of(jobs),
        )

    def _groups_of(self, jobs: np.ndarray) -> tuple[tuple[int, ...], ...]:
        """`job_groups` renumbered for `subset(jobs)` (groups left with one job dropped)."""
        pos = {int(j): k for k, j in enumerate(jobs)}
        out = (tuple(pos[j] for j in g if j in pos) for g in self.job_groups)
        return tuple(g for g in out if len(g) >= 2)


def _remap_split(split: Mapping[int, Split], kept: np.ndarray) -> dict[int, Split]:
    """`split` keyed by the new candidate indexes, `kept[new] = old`."""
    if not split:
        return {}
    new_of = {int(old): new for new, old in enumerate(kept.tolist())}
    return {new_of[c]: s for c, s in split.items() if c in new_of}


# ---------------------------------------------------------------- building
# The builder's stages live in their own modules, in the order they run:
# problem_candidates (jobs and their eligible targets), problem_demands (what each job
# takes and frees), problem_pruning (candidates that can never have room),
# problem_arrays (the common unit and the arrays).


def build_problem(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions | None = None,
    durations: DurationModel = DEFAULT_MODEL,
) -> Problem:
    """The `Problem` for `goal` on `inv`. VMs with no eligible target, or none with room
    even on an otherwise empty campaign, go to `Problem.unplaced` with every reason."""
    if not isinstance(goal, Evacuate | MovePool | RetireSR):
        raise InputError(f"solve handles evacuate, move-pool and retire-sr goals, not {goal.kind}")
    options = options or PlanOptions()
    pool_ix = {p.uuid: i for i, p in enumerate(inv.pools)}
    host_ix = {h.uuid: i for i, h in enumerate(inv.hosts)}
    sr_ix = {s.uuid: i for i, s in enumerate(inv.srs)}
    jobs, unplaced, stats = jobs_of(inv, goal, options, host_ix, sr_ix, pool_ix)
    # hosts, SRs and demands in bytes here; divided by the common unit in `arrays`
    caps = capacities(inv, options)
    rows, dep_host, dep_sr = demand_rows(inv, jobs, options, durations, host_ix, sr_ix)
    keep_jobs, splits, never = prune(
        inv, jobs, rows, Room(*caps, dep_host, dep_sr), options, host_ix, sr_ix
    )
    fields = arrays(inv, options, jobs, rows, keep_jobs, splits, caps, pool_ix)
    kept = [jobs[i].vm.uuid for i in keep_jobs]
    return Problem(
        **fields, unplaced=tuple(unplaced + never), stats=stats, job_groups=_job_groups(inv, kept)
    )


def _job_groups(inv: Inventory, job_vms: list[str]) -> tuple[tuple[int, ...], ...]:
    """`Problem.job_groups`: for each anti-affinity group, the jobs of its moving members
    (groups with fewer than two moving members constrain nothing among jobs)."""
    index = {u: j for j, u in enumerate(job_vms)}
    out = []
    for members in group_members(inv).values():
        jobs = tuple(index[u] for u in members if u in index)
        if len(jobs) >= 2:
            out.append(jobs)
    return tuple(out)
