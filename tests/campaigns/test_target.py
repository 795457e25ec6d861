"""Target placements (planner/campaigns/target.py): cycles broken by a temporary move,
cycles with no spare reported, and the CLI's --target file."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from planner.campaigns.target import plan_target
from planner.check import check_plan
from planner.cli import app
from planner.goals import Target
from planner.inventory.builder import Builder
from planner.inventory.io import save
from planner.options import PlanOptions
from planner.rules import codes

# memory_gib=34 with the builder's 2 GiB overhead: 32 GiB for guests = two 16 GiB VMs


def swap_pool(spare_free_gib: float):
    """h1 holds A and X, h2 holds B and Y (all 16 GiB: both hosts full); h3 has
    `spare_free_gib` free. The target swaps A and B: A needs B gone from h2 first, and B
    needs A gone from h1 first, a two-host cycle."""
    b = Builder()
    p = b.pool("lab")
    h1, h2, h3 = (b.host(p, n, memory_gib=34) for n in ("h1", "h2", "h3"))
    sr = b.sr(p, "nfs")
    net = b.network(p, "vm-net")
    vm = {}
    for name, host in (("A", h1), ("X", h1), ("B", h2), ("Y", h2)):
        vm[name] = b.vm(p, name, host=host, memory_gib=16, disks=[(sr, 10)], networks=[net])
    if spare_free_gib < 32:
        b.vm(p, "filler", host=h3, memory_gib=32 - spare_free_gib, disks=[(sr, 10)], networks=[net])
    return b.build(), vm, (h1, h2, h3)


def test_swap_cycle_is_broken_with_one_temporary_move():
    inv, vm, (h1, h2, h3) = swap_pool(spare_free_gib=16)
    plan = plan_target(inv, Target({vm["A"]: h2, vm["B"]: h1}), PlanOptions())
    report = check_plan(inv, plan)
    assert report.ok, report.lines()
    migs = list(plan.migrations())
    # one VM steps aside to h3, the other takes its place, then the first goes home:
    # 3 migrations, exactly one of them temporary and to the spare
    assert len(migs) == 3
    temp = [m for m in migs if m.reason == "temporary"]
    assert len(temp) == 1 and temp[0].to_host == h3
    assert not plan.unplaced
    # the move into the freed host names the temporary move that freed it
    second = migs[1]
    assert second.to_host == temp[0].from_host and temp[0].id in second.depends_on
    last = migs[2]
    assert last.vm == temp[0].vm and temp[0].id in last.depends_on
    assert second.id in last.depends_on  # it needed the other VM gone from its target
    ends = {m.vm: m.to_host for m in migs}
    assert ends[vm["A"]] == h2 and ends[vm["B"]] == h1


def test_cycle_without_spare_is_named():
    # h3 has only 8 GiB free: no host can take a 16 GiB VM aside
    inv, vm, (h1, h2, _h3) = swap_pool(spare_free_gib=8)
    plan = plan_target(inv, Target({vm["A"]: h2, vm["B"]: h1}), PlanOptions())
    assert not list(plan.migrations())
    assert {u.vm for u in plan.unplaced} == {vm["A"], vm["B"]}
    msg = plan.unplaced[0].reasons[0]
    assert msg.code == codes.CYCLE
    for name in ("A", "B", "h1", "h2"):
        assert name in msg.message
    # what breaks it: 16 GiB more on one host of the cycle (both are full), or a spare
    # host with 16 GiB free (the smallest VM of the cycle)
    assert "16.0 GiB more free on" in msg.message and "spare host with 16.0 GiB" in msg.message
    assert codes.CYCLE in {w.code for w in plan.warnings}
    assert plan.solver.status == "PARTIAL"
    assert check_plan(inv, plan).ok


def test_plain_moves_and_impossible_entries():
    inv, vm, (h1, h2, h3) = swap_pool(spare_free_gib=32)
    b = inv.vm_by_uuid[vm["X"]]
    plan = plan_target(inv, Target({vm["X"]: h3, vm["Y"]: h2}), PlanOptions())
    # Y is already on h2: only X moves, straight to the empty h3
    assert [(m.vm, m.from_host, m.to_host, m.reason) for m in plan.migrations()] == [
        (b.uuid, h1, h3, None)
    ]
    assert check_plan(inv, plan).ok


def test_target_already_reached_is_nothing_to_do():
    inv, vm, (h1, _h2, _h3) = swap_pool(spare_free_gib=16)
    plan = plan_target(inv, Target({vm["A"]: h1}), PlanOptions())
    assert plan.solver.status == "NOTHING_TO_DO" and not plan.waves


def test_cli_target(tmp_path):
    inv, _vm, _ = swap_pool(spare_free_gib=16)
    ip, tp, pp = tmp_path / "inv.json", tmp_path / "target.json", tmp_path / "plan.json"
    save(inv, ip)
    tp.write_text(json.dumps({"A": "h2", "B": "h1"}))
    runner = CliRunner()
    r = runner.invoke(app, ["solve", str(ip), "--target", str(tp), "-o", str(pp)])
    assert r.exit_code == 0, r.output
    assert "temporary" in r.output
    r = runner.invoke(app, ["check", str(pp), str(ip)])
    assert r.exit_code == 0, r.output


def test_cli_target_bad_entries_one_line_each(tmp_path):
    inv, _vm, _ = swap_pool(spare_free_gib=16)
    ip, tp, pp = tmp_path / "inv.json", tmp_path / "target.json", tmp_path / "plan.json"
    save(inv, ip)
    tp.write_text(json.dumps({"nosuch-vm": "h1", "A": "nosuch-host", "B": 7}))
    r = CliRunner().invoke(app, ["solve", str(ip), "--target", str(tp), "-o", str(pp)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert any("nosuch-vm" in x for x in lines)
    assert any("nosuch-host" in x for x in lines)
    assert any("'B'" in x and "string" in x for x in lines)
    assert not pp.exists()


def test_three_host_rotation_needs_one_temporary_move():
    # h1 -> h2 -> h3 -> h1, every host full (two 16 GiB VMs), h4 empty: one VM steps
    # aside to h4, which lets the other two move in turn, then it moves on: 3 + 1 = 4
    b = Builder()
    p = b.pool("lab")
    h = [b.host(p, f"h{i}", memory_gib=34) for i in range(1, 5)]
    sr = b.sr(p, "nfs")
    vm = {}
    for i in range(3):
        vm[i] = b.vm(p, f"R{i}", host=h[i], memory_gib=16, disks=[(sr, 10)])
        b.vm(p, f"S{i}", host=h[i], memory_gib=16, disks=[(sr, 10)])
    inv = b.build()
    plan = plan_target(inv, Target({vm[i]: h[(i + 1) % 3] for i in range(3)}), PlanOptions())
    assert check_plan(inv, plan).ok
    migs = list(plan.migrations())
    assert len(migs) == 4
    assert [m.to_host for m in migs if m.reason == "temporary"] == [h[3]]
