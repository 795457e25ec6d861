"""What the campaign planners share: the `Sequencer`, which turns
an ordered list of moves (and host steps) into waves that replay cleanly, and gives
them real start times with the list scheduler (`planner.schedule`).

Its capacity accounting is the one ledger (`planner.ledger_migration.Account`, see
docs/ledger.md), kept twice: `seq`, where every move so far has ended (what the
campaign planners reason with), and `wave_acc`, the checker's view of the wave being
built (the current wave's moves started, not ended).

A campaign planner reasons *sequentially*: a move frees its source at once. The
sequencer packs those moves into waves under the checker's semantics (FORMATS.md rules
1-3: memory is committed on the target from the wave's start and freed on the source at
its end; a storage migration reserves 3x its disks' virtual size on the target SR and 2x
on the source SR for the whole wave, and the used bytes move at the wave's end; at most
`max_per_pool` moves per pool per wave), starting a new wave whenever a move would not
fit in the current one, and names in `depends_on` the earlier migrations that freed what
each move needs (memory or SR space). Memory and disk amounts are in bytes, durations in
seconds.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from planner.durations import DEFAULT_MODEL, DurationModel
from planner.goals import Goal
from planner.inventory.io import digest
from planner.inventory.model import VM, Inventory
from planner.ledger import Ledger
from planner.ledger_migration import Account, Demand
from planner.options import PlanOptions
from planner.plan import (
    DiskMove,
    Migration,
    Plan,
    Reason,
    Step,
    Unplaced,
    Wave,
    estimate_of,
)
from planner.plan_header import Figures, SolverInfo
from planner.rules import target_reasons
from planner.rules.memory import host_capacity, vm_memory
from planner.rules.memory import spread_points as spread_points  # moved: check uses it too
from planner.rules.memory import utilisation as utilisation
from planner.rules.storage import reserve_on_source, reserve_on_target
from planner.schedule import schedule
from planner.status import Status


class _Used(Mapping[str, int]):
    """Bytes of memory committed per host, read from a ledger (`("mem", host)` keys)."""

    def __init__(self, ledger: Ledger, hosts: Iterable[str]) -> None:
        self._ledger = ledger
        self._hosts = list(hosts)

    def __getitem__(self, host: str) -> int:
        return self._ledger.used.get(("mem", host), 0)

    def __iter__(self) -> Any:
        return iter(self._hosts)

    def __len__(self) -> int:
        return len(self._hosts)


class Sequencer:
    """Sequential moves (live, or storage within the pool) and host steps -> waves (see
    the module docstring).

    `inv` tracks host steps (a disabled host, an upgraded version) the way the replay
    checker does, so `reasons()` answers with the rules as they stand at that point.
    """

    def __init__(
        self, inv: Inventory, options: PlanOptions, durations: DurationModel = DEFAULT_MODEL
    ) -> None:
        self.inv = inv
        self.base = inv
        self.options = options
        self.durations = durations
        self.capacity = {h.uuid: host_capacity(h, options.headroom_fraction) for h in inv.hosts}
        # the ledger, sequentially (every move so far has ended) and as the wave replay
        # sees the wave being built (its moves started, not ended)
        self.seq = Account.of(inv, options, slots=False)
        self.wave_acc = Account.of(inv, options)
        self._wave_demands: list[Demand] = []
        self.host_of: dict[str, str | None] = {}
        for v in inv.vms:
            self.host_of[v.uuid] = v.host if v.is_running else None
        self.disk_sr: dict[str, str] = {d.uuid: d.sr for v in inv.vms for d in v.disks}
        self._sr_left: dict[str, list[tuple[str, int]]] = defaultdict(list)  # sr -> (id, b)
        self.waves: list[Wave] = []
        self._migs: list[Migration] = []
        self._before: list[Step] = []
        self._after: list[Step] = []
        self._moving: set[str] = set()
        self._left: dict[str, list[tuple[str, int]]] = defaultdict(list)  # host -> (id, b)
        self._last: dict[str, str] = {}  # vm -> id of its latest migration
        self._n = 0

    # ---------------------------------------------------------------- questions
    def vm(self, uuid: str) -> VM:
        """The VM where the sequence has it now (host and disks)."""
        v = self.base.vm_by_uuid[uuid]
        disks = tuple(
            d if d.sr == self.disk_sr[d.uuid] else replace(d, sr=self.disk_sr[d.uuid])
            for d in v.disks
        )
        return replace(v, host=self.host_of[uuid], disks=disks)

    def need(self, uuid: str) -> int:
        return vm_memory(self.base.vm_by_uuid[uuid], self.options.dmc)

    @property
    def committed(self) -> Mapping[str, int]:
        """Bytes committed per host once every move so far has ended."""
        return _Used(self.seq.ledger, self.capacity)

    def free(self, host: str) -> int:
        """Bytes free on `host` once every move so far has ended."""
        return self.seq.ledger.free(("mem", host)) or 0

    def sr_free(self, sr: str) -> int:
        """Bytes free on `sr` once every move so far has ended."""
        return self.seq.ledger.free(("sr", sr)) or 0

    def storage_needs(self, uuid: str, disks: Mapping[str, str]) -> dict[str, int]:
        """Bytes each SR must have free (sequentially) for `uuid` to move the disks
        `disks` ({vdi: target SR}): 3x the virtual size on the target SR (at least the
        used bytes it keeps afterwards), 2x on the source SR (rules/storage.py)."""
        out: dict[str, int] = defaultdict(int)
        used: dict[str, int] = defaultdict(int)
        for d in self.vm(uuid).disks:
            to = disks.get(d.uuid)
            if to is None or to == d.sr:
                continue
            out[to] += reserve_on_target(d)
            used[to] += d.used_bytes
            out[d.sr] += reserve_on_source(d)
        return {sr: max(b, used[sr]) for sr, b in out.items()}

    def reasons(
        self, uuid: str, to_host: str, disks: Mapping[str, str] | None = None
    ) -> list[Reason]:
        """Static rules (with the steps so far) against a move of `uuid` to `to_host`:
        live, or a storage migration when `disks` ({vdi: target SR}) is not empty."""
        vm = self.vm(uuid)
        kind = "storage" if disks else "live"
        return target_reasons(self.inv, vm, kind, to_host, vm.pool, dict(disks or {}), self.options)

    def vms_on(self, host: str) -> list[str]:
        """Uuids of the running VMs on `host` now, in inventory order."""
        return [v.uuid for v in self.base.vms if self.host_of[v.uuid] == host]

    # ---------------------------------------------------------------- building
    def _wave_sr_free(self, sr: str) -> int:
        """Bytes `sr` has for a new reservation in the current wave (the checker counts
        the used bytes at the wave's start and every reservation of the wave)."""
        return self.wave_acc.ledger.free(("sr", sr)) or 0

    def _wave_free(self, host: str) -> int:
        """Bytes `host` has for a new arrival in the current wave."""
        return self.wave_acc.ledger.free(("mem", host)) or 0

    def move(
        self,
        uuid: str,
        to_host: str,
        reason: str | None = None,
        disks: Mapping[str, str] | None = None,
    ) -> Migration:
        """Append a move: live, or a storage migration of the disks `disks` ({vdi:
        target SR}) when it is not empty. The caller has checked `reasons()`, `free()`
        and, for disks, `sr_free()` against `storage_needs()`."""
        vm = self.vm(uuid)
        # a storage migration onto the VM's own host commits no new memory
        need = 0 if to_host == vm.host else self.need(uuid)
        moving = {d: s for d, s in (disks or {}).items() if s != self.disk_sr[d]}
        sr_need = self.storage_needs(uuid, moving)
        assert vm.host is not None
        kind = "storage" if moving else "live"
        m = Migration(
            id=f"m{self._n + 1}",
            vm=uuid,
            kind=kind,
            from_host=vm.host,
            to_host=to_host,
            from_pool=vm.pool,
            to_pool=vm.pool,
            disks=tuple(
                DiskMove(d.uuid, d.sr, moving[d.uuid]) for d in vm.disks if d.uuid in moving
            ),
            est_seconds=self.durations.estimate(self.base, vm, kind, set(moving)),
            reason=reason,
        )
        # the wave replay's ledger: memory on to_host with the wave's arrivals, its SR
        # reservations, a slot of the pool (and hosts): else a new wave
        d = self.wave_acc.demand(m)  # the same deltas for both accounts, whatever its deps
        if uuid in self._moving or not self.wave_acc.fits(d):
            self.close()
        wave_free = self._wave_free(to_host)
        deps = [self._last[uuid]] if uuid in self._last else []
        # without the earlier departures from to_host it would have `wave_free - gone`
        # free; name the latest departures until the shortfall is covered
        gone = sum(b for _, b in self._left[to_host])
        short = need - (wave_free - gone)
        for mid, b in reversed(self._left[to_host]):
            if short <= 0:
                break
            deps.append(mid)
            short -= b
        # the same for SR space: the latest earlier moves of disks off each SR it needs
        for sr, b in sr_need.items():
            gone = sum(x for _, x in self._sr_left[sr])
            short = b - (self._wave_sr_free(sr) - gone)
            for mid, x in reversed(self._sr_left[sr]):
                if short <= 0:
                    break
                deps.append(mid)
                short -= x
        self._n += 1
        m = replace(m, depends_on=tuple(dict.fromkeys(deps)))
        self.wave_acc.start(d)
        self._wave_demands.append(d)
        self.seq.start(d)
        self.seq.end(d)
        self._migs.append(m)
        self._moving.add(uuid)
        self.host_of[uuid] = to_host
        self._last[uuid] = m.id
        for dk in vm.disks:
            if dk.uuid in moving:
                self.disk_sr[dk.uuid] = moving[dk.uuid]
        return m

    def step(self, step: Step) -> None:
        """Add a host step: a "before" step opens a new wave (it must precede that
        wave's moves); an "after" step ends the current wave."""
        if step.when == "before":
            if self._migs or self._after:
                self.close()
            self._before.append(step)
        else:
            self._after.append(step)
        host = self.inv.host_by_uuid[step.host]
        if step.kind == "host-upgrade":
            new = replace(host, version=step.to_version or host.version)
        else:
            new = replace(host, enabled=step.kind == "host-enable")
        hosts = tuple(new if h.uuid == host.uuid else h for h in self.inv.hosts)
        self.inv = replace(self.inv, hosts=hosts)
        for acc in (self.seq, self.wave_acc):
            acc.set_enabled(host.uuid, new.enabled)

    def close(self) -> None:
        """End the current wave (if it has anything in it)."""
        if not (self._migs or self._before or self._after):
            return
        for m in self._migs:
            assert m.from_host is not None
            if m.from_host != m.to_host:
                self._left[m.from_host].append((m.id, self.need(m.vm)))
            sizes = {d.uuid: d.used_bytes for d in self.base.vm_by_uuid[m.vm].disks}
            for dm in m.disks:
                self._sr_left[dm.from_sr].append((m.id, sizes[dm.vdi]))
        for d in self._wave_demands:
            self.wave_acc.end(d)
        self._wave_demands = []
        steps = tuple(self._before + self._after)
        self.waves.append(Wave(len(self.waves), tuple(self._migs), steps))
        self._migs, self._before, self._after = [], [], []
        self._moving.clear()

    def snapshot(self) -> dict[str, Any]:
        """The mutable state, to `restore` when a tentative sequence of moves is dropped."""
        return {
            "inv": self.inv,
            "seq": self.seq.copy(),
            "wave_acc": self.wave_acc.copy(),
            "_wave_demands": list(self._wave_demands),
            "host_of": dict(self.host_of),
            "waves": list(self.waves),
            "_migs": list(self._migs),
            "_before": list(self._before),
            "_after": list(self._after),
            "_moving": set(self._moving),
            "_left": defaultdict(list, {k: list(v) for k, v in self._left.items()}),
            "_last": dict(self._last),
            "_n": self._n,
            "disk_sr": dict(self.disk_sr),
            "_sr_left": defaultdict(list, {k: list(v) for k, v in self._sr_left.items()}),
        }

    def restore(self, snap: dict[str, Any]) -> None:
        for k, v in snap.items():
            # the accounts are copied again: a snapshot may be restored more than once
            setattr(self, k, v.copy() if isinstance(v, Account) else v)

    def migrations(self) -> int:
        return self._n

    def storage_migrations(self) -> int:
        """How many of the moves so far copy disks."""
        return sum(1 for w in self.waves for m in w.migrations if m.disks) + sum(
            1 for m in self._migs if m.disks
        )

    def plan(
        self,
        goal: Goal,
        *,
        name: str,
        status: Status,
        started: float,
        unplaced: Iterable[Unplaced] = (),
        warnings: Iterable[Reason] = (),
        orders_tried: int | None = None,
    ) -> Plan:
        """The finished plan, its waves given real start times by the list scheduler
        (`planner.schedule`). `bounds` is the trivial lower bound (one wave as long as
        the longest single move): these planners do not prove optimality.
        `orders_tried`: the host orders a rolling upgrade tried (`solver.orders_tried`)."""
        self.close()
        longest = max((m.est_seconds for w in self.waves for m in w.migrations), default=0)
        bounds = Figures(waves=1 if longest else 0, seconds=longest)
        solver = SolverInfo(
            name=name,
            status=Status(status),  # also takes the plain string older callers pass
            wall_seconds=round(time.monotonic() - started, 3),
            orders_tried=orders_tried,
        )
        return Plan(
            inventory_digest=digest(self.base),
            goal=goal,
            options=self.options,
            solver=solver,
            bounds=bounds,
            waves=(staged := schedule(self.base, self.options, self.waves)),
            unplaced=tuple(unplaced),
            warnings=tuple(warnings),
            estimate=estimate_of(staged),
        )
