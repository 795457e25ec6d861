"""The migration-time model: each term computed by hand from the documented defaults."""

from __future__ import annotations

import math

import pytest

from planner.durations import DEFAULT_MODEL, DurationModel
from planner.errors import InputError
from planner.inventory.builder import GIB, Builder


def inv_with(compression: bool = False):
    b = Builder()
    a = b.pool("a", compression=compression)
    h1 = b.host(a, "h1")
    sr = b.sr(a, "nfs")
    b.vm(a, "run", host=h1, memory_gib=8, disks=[(sr, 40)], disk_used_fraction=0.25)
    b.vm(a, "off", memory_gib=8, disks=[(sr, 40), (sr, 20)], disk_used_fraction=0.5)
    return b.build()


def vm(inv, name):
    return inv.vm_by_uuid[inv.find("vm", name)]


def test_defaults_are_the_documented_ones():
    m = DEFAULT_MODEL
    assert m.network_bytes_per_s == 125_000_000  # 1 Gb/s
    assert m.storage_bytes_per_s == 100 * 2**20  # 100 MiB/s
    assert (m.dirty_factor, m.compression_gain) == (1.2, 1.5)
    assert (m.live_overhead_s, m.storage_overhead_s) == (5, 30)


def test_live_is_memory_over_the_network_plus_overhead():
    inv = inv_with()
    want = math.ceil(5 + 8 * GIB * 1.2 / 125e6)  # 5 s + 82.5 s
    assert DEFAULT_MODEL.estimate(inv, vm(inv, "run"), "live", set()) == want == 88


def test_compression_is_a_bandwidth_gain():
    inv = inv_with(compression=True)
    want = math.ceil(5 + 8 * GIB * 1.2 / (125e6 * 1.5))
    assert DEFAULT_MODEL.estimate(inv, vm(inv, "run"), "live", set()) == want
    assert want < 88


def test_storage_adds_used_bytes_over_storage_throughput():
    inv = inv_with()
    run = vm(inv, "run")
    disks = {d.uuid for d in run.disks}
    used = 10 * GIB  # 40 GiB disk, 25% allocated
    want = math.ceil(30 + used / (100 * 2**20) + 8 * GIB * 1.2 / 125e6)
    assert DEFAULT_MODEL.estimate(inv, run, "storage", disks) == want


def test_halted_move_has_no_memory_part_and_counts_only_moved_disks():
    inv = inv_with()
    off = vm(inv, "off")
    first = {off.disks[0].uuid}
    assert DEFAULT_MODEL.estimate(inv, off, "move", first) == math.ceil(30 + 20 * GIB / 2**20 / 100)
    both = {d.uuid for d in off.disks}
    assert DEFAULT_MODEL.estimate(inv, off, "move", both) == math.ceil(30 + 30 * 1024 / 100)


def test_at_least_one_second_and_faster_links_are_faster():
    inv = inv_with()
    fast = DurationModel(network_bytes_per_s=1e12, live_overhead_s=0.001)
    assert fast.estimate(inv, vm(inv, "run"), "live", set()) == 1
    ten = DurationModel(network_bytes_per_s=1.25e9)
    assert ten.estimate(inv, vm(inv, "run"), "live", set()) < 88


def test_parameters_validated_and_round_trip():
    assert DurationModel.from_json(DEFAULT_MODEL.to_json()) == DEFAULT_MODEL
    assert DurationModel.from_json({"dirty_factor": 2}).dirty_factor == 2
    with pytest.raises(InputError, match="unknown parameter speed"):
        DurationModel.from_json({"speed": 3})
    for bad in (
        {"network_bytes_per_s": 0},
        {"storage_overhead_s": -1},
        {"dirty_factor": 0.5},
        {"compression_gain": float("nan")},
        {"live_overhead_s": True},
    ):
        with pytest.raises(InputError):
            DurationModel.from_json(bad)
