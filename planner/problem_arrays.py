"""The problem builder's last stage: the common unit, then the `Problem`'s arrays.

Every memory and disk amount is divided by their greatest common divisor (`unit`), so
nothing is rounded (planner/problem.py's module docstring); the kept jobs' candidates
and source SRs become ragged arrays indexed by `cand_start` and `src_start`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.inventory.model import Inventory
from planner.moves import KINDS
from planner.options import PlanOptions
from planner.problem_candidates import Job
from planner.problem_pruning import Splits


@dataclass(frozen=True)
class Split:
    """A candidate whose moved disks go to different SRs: `disk_srs[i]` is the target SR
    of the job's i-th moved disk (`Problem.job_moved` order); `per_sr` is, per target SR,
    (sr, 3x reservation, used amount arriving), in the problem's units."""

    disk_srs: tuple[int, ...]
    per_sr: tuple[tuple[int, int, int], ...]


def arrays(
    inv: Inventory,
    options: PlanOptions,
    jobs: list[Job],
    rows: list[dict[str, Any]],
    keep_jobs: list[int],
    splits: Splits,
    caps: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    pool_ix: dict[str, int],
) -> dict[str, Any]:
    """The `Problem` fields of the kept jobs, amounts in the common unit (`rows` are
    scaled in place)."""
    raised = any(rows[i]["raised"] for i in keep_jobs)
    unit, (host_cap, host_init, sr_size, sr_used) = _unit(rows, keep_jobs, caps)
    split_of = _scale(jobs, rows, keep_jobs, splits, unit)
    jobs = [jobs[i] for i in keep_jobs]
    rows = [rows[i] for i in keep_jobs]
    n_c = [len(jb.cands) for jb in jobs]
    n_s = [len(r["src"]) for r in rows]
    cand = [c for jb in jobs for c in jb.cands]
    src = [x for r in rows for x in r["src"]]

    def jcol(key: str) -> np.ndarray:
        return np.array([r[key] for r in rows], dtype=np.int64)

    return dict(
        max_per_pool=options.max_per_pool,
        max_per_host=options.max_per_host,
        unit=unit,
        cand_split=split_of,
        reserve_raised=raised,
        anti_affinity=options.anti_affinity,
        job_vm=tuple(jb.vm.uuid for jb in jobs),
        job_kind=np.array([KINDS.index(jb.kind) for jb in jobs], dtype=np.int8),
        job_pool=np.array([pool_ix[jb.vm.pool] for jb in jobs], dtype=np.int32),
        job_from_host=np.array([r["from_host"] for r in rows], dtype=np.int32),
        job_seconds=jcol("seconds"),
        job_mem_up=jcol("mem_up"),
        job_mem_down=jcol("mem_down"),
        job_halted_mem=jcol("halted"),
        job_reserve=jcol("reserve"),
        job_used_up=jcol("used_up"),
        job_moved=tuple(jb.moved for jb in jobs),
        cand_start=_starts(n_c),
        cand_host=_col(cand, 0, np.int32),
        cand_sr=_col(cand, 1, np.int32),
        cand_pool=_col(cand, 2, np.int32),
        src_start=_starts(n_s),
        src_sr=_col(src, 0, np.int32),
        src_reserve=_col(src, 1, np.int64),
        src_used_down=_col(src, 2, np.int64),
        host_uuid=tuple(h.uuid for h in inv.hosts),
        host_pool=np.array([pool_ix[h.pool] for h in inv.hosts], dtype=np.int32),
        host_enabled=np.array([h.enabled for h in inv.hosts], dtype=bool),
        host_cap=host_cap,
        host_init=host_init,
        sr_uuid=tuple(s.uuid for s in inv.srs),
        sr_pool=np.array([pool_ix[s.pool] for s in inv.srs], dtype=np.int32),
        sr_size=sr_size,
        sr_used=sr_used,
        pool_uuid=tuple(p.uuid for p in inv.pools),
    )


def _unit(
    rows: list[dict[str, Any]],
    keep_jobs: list[int],
    caps: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[int, list[np.ndarray]]:
    """The common unit: every amount divides by it, so nothing is rounded; and the
    capacities in it."""
    amounts = list(caps)
    for i in keep_jobs:
        r = rows[i]
        amounts.append(
            np.array(
                [
                    r["mem_up"],
                    r["halted"],
                    r["reserve"],
                    r["used_up"],
                    *(x for t in r["src"] for x in t[1:]),
                    *(x for t in r["disk_need"] for x in t),
                ],
                dtype=np.int64,
            )
        )
    unit = int(np.gcd.reduce(np.concatenate(amounts))) if amounts else 1
    unit = max(1, unit)
    return unit, [a // unit for a in amounts[:4]]


def _scale(
    jobs: list[Job], rows: list[dict[str, Any]], keep_jobs: list[int], splits: Splits, unit: int
) -> dict[int, Split]:
    """The kept jobs' amounts divided by `unit` (in place), and their split candidates
    keyed by their index among the kept jobs' candidates."""
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
            split_of[cand_base + k] = Split(disk_srs, tuple((s, a, b) for s, (a, b) in per.items()))
        cand_base += len(jb.cands)
        for key in ("mem_up", "mem_down", "halted", "reserve", "used_up"):
            r[key] //= unit
        r["src"] = [(s, a // unit, b // unit) for s, a, b in r["src"]]
    return split_of


def _starts(lens: list[int]) -> np.ndarray:
    out = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lens, dtype=np.int64), out=out[1:])
    return out


def _col(items: list[tuple], k: int, dtype: Any) -> np.ndarray:
    return np.array([x[k] for x in items], dtype=dtype)
