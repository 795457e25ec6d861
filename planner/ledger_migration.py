"""The capacity ledger at inventory level: what a plan `Migration` takes and gives back
(FORMATS.md replay rules 1-4, 8 for anti-affinity, and 14), in bytes and counts.

`Account.of(inv, options)` builds a `planner.ledger.Ledger` with these keys:

- `("mem", host)`: capacity `host_capacity` (total - overhead - headroom), usage the
  memory committed by the host's Running/Paused VMs (`memory_min_bytes` under DMC);
- `("sr", sr)`: capacity `size_bytes`, usage `used_bytes`;
- `("pool", pool)`: slot count, capacity `max_per_pool` (source pool);
- `("host", host)`: slot count, capacity `max_per_host` when set (migrations leaving
  or entering the host);
- `("aa", host, group)`: members of an anti-affinity VM group running on the host,
  capacity 1 when `anti_affinity` is "strict" (none when "soft": counted, not limited).

`Account.demand(m)` turns a migration into a `Demand`: its `start` delta (memory on
`to_host`, 3x `size_bytes` on each `to_sr` and 2x on each `from_sr` of a disk that
changes SR, and of the suspend image, a pool slot, host slots, group membership on
`to_host`) and its `end` delta, which includes giving the start's holdings back
(memory off `from_host`, reservations back, each moved
disk's `used_bytes + snapshot_used_bytes` from `from_sr` to `to_sr`, slots back, group
membership off `from_host`). Rule 4 (a Halted or Suspended VM's disks move only while
some enabled host of its pool has `memory_bytes` free) is not a single key: the
account keeps the halted moves in flight per pool and checks them whenever memory in
that pool is committed.

Callers: the checker (both replays), the list scheduler (`planner.schedule`), the
campaign sequencer, the executor's live account and the simulator's admission.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from planner.inventory.model import VM, Inventory
from planner.ledger import Delta, Ledger, Shortfall, merge
from planner.moves import Migration, Reason
from planner.options import PlanOptions
from planner.rules import codes
from planner.rules.affinity import anti_groups
from planner.rules.memory import host_capacity, memory_reasons, vm_memory
from planner.rules.storage import amounts, reserve_on_source, reserve_on_target, sr_space_reasons
from planner.rules.storage import suspend_target as xapi_suspend_target


@dataclass(frozen=True, slots=True)
class Demand:
    """What one migration takes from the account at its start and changes at its end.

    `halted_need`: bytes some enabled host of `pool` must have free while it runs
    (rule 4; 0 when the VM is running or no disk moves). `mem_pools`: the pools whose
    hosts' memory its start commits (to re-check halted moves there)."""

    id: str
    vm: str
    pool: str
    start: Delta
    end: Delta
    halted_need: int = 0
    mem_pools: tuple[str, ...] = ()
    suspend_to: str | None = None  # where the VM's suspend image is after it


def suspend_target(inv: Inventory, vm: VM, m: Migration, at: str) -> str | None:
    """Where `m` puts `vm`'s suspend image (on SR `at` now), None when it stays: the SR
    a `disks` entry for its uuid names, else where XAPI puts it
    (`planner.rules.storage.suspend_target`: it stays when the VM stays in its pool on a
    host that sees `at`, else it follows the VM's first disk)."""
    if vm.suspend_vdi is None:
        return None
    for d in m.disks:
        if d.vdi == vm.suspend_vdi.uuid:
            return d.to_sr if d.to_sr != at else None
    if not any(d.to_sr != d.from_sr for d in m.disks) and m.to_pool == vm.pool:
        return None  # nothing is copied: the image is not either
    to = xapi_suspend_target(inv, vm, at, m.to_host, m.to_pool, {d.vdi: d.to_sr for d in m.disks})
    return to if to is not None and to != at else None


