"""What the campaign planners share: memory utilisation and the `Sequencer`, which turns
an ordered list of moves (and host steps) into waves that replay cleanly.

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
from planner.rules import target_reasons
from planner.rules.memory import host_capacity, vm_memory
from planner.rules.storage import reserve_on_source, reserve_on_target
from planner.schedule import schedule


def utilisation(inv: Inventory, vms: Iterable[VM], pool: str,
                options: PlanOptions) -> dict[str, float]:  # fmt: skip
    """Memory utilisation in points (0-100) of each enabled host of `pool`, with the
    running VMs `vms` where they are: committed bytes / capacity bytes (the capacity of
    `host_capacity`, so headroom counts as used)."""
    hosts = [h for h in inv.hosts_in_pool.get(pool, []) if h.enabled]
    used = {h.uuid: 0 for h in hosts}
    for v in vms:
        if v.is_running and v.host in used:
            used[v.host] += vm_memory(v, options.dmc)
    out = {}
    for h in hosts:
        cap = host_capacity(h, options.headroom_fraction)
        out[h.uuid] = 100.0 * used[h.uuid] / cap if cap > 0 else 100.0
    return out


def spread_points(inv: Inventory, vms: Iterable[VM], pool: str, options: PlanOptions) -> float:
    """Max minus min utilisation (points) over the enabled hosts of `pool` (0 if < 2)."""
    u = utilisation(inv, vms, pool, options)
    return max(u.values()) - min(u.values()) if len(u) > 1 else 0.0


class Sequencer:
    """Sequential moves (live, or storage within the pool) and host steps -> waves (see
    the module docstring).

    `inv` tracks host steps (a disabled host, an upgraded version) the way the replay
    checker does, so `reasons()` answers with the rules as they stand at that point.
    """

    def __init__(self, inv: Inventory, options: PlanOptions,
                 durations: DurationModel = DEFAULT_MODEL) -> None:  # fmt: skip
        self.inv = inv
        self.base = inv
        self.options = options
        self.durations = durations
        self.capacity = {h.uuid: host_capacity(h, options.headroom_fraction) for h in inv.hosts}
        self.committed: dict[str, int] = defaultdict(int)  # sequential view
        self.host_of: dict[str, str | None] = {}
        for v in inv.vms:
            self.host_of[v.uuid] = v.host if v.is_running else None
            if v.is_running and v.host is not None:
                self.committed[v.host] += vm_memory(v, options.dmc)
        self.disk_sr: dict[str, str] = {d.uuid: d.sr for v in inv.vms for d in v.disks}
        # SR bytes used at the start of the current wave (the checker's view), and the
        # change the current wave's storage moves make at its end
        self.sr_used: dict[str, int] = {s.uuid: s.used_bytes for s in inv.srs}
        self._sr_delta: dict[str, int] = defaultdict(int)
        self._reserved: dict[str, int] = defaultdict(int)  # sr -> bytes reserved this wave
        self._sr_left: dict[str, list[tuple[str, int]]] = defaultdict(list)  # sr -> (id, b)
        self.waves: list[Wave] = []
        self._migs: list[Migration] = []
        self._before: list[Step] = []
        self._after: list[Step] = []
        self._leaving: dict[str, int] = defaultdict(int)  # bytes leaving a host this wave
        self._per_pool: dict[str, int] = defaultdict(int)
        self._moving: set[str] = set()
        self._left: dict[str, list[tuple[str, int]]] = defaultdict(list)  # host -> (id, b)
        self._last: dict[str, str] = {}  # vm -> id of its latest migration
        self._n = 0

    # ---------------------------------------------------------------- questions
    def vm(self, uuid: str) -> VM:
        """The VM where the sequence has it now (host and disks)."""
        v = self.base.vm_by_uuid[uuid]
        disks = tuple(d if d.sr == self.disk_sr[d.uuid] else replace(d, sr=self.disk_sr[d.uuid])
                      for d in v.disks)  # fmt: skip
        return replace(v, host=self.host_of[uuid], disks=disks)

    def need(self, uuid: str) -> int:
        return vm_memory(self.base.vm_by_uuid[uuid], self.options.dmc)

    def free(self, host: str) -> int:
        """Bytes free on `host` once every move so far has ended."""
        return self.capacity[host] - self.committed[host]

    def sr_free(self, sr: str) -> int:
        """Bytes free on `sr` once every move so far has ended."""
        return self.inv.sr_by_uuid[sr].size_bytes - self.sr_used[sr] - self._sr_delta[sr]

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

    def reasons(self, uuid: str, to_host: str,
                disks: Mapping[str, str] | None = None) -> list[Reason]:  # fmt: skip
        """Static rules (with the steps so far) against a move of `uuid` to `to_host`:
        live, or a storage migration when `disks` ({vdi: target SR}) is not empty."""
        vm = self.vm(uuid)
        kind = "storage" if disks else "live"
        return target_reasons(self.inv, vm, kind, to_host, vm.pool, dict(disks or {}),
                              self.options)  # fmt: skip

    def vms_on(self, host: str) -> list[str]:
        """Uuids of the running VMs on `host` now, in inventory order."""
        return [v.uuid for v in self.base.vms if self.host_of[v.uuid] == host]

    # ---------------------------------------------------------------- building
    def _wave_sr_free(self, sr: str) -> int:
        """Bytes `sr` has for a new reservation in the current wave (the checker counts
        the used bytes at the wave's start and every reservation of the wave)."""
        return self.inv.sr_by_uuid[sr].size_bytes - self.sr_used[sr] - self._reserved[sr]

    def move(self, uuid: str, to_host: str, reason: str | None = None,
             disks: Mapping[str, str] | None = None) -> Migration:  # fmt: skip
        """Append a move: live, or a storage migration of the disks `disks` ({vdi:
        target SR}) when it is not empty. The caller has checked `reasons()`, `free()`
        and, for disks, `sr_free()` against `storage_needs()`."""
        vm = self.vm(uuid)
        # a storage migration onto the VM's own host commits no new memory
        need = 0 if to_host == vm.host else self.need(uuid)
        moving = {d: s for d, s in (disks or {}).items() if s != self.disk_sr[d]}
        sr_need = self.storage_needs(uuid, moving)
        wave_free = self.capacity[to_host] - self.committed[to_host] - self._leaving[to_host]
        if (wave_free < need or uuid in self._moving
                or self._per_pool[vm.pool] >= self.options.max_per_pool
                or any(self._wave_sr_free(sr) < b for sr, b in sr_need.items())):  # fmt: skip
            self.close()
        wave_free = self.capacity[to_host] - self.committed[to_host] - self._leaving[to_host]
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
        assert vm.host is not None
        kind = "storage" if moving else "live"
        m = Migration(
            id=f"m{self._n}", vm=uuid, kind=kind, from_host=vm.host, to_host=to_host,
            from_pool=vm.pool, to_pool=vm.pool,
            disks=tuple(DiskMove(d.uuid, d.sr, moving[d.uuid]) for d in vm.disks
                        if d.uuid in moving),
            est_seconds=self.durations.estimate(self.base, vm, kind, set(moving)),
            depends_on=tuple(dict.fromkeys(deps)), reason=reason,
        )  # fmt: skip
        self._migs.append(m)
        self._moving.add(uuid)
        self._per_pool[vm.pool] += 1
        self._leaving[vm.host] += need
        self.committed[vm.host] -= need
        self.committed[to_host] += need
        self.host_of[uuid] = to_host
        self._last[uuid] = m.id
        for sr, b in sr_need.items():
            self._reserved[sr] += b
        for d in vm.disks:
            if d.uuid in moving:
                self._sr_delta[d.sr] -= d.used_bytes
                self._sr_delta[moving[d.uuid]] += d.used_bytes
                self.disk_sr[d.uuid] = moving[d.uuid]
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
        for sr, b in self._sr_delta.items():
            self.sr_used[sr] += b
        self._sr_delta.clear()
        self._reserved.clear()
        steps = tuple(self._before + self._after)
        self.waves.append(Wave(len(self.waves), tuple(self._migs), steps))
        self._migs, self._before, self._after = [], [], []
        self._leaving.clear()
        self._per_pool.clear()
        self._moving.clear()

    def snapshot(self) -> dict[str, Any]:
        """The mutable state, to `restore` when a tentative sequence of moves is dropped."""
        return {
            "inv": self.inv, "committed": defaultdict(int, self.committed),
            "host_of": dict(self.host_of), "waves": list(self.waves),
            "_migs": list(self._migs), "_before": list(self._before),
            "_after": list(self._after), "_leaving": defaultdict(int, self._leaving),
            "_per_pool": defaultdict(int, self._per_pool), "_moving": set(self._moving),
            "_left": defaultdict(list, {k: list(v) for k, v in self._left.items()}),
            "_last": dict(self._last), "_n": self._n,
            "disk_sr": dict(self.disk_sr), "sr_used": dict(self.sr_used),
            "_sr_delta": defaultdict(int, self._sr_delta),
            "_reserved": defaultdict(int, self._reserved),
            "_sr_left": defaultdict(list, {k: list(v) for k, v in self._sr_left.items()}),
        }  # fmt: skip

    def restore(self, snap: dict[str, Any]) -> None:
        for k, v in snap.items():
            setattr(self, k, v)

    def migrations(self) -> int:
        return self._n

    def storage_migrations(self) -> int:
        """How many of the moves so far copy disks."""
        return sum(1 for w in self.waves for m in w.migrations if m.disks) + sum(
            1 for m in self._migs if m.disks)

    def plan(self, goal: Goal, *, name: str, status: str, started: float,
             unplaced: Iterable[Unplaced] = (), warnings: Iterable[Reason] = (),
             extra: dict[str, Any] | None = None) -> Plan:  # fmt: skip
        """The finished plan, its waves given real start times by the list scheduler
        (`planner.schedule`). `bounds` is the trivial lower bound (one wave as long as
        the longest single move): these planners do not prove optimality."""
        self.close()
        longest = max((m.est_seconds for w in self.waves for m in w.migrations), default=0)
        bounds = {"waves": 1 if longest else 0, "seconds": longest}
        solver: dict[str, Any] = {"name": name, "status": status,
                                  "wall_seconds": round(time.monotonic() - started, 3)}
        solver.update(extra or {})
        return Plan(
            inventory_digest=digest(self.base),
            goal=goal.to_json(),
            options=self.options.to_json(),
            solver=solver,
            bounds=bounds,
            waves=(staged := schedule(self.base, self.options, self.waves)),
            unplaced=tuple(unplaced),
            warnings=tuple(warnings),
            estimate=estimate_of(staged),
        )
