"""The problem builder: jobs, candidates from the rules, scaling, unplaced reasons."""

from __future__ import annotations

import numpy as np
import pytest

from planner.errors import InputError
from planner.goals import Evacuate, MovePool, Rebalance, RetireSR
from planner.inventory.builder import AMD, GIB, Builder
from planner.options import PlanOptions
from planner.problem import KINDS, SPLIT, build_problem


def _lab(n_hosts: int = 3, **host_kw):
    b = Builder()
    p = b.pool("lab")
    hosts = [b.host(p, f"xs-{i + 1:02d}", **host_kw) for i in range(n_hosts)]
    sr = b.sr(p, "nfs", size_gib=2000)
    net = b.network(p, "vm-net")
    return b, p, hosts, sr, net


def _targets(p, j):
    return {(int(p.cand_host[c]), int(p.cand_sr[c])) for c in p.cands(j)}


def _b(p, amount) -> int:
    """An amount of problem `p` in bytes."""
    return int(amount) * p.unit


def test_evacuate_live_jobs_exclude_the_evacuated_host():
    b, pool, hosts, sr, net = _lab()
    vm = b.vm(pool, "web", host=hosts[0], memory_gib=4, disks=[(sr, 10)], networks=[net])
    b.vm(pool, "other", host=hosts[1], memory_gib=4, disks=[(sr, 10)], networks=[net])
    b.vm(pool, "off", memory_gib=4, disks=[(sr, 10)])  # halted: evacuate ignores it
    inv = b.build()
    p = build_problem(inv, Evacuate((hosts[0],)))
    assert p.job_vm == (vm,)
    assert KINDS[p.job_kind[0]] == "live"
    ix = {u: i for i, u in enumerate(p.host_uuid)}
    assert _targets(p, 0) == {(ix[hosts[1]], -1), (ix[hosts[2]], -1)}
    assert _b(p, p.job_mem_up[0]) == 4 * GIB and p.job_reserve[0] == 0
    assert p.unplaced == ()


def test_local_disk_moves_to_a_shared_sr_with_storage_migration():
    b, pool, hosts, sr, net = _lab()
    local = b.sr(pool, "local-1", size_gib=500, shared=False, host=hosts[0])
    vm = b.vm(
        pool, "db", host=hosts[0], memory_gib=8, disks=[(local, 40), (sr, 10)], networks=[net]
    )
    inv = b.build()
    p = build_problem(inv, Evacuate((hosts[0],)))
    assert KINDS[p.job_kind[0]] == "storage"
    local_disk = next(d.uuid for d in inv.vm_by_uuid[vm].disks if d.sr == local)
    assert p.job_moved[0] == (local_disk,)  # the disk on the shared SR stays
    sr_ix = p.sr_uuid.index(sr)
    assert {s for _, s in _targets(p, 0)} == {sr_ix}
    # 3x the 40 GiB virtual size on the target, 2x on the source, used bytes after
    assert _b(p, p.job_reserve[0]) == 3 * 40 * GIB
    assert [_b(p, x) for x in p.src_reserve[p.srcs(0).start : p.srcs(0).stop]] == [2 * 40 * GIB]
    assert _b(p, p.job_used_up[0]) == 20 * GIB


def test_amounts_are_exact_in_a_common_unit():
    b, pool, hosts, sr, net = _lab(memory_gib=64, overhead_gib=2)
    b.vm(pool, "odd", host=hosts[0], memory_gib=1 + 1 / GIB, disks=[(sr, 10)], networks=[net])
    inv = b.build()
    p = build_problem(inv, Evacuate((hosts[0],)), PlanOptions(headroom_fraction=0.1))
    assert p.unit == 1  # one odd byte: the unit is the byte, nothing is rounded
    assert _b(p, p.job_mem_up[0]) == GIB + 1 == _b(p, p.job_mem_down[0])
    # 64 GiB - 2 GiB - 10% of 64 GiB, floored to a byte as the memory rule does
    assert _b(p, p.host_cap[1]) == int(64 * GIB - 2 * GIB - 0.1 * 64 * GIB)
    assert _b(p, p.host_init[0]) == GIB + 1
    b2, pool2, hosts2, sr2, net2 = _lab()
    b2.vm(pool2, "even", host=hosts2[0], memory_gib=4, disks=[(sr2, 10)], networks=[net2])
    p2 = build_problem(b2.build(), Evacuate((hosts2[0],)))
    assert p2.unit >= 2**20 and p2.unit % 2**20 == 0  # whole MiB (or more): small numbers


