"""Realistic synthetic fleets (`planner generate`): FORMATS.md documents for benchmarks.

Counts are per pool: `generate(pools=100, hosts_per_pool=16, vms_per_pool=400)` makes
1,600 hosts and 40,000 VMs. Everything is drawn from one `random.Random(seed)`, in a fixed
order, so the same arguments give the same document (and the same file, byte for byte).
docs/inventory.md lists the distributions; the main ones:

- Pool age: pools later in the list are newer on average. Old pools run 8.2.1 (half of
  them with hotfix XS82ECU1033) on older CPU generations; new ones run 8.4.0 on newer
  generations. Every third pool is AMD, the rest Intel. One pool in five had newer hosts
  added: its last hosts are one generation newer (running VMs boot with the pool's
  common, older feature set, as XAPI levels a pool's features).
- About 30% of pools have HA enabled, with ~15% of their VMs HA-protected; 25% have an
  SR-IOV network on half their hosts; 8.4.0 pools are HTTPS-only 40% of the time.
- VMs: 86% Running, 1% Paused, 2% Suspended, 11% Halted; memory from the usual sizes
  (1-128 GiB, mode 4 GiB); 35% Windows (8% of them without tools), 60% Linux; a few %
  each of CBT, MCS, on-boot=reset, PCI and vGPU VMs.
- Hosts: running VMs are spread so each host's committed memory is 55-80% of what guests
  can use (total - overhead); host memory is sized to make that hold, rounded up to 16 GiB.
"""

from __future__ import annotations

import heapq
import random
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

from planner.inventory.cpus import AMD_GENERATIONS, INTEL_GENERATIONS, CpuGeneration
from planner.inventory.model import FORMAT_NAME, FORMAT_VERSION, POWER_STATES, RESIDENT_STATES

GIB = 2**30
HOTFIX = "XS82ECU1033"
TAKEN_AT = "2026-11-28T12:00:00Z"
# guest memory sizes (GiB) and how common they are
MEMORY_GIB = (1, 2, 4, 8, 16, 32, 64, 128)
MEMORY_WEIGHTS = (8, 20, 30, 22, 12, 5, 2, 1)
POWER_WEIGHTS = (86, 1, 2, 11)
ROLES = ("web", "app", "db", "cache", "mq", "ci", "mail", "file", "vdi", "mon", "proxy", "dc")
COMMON_NETWORKS = ("vm-net", "backup-net", "dmz", "storage-net")
FILL_RANGE = (0.55, 0.80)  # share of guest-usable host memory a host's VMs commit
ROUND_BYTES = 16 * GIB  # host memory granularity


def _cum(weights: tuple[int, ...]) -> list[int]:
    out, t = [], 0
    for w in weights:
        t += w
        out.append(t)
    return out


def generate(pools: int, hosts_per_pool: int, vms_per_pool: int, seed: int = 0) -> dict[str, Any]:
    """A FORMATS.md inventory document of `pools` pools, each with `hosts_per_pool`
    hosts and `vms_per_pool` VMs. Raises ValueError on non-positive counts."""
    for name, n in (("pools", pools), ("hosts_per_pool", hosts_per_pool)):
        if type(n) is not int or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    if type(vms_per_pool) is not int or vms_per_pool < 0:
        raise ValueError(f"vms_per_pool must be a non-negative integer, got {vms_per_pool!r}")
    return _Fleet(random.Random(seed)).build(pools, hosts_per_pool, vms_per_pool, seed)


@dataclass(frozen=True)
class _Traits:
    """What one generated pool is like (drawn once, before its hosts)."""

    uuid: str
    old: bool  # an older pool: 8.2.1, older CPUs, maybe a hotfix
    version: str
    base: CpuGeneration  # most hosts' CPU
    newer: CpuGeneration  # the newest hosts' CPU (`base` when none is newer)
    n_newer: int
    ha: bool
    https_only: bool
    hotfix: bool
    compression: bool
    has_sriov: bool


def _place(vm_specs: list[tuple[str, int]], targets: list[float]) -> dict[int, int]:
    """Running VMs' hosts (VM index -> host index): largest first onto the host furthest
    below its target."""
    heap = [(-targets[h], h) for h in range(len(targets))]
    heapq.heapify(heap)
    order = sorted(range(len(vm_specs)), key=lambda i: -vm_specs[i][1])
    where: dict[int, int] = {}
    for i in order:
        state, mem = vm_specs[i]
        if state in RESIDENT_STATES:
            room, h = heapq.heappop(heap)
            where[i] = h
            heapq.heappush(heap, (room + mem, h))
    return where


