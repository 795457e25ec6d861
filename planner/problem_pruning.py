"""The problem builder's third stage: drop the candidates that can never have room.

A candidate host or SR is kept only if the job fits it with every VM and disk that may
leave it gone (the most it can ever have free); when no single SR can ever hold every
moved disk, the job may split its disks over several SRs (`SPLIT`, issue 13 item 9). A
job left with no candidate, or whose source SRs or halted-VM memory can never fit, is
unplaced with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.inventory.model import Inventory
from planner.moves import Reason, Unplaced
from planner.options import PlanOptions
from planner.problem_candidates import Job
from planner.rules import codes, target_reasons

SPLIT = -2  # cand_sr of a candidate whose moved disks go to different SRs
# per job index: (position among its candidates, target SR index per moved disk)
Splits = dict[int, list[tuple[int, tuple[int, ...]]]]


@dataclass(frozen=True)
class Room:
    """Capacities (bytes, `problem_demands.capacities`) and what may leave each host and
    SR index (`problem_demands.demand_rows`)."""

    host_cap: np.ndarray
    host_init: np.ndarray
    sr_size: np.ndarray
    sr_used: np.ndarray
    dep_host: dict[int, int]
    dep_sr: dict[int, int]

    def host(self, h: int) -> Any:
        """The most memory host `h` can ever have free (every VM that may leave has)."""
        return self.host_cap[h] - self.host_init[h] + self.dep_host[h]

    def sr(self, s: int) -> int:
        """The most SR `s` can ever have free (every disk that may leave has left)."""
        return int(self.sr_size[s] - self.sr_used[s] + self.dep_sr[s])


def prune(
    inv: Inventory,
    jobs: list[Job],
    rows: list[dict[str, Any]],
    room: Room,
    options: PlanOptions,
    host_ix: dict[str, int],
    sr_ix: dict[str, int],
) -> tuple[list[int], Splits, list[Unplaced]]:
    """The indexes of the jobs that keep some candidate (their `cands` cut to those with
    room), the split candidates per kept job (candidate position, SR per moved disk),
    and the other jobs' VMs unplaced with the reason."""
    keep_jobs: list[int] = []
    splits: Splits = {}
    unplaced: list[Unplaced] = []
    for i, (jb, row) in enumerate(zip(jobs, rows, strict=True)):
        src_ok = all(
            row_r <= room.sr_size[s] - room.sr_used[s] + room.dep_sr[s] - u
            for s, row_r, u in row["src"]
        )
        ok, mem_ok = _with_room(jb, row, room)
        if not ok and len(jb.moved) > 1:
            # no single SR can ever hold every moved disk: one SR per disk (item 9)
            for h, p, disk_srs in _split_targets(
                inv, jb, row, mem_ok, room.sr, options, host_ix, sr_ix
            ):
                splits.setdefault(i, []).append((len(ok), disk_srs))
                ok.append((h, SPLIT, p))
        halted_ok = True
        if row["halted"]:
            pool_hosts = [
                host_ix[h.uuid] for h in inv.hosts_in_pool.get(jb.vm.pool, []) if h.enabled
            ]
            halted_ok = any(row["halted"] <= room.host(h) for h in pool_hosts)
        if ok and src_ok and halted_ok:
            jb.cands = ok
            keep_jobs.append(i)
            continue
        unplaced.append(Unplaced(jb.vm.uuid, (_never_room(inv, jb, halted_ok, src_ok),)))
    return keep_jobs, splits, unplaced


def _with_room(
    jb: Job,
    row: dict[str, Any],
    room: Room,
) -> tuple[list[tuple[int, int, int]], dict[int, bool]]:
    """The job's candidates whose host and SR can ever have room for it, and per new
    target host whether its memory ever fits."""
    ok = []
    mem_ok: dict[int, bool] = {}
    for h, s, p in jb.cands:
        if h >= 0 and h != row["from_host"]:
            mem_ok[h] = bool(row["mem_up"] <= room.host(h))
            if not mem_ok[h]:
                continue
        if s >= 0 and max(row["reserve"], row["used_up"]) > room.sr(s):
            continue
        ok.append((h, s, p))
    return ok, mem_ok


def _never_room(inv: Inventory, jb: Job, halted_ok: bool, src_ok: bool) -> Reason:
    """Why a job with eligible targets can never be placed."""
    vm = jb.vm
    if not halted_ok:
        return Reason(
            codes.HALTED_MEMORY,
            f"no enabled host of pool {inv.label(vm.pool)} "
            f"can ever have {vm.memory_bytes / 2**30:.1f} GiB free for "
            f"{vm.name} while its disks move",
        )
    if not src_ok:
        return Reason(
            codes.NO_CAPACITY,
            f"the SRs {vm.name}'s disks leave cannot hold the "
            "2x reservation a storage migration needs",
        )
    return Reason(
        codes.NO_CAPACITY,
        f"eligible targets exist for {vm.name} but none "
        "can ever have room for it (memory or SR space)",
    )


def _split_targets(
    inv: Inventory,
    jb: Job,
    row: dict[str, Any],
    mem_ok: dict[int, bool],
    sr_room: Callable[[int], int],
    options: PlanOptions,
    host_ix: dict[str, int],
    sr_ix: dict[str, int],
) -> list[tuple[int, int, tuple[int, ...]]]:
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
        if not target_reasons(
            inv, jb.vm, jb.kind, hosts.get(h) if h >= 0 else None, pool, targets, options
        ):
            out.append((h, p, tuple(where)))
    return out
