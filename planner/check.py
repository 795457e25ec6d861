"""The replay checker: proves a plan keeps FORMATS.md's promises ("What a plan promises").

`check_plan` replays the plan wave by wave from the inventory. State is kept
incrementally (memory committed per host, bytes used per SR, where each VM and disk is),
so each migration costs O(its disks + VIFs) and 50,000 migrations replay in seconds.
Every violation is reported, not just the first; a migration that breaks a rule is still
applied to the replay state (its VM is where the plan says it went) so that one mistake
does not cascade into a violation for every later move of the same VM.

Where FORMATS.md is silent the decisions are in docs/check.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from planner.check_flow import flow_violations, merge_modes
from planner.check_goal import (
    estimate_violations,
    goal_violations,
    home_host_violations,
    unplaced_reason_violations,
)
from planner.check_types import FLOW, WAVES, CheckReport, Violation
from planner.errors import InputError
from planner.inventory.io import digest
from planner.inventory.model import VM, Inventory, Vif
from planner.ledger_migration import Account, Demand
from planner.options import PlanOptions
from planner.plan import Migration, Plan, Step
from planner.rules import codes, target_reasons
from planner.rules.version import version_at_least

# re-exported: callers import the report types from here
__all__ = ["FLOW", "WAVES", "CheckReport", "Violation", "check_plan"]


def check_plan(inv: Inventory, plan: Plan) -> CheckReport:
    """Replay `plan` from `inv` both ways and report every violation: wave mode (FORMATS.md
    rules 1-12) and, for a plan with a schedule (v2), flow mode (rules 13-15, an event
    sweep). Each violation's `mode` says which way of running it breaks ("waves",
    "flow", or None for both: a static rule, or one broken the same way in both).

    Raises `InputError` when the plan was made for another inventory (its
    `inventory_digest` differs): such a plan cannot be checked at all.
    """
    want = digest(inv)
    if plan.inventory_digest != want:
        raise InputError(
            f"plan was made for another inventory: its inventory_digest "
            f"{plan.inventory_digest[:12] or '(empty)'}... is not this inventory's "
            f"{want[:12]}..."
        )
    options = plan.options
    replay = _Replay(inv, options)
    for wave in plan.waves:
        replay.steps(wave.index, [s for s in wave.steps if s.when == "before"])
        replay.wave(wave.index, wave.migrations)
        replay.steps(wave.index, [s for s in wave.steps if s.when != "before"])
    out = replay.out
    if plan.has_schedule:
        out = merge_modes(out, flow_violations(inv, plan, options, replay.demands))
    out += goal_violations(inv, plan, replay)
    reason_out, claimed = unplaced_reason_violations(inv, plan)
    out += reason_out
    out += estimate_violations(plan)
    out += home_host_violations(inv, plan)
    n = sum(len(w.migrations) for w in plan.waves)
    return CheckReport(tuple(out), len(plan.waves), n, claimed)


class _Replay:
    """The moving state of a replay; `wave()` checks one wave, then applies it."""

    def __init__(self, inv: Inventory, options: PlanOptions) -> None:
        self.inv = inv
        self.options = options
        self.vms: dict[str, VM] = dict(inv.vm_by_uuid)  # each VM where it is now
        # memory, SR space, anti-affinity on the one ledger; slots are counted per wave
        self.account = Account.of(inv, options, slots=False)
        # each migration's demand, by identity, for the flow replay to reuse (a demand
        # depends on the replay's state only through a suspend image's current SR)
        self.demands: dict[int, Demand] = {}
        self.done: set[str] = set()  # ids of migrations of earlier waves
        self.out: list[Violation] = []

    # ------------------------------------------------------------ host steps
    def steps(self, index: int, steps: list[Step]) -> None:
        """Apply a wave's host steps (docs/plan-extensions.md). The replay's inventory is
        rebuilt with the host's new `enabled`/`version`, so every later rule (HOST_DISABLED,
        VERSION, halted-VM room) sees it."""
        for st in steps:
            host = self.inv.host_by_uuid.get(st.host)
            where = f"{st.kind} {self.inv.label(st.host)}"
            if host is None:
                self.out.append(
                    Violation(
                        codes.UNKNOWN_OBJECT,
                        f"step names host {st.host}, not in the inventory",
                        wave=index,
                        move=where,
                    )
                )
                continue
            if st.kind == "host-upgrade":
                running = sorted(
                    v.name for v in self.vms.values() if v.is_running and v.host == st.host
                )
                if running:
                    self.out.append(
                        Violation(
                            codes.HOST_NOT_EMPTY,
                            f"{host.name} is upgraded while {len(running)} running VM(s) are on "
                            f"it: {', '.join(running[:5])}",
                            wave=index,
                            move=where,
                        )
                    )
                master = self.inv.master_of(host.pool)
                ver = st.to_version or host.version
                if master.uuid != host.uuid and not version_at_least(master.version, ver):
                    self.out.append(
                        Violation(
                            codes.UPGRADE_ORDER,
                            f"{host.name} is upgraded to {ver} while the pool master "
                            f"{master.name} runs {master.version}",
                            wave=index,
                            move=where,
                        )
                    )
                new = replace(host, version=ver)
            else:
                new = replace(host, enabled=st.kind == "host-enable")
                self.account.set_enabled(host.uuid, new.enabled)
            hosts = tuple(new if h.uuid == host.uuid else h for h in self.inv.hosts)
            self.inv = replace(self.inv, hosts=hosts)

    # ------------------------------------------------------------ one wave
    def wave(self, index: int, migrations: tuple[Migration, ...]) -> None:
        """Check one wave and apply it: every migration starts at the wave's start (its
        start delta is booked on the ledger in plan order, so a violation names the
        migration that tips a key over), all end at the wave's end."""
        acc = self.account
        per_pool: dict[str, list[str]] = defaultdict(list)
        per_host: dict[str, list[str]] = defaultdict(list)
        seen_vms: set[str] = set()
        apply: list[tuple[Migration, VM, Demand]] = []
        for m in migrations:
            per_pool[m.from_pool].append(m.id)
            for h in {m.from_host, m.to_host} - {None}:
                per_host[str(h)].append(m.id)
            started = self._start(index, m, seen_vms)
            if started is not None:
                apply.append((m, *started))
        # Rule 4 needs the whole wave's incoming memory, so it runs after every start.
        for m, _vm, d in apply:
            best = acc.halted_short(d)
            if best is not None:
                r = acc.halted_reason(d, best)
                self._add(r.code, r.message, index, m, WAVES)
        self._concurrency(index, per_pool, per_host)
        for m, vm, d in apply:
            acc.end(d)
            self._apply(m, vm)
        self.done.update(m.id for m in migrations)

    def _start(self, index: int, m: Migration, seen_vms: set[str]) -> tuple[VM, Demand] | None:
        """Check one migration of a wave and book its start on the ledger; None when it
        names unknown objects or its VM already moves in this wave (nothing to apply)."""
        acc = self.account
        bad = self._unknown(m)
        vm = self.vms.get(m.vm)
        if bad or vm is None:
            for what in bad:
                self._add(codes.UNKNOWN_OBJECT, f"names {what}, not in the inventory", index, m)
            return None
        if m.vm in seen_vms:
            self._add(codes.CONTINUITY, f"{vm.name} already moves in this wave", index, m, WAVES)
            return None
        seen_vms.add(m.vm)
        self._continuity(index, m, vm)
        for dep in m.depends_on:
            if dep not in self.done:
                self._add(
                    codes.DEPENDENCY,
                    f"depends on {dep}, which is not a migration of an earlier wave",
                    index,
                    m,
                    WAVES,
                )
        at = {d.uuid: d.sr for d in vm.disks}
        moving = {d.vdi: d.to_sr for d in m.disks if d.to_sr != at[d.vdi]}
        for r in target_reasons(
            self.inv,
            vm,
            m.kind,
            m.to_host,
            m.to_pool,
            moving,
            self.options,
            m.vifs if m.to_pool != vm.pool else None,
        ):
            self._add(r.code, r.message, index, m)
        # Memory, storage, anti-affinity (rules 2, 3, 8): the start delta on the ledger
        # with the wave's earlier starts booked. Slots are counted per wave below.
        d = acc.demand(m)
        if vm.suspend_vdi is None:
            self.demands[id(m)] = d
        for sf in acc.ledger.shortfalls(d.start):
            if sf.key[0] not in ("pool", "host"):  # type: ignore[index]
                r = acc.reason(sf, d)
                self._add(r.code, r.message, index, m, WAVES)
        acc.start(d)
        return vm, d

    def _concurrency(
        self, index: int, per_pool: dict[str, list[str]], per_host: dict[str, list[str]]
    ) -> None:
        """Rule 1, and max_per_host when set: the wave's migrations per pool and host."""
        inv = self.inv
        for pool, ids in per_pool.items():
            if len(ids) > self.options.max_per_pool:
                self.out.append(
                    Violation(
                        codes.CONCURRENCY,
                        f"{len(ids)} migrations from pool {inv.label(pool)} "
                        f"({', '.join(ids)}), at most {self.options.max_per_pool}",
                        wave=index,
                        mode=WAVES,
                    )
                )
        limit = self.options.max_per_host
        for host, ids in per_host.items():
            if limit is not None and len(ids) > limit:
                self.out.append(
                    Violation(
                        codes.CONCURRENCY,
                        f"{len(ids)} migrations leave or enter host {inv.label(host)} "
                        f"({', '.join(ids)}), at most {limit} (max_per_host)",
                        wave=index,
                        mode=WAVES,
                    )
                )

    # ------------------------------------------------------------ helpers
    def _add(
        self, code: str, message: str, wave: int, m: Migration, mode: str | None = None
    ) -> None:
        inv = self.inv
        vm = inv.vm_by_uuid.get(m.vm)
        name = vm.name if vm is not None else m.vm
        dest = m.to_host or (m.disks[0].to_sr if m.disks else None) or m.to_pool
        move = f"{name} -> {inv.label(dest)}"
        self.out.append(Violation(code, message, wave, m.id, name, move, mode))

    def _unknown(self, m: Migration) -> list[str]:
        """Descriptions of every object the migration names that the inventory lacks."""
        inv = self.inv
        bad = []
        vm = inv.vm_by_uuid.get(m.vm)
        if vm is None:
            bad.append(f"vm {m.vm}")
        for what, uuid in (("from_host", m.from_host), ("to_host", m.to_host)):
            if uuid is not None and uuid not in inv.host_by_uuid:
                bad.append(f"{what} {uuid}")
        for what, uuid in (("from_pool", m.from_pool), ("to_pool", m.to_pool)):
            if uuid not in inv.pool_by_uuid:
                bad.append(f"{what} {uuid}")
        for d in m.disks:
            hit = inv.disk_by_uuid.get(d.vdi)
            if hit is None or hit[0].uuid != m.vm:
                bad.append(f"vdi {d.vdi}" + (f" (a disk of {hit[0].name})" if hit else ""))
            for what, uuid in (("from_sr", d.from_sr), ("to_sr", d.to_sr)):
                if uuid not in inv.sr_by_uuid:
                    bad.append(f"{what} {uuid}")
        for v in m.vifs:
            if v.to_network not in inv.network_by_uuid:
                bad.append(f"to_network {v.to_network}")
            if vm is not None and v.device not in {x.device for x in vm.vifs}:
                bad.append(f"vif device {v.device!r} ({vm.name} has no such VIF)")
        return bad

    def _continuity(self, index: int, m: Migration, vm: VM) -> None:
        """Rule 10: the migration starts where the replay has the VM."""
        inv = self.inv
        here = vm.host if vm.is_running else None
        if m.from_pool != vm.pool:
            self._add(
                codes.CONTINUITY,
                f"from_pool is {inv.label(m.from_pool)}, but {vm.name} is in pool "
                f"{inv.label(vm.pool)}",
                index,
                m,
            )
        if m.from_host != here:
            self._add(
                codes.CONTINUITY,
                f"from_host is {inv.label(m.from_host)}, but {vm.name} is on {inv.label(here)}",
                index,
                m,
            )
        at = {d.uuid: d.sr for d in vm.disks}
        for d in m.disks:
            if at.get(d.vdi, d.from_sr) != d.from_sr:
                self._add(
                    codes.CONTINUITY,
                    f"disk {inv.label(d.vdi)} from_sr is {inv.label(d.from_sr)}, but it "
                    f"is on {inv.label(at[d.vdi])}",
                    index,
                    m,
                )

    def _apply(self, m: Migration, vm: VM) -> None:
        """The end of the migration's wave: the VM and its disks have moved (the ledger
        has booked the memory and bytes)."""
        host = vm.host
        if vm.is_running and m.to_host is not None and m.to_host != vm.host:
            host = m.to_host
        moving = {d.vdi: d.to_sr for d in m.disks}
        disks = vm.disks
        if moving:
            new = []
            for d in vm.disks:
                to_sr = moving.get(d.uuid, d.sr)
                if to_sr != d.sr:
                    d = replace(d, sr=to_sr)
                new.append(d)
            disks = tuple(new)
        vifs = vm.vifs
        if m.to_pool != vm.pool and m.vifs:
            to_net = {v.device: v.to_network for v in m.vifs}
            vifs = tuple(Vif(x.device, to_net.get(x.device, x.network)) for x in vm.vifs)
        self.vms[vm.uuid] = replace(vm, host=host, pool=m.to_pool, disks=disks, vifs=vifs)
