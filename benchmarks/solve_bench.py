"""Solver benchmark: the DESIGN.md scale ladder, greedy against CP-SAT, with bounds.

Protocol
- Fleets from `planner.inventory.generate.generate(pools, 16, 400, seed)`: 1 pool (400
  VMs), 10 pools (4,000) and 100 pools (40,000), written to a temporary file first so
  "end to end" includes reading and validating the JSON, as `planner solve` would.
- Scenarios: evacuate the first 2 hosts of every pool; move pool 0 into pools 1 and 2
  (fleets of 3 pools or more).
- Each (fleet, scenario, solver) runs in a fresh Python process, so peak RSS is that
  run's own. CP-SAT gets a time limit per rung (--limits) with `workers=2`, seed 0.
- Every plan is replayed by `planner.check.check_plan` (not timed) and must be ok.
- Reported: load and solve seconds, end to end, peak RSS, waves and seconds of the plan,
  the proven lower bound (for a partial plan: for the VMs it moves), the gap in %,
  unplaced VMs, status.

Run: python benchmarks/solve_bench.py [--rungs 1,10,100] [--limits 1.5,10,60] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {1: 2.0, 10: 15.0, 100: 120.0}  # seconds end to end (DESIGN.md)
MEMORY_TARGET_GIB = 4.0


def one(path: str, scenario: str, solver: str, limit: float) -> dict:
    """One run in this process: load, solve, check; figures as a dict."""
    import resource

    from planner.check import check_plan
    from planner.goals import Evacuate, MovePool
    from planner.inventory import load
    from planner.solve import solve
    from solvers.bounds import gap

    t0 = time.perf_counter()
    inv = load(path)
    t1 = time.perf_counter()
    if scenario == "evacuate":
        hosts = [h.uuid for hs in inv.hosts_in_pool.values() for h in hs[:2]]
        goal = Evacuate(tuple(hosts))
    else:
        goal = MovePool((inv.pools[0].uuid,), (inv.pools[1].uuid, inv.pools[2].uuid))
    plan = solve(inv, goal, solver=solver, time_limit=limit, workers=2, seed=0)
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    report = check_plan(inv, plan)
    return {
        "load_s": round(t1 - t0, 2),
        "solve_s": round(t2 - t1, 2),
        "total_s": round(t2 - t0, 2),
        "rss_gib": round(rss / 2**30, 2),
        "waves": plan.estimate.waves,
        "seconds": plan.estimate.seconds,
        "bound_waves": plan.bounds.waves,
        "bound_seconds": plan.bounds.seconds,
        # a partial plan is measured against the bound for the VMs it moves
        "placed_bound": plan.solver.placed_bound.seconds,
        "gap_pct": round(gap(plan.estimate.seconds, plan.solver.placed_bound.seconds), 1),
        "migrations": sum(1 for _ in plan.migrations()),
        "unplaced": len(plan.unplaced),
        "status": plan.status,
        "check_ok": report.ok,
        "greedy_seconds": plan.solver.greedy.seconds,
        "greedy_unplaced": plan.solver.greedy.unplaced or 0,
        "components": plan.solver.components or 1,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rungs", default="1,10,100", help="pool counts (16 hosts, 400 VMs each)")
    ap.add_argument("--limits", default="1.5,10,60", help="CP-SAT seconds per rung")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--one", nargs=4, metavar=("PATH", "SCENARIO", "SOLVER", "LIMIT"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.one:
        path, scenario, solver, limit = args.one
        print(json.dumps(one(path, scenario, solver, float(limit))))
        return

    from planner.inventory.generate import generate
    from planner.inventory.io import write_json

    rungs = [int(x) for x in args.rungs.split(",")]
    limits = [float(x) for x in args.limits.split(",")]
    head = (
        f"{'fleet':>14} {'scenario':>9} {'solver':>6} {'load':>6} {'solve':>6} "
        f"{'total':>6} {'RSS':>5} {'waves':>5} {'seconds':>8} {'bound':>8} {'gap%':>6} "
        f"{'moves':>6} {'unpl':>5} {'status':>13} check target"
    )
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        for pools, limit in zip(rungs, limits, strict=False):
            path = Path(tmp) / f"fleet-{pools}.json"
            write_json(path, generate(pools, 16, 400, seed=args.seed))
            scenarios = ["evacuate"] + (["move-pool"] if pools >= 3 else [])
            for scenario in scenarios:
                for solver in ("greedy", "cpsat"):
                    out = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--one",
                            str(path),
                            scenario,
                            solver,
                            str(limit),
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    target = TARGETS.get(pools)
                    met = (target is None or r["total_s"] < target) and (
                        r["rss_gib"] < MEMORY_TARGET_GIB
                    )
                    print(
                        f"{pools * 400:>8,} VMs {scenario:>9} {solver:>6} "
                        f"{r['load_s']:>6.2f} {r['solve_s']:>6.2f} {r['total_s']:>6.2f} "
                        f"{r['rss_gib']:>5.2f} {r['waves']:>5} {r['seconds']:>8} "
                        f"{r['placed_bound']:>8} {r['gap_pct']:>6.1f} "
                        f"{r['migrations']:>6} {r['unplaced']:>5} {r['status']:>13} "
                        f"{'ok' if r['check_ok'] else 'FAIL':>5} "
                        f"{'met' if met else 'MISSED'}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
