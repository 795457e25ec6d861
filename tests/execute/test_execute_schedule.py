"""A flow-mode run on the simulator keeps to the plan's schedule: >= 100 migrations over
three pools at --speed 100, the measured span (simulated seconds, from the simulator's
audit) within 5% of the plan's `estimate.seconds`, and no instant of the audit breaks
FORMATS.md rule 14 (the audit's start and end times replayed through the ledger)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from planner.check import check_plan
from planner.cli import app
from planner.goals import Evacuate
from planner.inventory.builder import Builder
from planner.inventory.io import save
from planner.inventory.model import Inventory
from planner.ledger_migration import Account
from planner.options import PlanOptions
from planner.plan import Migration, Plan, estimate_of
from planner.plan import save as save_plan
from planner.schedule import schedule
from planner.solve import solve
from tests.helpers.execsim import PASSWORD, PW_ENV, cli_args, goal_holds

sim_mod = pytest.importorskip("planner.sim")
Simulator = sim_mod.Simulator

SPEED = 100


def three_pools() -> tuple[Inventory, list[str]]:
    """Three pools of five hosts, two of each evacuated: 6 VMs of 100-102 GiB in pool p0,
    68 of 2-4 GiB in p1, 28 of 10-12 GiB in p2 (102 live migrations). Lock-step waves
    make p1's short moves wait for p0's long ones; a schedule does not. (p0's long
    moves, two per slot, keep the executor's reaction time per hand-over, up to a few
    tenths of a second of wall time on a loaded machine, i.e. tens of simulated seconds
    at speed 100, small against the span.)"""
    b = Builder()
    sources = []
    for p_i, (n, low) in enumerate(((6, 100), (68, 2), (28, 10))):
        p = b.pool(f"p{p_i}")
        hosts = [b.host(p, f"p{p_i}-h{i}", memory_gib=512) for i in range(5)]
        sr = b.sr(p, f"p{p_i}-nfs", size_gib=20_000)
        net = b.network(p, "vm-net")
        for i in range(n):
            b.vm(
                p,
                f"p{p_i}-vm{i:02d}",
                host=hosts[i % 2],
                memory_gib=low + i % 3,
                disks=[(sr, 20)],
                networks=[net],
            )
        sources += hosts[:2]
    return b.build(), sources


def scheduled_plan(inv: Inventory, hosts: list[str]) -> Plan:
    """The solver's plan (its own schedule); the list scheduler must agree with it on
    this fleet (pools share nothing: each pool's moves one after another in its slots)."""
    plan = solve(inv, Evacuate(tuple(hosts)), time_limit=20)
    waves = schedule(inv, plan.options, plan.waves)
    assert estimate_of(waves).seconds == plan.estimate.seconds
    return plan


def audit_violations(inv: Inventory, plan: Plan, audit: list[dict]) -> list[str]:
    """Rule 14 at every instant of the audit: each successful attempt is matched with its
    plan migration (by VM, in order) and swept through the ledger at the audit's times,
    ends before starts at one instant."""
    by_vm: dict[str, list[Migration]] = {}
    for m in plan.migrations():
        by_vm.setdefault(m.vm, []).append(m)
    events = []
    for a in sorted(audit, key=lambda a: a["start"]):
        if a["result"] != "success":
            continue
        m = by_vm[a["vm"]].pop(0)
        events += [(a["start"], 1, m), (a["end"], 0, m)]
    acc = Account.of(inv, plan.options)
    demands = {}
    out = []
    for t, is_start, m in sorted(events, key=lambda e: (e[0], e[1])):
        if is_start:
            d = demands[m.id] = acc.demand(m)
            out += [f"t={t}: {m.id} {r.code} {r.message}" for r in acc.reasons(d)]
            acc.start(d)
        else:
            acc.end(demands.pop(m.id))
    return out


def test_flow_run_keeps_to_the_schedule(tmp_path):
    inv, hosts = three_pools()
    plan = scheduled_plan(inv, hosts)
    report = check_plan(inv, plan)
    assert report.ok, report.lines()
    migs = list(plan.migrations())
    assert len(migs) >= 100 and len({m.from_pool for m in migs}) == 3 and not plan.unplaced
    want = plan.estimate.seconds
    # a real schedule: much shorter than lock-step waves (so a run in waves would fail)
    assert want < 0.85 * plan.estimate.wave_seconds
    pf, jf, inf = tmp_path / "plan.json", tmp_path / "run.journal", tmp_path / "inv.json"
    save_plan(plan, pf)
    save(inv, inf)
    with Simulator(inv, speed=SPEED, password=PASSWORD, seed=1) as sim:
        r = CliRunner().invoke(
            app,
            cli_args(pf, sim, jf, "--mode", "flow", "--inventory", str(inf), "--poll", "0.02"),
            env={PW_ENV: PASSWORD},
        )
        assert r.exit_code == 0, r.output
        live, audit = sim.inventory(), sim.audit()
    assert goal_holds(plan, live) == []
    assert len(audit) == len(migs) and all(a["result"] == "success" for a in audit)
    span = max(a["end"] for a in audit) - min(a["start"] for a in audit)
    print(f"span {span:.1f} s, schedule {want} s, waves {plan.estimate.wave_seconds} s")
    assert abs(span - want) <= 0.05 * want, (span, want)
    assert audit_violations(inv, plan, audit) == []
    # the operator sees the plan against the run
    assert "planned t+" in r.output and "drift" in r.output
    status = CliRunner().invoke(app, ["execute", str(pf), "--status", "--journal", str(jf)])
    assert status.exit_code == 0, status.output
    assert "schedule:" in status.output and "finished: span" in status.output


@pytest.mark.parametrize(("flag", "want"), [(None, 2), ("3", 2), ("1", 1)])
def test_slot_limit_comes_from_the_plan_and_the_flag_only_lowers_it(tmp_path, flag, want):
    """issue 13 item 6: a plan made with max_per_pool 2 runs at most 2 per pool, even
    with --max-per-pool 3; --max-per-pool 1 lowers it."""
    from tests.helpers.execsim import fleet

    inv, hosts = fleet(8)
    plan = solve(inv, Evacuate(tuple(hosts)), PlanOptions(max_per_pool=2), solver="greedy")
    assert check_plan(inv, plan).ok
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    extra = ["--max-per-pool", flag] if flag else []
    with Simulator(inv, speed=1000, password=PASSWORD, seed=1) as sim:
        r = CliRunner().invoke(app, cli_args(pf, sim, jf, *extra), env={PW_ENV: PASSWORD})
        assert r.exit_code == 0, r.output
        conc = sim.max_concurrency()
    assert max(conc.values()) == want
