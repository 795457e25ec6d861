"""The scale ladder: `planner solve` at 400 / 4,000 / 40,000 VMs on this machine and
400,000 VMs on a 2-worker Dask LocalCluster, plus `planner check` and `planner collect`
at 40,000 VMs. Protocol in docs/benchmarks.md; run `python -m benchmarks --help`.

Every (rung, goal) runs in a fresh Python process (`--one`), so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HOSTS_PER_POOL = 16
VMS_PER_POOL = 400
SEED = 1  # generator seed; CP-SAT seed 0
PLANNER = [sys.executable, "-c", "from planner.cli import main; main()"]


@dataclass(frozen=True)
class Rung:
    """One fleet size: `pools` generated pools, CP-SAT's `limit` (seconds, whole
    campaign), solved on a LocalCluster of `dask` workers (0: in process, 2 threads)."""

    pools: int
    limit: float
    dask: int = 0
    target_s: float | None = None  # end-to-end solve target, seconds
    target_gib: float | None = None  # peak RSS target, GiB (per worker on Dask)

    @property
    def vms(self) -> int:
        return self.pools * VMS_PER_POOL


RUNGS = {
    "400": Rung(1, 1.5, target_s=2.0),
    "4k": Rung(10, 10.0, target_s=15.0),
    "40k": Rung(100, 60.0, target_s=120.0, target_gib=4.0),
    "400k": Rung(1000, 600.0, dask=2, target_s=1800.0, target_gib=8.0),
}
QUICK = ("400", "4k")
GOALS = ("evacuate", "move-pool")


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30  # Linux: KiB


def _worker_peak_gib() -> float:
    """Peak RSS of this (worker) process, GiB. VmHWM, not ru_maxrss: a spawned worker
    inherits ru_maxrss from the process that forked it (the client, after loading the
    inventory), while VmHWM starts afresh with the new program."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 2**30
    return float("nan")


def one(path: str, goal_name: str, limit: float, dask: int, plan_out: str) -> dict:
    """One solve in this process: load, solve, save, check; the figures as a dict."""
    from planner.check import check_plan
    from planner.goals import Evacuate, MovePool
    from planner.inventory import load
    from planner.plan import save
    from planner.solve import solve
    from solvers.bounds import gap

    t0 = time.perf_counter()
    inv = load(path)
    t1 = time.perf_counter()
    if goal_name == "evacuate":  # the first 2 hosts of every pool
        goal = Evacuate(tuple(h.uuid for hs in inv.hosts_in_pool.values() for h in hs[:2]))
    else:  # pool 0 into pools 1 and 2
        goal = MovePool((inv.pools[0].uuid,), (inv.pools[1].uuid, inv.pools[2].uuid))
    lines: list[str] = []
    worker_gib = None
    if dask:
        from distributed import Client, LocalCluster

        with (LocalCluster(n_workers=dask, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address="127.0.0.1:0", memory_limit=0) as lc,
              Client(lc) as client):  # fmt: skip
            t1 = time.perf_counter()  # cluster start-up is not the solve's
            plan = solve(inv, goal, time_limit=limit, seed=0, client=client,
                         progress=lines.append)  # fmt: skip
            t2 = time.perf_counter()
            worker_gib = max(client.run(_worker_peak_gib).values())
    else:
        plan = solve(inv, goal, time_limit=limit, workers=2, seed=0, progress=lines.append)
        t2 = time.perf_counter()
    rss = _peak_gib()
    save(plan, plan_out)
    t3 = time.perf_counter()
    report = check_plan(inv, plan)
    t4 = time.perf_counter()
    placed_bound = plan.solver["placed_bound"]["seconds"]
    dask_line = next((x for x in lines if x.startswith("dask: ")), None)
    return {
        "load_s": round(t1 - t0, 2), "solve_s": round(t2 - t1, 2),
        "save_s": round(t3 - t2, 2), "check_s": round(t4 - t3, 2),
        "rss_gib": round(rss, 2), "worker_gib": worker_gib and round(worker_gib, 2),
        "components": plan.solver.get("components", 1),
        "waves": plan.estimate["waves"], "seconds": plan.estimate["seconds"],
        "bound": placed_bound,
        "gap_pct": round(gap(plan.estimate["seconds"], placed_bound), 1),
        "greedy_waves": plan.solver["greedy"]["waves"],
        "greedy_seconds": plan.solver["greedy"]["seconds"],
        "unplaced": len(plan.unplaced), "status": plan.status, "check_ok": report.ok,
        "dask": dask_line,
    }  # fmt: skip


def _run_one(path: Path, goal: str, rung: Rung, plan_out: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.ladder", "--one", str(path), goal,
         str(rung.limit), str(rung.dask), str(plan_out)],
        capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{goal} at {rung.vms} VMs failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    """nproc, memory and CPU model, one line."""
    import os

    cpu = next((ln.split(":", 1)[1].strip() for ln in
                Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    mem = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), 0)  # fmt: skip
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem / 2**20:.1f} GiB RAM, "
            f"Python {platform.python_version()}")  # fmt: skip


