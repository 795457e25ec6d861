"""Step-aside candidates (docs/solving.md "Step-aside moves", step 1): which VMs block a
stuck VM and the statically valid moves that would make room for it, plus `apply`, the
inventory once such a move has run. planner.stepaside tries them and composes the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from planner.durations import DurationModel
from planner.goals import Goal, MovePool, Position, must_move, satisfied
from planner.inventory.model import VM, Inventory
from planner.moves import DiskMove, Migration
from planner.options import PlanOptions
from planner.rules import expected_kind, target_reasons
from planner.rules.memory import free_memory, vm_memory
from planner.rules.storage import reserve_on_target

STUCK_PER_ROUND = 4  # stuck VMs whose blockers are looked for in one round
PER_BLOCKER = 3  # relocations of one blocker (roomiest hosts first)
MAX_CANDIDATES = 200  # relocations collected per stuck VM before the cheapest are tried


@dataclass(frozen=True)
class Relocation:
    """One step-aside: `migration` (of a blocker, or of `for_vm`'s own disk), made so
    that `for_vm` fits."""

    migration: Migration
    for_vm: str

    @property
    def vm(self) -> str:
        return self.migration.vm


def _relocations(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions,
    stuck: list[str],
    parked: set[str],
    durations: DurationModel,
    moved: set[str],
    prefix: str,
) -> Iterator[Relocation]:
    """Statically valid step-asides of blockers of stuck VMs (module docstring, step 1),
    each blocker and target once. A VM the plan leaves unplaced (`parked`) stays where
    the goal does not hold anyway, so it may step aside too. Bounded for large fleets:
    the first `STUCK_PER_ROUND` stuck VMs, at most `PER_BLOCKER` moves of a blocker
    (roomiest hosts first), `MAX_CANDIDATES` in all."""
    free = free_memory(inv, options)
    on_sr: dict[str, list[VM]] = {}
    for v in inv.vms:
        for sr in {d.sr for d in v.disks}:
            on_sr.setdefault(sr, []).append(v)
    seen: set[tuple[str, str | None, tuple[tuple[str, str], ...]]] = set()
    n = 0
    for u in stuck[:STUCK_PER_ROUND]:
        vm = inv.vm_by_uuid[u]
        hosts, srs, near = _near(inv, goal, vm, on_sr)
        found: list[Migration] = []
        for b in near.values():
            if (
                b.uuid == u
                or b.uuid in moved
                or not (b.uuid in parked or not must_move(goal, inv, b))
            ):
                continue
            moves = _moves_of(
                inv, goal, options, b, hosts, srs, free, durations, keep_goal=b.uuid not in parked
            )
            found += moves[:PER_BLOCKER]
            if len(found) >= MAX_CANDIDATES:
                break
        found += _own_disks(inv, options, vm, durations)
        for m in found:
            key = (m.vm, m.to_host, tuple((d.vdi, d.to_sr) for d in m.disks))
            if key in seen:
                continue
            seen.add(key)
            n += 1
            yield Relocation(replace(m, id=f"{prefix}{n}"), u)


def _near(
    inv: Inventory,
    goal: Goal,
    vm: VM,
    on_sr: dict[str, list[VM]],
) -> tuple[set[str], set[str], dict[str, VM]]:
    """Where stuck `vm` could go (enabled hosts and SRs of its target pools, and for a VM
    not running an enabled host of its own pool) and the VMs there: its possible
    blockers, by uuid, hosts' VMs first."""
    pools = (
        goal.to_pools if isinstance(goal, MovePool) and vm.pool in goal.from_pools else (vm.pool,)
    )
    hosts = {h.uuid for p in pools for h in inv.hosts_in_pool.get(p, []) if h.enabled}
    if not vm.is_running:  # rule 4: a host of its own pool to start it on
        hosts |= {h.uuid for h in inv.hosts_in_pool.get(vm.pool, []) if h.enabled}
    srs = {s.uuid for p in pools for s in inv.srs_in_pool.get(p, [])}
    near = {b.uuid: b for h in sorted(hosts) for b in inv.vms_on_host.get(h, [])}
    near.update({b.uuid: b for s in sorted(srs) for b in on_sr.get(s, [])})
    return hosts, srs, near


def _own_disks(
    inv: Inventory, options: PlanOptions, vm: VM, durations: DurationModel
) -> list[Migration]:
    """A stuck VM with several disks may move one of them first, within its pool (an SR
    that cannot hold the 2x source reservation of all its disks at once can of one):
    each single-disk move to another SR of its pool that passes the static rules and
    has 3x the disk free now. The VM moves again later: the move is "temporary"."""
    if len(vm.disks) < 2:
        return []
    out = []
    kind = expected_kind(vm, vm.pool, True)
    hosts: list[str | None] = [vm.host] if vm.is_running else [None]
    if vm.power_state == "Suspended":  # XAPI's migrate_send names a host
        hosts += [h.uuid for h in inv.hosts_in_pool.get(vm.pool, [])]
    for d in vm.disks:
        for s in inv.srs_in_pool.get(vm.pool, []):
            if s.uuid == d.sr or s.size_bytes - s.used_bytes < reserve_on_target(d):
                continue
            for h in hosts:
                if not target_reasons(inv, vm, kind, h, vm.pool, {d.uuid: s.uuid}, options):
                    out.append(_migration(inv, vm, kind, h, {d.uuid: s.uuid}, durations))
                    break
    return out


def _moves_of(
    inv: Inventory,
    goal: Goal,
    options: PlanOptions,
    b: VM,
    hosts: set[str],
    srs: set[str],
    free: dict[str, int],
    durations: DurationModel,
    *,
    keep_goal: bool = True,
) -> list[Migration]:
    """Moves of blocker `b` off a host in `hosts` (live) or off an SR in `srs` (its disks
    there, to one other SR of its pool) that pass the static rules and fit now (memory
    on the new host, 3x on the new SR). Those that keep the goal for `b` come first; a
    move that breaks it (onto an evacuated host or a retired SR) has `reason`
    "temporary": the re-solve then moves `b` on, "possibly back later" (unless
    `keep_goal` is false: a VM left unplaced stays outside the goal anyway)."""
    out: list[tuple[bool, Migration]] = []

    def add(host: str | None, targets: dict[str, str], m: Migration) -> None:
        keeps = not keep_goal or _keeps_goal(inv, goal, b, host, targets)
        out.append((not keeps, m if keeps else replace(m, reason="temporary")))

    if b.is_running and b.host in hosts:
        need = vm_memory(b, options.dmc)
        for h in sorted(inv.hosts_in_pool.get(b.pool, []), key=lambda h: -free[h.uuid]):
            if h.uuid == b.host or free[h.uuid] < need:
                continue
            if not target_reasons(inv, b, "live", h.uuid, b.pool, {}, options):
                add(h.uuid, {}, _migration(inv, b, "live", h.uuid, {}, durations))
    on = [d for d in b.disks if d.sr in srs]
    for sr in sorted({d.sr for d in on}):
        disks = [d for d in on if d.sr == sr]
        for s in inv.srs_in_pool.get(b.pool, []):
            if s.uuid == sr:
                continue
            room = s.size_bytes - s.used_bytes
            if room < sum(reserve_on_target(d) for d in disks):
                continue
            targets = {d.uuid: s.uuid for d in disks}
            kind = expected_kind(b, b.pool, True)
            hosts_: list[str | None] = [b.host] if b.is_running else [None]
            if b.power_state == "Suspended":  # XAPI's migrate_send names a host
                hosts_ += [h.uuid for h in inv.hosts_in_pool.get(b.pool, [])]
            for at in hosts_:  # a host uuid, or None (not `h`: a Host above)
                if not target_reasons(inv, b, kind, at, b.pool, targets, options):
                    add(
                        b.host if b.is_running else None,
                        targets,
                        _migration(inv, b, kind, at, targets, durations),
                    )
                    break
    return [m for _, m in sorted(out, key=lambda x: x[0])]


def _keeps_goal(
    inv: Inventory, goal: Goal, vm: VM, host: str | None, targets: dict[str, str]
) -> bool:
    where = Position(host, vm.pool, {d.uuid: targets.get(d.uuid, d.sr) for d in vm.disks})
    return satisfied(goal, inv, vm, where)


def _migration(
    inv: Inventory,
    vm: VM,
    kind: str,
    to_host: str | None,
    targets: dict[str, str],
    durations: DurationModel,
) -> Migration:
    disks = (
        ()
        if kind == "live"
        else tuple(DiskMove(d.uuid, d.sr, targets.get(d.uuid, d.sr)) for d in vm.disks)
    )
    return Migration(
        id="s",
        vm=vm.uuid,
        kind=kind,
        from_host=vm.host if vm.is_running else None,
        to_host=to_host,
        from_pool=vm.pool,
        to_pool=vm.pool,
        disks=disks,
        est_seconds=durations.estimate(inv, vm, kind, set(targets)),
    )


def apply(inv: Inventory, m: Migration) -> Inventory:
    """The inventory once `m` (a move within the VM's pool) has run: the VM on its new
    host, its disks on their new SRs, the SRs' used bytes moved with them."""
    vm = inv.vm_by_uuid[m.vm]
    to_sr = {d.vdi: d.to_sr for d in m.disks}
    delta: dict[str, int] = {}
    disks = []
    for d in vm.disks:
        s = to_sr.get(d.uuid, d.sr)
        if s != d.sr:
            b = d.used_bytes + d.snapshot_used_bytes
            delta[d.sr] = delta.get(d.sr, 0) - b
            delta[s] = delta.get(s, 0) + b
            d = replace(d, sr=s)
        disks.append(d)
    host = m.to_host if vm.is_running and m.to_host else vm.host
    new_vm = replace(vm, host=host, disks=tuple(disks))
    vms = tuple(new_vm if v.uuid == vm.uuid else v for v in inv.vms)
    srs = tuple(
        replace(s, used_bytes=s.used_bytes + delta[s.uuid]) if s.uuid in delta else s
        for s in inv.srs
    )
    return replace(inv, vms=vms, srs=srs, digest=None)
