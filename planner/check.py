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

import math
from collections import defaultdict
from dataclasses import dataclass, replace

from planner.errors import InputError
from planner.goals import Goal, Position, Rebalance, RollingUpgrade, goal_from_json, satisfied
from planner.inventory.io import digest
from planner.inventory.model import VM, Inventory, Vif
from planner.ledger_migration import Account, Demand
from planner.options import PlanOptions
from planner.plan import Migration, Plan, Step, estimate_of
from planner.rules import codes, target_reasons
from planner.rules.exclusions import exclusion_reasons
from planner.rules.version import version_at_least

WAVES = "waves"
FLOW = "flow"


@dataclass(frozen=True)
class Violation:
    """One broken promise: its reason code, a message with the numbers involved, and
    where it happened (wave index, migration id and VM name, when they apply)."""

    code: str
    message: str
    wave: int | None = None
    migration: str | None = None
    vm: str | None = None
    # added for display: "db-07 -> xs-03" (VM name -> target host, SR or pool name)
    move: str | None = None
    # the way of running the plan this breaks: "waves" (rules 1-12, lock-step), "flow"
    # (rules 13-15, the schedule), None: both (a static rule, or broken either way)
    mode: str | None = None

    def __str__(self) -> str:
        where = []
        if self.wave is not None:
            where.append(f"wave {self.wave}")
        if self.migration is not None:
            where.append(f"{self.migration} ({self.move})" if self.move else self.migration)
        prefix = f"{', '.join(where)}: " if where else ""
        tag = f"[{self.mode}] " if self.mode is not None else ""
        return f"{tag}{prefix}{self.code} {self.message}"


@dataclass(frozen=True)
class CheckReport:
    """The outcome of a replay: every violation, and the size of the plan checked."""

    violations: tuple[Violation, ...]
    waves: int
    migrations: int
    # (v2) unplaced VMs excused only by capacity codes: the solver's claim, not verified
    claimed: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations

    def codes(self) -> set[str]:
        """The distinct codes found (handy in tests and summaries)."""
        return {v.code for v in self.violations}

    def lines(self) -> list[str]:
        return [str(v) for v in self.violations]


