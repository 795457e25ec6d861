"""Migrations in the simulator: XAPI's refusals, the task that does the work, the outcome.

Checks call `planner.rules` (the single source of truth) and translate each reason into
the error XAPI raises for it; memory and SR space are admitted on the capacity ledger
(`planner.ledger_migration`, docs/ledger.md) built from the pools' state plus what the
migrations in flight hold, as XAPI sees it: no headroom, no DMC, anti-affinity not
enforced (XAPI only places by it). An accepted migration becomes a pending task lasting
`DEFAULT_MODEL.estimate(...) / speed` wall seconds; at its start memory is reserved on
the target host and 3x / 2x each moved disk's (and suspend image's) size on the
target / source SR; at its end the VM and its disks move and the reservations are
released. The state therefore never
breaks a capacity rule: the simulator is the referee for the executor's tests.

All functions here run under the state lock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planner.durations import DEFAULT_MODEL
from planner.inventory.model import VM, Host, Inventory
from planner.ledger_migration import Account, Demand
from planner.options import MAX_PER_POOL, PlanOptions
from planner.plan import DiskMove, Reason
from planner.plan import Migration as PlanMigration
from planner.rules import codes
from planner.rules.affinity import anti_affinity_reasons
from planner.rules.cpu import cpu_reasons
from planner.rules.exclusions import exclusion_reasons
from planner.rules.memory import vm_memory
from planner.rules.network import networks_attached_reasons
from planner.rules.port80 import port80_reasons
from planner.rules.storage import Moved, sr_attached_reasons, sr_pool_reasons, vdi_moves
from planner.rules.version import source_version, version_reasons
from planner.sim.relocate import apply_migration
from planner.sim.wire import NULL_REF, XapiError, i

if TYPE_CHECKING:  # the state calls into this module (a host going down fails its moves)
    from planner.sim.state import SimState

log = logging.getLogger("planner.sim")
SPACE_ERROR = ("SR_BACKEND_FAILURE_44", "", "There is insufficient space")
# xapi_vm_lifecycle.ml allowed_power_states: the `expected` parameter of
# VM_BAD_POWER_STATE, lowercase and joined by ", " as XAPI's report_power_state_error does
SEND_STATES = "halted, suspended, running"  # migrate_send
POOL_MIGRATE_STATES = "running"  # pool_migrate
# what XAPI counts: every byte of a resident VM, no headroom; groups only guide placement
XAPI_VIEW = PlanOptions(anti_affinity="soft")
MCS_MESSAGE = "VM was created by Machine Creation Services: its storage cannot be migrated"


@dataclass
class Migration:
    """One migration in flight (or just refused, for the audit)."""

    task: str
    vm: str  # uuid
    kind: str  # live | storage | move
    from_host: str | None
    to_host: str | None
    from_pool: str
    to_pool: str
    dest_host: str | None  # uuid of the host named by the call (also for halted moves)
    disk_to_sr: dict[str, str] = field(default_factory=dict)  # moved disk uuid -> sr uuid
    vif_to_net: dict[str, str] = field(default_factory=dict)  # VIF ref -> network ref
    memory: int = 0  # bytes reserved on to_host
    sr_holds: list[tuple[str, int]] = field(default_factory=list)
    result: str = ""  # task result on success
    entry: dict[str, Any] = field(default_factory=dict)
    timer: int | None = None


# ---------------------------------------------------------------- checks


def _vm_ref(st: SimState, vm: VM) -> str:
    return st.ref_of[vm.uuid]


def _exclusion_error(st: SimState, vm: VM, r: Reason) -> XapiError:
    ref = _vm_ref(st, vm)
    if r.code == codes.HA_PROTECTED:
        return XapiError("HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN")
    if r.code == codes.SRIOV:
        return XapiError("VM_HAS_SRIOV_VIF", ref)
    if r.code == codes.PCI:
        return XapiError("VM_HAS_PCI_ATTACHED", ref)
    if r.code == codes.VGPU:
        return XapiError("VM_HAS_VGPU", ref)
    if r.code == codes.ON_BOOT_RESET:
        return XapiError("VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION")
    if r.code == codes.NO_TOOLS:
        return XapiError("VM_LACKS_FEATURE", ref)
    if r.code == codes.CBT:
        disk = next(d for d in vm.disks if d.cbt)
        return XapiError("VDI_CBT_ENABLED", st.ref_of[disk.uuid])
    if r.code == codes.MCS:
        return XapiError("OPERATION_NOT_ALLOWED", MCS_MESSAGE)
    if r.code == codes.PAUSED:
        return bad_power_state(st, vm, SEND_STATES)
    return XapiError("INTERNAL_ERROR", r.message)


def check_migration(
    st: SimState,
    vm: VM,
    kind: str,
    host: Host | None,
    to_pool: str,
    disk_to_sr: Mapping[str, str],
    networks: list[str],
    *,
    force: bool = False,
    version_code: str = "VM_HOST_INCOMPATIBLE_VERSION_MIGRATE",
    check_concurrency: bool = True,
) -> int:
    """Raise the XapiError XAPI would raise for this migration; else return the memory
    (bytes) to reserve on `host`. `disk_to_sr` holds only the disks that move. The checks
    run in XAPI's order (the first failure is the error): the VM, the target host, the
    SRs and networks, then room (concurrency, memory, SR space)."""
    inv = st.pool_view(vm.pool, to_pool)
    vref = _vm_ref(st, vm)
    if vm.uuid in st.busy:
        raise XapiError("OTHER_OPERATION_IN_PROGRESS", "VM", vref, "migrate", st.busy[vm.uuid])
    for r in exclusion_reasons(inv, vm, kind):
        raise _exclusion_error(st, vm, r)
    _check_target(st, inv, vm, host, to_pool, disk_to_sr, vref, force, version_code)
    _check_srs_networks(st, inv, vm, host, to_pool, disk_to_sr, networks, vref)
    return _check_room(st, inv, vm, kind, host, to_pool, disk_to_sr, check_concurrency)


def _check_target(
    st: SimState,
    inv: Inventory,
    vm: VM,
    host: Host | None,
    to_pool: str,
    disk_to_sr: Mapping[str, str],
    vref: str,
    force: bool,
    version_code: str,
) -> None:
    """The target host (the pool master when none is named): live, not where the VM
    already is, enabled, CPU-compatible, new enough; and the remote pool reachable."""
    target = host if host is not None else inv.master_of(to_pool)
    href = st.ref_of[target.uuid]
    if not st.live.get(target.uuid, True):
        raise XapiError("HOST_OFFLINE", href)
    if host is not None and vm.is_running and vm.host == host.uuid and not disk_to_sr:
        raise XapiError("OPERATION_NOT_ALLOWED", "the VM is already resident on that host")
    if host is not None and not host.enabled:
        raise XapiError("HOST_DISABLED", href)
    if host is not None and not force:
        # every power state but Halted (cpuid_helpers.ml assert_vm_is_compatible;
        # cpu_reasons skips Halted VMs)
        for r in cpu_reasons(vm, host):
            raise XapiError("VM_INCOMPATIBLE_WITH_THIS_HOST", vref, href, r.message)
    if version_reasons(vm, source_version(inv, vm), target):
        if version_code == "NOT_SUPPORTED_DURING_UPGRADE":
            raise XapiError(version_code)
        raise XapiError(version_code, href, vref)
    if to_pool != vm.pool and port80_reasons(inv, vm.pool, to_pool):
        raise XapiError("VM_MIGRATE_CONTACT_REMOTE_SERVICE_FAILED")


def _check_srs_networks(
    st: SimState,
    inv: Inventory,
    vm: VM,
    host: Host | None,
    to_pool: str,
    disk_to_sr: Mapping[str, str],
    networks: list[str],
    vref: str,
) -> None:
    """Every disk's SR is in the target pool (and seen by the host); the host has the
    VIFs' networks."""
    pool_name = inv.label(to_pool)
    for d in vm.disks:
        sr = inv.sr_by_uuid[disk_to_sr.get(d.uuid, d.sr)]
        bad = sr_pool_reasons(sr, to_pool, pool_name)
        if host is not None:
            bad += sr_attached_reasons(sr, host, d.uuid)
        if bad:
            raise XapiError("VM_REQUIRES_SR", vref, st.ref_of[sr.uuid])
    if host is not None and networks_attached_reasons(inv, vm, networks, host):
        missing = next(n for n in networks if host.uuid not in inv.network_by_uuid[n].hosts)
        raise XapiError("VM_REQUIRES_NETWORK", vref, st.ref_of[missing])


