"""`explain`: for one VM, every candidate target with the reasons it is or is not one.

The figures are those of the inventory now, before any migration: free memory on each
host (capacity after overhead and headroom, minus the running VMs' memory) and free
space on each SR (size minus used). The same rule functions as the checker's decide.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.errors import LookupFailed
from planner.inventory.model import SR, VM, Host, Inventory
from planner.options import PlanOptions
from planner.plan import Reason
from planner.rules import codes, exclusion_reasons, target_reasons
from planner.rules.affinity import anti_affinity_reasons, current_hosts
from planner.rules.exclusions import STORAGE_KINDS
from planner.rules.memory import free_memory, memory_reasons, vm_memory
from planner.rules.network import map_vifs
from planner.rules.reasons import EXCLUSION_CODES
from planner.rules.storage import (
    amounts,
    gib,
    reserve_on_source,
    reserve_on_target,
    sr_space_reasons,
)
from planner.terminal import SafeConsole


@dataclass(frozen=True)
class Exclusion:
    """A property of the VM that forbids migrations of some kinds, and its remedy."""

    code: str
    message: str
    remedy: str
    kinds: tuple[str, ...]  # the migration kinds it blocks


@dataclass(frozen=True)
class Candidate:
    """One possible target: a host, an SR, or both, with the migration kind it needs.

    `reasons` is empty when the target is eligible now. `free_memory_bytes` is the
    host's free memory now (None without a host); `free_sr_bytes` the SR's free space.
    """

    kind: str
    host: str | None
    sr: str | None
    reasons: tuple[Reason, ...]
    free_memory_bytes: int | None
    free_sr_bytes: int | None

    @property
    def eligible(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class VifRow:
    """How a VIF maps into the target pool (cross-pool only); `to_network` None: unmapped."""

    device: str
    network: str
    to_network: str | None


@dataclass(frozen=True)
class Explanation:
    vm: VM
    to_pool: str
    to_host: str | None
    exclusions: tuple[Exclusion, ...]
    candidates: tuple[Candidate, ...]
    vifs: tuple[VifRow, ...]
    options: PlanOptions

    @property
    def eligible(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.eligible)


def _resolve_to(inv: Inventory, vm: VM, to: str | None) -> tuple[str, str | None]:
    if to is None:
        return vm.pool, None
    try:
        host = inv.find("host", to)
        return inv.host_by_uuid[host].pool, host
    except LookupFailed as host_err:
        try:
            return inv.find("pool", to), None
        except LookupFailed:
            raise LookupFailed(f"--to: {host_err.message} (nor a pool)") from None


def explain(
    inv: Inventory, vm_ref: str, to: str | None = None, options: PlanOptions | None = None
) -> Explanation:
    """Why `vm_ref` (name or uuid) can or cannot go to each candidate.

    Without `to`: every other host of its pool (running VM, live migration; storage
    migration rows too for a host that lacks one of its SRs) or every other SR of its
    pool (halted or suspended VM). `to` a host: that host only. `to` another pool: a
    cross-pool migration to each (host, SR) of that pool the host can see, with the VIF
    mapping. Raises `LookupFailed` for an unknown VM or target.
    """
    options = options or PlanOptions()
    vm = inv.vm_by_uuid[inv.find("vm", vm_ref)]
    to_pool, to_host = _resolve_to(inv, vm, to)
    cross = to_pool != vm.pool
    mem = free_memory(inv, options)
    every = ("live", "storage", "move")
    exclusions = tuple(
        Exclusion(
            r.code,
            r.message,
            codes.REMEDY.get(r.code, ""),
            STORAGE_KINDS if r.code in (codes.CBT, codes.MCS) else every,
        )
        for r in exclusion_reasons(inv, vm, "storage")
    )
    halted = _halted_reasons(inv, vm, mem)
    if vm.power_state != "Halted":
        # Running and Paused VMs, and (v2) Suspended ones: a storage migration of a
        # Suspended VM names its destination host too
        hosts = [inv.host_by_uuid[to_host]] if to_host else inv.hosts_in_pool.get(to_pool, [])
        rows = _host_rows(inv, vm, hosts, to_pool, to_host, options, mem, halted)
    else:
        rows = _sr_rows(inv, vm, to_pool, to_host, options, mem, halted)
    vifs: tuple[VifRow, ...] = ()
    if cross:
        mapped, _ = map_vifs(inv, vm, to_pool, options.network_map)
        to_net = {v.device: v.to_network for v in mapped}
        vifs = tuple(VifRow(x.device, x.network, to_net.get(x.device)) for x in vm.vifs)
    return Explanation(vm, to_pool, to_host, exclusions, tuple(rows), vifs, options)


def _with(row: Candidate, halted: tuple[Reason, ...]) -> Candidate:
    """`row` with the halted-VM reasons added (they hold whatever the target)."""
    if not halted:
        return row
    return Candidate(
        row.kind, row.host, row.sr, row.reasons + halted, row.free_memory_bytes, row.free_sr_bytes
    )


def _host_rows(
    inv: Inventory,
    vm: VM,
    hosts: list[Host],
    to_pool: str,
    to_host: str | None,
    options: PlanOptions,
    mem: dict[str, int],
    halted: tuple[Reason, ...],
) -> list[Candidate]:
    """A VM with a host (running, paused, suspended): per target host, the live row, and
    storage rows per SR it sees when it goes cross-pool or live is blocked by storage."""
    cross = to_pool != vm.pool
    rows: list[Candidate] = []
    for h in hosts:
        if h.uuid == vm.host and to_host is None:
            continue
        live = None
        if not cross and vm.is_running:
            live = _row(inv, vm, "live", h, None, options, mem)
            rows.append(live)
        if cross or live is None or any(r.code == codes.SR_NOT_ATTACHED for r in live.reasons):
            for sr in _srs_seen_by(inv, to_pool, h):
                if not cross and not vm.is_running and {d.sr for d in vm.disks} == {sr.uuid}:
                    continue  # nothing would move
                rows.append(_with(_row(inv, vm, "storage", h, sr, options, mem), halted))
    return rows


def _sr_rows(
    inv: Inventory,
    vm: VM,
    to_pool: str,
    to_host: str | None,
    options: PlanOptions,
    mem: dict[str, int],
    halted: tuple[Reason, ...],
) -> list[Candidate]:
    """A halted VM: a disk-move row per SR of the target pool (that `to_host` sees)."""
    cross = to_pool != vm.pool
    kind = "move" if vm.power_state == "Halted" else "storage"
    on = {d.sr for d in vm.disks}
    rows: list[Candidate] = []
    for sr in inv.srs_in_pool.get(to_pool, []):
        if not cross and on == {sr.uuid}:
            continue
        host = inv.host_by_uuid[to_host] if to_host else None
        if host is not None and host.uuid not in sr.hosts:
            continue
        rows.append(_with(_row(inv, vm, kind, host, sr, options, mem), halted))
    return rows


def _srs_seen_by(inv: Inventory, pool: str, host: Host) -> list[SR]:
    srs = inv.srs_in_pool.get(pool, [])
    seen = [s for s in srs if host.uuid in s.hosts]
    return seen or srs  # none attached: show them all, each with SR_NOT_ATTACHED


def _halted_reasons(inv: Inventory, vm: VM, mem: dict[str, int]) -> tuple[Reason, ...]:
    """Rule 4 now: a halted or suspended VM's disks move only while a host could start it."""
    if vm.is_running:
        return ()
    best = max((mem[h.uuid] for h in inv.hosts_in_pool.get(vm.pool, []) if h.enabled), default=0)
    if best >= vm.memory_bytes:
        return ()
    need_s, free_s = amounts(vm.memory_bytes, max(best, 0))
    return (
        Reason(
            codes.HALTED_MEMORY,
            f"no enabled host of pool {inv.label(vm.pool)} has {need_s} free to start "
            f"{vm.name}; the most free is {free_s}",
        ),
    )


