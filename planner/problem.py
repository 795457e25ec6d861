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

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.durations import DEFAULT_MODEL, DurationModel
from planner.errors import InputError
from planner.goals import Evacuate, Goal, MovePool, Position, RetireSR, must_move, satisfied
from planner.inventory.model import VM, Disk, Inventory, SuspendVdi
from planner.moves import Reason, Unplaced
from planner.options import PlanOptions
from planner.rules import codes, expected_kind, target_reasons
from planner.rules.affinity import (
    anti_affinity_reasons,
    anti_groups,
    current_hosts,
    group_members,
    member_hosts,
)
from planner.rules.exclusions import exclusion_reasons
from planner.rules.memory import host_capacity, vm_memory
from planner.rules.storage import reserve_on_source, reserve_on_target
from planner.rules.version import source_version

MIB = 2**20
KINDS = ("live", "storage", "move")
SPLIT = -2  # cand_sr of a candidate whose moved disks go to different SRs


@dataclass(frozen=True)
class Split:
    """A candidate whose moved disks go to different SRs: `disk_srs[i]` is the target SR
    of the job's i-th moved disk (`Problem.job_moved` order); `per_sr` is, per target SR,
    (sr, 3x reservation, used amount arriving), in the problem's units."""

    disk_srs: tuple[int, ...]
    per_sr: tuple[tuple[int, int, int], ...]


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
                    int(self.job_from_host[k]) for k in g if k != j and self.job_from_host[k] >= 0)
        return out

    def bytes_of(self, amount: int) -> int:
        """An amount in the problem's units, in bytes."""
        return int(amount) * self.unit

    def keep_candidates(self, keep: np.ndarray) -> Problem:
        """The same problem with only the candidates where `keep` (a bool per candidate)
        is true; every job must keep at least one. Map a new candidate index `c` back
        with `np.flatnonzero(keep)[c]`."""
        from dataclasses import replace

        counts = np.add.reduceat(keep.astype(np.int64), self.cand_start[:-1]) if len(
            keep) else np.zeros(self.n_jobs, dtype=np.int64)  # fmt: skip
        start = np.zeros(self.n_jobs + 1, dtype=np.int64)
        np.cumsum(counts, out=start[1:])
        split = _remap_split(self.cand_split, np.flatnonzero(keep))
        return replace(self, cand_start=start, cand_host=self.cand_host[keep],
                       cand_sr=self.cand_sr[keep], cand_pool=self.cand_pool[keep],
                       cand_split=split)  # fmt: skip

    def subset(self, jobs: list[int] | np.ndarray) -> Problem:
        """The same problem restricted to `jobs` (in that order); hosts, SRs and pools
        keep their global indexes. Unplaced VMs are not carried over."""
        jobs = np.asarray(jobs, dtype=np.int64)

        def ragged(start: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
            lens = start[jobs + 1] - start[jobs]
            new_start = np.zeros(len(jobs) + 1, dtype=np.int64)
            np.cumsum(lens, out=new_start[1:])
            idx = (np.concatenate([np.arange(start[j], start[j + 1]) for j in jobs])
                   if len(jobs) else np.zeros(0, dtype=np.int64))  # fmt: skip
            return (new_start, idx, *(a[idx] for a in arrays))

        cs, cidx, ch, csr, cp = ragged(self.cand_start, self.cand_host, self.cand_sr,
                                       self.cand_pool)  # fmt: skip
        ss, _, ssr, sres, sused = ragged(self.src_start, self.src_sr, self.src_reserve,
                                         self.src_used_down)  # fmt: skip
        return Problem(
            max_per_pool=self.max_per_pool, max_per_host=self.max_per_host, unit=self.unit,
            cand_split=_remap_split(self.cand_split, cidx), reserve_raised=self.reserve_raised,
            anti_affinity=self.anti_affinity,
            job_vm=tuple(self.job_vm[j] for j in jobs),
            job_kind=self.job_kind[jobs], job_pool=self.job_pool[jobs],
            job_from_host=self.job_from_host[jobs], job_seconds=self.job_seconds[jobs],
            job_mem_up=self.job_mem_up[jobs], job_mem_down=self.job_mem_down[jobs],
            job_halted_mem=self.job_halted_mem[jobs], job_reserve=self.job_reserve[jobs],
            job_used_up=self.job_used_up[jobs],
            job_moved=tuple(self.job_moved[j] for j in jobs),
            cand_start=cs, cand_host=ch, cand_sr=csr, cand_pool=cp,
            src_start=ss, src_sr=ssr, src_reserve=sres, src_used_down=sused,
            host_uuid=self.host_uuid, host_pool=self.host_pool, host_enabled=self.host_enabled,
            host_cap=self.host_cap, host_init=self.host_init, sr_uuid=self.sr_uuid,
            sr_pool=self.sr_pool, sr_size=self.sr_size, sr_used=self.sr_used,
            pool_uuid=self.pool_uuid,
            job_groups=self._groups_of(jobs),
        )  # fmt: skip

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


@dataclass
class _Job:
    vm: VM
    kind: str
    moved: tuple[str, ...]
    cands: list[tuple[int, int, int]]  # (host, sr, pool) indexes


def _moved_disks(inv: Inventory, goal: Evacuate | MovePool | RetireSR, vm: VM,
                 options: PlanOptions | None = None) -> tuple[str, ...]:  # fmt: skip
    """The disks that move (see the module docstring): those the goal forces, and, when
    a Running VM's live move is blocked on every host (no host passes the rules or none
    can ever have room), the disks a storage migration takes to reach another host
    (`_storage_fallback`)."""
    if isinstance(goal, MovePool):
        return tuple(d.uuid for d in vm.disks)
    if isinstance(goal, RetireSR):
        return tuple(d.uuid for d in vm.disks if d.sr in goal.srs)
    evac = set(goal.hosts)  # Evacuate
    moved = tuple(d.uuid for d in vm.disks if set(inv.sr_by_uuid[d.sr].hosts) <= evac)
    if not moved and vm.power_state == "Running" and options is not None:
        return _storage_fallback(inv, goal, vm, options)
    return moved


def _storage_fallback(inv: Inventory, goal: Evacuate, vm: VM,
                      options: PlanOptions) -> tuple[str, ...]:  # fmt: skip
    """Disks to move when no live target of `vm` passes the rules or can ever have room
    (issue 13 case 7: its disk is on an SR only full or evacuated hosts see): every disk
    on an SR that some enabled host staying in the pool does not see. Empty when live is
    not blocked, when a storage migration is excluded (CBT, MCS) or when nothing would
    move."""
    pool = vm.pool
    hosts = [h for h in inv.hosts_in_pool.get(pool, []) if h.uuid not in goal.hosts]
    if exclusion_reasons(inv, vm, "storage"):
        return ()
    mem = vm_memory(vm, options.dmc)
    for h in hosts:
        # as the builder's pruning sees it: the VMs of a host that is not evacuated stay
        stay = sum(vm_memory(v, options.dmc) for v in inv.vms_on_host.get(h.uuid, []))
        if mem > host_capacity(h, options.headroom_fraction) - stay:
            continue
        if not target_reasons(inv, vm, "live", h.uuid, pool, {}, options):
            return ()  # live is possible on h
    enabled = [h for h in hosts if h.enabled]
    return tuple(d.uuid for d in vm.disks
                 if any(h.uuid not in inv.sr_by_uuid[d.sr].hosts for h in enabled))  # fmt: skip


def _target_pools(goal: Goal, vm: VM) -> tuple[str, ...]:
    return goal.to_pools if isinstance(goal, MovePool) else (vm.pool,)


def _signature(inv: Inventory, goal: Goal, vm: VM, kind: str, moved: tuple[str, ...]) -> tuple:
    """Everything `target_reasons` and the goal read about a VM, except its identity."""
    stay = tuple(sorted(d.sr for d in vm.disks if d.uuid not in moved))
    host = vm.host if isinstance(goal, RetireSR | Evacuate) else None
    return (kind, vm.pool, vm.power_state, source_version(inv, vm), vm.cpu_vendor,
            vm.cpu_features, tuple(sorted({v.network for v in vm.vifs})), stay,
            bool(moved), host, anti_groups(inv, vm))  # fmt: skip


def _staying_members(inv: Inventory, goal: Goal, vm: VM) -> dict[str, str | None]:
    """VM uuid -> host of the other members of `vm`'s anti-affinity groups that run and do
    not move for `goal`: they hold their host for the whole campaign."""
    out: dict[str, str | None] = {}
    for host, members in member_hosts(inv, vm, current_hosts(inv)).items():
        for u in members:
            if not must_move(goal, inv, inv.vm_by_uuid[u]):
                out[u] = host
    return out


def _affinity_reasons(inv: Inventory, goal: Goal, vm: VM, host: str | None,
                      options: PlanOptions) -> list[Reason]:  # fmt: skip
    """Strict anti-affinity, statically: `host` holds a member that stays (FORMATS.md rule
    8, v2). Members that move too are the solver's to keep apart (`Problem.job_groups`)."""
    if options.anti_affinity != "strict" or host is None or not vm.groups:
        return []
    return anti_affinity_reasons(inv, vm, host, _staying_members(inv, goal, vm))


def build_problem(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions | None = None,
    durations: DurationModel = DEFAULT_MODEL,
) -> Problem:
    """The `Problem` for `goal` on `inv`. VMs with no eligible target, or none with room
    even on an otherwise empty campaign, go to `Problem.unplaced` with every reason."""
    if not isinstance(goal, Evacuate | MovePool | RetireSR):
        raise InputError(f"solve handles evacuate, move-pool and retire-sr goals, not "
                         f"{goal.kind}")  # fmt: skip
    options = options or PlanOptions()
    pool_ix = {p.uuid: i for i, p in enumerate(inv.pools)}
    host_ix = {h.uuid: i for i, h in enumerate(inv.hosts)}
    sr_ix = {s.uuid: i for i, s in enumerate(inv.srs)}

    jobs: list[_Job] = []
    unplaced: list[Unplaced] = []
    cache: dict[tuple, list[tuple[int, int, int]]] = {}
    rule_calls = 0
    for vm in inv.vms:
        if not must_move(goal, inv, vm):
            continue
        moved = _moved_disks(inv, goal, vm, options)
        pools = _target_pools(goal, vm)
        kind = expected_kind(vm, pools[0], bool(moved))
        excl = exclusion_reasons(inv, vm, kind)
        if excl:
            unplaced.append(Unplaced(vm.uuid, _dedupe(excl)))
            continue
        sig = _signature(inv, goal, vm, kind, moved)
        cands = cache.get(sig)
        if cands is None:
            cands, calls = _candidates(inv, goal, vm, kind, moved, pools, options,
                                       host_ix, sr_ix, pool_ix)  # fmt: skip
            rule_calls += calls
            cache[sig] = cands
        if not cands:
            unplaced.append(Unplaced(vm.uuid, _why_not(inv, goal, vm, kind, moved, pools,
                                                       options)))  # fmt: skip
            continue
        jobs.append(_Job(vm, kind, moved, cands))

    # ---- hosts, SRs (bytes here; divided by the common unit at the end)
    host_cap = np.array([host_capacity(h, options.headroom_fraction) for h in inv.hosts],
                        dtype=np.int64)  # fmt: skip
    committed: dict[str, int] = defaultdict(int)
    for v in inv.vms:
        if v.is_running and v.host is not None:
            committed[v.host] += vm_memory(v, options.dmc)
    host_init = np.array([committed[h.uuid] for h in inv.hosts], dtype=np.int64)
    sr_size = np.array([s.size_bytes for s in inv.srs], dtype=np.int64)
    # the SR's own figure, as XAPI reports it (FORMATS.md: every reader uses it as is)
    sr_used = np.array([s.used_bytes for s in inv.srs], dtype=np.int64)

    # ---- per-job demands; then drop candidates that can never have room
    dep_host: dict[int, int] = defaultdict(int)
    dep_sr: dict[int, int] = defaultdict(int)
    rows: list[dict[str, Any]] = []  # per job: mixed ints, pairs and triples
    for jb in jobs:
        vm = jb.vm
        disks = {d.uuid: d for d in vm.disks}
        moved_disks = [disks[u] for u in jb.moved]
        running = vm.is_running
        mem = vm_memory(vm, options.dmc) if running else 0
        leaving: dict[int, list[int]] = {}  # source SR -> [reserve, used]
        for d in moved_disks:
            acc = leaving.setdefault(sr_ix[d.sr], [0, 0])
            acc[0] += reserve_on_source(d)
            acc[1] += _moved_used(d)
        image = _suspend_image(vm, moved_disks)
        if image is not None:
            # (v2) the memory image may follow the disks (rules.storage.suspend_target):
            # reserved and counted on the target, never counted as freed on its SR, so
            # the solver is on the safe side whether or not XAPI copies it
            leaving.setdefault(sr_ix[image.sr], [0, 0])[0] += reserve_on_source(image)
        extra: list[Disk | SuspendVdi] = [image] if image is not None else []
        row: dict[str, Any] = {
            "from_host": host_ix[vm.host] if running and vm.host else -1,
            "mem_up": mem, "mem_down": mem,
            "halted": vm.memory_bytes if (not running and moved_disks) else 0,
            # the target SR holds the larger of the 3x reservation and what arrives, from
            # the start: with big snapshots the arrival can exceed 3x, and an end must
            # never raise an SR's usage (a start that fits then fits for good)
            "reserve": max(sum(reserve_on_target(d) for d in [*moved_disks, *extra]),
                           sum(_moved_used(d) for d in [*moved_disks, *extra])),
            "raised": any(_moved_used(d) > reserve_on_target(d) for d in moved_disks),
            "used_up": sum(_moved_used(d) for d in [*moved_disks, *extra]),
            "disk_need": [(max(reserve_on_target(d), _moved_used(d)), _moved_used(d))
                          for d in moved_disks],
            "src": [(s, r, u) for s, (r, u) in leaving.items()],
            "seconds": durations.estimate(inv, vm, jb.kind, set(jb.moved)),
        }  # fmt: skip
        rows.append(row)
        if row["from_host"] >= 0:
            dep_host[row["from_host"]] += row["mem_down"]
        for s, _, u in row["src"]:
            dep_sr[s] += u

    def sr_room(s: int) -> int:
        """The most SR `s` can ever have free (every disk that may leave has left)."""
        return int(sr_size[s] - sr_used[s] + dep_sr[s])

    keep_jobs: list[int] = []
    splits: dict[int, list[tuple[int, tuple[int, ...]]]] = {}  # job -> (cand, disk SRs)
    for i, (jb, row) in enumerate(zip(jobs, rows, strict=True)):
        ok = []
        src_ok = all(
            row_r <= sr_size[s] - sr_used[s] + dep_sr[s] - u for s, row_r, u in row["src"]
        )
        mem_ok: dict[int, bool] = {}
        for h, s, p in jb.cands:
            if h >= 0 and h != row["from_host"]:
                room = host_cap[h] - host_init[h] + dep_host[h]
                mem_ok[h] = bool(row["mem_up"] <= room)
                if not mem_ok[h]:
                    continue
            if s >= 0 and max(row["reserve"], row["used_up"]) > sr_room(s):
                continue
            ok.append((h, s, p))
        if not ok and len(jb.moved) > 1:
            # no single SR can ever hold every moved disk: one SR per disk (item 9)
            for h, p, disk_srs in _split_targets(inv, jb, row, mem_ok, sr_room, options,
                                                 host_ix, sr_ix):  # fmt: skip
                splits.setdefault(i, []).append((len(ok), disk_srs))
                ok.append((h, SPLIT, p))
        halted_ok = True
        if row["halted"]:
            pool_hosts = [host_ix[h.uuid] for h in inv.hosts_in_pool.get(jb.vm.pool, [])
                          if h.enabled]  # fmt: skip
            halted_ok = any(row["halted"] <= host_cap[h] - host_init[h] + dep_host[h]
                            for h in pool_hosts)  # fmt: skip
        if ok and src_ok and halted_ok:
            jb.cands = ok
            keep_jobs.append(i)
            continue
        vm = jb.vm
        if not halted_ok:
            why = Reason(codes.HALTED_MEMORY, f"no enabled host of pool {inv.label(vm.pool)} "
                       f"can ever have {vm.memory_bytes / 2**30:.1f} GiB free for "
                       f"{vm.name} while its disks move")  # fmt: skip
        elif not src_ok:
            why = Reason(codes.NO_CAPACITY, f"the SRs {vm.name}'s disks leave cannot hold the "
                       "2x reservation a storage migration needs")  # fmt: skip
        else:
            why = Reason(codes.NO_CAPACITY, f"eligible targets exist for {vm.name} but none "
                       "can ever have room for it (memory or SR space)")  # fmt: skip
        unplaced.append(Unplaced(vm.uuid, (why,)))

    raised = any(rows[i]["raised"] for i in keep_jobs)
    # ---- the common unit: every amount divides by it, so nothing is rounded
    amounts = [host_cap, host_init, sr_size, sr_used]
    for i in keep_jobs:
        r = rows[i]
        amounts.append(np.array([r["mem_up"], r["halted"], r["reserve"], r["used_up"],
                                 *(x for t in r["src"] for x in t[1:]),
                                 *(x for t in r["disk_need"] for x in t)],
                                dtype=np.int64))  # fmt: skip
    unit = int(np.gcd.reduce(np.concatenate(amounts))) if amounts else 1
    unit = max(1, unit)
    host_cap, host_init, sr_size, sr_used = (a // unit for a in amounts[:4])

    split_of: dict[int, Split] = {}
    cand_base = 0
    for i in keep_jobs:
        jb, r = jobs[i], rows[i]
        for k, disk_srs in splits.get(i, []):
            per: dict[int, list[int]] = {}
            for s, (res, used) in zip(disk_srs, r["disk_need"], strict=True):
                acc = per.setdefault(s, [0, 0])
                acc[0] += res // unit
                acc[1] += used // unit
            split_of[cand_base + k] = Split(disk_srs, tuple((s, a, b) for s, (a, b)
                                                            in per.items()))  # fmt: skip
        cand_base += len(jb.cands)
        for key in ("mem_up", "mem_down", "halted", "reserve", "used_up"):
            r[key] //= unit
        r["src"] = [(s, a // unit, b // unit) for s, a, b in r["src"]]

    jobs = [jobs[i] for i in keep_jobs]
    rows = [rows[i] for i in keep_jobs]
    n_c = [len(jb.cands) for jb in jobs]
    n_s = [len(r["src"]) for r in rows]
    cand = [c for jb in jobs for c in jb.cands]
    src = [x for r in rows for x in r["src"]]

    def starts(lens: list[int]) -> np.ndarray:
        out = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(np.asarray(lens, dtype=np.int64), out=out[1:])
        return out

    def col(items: list[tuple], k: int, dtype: Any) -> np.ndarray:
        return np.array([x[k] for x in items], dtype=dtype)

    def jcol(key: str) -> np.ndarray:
        return np.array([r[key] for r in rows], dtype=np.int64)

    return Problem(
        max_per_pool=options.max_per_pool, max_per_host=options.max_per_host, unit=unit,
        cand_split=split_of, reserve_raised=raised, anti_affinity=options.anti_affinity,
        job_vm=tuple(jb.vm.uuid for jb in jobs),
        job_kind=np.array([KINDS.index(jb.kind) for jb in jobs], dtype=np.int8),
        job_pool=np.array([pool_ix[jb.vm.pool] for jb in jobs], dtype=np.int32),
        job_from_host=np.array([r["from_host"] for r in rows], dtype=np.int32),
        job_seconds=jcol("seconds"), job_mem_up=jcol("mem_up"), job_mem_down=jcol("mem_down"),
        job_halted_mem=jcol("halted"), job_reserve=jcol("reserve"), job_used_up=jcol("used_up"),
        job_moved=tuple(jb.moved for jb in jobs),
        cand_start=starts(n_c), cand_host=col(cand, 0, np.int32),
        cand_sr=col(cand, 1, np.int32), cand_pool=col(cand, 2, np.int32),
        src_start=starts(n_s), src_sr=col(src, 0, np.int32),
        src_reserve=col(src, 1, np.int64), src_used_down=col(src, 2, np.int64),
        host_uuid=tuple(h.uuid for h in inv.hosts),
        host_pool=np.array([pool_ix[h.pool] for h in inv.hosts], dtype=np.int32),
        host_enabled=np.array([h.enabled for h in inv.hosts], dtype=bool),
        host_cap=host_cap, host_init=host_init,
        sr_uuid=tuple(s.uuid for s in inv.srs),
        sr_pool=np.array([pool_ix[s.pool] for s in inv.srs], dtype=np.int32),
        sr_size=sr_size, sr_used=sr_used,
        pool_uuid=tuple(p.uuid for p in inv.pools),
        unplaced=tuple(unplaced),
        stats={"signatures": len(cache), "rule_calls": rule_calls},
        job_groups=_job_groups(inv, [jb.vm.uuid for jb in jobs]),
    )  # fmt: skip


def _suspend_image(vm: VM, moved: list) -> SuspendVdi | None:
    """A Suspended VM's memory image when its disks move (it may travel with them)."""
    if vm.power_state == "Suspended" and vm.suspend_vdi is not None and moved:
        return vm.suspend_vdi
    return None


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


def _moved_used(d: Any) -> int:
    """Bytes a moved disk takes on its new SR: its own and its snapshots' (FORMATS.md v2)."""
    return int(d.used_bytes) + int(getattr(d, "snapshot_used_bytes", 0) or 0)


def _split_targets(inv: Inventory, jb: _Job, row: dict[str, Any], mem_ok: dict[int, bool],
                   sr_room: Any, options: PlanOptions, host_ix: dict[str, int],
                   sr_ix: dict[str, int]) -> list[tuple[int, int, tuple[int, ...]]]:  # fmt: skip
    """(host, pool, SR per moved disk) for each target host where the moved disks fit
    only when they go to different SRs: largest disk first, each onto the SR (among those
    the host's single-SR candidates use) with the most room left. Each mapping is checked
    by the static rules as a whole."""
    by_host: dict[tuple[int, int], list[int]] = defaultdict(list)
    for h, s, p in jb.cands:
        if s >= 0 and mem_ok.get(h, True):
            by_host[(h, p)].append(s)
    hosts = {i: u for u, i in host_ix.items()}
    srs = {i: u for u, i in sr_ix.items()}
    order = sorted(range(len(jb.moved)), key=lambda k: -max(row["disk_need"][k]))
    out = []
    for (h, p), cands in by_host.items():
        left = {s: [sr_room(s), sr_room(s)] for s in dict.fromkeys(cands)}  # reserve, used
        where = [-1] * len(jb.moved)
        for k in order:
            res, used = row["disk_need"][k]
            fit = [s for s, (a, b) in left.items() if res <= a and used <= b]
            if not fit:
                break
            s = max(fit, key=lambda x: (left[x][0], -x))
            left[s][0] -= res
            left[s][1] -= used
            where[k] = s
        if -1 in where or len(set(where)) < 2:
            continue
        targets = {u: srs[s] for u, s in zip(jb.moved, where, strict=True)}
        pool = inv.pools[p].uuid
        if not target_reasons(inv, jb.vm, jb.kind, hosts.get(h) if h >= 0 else None, pool,
                              targets, options):  # fmt: skip
            out.append((h, p, tuple(where)))
    return out


def _options_for(inv: Inventory, goal: Goal, vm: VM, moved: tuple[str, ...],
                 pools: tuple[str, ...]) -> list[tuple[str | None, str | None, str]]:  # fmt: skip
    """Every (host, target SR, pool) the goal would accept, before the rules."""
    out: list[tuple[str | None, str | None, str]] = []
    for pool in pools:
        hosts: list[str | None] = [None]
        if vm.power_state != "Halted":
            # a Suspended VM's storage migration names a destination host too (XAPI's
            # migrate_send takes the receiving host's token): every host of the pool
            hosts = [h.uuid for h in inv.hosts_in_pool.get(pool, [])]
            if isinstance(goal, RetireSR) and vm.host in hosts:
                # the VM's own host first (no memory moves), but every host of the pool
                # stays a candidate: its own host may see only a small SR (case 8)
                hosts.remove(vm.host)
                hosts.insert(0, vm.host)
        srs: list[str | None] = [None]
        if moved:
            srs = [s.uuid for s in inv.srs_in_pool.get(pool, [])]
        for h in hosts:
            for s in srs:
                where = Position(h, pool, {d.uuid: (s if d.uuid in moved and s else d.sr)
                                           for d in vm.disks})  # fmt: skip
                if satisfied(goal, inv, vm, where):
                    out.append((h, s, pool))
    return out


def _candidates(inv: Inventory, goal: Goal, vm: VM, kind: str, moved: tuple[str, ...],
                pools: tuple[str, ...], options: PlanOptions, host_ix: dict[str, int],
                sr_ix: dict[str, int], pool_ix: dict[str, int],
                ) -> tuple[list[tuple[int, int, int]], int]:  # fmt: skip
    """Targets of `vm` that pass every static rule, as index triples; and the rule calls."""
    out: list[tuple[int, int, int]] = []
    calls = 0
    for h, s, pool in _options_for(inv, goal, vm, moved, pools):
        calls += 1
        targets = {u: s for u in moved} if s else {}
        if target_reasons(inv, vm, kind, h, pool, targets, options):
            continue
        if _affinity_reasons(inv, goal, vm, h, options):
            continue
        out.append((host_ix[h] if h else -1, sr_ix[s] if s else -1, pool_ix[pool]))
    return out, calls


def _why_not(inv: Inventory, goal: Goal, vm: VM, kind: str, moved: tuple[str, ...],
             pools: tuple[str, ...], options: PlanOptions) -> tuple[Reason, ...]:  # fmt: skip
    """Every reason that stops every target, deduplicated by code (first message kept)."""
    options_ = _options_for(inv, goal, vm, moved, pools)
    if not options_:
        what = ", ".join(inv.label(p) for p in pools)
        return (Reason(codes.NO_TARGET, f"no host or SR of pool {what} meets the goal for "
                       f"{vm.name}"),)  # fmt: skip
    reasons: list[Reason] = []
    for h, s, pool in options_:
        targets = {u: s for u in moved} if s else {}
        reasons += target_reasons(inv, vm, kind, h, pool, targets, options)
        reasons += _affinity_reasons(inv, goal, vm, h, options)
    return _dedupe(reasons) or (Reason(codes.NO_TARGET, f"no target for {vm.name}"),)


def _dedupe(reasons: list[Reason]) -> tuple[Reason, ...]:
    seen: dict[str, Reason] = {}
    for r in reasons:
        seen.setdefault(r.code, r)
    return tuple(seen.values())