def _check_room(
    st: SimState,
    inv: Inventory,
    vm: VM,
    kind: str,
    host: Host | None,
    to_pool: str,
    disk_to_sr: Mapping[str, str],
    check_concurrency: bool,
) -> int:
    """Concurrency, then the ledger's admission (memory, room to start a halted VM, SR
    space); the memory (bytes) to reserve on the target host."""
    in_flight = sum(1 for m in st.in_flight.values() if m.from_pool == vm.pool)
    if check_concurrency and in_flight >= MAX_PER_POOL:
        raise XapiError("TOO_MANY_STORAGE_MIGRATES", str(MAX_PER_POOL))
    acc, d = admission(st, inv, vm, kind, host, to_pool, disk_to_sr)
    led = acc.ledger
    short = led.shortfalls(d.start)
    for sf in short:
        if sf.key[0] == "mem":  # type: ignore[index]  # ledger keys are Hashable; this account's are str tuples
            raise XapiError("HOST_NOT_ENOUGH_FREE_MEMORY", i(sf.need), i(max(0, sf.free)))
    if d.halted_need:
        # FORMATS.md rule 4: some enabled, live host of the source pool could start the VM
        frees = [
            led.free(("mem", h.uuid)) or 0
            for h in inv.hosts_in_pool.get(vm.pool, [])
            if h.enabled and st.live.get(h.uuid, True)
        ]
        best = max(frees, default=0)
        if best < d.halted_need:
            raise XapiError("HOST_NOT_ENOUGH_FREE_MEMORY", i(d.halted_need), i(max(0, best)))
    if short:
        raise XapiError(*SPACE_ERROR)
    return vm_memory(vm, False) if any(k[0] == "mem" for k, _ in d.start) else 0  # type: ignore[index]  # ledger keys are Hashable; this account's are str tuples