def _row(
    inv: Inventory,
    vm: VM,
    kind: str,
    host: Host | None,
    sr: SR | None,
    options: PlanOptions,
    mem: dict[str, int],
) -> Candidate:
    to_pool = host.pool if host is not None else sr.pool if sr is not None else vm.pool
    moving = {d.uuid: sr.uuid for d in vm.disks if d.sr != sr.uuid} if sr is not None else {}
    if kind == "storage" and not moving and to_pool == vm.pool:
        kind = "live"  # every disk is already there: nothing to copy
    reasons = target_reasons(inv, vm, kind, host.uuid if host else None, to_pool, moving, options)
    free_mem = None
    if host is not None:
        free_mem = mem[host.uuid]
        if vm.is_running and host.uuid != vm.host:
            reasons += memory_reasons(vm, host, vm_memory(vm, options.dmc), free_mem)
        if options.anti_affinity == "strict" and vm.power_state != "Halted":
            # (v2) another member of the VM's anti-affinity group runs there now
            reasons += anti_affinity_reasons(inv, vm, host.uuid, current_hosts(inv))
    free_sr = None
    if sr is not None:
        free_sr = sr.size_bytes - sr.used_bytes
        disks = {d.uuid: d for d in vm.disks}
        need: dict[str, int] = {}
        for vdi, to_sr in moving.items():
            need[to_sr] = need.get(to_sr, 0) + reserve_on_target(disks[vdi])
            src = disks[vdi].sr
            need[src] = need.get(src, 0) + reserve_on_source(disks[vdi])
        for sr_uuid, n in need.items():
            s = inv.sr_by_uuid[sr_uuid]
            reasons += sr_space_reasons(s, n, s.size_bytes - s.used_bytes)
    return Candidate(
        kind,
        host.uuid if host else None,
        sr.uuid if sr else None,
        tuple(reasons),
        free_mem,
        free_sr,
    )


