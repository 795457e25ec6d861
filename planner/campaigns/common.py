"""What the campaign planners share: memory utilisation and the `Sequencer`, which turns
an ordered list of live moves (and host steps) into waves that replay cleanly.

A campaign planner reasons *sequentially*: a move frees its source at once. The
sequencer packs those moves into waves under the checker's semantics (FORMATS.md rules
1-2: memory is committed on the target from the wave's start and freed on the source at
its end; at most `max_per_pool` moves per pool per wave), starting a new wave whenever a
move would not fit in the current one, and names in `depends_on` the earlier migrations
that freed what each move needs. Memory is in bytes, durations in seconds.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from planner.durations import DEFAULT_MODEL, DurationModel
from planner.goals import Goal
from planner.inventory.io import digest
from planner.inventory.model import VM, Inventory
from planner.options import PlanOptions
from planner.plan import Migration, Plan, Reason, Step, Unplaced, Wave, estimate_of
from planner.rules import target_reasons
from planner.rules.memory import host_capacity, vm_memory


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
    """Sequential live moves and host steps -> waves (see the module docstring).

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
        """The VM where the sequence has it now."""
        v = self.base.vm_by_uuid[uuid]
        return replace(v, host=self.host_of[uuid])

    def need(self, uuid: str) -> int:
        return vm_memory(self.base.vm_by_uuid[uuid], self.options.dmc)

    def free(self, host: str) -> int:
        """Bytes free on `host` once every move so far has ended."""
        return self.capacity[host] - self.committed[host]

    def reasons(self, uuid: str, to_host: str) -> list[Reason]:
        """Static rules (with the steps so far) against a live move of `uuid` to `to_host`."""
        vm = self.vm(uuid)
        return target_reasons(self.inv, vm, "live", to_host, vm.pool, {}, self.options)

    def vms_on(self, host: str) -> list[str]:
        """Uuids of the running VMs on `host` now, in inventory order."""
        return [v.uuid for v in self.base.vms if self.host_of[v.uuid] == host]

    # ---------------------------------------------------------------- building
    def move(self, uuid: str, to_host: str, reason: str | None = None) -> Migration:
        """Append a live move; the caller has checked `reasons()` and `free()`."""
        vm = self.vm(uuid)
        need = self.need(uuid)
        wave_free = self.capacity[to_host] - self.committed[to_host] - self._leaving[to_host]
        if (wave_free < need or uuid in self._moving
                or self._per_pool[vm.pool] >= self.options.max_per_pool):  # fmt: skip
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
        self._n += 1
        assert vm.host is not None
        m = Migration(
            id=f"m{self._n}", vm=uuid, kind="live", from_host=vm.host, to_host=to_host,
            from_pool=vm.pool, to_pool=vm.pool,
            est_seconds=self.durations.estimate(self.base, vm, "live", ()),
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
            self._left[m.from_host].append((m.id, self.need(m.vm)))
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
        }  # fmt: skip

    def restore(self, snap: dict[str, Any]) -> None:
        for k, v in snap.items():
            setattr(self, k, v)

    def migrations(self) -> int:
        return self._n

    def plan(self, goal: Goal, *, name: str, status: str, started: float,
             unplaced: Iterable[Unplaced] = (), warnings: Iterable[Reason] = (),
             extra: dict[str, Any] | None = None) -> Plan:  # fmt: skip
        """The finished plan. `bounds` is the trivial lower bound (one wave as long as the
        longest single move): these planners do not prove optimality."""
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
            waves=tuple(self.waves),
            unplaced=tuple(unplaced),
            warnings=tuple(warnings),
            estimate=estimate_of(self.waves),
        )