def admission(
    st: SimState,
    inv: Inventory,
    vm: VM,
    kind: str,
    host: Host | None,
    to_pool: str,
    disk_to_sr: Mapping[str, str],
) -> tuple[Account, Demand]:
    """The ledger of `inv` (a view of the pools involved) with the memory and SR bytes
    the migrations in flight hold, and what this migration would take from it."""
    acc = Account.of(inv, XAPI_VIEW, slots=False)
    used = acc.ledger.used
    for h, b in st.incoming.items():
        if ("mem", h) in acc.ledger.cap:
            used[("mem", h)] = used.get(("mem", h), 0) + b
    for sr, b in st.sr_reserved.items():
        if ("sr", sr) in acc.ledger.cap:
            used[("sr", sr)] = used.get(("sr", sr), 0) + b
    at = {d.uuid: d.sr for d in vm.disks}
    disks = [DiskMove(v, at[v], s) for v, s in disk_to_sr.items() if v in at]
    sv = vm.suspend_vdi
    if sv is not None and vm.power_state == "Suspended":
        # the suspend image goes where the call sends it (api._send_args: vdi_map, else
        # XAPI's fallback) or stays: a disks entry for it tells the ledger which
        disks.append(DiskMove(sv.uuid, sv.sr, disk_to_sr.get(sv.uuid, sv.sr)))
    m = PlanMigration(
        id="-",
        vm=vm.uuid,
        kind=kind,
        from_host=vm.host if vm.is_running else None,
        to_host=host.uuid if host is not None else None,
        from_pool=vm.pool,
        to_pool=to_pool,
        disks=tuple(disks),
    )
    return acc, acc.demand(m)


def _sr_needs(
    st: SimState,
    inv: Inventory,
    vm: VM,
    kind: str,
    host: Host | None,
    to_pool: str,
    disk_to_sr: Mapping[str, str],
) -> dict[str, int]:
    """Bytes each SR holds while the disks copy (3x on target, 2x on source; the
    ledger's start delta)."""
    _, d = admission(st, inv, vm, kind, host, to_pool, disk_to_sr)
    need: dict[str, int] = defaultdict(int)
    for k, n in d.start:
        if k[0] == "sr" and n > 0:  # type: ignore[index]  # ledger keys are Hashable; this account's are str tuples
            need[k[1]] += n  # type: ignore[index]  # ledger keys are Hashable; this account's are str tuples
    return dict(need)


