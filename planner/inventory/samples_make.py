"""Writes the bundled sample inventories: `python -m planner.inventory.samples_make`.

Both files are made with `Builder`, so they are deterministic (uuids from a counter) and
re-running the script rewrites them byte for byte. The numbers are chosen on purpose;
docs/inventory.md explains each demo goal's expected outcome.

sample.json ("lab", 5 hosts of 128 GiB, 4 GiB overhead: 124 GiB for guests each)
    Evacuating xs-02 (the default demo) must move 7 running VMs (80 GiB). The other
    hosts have 30, 22, 18 and 12 GiB free (82 GiB): a packing exists with 2 GiB to spare,
    but first-fit in size order fails, so placement matters. Three of the VMs have disks
    on xs-02's local SR and need storage migrations; at most 3 migrations run per wave,
    so at least 3 waves. Every exclusion sits on another host.
two-pools.json ("old" 8.2.1 Broadwell -> "new" 8.4.0 Ice Lake, HTTPS-only)
    Moving old into new is feasible except for three excluded VMs (PCI, CBT, NO_TOOLS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.inventory.builder import Builder
from planner.inventory.cpus import INTEL_GENERATIONS
from planner.inventory.io import write_json
from planner.inventory.samples import sample_path

TAKEN_AT = "2026-11-28T12:00:00Z"


def _suspend(doc: dict[str, Any], name: str, vendor: str, features: str) -> None:
    """A suspended VM keeps the CPU it booted with (Builder leaves it null)."""
    vm = next(v for v in doc["vms"] if v["name"] == name)
    vm["cpu_vendor"] = vendor
    vm["cpu_features"] = features


def make_sample() -> dict[str, Any]:
    """The one-pool "lab" inventory (see the module docstring for its design)."""
    gen = INTEL_GENERATIONS[2]  # Cascade Lake everywhere: one pool, one CPU level
    b = Builder(taken_at=TAKEN_AT, source="xen-planner sample (planner.inventory.samples_make)")
    p = b.pool("lab", ha=True, compression=False, https_only=False)
    hosts = {
        f"xs-0{i}": b.host(
            p,
            f"xs-0{i}",
            memory_gib=128,
            overhead_gib=4,
            version="8.4.0",
            vendor=gen.vendor,
            features=gen.features,
            model=gen.model,
            cpus=48,
        )
        for i in range(1, 6)
    }
    h1, h2, h3, h4, h5 = hosts.values()
    old = b.sr(p, "nfs-old", size_gib=3072, shared=True, type="nfs")
    new = b.sr(p, "nfs-new", size_gib=6144, shared=True, type="nfs", default=True)
    local = b.sr(p, "xs-02-local", size_gib=1024, shared=False, host=h2, type="ext")
    b.network(p, "management", management=True)
    vm_net = b.network(p, "vm-net")
    backup = b.network(p, "backup-net")
    sriov = b.network(p, "sriov-net", sriov=True, hosts=[h3, h4])
    web, db = [vm_net], [vm_net, backup]

    def vm(
        name: str,
        host: str | None,
        mem: float,
        disks: list[tuple[str, float]],
        nets: list[str] | None = None,
        **kw: Any,
    ) -> None:
        b.vm(
            p,
            name,
            host=host,
            memory_gib=mem,
            vcpus=max(1, int(mem // 4)),
            disks=disks,
            networks=web if nets is None else nets,
            **kw,
        )

    # xs-01: 94 GiB committed, 30 free
    vm("dc-01", h1, 8, [(new, 60)], os="windows", ha_protected=True, tags=["infra"])
    vm("db-03", h1, 32, [(new, 40), (new, 400)], db, ha_protected=True, tags=["prod"])
    vm("backup-01", h1, 16, [(old, 40), (old, 160)], db, cbt=True, tags=["backup"])
    vm("web-03", h1, 4, [(new, 30)])
    vm("web-04", h1, 4, [(old, 30)])
    vm("mon-01", h1, 8, [(old, 50)], db)
    vm("mail-01", h1, 16, [(new, 120)], os="windows", memory_min_gib=8)
    vm("log-01", h1, 6, [(new, 100)])
    # xs-02: the host the default demo evacuates (80 GiB, nothing excluded)
    vm("db-01", h2, 24, [(local, 40), (local, 200)], db, memory_min_gib=16, tags=["prod"])
    vm("db-02", h2, 16, [(local, 100)], db, tags=["prod"])
    vm("app-01", h2, 12, [(new, 80)], os="windows", tags=["prod"])
    vm("app-02", h2, 8, [(old, 40)])
    vm("web-01", h2, 8, [(local, 30)], tags=["prod"])
    vm("web-02", h2, 6, [(new, 20)])
    vm("cache-01", h2, 6, [(new, 20)], memory_min_gib=4)
    # xs-03: 102 GiB committed, 22 free
    vm("fw-01", h3, 4, [(new, 10)], [vm_net, sriov], tags=["infra"])
    vm("kiosk-01", h3, 4, [(new, 20)], on_boot="reset")
    vm("app-03", h3, 16, [(new, 80)])
    vm("app-04", h3, 16, [(old, 80)])
    vm("db-04", h3, 32, [(new, 300)], db)
    vm("web-05", h3, 8, [(new, 30)])
    vm("ci-01", h3, 16, [(new, 200)])
    vm("git-01", h3, 6, [(new, 150)], db)
    # xs-04: 106 GiB committed, 18 free
    vm("render-01", h4, 16, [(new, 100)], pci=True)
    vm("legacy-01", h4, 8, [(new, 60)], os="windows", tools=False)
    vm("vdi-01", h4, 4, [(new, 40)], os="windows", mcs=True, tags=["vdi"])
    vm("vdi-02", h4, 4, [(new, 40)], os="windows", mcs=True, tags=["vdi"])
    vm("app-05", h4, 24, [(new, 100)])
    vm("db-05", h4, 32, [(new, 250)], db)
    vm("web-06", h4, 8, [(old, 30)])
    vm("dns-01", h4, 2, [(new, 10)], tags=["infra"])
    vm("proxy-01", h4, 8, [(new, 20)])
    # xs-05: 112 GiB committed, 12 free
    vm("gpu-01", h5, 16, [(new, 100)], os="windows", vgpu=True)
    vm("db-06", h5, 48, [(new, 40), (new, 500)], db, memory_min_gib=32)
    vm("app-06", h5, 24, [(new, 80)])
    vm("web-07", h5, 8, [(new, 30)], power_state="Paused")
    vm("jump-01", h5, 4, [(old, 20)], os="other")
    vm("search-01", h5, 12, [(new, 120)])
    # not running: halted and suspended VMs, several on the SR to retire
    vm("old-app-01", None, 8, [(old, 60)])
    vm("old-db-01", None, 16, [(old, 200)], db)
    vm("test-01", None, 4, [(new, 20)])
    vm("win-test-01", None, 4, [(old, 40)], os="windows", tools=False)
    vm("report-01", None, 8, [(old, 50)], power_state="Suspended", os="windows")
    doc = b.document()
    _suspend(doc, "report-01", gen.vendor, gen.features)
    return doc


def make_two_pools() -> dict[str, Any]:
    """Pool "old" (to be emptied) and pool "new" (the target)."""
    g_old, g_new = INTEL_GENERATIONS[0], INTEL_GENERATIONS[3]
    b = Builder(taken_at=TAKEN_AT, source="xen-planner sample (planner.inventory.samples_make)")
    po = b.pool("old", ha=False, compression=False, https_only=False)
    olds = [
        b.host(
            po,
            f"old-0{i}",
            memory_gib=256,
            overhead_gib=6,
            version="8.2.1",
            hotfixes=("XS82ECU1033",) if i == 1 else (),
            vendor=g_old.vendor,
            features=g_old.features,
            model=g_old.model,
            cpus=28,
        )
        for i in range(1, 5)
    ]
    pn = b.pool("new", ha=True, compression=True, https_only=True)
    news = [
        b.host(
            pn,
            f"new-0{i}",
            memory_gib=512,
            overhead_gib=8,
            version="8.4.0",
            vendor=g_new.vendor,
            features=g_new.features,
            model=g_new.model,
            cpus=64,
        )
        for i in range(1, 5)
    ]
    o_nfs = b.sr(po, "old-nfs", size_gib=4096, type="nfs", default=True)
    o_iscsi = b.sr(po, "old-iscsi", size_gib=2048, type="lvmoiscsi")
    n_nfs = b.sr(pn, "new-nfs", size_gib=16384, type="nfs", default=True)
    b.sr(pn, "new-iscsi", size_gib=8192, type="lvmoiscsi")
    nets: dict[tuple[str, str], str] = {}
    for pool, tag in ((po, "old"), (pn, "new")):
        nets[tag, "management"] = b.network(pool, "management", management=True)
        for name in ("vm-net", "backup-net", "dmz"):
            nets[tag, name] = b.network(pool, name)
    nets["new", "new-storage"] = b.network(pn, "new-storage")
    web = [nets["old", "vm-net"]]
    db = [nets["old", "vm-net"], nets["old", "backup-net"]]
    dmz = [nets["old", "dmz"]]
    specs: list[tuple[str, int, float, list[tuple[str, float]], list[str], dict[str, Any]]] = [
        # (name, host index or -1 for not running, GiB, disks, networks, extras)
        ("web-01", 0, 4, [(o_nfs, 30)], web, {}),
        ("web-02", 1, 4, [(o_nfs, 30)], web, {}),
        ("web-03", 2, 4, [(o_nfs, 30)], web, {}),
        ("web-04", 3, 4, [(o_nfs, 30)], web, {}),
        ("app-01", 0, 16, [(o_nfs, 80)], web, {"os": "windows"}),
        ("app-02", 1, 16, [(o_nfs, 80)], web, {}),
        ("app-03", 2, 12, [(o_iscsi, 60)], web, {}),
        ("app-04", 3, 12, [(o_iscsi, 60)], web, {"os": "windows"}),
        ("db-01", 0, 32, [(o_iscsi, 40), (o_iscsi, 300)], db, {"ha_protected": True}),
        ("db-02", 1, 32, [(o_iscsi, 40), (o_iscsi, 300)], db, {}),
        ("db-03", 2, 24, [(o_nfs, 250)], db, {"memory_min_gib": 16}),
        ("cache-01", 3, 8, [(o_nfs, 20)], web, {}),
        ("cache-02", 0, 8, [(o_nfs, 20)], web, {}),
        ("proxy-01", 1, 4, [(o_nfs, 20)], dmz, {}),
        ("proxy-02", 2, 4, [(o_nfs, 20)], dmz, {}),
        ("mail-01", 3, 16, [(o_nfs, 120)], web, {"os": "windows"}),
        ("dc-01", 0, 8, [(o_nfs, 60)], web, {"os": "windows"}),
        ("dc-02", 1, 8, [(o_nfs, 60)], web, {"os": "windows"}),
        ("mon-01", 2, 8, [(o_nfs, 50)], db, {}),
        ("ci-01", 3, 16, [(o_nfs, 200)], web, {}),
        ("git-01", 0, 8, [(o_nfs, 150)], db, {}),
        ("dns-01", 1, 2, [(o_nfs, 10)], web, {"os": "other"}),
        ("lic-01", 2, 4, [(o_nfs, 20)], web, {"pci": True}),
        ("backup-01", 3, 16, [(o_iscsi, 40), (o_iscsi, 100)], db, {"cbt": True}),
        ("legacy-01", 0, 8, [(o_nfs, 60)], web, {"os": "windows", "tools": False}),
        ("report-01", 1, 8, [(o_nfs, 40)], web, {"power_state": "Paused"}),
        ("old-app-01", -1, 8, [(o_nfs, 60)], web, {}),
        ("old-db-01", -1, 16, [(o_iscsi, 200)], db, {}),
        ("win-test-01", -1, 4, [(o_nfs, 40)], web, {"os": "windows", "tools": False}),
        ("batch-01", -1, 8, [(o_nfs, 40)], web, {"power_state": "Suspended"}),
    ]
    for name, hi, mem, disks, networks, extra in specs:
        b.vm(
            po,
            name,
            host=olds[hi] if hi >= 0 else None,
            memory_gib=mem,
            vcpus=max(1, int(mem // 4)),
            disks=disks,
            networks=networks,
            **extra,
        )
    nweb = [nets["new", "vm-net"]]
    for i, (name, mem) in enumerate((("portal-01", 8), ("portal-02", 8), ("db-10", 64))):
        b.vm(
            pn,
            name,
            host=news[i],
            memory_gib=mem,
            vcpus=max(1, int(mem // 4)),
            disks=[(n_nfs, 100)],
            networks=nweb,
        )
    doc = b.document()
    _suspend(doc, "batch-01", g_old.vendor, g_old.features)
    return doc


def main() -> None:
    for name, make in (("sample", make_sample), ("two-pools", make_two_pools)):
        path = Path(sample_path(name))
        write_json(path, make(), indent=1)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
