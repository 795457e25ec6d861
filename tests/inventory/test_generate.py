"""The fleet generator: determinism, validity, and the distributions docs/inventory.md states."""

from __future__ import annotations

import itertools
import statistics
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.inventory import Inventory, from_dict
from planner.inventory.cpus import AMD_GENERATIONS, INTEL_GENERATIONS
from planner.inventory.generate import COMMON_NETWORKS, MEMORY_GIB, generate
from planner.inventory.io import canonical_json
from planner.inventory.validate import validate_document
from planner.rules import codes
from planner.rules.cpu import features_subset
from planner.rules.exclusions import exclusion_reasons
from planner.rules.memory import host_capacity

GIB = 2**30


@pytest.fixture(scope="module")
def fleet() -> Inventory:
    """20 pools x 6 hosts x 150 VMs = 3,000 VMs: enough to see every distribution."""
    return from_dict(generate(20, 6, 150, seed=11))


def test_same_seed_same_document_other_seed_other_document():
    a = canonical_json(generate(3, 4, 50, seed=5))
    assert a == canonical_json(generate(3, 4, 50, seed=5))
    assert a != canonical_json(generate(3, 4, 50, seed=6))


@settings(max_examples=25, deadline=None)
@given(
    pools=st.integers(1, 4),
    hosts=st.integers(1, 6),
    vms=st.integers(0, 60),
    seed=st.integers(0, 2**32),
)
def test_every_generated_fleet_is_valid(pools, hosts, vms, seed):
    report = validate_document(generate(pools, hosts, vms, seed))
    assert report.errors == []
    assert report.warnings == []  # no host is overcommitted


def test_counts_are_per_pool(fleet: Inventory):
    assert len(fleet.pools) == 20
    assert all(len(fleet.hosts_in_pool[p.uuid]) == 6 for p in fleet.pools)
    assert all(len(fleet.vms_in_pool[p.uuid]) == 150 for p in fleet.pools)


@pytest.mark.parametrize(
    "bad", [dict(pools=0), dict(hosts_per_pool=0), dict(vms_per_pool=-1), dict(pools=1.5)]
)
def test_bad_counts_raise_value_error(bad):
    args = dict(pools=1, hosts_per_pool=1, vms_per_pool=1) | bad
    with pytest.raises(ValueError):
        generate(**args)


def test_names_are_unique_across_the_fleet(fleet: Inventory):
    for objs in (fleet.pools, fleet.hosts, fleet.vms):
        names = [o.name for o in objs]
        assert len(set(names)) == len(names)
    assert fleet.hosts[0].name.startswith("p00-xs-")


def test_power_state_shares(fleet: Inventory):
    n = len(fleet.vms)
    states = Counter(v.power_state for v in fleet.vms)
    # 11% halted, 2% suspended, 1% paused; +-5 standard deviations at n = 3,000
    assert 0.08 < states["Halted"] / n < 0.14
    assert 0.005 < states["Suspended"] / n < 0.04
    assert 0 < states["Paused"] / n < 0.03
    for v in fleet.vms:
        assert (v.cpu_vendor is None) == (v.power_state == "Halted")


def test_every_exclusion_appears_each_a_small_share(fleet: Inventory):
    seen: Counter[str] = Counter()
    for vm in fleet.vms:
        found = {r.code for r in exclusion_reasons(fleet, vm, "live")}
        found |= {r.code for r in exclusion_reasons(fleet, vm, "storage")}
        seen.update(found)
    for code in (
        codes.HA_PROTECTED,
        codes.SRIOV,
        codes.PCI,
        codes.VGPU,
        codes.ON_BOOT_RESET,
        codes.NO_TOOLS,
        codes.CBT,
        codes.MCS,
    ):
        assert seen[code] > 0, code
        assert seen[code] / len(fleet.vms) < 0.08, code  # "a few %"
    movable = sum(1 for v in fleet.vms if not exclusion_reasons(fleet, v, "storage"))
    assert movable / len(fleet.vms) > 0.75


def test_windows_with_and_without_tools(fleet: Inventory):
    win = [v for v in fleet.vms if v.os == "windows"]
    assert 0.25 < len(win) / len(fleet.vms) < 0.45
    without = sum(not v.tools for v in win)
    assert 0 < without < 0.2 * len(win)
    assert all(v.tools for v in fleet.vms if v.os != "windows")


def test_hosts_are_filled_between_50_and_85_percent(fleet: Inventory):
    fills = []
    for h in fleet.hosts:
        used = sum(v.memory_bytes for v in fleet.vms_on_host.get(h.uuid, []))
        fills.append(used / host_capacity(h, 0.0))
    assert min(fills) >= 0.50 and max(fills) <= 0.85, (min(fills), max(fills))
    assert max(fills) - min(fills) > 0.1  # not all the same: hosts differ


