"""The scale ladder: `planner solve` at 400 / 4,000 / 40,000 VMs on this machine and
400,000 VMs on a 2-worker Dask LocalCluster, plus `planner check` and `planner collect`
at 40,000 VMs. Protocol in docs/benchmarks.md; run `python -m benchmarks --help`.

Every (rung, goal) runs in a fresh Python process (`--one`), so its peak RSS is its own.
Beside each schedule, in the same run, the wave planner this project had before plans
are schedules ("today's", the tree at BASELINE_COMMIT, run from a `git archive` copy in
its own process): its wave estimate (sum of each wave's longest migration) and the flow
replay of its wave plan (`planner.schedule`: each migration at the earliest instant the
ledger accepts, in wave order).
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
BASELINE_COMMIT = "615f397"  # main before this work: the wave planner ("today's")


@dataclass(frozen=True)
class Rung:
    """One fleet size: `pools` generated pools, CP-SAT's `limit` (seconds, whole
    campaign), solved on a LocalCluster of `dask` workers (0: in process, 2 threads)."""

    pools: int
    limit: float
    dask: int = 0
    target_s: float | None = None  # end-to-end solve target, seconds
    target_gib: float | None = None  # peak RSS target, GiB (per worker on Dask)
    target_gap: float | None = None  # schedule length / proven bound, at most

    @property
    def vms(self) -> int:
        return self.pools * VMS_PER_POOL


RUNGS = {
    "400": Rung(1, 1.5, target_s=2.0),
    # limits leave room for the step-aside pass after the solve (planner/stepaside.py),
    # which may take about as long again when VMs are left unplaced
    "4k": Rung(10, 5.0, target_s=15.0, target_gap=1.05),
    "40k": Rung(100, 20.0, target_s=60.0, target_gib=4.0, target_gap=1.05),
    "400k": Rung(1000, 300.0, dask=2, target_s=600.0, target_gib=8.0, target_gap=1.10),
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


def _goal(inv: object, goal_name: str) -> object:
    from planner.goals import Evacuate, MovePool

    if goal_name == "evacuate":  # the first 2 hosts of every pool
        return Evacuate(
            tuple(
                h.uuid
                for hs in inv.hosts_in_pool.values()  # type: ignore[attr-defined]
                for h in hs[:2]
            )
        )
    # pool 0 into pools 1 and 2
    return MovePool((inv.pools[0].uuid,), (inv.pools[1].uuid, inv.pools[2].uuid))  # type: ignore[attr-defined]


TODAY = """
import sys, time
from planner.inventory import load
from planner.plan import save
from planner.solve import solve
from planner.goals import Evacuate, MovePool
inv = load(sys.argv[1])
if sys.argv[2] == "evacuate":
    goal = Evacuate(tuple(h.uuid for hs in inv.hosts_in_pool.values() for h in hs[:2]))
else:
    goal = MovePool((inv.pools[0].uuid,), (inv.pools[1].uuid, inv.pools[2].uuid))