def check_plan(inv: Inventory, plan: Plan) -> CheckReport:
    """Replay `plan` from `inv` both ways and report every violation: wave mode (FORMATS.md
    rules 1-12) and, for a plan with a schedule (v2), flow mode (rules 13-15, an event
    sweep). Each violation's `mode` says which way of running it breaks ("waves",
    "flow", or None for both: a static rule, or one broken the same way in both).

    Raises `InputError` when the plan was made for another inventory (its
    `inventory_digest` differs) or its `options` are unusable: such a plan cannot be
    checked at all.
    """
    want = digest(inv)
    if plan.inventory_digest != want:
        raise InputError(
            f"plan was made for another inventory: its inventory_digest "
            f"{plan.inventory_digest[:12] or '(empty)'}... is not this inventory's "
            f"{want[:12]}..."
        )
    options = PlanOptions.from_json(plan.options)
    replay = _Replay(inv, options)
    for wave in plan.waves:
        replay.steps(wave.index, [s for s in wave.steps if s.when == "before"])
        replay.wave(wave.index, wave.migrations)
        replay.steps(wave.index, [s for s in wave.steps if s.when != "before"])
    out = replay.out
    if plan.has_schedule:
        out = _merge_modes(out, _flow_violations(inv, plan, options, replay.demands))
    out += _goal_violations(inv, plan, replay)
    reason_out, claimed = _unplaced_reason_violations(inv, plan)
    out += reason_out
    out += _estimate_violations(plan)
    out += _home_violations(inv, plan)
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
                self.out.append(Violation(codes.UNKNOWN_OBJECT, f"step names host {st.host}, "
                                          "not in the inventory", wave=index, move=where))
                continue
            if st.kind == "host-upgrade":
                running = sorted(v.name for v in self.vms.values()
                                 if v.is_running and v.host == st.host)  # fmt: skip
                if running:
                    self.out.append(Violation(
                        codes.HOST_NOT_EMPTY,
                        f"{host.name} is upgraded while {len(running)} running VM(s) are on "
                        f"it: {', '.join(running[:5])}", wave=index, move=where))  # fmt: skip
                master = self.inv.master_of(host.pool)
                ver = st.to_version or host.version
                if master.uuid != host.uuid and not version_at_least(master.version, ver):
                    self.out.append(Violation(
                        codes.UPGRADE_ORDER,
                        f"{host.name} is upgraded to {ver} while the pool master "
                        f"{master.name} runs {master.version}", wave=index,
                        move=where))  # fmt: skip
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
        inv = self.inv
        acc = self.account
        per_pool: dict[str, list[str]] = defaultdict(list)
        per_host: dict[str, list[str]] = defaultdict(list)
        seen_vms: set[str] = set()
        apply: list[tuple[Migration, VM, Demand]] = []
        for m in migrations:
            per_pool[m.from_pool].append(m.id)
            for h in {m.from_host, m.to_host} - {None}:
                per_host[str(h)].append(m.id)
            bad = self._unknown(m)
            vm = self.vms.get(m.vm)
            if bad or vm is None:
                for what in bad:
                    self._add(codes.UNKNOWN_OBJECT, f"names {what}, not in the inventory",
                              index, m)  # fmt: skip
                continue
            if m.vm in seen_vms:
                self._add(codes.CONTINUITY, f"{vm.name} already moves in this wave", index, m,
                          WAVES)  # fmt: skip
                continue
            seen_vms.add(m.vm)
            self._continuity(index, m, vm)
            for dep in m.depends_on:
                if dep not in self.done:
                    self._add(codes.DEPENDENCY,
                              f"depends on {dep}, which is not a migration of an earlier "
                              "wave", index, m, WAVES)  # fmt: skip
            at = {d.uuid: d.sr for d in vm.disks}
            moving = {d.vdi: d.to_sr for d in m.disks if d.to_sr != at[d.vdi]}
            for r in target_reasons(inv, vm, m.kind, m.to_host, m.to_pool, moving,
                                    self.options, m.vifs if m.to_pool != vm.pool else None):
                self._add(r.code, r.message, index, m)  # fmt: skip
            # Memory, storage, anti-affinity (rules 2, 3, 8): the start delta on the ledger
            # with the wave's earlier starts booked. Slots are counted per wave below.
            d = acc.demand(m)
            if vm.suspend_vdi is None:
                self.demands[id(m)] = d
            for sf in acc.ledger.shortfalls(d.start):
                if sf.key[0] not in ("pool", "host"):  # type: ignore[index]  # ledger keys are Hashable; this account's are str tuples
                    r = acc.reason(sf, d)
                    self._add(r.code, r.message, index, m, WAVES)
            acc.start(d)
            apply.append((m, vm, d))
        # Rule 4 needs the whole wave's incoming memory, so it runs after every start.
        for m, _vm, d in apply:
            best = acc.halted_short(d)
            if best is not None:
                r = acc.halted_reason(d, best)
                self._add(r.code, r.message, index, m, WAVES)
        # Concurrency (rule 1, and max_per_host when set)
        for pool, ids in per_pool.items():
            if len(ids) > self.options.max_per_pool:
                self.out.append(Violation(
                    codes.CONCURRENCY,
                    f"{len(ids)} migrations from pool {inv.label(pool)} "
                    f"({', '.join(ids)}), at most {self.options.max_per_pool}",
                    wave=index, mode=WAVES))  # fmt: skip
        limit = self.options.max_per_host
        for host, ids in per_host.items():
            if limit is not None and len(ids) > limit:
                self.out.append(Violation(
                    codes.CONCURRENCY,
                    f"{len(ids)} migrations leave or enter host {inv.label(host)} "
                    f"({', '.join(ids)}), at most {limit} (max_per_host)",
                    wave=index, mode=WAVES))  # fmt: skip
        for m, vm, d in apply:
            acc.end(d)
            self._apply(m, vm)
        self.done.update(m.id for m in migrations)

    # ------------------------------------------------------------ helpers
    def _add(self, code: str, message: str, wave: int, m: Migration,
             mode: str | None = None) -> None:  # fmt: skip
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
            self._add(codes.CONTINUITY,
                      f"from_pool is {inv.label(m.from_pool)}, but {vm.name} is in pool "
                      f"{inv.label(vm.pool)}", index, m)  # fmt: skip
        if m.from_host != here:
            self._add(codes.CONTINUITY,
                      f"from_host is {inv.label(m.from_host)}, but {vm.name} is on "
                      f"{inv.label(here)}", index, m)  # fmt: skip
        at = {d.uuid: d.sr for d in vm.disks}
        for d in m.disks:
            if at.get(d.vdi, d.from_sr) != d.from_sr:
                self._add(codes.CONTINUITY,
                          f"disk {inv.label(d.vdi)} from_sr is {inv.label(d.from_sr)}, but it "
                          f"is on {inv.label(at[d.vdi])}", index, m)  # fmt: skip

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