def test_issue13_case12_byte_exact_memory_fit_is_placed():
    """A VM of 4 GiB + 1 byte onto a host with exactly that much free: MiB rounding
    (demand up, capacity down) refused it; exact units place it, and the checker agrees."""
    from planner.check import check_plan
    from planner.solve import solve

    b = Builder()
    pool = b.pool("lab")
    src = b.host(pool, "src", memory_gib=64, overhead_gib=0)
    dst = b.host(pool, "dst", memory_gib=4 + 1 / GIB, overhead_gib=0)
    sr = b.sr(pool, "nfs", size_gib=2000)
    net = b.network(pool, "vm-net")
    vm = b.vm(pool, "exact", host=src, memory_gib=4 + 1 / GIB, disks=[(sr, 10)], networks=[net])
    inv = b.build()
    assert inv.host_by_uuid[dst].memory_total_bytes == inv.vm_by_uuid[vm].memory_bytes
    p = build_problem(inv, Evacuate((src,)))
    assert p.unplaced == () and p.n_jobs == 1
    for solver in ("greedy", "cpsat"):
        plan = solve(inv, Evacuate((src,)), solver=solver, time_limit=5)
        assert plan.unplaced == () and [m.to_host for m in plan.migrations()] == [dst]
        report = check_plan(inv, plan)
        assert report.ok, report.lines()


def test_issue13_case9_two_disks_that_fit_only_on_two_srs_are_placed():
    """Retire `old`: a VM's two 30 GiB disks need 90 GiB each (3x) on their target; the
    two target SRs have 100 GiB free each, so neither holds both, together they do."""
    from planner.check import check_plan
    from planner.solve import solve

    b = Builder()
    pool = b.pool("lab")
    h = b.host(pool, "xs-01", memory_gib=64)
    old = b.sr(pool, "old", size_gib=1000)
    a = b.sr(pool, "a", size_gib=100)
    c = b.sr(pool, "c", size_gib=100)
    net = b.network(pool, "vm-net")
    vm = b.vm(pool, "two", host=h, memory_gib=2, disks=[(old, 30), (old, 30)], networks=[net])
    inv = b.build()
    p = build_problem(inv, RetireSR((old,)))
    assert p.unplaced == () and p.n_jobs == 1
    assert {int(p.cand_sr[x]) for x in p.cands(0)} == {SPLIT}
    for solver in ("greedy", "cpsat"):
        plan = solve(inv, RetireSR((old,)), solver=solver, time_limit=5)
        assert plan.unplaced == ()
        (m,) = plan.migrations()
        assert m.vm == vm and sorted(d.to_sr for d in m.disks) == sorted([a, c])
        report = check_plan(inv, plan)
        assert report.ok, report.lines()


def test_dmc_counts_dynamic_minimum():
    b, pool, hosts, sr, net = _lab()
    b.vm(
        pool,
        "squeezable",
        host=hosts[0],
        memory_gib=8,
        memory_min_gib=2,
        disks=[(sr, 10)],
        networks=[net],
    )
    inv = b.build()
    p8 = build_problem(inv, Evacuate((hosts[0],)))
    assert _b(p8, p8.job_mem_up[0]) == 8 * GIB
    p = build_problem(inv, Evacuate((hosts[0],)), PlanOptions(dmc=True))
    assert _b(p, p.job_mem_up[0]) == 2 * GIB and _b(p, p.host_init[0]) == 2 * GIB


def test_exclusions_go_to_unplaced_with_every_code():
    b, pool, hosts, sr, net = _lab()
    vm = b.vm(pool, "gpu", host=hosts[0], pci=True, vgpu=True, disks=[(sr, 10)], networks=[net])
    inv = b.build()
    p = build_problem(inv, Evacuate((hosts[0],)))
    assert p.n_jobs == 0
    (u,) = p.unplaced
    assert u.vm == vm and {r.code for r in u.reasons} == {"PCI", "VGPU"}


def test_no_target_reasons_are_the_union_over_targets():
    b = Builder()
    pool = b.pool("lab")
    src = b.host(pool, "src")
    b.host(pool, "amd", vendor=AMD)
    b.host(pool, "off", enabled=False)
    sr = b.sr(pool, "nfs")
    net = b.network(pool, "vm-net")
    b.vm(pool, "web", host=src, disks=[(sr, 10)], networks=[net])
    inv = b.build()
    p = build_problem(inv, Evacuate((src,)))
    (u,) = p.unplaced
    codes = [r.code for r in u.reasons]
    assert set(codes) == {"CPU_VENDOR", "HOST_DISABLED"}
    assert len(codes) == len(set(codes))  # deduplicated by code


def test_no_other_host_is_no_target():
    b, pool, hosts, sr, net = _lab(n_hosts=1)
    b.vm(pool, "web", host=hosts[0], disks=[(sr, 10)], networks=[net])
    p = build_problem(b.build(), Evacuate((hosts[0],)))
    assert [r.code for r in p.unplaced[0].reasons] == ["NO_TARGET"]


