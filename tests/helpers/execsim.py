"""Shared fixtures of the executor tests: a small two-pool fleet, its plan, and how to run
`planner execute` against a Simulator (in process, or as a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from planner.goals import Evacuate
from planner.inventory.builder import Builder
from planner.inventory.model import Inventory
from planner.plan import Plan

PASSWORD = "s3cr3t-Pa55"  # distinctive, so a leak is easy to find
PW_ENV = "PLANNER_TEST_PW"


def fleet(n_vms: int = 8, *, seed_name: str = "t") -> tuple[Inventory, list[str]]:
    """Pool `a` (4 hosts, shared SR) with `n_vms` running VMs on a-01; pool `b` (2 hosts).

    Returns the inventory and the hosts to evacuate ([a-01]).
    """
    b = Builder()
    pa = b.pool(f"{seed_name}-a")
    ha = [b.host(pa, f"a-0{i}", memory_gib=96) for i in range(1, 5)]
    sra = b.sr(pa, "a-nfs", size_gib=4000)
    na = b.network(pa, "vm-net")
    pb = b.pool(f"{seed_name}-b")
    for i in range(1, 3):
        b.host(pb, f"b-0{i}", memory_gib=96)
    b.sr(pb, "b-nfs", size_gib=4000)
    b.network(pb, "vm-net")
    for i in range(n_vms):
        b.vm(
            pa, f"vm-{i:02d}", host=ha[0], memory_gib=2 + (i % 4), disks=[(sra, 20)], networks=[na]
        )
    return b.build(), [ha[0]]


def evacuation_plan(inv: Inventory, hosts: list[str]) -> Plan:
    """A plan from the real solver (greedy: fast and deterministic)."""
    from planner.solve import solve

    return solve(inv, Evacuate(tuple(hosts)), solver="greedy", time_limit=10.0, seed=0)


def cli_args(plan_path: Path, sim: Any, journal: Path, *extra: str) -> list[str]:
    args = [
        "execute",
        str(plan_path),
        "--password-env",
        PW_ENV,
        "--yes",
        "--journal",
        str(journal),
        "--poll",
        "0.05",
        "--backoff",
        "0.05",
    ]
    for url in sim.urls.values():
        args += ["--url", url]
    return args + list(extra)


def run_cli(args: list[str]) -> subprocess.Popen:
    """The `planner` console entry point (`planner.cli:main`) as a subprocess."""
    env = dict(os.environ, **{PW_ENV: PASSWORD})
    return subprocess.Popen(
        [sys.executable, "-c", "from planner.cli import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def successes(audit: list[dict]) -> Counter:
    """How many times each VM migrated successfully, per (vm, from_host, to_host, to_pool)."""
    return Counter(
        (a["vm"], a["from_host"], a["to_host"], a["to_pool"])
        for a in audit
        if a["result"] == "success"
    )


def goal_holds(plan: Plan, live: Inventory) -> list[str]:
    """Problems with the live state after the plan: each VM where its last migration said."""
    last = {}
    for m in plan.migrations():
        last[m.vm] = m
    out = []
    for vm_uuid, m in last.items():
        vm = live.vm_by_uuid.get(vm_uuid)
        if vm is None:
            out.append(f"{vm_uuid} missing")
            continue
        if vm.pool != m.to_pool:
            out.append(f"{vm.name} in pool {vm.pool}, expected {m.to_pool}")
        if m.kind != "move" and m.to_host is not None and vm.host != m.to_host:
            out.append(f"{vm.name} on {vm.host}, expected {m.to_host}")
        for d in m.disks:
            on = {x.uuid: x.sr for x in vm.disks}.get(d.vdi)
            if on is not None and on != d.to_sr:
                out.append(f"{vm.name} disk {d.vdi} on {on}, expected {d.to_sr}")
    return out
