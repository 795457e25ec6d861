"""Fleets with a known answer for the solver tests, and the one assertion every plan
goes through: `planner.check.check_plan` reports it ok."""

from __future__ import annotations

from planner.check import check_plan
from planner.inventory.builder import Builder
from planner.inventory.model import Inventory
from planner.plan import Plan


def assert_checked(inv: Inventory, plan: Plan) -> None:
    """Every plan a solver returns must pass the replay checker."""
    report = check_plan(inv, plan)
    assert report.ok, "\n".join(report.lines())


def gib_seconds_live(gib: float) -> int:
    """est_seconds of a live migration of `gib` GiB with the default model, computed
    here from the model's documented formula (5 s + 1.2 x memory over 125 MB/s)."""
    import math

    return max(1, math.ceil(5 + gib * 2**30 * 1.2 / 125_000_000))


def binpacking_trap() -> tuple[Inventory, str, dict[str, float]]:
    """Evacuate `src`: VMs of 8, 6, 3, 3, 2, 2 GiB onto two hosts with exactly 12 GiB free
    each. The only packings are {8, 2, 2} + {6, 3, 3}; largest-first onto the most free
    host (worst fit) and onto the first host that fits (first fit) both strand a 2 GiB VM.
    Returns the inventory, the source host uuid and VM name -> GiB."""
    b = Builder()
    p = b.pool("lab")
    src = b.host(p, "src", memory_gib=64)
    b.host(p, "a", memory_gib=14, overhead_gib=2)
    b.host(p, "b", memory_gib=14, overhead_gib=2)
    sr = b.sr(p, "nfs", size_gib=2000)
    net = b.network(p, "vm-net")
    sizes = {"v8": 8, "v6": 6, "v3a": 3, "v3b": 3, "v2a": 2, "v2b": 2}
    for name, gib in sizes.items():
        b.vm(p, name, host=src, memory_gib=gib, disks=[(sr, 10)], networks=[net])
    return b.build(), src, sizes


def serial_sr() -> tuple[Inventory, str, dict[str, float]]:
    """Retire `old`: three running VMs with 10, 12 and 14 GiB disks (half used) move to
    `new`, 60 GiB with nothing on it. Two moves at once would reserve 3 x (10 + 12) = 66
    GiB > 60, so the moves must run one at a time. Returns inventory, old SR, disk sizes."""
    b = Builder()
    p = b.pool("lab")
    h = b.host(p, "xs-01", memory_gib=256)
    old = b.sr(p, "old", size_gib=1000)
    b.sr(p, "new", size_gib=60)
    net = b.network(p, "vm-net")
    disks = {"d10": 10, "d12": 12, "d14": 14}
    for name, gib in disks.items():
        b.vm(p, name, host=h, memory_gib=2, disks=[(old, gib)], networks=[net])
    return b.build(), old, disks


def parallel_pools() -> tuple[Inventory, list[str]]:
    """Two pools, one host to evacuate in each: pool A has six VMs (two waves: three of
    16 GiB, three of 1 GiB), pool B three of 8 GiB (one wave). Pools share nothing, so
    their waves run side by side. Returns inventory and the two source hosts."""
    b = Builder()
    srcs = []
    for pool_name, sizes in (("A", [16, 16, 16, 1, 1, 1]), ("B", [8, 8, 8])):
        p = b.pool(pool_name)
        src = b.host(p, f"{pool_name}-src", memory_gib=128)
        b.host(p, f"{pool_name}-dst", memory_gib=128)
        sr = b.sr(p, f"{pool_name}-nfs", size_gib=2000)
        net = b.network(p, "vm-net")
        for i, gib in enumerate(sizes):
            b.vm(
                p, f"{pool_name}-vm{i}", host=src, memory_gib=gib, disks=[(sr, 10)], networks=[net]
            )
        srcs.append(src)
    return b.build(), srcs


def one_good_pool() -> tuple[Inventory, str, list[str], str]:
    """Move pool `src` (Intel, 8.4.0) into [amd, old, good]: `amd` has AMD hosts
    (CPU_VENDOR for running VMs), `old` runs 8.2.1 (VERSION for every VM), so only
    `good` is eligible. Returns inventory, source pool, target pools, the good pool."""
    from planner.inventory.builder import AMD

    b = Builder()
    src = b.pool("src")
    h = b.host(src, "src-01", memory_gib=128)
    s_sr = b.sr(src, "src-nfs", size_gib=2000)
    s_net = b.network(src, "vm-net")
    targets = {}
    for name, kw in (("amd", {"vendor": AMD}), ("old", {"version": "8.2.1"}), ("good", {})):
        p = b.pool(name)
        b.host(p, f"{name}-01", memory_gib=128, **kw)
        b.host(p, f"{name}-02", memory_gib=128, **kw)
        b.sr(p, f"{name}-nfs", size_gib=2000)
        b.network(p, "vm-net")
        targets[name] = p
    for i in range(4):
        b.vm(src, f"run-{i}", host=h, memory_gib=4, disks=[(s_sr, 20)], networks=[s_net])
    return b.build(), src, list(targets.values()), targets["good"]
