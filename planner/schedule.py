"""List scheduling: give every migration and host step of ordered waves its planned start
(`start_s`), the earliest instant the capacity ledger accepts it (FORMATS.md rules 13-14).

`schedule(inv, options, waves)` keeps the waves (their order is the priority and the
wave-mode view) and stamps `start_s`; `planner.plan.estimate_of` then gives the
estimate. An event simulation in whole seconds: at each instant, ends are booked first,
then every pending item is tried in plan order (a wave's "before" steps, its migrations,
its "after" steps). A migration starts when

- every migration in its `depends_on`, the same VM's previous migration and the latest
  host step of its pools (source and target) before it in plan order have ended;
- the ledger (`planner.ledger_migration.Account`) accepts its start: pool and host
  slots, memory, 3x/2x SR space, halted-VM memory, anti-affinity;
- it is first, in plan order, among the not-yet-started migrations that take memory,
  SR space or anti-affinity room on any of the same keys (per-key FIFO).

The per-key FIFO is what makes this safe to run on any wave plan that passes rules 1-12:
every host and SR sees starts in the order the waves give them, so the earliest
pending migration always fits once everything before it has ended (the wave replay
proved it), and nothing later can take its room first. Slots are not FIFO: a later
migration of a pool may use a free slot while an earlier one waits for memory.

A host step starts when everything of its pool before it in plan order has ended; it is
a barrier: nothing of its pool starts until it ends (`est_seconds`, the operator's
figure for an upgrade).

Cost: at each instant only the source pools an end may have unblocked are scanned, so
independent pools cost O(events x ready migrations of the pools touched). Units:
seconds; the ledger's bytes.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Hashable
from dataclasses import dataclass, field, replace

from planner.inventory.model import Inventory
from planner.ledger_migration import Account, Demand
from planner.options import PlanOptions
from planner.plan import Migration, Step, Wave


@dataclass
class _Item:
    order: int
    wave: int
    pools: tuple[str, ...]
    mig: Migration | None = None
    step: Step | None = None
    after: list[int] = field(default_factory=list)  # orders that must have ended
    keys: tuple[Hashable, ...] = ()  # FIFO keys (migrations)
    demand: Demand | None = None
    start: int = -1


def schedule(
    inv: Inventory,
    options: PlanOptions,
    waves: tuple[Wave, ...] | list[Wave],
    *,
    max_per_pool: int | None = None,
) -> tuple[Wave, ...]:
    """`waves` with every migration's and step's `start_s` set to the earliest instant
    (whole seconds from the campaign's start) it can run (module docstring).
    `max_per_pool` lowers the options' slot limit (what the executor will use)."""
    acc = Account.of(inv, options, max_per_pool=max_per_pool)
    items = _items(inv, acc, waves)
    return _stamped(waves, _Run(acc, items).run())


class _Run:
    """The event simulation. Items are grouped by source pool ("group"); at an instant
    only the groups an end (or a release) may have unblocked are scanned ("dirty"): a
    start only takes room, so a group that could not start anything still cannot. This
    keeps a campaign of many independent pools near O(events x slots)."""

    def __init__(self, acc: Account, items: list[_Item]) -> None:
        self.acc = acc
        self.items = items
        self.queues: dict[Hashable, deque[int]] = defaultdict(deque)
        self.waiting_on: dict[int, int] = {}  # order -> predecessors not yet ended
        self.successors: dict[int, list[int]] = defaultdict(list)
        self.interest: dict[Hashable, set[str]] = defaultdict(set)  # key -> groups
        self.pool_mem: dict[str, set[str]] = defaultdict(set)  # pool -> groups on its memory
        self.ready: dict[str, list[int]] = defaultdict(list)  # group -> heap of orders
        self.dirty: set[str] = set()
        host_pool = {h.uuid: h.pool for h in acc.inv.hosts}
        for it in items:
            for k in it.keys:
                self.queues[k].append(it.order)
            g = it.pools[0] if it.pools else ""
            keys = list(it.keys)
            if it.demand is not None:
                keys += [k for k, n in it.demand.start if n > 0]
            for k in keys:
                self.interest[k].add(g)
                if k[0] == "mem" and k[1] in host_pool:  # type: ignore[index]
                    self.pool_mem[host_pool[k[1]]].add(g)  # type: ignore[index]
            self.waiting_on[it.order] = len(it.after)
            for o in it.after:
                self.successors[o].append(it.order)
            if not it.after:
                self._release(it)

    def _group(self, it: _Item) -> str:
        return it.pools[0] if it.pools else ""

    def _release(self, it: _Item) -> None:
        g = self._group(it)
        heapq.heappush(self.ready[g], it.order)
        self.dirty.add(g)

    def _try(self, it: _Item, t: int, running: bool) -> bool:
        """Start `it` at `t` if it may; True if it did."""
        acc = self.acc
        if it.step is not None:
            if it.step.kind == "host-disable":
                acc.set_enabled(it.step.host, False)
                self.dirty |= self.pool_mem[self._group(it)]
        else:
            if any(self.queues[k][0] != it.order for k in it.keys):
                return False
            d = it.demand
            # with nothing in flight and still no room the waves themselves break a
            # capacity rule: it starts anyway, so the checker names the fault
            if d is not None and running and not acc.fits(d):
                return False
            if d is not None:
                acc.start(d)
            for k in it.keys:
                self.queues[k].popleft()
        it.start = t
        return True

    def run(self) -> list[_Item]:
        items = self.items
        running: list[tuple[int, int]] = []  # heap of (end, order)
        left = len(items)
        t = 0
        while left:
            # every ready item of the dirty groups, in plan order
            cand = sorted(o for g in self.dirty for o in self.ready[g])
            self.dirty.clear()
            started: list[int] = []
            for o in cand:
                if self._try(items[o], t, bool(running) or bool(started)):
                    started.append(o)
            for o in started:
                it = items[o]
                g = self._group(it)
                self.ready[g].remove(o)
                heapq.heapify(self.ready[g])
                heapq.heappush(running, (t + _seconds(it), o))
                left -= 1
            if not running:
                if left:
                    self._unstick()
                continue
            t = running[0][0]
            while running and running[0][0] == t:
                _, o = heapq.heappop(running)
                self._ended(items[o])
        return items

    def _ended(self, it: _Item) -> None:
        acc = self.acc
        g = self._group(it)
        self.dirty.add(g)
        if it.demand is not None:
            acc.end(it.demand)
            for k, _ in it.demand.end:
                self.dirty |= self.interest.get(k, set())
            if it.demand.halted_need:  # its rule-4 room is no longer needed
                self.dirty |= self.pool_mem[it.demand.pool]
        elif it.step is not None and it.step.kind == "host-enable":
            acc.set_enabled(it.step.host, True)
            self.dirty |= self.pool_mem[g]
        for o in self.successors.get(it.order, ()):
            self.waiting_on[o] -= 1
            if self.waiting_on[o] == 0:
                self._release(self.items[o])

    def _unstick(self) -> None:
        """Nothing in flight and nothing started: the earliest waiting item (plan order)
        runs next. Either it is ready (everything is dirty again, and with nothing in
        flight it starts), or it waits for something that never ends before it (a
        dependency named later in plan order): that order is dropped."""
        waiting = [it for it in self.items if it.start < 0]
        first = min(waiting, key=lambda it: it.order)
        if self.waiting_on[first.order] > 0:
            self.waiting_on[first.order] = 0
            for o in first.after:
                if first.order in self.successors.get(o, []):
                    self.successors[o].remove(first.order)
            self._release(first)
        else:
            self.dirty |= set(self.ready)


def _seconds(it: _Item) -> int:
    if it.mig is not None:
        return it.mig.est_seconds
    assert it.step is not None
    return it.step.est_seconds


def _items(inv: Inventory, acc: Account, waves: tuple[Wave, ...] | list[Wave]) -> list[_Item]:
    """Every migration and step in plan order, with what it waits for."""
    items: list[_Item] = []
    by_id: dict[str, int] = {}
    last_vm: dict[str, int] = {}
    last_step: dict[str, int] = {}  # pool -> order of its latest step so far
    of_pool: dict[str, list[int]] = defaultdict(list)  # pool -> orders so far
    for w in waves:
        before = [s for s in w.steps if s.when == "before"]
        after = [s for s in w.steps if s.when != "before"]
        in_order: list[Step | Migration] = [*before, *w.migrations, *after]
        for x in in_order:
            o = len(items)
            if isinstance(x, Step):
                host = inv.host_by_uuid.get(x.host)
                pools: tuple[str, ...] = (host.pool,) if host is not None else ()
                it = _Item(o, w.index, pools, step=x)
                for p in pools:
                    it.after += of_pool[p]
                    last_step[p] = o
            else:
                pools = tuple(dict.fromkeys((x.from_pool, x.to_pool)))
                it = _Item(o, w.index, pools, mig=x)
                it.after += [by_id[d] for d in x.depends_on if d in by_id]
                if x.vm in last_vm:
                    it.after.append(last_vm[x.vm])
                it.after += [last_step[p] for p in pools if p in last_step]
                if x.vm in inv.vm_by_uuid:
                    it.demand = acc.demand(x)
                    it.keys = _keys(acc, it.demand)
                by_id.setdefault(x.id, o)
                last_vm[x.vm] = o
            for p in pools:
                of_pool[p].append(o)
            it.after = sorted(set(it.after))
            items.append(it)
    _later_dependencies(items, by_id)
    return items


def _keys(acc: Account, d: Demand) -> tuple[Hashable, ...]:
    """The ledger keys a migration's start takes room on (slots aside: the sweep counts
    those), and for a halted VM every enabled host of its pool it may need room on."""
    keys = [k for k, n in d.start if n > 0 and k[0] not in ("pool", "host")]  # type: ignore[index]
    if d.halted_need:
        keys += acc.enabled.get(d.pool, [])
    return tuple(dict.fromkeys(keys))


def _later_dependencies(items: list[_Item], by_id: dict[str, int]) -> None:
    """A dependency named later in plan order still orders the two."""
    for it in items:
        if it.mig is not None:
            for d in it.mig.depends_on:
                o = by_id.get(d)
                if o is not None and o > it.order and o not in it.after:
                    it.after.append(o)


def _stamped(waves: tuple[Wave, ...] | list[Wave], items: list[_Item]) -> tuple[Wave, ...]:
    out = []
    k = 0
    for w in waves:
        n = len(w.steps) + len(w.migrations)
        mine = items[k : k + n]
        k += n
        migs = tuple(replace(it.mig, start_s=max(it.start, 0)) for it in mine if it.mig is not None)
        steps = {id(it.step): it for it in mine if it.step is not None}
        new_steps = tuple(replace(s, start_s=max(steps[id(s)].start, 0)) for s in w.steps)
        out.append(replace(w, migrations=migs, steps=new_steps))
    return tuple(out)