def _goal_violations(inv: Inventory, plan: Plan, replay: _Replay) -> list[Violation]:
    """Rule 11: after the last wave the goal holds, except for VMs listed as unplaced
    with the reason codes that stop them."""
    out: list[Violation] = []
    excused: set[str] = set()
    for u in plan.unplaced:
        vm = inv.vm_by_uuid.get(u.vm)
        if vm is None:
            out.append(Violation(codes.UNKNOWN_OBJECT, f"unplaced names vm {u.vm}, not in "
                                 "the inventory"))  # fmt: skip
        elif not u.reasons:
            out.append(Violation(codes.GOAL, f"{vm.name} is listed as unplaced without a "
                                 "reason", vm=vm.name))  # fmt: skip
        else:
            excused.add(u.vm)
    try:
        goal: Goal = goal_from_json(plan.goal, inv)
    except InputError as e:
        code = codes.UNKNOWN_OBJECT if "uuid" in e.message else codes.GOAL
        out.append(Violation(code, f"the plan's goal is unusable: {e.message}"))
        return out
    if isinstance(goal, Rebalance):
        n = sum(len(w.migrations) for w in plan.waves)
        if goal.max_moves is not None and n > goal.max_moves:
            out.append(Violation(codes.GOAL, f"rebalance allows {goal.max_moves} moves, the "
                                 f"plan makes {n}"))  # fmt: skip
        if "tolerance" in plan.goal:
            # the planner always writes the tolerance; a goal without it (older plans,
            # hand-made ones) is held to max_moves only, as before
            out += _rebalance_violations(inv, plan, goal, replay)
        return out
    if isinstance(goal, RollingUpgrade):
        return out + _rolling_violations(goal, replay, excused)
    for vm in inv.vms:
        if vm.uuid in excused:
            continue
        now = replay.vms[vm.uuid]
        where = Position(now.host if now.is_running else None, now.pool,
                         {d.uuid: d.sr for d in now.disks})  # fmt: skip
        if not satisfied(goal, inv, vm, where):
            out.append(Violation(codes.GOAL,
                                 f"{vm.name} does not meet the {goal.kind} goal after the "
                                 f"last wave (on {inv.label(where.host)}, pool "
                                 f"{inv.label(where.pool)}) and is not listed as unplaced",
                                 vm=vm.name))  # fmt: skip
    return out


def _unplaced_reason_violations(inv: Inventory, plan: Plan) -> tuple[list[Violation], int]:
    """Rule 11 (v2): every unplaced VM's reason codes are checked (planner/rules/reasons.py).

    An exclusion must be a property of the VM; a target-rule code must rule out every
    target the goal allows (evacuate, move-pool and retire-sr: the targets the problem
    builder would consider) and be among their reasons; a capacity code is the solver's
    claim (counted); an unknown code is a violation. Returns the violations and the number
    of unplaced VMs excused by capacity claims only."""
    from planner.rules.reasons import reason_class

    try:
        goal: Goal | None = goal_from_json(plan.goal, inv)
    except InputError:
        goal = None  # reported by the goal check
    options = PlanOptions.from_json(plan.options)
    out: list[Violation] = []
    claimed = 0
    for u in plan.unplaced:
        vm = inv.vm_by_uuid.get(u.vm)
        if vm is None or not u.reasons:
            continue  # reported by the goal check
        held = False  # some verified static reason
        for r in u.reasons:
            cls = reason_class(r.code)
            if cls == "unknown":
                out.append(Violation(codes.UNKNOWN_REASON,
                                     f"{vm.name} is unplaced with reason code {r.code!r}, which "
                                     "no rule gives", vm=vm.name))  # fmt: skip
            elif cls == "exclusion":
                have = {x.code for k in ("live", "storage", "move")
                        for x in exclusion_reasons(inv, vm, k)}  # fmt: skip
                if r.code in have:
                    held = True
                else:
                    out.append(Violation(codes.GOAL,
                                         f"{vm.name} is unplaced with {r.code}, but it is not "
                                         f"{codes.MEANING[r.code].lower()}", vm=vm.name))
            elif cls == "target":
                why = _static_reasons(inv, goal, vm, options)
                # NO_TARGET says only that every target fails some rule; another planner
                # may have tried more kinds of target (storage moves to any SR)
                if why is None or r.code in why or (r.code == codes.NO_TARGET and why) or (
                        why and r.code in _broad_reasons(inv, goal, vm, options)):
                    held = True
                elif not why:
                    out.append(Violation(codes.GOAL,
                                         f"{vm.name} is unplaced with {r.code}, but a target "
                                         "the goal allows passes every rule", vm=vm.name))
                else:
                    out.append(Violation(codes.GOAL,
                                         f"{vm.name} is unplaced with {r.code}, but no target "
                                         f"fails that rule (they fail {', '.join(sorted(why))})",
                                         vm=vm.name))  # fmt: skip
        if not held and all(reason_class(r.code) == "capacity" for r in u.reasons):
            claimed += 1
    return out, claimed


