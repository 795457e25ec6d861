"""Reach a target placement `{vm: host}` with live moves (docs/solving.md "Target").

Moves whose target has room are made in passes. When no pending move fits, the moves
wait on each other: a graph with an edge from each pending VM's host to its target host
shows who waits for whom, and a cycle in it (A must leave h1 before B can arrive, B
must leave h2 before A can arrive) is broken by a temporary move of one VM of the cycle
to a spare host (a migration with `reason: "temporary"`); that VM later moves on to its
target. When no spare host can take any VM of the cycle, the cycle's VMs are unplaced
with code CYCLE, naming the VMs and hosts and the capacity that would break it.
"""

from __future__ import annotations

import time

import networkx as nx

from planner.campaigns.common import Sequencer
from planner.goals import Target
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan, Reason, Unplaced
from planner.rules import codes
from planner.rules.storage import amounts
from planner.status import Status


def _gib(b: int) -> str:
    return f"{b / 2**30:.1f} GiB"


def plan_target(inv: Inventory, goal: Target, options: PlanOptions) -> Plan:
    """The plan that puts each VM of `goal.placements` on its host."""
    started = time.monotonic()
    seq = Sequencer(inv, options)
    unplaced: list[Unplaced] = []
    warnings: list[Reason] = []
    pending: dict[str, str] = {}
    for u, want in goal.placements.items():
        vm = inv.vm_by_uuid[u]
        host = inv.host_by_uuid[want]
        if vm.is_running and vm.host == want:
            continue
        if not vm.is_running:
            unplaced.append(
                Unplaced(
                    u,
                    (
                        Reason(
                            codes.WRONG_KIND,
                            (
                                f"{vm.name} is {vm.power_state}: it has no resident host "
                                f"to move; start it on {host.name} instead"
                            ),
                        ),
                    ),
                )
            )
            continue
        if host.pool != vm.pool:
            unplaced.append(
                Unplaced(
                    u,
                    (
                        Reason(
                            codes.WRONG_KIND,
                            (
                                f"{host.name} is in pool {inv.label(host.pool)}, {vm.name} in "
                                f"{inv.label(vm.pool)}: a target placement moves VMs within "
                                "their pool (use --move-pool to change pools)"
                            ),
                        ),
                    ),
                )
            )
            continue
        why = seq.reasons(u, want)
        if why:
            unplaced.append(Unplaced(u, tuple(why)))
            continue
        pending[u] = want
    temporary: set[str] = set()
    while pending:
        progress = True
        while progress:
            progress = False
            for u, want in list(pending.items()):
                if seq.free(want) >= seq.need(u):
                    seq.move(u, want)
                    del pending[u]
                    progress = True
        if not pending:
            break
        if not _unblock(inv, seq, pending, temporary, unplaced, warnings):
            break
    done = Status.NOTHING_TO_DO if seq.migrations() == 0 else Status.FEASIBLE
    status = Status.PARTIAL if unplaced else done
    return seq.plan(
        goal, name="target", status=status, started=started, unplaced=unplaced, warnings=warnings
    )


def _spare_move(
    inv: Inventory,
    seq: Sequencer,
    edges: list[tuple[str, str, str]],
    pending: dict[str, str],
    temporary: set[str],
) -> tuple[str, str] | None:
    """The temporary move (VM, spare host) that breaks a cycle of `edges` (host, host,
    VM): a VM not moved aside before, to a host outside the cycle that passes the rules
    and has room, preferring hosts nobody waits for, then the smallest VM, then the
    emptiest host; None when there is none."""
    # try each VM of the cycle, the one whose leaving covers its host's shortfall first
    spares = sorted((h.uuid for h in inv.hosts), key=lambda h: -seq.free(h))
    options = []
    for a, b, u in edges:
        if u in temporary:
            continue
        for s in spares:
            if s in (a, b) or seq.free(s) < seq.need(u) or seq.reasons(u, s):
                continue
            wanted = s in pending.values()  # prefer a host nobody waits for
            options.append((wanted, seq.need(u), -seq.free(s), u, s))
            break
    if not options:
        return None
    _, _, _, u, s = min(options)
    return u, s


def _unblock(
    inv: Inventory,
    seq: Sequencer,
    pending: dict[str, str],
    temporary: set[str],
    unplaced: list[Unplaced],
    warnings: list[Reason],
) -> bool:
    """Every pending move is stuck: break a cycle with a temporary move, or unplace the
    VMs that wait for good. Returns False when nothing can change any more."""
    g = nx.MultiDiGraph()
    for u, want in pending.items():
        g.add_edge(seq.host_of[u], want, vm=u)
    # a VM whose target holds no pending VM waits for nobody who will ever leave
    waiting_on = {h for h in (seq.host_of[u] for u in pending)}
    dead = [u for u, want in pending.items() if want not in waiting_on]
    cycles = sorted(nx.simple_cycles(nx.DiGraph(g)), key=len) if not dead else []
    if dead:
        for u in dead:
            want = pending.pop(u)
            need_s, free_s = amounts(seq.need(u), max(seq.free(want), 0))
            unplaced.append(
                Unplaced(
                    u,
                    (
                        Reason(
                            codes.NO_CAPACITY,
                            (
                                f"{inv.label(want)} has {free_s} free, {inv.label(u)} needs "
                                f"{need_s}, and no VM that is to leave it is on it"
                            ),
                        ),
                    ),
                )
            )
        return True
    if not cycles:
        return False
    cycle = cycles[0]
    hosts = set(cycle)
    edges = [
        (a, b, d["vm"])
        for a, b, d in g.edges(data=True)
        if a in hosts and b in hosts and cycle[(cycle.index(a) + 1) % len(cycle)] == b
    ]
    spare = _spare_move(inv, seq, edges, pending, temporary)
    if spare is not None:
        u, s = spare
        seq.move(u, s, reason="temporary")
        temporary.add(u)
        return True
    # no spare: name the cycle and what would break it
    parts, short = [], []
    for a, b, u in edges:
        parts.append(f"{inv.label(u)} on {inv.label(a)} -> {inv.label(b)}")
        short.append((seq.need(u) - seq.free(b), b))
    smallest = min(seq.need(u) for _, _, u in edges)
    gap, where = min(short)
    msg = (
        f"target moves form a cycle: {'; '.join(parts)}. Each waits for another to "
        f"leave. {_gib(gap)} more free on {inv.label(where)}, or a spare host with "
        f"{_gib(smallest)} free that passes the rules, would break it"
    )
    warnings.append(Reason(codes.CYCLE, msg))
    for _, _, u in edges:
        pending.pop(u, None)
        unplaced.append(Unplaced(u, (Reason(codes.CYCLE, msg),)))
    return True