t0 = time.perf_counter()
plan = solve(inv, goal, time_limit=float(sys.argv[3]), workers=2, seed=0)
print(round(time.perf_counter() - t0, 2))
save(plan, sys.argv[4])
"""


def baseline_tree(dest: Path) -> Path | None:
    """`planner/` and `solvers/` as they were at BASELINE_COMMIT, extracted under `dest`
    (None when git or the commit is not available: the columns are then left out)."""
    root = Path(__file__).resolve().parent.parent
    arch = subprocess.run(
        ["git", "-C", str(root), "archive", BASELINE_COMMIT, "planner", "solvers"],
        capture_output=True,
    )
    if arch.returncode != 0:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=arch.stdout, check=True)
    return dest


def today(path: str, goal_name: str, limit: float, tree: Path, plan_out: Path) -> dict:
    """Today's wave plan for the same goal (its own process, the baseline tree), its
    wave estimate and the flow replay of its waves (the current `planner.schedule`, here),
    checked both ways."""
    import os
    from dataclasses import replace

    from planner.check import check_plan
    from planner.inventory import load
    from planner.plan import estimate_of
    from planner.plan import load as load_plan
    from planner.schedule import schedule

    env = {**os.environ, "PYTHONPATH": str(tree)}
    # cwd is the baseline tree: `python -c` puts the working directory first on sys.path
    out = subprocess.run(
        [sys.executable, "-c", TODAY, path, goal_name, str(limit), str(plan_out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
    )
    if out.returncode != 0:
        return {"today_error": out.stderr[-500:]}
    plan = load_plan(plan_out)
    inv = load(path)
    flow = schedule(inv, plan.options, plan.waves)
    est = estimate_of(flow)
    replayed = replace(plan, waves=flow, estimate=est)
    return {
        "today_solve_s": float(out.stdout.strip().splitlines()[-1]),
        "today_waves": est.waves,
        "today_wave_s": est.wave_seconds,
        "today_flow_s": est.seconds,
        "today_unplaced": len(plan.unplaced),
        "today_flow_ok": check_plan(inv, replayed).ok,
    }


def one(path: str, goal_name: str, limit: float, dask: int, plan_out: str) -> dict:
    """One solve in this process: load, solve, save, check; the figures as a dict."""
    from planner.check import check_plan
    from planner.inventory import load
    from planner.plan import save
    from planner.solve import solve
    from solvers.bounds import gap

    t0 = time.perf_counter()
    inv = load(path)
    t1 = time.perf_counter()
    goal = _goal(inv, goal_name)
    lines: list[str] = []
    worker_gib = None
    if dask:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=dask,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                memory_limit=0,
            ) as lc,
            Client(lc) as client,
        ):
            t1 = time.perf_counter()  # cluster start-up is not the solve's
            plan = solve(inv, goal, time_limit=limit, seed=0, client=client, progress=lines.append)
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
    placed_bound = plan.solver.placed_bound.seconds
    dask_line = next((x for x in lines if x.startswith("dask: ")), None)
    return {
        "load_s": round(t1 - t0, 2),
        "solve_s": round(t2 - t1, 2),
        "save_s": round(t3 - t2, 2),
        "check_s": round(t4 - t3, 2),
        "rss_gib": round(rss, 2),
        "worker_gib": worker_gib and round(worker_gib, 2),
        "components": plan.solver.components or 1,
        "waves": plan.estimate.waves,
        "seconds": plan.estimate.seconds,
        "wave_seconds": plan.estimate.wave_seconds,
        "bound": placed_bound,
        "gap_pct": round(gap(plan.estimate.seconds, placed_bound), 1),
        "greedy_waves": plan.solver.greedy.waves,
        "greedy_seconds": plan.solver.greedy.seconds,
        "unplaced": len(plan.unplaced),
        "status": plan.status,
        "check_ok": report.ok,
        "dask": dask_line,
    }


def _run_one(path: Path, goal: str, rung: Rung, plan_out: Path, tree: Path | None) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.ladder",
            "--one",
            str(path),
            goal,
            str(rung.limit),
            str(rung.dask),
            str(plan_out),
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{goal} at {rung.vms} VMs failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if tree is not None and not rung.dask:
        r.update(today(str(path), goal, rung.limit, tree, plan_out.with_suffix(".today.json")))
    return r


def machine() -> str:
    """nproc, memory and CPU model, one line."""
    import os

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (
            int(ln.split()[1])
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemTotal")
        ),
        0,
    )
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem / 2**20:.1f} GiB RAM, "
        f"Python {platform.python_version()}"
    )


HEAD = (
    f"{'VMs':>8} {'goal':>9} {'parts':>5} {'load s':>6} {'solve s':>7} "
    f"{'RSS GiB':>7} {'sched s':>7} {'bound s':>7} {'x bound':>7} {'waves':>5} "
    f"{'wave s':>7} {'greedy s':>8} {'unpl':>5} | {'today wave s':>12} "
    f"{'today flow s':>12} {'today unpl':>10} | {'check':>5} target"
)


def row(rung: Rung, goal: str, r: dict) -> str:
    rss = r["worker_gib"] if rung.dask else r["rss_gib"]
    ratio = r["seconds"] / r["bound"] if r["bound"] else 1.0
    met = (
        (rung.target_s is None or r["solve_s"] + r["load_s"] < rung.target_s)
        and (rung.target_gib is None or rss < rung.target_gib)
        and (rung.target_gap is None or ratio <= rung.target_gap)
    )
    if "today_flow_s" in r and r["today_flow_ok"] and r["unplaced"] <= r["today_unplaced"]:
        # only against a baseline plan the current checker accepts (today's planner
        # predates rules such as PAUSED: its plans may move VMs that cannot move)
        met = met and r["seconds"] <= r["today_flow_s"]
    rss_s = f"{rss:.2f}" + ("w" if rung.dask else "")
    if "today_flow_s" in r:
        today_s = (
            f"{r['today_wave_s']:>12} {r['today_flow_s']:>12}"
            f"{'' if r['today_flow_ok'] else '!'} {r['today_unplaced']:>10}"
        )
    else:
        today_s = f"{'-':>12} {'-':>12} {'-':>10}"
    ok = r["check_ok"]
    return (
        f"{rung.vms:>8,} {goal:>9} {r['components']:>5} {r['load_s']:>6.1f} "
        f"{r['solve_s']:>7.1f} {rss_s:>7} {r['seconds']:>7} {r['bound']:>7} "
        f"{ratio:>7.3f} {r['waves']:>5} {r['wave_seconds']:>7} "
        f"{r['greedy_seconds']:>8} {r['unplaced']:>5} | {today_s} | "
        f"{'ok' if ok else 'FAIL':>5} {'met' if met else 'MISSED'}"
    )


def _timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - t0, (out.stdout + out.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks", description="xen-planner scale ladder (docs/benchmarks.md)"
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="only the small rungs (400 and 4,000 VMs), no collect/check",
    )
    ap.add_argument(
        "--rungs", default=",".join(RUNGS), help=f"comma-separated subset of {', '.join(RUNGS)}"
    )
    ap.add_argument("--goals", default=",".join(GOALS), help="evacuate, move-pool")
    ap.add_argument(
        "--no-extras",
        action="store_true",
        help="skip planner check / planner collect at 40,000 VMs",
    )
    ap.add_argument(
        "--write-results",
        metavar="FILE",
        help="also write the table as markdown (e.g. benchmarks/RESULTS.md)",
    )
    ap.add_argument(
        "--no-today", action="store_true", help="skip today's wave planner (the comparison columns)"
    )
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
    out_lines = [
        f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}",
        HEAD,
        "-" * len(HEAD),
    ]
    print("\n".join(out_lines), flush=True)
    notes: list[str] = []
    extras = not (args.quick or args.no_extras)
    with tempfile.TemporaryDirectory() as tmp:
        tree = None if args.no_today else baseline_tree(Path(tmp) / "today")
        if tree is None and not args.no_today:
            notes.append(f"today's wave planner ({BASELINE_COMMIT}) not available: no git")
        for name in names:
            rung = RUNGS[name]
            path = Path(tmp) / f"fleet-{rung.pools}.json"
            t0 = time.perf_counter()
            write_json(path, generate(rung.pools, HOSTS_PER_POOL, VMS_PER_POOL, seed=SEED))
            print(
                f"# generated {rung.vms:,} VMs in {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            for goal in goals:
                if goal == "move-pool" and rung.pools < 3:
                    continue
                plan_out = Path(tmp) / f"plan-{rung.pools}-{goal}.json"
                r = _run_one(path, goal, rung, plan_out, tree)
                if "today_error" in r:
                    notes.append(f"{rung.vms:,} {goal}: today's planner failed: {r['today_error']}")
                elif "today_solve_s" in r:
                    notes.append(
                        f"{rung.vms:,} {goal}: today's wave planner solved in "
                        f"{r['today_solve_s']} s; the flow replay of its plan "
                        + ("passes" if r["today_flow_ok"] else "FAILS")
                        + " the checker"
                    )
                line = row(rung, goal, r)
                out_lines.append(line)
                print(line, flush=True)
                if r["dask"]:
                    notes.append(
                        f"{rung.vms:,} {goal}: {r['dask']}; client peak "
                        f"{r['rss_gib']:.2f} GiB, load {r['load_s']} s, "
                        f"plan written in {r['save_s']} s"
                    )
                if extras and rung.pools == 100 and goal == "evacuate":
                    s, text = _timed([*PLANNER, "check", str(plan_out), str(path)])
                    first = text.splitlines()[0] if text else ""
                    notes.append(
                        f"planner check at {rung.vms:,} VMs ({r['waves']} "
                        f"waves): {s:.1f} s end to end: {first}"
                    )
            path.unlink()
    if extras and "40k" in names:
        here = Path(__file__).parent
        s, text = _timed([sys.executable, str(here / "collect_bench.py"), "--pools", "100"])
        last = [ln for ln in text.splitlines() if re.match(r"\s*\d", ln)]
        head = next((ln.strip() for ln in text.splitlines() if "collect s" in ln), "")
        res = f"{head} | {last[-1].strip()}" if last else text[-300:]
        notes.append(
            f"planner collect at 40,000 VMs (benchmarks/collect_bench.py --pools "
            f"100, {s:.0f} s in all): {res}"
        )
    for n in notes:
        print(f"# {n}")
    if args.write_results:
        _write_results(Path(args.write_results), out_lines, notes)
    return 0


def _write_results(path: Path, lines: list[str], notes: list[str]) -> None:
    text = [
        "# Benchmark results (last run of `python -m benchmarks`)",
        "",
        lines[0].lstrip("# "),
        "",
        "```",
        *lines[1:],
        "```",
        "",
    ]
    text += [f"- {n}" for n in notes]
    path.write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