def _static_reasons(inv: Inventory, goal: Goal | None, vm: VM,
                    options: PlanOptions) -> set[str] | None:  # fmt: skip
    """The codes that stop every target the goal allows `vm` (empty: some target passes
    every static rule). None when the checker cannot enumerate the goal's targets
    (campaign goals): then a target-rule claim is accepted."""
    from planner.goals import Evacuate, MovePool, RetireSR
    from planner.problem import _affinity_reasons, _moved_disks, _options_for, _target_pools
    from planner.rules import expected_kind

    if not isinstance(goal, Evacuate | MovePool | RetireSR):
        return None
    moved = _moved_disks(inv, goal, vm, options)
    pools = _target_pools(goal, vm)
    kind = expected_kind(vm, pools[0], bool(moved))
    targets = _options_for(inv, goal, vm, moved, pools)
    if not targets:
        return {codes.NO_TARGET}
    out: set[str] = set()
    for h, s, pool in targets:
        disk_targets = {u: s for u in moved} if s else {}
        reasons = target_reasons(inv, vm, kind, h, pool, disk_targets, options)
        reasons += _affinity_reasons(inv, goal, vm, h, options)  # strict mode, static
        if not reasons:
            return set()
        out |= {x.code for x in reasons}
    return out


def _broad_reasons(inv: Inventory, goal: Goal | None, vm: VM,
                   options: PlanOptions) -> set[str]:  # fmt: skip
    """The codes that stop `vm` on any host (or none, for a Halted VM) and any SR of the
    goal's target pools with all its disks moving there: the widest scope a planner may
    have tried. Asked only when the builder's scope lacks a claimed code."""
    from planner.goals import Evacuate, MovePool, RetireSR
    from planner.problem import _target_pools
    from planner.rules import expected_kind

    if not isinstance(goal, Evacuate | MovePool | RetireSR):
        return set()
    out: set[str] = set()
    for pool in _target_pools(goal, vm):
        kind = expected_kind(vm, pool, True)
        hosts: list[str | None] = [None]
        if vm.power_state != "Halted":
            hosts = [h.uuid for h in inv.hosts_in_pool.get(pool, [])]
        for h in hosts:
            for sr in inv.srs_in_pool.get(pool, []):
                moving = {d.uuid: sr.uuid for d in vm.disks}
                out |= {x.code for x in target_reasons(inv, vm, kind, h, pool, moving, options)}
    return out


def _rebalance_violations(inv: Inventory, plan: Plan, goal: Rebalance,
                          replay: _Replay) -> list[Violation]:  # fmt: skip
    """Rebalance: live moves within a pool only; no moves in a pool that was within the
    tolerance; no pool ends with a wider spread than it began (docs/check.md)."""
    from planner.rules.memory import spread_points

    out: list[Violation] = []
    moved_pools: set[str] = set()
    for m in plan.migrations():
        moved_pools.add(m.from_pool)
        if m.kind != "live" or m.from_pool != m.to_pool:
            vm = inv.vm_by_uuid.get(m.vm)
            out.append(Violation(codes.GOAL, "rebalance moves are live migrations within a "
                                 "pool", migration=m.id, vm=vm.name if vm else m.vm))
    end_vms = list(replay.vms.values())
    for pool in inv.pools:
        before = spread_points(inv, inv.vms, pool.uuid, replay.options)
        after = spread_points(inv, end_vms, pool.uuid, replay.options)
        if pool.uuid in moved_pools and before <= goal.tolerance * 100 + 1e-9:
            out.append(Violation(codes.GOAL, f"pool {pool.name} was within the tolerance "
                                 f"({before:.1f} points) but the plan moves VMs in it"))
        if after > before + 1e-9:
            out.append(Violation(codes.GOAL, f"pool {pool.name} ends less balanced "
                                 f"({after:.1f} points) than it began ({before:.1f})"))
    return out


