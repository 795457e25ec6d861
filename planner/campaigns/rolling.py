"""The rolling pool upgrade (docs/solving.md "Rolling upgrade").

Each host of the pool in turn is disabled, evacuated, upgraded and re-enabled; the master
goes first (XenServer requires it). A running VM on shared storage leaves by a live
migration; one with disks on an SR that only the evacuated host sees (its local SR)
leaves by a storage live migration of those disks to another host of the pool and an SR
that host sees, exactly as the evacuate goal decides (planner/problem.py), with the SR
space reservations of planner/rules/storage.py (3x on the target SR, 2x on the source SR,
for the wave). Halted and Suspended VMs have no resident host and stay where they are.
Once a host is upgraded, VMs on it can only move to upgraded hosts (the VERSION rule),
so the planner:

- sends each evacuated VM to an already-upgraded host when one has room (best fit); else
  to a host that a pinned VM keeps from the upgrade (it is never evacuated); else to the
  not-yet-upgraded host that is upgraded LAST in the order, so the VM is not moved again
  sooner than it must. Disks leaving a local SR go to the SR (of the chosen host) seen by
  the most hosts, then with the most free space, so a later move can be live;
- chooses the host order: every order of the non-master hosts when there are at most
  `EXHAUSTIVE` of them, else a few heuristic orders; the order with the fewest unplaced
  VMs, then fewest migrations, then fewest storage migrations, then fewest seconds wins.
  `--order` fixes it instead.

`naive_plan` is the baseline the tests compare with: the given order (master first, then
inventory order) and each VM to the compatible host with the most free memory.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

from planner.campaigns.common import Sequencer
from planner.errors import InputError
from planner.goals import RollingUpgrade
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan, Reason, Step, Unplaced
from planner.rules import codes, exclusion_reasons
from planner.rules.storage import amounts, reserve_on_source, sr_space_reasons
from planner.rules.version import version_at_least
from planner.status import Status

EXHAUSTIVE = 5  # non-master hosts up to which every order is tried (5! = 120)
SEARCH_SECONDS = 10.0  # wall-clock cap on the order search


def host_order(inv: Inventory, goal: RollingUpgrade) -> list[str]:
    """The operator's order completed: master first, then `goal.order`, then the rest of
    the pool in inventory order. Raises InputError for a host of another pool or a
    master that is not first."""
    hosts = [h.uuid for h in inv.hosts_in_pool.get(goal.pool, [])]
    master = inv.pool_by_uuid[goal.pool].master
    problems = []
    for h in goal.order:
        if h not in hosts:
            problems.append(f"--order: host {inv.label(h)} is not in pool {inv.label(goal.pool)}")
    if goal.order and master in goal.order and goal.order[0] != master:
        problems.append(f"--order: the master {inv.label(master)} must be upgraded first")
    if problems:
        if len(problems) == 1:
            raise InputError(problems[0])
        raise InputError(f"{len(problems)} problems with --order", problems)
    out = [master]
    out += [h for h in goal.order if h != master]
    out += [h for h in hosts if h not in out]
    return out


def _local_disks(seq: Sequencer, uuid: str, host: str) -> dict[str, str]:
    """{vdi: SR} of the disks of `uuid` (where the sequence has them) on SRs that no host
    but `host` sees: they must move for the VM to leave `host` (as the evacuate goal
    decides, planner/problem.py `_moved_disks`)."""
    sr_of = seq.inv.sr_by_uuid
    return {d.uuid: d.sr for d in seq.vm(uuid).disks if set(sr_of[d.sr].hosts) <= {host}}


def _sr_rank(seq: Sequencer, sr: str | None) -> tuple[int, int, str]:
    """Target SRs for disks leaving a local SR: seen by the most hosts first (the VM can
    then move live again, should it have to), then the most free bytes. None (a live
    move) ranks alike for every host."""
    if sr is None:
        return (0, 0, "")
    return (-len(seq.inv.sr_by_uuid[sr].hosts), -seq.sr_free(sr), sr)


def _targets(
    seq: Sequencer,
    uuid: str,
    h: str,
    order: Sequence[str],
) -> tuple[list[tuple[str, str | None]], list[Reason]]:
    """Every (host, target SR or None for a live move) that `uuid` can leave `h` for now
    (rules with the steps so far, memory and SR space once every move so far has ended),
    and the reasons against the others."""
    inv = seq.inv
    need = seq.need(uuid)
    local = _local_disks(seq, uuid, h)
    label = inv.label
    fits: list[tuple[str, str | None]] = []
    why: list[Reason] = []
    if local:
        # the 2x on the source SR does not depend on the target: when it is short, say
        # that alone (a target SR's shortfall would hide the real blocker)
        src: dict[str, int] = {}
        for d in seq.vm(uuid).disks:
            if d.uuid in local:
                src[d.sr] = src.get(d.sr, 0) + reserve_on_source(d)
        for s, b in src.items():
            why += sr_space_reasons(inv.sr_by_uuid[s], b, max(seq.sr_free(s), 0))
        if why:
            return fits, why
    for other in order:
        if other == h:
            continue
        srs: list[str | None] = [None]
        if local:
            # SRs the target host sees (any other SR fails SR_NOT_ATTACHED: not worth a
            # rule call per SR, one reason says it)
            pool_srs = inv.srs_in_pool.get(seq.vm(uuid).pool, [])
            srs = [s.uuid for s in pool_srs if other in s.hosts]
            if not srs:
                why.append(
                    Reason(
                        codes.SR_NOT_ATTACHED, f"no SR of the pool is attached to {label(other)}"
                    )
                )
                continue
        for sr in srs:
            disks = {d: sr for d in local} if sr else {}
            r = seq.reasons(uuid, other, disks)
            if not r and seq.free(other) < need:
                need_s, free_s = amounts(need, max(seq.free(other), 0))
                r = [
                    Reason(
                        codes.NO_CAPACITY,
                        f"{label(other)} has {free_s} free, {label(uuid)} needs {need_s}",
                    )
                ]
            if not r and disks:
                for s, b in seq.storage_needs(uuid, disks).items():
                    r += sr_space_reasons(inv.sr_by_uuid[s], b, max(seq.sr_free(s), 0))
            if r:
                why += r
            else:
                fits.append((other, sr))
    return fits, why


def _why(seq: Sequencer, why: list[Reason], pool: str) -> tuple[Reason, ...]:
    """The reasons worth a line: one per code (the first message), without the
    HOST_DISABLED of hosts that only the campaign itself disabled."""
    own = {
        x.name
        for x in seq.inv.hosts
        if not x.enabled and x.pool == pool and seq.base.host_by_uuid[x.uuid].enabled
    }
    out: dict[str, Reason] = {}
    for r in why:
        if r.code == codes.HOST_DISABLED and any(r.message.startswith(f"{n} ") for n in own):
            continue
        out.setdefault(r.code, r)
    return tuple(out.values()) or (
        Reason(codes.NO_TARGET, f"pool {seq.inv.label(pool)} has no other host for it"),
    )


def _pinned(seq: Sequencer, order: Sequence[str], upgraded: set[str]) -> dict[str, list[Unplaced]]:
    """Per host still to upgrade, its running VMs that no rule lets migrate."""
    inv = seq.inv
    pinned: dict[str, list[Unplaced]] = {}
    for h in order:
        for v in inv.vms_on_host.get(h, []):
            kind = "storage" if _local_disks(seq, v.uuid, h) else "live"
            why = exclusion_reasons(inv, v, kind)
            if why and h not in upgraded:
                pinned.setdefault(h, []).append(Unplaced(v.uuid, _dedupe(why)))
    return pinned


def _evacuate(
    seq: Sequencer,
    h: str,
    order: Sequence[str],
    pool: str,
    upgraded: set[str],
    pinned: dict[str, list[Unplaced]],
    naive: bool,
    unplaced: list[Unplaced],
) -> bool:
    """Move every VM off `h`, largest first, each to its best target now; a VM with none
    goes to `unplaced`. True when some VM is stuck (the moves then serve nothing)."""
    pos = {x: i for i, x in enumerate(order)}
    stuck = False
    for u in sorted(seq.vms_on(h), key=lambda u: (-seq.need(u), u)):
        need = seq.need(u)
        fits, why = _targets(seq, u, h, order)
        if not fits:
            stuck = True
            unplaced.append(Unplaced(u, _why(seq, why, pool)))
            continue
        if naive:
            dest = max(fits, key=lambda o: (seq.free(o[0]), -pos[o[0]], _neg(_sr_rank(seq, o[1]))))
        else:
            # Upgraded hosts first, tightest fit (a VM there never moves again);
            # then hosts a pinned VM keeps from the upgrade (never evacuated, so a
            # VM parked there does not move again either); else the old host
            # upgraded last. Between SRs of one host: `_sr_rank`.
            dest = min(
                fits,
                key=lambda o: (
                    (0, seq.free(o[0]) - need, pos[o[0]])
                    if o[0] in upgraded
                    else (1, seq.free(o[0]) - need, pos[o[0]])
                    if o[0] in pinned
                    else (2, -pos[o[0]], 0),
                    _sr_rank(seq, o[1]),
                ),
            )
        to, sr = dest
        disks = {d: sr for d in _local_disks(seq, u, h)} if sr else None
        later = to not in upgraded and to not in pinned
        seq.move(u, to, reason="temporary" if later else None, disks=disks)
    return stuck


def _simulate(
    inv: Inventory, goal: RollingUpgrade, options: PlanOptions, order: Sequence[str], naive: bool
) -> tuple[Sequencer, list[Unplaced], list[Reason]]:
    seq = Sequencer(inv, options)
    unplaced: list[Unplaced] = []
    warnings: list[Reason] = []
    upgraded = {h for h in order if version_at_least(inv.host_by_uuid[h].version, goal.to_version)}
    # a VM no rule lets migrate pins its host: skip that host up front rather than move
    # its other VMs for nothing (and stop altogether if it is the master). Only running
    # VMs count: a halted or suspended VM has no resident host and is left where it is.
    pinned = _pinned(seq, order, upgraded)
    for h in order:
        if h in upgraded:
            continue
        if h in pinned:
            unplaced += pinned[h]
            names = ", ".join(inv.label(u.vm) for u in pinned[h])
            if h == order[0]:
                warnings.append(
                    Reason(
                        codes.HOST_NOT_EMPTY,
                        f"the master {inv.label(h)} holds VMs that cannot "
                        f"migrate ({names}); no host can be upgraded before "
                        "it, so the plan stops here",
                    )
                )
                break
            warnings.append(
                Reason(
                    codes.HOST_NOT_EMPTY,
                    f"{inv.label(h)} holds VMs that cannot migrate ({names}); it is not upgraded",
                )
            )
            continue
        name = inv.label(h)
        # a host the operator had disabled stays disabled: it is evacuated and upgraded
        # but not re-enabled (and needs no disable step)
        was_enabled = inv.host_by_uuid[h].enabled
        snap = seq.snapshot()
        if was_enabled:
            seq.step(Step("host-disable", h, "before"))
        stuck = _evacuate(seq, h, order, goal.pool, upgraded, pinned, naive, unplaced)
        if stuck:
            # the moves made for this host would be for nothing: drop them
            seq.restore(snap)
            if h == order[0]:
                warnings.append(
                    Reason(
                        codes.HOST_NOT_EMPTY,
                        f"the master {name} cannot be emptied (see the "
                        "unplaced VMs); no host can be upgraded before it, so "
                        "the plan stops here",
                    )
                )
                break
            warnings.append(
                Reason(
                    codes.HOST_NOT_EMPTY,
                    f"{name} cannot be emptied, so it is not upgraded; see the unplaced VMs",
                )
            )
            continue
        seq.step(Step("host-upgrade", h, "after", goal.to_version))
        if was_enabled:
            seq.step(Step("host-enable", h, "after"))
        seq.close()
        upgraded.add(h)
    if goal.return_home:
        warnings += _return_home(inv, seq, goal)
    return seq, unplaced, warnings


def _neg(rank: tuple[int, int, str]) -> tuple[int, int]:
    """`_sr_rank` turned around for `max` (the string tie-break dropped)."""
    return (-rank[0], -rank[1])


def _dedupe(reasons: list[Reason]) -> tuple[Reason, ...]:
    out: dict[str, Reason] = {}
    for r in reasons:
        out.setdefault(r.code, r)
    return tuple(out.values())


def _return_home(inv: Inventory, seq: Sequencer, goal: RollingUpgrade) -> list[Reason]:
    """Move each VM that left its home (its affinity host in the pool, else where it
    started) back after the upgrade: live, or a storage migration that also brings back
    the disks the upgrade moved off a local SR. A VM whose home never has room (memory or
    SR space) is left where it is, with a warning."""
    pending = {}
    for v in inv.vms_in_pool.get(goal.pool, []):
        if not v.is_running:
            continue
        home = (
            v.affinity
            if v.affinity in inv.host_by_uuid and inv.host_by_uuid[v.affinity].pool == goal.pool
            else v.host
        )
        moved = any(seq.disk_sr[d.uuid] != d.sr for d in v.disks)
        if home is not None and (seq.host_of[v.uuid] != home or moved):
            pending[v.uuid] = home
    progress = True
    while pending and progress:
        progress = False
        for u, home in list(pending.items()):
            back = {d.uuid: d.sr for d in inv.vm_by_uuid[u].disks if seq.disk_sr[d.uuid] != d.sr}
            if seq.reasons(u, home, back):
                continue
            if seq.host_of[u] != home and seq.free(home) < seq.need(u):
                continue
            if any(seq.sr_free(s) < b for s, b in seq.storage_needs(u, back).items()):
                continue
            seq.move(u, home, reason="return-home", disks=back)
            del pending[u]
            progress = True
    return [
        Reason(
            codes.NO_CAPACITY,
            f"{inv.label(u)} cannot return to {inv.label(h)} "
            "(no room or a rule forbids it); it stays where the upgrade left it",
        )
        for u, h in pending.items()
    ]


def _score(seq: Sequencer, unplaced: list[Unplaced]) -> tuple[int, int, int, int, int]:
    est = sum(w.seconds for w in seq.waves)
    return (len(unplaced), seq.migrations(), seq.storage_migrations(), est, len(seq.waves))


def naive_plan(inv: Inventory, goal: RollingUpgrade, options: PlanOptions) -> Plan:
    """The baseline: master first then the given/inventory order, each VM to the
    compatible host with the most free memory (no look-ahead)."""
    started = time.monotonic()
    seq, unplaced, warnings = _simulate(inv, goal, options, host_order(inv, goal), True)
    return seq.plan(
        goal,
        name="rolling-naive",
        started=started,
        unplaced=unplaced,
        warnings=warnings,
        status=Status.PARTIAL if unplaced else Status.FEASIBLE,
    )


def plan_rolling_upgrade(inv: Inventory, goal: RollingUpgrade, options: PlanOptions) -> Plan:
    """The rolling-upgrade plan (see the module docstring)."""
    started = time.monotonic()
    base = host_order(inv, goal)
    master, rest = base[0], base[1:]
    if goal.order:
        orders: list[list[str]] = [base]
    elif len(rest) <= EXHAUSTIVE:
        orders = [[master, *p] for p in itertools.permutations(rest)]
    else:
        count = {h: len(inv.vms_on_host.get(h, [])) for h in rest}
        mem = {h: sum(v.memory_bytes for v in inv.vms_on_host.get(h, [])) for h in rest}
        orders = [
            base,
            [master, *sorted(rest, key=lambda h: (count[h], mem[h]))],
            [master, *sorted(rest, key=lambda h: (mem[h], count[h]))],
            [master, *sorted(rest, key=lambda h: (-count[h], -mem[h]))],
        ]
    best = None
    tried = 0
    for order in orders:
        result = _simulate(inv, goal, options, order, False)
        tried += 1
        key = _score(result[0], result[1])
        if best is None or key < best[0]:
            best = (key, result)
        if time.monotonic() - started > SEARCH_SECONDS:
            break
    assert best is not None
    seq, unplaced, warnings = best[1]
    if unplaced:
        status = Status.PARTIAL
    else:
        status = (
            Status.NOTHING_TO_DO if seq.migrations() == 0 and not seq.waves else Status.FEASIBLE
        )
    return seq.plan(
        goal,
        name="rolling",
        status=status,
        started=started,
        unplaced=unplaced,
        warnings=warnings,
        orders_tried=tried,
    )
