"""The problem builder's second stage: what each job takes and frees, in bytes.

Per job (planner/problem_candidates.py): memory committed on a new host and freed on
the old one, rule 4's free memory for a halted VM, the 3x reservation and the used bytes
arriving on the target SR, the 2x reservation and used bytes leaving each source SR, and
its duration; and the hosts' and SRs' capacities as the inventory gives them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from planner.durations import DurationModel
from planner.inventory.model import VM, Disk, Inventory, SuspendVdi
from planner.options import PlanOptions
from planner.problem_candidates import Job
from planner.rules.memory import host_capacity, vm_memory
from planner.rules.storage import reserve_on_source, reserve_on_target


def capacities(
    inv: Inventory,
    options: PlanOptions,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per host what guests may commit (headroom applied) and what running VMs commit
    now; per SR its size and used bytes. All int64 bytes, in inventory order."""
    host_cap = np.array(
        [host_capacity(h, options.headroom_fraction) for h in inv.hosts], dtype=np.int64
    )
    committed: dict[str, int] = defaultdict(int)
    for v in inv.vms:
        if v.is_running and v.host is not None:
            committed[v.host] += vm_memory(v, options.dmc)
    host_init = np.array([committed[h.uuid] for h in inv.hosts], dtype=np.int64)
    sr_size = np.array([s.size_bytes for s in inv.srs], dtype=np.int64)
    # the SR's own figure, as XAPI reports it (FORMATS.md: every reader uses it as is)
    sr_used = np.array([s.used_bytes for s in inv.srs], dtype=np.int64)
    return host_cap, host_init, sr_size, sr_used


def demand_rows(
    inv: Inventory,
    jobs: list[Job],
    options: PlanOptions,
    durations: DurationModel,
    host_ix: dict[str, int],
    sr_ix: dict[str, int],
) -> tuple[list[dict[str, Any]], dict[int, int], dict[int, int]]:
    """Each job's demands (`_row`), and per host and per SR index what may leave it: the
    memory of running VMs that move off it, the used bytes of disks that move off it."""
    dep_host: dict[int, int] = defaultdict(int)
    dep_sr: dict[int, int] = defaultdict(int)
    rows = []
    for jb in jobs:
        row = _row(inv, jb, options, durations, host_ix, sr_ix)
        rows.append(row)
        if row["from_host"] >= 0:
            dep_host[row["from_host"]] += row["mem_down"]
        for s, _, u in row["src"]:
            dep_sr[s] += u
    return rows, dep_host, dep_sr


def _row(
    inv: Inventory,
    jb: Job,
    options: PlanOptions,
    durations: DurationModel,
    host_ix: dict[str, int],
    sr_ix: dict[str, int],
) -> dict[str, Any]:
    """One job's demands in bytes (the keys are `Problem`'s job columns without `job_`;
    `disk_need` per moved disk (target amount, used bytes); `src` per source SR (sr,
    2x reservation, used bytes leaving))."""
    vm = jb.vm
    disks = {d.uuid: d for d in vm.disks}
    moved = [disks[u] for u in jb.moved]
    running = vm.is_running
    mem = vm_memory(vm, options.dmc) if running else 0
    src: dict[int, list[int]] = {}
    for d in moved:
        acc = src.setdefault(sr_ix[d.sr], [0, 0])
        acc[0] += reserve_on_source(d)
        acc[1] += _moved_used(d)
    image = _suspend_image(vm, moved)
    if image is not None:
        # (v2) the memory image may follow the disks (rules.storage.suspend_target):
        # reserved and counted on the target, never counted as freed on its SR, so
        # the solver is on the safe side whether or not XAPI copies it
        src.setdefault(sr_ix[image.sr], [0, 0])[0] += reserve_on_source(image)
    extra: list[Disk | SuspendVdi] = [image] if image is not None else []
    return {
        "from_host": host_ix[vm.host] if running and vm.host else -1,
        "mem_up": mem,
        "mem_down": mem,
        "halted": vm.memory_bytes if (not running and moved) else 0,
        # the target SR holds the larger of the 3x reservation and what arrives, from
        # the start: with big snapshots the arrival can exceed 3x, and an end must
        # never raise an SR's usage (a start that fits then fits for good)
        "reserve": max(
            sum(reserve_on_target(d) for d in [*moved, *extra]),
            sum(_moved_used(d) for d in [*moved, *extra]),
        ),
        "raised": any(_moved_used(d) > reserve_on_target(d) for d in moved),
        "used_up": sum(_moved_used(d) for d in [*moved, *extra]),
        "disk_need": [(max(reserve_on_target(d), _moved_used(d)), _moved_used(d)) for d in moved],
        "src": [(s, r, u) for s, (r, u) in src.items()],
        "seconds": durations.estimate(inv, vm, jb.kind, set(jb.moved)),
    }


def _suspend_image(vm: VM, moved: list) -> SuspendVdi | None:
    """A Suspended VM's memory image when its disks move (it may travel with them)."""
    if vm.power_state == "Suspended" and vm.suspend_vdi is not None and moved:
        return vm.suspend_vdi
    return None


def _moved_used(d: Any) -> int:
    """Bytes a moved disk takes on its new SR: its own and its snapshots' (FORMATS.md v2)."""
    return int(d.used_bytes) + int(getattr(d, "snapshot_used_bytes", 0) or 0)