def _moves(
    inv: Inventory, vm: VM, to_host: str | None, to_pool: str, disk_to_sr: Mapping[str, str]
) -> list[Moved]:
    """The VDIs that change SR: `rules.storage.vdi_moves`, with the suspend image going
    where `disk_to_sr` maps it (the call's vdi_map, or XAPI's fallback) when it is there."""
    sv = vm.suspend_vdi
    out = [
        x
        for x in vdi_moves(inv, vm, to_host, to_pool, disk_to_sr)
        if sv is None or x[0].uuid != sv.uuid
    ]
    if sv is not None and vm.power_state == "Suspended" and disk_to_sr.get(sv.uuid, sv.sr) != sv.sr:
        out.append((sv, sv.sr, disk_to_sr[sv.uuid]))
    return out


def bad_power_state(st: SimState, vm: VM, expected: str) -> XapiError:
    return XapiError("VM_BAD_POWER_STATE", _vm_ref(st, vm), expected, vm.power_state.lower())


# ---------------------------------------------------------------- running migrations


def begin(
    st: SimState,
    session_pool: str,
    vm: VM,
    kind: str,
    host: Host | None,
    to_pool: str,
    disk_to_sr: dict[str, str],
    vif_to_net: dict[str, str],
    memory: int,
    name: str,
    result: str,
) -> Migration:
    """Start an accepted migration: task, reservations, the timer for its end."""
    inv = st.pool_view(vm.pool, to_pool)
    dest = host.uuid if host is not None else None
    moving = _moves(inv, vm, dest, to_pool, disk_to_sr)
    moved = {x[0].uuid for x in moving}
    est = DEFAULT_MODEL.estimate(inv, vm, kind, moved)
    wall = est / st.speed
    task = st.new_task(session_pool, name, wall)
    to_host = host.uuid if host is not None and vm.is_running else None
    m = Migration(
        task=task,
        vm=vm.uuid,
        kind=kind,
        from_host=vm.host if vm.is_running else None,
        to_host=to_host,
        from_pool=vm.pool,
        to_pool=to_pool,
        dest_host=host.uuid if host is not None else None,
        disk_to_sr={d: s for d, s in disk_to_sr.items() if d in moved},
        vif_to_net=vif_to_net,
        memory=memory,
        result=result,
    )
    if to_host is not None and memory:
        st.incoming[to_host] = st.incoming.get(to_host, 0) + memory
    for sr_uuid, need in _sr_needs(st, inv, vm, kind, host, to_pool, m.disk_to_sr).items():
        st.sr_reserved[sr_uuid] = st.sr_reserved.get(sr_uuid, 0) + need
        m.sr_holds.append((sr_uuid, need))
    st.in_flight[task] = m
    st.busy[vm.uuid] = task
    n = sum(1 for x in st.in_flight.values() if x.from_pool == vm.pool)
    st.max_conc[vm.pool] = max(st.max_conc.get(vm.pool, 0), n)
    vref = st.ref_of[vm.uuid]
    op = "pool_migrate" if kind == "live" else "migrate_send"
    st.update(
        vref,
        current_operations={task: op},
        scheduled_to_be_resident_on=st.ref_of[to_host] if to_host else NULL_REF,
    )
    m.entry = st.audit_start(_entry(st, m, "pending"))
    st.tasks[task].cancel = lambda: end(st, m, XapiError("TASK_CANCELLED", task))
    code = st.faults.take_vm_fault(vm.uuid)
    if code is None and st.fail_rate > 0 and st.rng.random() < st.fail_rate:
        code = "VM_MIGRATE_FAILED"
    if code == "STALL":
        st.tasks[task].stalled = True
    elif code is not None:
        err = _fault_error(st, m, code)
        m.timer = st.clock.schedule(wall / 2, lambda: end(st, m, err))
    else:
        m.timer = st.clock.schedule(wall, lambda: end(st, m, None))
    return m