class _Fleet:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.doc: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "taken_at": TAKEN_AT,
            "source": "",
            "pools": [],
            "hosts": [],
            "srs": [],
            "networks": [],
            "vms": [],
            "vm_groups": [],
        }

    def uuid(self) -> str:
        return str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))

    def build(self, pools: int, hosts: int, vms: int, seed: int) -> dict[str, Any]:
        self.doc["source"] = (
            f"planner generate --pools {pools} --hosts {hosts} --vms {vms} --seed {seed}"
        )
        pw, hw, vw = max(2, len(str(pools))), max(2, len(str(hosts))), max(3, len(str(vms)))
        for p in range(pools):
            age = (p + 0.5) / pools  # 0 oldest .. 1 newest
            self.pool(p, age, f"p{p:0{pw}d}", hosts, vms, hw, vw)
        return self.doc

    # ------------------------------------------------------------------ one pool
    # The helpers draw from the one random stream in a fixed order (traits, VM specs and
    # fills, hosts, SRs, networks, VMs): a fleet is a function of its seed, keep the order.
    def pool(
        self, p: int, age: float, tag: str, n_hosts: int, n_vms: int, hw: int, vw: int
    ) -> None:
        t = self.traits(p, age, n_hosts)
        vm_specs, total, overhead, targets = self.sizes(n_hosts, n_vms)
        host_uuids = self.hosts(t, tag, n_hosts, hw, total, overhead)
        rng = self.rng
        shared_srs = []
        for k in range(rng.choice((1, 2, 2, 3))):
            typ = rng.choice(("nfs", "nfs", "lvmoiscsi", "lvmohba"))
            shared_srs.append(self.sr_doc(t.uuid, f"{tag}-{typ}-{k + 1}", typ, True, host_uuids))
        local_srs = [
            self.sr_doc(t.uuid, f"{tag}-xs-{h + 1:0{hw}d}-local", "ext", False, [hu])
            for h, hu in enumerate(host_uuids)
        ]
        nets, sriov_hosts = self.networks(t, tag, host_uuids)

        self.doc["pools"].append(
            {
                "uuid": t.uuid,
                "name": f"pool-{tag[1:]}",
                "master": host_uuids[0],
                "ha_enabled": t.ha,
                "migration_compression": t.compression,
                "https_only": t.https_only,
                "default_sr": shared_srs[0]["uuid"],
            }
        )

        where = _place(vm_specs, targets)
        net_names = list(nets)
        for i in range(n_vms):
            state, mem = vm_specs[i]
            h = where.get(i)
            self.vm_doc(
                t.uuid,
                f"{tag}-{ROLES[i % len(ROLES)]}-{i + 1:0{vw}d}",
                state,
                mem,
                host_uuids[h] if h is not None else None,
                host_uuids,
                t.base,
                t.ha,
                shared_srs,
                local_srs,
                nets,
                net_names,
                sriov_hosts,
            )
        self.size_srs(shared_srs, local_srs)
        self.doc["srs"].extend(shared_srs + local_srs)
        self.doc["networks"].extend(nets.values())

    def traits(self, p: int, age: float, n_hosts: int) -> _Traits:
        """A pool's era (0 oldest .. 1 newest, `age` jittered), CPUs, version and flags."""
        rng = self.rng
        era = min(1.0, max(0.0, age + rng.uniform(-0.2, 0.2)))
        gens = AMD_GENERATIONS if p % 3 == 2 else INTEL_GENERATIONS
        old = era < 0.45
        # older pools sit on the older half of the vendor's ladder
        span = len(gens) - 1
        rank = round(era * span)
        rank = min(rank, span // 2 + 1) if old else max(rank, span // 2)
        base = gens[rank]
        newer = gens[min(rank + 1, span)] if rng.random() < 0.2 else base
        n_newer = rng.randint(1, max(1, n_hosts // 4)) if newer is not base else 0
        pool_uuid = self.uuid()
        ha = rng.random() < 0.3
        https_only = (not old) and rng.random() < 0.4
        hotfix = old and rng.random() < 0.5
        compression = rng.random() < 0.3
        has_sriov = rng.random() < 0.25
        return _Traits(
            pool_uuid,
            old,
            "8.2.1" if old else "8.4.0",
            base,
            newer,
            n_newer,
            ha,
            https_only,
            hotfix,
            compression,
            has_sriov,
        )

    def sizes(
        self, n_hosts: int, n_vms: int
    ) -> tuple[list[tuple[str, int]], int, int, list[float]]:
        """The VMs' (power state, memory), the hosts' memory and overhead (bytes), and each
        host's target of committed memory."""
        rng = self.rng
        # VMs first: their memory decides the host size. No VM needs more than a third
        # of a host, judged on a first estimate of the host size.
        vm_specs = [self.vm_spec() for _ in range(n_vms)]
        fills = [rng.uniform(*FILL_RANGE) for _ in range(n_hosts)]
        est = sum(m for s, m in vm_specs if s in RESIDENT_STATES) / sum(fills)
        limit = max(4 * GIB, int(est // 3))
        vm_specs = [
            (s, m if m <= limit else max(g * GIB for g in MEMORY_GIB if g * GIB <= limit))
            for s, m in vm_specs
        ]
        running = sum(m for s, m in vm_specs if s in RESIDENT_STATES)
        usable = running / sum(fills)
        total = max(64 * GIB, -(-int(usable + self.overhead(usable)) // ROUND_BYTES) * ROUND_BYTES)
        overhead = self.overhead(total)
        cap = total - overhead
        # rounding the host up leaves room: scale targets so they add up to what runs
        scale = running / (sum(fills) * cap) if running else 1.0
        return vm_specs, total, overhead, [f * scale * cap for f in fills]

    def hosts(
        self, t: _Traits, tag: str, n_hosts: int, hw: int, total: int, overhead: int
    ) -> list[str]:
        """The pool's host documents (the newest `t.n_newer` on the newer CPU); their uuids."""
        host_uuids: list[str] = []
        for h in range(n_hosts):
            gen = t.newer if h >= n_hosts - t.n_newer else t.base
            hu = self.uuid()
            host_uuids.append(hu)
            self.doc["hosts"].append(
                {
                    "uuid": hu,
                    "name": f"{tag}-xs-{h + 1:0{hw}d}",
                    "pool": t.uuid,
                    "enabled": True,
                    "version": t.version,
                    "hotfixes": ([HOTFIX] if t.hotfix and h == 0 else []) if t.old else [],
                    "cpu": {
                        "vendor": gen.vendor,
                        "features": gen.features,
                        "model": gen.model,
                        "count": self.cpu_count(gen),
                    },
                    "memory_total_bytes": total,
                    "memory_overhead_bytes": overhead,
                }
            )
        # 15% of pools of 4+ hosts have one host disabled (entering maintenance)
        if n_hosts >= 4 and self.rng.random() < 0.15:
            self.doc["hosts"][-1 - self.rng.randrange(n_hosts - 1)]["enabled"] = False
        return host_uuids

    def networks(
        self, t: _Traits, tag: str, host_uuids: list[str]
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """The pool's networks by name, and the hosts with an SR-IOV network."""
        rng = self.rng
        nets: dict[str, dict[str, Any]] = {}
        nets["management"] = self.net_doc(t.uuid, "management", host_uuids, management=True)
        for name in COMMON_NETWORKS:
            nets[name] = self.net_doc(t.uuid, name, host_uuids)
        for k in range(rng.randint(1, 2)):
            name = f"{tag}-vlan{100 + 10 * k}"
            nets[name] = self.net_doc(t.uuid, name, host_uuids)
        sriov_hosts: set[str] = set()
        if t.has_sriov:
            chosen = sorted(rng.sample(range(len(host_uuids)), max(1, len(host_uuids) // 2)))
            sriov_hosts = {host_uuids[i] for i in chosen}
            on = [host_uuids[i] for i in chosen]
            nets["sriov-net"] = self.net_doc(t.uuid, "sriov-net", on, sriov=True)
        return nets, sriov_hosts

    # ------------------------------------------------------------------ pieces
    def vm_spec(self) -> tuple[str, int]:
        rng = self.rng
        state = rng.choices(POWER_STATES, cum_weights=_POWER_CUM)[0]
        mem = rng.choices(MEMORY_GIB, cum_weights=_MEMORY_CUM)[0] * GIB
        return state, mem

    @staticmethod
    def overhead(total: float) -> int:
        """Xen and the control domain: 4 GiB plus 1.5% of the host's memory, in MiB."""
        return int(4 * GIB + 0.015 * total) // 2**20 * 2**20

    def cpu_count(self, gen: CpuGeneration) -> int:
        return 2 * self.rng.choice((16, 20, 24, 28, 32)) + 8 * gen.rank

    def sr_doc(
        self, pool: str, name: str, typ: str, shared: bool, hosts: list[str]
    ) -> dict[str, Any]:
        return {
            "uuid": self.uuid(),
            "name": name,
            "pool": pool,
            "type": typ,
            "shared": shared,
            "size_bytes": 0,
            "used_bytes": 0,
            "hosts": list(hosts),
        }

    def net_doc(
        self,
        pool: str,
        name: str,
        hosts: list[str],
        *,
        management: bool = False,
        sriov: bool = False,
    ) -> dict[str, Any]:
        return {
            "uuid": self.uuid(),
            "name": name,
            "pool": pool,
            "management": management,
            "sriov": sriov,
            "hosts": list(hosts),
            "ip_hosts": list(hosts) if management else [],
        }

    def size_srs(self, shared: list[dict[str, Any]], local: list[dict[str, Any]]) -> None:
        """SR sizes so shared SRs are 40-70% full and local SRs 20-60% (at least 500 GiB)."""
        rng = self.rng
        for srs, lo, hi, floor in ((shared, 0.4, 0.7, 2048 * GIB), (local, 0.2, 0.6, 512 * GIB)):
            for s in srs:
                size = max(floor, int(s["used_bytes"] / rng.uniform(lo, hi)))
                s["size_bytes"] = -(-size // (64 * GIB)) * (64 * GIB)

    def disks(self, sr_doc: dict[str, Any]) -> list[dict[str, Any]]:
        """A VM's system disk and 0-2 data disks on `sr_doc` (whose use they add to)."""
        rng = self.rng
        cbt = rng.random() < 0.03
        reset = rng.random() < 0.01
        disks = []
        for k in range(1 + rng.choices((0, 1, 2), cum_weights=(55, 90, 100))[0]):
            size = (
                rng.choice((20, 32, 40, 60, 80, 100))
                if k == 0
                else int(rng.lognormvariate(4.6, 0.9)) + 10
            ) * GIB
            used = int(size * rng.uniform(0.2, 0.95)) // 2**20 * 2**20
            disks.append(
                {
                    "uuid": self.uuid(),
                    "sr": sr_doc["uuid"],
                    "size_bytes": size,
                    "used_bytes": used,
                    "cbt": cbt and k == 0,
                    "on_boot": "reset" if reset else "persist",
                    "snapshot_used_bytes": 0,
                }
            )
            sr_doc["used_bytes"] += used
        return disks

    def vifs(
        self,
        host: str | None,
        nets: dict[str, dict[str, Any]],
        net_names: list[str],
        sriov_hosts: set[str],
    ) -> list[dict[str, str]]:
        """A VM's VIFs: vm-net, sometimes another network, rarely SR-IOV on its host."""
        rng = self.rng
        vifs = [{"device": "0", "network": nets["vm-net"]["uuid"]}]
        if rng.random() < 0.35:
            extra = net_names[1 + rng.randrange(len(net_names) - 1)]
            if extra not in ("vm-net", "sriov-net"):
                vifs.append({"device": "1", "network": nets[extra]["uuid"]})
        if host in sriov_hosts and rng.random() < 0.05:
            vifs.append({"device": str(len(vifs)), "network": nets["sriov-net"]["uuid"]})
        return vifs

    def vm_doc(
        self,
        pool: str,
        name: str,
        state: str,
        mem: int,
        host: str | None,
        hosts: list[str],
        gen: CpuGeneration,
        ha: bool,
        shared: list[dict[str, Any]],
        local: list[dict[str, Any]],
        nets: dict[str, dict[str, Any]],
        net_names: list[str],
        sriov_hosts: set[str],
    ) -> None:
        rng = self.rng
        r = rng.random
        os_roll = r()
        os = "windows" if os_roll < 0.35 else "linux" if os_roll < 0.95 else "other"
        tools = not (os == "windows" and r() < 0.08)
        running = state in RESIDENT_STATES
        booted = state != "Halted"
        # disks: a system disk and 0-2 data disks; 20% of VMs live on a local SR
        on_local = r() < 0.2
        if on_local:
            li = hosts.index(host) if host is not None else rng.randrange(len(hosts))
            sr_doc = local[li]
        else:
            sr_doc = shared[rng.randrange(len(shared))]
        disks = self.disks(sr_doc)
        vifs = self.vifs(host, nets, net_names, sriov_hosts)
        dmc = r() < 0.3
        self.doc["vms"].append(
            {
                "uuid": self.uuid(),
                "name": name,
                "pool": pool,
                "power_state": state,
                "host": host if running else None,
                "affinity": (host or hosts[rng.randrange(len(hosts))]) if r() < 0.2 else None,
                "memory_bytes": mem,
                "memory_min_bytes": max(GIB // 2, mem // 2) if dmc and mem > GIB else mem,
                "vcpus": max(1, min(32, mem // (2 * GIB))) if r() < 0.8 else rng.choice((1, 2, 4)),
                "cpu_vendor": gen.vendor if booted else None,
                "cpu_features": gen.features if booted else None,
                "ha_protected": r() < (0.15 if ha else 0.02),
                "os": os,
                "tools": tools,
                "mcs": r() < (0.08 if os == "windows" else 0.005),
                "pci": r() < 0.01,
                "vgpu": r() < (0.02 if os == "windows" else 0.005),
                "tags": ["prod"] if r() < 0.5 else [],
                "disks": disks,
                "vifs": vifs,
                "suspend_vdi": None,
                "groups": [],
            }
        )


_POWER_CUM = _cum(POWER_WEIGHTS)
_MEMORY_CUM = _cum(MEMORY_WEIGHTS)