class Account:
    """The moving capacity state of an inventory (see the module docstring)."""

    def __init__(self, inv: Inventory, options: PlanOptions, ledger: Ledger) -> None:
        self.inv = inv
        self.options = options
        self.ledger = ledger
        self.aa_strict = options.anti_affinity != "soft"
        # rule 4: the memory keys of each pool's enabled hosts, and halted moves in flight
        self.enabled: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for h in inv.hosts:
            if h.enabled:
                self.enabled[h.pool].append(("mem", h.uuid))
        self.halted: dict[str, dict[str, Demand]] = defaultdict(dict)  # pool -> id -> d
        self.suspend_at: dict[str, str] = {
            v.uuid: v.suspend_vdi.sr for v in inv.vms if v.suspend_vdi is not None
        }

    @classmethod
    def of(
        cls,
        inv: Inventory,
        options: PlanOptions,
        *,
        max_per_pool: int | None = None,
        max_per_host: int | None = None,
        slots: bool = True,
    ) -> Account:
        """The account of `inv` as it is now. `max_per_pool`/`max_per_host` lower the
        options' slot limits (an operator's flag); `slots=False` leaves slots unlimited
        (wave replays count them per wave instead)."""
        led = Ledger()
        cap, used = led.cap, led.used
        for h in inv.hosts:
            cap[("mem", h.uuid)] = host_capacity(h, options.headroom_fraction)
        for host, vms in inv.vms_on_host.items():
            used[("mem", host)] = sum(vm_memory(v, options.dmc) for v in vms)
        for s in inv.srs:
            cap[("sr", s.uuid)] = s.size_bytes
            used[("sr", s.uuid)] = s.used_bytes
        if slots:
            per_pool = min(options.max_per_pool, max_per_pool or options.max_per_pool)
            for p in inv.pools:
                cap[("pool", p.uuid)] = per_pool
            per_host = options.max_per_host
            if max_per_host is not None:
                per_host = min(per_host or max_per_host, max_per_host)
            if per_host is not None:
                for h in inv.hosts:
                    cap[("host", h.uuid)] = per_host
        groups = [g for g in inv.vm_groups if g.placement == "anti-affinity"]
        if groups:
            if options.anti_affinity != "soft":
                for g in groups:
                    for h in inv.hosts_in_pool.get(g.pool, []):
                        cap[("aa", h.uuid, g.uuid)] = 1
            for v in inv.vms:
                if v.is_running and v.host is not None:
                    for gid in anti_groups(inv, v):
                        k = ("aa", v.host, gid)
                        used[k] = used.get(k, 0) + 1
        return cls(inv, options, led)

    def copy(self) -> Account:
        """An independent account in the same state (a tentative sequence of moves)."""
        out = Account.__new__(Account)
        out.inv, out.options, out.aa_strict = self.inv, self.options, self.aa_strict
        out.ledger = self.ledger.copy()
        out.enabled = defaultdict(list, {p: list(k) for p, k in self.enabled.items()})
        out.halted = defaultdict(dict, {p: dict(d) for p, d in self.halted.items()})
        out.suspend_at = dict(self.suspend_at)
        return out

    # ---------------------------------------------------------------- demands
    def demand(self, m: Migration) -> Demand:
        """What `m` takes and gives back (its VM must be in the inventory). A disk counts
        as moving when its `from_sr` differs from its `to_sr` (the checker verifies
        continuity separately); the suspend image moves from where it is now."""
        inv = self.inv
        vm = inv.vm_by_uuid[m.vm]
        start: list[tuple[object, int]] = [(("pool", m.from_pool), 1)]
        end: list[tuple[object, int]] = [(("pool", m.from_pool), -1)]
        for h in {m.from_host, m.to_host} - {None}:
            start.append((("host", h), 1))
            end.append((("host", h), -1))
        mem_pools: tuple[str, ...] = ()
        if (
            vm.is_running
            and m.kind != "move"
            and m.to_host is not None
            and m.to_host != m.from_host
        ):
            need = vm_memory(vm, self.options.dmc)
            start.append((("mem", m.to_host), need))
            to = inv.host_by_uuid.get(m.to_host)
            mem_pools = (to.pool,) if to is not None else ()
            if m.from_host is not None:
                end.append((("mem", m.from_host), -need))
            for g in anti_groups(inv, vm):
                start.append((("aa", m.to_host, g), 1))
                if m.from_host is not None:
                    end.append((("aa", m.from_host, g), -1))
        moved = False
        for dm in m.disks:
            if dm.from_sr == dm.to_sr:
                continue
            hit = inv.disk_by_uuid.get(dm.vdi)
            if hit is None or hit[0].uuid != vm.uuid:
                continue
            disk = hit[1]
            moved = True
            t, s = reserve_on_target(disk), reserve_on_source(disk)
            gone = disk.used_bytes + disk.snapshot_used_bytes
            start += [(("sr", dm.to_sr), t), (("sr", dm.from_sr), s)]
            end += [(("sr", dm.to_sr), gone - t), (("sr", dm.from_sr), -s - gone)]
        suspend_to = None
        sv = vm.suspend_vdi
        if sv is not None:
            at = self.suspend_at.get(vm.uuid, sv.sr)
            suspend_to = suspend_target(self.inv, vm, m, at)
            if suspend_to is not None:
                moved = True
                t, s = 3 * sv.size_bytes, 2 * sv.size_bytes
                start += [(("sr", suspend_to), t), (("sr", at), s)]
                end += [(("sr", suspend_to), sv.used_bytes - t), (("sr", at), -s - sv.used_bytes)]
        halted = vm.memory_bytes if (not vm.is_running and moved) else 0
        return Demand(
            m.id, vm.uuid, m.from_pool, merge(start), merge(end), halted, mem_pools, suspend_to
        )

    # ---------------------------------------------------------------- questions
    def best_free(self, pool: str) -> int:
        """Most free memory (bytes) on an enabled host of `pool` now (0 when none)."""
        b = self.ledger.best_free(self.enabled.get(pool, ()))
        return 0 if b is None else b

    def halted_short(self, d: Demand) -> int | None:
        """The best free memory in `d`'s pool when it is short of `d.halted_need`
        (rule 4), else None."""
        if not d.halted_need:
            return None
        best = self.best_free(d.pool)
        return best if best < d.halted_need else None

    def starved_by(self, d: Demand) -> list[tuple[Demand, int]]:
        """Halted moves in flight (and `d` itself) that lack rule-4 room once `d`'s start
        is applied: (demand, best free). Call with `d` applied."""
        out = []
        pools = set(d.mem_pools)
        if d.halted_need:
            pools.add(d.pool)
        for p in pools:
            for h in self.halted.get(p, {}).values():
                short = self.halted_short(h)
                if short is not None:
                    out.append((h, short))
        if d.halted_need and d.id not in self.halted.get(d.pool, {}):
            short = self.halted_short(d)
            if short is not None:
                out.append((d, short))
        return out

    def fits(self, d: Demand) -> bool:
        """Can `d` start now? (every key of its start delta, and rule 4 for it and for
        the halted moves in flight in the pools whose memory it commits)."""
        led = self.ledger
        if not led.fits(d.start):
            return False
        if not (d.halted_need or (d.mem_pools and any(self.halted.get(p) for p in d.mem_pools))):
            return True
        led.apply(d.start)
        try:
            return not self.starved_by(d)
        finally:
            led.undo(d.start)

    def reasons(self, d: Demand) -> list[Reason]:
        """Why `d` cannot start now (empty when it can), with the numbers involved."""
        out = [self.reason(s, d) for s in self.ledger.shortfalls(d.start)]
        if d.halted_need or d.mem_pools:
            self.ledger.apply(d.start)
            try:
                out += [self.halted_reason(h, best) for h, best in self.starved_by(d)]
            finally:
                self.ledger.undo(d.start)
        return out

    def reason(self, s: Shortfall, d: Demand) -> Reason:
        """A shortfall on one key as a reason code and message."""
        inv = self.inv
        kind, what = s.key[0], s.key[1]  # type: ignore[index]  # ledger keys are Hashable; this account's are str tuples
        vm = inv.vm_by_uuid[d.vm]
        if kind == "mem":
            return memory_reasons(vm, inv.host_by_uuid[what], s.need, s.free)[0]
        if kind == "sr":
            return sr_space_reasons(inv.sr_by_uuid[what], s.need, s.free)[0]
        cap = self.ledger.cap[s.key]
        if kind == "pool":
            return Reason(
                codes.CONCURRENCY,
                f"pool {inv.label(what)} already has "
                f"{cap - s.free} migration(s) in flight, at most {cap}",
            )
        if kind == "host":
            return Reason(
                codes.CONCURRENCY,
                f"host {inv.label(what)} already has "
                f"{cap - s.free} migration(s) in flight, at most {cap} "
                "(max_per_host)",
            )
        group = inv.vm_group_by_uuid[s.key[2]]  # type: ignore[index]  # ledger keys are Hashable; this account's are str tuples
        return Reason(
            codes.ANTI_AFFINITY,
            f"{vm.name} would share {inv.label(what)} with "
            f"another VM of anti-affinity group {group.name}",
        )

    def halted_reason(self, h: Demand, best: int) -> Reason:
        vm = self.inv.vm_by_uuid[h.vm]
        need_s, free_s = amounts(h.halted_need, max(best, 0))
        return Reason(
            codes.HALTED_MEMORY,
            f"{vm.name} ({vm.power_state}) needs an enabled host of pool "
            f"{self.inv.label(h.pool)} with {need_s} free while its disks move; "
            f"the most free is {free_s}",
        )

    # ---------------------------------------------------------------- changes
    def start(self, d: Demand) -> None:
        """Book `d`'s start (unchecked: ask `fits`/`reasons` first)."""
        self.ledger.apply(d.start)
        if d.halted_need:
            self.halted[d.pool][d.id] = d

    def end(self, d: Demand) -> None:
        """Book `d`'s end: it has arrived (`d.end` gives back what the start took)."""
        self.ledger.apply(d.end)
        self.halted.get(d.pool, {}).pop(d.id, None)
        if d.suspend_to is not None:
            self.suspend_at[d.vm] = d.suspend_to

    def failed(self, d: Demand) -> None:
        """`d` started and failed: give back what its start took; nothing moved."""
        self.ledger.undo(d.start)
        self.halted.get(d.pool, {}).pop(d.id, None)

    def end_shortfalls(self, d: Demand) -> tuple[Shortfall, ...]:
        """Keys `d`'s end would push over (its used bytes landing on an SR that its own
        reservation did not cover): rule 14 holds at every instant, ends included."""
        return self.ledger.shortfalls(d.end)

    def set_enabled(self, host: str, enabled: bool) -> None:
        """A host step: `host` is enabled or disabled from now on (rule 4's hosts)."""
        h = self.inv.host_by_uuid[host]
        keys = self.enabled[h.pool]
        k = ("mem", host)
        if enabled and k not in keys:
            keys.append(k)
        elif not enabled and k in keys:
            keys.remove(k)