HEAD = (f"{'VMs':>8} {'goal':>9} {'parts':>5} {'load s':>6} {'solve s':>7} {'s/1kVM':>6} "
        f"{'RSS GiB':>7} {'waves':>5} {'plan s':>7} {'bound s':>7} {'gap %':>6} "
        f"{'greedy':>6} {'greedy s':>8} {'check':>5} target")  # fmt: skip


def row(rung: Rung, goal: str, r: dict) -> str:
    rss = r["worker_gib"] if rung.dask else r["rss_gib"]
    met = (rung.target_s is None or r["solve_s"] + r["load_s"] < rung.target_s) and (
        rung.target_gib is None or rss < rung.target_gib)
    if goal == "evacuate" and rung.pools == 100:
        met = met and r["gap_pct"] <= 10.0
    rss_s = f"{rss:.2f}" + ("w" if rung.dask else "")
    return (f"{rung.vms:>8,} {goal:>9} {r['components']:>5} {r['load_s']:>6.1f} "
            f"{r['solve_s']:>7.1f} {r['solve_s'] / rung.vms * 1000:>6.2f} {rss_s:>7} "
            f"{r['waves']:>5} {r['seconds']:>7} {r['bound']:>7} {r['gap_pct']:>6.1f} "
            f"{r['greedy_waves']:>6} {r['greedy_seconds']:>8} "
            f"{'ok' if r['check_ok'] else 'FAIL':>5} "
            f"{'met' if met else 'MISSED'}")  # fmt: skip


def _timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - t0, (out.stdout + out.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks",
                                 description="xen-planner scale ladder (docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true",
                    help="only the small rungs (400 and 4,000 VMs), no collect/check")
    ap.add_argument("--rungs", default=",".join(RUNGS),
                    help=f"comma-separated subset of {', '.join(RUNGS)}")
    ap.add_argument("--goals", default=",".join(GOALS), help="evacuate, move-pool")
    ap.add_argument("--no-extras", action="store_true",
                    help="skip planner check / planner collect at 40,000 VMs")
    ap.add_argument("--write-results", metavar="FILE",
                    help="also write the table as markdown (e.g. benchmarks/RESULTS.md)")
    ap.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        path, goal, limit, dask, plan_out = args.one
        print(json.dumps(one(path, goal, float(limit), int(dask), plan_out)))
        return 0

    from planner.inventory.generate import generate
    from planner.inventory.io import write_json

    names = list(QUICK) if args.quick else [x.strip() for x in args.rungs.split(",")]
    bad = [n for n in names if n not in RUNGS]
    if bad:
        ap.error(f"--rungs: unknown {', '.join(bad)}; known: {', '.join(RUNGS)}")
    goals = [g.strip() for g in args.goals.split(",")]
    out_lines = [f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}", HEAD,
                 "-" * len(HEAD)]  # fmt: skip
    print("\n".join(out_lines), flush=True)
    notes: list[str] = []
    extras = not (args.quick or args.no_extras)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rung = RUNGS[name]
            path = Path(tmp) / f"fleet-{rung.pools}.json"
            t0 = time.perf_counter()
            write_json(path, generate(rung.pools, HOSTS_PER_POOL, VMS_PER_POOL, seed=SEED))
            print(f"# generated {rung.vms:,} VMs in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
            for goal in goals:
                if goal == "move-pool" and rung.pools < 3:
                    continue
                plan_out = Path(tmp) / f"plan-{rung.pools}-{goal}.json"
                r = _run_one(path, goal, rung, plan_out)
                line = row(rung, goal, r)
                out_lines.append(line)
                print(line, flush=True)
                if r["dask"]:
                    notes.append(f"{rung.vms:,} {goal}: {r['dask']}; client peak "
                                 f"{r['rss_gib']:.2f} GiB, load {r['load_s']} s, "
                                 f"plan written in {r['save_s']} s")  # fmt: skip
                if extras and rung.pools == 100 and goal == "evacuate":
                    s, text = _timed([*PLANNER, "check", str(plan_out), str(path)])
                    first = text.splitlines()[0] if text else ""
                    notes.append(f"planner check at {rung.vms:,} VMs ({r['waves']} "
                                 f"waves): {s:.1f} s end to end: {first}")  # fmt: skip
            path.unlink()
    if extras and "40k" in names:
        here = Path(__file__).parent
        s, text = _timed([sys.executable, str(here / "collect_bench.py"), "--pools", "100"])
        last = [ln for ln in text.splitlines() if re.match(r"\s*\d", ln)]
        head = next((ln.strip() for ln in text.splitlines() if "collect s" in ln), "")
        res = f"{head} | {last[-1].strip()}" if last else text[-300:]
        notes.append(f"planner collect at 40,000 VMs (benchmarks/collect_bench.py --pools "
                     f"100, {s:.0f} s in all): {res}")  # fmt: skip
    for n in notes:
        print(f"# {n}")
    if args.write_results:
        _write_results(Path(args.write_results), out_lines, notes)
    return 0


def _write_results(path: Path, lines: list[str], notes: list[str]) -> None:
    text = ["# Benchmark results (last run of `python -m benchmarks`)", "",
            lines[0].lstrip("# "), "", "```", *lines[1:], "```", ""]  # fmt: skip
    text += [f"- {n}" for n in notes]
    path.write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
