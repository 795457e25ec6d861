"""How fast `check_plan` replays a big plan.

    python benchmarks/check_bench.py [--pools 100] [--hosts 16] [--vms 400] [--migrations 50000]

Builds a fleet with `planner.inventory.generate` (seed 0), then a long valid plan by
simple construction: wave after wave, up to three live moves per pool, each VM without
exclusions going to the next host of its pool that passes the static rules and has room
at the wave start (the room freed by VMs leaving is counted only after their wave, as the
replay does). VMs keep moving round and round until the plan holds the wanted number of
migrations. The goal is a `target` goal naming each moved VM's final host, so the goal
check runs over every VM. Prints the sizes and the seconds each step took.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import replace

from planner.check import check_plan
from planner.durations import DEFAULT_MODEL
from planner.goals import Target
from planner.inventory import digest, from_dict
from planner.inventory.generate import generate
from planner.options import PlanOptions
from planner.plan import Migration, Plan, Wave, estimate_of, lockstep
from planner.plan_header import Figures, SolverInfo
from planner.rules import exclusion_reasons, target_reasons
from planner.rules.memory import host_capacity
from planner.status import Status


def build_plan(inv, want: int) -> Plan:
    opts = PlanOptions()
    cap = {h.uuid: host_capacity(h, 0.0) for h in inv.hosts}
    committed: dict[str, int] = defaultdict(int)
    for v in inv.vms:
        if v.is_running:
            committed[v.host] += v.memory_bytes
    movers = {
        p.uuid: [
            v
            for v in inv.vms_in_pool.get(p.uuid, [])
            if v.is_running and not exclusion_reasons(inv, v, "live")
        ]
        for p in inv.pools
    }
    where = {v.uuid: v for vs in movers.values() for v in vs}
    cursor = dict.fromkeys(movers, 0)
    hosts = {p.uuid: [h for h in inv.hosts_in_pool[p.uuid] if h.enabled] for p in inv.pools}
    waves: list[Wave] = []
    n = 0
    while n < want:
        incoming: dict[str, int] = defaultdict(int)
        wave: list[Migration] = []
        for pool, vms in movers.items():
            tries = 0
            placed = 0
            while placed < 3 and vms and tries < len(vms) and n + len(wave) < want:
                vm = where[vms[cursor[pool] % len(vms)].uuid]
                cursor[pool] += 1
                tries += 1
                if any(m.vm == vm.uuid for m in wave):
                    continue
                for h in hosts[pool]:
                    if h.uuid == vm.host:
                        continue
                    if cap[h.uuid] - committed[h.uuid] - incoming[h.uuid] < vm.memory_bytes:
                        continue
                    if target_reasons(inv, vm, "live", h.uuid, pool, {}, opts):
                        continue
                    incoming[h.uuid] += vm.memory_bytes
                    est = DEFAULT_MODEL.estimate(inv, vm, "live", ())
                    wave.append(
                        Migration(
                            f"m{n + len(wave)}",
                            vm.uuid,
                            "live",
                            vm.host,
                            h.uuid,
                            pool,
                            pool,
                            est_seconds=est,
                        )
                    )
                    placed += 1
                    break
        if not wave:
            break
        for m in wave:
            vm = where[m.vm]
            committed[m.from_host] -= vm.memory_bytes
            committed[m.to_host] += vm.memory_bytes
            where[m.vm] = replace(vm, host=m.to_host)
        waves.append(Wave(len(waves), tuple(wave)))
        n += len(wave)
    placements = {u: v.host for u, v in where.items()}
    waves = list(lockstep(waves))  # a v2 plan's schedule: the lock-step one
    return Plan(
        digest(inv),
        Target(placements),
        opts,
        SolverInfo(name="bench", status=Status.FEASIBLE, wall_seconds=0.0),
        Figures(),
        tuple(waves),
        estimate=estimate_of(waves),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pools", type=int, default=100)
    ap.add_argument("--hosts", type=int, default=16)
    ap.add_argument("--vms", type=int, default=400)
    ap.add_argument("--migrations", type=int, default=50_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    inv = from_dict(generate(args.pools, args.hosts, args.vms, seed=0), validate=False)
    t1 = time.perf_counter()
    plan = build_plan(inv, args.migrations)
    t2 = time.perf_counter()
    report = check_plan(inv, plan)
    t3 = time.perf_counter()
    print(
        f"fleet: {len(inv.pools)} pools, {len(inv.hosts)} hosts, {len(inv.vms)} VMs "
        f"(generated in {t1 - t0:.1f} s)"
    )
    print(
        f"plan: {report.migrations} migrations in {report.waves} waves (built in {t2 - t1:.1f} s)"
    )
    print(
        f"check_plan: {t3 - t2:.2f} s, {report.migrations / (t3 - t2):,.0f} migrations/s, "
        f"{len(report.violations)} violations"
    )
    for line in report.lines()[:5]:
        print("  ", line)


if __name__ == "__main__":
    main()