def _rolling_violations(goal: RollingUpgrade, replay: _Replay,
                        excused: set[str]) -> list[Violation]:  # fmt: skip
    """Rolling upgrade: every host of the pool ends at `to_version`, except a host that
    still holds a VM the plan lists as unplaced (it could not be evacuated)."""
    out: list[Violation] = []
    held = {v.host for u, v in replay.vms.items() if u in excused and v.is_running}
    master = replay.inv.master_of(goal.pool)
    if master.uuid in held and not version_at_least(master.version, goal.to_version):
        return out  # a pinned master blocks the whole pool (UPGRADE_ORDER): excused
    for h in replay.inv.hosts_in_pool.get(goal.pool, []):
        if version_at_least(h.version, goal.to_version) or h.uuid in held:
            continue
        out.append(Violation(codes.GOAL, f"{h.name} runs {h.version} after the last wave, "
                             f"not {goal.to_version}"))
    return out


def _home_violations(inv: Inventory, plan: Plan) -> list[Violation]:
    """(issue 17) Every `home_host` is a host of its migration's `to_pool`."""
    from planner.home import home_violations

    wave_of = {m.id: w.index for w in plan.waves for m in w.migrations}
    return [Violation(codes.HOME_HOST, msg, wave_of[m.id], m.id, inv.label(m.vm),
                      f"{inv.label(m.vm)} -> {inv.label(m.to_host or m.to_pool)}")
            for m, msg in home_violations(inv, plan)]  # fmt: skip


def _estimate_violations(plan: Plan) -> list[Violation]:
    """Rules 12 and 15: the estimate is the number of waves, the sum of each wave's
    longest (`wave_seconds`; v1: `seconds`) and (v2) the schedule's length (`seconds`)."""
    want = estimate_of(plan.waves)
    keys: tuple[str, ...] = ("waves", "seconds", "wave_seconds")
    if not plan.has_schedule:
        want["seconds"] = want["wave_seconds"]
        keys = ("waves", "seconds")
    out = []
    for key in keys:
        mode = FLOW if key == "seconds" and plan.has_schedule else WAVES
        have = plan.estimate.get(key)
        ok = (isinstance(have, int | float) and not isinstance(have, bool)
              and math.isclose(have, want[key], rel_tol=0, abs_tol=1e-6))  # fmt: skip
        if not ok:
            what = "the schedule gives" if mode == FLOW else "the waves give"
            out.append(Violation(codes.ESTIMATE, f"estimate.{key} is {have!r}, {what} "
                                 f"{want[key]}", mode=mode))  # fmt: skip
    return out


# ---------------------------------------------------------------- flow mode (v2)


