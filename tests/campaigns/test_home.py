"""Issue 17: home servers. `assign_homes` (keep / same-host / none), the checker's
HOME_HOST rule and `planner solve --set-home`."""

from __future__ import annotations

from dataclasses import replace

import pytest
from typer.testing import CliRunner

from planner.check import check_plan
from planner.cli import app
from planner.errors import InputError
from planner.goals import Evacuate, MovePool
from planner.home import assign_homes
from planner.inventory import save
from planner.inventory.builder import Builder
from planner.plan import load as load_plan
from planner.rules import codes
from planner.solve import solve


def fleet():
    """Pool a (a1, a2) and pool b (b1, b2). On a1: `homed` (home a2), `free` (no home);
    halted `cold-homed` (home a1)."""
    b = Builder()
    pa = b.pool("a")
    a1 = b.host(pa, "a1", memory_gib=64)
    a2 = b.host(pa, "a2", memory_gib=64)
    sra = b.sr(pa, "a-nfs", size_gib=1000)
    na = b.network(pa, "vm-net")
    pb = b.pool("b")
    b.host(pb, "b1", memory_gib=64)
    b.host(pb, "b2", memory_gib=64)
    b.sr(pb, "b-nfs", size_gib=1000)
    b.network(pb, "vm-net")
    b.vm(pa, "homed", host=a1, disks=[(sra, 10)], networks=[na], affinity=a2)
    b.vm(pa, "free", host=a1, disks=[(sra, 10)], networks=[na])
    b.vm(pa, "cold-homed", disks=[(sra, 5)], networks=[na], affinity=a1)
    return b.build()


def _homes(inv, plan):
    return {
        inv.label(m.vm): inv.label(m.home_host) if m.home_host else None for m in plan.migrations()
    }


def _cross(inv):
    goal = MovePool((inv.find("pool", "a"),), (inv.find("pool", "b"),))
    return solve(inv, goal, solver="greedy", time_limit=10, seed=0)


def test_keep_gives_a_new_home_only_to_vms_that_had_one_and_changed_pool():
    inv = fleet()
    plan = assign_homes(inv, _cross(inv), "keep")
    to = {inv.label(m.vm): inv.label(m.to_host) if m.to_host else None for m in plan.migrations()}
    homes = _homes(inv, plan)
    assert homes["homed"] == to["homed"] and to["homed"] in ("b1", "b2")
    assert homes["free"] is None
    # a halted move without to_host: the host that receives it, the pool master
    assert homes["cold-homed"] == inv.label(inv.pool_by_uuid[inv.find("pool", "b")].master)
    assert check_plan(inv, plan).ok


def test_same_host_homes_every_vm_that_lands_on_a_host():
    inv = fleet()
    plan = assign_homes(inv, _cross(inv), "same-host")
    for m in plan.migrations():
        assert m.home_host == (m.to_host or inv.pool_by_uuid[m.to_pool].master)
        assert inv.host_by_uuid[m.home_host].pool == m.to_pool
    assert check_plan(inv, plan).ok


def test_keep_within_a_pool_leaves_the_home_alone_and_none_clears_everything():
    inv = fleet()
    plan = solve(inv, Evacuate((inv.find("host", "a1"),)), solver="greedy", time_limit=10, seed=0)
    assert {inv.label(m.vm) for m in plan.migrations()} == {"homed", "free"}
    assert set(_homes(inv, assign_homes(inv, plan, "keep")).values()) == {None}
    same = assign_homes(inv, plan, "same-host")
    assert set(_homes(inv, same).values()) == {"a2"}
    assert set(_homes(inv, assign_homes(inv, same, "none")).values()) == {None}
    with pytest.raises(InputError, match="--set-home: must be one of"):
        assign_homes(inv, plan, "elsewhere")


def test_only_the_last_migration_of_a_vm_carries_its_home():
    inv = fleet()
    plan = _cross(inv)
    m = next(m for m in plan.migrations() if inv.label(m.vm) == "homed")
    # a second, later move of the same VM (b-host to b-host): the home goes on it
    again = replace(
        m,
        id="again",
        kind="live",
        from_host=m.to_host,
        to_host=inv.find("host", "b2" if inv.label(m.to_host) == "b1" else "b1"),
        from_pool=m.to_pool,
        disks=(),
        vifs=(),
        depends_on=(),
    )
    waves = (*plan.waves, replace(plan.waves[-1], index=len(plan.waves), migrations=(again,)))
    homed = assign_homes(inv, replace(plan, waves=waves), "same-host")
    by_id = {x.id: x for x in homed.migrations()}
    assert by_id[m.id].home_host is None and by_id["again"].home_host == again.to_host


def test_checker_refuses_a_home_outside_the_new_pool():
    inv = fleet()
    plan = assign_homes(inv, _cross(inv), "same-host")
    a1 = inv.find("host", "a1")
    bad = replace(
        plan,
        waves=tuple(
            replace(
                w,
                migrations=tuple(
                    replace(m, home_host=a1) if m.home_host else m for m in w.migrations
                ),
            )
            for w in plan.waves
        ),
    )
    report = check_plan(inv, bad)
    assert report.codes() == {codes.HOME_HOST}
    assert len(report.violations) == 3
    assert all(
        "a1 is in pool a, not in the VM's new pool b" in v.message for v in report.violations
    )
    unknown = replace(
        plan,
        waves=tuple(
            replace(
                w,
                migrations=tuple(
                    replace(m, home_host="nope") if m.home_host else m for m in w.migrations
                ),
            )
            for w in plan.waves
        ),
    )
    assert check_plan(inv, unknown).codes() == {codes.HOME_HOST}


def test_cli_set_home(tmp_path):
    inv = fleet()
    path = tmp_path / "inv.json"
    save(inv, path)
    out = tmp_path / "plan.json"
    args = [
        "solve",
        str(path),
        "--move-pool",
        "a",
        "--to",
        "b",
        "--solver",
        "greedy",
        "-o",
        str(out),
    ]
    r = CliRunner().invoke(app, [*args, "--set-home", "same-host"])
    assert r.exit_code == 0, r.output
    plan = load_plan(out)
    assert all(m.home_host == m.to_host for m in plan.migrations() if m.to_host)
    assert all(inv.host_by_uuid[m.home_host].pool == m.to_pool for m in plan.migrations())
    r = CliRunner().invoke(app, [*args, "--set-home", "bogus"])
    assert r.exit_code == 2 and "--set-home: must be one of keep, same-host, none" in r.output
