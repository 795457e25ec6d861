"""Collector benchmark: serve a generated fleet with `planner sim serve`, time `planner collect`.

Protocol: for each size, `planner.inventory.generate.generate(pools, 16, 400, seed=1)`
is written to a temporary file and served by `planner sim serve` in its own process (as
a real pool master is another machine); `planner collect` then runs in a fresh process
against every pool master URL. Reported: VMs, the collector's own seconds (from its
summary line: login, one get_all_records per class and pool, mapping, logout), the wall
seconds of the whole `planner collect` process (interpreter start and file write
included), the collector's peak RSS, the simulator's peak RSS, and whether the collected
inventory equals the served one on every FORMATS.md key.

    python benchmarks/collect_bench.py            # 4,000 and 40,000 VMs
    python benchmarks/collect_bench.py --pools 2  # a quick run (800 VMs)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLANNER = [sys.executable, "-c", "from planner.cli import main; main()"]
PW_ENV = "XP_BENCH_PASSWORD"


def _peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _same(a: dict, b: dict) -> bool:
    """Equal on every FORMATS.md object key (order of top-level lists ignored)."""
    for key in ("pools", "hosts", "srs", "networks", "vms"):
        if {x["uuid"]: x for x in a[key]} != {x["uuid"]: x for x in b[key]}:
            return False
    return True


def run(pools: int, workdir: Path) -> dict:
    from planner.inventory.generate import generate

    doc = generate(pools, 16, 400, seed=1)
    fleet = workdir / f"fleet-{pools}.json"
    fleet.write_text(json.dumps(doc))
    env = dict(os.environ, **{PW_ENV: "bench-pw"})
    server = subprocess.Popen(
        [*PLANNER, "sim", "serve", str(fleet), "--password-env", PW_ENV],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        urls = []
        assert server.stdout is not None
        t_ready = time.monotonic()
        for line in server.stdout:
            if line.startswith("pool "):
                urls.append(line.rsplit(" ", 1)[1].strip())
            if line.startswith("press Ctrl-C"):
                break
        ready_s = time.monotonic() - t_ready
        out = workdir / f"collected-{pools}.json"
        t0 = time.monotonic()
        client = subprocess.Popen(
            [*PLANNER, "collect", *urls, "--password-env", PW_ENV, "-o", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        _, status, usage = os.wait4(client.pid, 0)
        wall = time.monotonic() - t0
        stdout = client.stdout.read() if client.stdout else ""
        if status != 0:
            err = client.stderr.read() if client.stderr else ""
            raise SystemExit(f"collect failed ({status}): {err}")
        m = re.search(r" in (\d+\.\d+) s", stdout)
        server_rss = _peak_rss_mib(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return {
        "vms": len(doc["vms"]),
        "pools": pools,
        "serve_ready_s": ready_s,
        "collect_s": float(m.group(1)) if m else float("nan"),
        "process_s": wall,
        "client_rss_mib": usage.ru_maxrss / 1024,
        "server_rss_mib": server_rss,
        "equal": _same(doc, json.loads(out.read_text())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pools",
        type=int,
        nargs="*",
        default=[10, 100],
        help="pool counts to run (400 VMs each; default 10 and 100)",
    )
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.pools:
            rows.append(run(n, Path(tmp)))
            r = rows[-1]
            print(f"... {r['vms']} VMs: {r['collect_s']:.1f} s", file=sys.stderr)
    print(
        f"{'VMs':>7} {'pools':>5} {'collect s':>9} {'process s':>9} {'client MiB':>10} "
        f"{'sim MiB':>8} {'sim ready s':>11} {'equal':>5}"
    )
    for r in rows:
        print(
            f"{r['vms']:>7} {r['pools']:>5} {r['collect_s']:>9.1f} {r['process_s']:>9.1f} "
            f"{r['client_rss_mib']:>10.0f} {r['server_rss_mib']:>8.0f} "
            f"{r['serve_ready_s']:>11.1f} {r['equal']!s:>5}"
        )


if __name__ == "__main__":
    main()