def _flow_violations(inv: Inventory, plan: Plan, options: PlanOptions,
                     known: dict[int, Demand] | None = None) -> list[Violation]:  # fmt: skip
    """Rules 13 and 14: the schedule's order, then an event sweep over every
    migration's [start_s, start_s + est_seconds) on the ledger (ends before starts at
    one instant; starts at one instant in plan order). Migrations naming unknown
    objects are left to wave mode (UNKNOWN_OBJECT is static)."""
    out: list[Violation] = []
    wave_of: dict[str, int] = {}
    end_of: dict[str, int] = {}
    for w in plan.waves:
        for m in w.migrations:
            wave_of.setdefault(m.id, w.index)
            end_of.setdefault(m.id, m.end_s)

    def add(code: str, message: str, m: Migration) -> None:
        vm = inv.vm_by_uuid.get(m.vm)
        name = vm.name if vm is not None else m.vm
        dest = m.to_host or (m.disks[0].to_sr if m.disks else None) or m.to_pool
        out.append(Violation(code, message, wave_of.get(m.id), m.id, name,
                             f"{name} -> {inv.label(dest)}", FLOW))  # fmt: skip

    def add_step(code: str, message: str, st: Step, wave: int) -> None:
        out.append(Violation(code, message, wave, move=f"{st.kind} {inv.label(st.host)}",
                             mode=FLOW))  # fmt: skip

    # ---- rule 13: order, in plan order (a wave's before steps, migrations, after steps)
    last_vm: dict[str, Migration] = {}
    step_end: dict[str, tuple[int, Step]] = {}  # pool -> latest-ending step so far
    pool_end: dict[str, tuple[int, str]] = {}  # pool -> latest end so far (what)
    events: list[tuple[int, int, int, Migration | Step]] = []  # (t, 0 end / 1 start, order, item)
    order = 0
    for w in plan.waves:
        before = [s for s in w.steps if s.when == "before"]
        after = [s for s in w.steps if s.when != "before"]
        items: list[Migration | Step] = [*before, *w.migrations, *after]
        for it in items:
            order += 1
            if isinstance(it, Step):
                host = inv.host_by_uuid.get(it.host)
                if host is None:
                    continue
                late = pool_end.get(host.pool)
                if late is not None and late[0] > it.start_s:
                    add_step(codes.DEPENDENCY, f"starts at t={it.start_s} s, before {late[1]} "
                             f"of pool {inv.label(host.pool)} ends at t={late[0]} s", it,
                             w.index)  # fmt: skip
                if it.end_s >= step_end.get(host.pool, (-1, it))[0]:
                    step_end[host.pool] = (it.end_s, it)
                if late is None or it.end_s >= late[0]:
                    pool_end[host.pool] = (it.end_s, f"{it.kind} {inv.label(it.host)}")
                events.append((it.start_s, 1, order, it))
                events.append((it.end_s, 0, order, it))
                continue
            m = it
            for dep in m.depends_on:
                if dep not in end_of:
                    add(codes.DEPENDENCY, f"depends on {dep}, not a migration of the plan", m)
                elif end_of[dep] > m.start_s:
                    add(codes.DEPENDENCY, f"starts at t={m.start_s} s, before {dep} (which "
                        f"it depends on) ends at t={end_of[dep]} s", m)  # fmt: skip
            prev = last_vm.get(m.vm)
            if prev is not None and prev.end_s > m.start_s:
                add(codes.CONTINUITY, f"starts at t={m.start_s} s, before {prev.id} (the same "
                    f"VM's previous migration) ends at t={prev.end_s} s", m)  # fmt: skip
            last_vm[m.vm] = m
            for pool in dict.fromkeys((m.from_pool, m.to_pool)):
                st = step_end.get(pool)
                if st is not None and st[0] > m.start_s:
                    add(codes.DEPENDENCY, f"starts at t={m.start_s} s, before step "
                        f"{st[1].kind} {inv.label(st[1].host)} of its pool ends at "
                        f"t={st[0]} s", m)  # fmt: skip
                late = pool_end.get(pool)
                if late is None or m.end_s >= late[0]:
                    pool_end[pool] = (m.end_s, m.id)
            if m.vm in inv.vm_by_uuid:
                events.append((m.start_s, 1, order, m))
                events.append((m.end_s, 0, order, m))
    # ---- rule 14: capacity at every instant
    acc = Account.of(inv, options)
    demands: dict[int, Demand] = {}
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    for t, is_start, key, it in events:
        if isinstance(it, Step):
            if it.kind == "host-disable" and is_start:
                acc.set_enabled(it.host, False)
            elif it.kind == "host-enable" and not is_start:
                acc.set_enabled(it.host, True)
            continue
        assert isinstance(it, Migration)
        if is_start:
            d = (known or {}).get(id(it)) or acc.demand(it)
            demands[key] = d
            for r in acc.reasons(d):
                add(r.code, f"at t={t} s: {r.message}", it)
            acc.start(d)
        else:
            d = demands.pop(key)
            for sf in acc.end_shortfalls(d):
                r = acc.reason(sf, d)
                add(r.code, f"at t={t} s (its end): {r.message}", it)
            acc.end(d)
    return out


def _merge_modes(waves: list[Violation], flow: list[Violation]) -> list[Violation]:
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
