"""The rolling pool upgrade (docs/solving.md "Rolling upgrade").

Each host of the pool in turn is disabled, evacuated (live moves), upgraded and
re-enabled; the master goes first (XenServer requires it). Once a host is upgraded, VMs
on it can only move to upgraded hosts (the VERSION rule), so the planner:

- sends each evacuated VM to an already-upgraded host when one has room (best fit), and
  otherwise to the not-yet-upgraded host that is upgraded LAST in the order, so the VM
  is not moved again sooner than it must;
- chooses the host order: every order of the non-master hosts when there are at most
  `EXHAUSTIVE` of them, else a few heuristic orders; the order with the fewest unplaced
  VMs, then fewest migrations, then fewest seconds wins. `--order` fixes it instead.

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
from planner.rules.storage import amounts
from planner.rules.version import version_at_least

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
            problems.append(f"--order: host {inv.label(h)} is not in pool "
                            f"{inv.label(goal.pool)}")  # fmt: skip
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


def _simulate(inv: Inventory, goal: RollingUpgrade, options: PlanOptions,
              order: Sequence[str], naive: bool) -> tuple[Sequencer, list[Unplaced],
                                                          list[Reason]]:  # fmt: skip
    seq = Sequencer(inv, options)
    pos = {h: i for i, h in enumerate(order)}
    unplaced: list[Unplaced] = []
    warnings: list[Reason] = []
    upgraded = {h for h in order if version_at_least(inv.host_by_uuid[h].version,
                                                     goal.to_version)}  # fmt: skip
    # a VM no rule lets migrate pins its host: skip that host up front rather than move
    # its other VMs for nothing (and stop altogether if it is the master)
    pinned: dict[str, list[Unplaced]] = {}
    for h in order:
        for v in inv.vms_on_host.get(h, []):
            why = exclusion_reasons(inv, v, "live")
            if why and h not in upgraded:
                pinned.setdefault(h, []).append(Unplaced(v.uuid, tuple(why)))
    for h in order:
        if h in upgraded:
            continue
        if h in pinned:
            unplaced += pinned[h]
            names = ", ".join(inv.label(u.vm) for u in pinned[h])
            if h == order[0]:
                warnings.append(Reason(codes.HOST_NOT_EMPTY,
                                       f"the master {inv.label(h)} holds VMs that cannot "
                                       f"migrate ({names}); no host can be upgraded before "
                                       "it, so the plan stops here"))  # fmt: skip
                break
            warnings.append(Reason(codes.HOST_NOT_EMPTY,
                                   f"{inv.label(h)} holds VMs that cannot migrate ({names}); "
                                   "it is not upgraded"))  # fmt: skip
            continue
        name = inv.label(h)
        snap = seq.snapshot()
        seq.step(Step("host-disable", h, "before"))
        vms = sorted(seq.vms_on(h), key=lambda u: (-seq.need(u), u))
        stuck = False
        for u in vms:
            need = seq.need(u)
            fits, why = [], []
            for other in order:
                if other == h:
                    continue
                r = seq.reasons(u, other)
                if not r and seq.free(other) < need:
                    need_s, free_s = amounts(need, max(seq.free(other), 0))
                    r = [Reason(codes.NO_CAPACITY, f"{inv.label(other)} has {free_s} free, "
                                f"{inv.label(u)} needs {need_s}")]  # fmt: skip
                if r:
                    why += r
                else:
                    fits.append(other)
            if not fits:
                stuck = True
                unplaced.append(Unplaced(u, tuple(dict.fromkeys(why)) or (Reason(
                    codes.NO_TARGET, f"pool {inv.label(goal.pool)} has no other host"),)))
                continue
            if naive:
                dest = max(fits, key=lambda o: (seq.free(o), -pos[o]))
            else:
                # upgraded hosts first, tightest fit; else the old host upgraded last
                dest = min(fits, key=lambda o: (0, seq.free(o) - need, pos[o])
                           if o in upgraded else (1, -pos[o], 0))  # fmt: skip
            seq.move(u, dest, reason=None if dest in upgraded else "temporary")
        if stuck:
            # the moves made for this host would be for nothing: drop them
            seq.restore(snap)
            if h == order[0]:
                warnings.append(Reason(codes.HOST_NOT_EMPTY,
                                       f"the master {name} cannot be emptied (see the "
                                       "unplaced VMs); no host can be upgraded before it, so "
                                       "the plan stops here"))  # fmt: skip
                break
            warnings.append(Reason(codes.HOST_NOT_EMPTY,
                                   f"{name} cannot be emptied, so it is not upgraded; see the "
                                   "unplaced VMs"))  # fmt: skip
            continue
        seq.step(Step("host-upgrade", h, "after", goal.to_version))
        seq.step(Step("host-enable", h, "after"))
        seq.close()
        upgraded.add(h)
    if goal.return_home:
        warnings += _return_home(inv, seq, goal)
    return seq, unplaced, warnings


def _return_home(inv: Inventory, seq: Sequencer, goal: RollingUpgrade) -> list[Reason]:
    """Move each VM that left its home (its affinity host in the pool, else where it
    started) back, as live moves after the upgrade; a VM whose home never has room is
    left where it is, with a warning."""
    pending = {}
    for v in inv.vms_in_pool.get(goal.pool, []):
        if not v.is_running:
            continue
        home = v.affinity if v.affinity in inv.host_by_uuid and \
            inv.host_by_uuid[v.affinity].pool == goal.pool else v.host  # fmt: skip
        if home is not None and seq.host_of[v.uuid] != home:
            pending[v.uuid] = home
    progress = True
    while pending and progress:
        progress = False
        for u, home in list(pending.items()):
            if not seq.reasons(u, home) and seq.free(home) >= seq.need(u):
                seq.move(u, home, reason="return-home")
                del pending[u]
                progress = True
    return [Reason(codes.NO_CAPACITY, f"{inv.label(u)} cannot return to {inv.label(h)} "
                   "(no room or a rule forbids it); it stays where the upgrade left it")
            for u, h in pending.items()]  # fmt: skip


def _score(seq: Sequencer, unplaced: list[Unplaced]) -> tuple[int, int, int, int]:
    est = sum(w.seconds for w in seq.waves)
    return (len(unplaced), seq.migrations(), est, len(seq.waves))


def naive_plan(inv: Inventory, goal: RollingUpgrade, options: PlanOptions) -> Plan:
    """The baseline: master first then the given/inventory order, each VM to the
    compatible host with the most free memory (no look-ahead)."""
    started = time.monotonic()
    seq, unplaced, warnings = _simulate(inv, goal, options, host_order(inv, goal), True)
    return seq.plan(goal, name="rolling-naive", started=started, unplaced=unplaced,
                    warnings=warnings, status="PARTIAL" if unplaced else "FEASIBLE")


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
        orders = [base, [master, *sorted(rest, key=lambda h: (count[h], mem[h]))],
                  [master, *sorted(rest, key=lambda h: (mem[h], count[h]))],
                  [master, *sorted(rest, key=lambda h: (-count[h], -mem[h]))]]  # fmt: skip
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
        status = "PARTIAL"
    else:
        status = "NOTHING_TO_DO" if seq.migrations() == 0 and not seq.waves else "FEASIBLE"
    return seq.plan(goal, name="rolling", status=status, started=started, unplaced=unplaced,
                    warnings=warnings, extra={"orders_tried": tried})