def render(inv: Inventory, e: Explanation, console: object | None = None) -> None:
    """Print an explanation with rich: exclusions and remedies first, then the table."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = console if isinstance(console, Console) else SafeConsole(highlight=False)
    label = inv.label
    vm = e.vm
    where = f"on {label(vm.host)}" if vm.host else "not running"
    out.print(
        f"[bold]{escape(vm.name)}[/bold] ({vm.power_state}, {escape(where)}, pool "
        f"{escape(label(vm.pool))}, {gib(vm.memory_bytes)})"
    )
    for x in e.exclusions:
        blocks = "every migration" if len(x.kinds) == 3 else "storage moves"
        out.print(f"[red]{x.code}[/red] (blocks {blocks}): {escape(x.message)}")
        if x.remedy:
            out.print(f"  remedy: {escape(x.remedy)}")
    if e.vifs:
        maps = ", ".join(
            f"{v.device}: {label(v.network)} -> "
            f"{label(v.to_network) if v.to_network else 'UNMAPPED'}"
            for v in e.vifs
        )
        out.print(escape(f"VIF mapping into pool {label(e.to_pool)}: {maps}"))
    table = Table()
    for col in ("kind", "host", "SR", "free memory", "free SR space", "verdict"):
        table.add_column(col)
    for c in e.candidates:
        if c.eligible:
            verdict = "[green]eligible[/green]"
        else:
            parts = [
                r.code if r.code in EXCLUSION_CODES else f"{r.code}: {r.message}" for r in c.reasons
            ]
            verdict = escape("; ".join(dict.fromkeys(parts)))
        table.add_row(
            c.kind,
            escape(label(c.host)),
            escape(label(c.sr)),
            gib(c.free_memory_bytes) if c.free_memory_bytes is not None else "-",
            gib(c.free_sr_bytes) if c.free_sr_bytes is not None else "-",
            verdict,
        )
    if e.candidates:
        out.print(table)
    else:
        out.print("no candidate targets (the pool has no other host or SR)")
    n, total = len(e.eligible), len(e.candidates)
    out.print(f"{n} of {total} candidate{'s' if total != 1 else ''} eligible now")
