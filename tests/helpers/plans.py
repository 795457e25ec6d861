"""Hand-made plans for the checker's tests: migrations from where a VM is, plans with the
right digest and estimate. Kept tiny on purpose: the checker must judge these, so they
must not be built by the code under test."""

from __future__ import annotations

from typing import Any

from planner.durations import DEFAULT_MODEL
from planner.goals import Goal
from planner.inventory import digest
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import (
    DiskMove,
    Figures,
    Migration,
    Plan,
    Reason,
    SolverInfo,
    Unplaced,
    VifMap,
    Wave,
    estimate_of,
    lockstep,
)
from planner.status import Status

HAND = SolverInfo(name="hand", status=Status.FEASIBLE, wall_seconds=0.0)  # made by hand


def mig(
    inv: Inventory,
    mid: str,
    vm_ref: str,
    *,
    to_host: str | None = None,
    to_pool: str | None = None,
    to_sr: str | None = None,
    kind: str | None = None,
    vifs: dict[str, str] | None = None,
    depends_on: tuple[str, ...] = (),
    from_host: Any = ...,
    from_pool: str | None = None,
    from_srs: dict[str, str] | None = None,
    est: int | None = None,
) -> Migration:
    """A migration of `vm_ref` (name or uuid) from where the inventory has it.

    `to_sr` moves every disk there; `vifs` maps device -> network uuid; `from_*` override
    the start (for VMs that moved in an earlier wave, or to break continuity on purpose).
    """
    vm = inv.vm_by_uuid[inv.find("vm", vm_ref)]
    pool = to_pool or (inv.host_by_uuid[to_host].pool if to_host else vm.pool)
    srcs = from_srs or {d.uuid: d.sr for d in vm.disks}
    disks = tuple(DiskMove(d.uuid, srcs[d.uuid], to_sr) for d in vm.disks) if to_sr else ()
    if kind is None:
        if vm.power_state == "Halted":
            kind = "move"
        elif vm.is_running and pool == vm.pool and not disks:
            kind = "live"
        else:
            kind = "storage"
    vif_maps = tuple(VifMap(dev, net) for dev, net in (vifs or {}).items())
    if vifs is None and pool != vm.pool:
        # same-name mapping, written out here rather than taken from the rules
        names = {n.name: n.uuid for n in inv.networks if n.pool == pool}
        vif_maps = tuple(
            VifMap(x.device, names[inv.network_by_uuid[x.network].name]) for x in vm.vifs
        )
    seconds = (
        est if est is not None else DEFAULT_MODEL.estimate(inv, vm, kind, {d.vdi for d in disks})
    )
    return Migration(
        id=mid,
        vm=vm.uuid,
        kind=kind,
        from_host=(vm.host if vm.is_running else None) if from_host is ... else from_host,
        to_host=to_host,
        from_pool=from_pool or vm.pool,
        to_pool=pool,
        disks=disks,
        vifs=vif_maps,
        est_seconds=seconds,
        depends_on=depends_on,
    )


def plan_of(
    inv: Inventory,
    waves: list[list[Migration]],
    goal: Goal,
    *,
    options: PlanOptions | None = None,
    unplaced: dict[str, list[str]] | None = None,
    estimate: Figures | None = None,
) -> Plan:
    """A plan for `inv` with the given waves, scheduled lock-step (`start_s` at each wave's
    start); the estimate is computed unless given."""
    ws = lockstep([Wave(i, tuple(ms)) for i, ms in enumerate(waves)])
    return Plan(
        inventory_digest=digest(inv),
        goal=goal,
        options=options or PlanOptions(),
        solver=HAND,
        bounds=Figures(waves=0, seconds=0),
        waves=ws,
        unplaced=tuple(
            Unplaced(inv.find("vm", v), tuple(Reason(c, c) for c in cs))
            for v, cs in (unplaced or {}).items()
        ),
        estimate=estimate if estimate is not None else estimate_of(ws),
    )