def test_vm_too_large_for_any_host_is_no_capacity():
    b, pool, hosts, sr, net = _lab(memory_gib=32)
    b.vm(pool, "huge", host=hosts[0], memory_gib=28, disks=[(sr, 10)], networks=[net])
    b.vm(pool, "filler", host=hosts[1], memory_gib=8, disks=[(sr, 10)], networks=[net])
    b.vm(pool, "filler2", host=hosts[2], memory_gib=8, disks=[(sr, 10)], networks=[net])
    p = build_problem(b.build(), Evacuate((hosts[0],)))
    assert p.n_jobs == 0
    assert [r.code for r in p.unplaced[0].reasons] == ["NO_CAPACITY"]


def test_signature_cache_shares_rule_calls():
    b, pool, hosts, sr, net = _lab(n_hosts=5)
    for i in range(40):
        b.vm(pool, f"web-{i}", host=hosts[0], memory_gib=1, disks=[(sr, 5)], networks=[net])
    p = build_problem(b.build(), Evacuate((hosts[0],)))
    assert p.n_jobs == 40
    assert p.stats["signatures"] == 1
    assert p.stats["rule_calls"] == 4  # one per other host, not 40 x 4


def test_move_pool_halted_vm_moves_disks_without_a_host():
    b = Builder()
    old, new = b.pool("old"), b.pool("new")
    b.host(old, "o1")
    b.host(new, "n1")
    s_old = b.sr(old, "o-nfs")
    s_new = b.sr(new, "n-nfs")
    n_old, _ = b.network(old, "vm-net"), b.network(new, "vm-net")
    vm = b.vm(old, "cold", disks=[(s_old, 10)], networks=[n_old])
    inv = b.build()
    p = build_problem(inv, MovePool((old,), (new,)))
    assert p.job_vm == (vm,) and KINDS[p.job_kind[0]] == "move"
    assert _targets(p, 0) == {(-1, p.sr_uuid.index(s_new))}
    assert p.job_mem_up[0] == 0 and _b(p, p.job_halted_mem[0]) == 4 * GIB


def test_retire_sr_prefers_running_vm_on_its_host():
    b, pool, hosts, sr, net = _lab()
    old = b.sr(pool, "old")
    vm = b.vm(pool, "web", host=hosts[1], disks=[(old, 10)], networks=[net])
    inv = b.build()
    p = build_problem(inv, RetireSR((old,)))
    assert p.job_vm == (vm,)
    # its own host comes first; the other hosts stay candidates (issue 13 case 8)
    first = p.cands(0)[0]
    assert (int(p.cand_host[first]), int(p.cand_sr[first])) == (1, p.sr_uuid.index(sr))
    assert _targets(p, 0) == {(h, p.sr_uuid.index(sr)) for h in range(3)}


def test_sr_used_is_the_srs_own_figure():
    """FORMATS.md: every reader takes the SR's used_bytes as XAPI reports it (issue 13
    item 4: the solver used to take the disks' sum when larger, the checker did not)."""
    b, pool, hosts, sr, net = _lab()
    b.vm(pool, "web", host=hosts[0], disks=[(sr, 100)], networks=[net])
    doc = b.document()
    doc["srs"][0]["used_bytes"] = 10 * GIB  # less than the 50 GiB its disk uses
    from planner.inventory import from_dict

    p = build_problem(from_dict(doc), Evacuate((hosts[0],)))
    assert _b(p, p.sr_used[0]) == 10 * GIB


def test_subset_keeps_candidates_aligned():
    b, pool, hosts, sr, net = _lab(n_hosts=4)
    local = b.sr(pool, "local", shared=False, host=hosts[0])
    b.vm(pool, "a", host=hosts[0], disks=[(local, 10)], networks=[net])
    b.vm(pool, "b", host=hosts[0], disks=[(sr, 10)], networks=[net])
    p = build_problem(b.build(), Evacuate((hosts[0],)))
    sub = p.subset([1, 0])
    assert sub.job_vm == (p.job_vm[1], p.job_vm[0])
    assert _targets(sub, 0) == _targets(p, 1) and _targets(sub, 1) == _targets(p, 0)
    assert np.array_equal(sub.src_sr, p.src_sr)


def test_unsupported_goal_is_input_error():
    b, *_ = _lab()
    with pytest.raises(InputError, match="rebalance"):
        build_problem(b.build(), Rebalance())


def test_problem_arrays_are_read_only():
    b, pool, hosts, sr, net = _lab()
    b.vm(pool, "web", host=hosts[0], disks=[(sr, 10)], networks=[net])
    p = build_problem(b.build(), Evacuate((hosts[0],)))
    with pytest.raises(ValueError, match="read-only"):
        p.host_cap[0] = 0