def test_memory_sizes_are_the_usual_ones(fleet: Inventory):
    sizes = [v.memory_bytes // GIB for v in fleet.vms]
    assert set(sizes) <= set(MEMORY_GIB)
    assert statistics.median(sizes) == 4  # the mode of the weights, and the median
    for v in fleet.vms:
        assert 0 < v.memory_min_bytes <= v.memory_bytes
    assert any(v.memory_min_bytes < v.memory_bytes for v in fleet.vms)  # some use DMC


def test_intel_and_amd_pools(fleet: Inventory):
    vendors = Counter(fleet.master_of(p.uuid).cpu.vendor for p in fleet.pools)
    assert vendors["GenuineIntel"] > 0 and vendors["AuthenticAMD"] > 0


@pytest.mark.parametrize("ladder", [INTEL_GENERATIONS, AMD_GENERATIONS])
def test_newer_generations_are_strict_supersets(ladder):
    for old, new in itertools.pairwise(ladder):
        assert features_subset(old.features, new.features)
        assert not features_subset(new.features, old.features)
    assert len({g.vendor for g in ladder}) == 1


def test_vms_boot_with_the_pools_common_features(fleet: Inventory):
    mixed = 0
    for p in fleet.pools:
        hosts = fleet.hosts_in_pool[p.uuid]
        mixed += len({h.cpu.features for h in hosts}) > 1
        for v in fleet.vms_in_pool[p.uuid]:
            if v.cpu_features is None:
                continue
            assert all(v.cpu_vendor == h.cpu.vendor for h in hosts)
            assert all(features_subset(v.cpu_features, h.cpu.features) for h in hosts)
    assert mixed > 0  # some pools had newer hosts added


def test_versions_hotfixes_and_age(fleet: Inventory):
    kinds = set()
    index_of = {}
    for i, p in enumerate(fleet.pools):
        hosts = fleet.hosts_in_pool[p.uuid]
        assert len({h.version for h in hosts}) == 1
        m = fleet.master_of(p.uuid)
        kinds.add((m.version, "XS82ECU1033" in m.hotfixes))
        index_of.setdefault(m.version, []).append(i)
        if p.https_only:
            assert m.version == "8.4.0"
    assert kinds == {("8.2.1", True), ("8.2.1", False), ("8.4.0", False)}
    # newer pools newer: 8.4.0 pools come later in the list on average
    assert statistics.mean(index_of["8.4.0"]) > statistics.mean(index_of["8.2.1"])


def test_pool_features_ha_sriov_https(fleet: Inventory):
    ha = [p for p in fleet.pools if p.ha_enabled]
    assert 0 < len(ha) < len(fleet.pools)
    protected = [v for p in ha for v in fleet.vms_in_pool[p.uuid] if v.ha_protected]
    assert protected
    sriov = [n for n in fleet.networks if n.sriov]
    assert sriov
    assert any(p.https_only for p in fleet.pools)
    for n in sriov:  # a VIF on an SR-IOV network only where the host has the PIF
        for v in fleet.vms_in_pool[n.pool]:
            if any(x.network == n.uuid for x in v.vifs):
                assert v.host in n.hosts


def test_storage_shared_and_local_and_consistent(fleet: Inventory):
    used: Counter[str] = Counter()
    for v in fleet.vms:
        for d in v.disks:
            used[d.sr] += d.used_bytes
            assert d.used_bytes <= d.size_bytes
    for p in fleet.pools:
        srs = fleet.srs_in_pool[p.uuid]
        assert any(s.shared for s in srs) and any(not s.shared for s in srs)
        assert fleet.sr_by_uuid[p.default_sr].shared
    for s in fleet.srs:
        assert s.used_bytes == used[s.uuid]
        assert s.used_bytes <= 0.7 * s.size_bytes + 64 * GIB
        if not s.shared:
            assert len(s.hosts) == 1
    # running VMs on a local SR sit on that SR's host
    local = {s.uuid: s.hosts[0] for s in fleet.srs if not s.shared}
    for v in fleet.vms:
        for d in v.disks:
            if d.sr in local and v.is_running:
                assert v.host == local[d.sr]
    assert any(d.cbt for v in fleet.vms for d in v.disks)
    assert any(d.on_boot == "reset" for v in fleet.vms for d in v.disks)


def test_same_network_names_in_every_pool(fleet: Inventory):
    per_pool = {p.uuid: {n.name for n in fleet.networks_in_pool[p.uuid]} for p in fleet.pools}
    common = set.intersection(*per_pool.values())
    assert {"management", *COMMON_NETWORKS} <= common
    specific = [names - common - {"sriov-net"} for names in per_pool.values()]
    assert all(specific)  # each pool also has networks of its own
    assert sum(n.management for n in fleet.networks) == len(fleet.pools)


@pytest.mark.slow
def test_100k_vms_well_under_a_minute():
    t0 = time.perf_counter()
    doc = generate(100, 16, 1000, seed=1)
    took = time.perf_counter() - t0
    assert len(doc["vms"]) == 100_000
    assert took < 30, took
