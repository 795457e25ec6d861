"""The replay checker's flow mode (v2): a plan's schedule replayed as an event sweep.

Rules 13 and 14 of FORMATS.md ("What a plan promises"): the schedule's order, then the
ledger at every instant. `merge_modes` folds flow violations into wave-mode ones that
name the same broken promise.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from planner.check_types import FLOW, WAVES, Violation
from planner.inventory.model import Inventory
from planner.ledger_migration import Account, Demand
from planner.options import PlanOptions
from planner.plan import Migration, Plan, Step
from planner.rules import codes


def flow_violations(
    inv: Inventory, plan: Plan, options: PlanOptions, known: dict[int, Demand] | None = None
) -> list[Violation]:
    """Rules 13 and 14: the schedule's order, then an event sweep over every
    migration's [start_s, start_s + est_seconds) on the ledger (ends before starts at
    one instant; starts at one instant in plan order). Migrations naming unknown
    objects are left to wave mode (UNKNOWN_OBJECT is static)."""
    flow = _Flow(inv, plan)
    # ---- rule 13: order, in plan order (a wave's before steps, migrations, after steps)
    for w in plan.waves:
        before = [s for s in w.steps if s.when == "before"]
        after = [s for s in w.steps if s.when != "before"]
        items: list[Migration | Step] = [*before, *w.migrations, *after]
        for it in items:
            flow.order += 1
            if isinstance(it, Step):
                flow.step(it, w.index)
            else:
                flow.migration(it)
    # ---- rule 14: capacity at every instant
    flow.sweep(options, known or {})
    return flow.out


class _Flow:
    """The state of the flow replay: what ends when, per VM and per pool, in plan order,
    and the start and end events the capacity sweep replays."""

    def __init__(self, inv: Inventory, plan: Plan) -> None:
        self.inv = inv
        self.out: list[Violation] = []
        self.wave_of: dict[str, int] = {}
        self.end_of: dict[str, int] = {}
        for w in plan.waves:
            for m in w.migrations:
                self.wave_of.setdefault(m.id, w.index)
                self.end_of.setdefault(m.id, m.end_s)
        self.last_vm: dict[str, Migration] = {}
        self.step_end: dict[str, tuple[int, Step]] = {}  # pool -> latest-ending step so far
        self.pool_end: dict[str, tuple[int, str]] = {}  # pool -> latest end so far (what)
        # (t, 0 end / 1 start, order, item)
        self.events: list[tuple[int, int, int, object]] = []
        self.order = 0

    def add(self, code: str, message: str, m: Migration) -> None:
        inv = self.inv
        vm = inv.vm_by_uuid.get(m.vm)
        name = vm.name if vm is not None else m.vm
        dest = m.to_host or (m.disks[0].to_sr if m.disks else None) or m.to_pool
        self.out.append(
            Violation(
                code,
                message,
                self.wave_of.get(m.id),
                m.id,
                name,
                f"{name} -> {inv.label(dest)}",
                FLOW,
            )
        )

    def step(self, it: Step, wave: int) -> None:
        """Rule 13 for a host step: it starts after everything earlier in its pool ends."""
        inv = self.inv
        host = inv.host_by_uuid.get(it.host)
        if host is None:
            return
        late = self.pool_end.get(host.pool)
        if late is not None and late[0] > it.start_s:
            self.out.append(
                Violation(
                    codes.DEPENDENCY,
                    f"starts at t={it.start_s} s, before {late[1]} of pool "
                    f"{inv.label(host.pool)} ends at t={late[0]} s",
                    wave,
                    move=f"{it.kind} {inv.label(it.host)}",
                    mode=FLOW,
                )
            )
        if it.end_s >= self.step_end.get(host.pool, (-1, it))[0]:
            self.step_end[host.pool] = (it.end_s, it)
        if late is None or it.end_s >= late[0]:
            self.pool_end[host.pool] = (it.end_s, f"{it.kind} {inv.label(it.host)}")
        self.events.append((it.start_s, 1, self.order, it))
        self.events.append((it.end_s, 0, self.order, it))

    def migration(self, m: Migration) -> None:
        """Rule 13 for a migration: after its dependencies, its VM's previous migration
        and its pools' earlier host steps."""
        inv = self.inv
        for dep in m.depends_on:
            if dep not in self.end_of:
                self.add(codes.DEPENDENCY, f"depends on {dep}, not a migration of the plan", m)
            elif self.end_of[dep] > m.start_s:
                self.add(
                    codes.DEPENDENCY,
                    f"starts at t={m.start_s} s, before {dep} (which "
                    f"it depends on) ends at t={self.end_of[dep]} s",
                    m,
                )
        prev = self.last_vm.get(m.vm)
        if prev is not None and prev.end_s > m.start_s:
            self.add(
                codes.CONTINUITY,
                f"starts at t={m.start_s} s, before {prev.id} (the "
                f"same VM's previous migration) ends at t={prev.end_s} s",
                m,
            )
        self.last_vm[m.vm] = m
        for pool in dict.fromkeys((m.from_pool, m.to_pool)):
            st = self.step_end.get(pool)
            if st is not None and st[0] > m.start_s:
                self.add(
                    codes.DEPENDENCY,
                    f"starts at t={m.start_s} s, before step "
                    f"{st[1].kind} {inv.label(st[1].host)} of its pool ends at "
                    f"t={st[0]} s",
                    m,
                )
            late = self.pool_end.get(pool)
            if late is None or m.end_s >= late[0]:
                self.pool_end[pool] = (m.end_s, m.id)
        if m.vm in inv.vm_by_uuid:
            self.events.append((m.start_s, 1, self.order, m))
            self.events.append((m.end_s, 0, self.order, m))

    def sweep(self, options: PlanOptions, known: dict[int, Demand]) -> None:
        """Rule 14: replay the events on the ledger (ends before starts at one instant)."""
        acc = Account.of(self.inv, options)
        demands: dict[int, Demand] = {}
        self.events.sort(key=lambda e: (e[0], e[1], e[2]))
        for t, is_start, key, it in self.events:
            if isinstance(it, Step):
                if it.kind == "host-disable" and is_start:
                    acc.set_enabled(it.host, False)
                elif it.kind == "host-enable" and not is_start:
                    acc.set_enabled(it.host, True)
                continue
            assert isinstance(it, Migration)
            if is_start:
                d = known.get(id(it)) or acc.demand(it)
                demands[key] = d
                for r in acc.reasons(d):
                    self.add(r.code, f"at t={t} s: {r.message}", it)
                acc.start(d)
            else:
                d = demands.pop(key)
                for sf in acc.end_shortfalls(d):
                    r = acc.reason(sf, d)
                    self.add(r.code, f"at t={t} s (its end): {r.message}", it)
                acc.end(d)


def merge_modes(waves: list[Violation], flow: list[Violation]) -> list[Violation]:
    """One violation per broken promise: a flow violation with the code, wave and
    migration of a wave-mode one (or the code and wave of a wave-level one, e.g.
    CONCURRENCY) breaks both modes: the wave one is kept with mode None. Further flow
    violations of an already matched wave-level kind (one excess seen at two keys, e.g.
    both hosts of a move over max_per_host) add nothing."""
    exact: dict[tuple[str, int | None, str | None], int] = {}
    level: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    for i, v in enumerate(waves):
        if v.mode == WAVES:
            exact.setdefault((v.code, v.wave, v.migration), i)
            if v.migration is None:
                level[(v.code, v.wave)].append(i)
    out = list(waves)
    for f in flow:
        hit = exact.get((f.code, f.wave, f.migration))
        if hit is None:
            # a wave-level one (a pool's or host's slots) not yet matched: the flow replay
            # reports the same excess at the migration that tips it over
            same = level.get((f.code, f.wave))
            hit = same.pop(0) if same else None
            if hit is None and (f.code, f.wave) in level:
                continue  # every wave-level one of this kind is matched already
        if hit is None:
            out.append(f)
        else:
            out[hit] = replace(out[hit], mode=None)
    return out
