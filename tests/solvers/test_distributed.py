"""Solving on Dask (`solve(..., client=...)`, `planner solve --dask`): a real
LocalCluster of 2 worker processes, one thread each.

The fleets are built so that every component is solved to a proven optimum (the
bin-packing trap: greedy strands a VM, CP-SAT packs all and proves it), so the plan does
not depend on wall-clock stops and the Dask plan must equal the local one exactly."""

from __future__ import annotations

import os
import signal
import threading

import psutil
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.goals import Evacuate
from planner.inventory.builder import Builder
from planner.inventory.model import Inventory
from planner.plan import to_dict
from planner.solve import solve
from tests.helpers.solving import assert_checked

distributed = pytest.importorskip("distributed")


def trap_fleet(pools: int) -> tuple[Inventory, Evacuate]:
    """`pools` pools that share nothing; in each, evacuate `src` of VMs of (8, 6, 3, 3,
    2, 2) x k GiB onto two hosts with 12k GiB free each (k = 1, 2, 3 by pool): the only
    packings are {8, 2, 2} + {6, 3, 3} (scaled), which greedy misses and CP-SAT finds."""
    b = Builder()
    srcs = []
    for i in range(pools):
        k = 1 + i % 3
        p = b.pool(f"p{i}")
        src = b.host(p, f"p{i}-src", memory_gib=64 * k)
        b.host(p, f"p{i}-a", memory_gib=12 * k + 2, overhead_gib=2)
        b.host(p, f"p{i}-b", memory_gib=12 * k + 2, overhead_gib=2)
        sr = b.sr(p, f"p{i}-nfs", size_gib=4000)
        net = b.network(p, "vm-net")
        for j, gib in enumerate((8, 6, 3, 3, 2, 2)):
            b.vm(p, f"p{i}-v{j}", host=src, memory_gib=gib * k, disks=[(sr, 10)], networks=[net])
        srcs.append(src)
    return b.build(), Evacuate(tuple(srcs))


def comparable(plan: object) -> dict:
    """The plan document without the one field that measures this run (wall time)."""
    d = to_dict(plan)  # type: ignore[arg-type]
    d["solver"] = {k: v for k, v in d["solver"].items() if k != "wall_seconds"}
    return d


@pytest.fixture(scope="module")
def cluster():
    """A real LocalCluster: 2 worker processes (with nannies, which restart a killed
    worker), 1 thread each, bound to 127.0.0.1, no dashboard."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as lc,
        Client(lc) as client,
    ):
        yield lc, client


def test_trap_fleet_needs_cpsat() -> None:
    # the premise of the other tests: greedy alone strands VMs, the full solve does not
    inv, goal = trap_fleet(3)
    g = solve(inv, goal, solver="greedy")
    assert g.unplaced
    plan = solve(inv, goal, workers=1, seed=0, time_limit=30)
    assert not plan.unplaced and plan.status == "OPTIMAL"


def test_dask_plan_equals_local_plan(cluster) -> None:
    _, client = cluster
    inv, goal = trap_fleet(6)
    local = solve(inv, goal, workers=1, seed=0, time_limit=60)
    msgs: list[str] = []
    remote = solve(inv, goal, workers=1, seed=0, time_limit=60, client=client, progress=msgs.append)
    assert comparable(remote) == comparable(local)
    assert remote.solver.components == 6
    assert not remote.unplaced
    assert_checked(inv, remote)
    # one streamed line per component as it finishes, counting up to all six
    done = [m for m in msgs if "done)" in m]
    assert len(done) == 6 and done[-1].endswith("(6 of 6 done)")


def test_lost_worker_is_retried_and_plan_unchanged(cluster) -> None:
    lc, client = cluster
    inv, goal = trap_fleet(30)
    local = solve(inv, goal, workers=1, seed=0, time_limit=120)
    pids = client.run(os.getpid)  # worker address -> pid of the worker process
    killed: list[int] = []
    lock = threading.Lock()

    def kill_busy_worker(msg: str) -> None:
        # on the first finished component, SIGKILL a worker that still has tasks
        if "done)" not in msg or killed:
            return
        with lock:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                pid = pids[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    remote = solve(
        inv, goal, workers=1, seed=0, time_limit=120, client=client, progress=kill_busy_worker
    )
    assert killed, "no worker had work left to lose"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == "zombie"
    assert comparable(remote) == comparable(local)
    assert_checked(inv, remote)
    lc.wait_for_workers(2, timeout=60)  # the nanny restarted the lost worker


def test_cli_dask_bad_address_is_one_line() -> None:
    r = CliRunner().invoke(app, ["solve", "--dask", "tcp://127.0.0.1:9", "--time-limit", "5"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines() if r.stderr_bytes is not None else []
    assert len(lines) == 1 and lines[0].startswith("planner: --dask: no Dask scheduler")
    assert "Traceback" not in r.output


def test_cli_dask_solves_sample(cluster, tmp_path) -> None:
    lc, _ = cluster
    out = tmp_path / "plan.json"
    r = CliRunner().invoke(
        app, ["solve", "--dask", lc.scheduler_address, "-o", str(out), "--workers", "1"]
    )
    assert r.exit_code == 0, r.output
    local = CliRunner().invoke(app, ["solve", "--workers", "1", "--format", "json"])
    import json

    from planner.plan import from_dict

    a = comparable(from_dict(json.loads(out.read_text())))
    b = comparable(from_dict(json.loads(local.stdout)))
    assert a == b
