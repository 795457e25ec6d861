"""The problem builder's first stage: which VMs move, how, and where they may go.

For every VM the goal moves: the disks that move, the kind of migration, and its
candidate targets (host, SR, pool) that pass every static rule, evaluated once per VM
"signature" (planner/problem.py's module docstring); a VM with none, or excluded from
migrating, gets its reasons instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.goals import Evacuate, Goal, MovePool, Position, RetireSR, must_move, satisfied
from planner.inventory.model import VM, Inventory
from planner.moves import Reason, Unplaced
from planner.options import PlanOptions
from planner.rules import codes, expected_kind, target_reasons
from planner.rules.affinity import anti_affinity_reasons, anti_groups, current_hosts, member_hosts
from planner.rules.exclusions import exclusion_reasons
from planner.rules.memory import host_capacity, vm_memory
from planner.rules.version import source_version


@dataclass
class Job:
    vm: VM
    kind: str
    moved: tuple[str, ...]
    cands: list[tuple[int, int, int]]  # (host, sr, pool) indexes


def jobs_of(
    inv: Inventory,
    goal: Evacuate | MovePool | RetireSR,
    options: PlanOptions,
    host_ix: dict[str, int],
    sr_ix: dict[str, int],
    pool_ix: dict[str, int],
) -> tuple[list[Job], list[Unplaced], dict[str, int]]:
    """A job per VM the goal moves that has candidates; every other VM that must move
    unplaced with its reasons; and the cache figures (`Problem.stats`)."""
    jobs: list[Job] = []
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
            cands, calls = _candidates(
                inv, goal, vm, kind, moved, pools, options, host_ix, sr_ix, pool_ix
            )
            rule_calls += calls
            cache[sig] = cands
        if not cands:
            unplaced.append(Unplaced(vm.uuid, _why_not(inv, goal, vm, kind, moved, pools, options)))
            continue
        jobs.append(Job(vm, kind, moved, cands))
    return jobs, unplaced, {"signatures": len(cache), "rule_calls": rule_calls}


def _moved_disks(
    inv: Inventory, goal: Evacuate | MovePool | RetireSR, vm: VM, options: PlanOptions | None = None
) -> tuple[str, ...]:
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


def _storage_fallback(
    inv: Inventory, goal: Evacuate, vm: VM, options: PlanOptions
) -> tuple[str, ...]:
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
    return tuple(
        d.uuid for d in vm.disks if any(h.uuid not in inv.sr_by_uuid[d.sr].hosts for h in enabled)
    )


def _target_pools(goal: Goal, vm: VM) -> tuple[str, ...]:
    return goal.to_pools if isinstance(goal, MovePool) else (vm.pool,)


def _signature(inv: Inventory, goal: Goal, vm: VM, kind: str, moved: tuple[str, ...]) -> tuple:
    """Everything `target_reasons` and the goal read about a VM, except its identity."""
    stay = tuple(sorted(d.sr for d in vm.disks if d.uuid not in moved))
    host = vm.host if isinstance(goal, RetireSR | Evacuate) else None
    return (
        kind,
        vm.pool,
        vm.power_state,
        source_version(inv, vm),
        vm.cpu_vendor,
        vm.cpu_features,
        tuple(sorted({v.network for v in vm.vifs})),
        stay,
        bool(moved),
        host,
        anti_groups(inv, vm),
    )


def _staying_members(inv: Inventory, goal: Goal, vm: VM) -> dict[str, str | None]:
    """VM uuid -> host of the other members of `vm`'s anti-affinity groups that run and do
    not move for `goal`: they hold their host for the whole campaign."""
    out: dict[str, str | None] = {}
    for host, members in member_hosts(inv, vm, current_hosts(inv)).items():
        for u in members:
            if not must_move(goal, inv, inv.vm_by_uuid[u]):
                out[u] = host
    return out


def _affinity_reasons(
    inv: Inventory, goal: Goal, vm: VM, host: str | None, options: PlanOptions
) -> list[Reason]:
    """Strict anti-affinity, statically: `host` holds a member that stays (FORMATS.md rule
    8, v2). Members that move too are the solver's to keep apart (`Problem.job_groups`)."""
    if options.anti_affinity != "strict" or host is None or not vm.groups:
        return []
    return anti_affinity_reasons(inv, vm, host, _staying_members(inv, goal, vm))


def _options_for(
    inv: Inventory, goal: Goal, vm: VM, moved: tuple[str, ...], pools: tuple[str, ...]
) -> list[tuple[str | None, str | None, str]]:
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
                where = Position(
                    h, pool, {d.uuid: (s if d.uuid in moved and s else d.sr) for d in vm.disks}
                )
                if satisfied(goal, inv, vm, where):
                    out.append((h, s, pool))
    return out


def _candidates(
    inv: Inventory,
    goal: Goal,
    vm: VM,
    kind: str,
    moved: tuple[str, ...],
    pools: tuple[str, ...],
    options: PlanOptions,
    host_ix: dict[str, int],
    sr_ix: dict[str, int],
    pool_ix: dict[str, int],
) -> tuple[list[tuple[int, int, int]], int]:
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


def _why_not(
    inv: Inventory,
    goal: Goal,
    vm: VM,
    kind: str,
    moved: tuple[str, ...],
    pools: tuple[str, ...],
    options: PlanOptions,
) -> tuple[Reason, ...]:
    """Every reason that stops every target, deduplicated by code (first message kept)."""
    options_ = _options_for(inv, goal, vm, moved, pools)
    if not options_:
        what = ", ".join(inv.label(p) for p in pools)
        return (
            Reason(codes.NO_TARGET, f"no host or SR of pool {what} meets the goal for {vm.name}"),
        )
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