def _fault_error(st: SimState, m: Migration, code: str) -> XapiError:
    vref = st.ref_of[m.vm]
    if code == "VM_MIGRATE_FAILED":
        src = st.ref_of.get(m.from_host or "", NULL_REF)
        dst = st.ref_of.get(m.dest_host or "", NULL_REF)
        return XapiError(code, vref, src, dst, "injected fault: migration stream broken")
    if code == "MIRROR_FAILED" and m.disk_to_sr:
        return XapiError(code, st.ref_of[next(iter(m.disk_to_sr))])
    return XapiError(code, vref)


def refuse(
    st: SimState, vm: VM, kind: str, to_host: str | None, to_pool: str, err: XapiError
) -> None:
    """Record a refused attempt in the audit (start == end)."""
    now = round(st.sim_now(), 3)
    st.audit_refused(
        {
            "vm": vm.uuid,
            "kind": kind,
            "from_host": vm.host if vm.is_running else None,
            "to_host": to_host,
            "from_pool": vm.pool,
            "to_pool": to_pool,
            "start": now,
            "end": now,
            "result": err.code,
            "task": None,
            "network": None,
        }
    )


def _entry(st: SimState, m: Migration, result: str) -> dict[str, Any]:
    return {
        "vm": m.vm,
        "kind": m.kind,
        "from_host": m.from_host,
        "to_host": m.to_host,
        "from_pool": m.from_pool,
        "to_pool": m.to_pool,
        "start": round(st.sim_now(), 3),
        "end": None,
        "result": result,
        "task": m.task,
        "network": None,
    }


def end(st: SimState, m: Migration, error: XapiError | None) -> None:
    """Finish a migration: apply it (success) or leave the VM where it was; free holds."""
    if st.in_flight.get(m.task) is not m:
        return
    if m.timer is not None:
        st.clock.cancel(m.timer)
    del st.in_flight[m.task]
    st.busy.pop(m.vm, None)
    if m.to_host is not None and m.memory:
        st.incoming[m.to_host] -= m.memory
    for sr_uuid, need in m.sr_holds:
        st.sr_reserved[sr_uuid] -= need
    vref = st.ref_of[m.vm]
    st.update(vref, current_operations={}, scheduled_to_be_resident_on=NULL_REF)
    if error is None:
        apply_migration(st, m)
    st.changed(m.from_pool, m.to_pool)
    if error is None:
        _affinity_warning(st, m)
    st.refresh_memory_free([h for h in (m.from_host, m.to_host) if h])
    st.audit_end(m.entry, "success" if error is None else error.code)
    st.finish_task(m.task, m.result if error is None else "", error)


def fail_migrations_on_host(st: SimState, host_uuid: str) -> None:
    for m in list(st.in_flight.values()):
        if host_uuid in (m.from_host, m.to_host, m.dest_host):
            end(st, m, XapiError("HOST_OFFLINE", st.ref_of[host_uuid]))


def _affinity_warning(st: SimState, m: Migration) -> None:
    """XAPI does not refuse a migration that puts two members of an anti-affinity group
    on one host (its placement only avoids it; xapi_vm_migrate.ml updates the group's
    breach alert afterwards): the simulator accepts it too, and logs a warning and keeps
    it in `st.affinity_warnings` so a rehearsal shows it."""
    if m.to_host is None or m.from_pool != m.to_pool:
        return  # a VM that changed pool has left its (pool-local) groups
    inv = st.pool_view(m.to_pool)
    vm = inv.vm_by_uuid.get(m.vm)
    if vm is None:
        return
    hosts_of = {v.uuid: v.host if v.power_state == "Running" else None for v in inv.vms}
    for r in anti_affinity_reasons(inv, vm, m.to_host, hosts_of):
        st.affinity_warnings.append(r.message)
        log.warning("ANTI_AFFINITY %s", r.message)


def wait(st: SimState, task: str) -> None:
    """Block (call without the lock) until `task` has finished; raise its error if it failed."""
    st.tasks[task].done.wait()
    with st.lock:
        rec = st.db.maybe(task)
        if rec is not None and rec["status"] != "success":
            raise XapiError(*rec["error_info"])
