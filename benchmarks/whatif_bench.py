"""N-1 sweep on a generated 10-pool / 4,000-VM fleet: serial, local processes, Dask.

Usage: python benchmarks/whatif_bench.py [--pools 10] [--hosts 16] [--vms 400] [--seed 1]

Prints one row per way of running the same sweep (160 scenarios: every host fails in
turn), with wall seconds and whether the result equals the serial one.
"""

from __future__ import annotations

import argparse
import os
import time

from planner import whatif
from planner.inventory.generate import generate
from planner.inventory.io import from_dict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pools", type=int, default=10)
    ap.add_argument("--hosts", type=int, default=16, help="hosts per pool")
    ap.add_argument("--vms", type=int, default=400, help="VMs per pool")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    t = time.perf_counter()
    inv = from_dict(generate(args.pools, args.hosts, args.vms, args.seed))
    print(
        f"fleet: {len(inv.pools)} pools, {len(inv.hosts)} hosts, {len(inv.vms)} VMs "
        f"(generated in {time.perf_counter() - t:.1f} s); {os.cpu_count()} CPUs"
    )

    rows = []
    t = time.perf_counter()
    serial = whatif.n_minus_1(inv, processes=1)
    rows.append(("serial (1 process)", time.perf_counter() - t, True))

    t = time.perf_counter()
    local = whatif.n_minus_1(inv, processes=os.cpu_count())
    rows.append(
        (f"local processes ({os.cpu_count()})", time.perf_counter() - t, local.equals(serial))
    )

    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        start = time.perf_counter() - t0
        t = time.perf_counter()
        remote = whatif.n_minus_1(inv, client=client)
        rows.append(
            (
                f"Dask LocalCluster, 2 workers (+{start:.1f} s start-up)",
                time.perf_counter() - t,
                remote.equals(serial),
            )
        )

    bad = int((~serial["feasible"]).sum())
    print(
        f"scenarios: {len(serial)}, infeasible: {bad}, "
        f"VMs left without room: {int(serial['unplaced'].sum())}"
    )
    print(f"{'how':<48} {'seconds':>8} {'same result':>12}")
    for how, secs, same in rows:
        print(f"{how:<48} {secs:>8.2f} {same!s:>12}")


if __name__ == "__main__":
    main()
