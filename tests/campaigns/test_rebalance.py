"""Rebalance (planner/campaigns/rebalance.py): NOTHING_TO_DO within the tolerance,
the fewest moves to even a pool out, --max-moves, and the checker's rebalance rules."""

from __future__ import annotations

from dataclasses import replace

from typer.testing import CliRunner

from planner.campaigns.common import spread_points
from planner.campaigns.rebalance import plan_rebalance
from planner.check import check_plan
from planner.cli import app
from planner.goals import Rebalance
from planner.inventory.builder import Builder
from planner.inventory.io import save
from planner.options import PlanOptions
from planner.plan import Migration, Wave, estimate_of
from planner.rules import codes

# memory_gib=34 with the builder's 2 GiB overhead: 32 GiB for guests; an 8 GiB VM is 25
# points of utilisation


def pool(counts: list[int]):
    """One pool, one host per entry, each with that many 8 GiB VMs."""
    b = Builder()
    p = b.pool("lab")
    sr = b.sr(p, "nfs")
    net = b.network(p, "vm-net")
    hosts = [b.host(p, f"h{i}", memory_gib=34) for i in range(len(counts))]
    for i, (h, n) in enumerate(zip(hosts, counts, strict=True)):
        for k in range(n):
            b.vm(p, f"v{i}{k}", host=h, memory_gib=8, disks=[(sr, 10)], networks=[net])
    return b.build(), p, hosts


def test_balanced_pool_is_nothing_to_do():
    inv, _p, _ = pool([2, 2, 2])  # 50/50/50 points: spread 0
    plan = plan_rebalance(inv, Rebalance(), PlanOptions())
    assert not plan.waves and plan.solver.status == "NOTHING_TO_DO"
    assert [w.code for w in plan.warnings] == [codes.NOTHING_TO_DO]
    assert check_plan(inv, plan).ok


def test_within_tolerance_is_not_reshuffled():
    # 3 vs 2 VMs is 75 vs 50 points: a spread of 25, inside a 0.30 tolerance; with the
    # default 0.10 it is outside, but one move (75/50 -> 50/75) cannot narrow it: none
    inv, p, _ = pool([3, 2])
    assert spread_points(inv, inv.vms, p, PlanOptions()) == 25
    plan = plan_rebalance(inv, Rebalance(tolerance=0.30), PlanOptions())
    assert not plan.waves and plan.warnings[0].code == codes.NOTHING_TO_DO
    plan = plan_rebalance(inv, Rebalance(), PlanOptions())
    assert not plan.waves
    assert plan.warnings[0].code == codes.REBALANCE_INCOMPLETE


def test_full_and_empty_host_need_exactly_two_moves():
    # 100% and 0%: each 8 GiB move narrows the spread by 50 points (100 -> 50 -> 0), so
    # two moves reach 0; a third could only widen it again
    inv, p, (h0, h1) = pool([4, 0])
    plan = plan_rebalance(inv, Rebalance(), PlanOptions())
    migs = list(plan.migrations())
    assert len(migs) == 2
    assert all(m.kind == "live" and m.from_host == h0 and m.to_host == h1 for m in migs)
    assert check_plan(inv, plan).ok
    end = {v.uuid: v for v in inv.vms}
    for m in migs:
        end[m.vm] = replace(end[m.vm], host=m.to_host)
    assert spread_points(inv, end.values(), p, PlanOptions()) == 0


def test_max_moves_caps_the_plan():
    inv, _p, _ = pool([4, 0])
    plan = plan_rebalance(inv, Rebalance(max_moves=1), PlanOptions())
    assert len(list(plan.migrations())) == 1
    assert plan.warnings[0].code == codes.REBALANCE_INCOMPLETE
    assert "max-moves" in plan.warnings[0].message
    assert check_plan(inv, plan).ok


def test_checker_rejects_reshuffle_and_excess_moves():
    inv, _p, (h0, h1, _h2) = pool([2, 2, 2])
    good = plan_rebalance(inv, Rebalance(max_moves=0), PlanOptions())
    vm = inv.vms_on_host[h0][0]
    m = Migration("m1", vm.uuid, "live", h0, h1, vm.pool, vm.pool, est_seconds=10)
    waves = (Wave(0, (m,)),)
    bad = replace(good, waves=waves, estimate=estimate_of(waves))
    report = check_plan(inv, bad)
    text = " ".join(report.lines())
    assert "allows 0 moves" in text  # max_moves
    assert "was within the tolerance" in text  # a balanced pool reshuffled
    assert "ends less balanced" in text  # 75/25/50 is wider than 50/50/50


def test_cli_rebalance(tmp_path):
    inv, _p, _ = pool([4, 0])
    ip, pp = tmp_path / "inv.json", tmp_path / "plan.json"
    save(inv, ip)
    runner = CliRunner()
    r = runner.invoke(app, ["solve", str(ip), "--rebalance", "-o", str(pp)])
    assert r.exit_code == 0, r.output
    assert "2 migrations" in r.output
    assert runner.invoke(app, ["check", str(pp), str(ip)]).exit_code == 0
    r = runner.invoke(app, ["solve", str(ip), "--rebalance", "--tolerance", "5"])
    assert r.exit_code == 2 and "--tolerance" in r.stderr and "Traceback" not in r.output
    r = runner.invoke(app, ["solve", str(ip), "--max-moves", "3"])
    assert r.exit_code == 2 and "only goes with --rebalance" in r.stderr
    r = runner.invoke(app, ["solve", str(ip), "--rebalance", "--evacuate", "h0"])
    assert r.exit_code == 2 and "one goal at a time" in r.stderr
