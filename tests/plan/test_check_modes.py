"""The checker's two replays: which mode a violation breaks (wave mode, rules 1-12; flow
mode, rules 13-15), shown in `planner check` and its --json; anti-affinity (rule 8, v2)
and per-host slots on the ledger."""

from __future__ import annotations

import json
from dataclasses import replace

from typer.testing import CliRunner

from planner.check import FLOW, WAVES, check_plan
from planner.cli import app
from planner.inventory.builder import Builder
from planner.inventory.io import from_dict
from planner.plan import Plan, Wave, estimate_of
from planner.plan_header import Figures
from planner.rules import codes
from tests.helpers.plans import mig, plan_of
from tests.plan.test_check import _files, ev, evacuate_h1, fleet


def _restamp(plan: Plan, starts: dict[str, int]) -> Plan:
    waves = tuple(
        replace(
            w,
            migrations=tuple(replace(m, start_s=starts.get(m.id, m.start_s)) for m in w.migrations),
        )
        for w in plan.waves
    )
    return replace(plan, waves=waves, estimate=estimate_of(waves))


def test_flow_only_violation_is_tagged_flow(tmp_path):
    """Wave 1's m3 started at t=0: four migrations of pool a in flight at once."""
    inv = fleet()
    bad = _restamp(evacuate_h1(inv), {"m3": 0})
    report = check_plan(inv, bad)
    assert report.codes() == {codes.CONCURRENCY}
    (v,) = report.violations
    assert v.mode == FLOW and v.migration == "m3" and str(v).startswith("[flow] ")
    r = CliRunner().invoke(app, ["check", *_files(tmp_path, inv, bad), "--json"])
    assert r.exit_code == 1
    assert [x["mode"] for x in json.loads(r.stdout)["violations"]] == ["flow"]
    r = CliRunner().invoke(app, ["check", *_files(tmp_path, inv, bad)])
    assert "[flow] wave 1, m3" in r.output


def test_waves_only_violation_is_tagged_waves():
    """Four moves in one wave (rule 1), but the schedule staggers them: safe in flow."""
    inv = fleet()
    h2 = inv.find("host", "h2")
    w0 = [mig(inv, f"m{i}", f"web-{i}", to_host=h2) for i in range(4)]
    plan = plan_of(inv, [w0], ev(inv, "h1"))
    plan = _restamp(plan, {"m3": w0[0].est_seconds})
    report = check_plan(inv, plan)
    assert report.codes() == {codes.CONCURRENCY}
    assert [v.mode for v in report.violations] == [WAVES]


def test_broken_both_ways_is_one_violation_without_a_mode():
    inv = fleet(h2_gib=10)  # room for two of the web VMs
    h2 = inv.find("host", "h2")
    w0 = [mig(inv, f"m{i}", f"web-{i}", to_host=h2) for i in range(3)]
    report = check_plan(inv, plan_of(inv, [w0], ev(inv, "h1")))
    mem = [v for v in report.violations if v.code == codes.MEMORY]
    assert [(v.migration, v.mode) for v in mem] == [("m2", None)]
    assert not str(mem[0]).startswith("[")


def test_v1_plan_is_checked_in_waves_only():
    inv = fleet()
    bad = _restamp(evacuate_h1(inv), {"m3": 0})
    v1 = replace(bad, version=1, estimate=Figures(waves=2, seconds=bad.estimate.wave_seconds))
    assert check_plan(inv, v1).ok


def _grouped(soft: bool = False, max_per_host: int | None = None):
    """h1 runs db-0 and web; h2 runs db-1; db-0 and db-1 form an anti-affinity group."""
    b = Builder()
    a = b.pool("a")
    h1, h2 = b.host(a, "h1"), b.host(a, "h2")
    b.host(a, "h3")
    sr = b.sr(a, "nfs")
    net = b.network(a, "vm-net")
    b.vm(a, "db-0", host=h1, memory_gib=2, disks=[(sr, 10)], networks=[net])
    b.vm(a, "db-1", host=h2, memory_gib=2, disks=[(sr, 10)], networks=[net])
    b.vm(a, "web", host=h1, memory_gib=2, disks=[(sr, 10)], networks=[net])
    doc = b.document()
    doc["vm_groups"] = [
        {
            "uuid": "g-db",
            "name": "db",
            "pool": doc["pools"][0]["uuid"],
            "placement": "anti-affinity",
        }
    ]
    for v in doc["vms"]:
        if v["name"].startswith("db-"):
            v["groups"] = ["g-db"]
    return from_dict(doc)


def test_anti_affinity_strict_and_soft():
    inv = _grouped()
    h2, h3 = inv.find("host", "h2"), inv.find("host", "h3")
    meet = plan_of(
        inv,
        [[mig(inv, "m0", "db-0", to_host=h2), mig(inv, "m1", "web", to_host=h3)]],
        ev(inv, "h1"),
    )
    report = check_plan(inv, meet)
    assert report.codes() == {"ANTI_AFFINITY"}
    assert [(v.migration, v.mode) for v in report.violations] == [("m0", None)]
    soft = replace(meet, options=replace(meet.options, anti_affinity="soft"))
    assert check_plan(inv, soft).ok
    apart = plan_of(
        inv,
        [[mig(inv, "m0", "db-0", to_host=h3), mig(inv, "m1", "web", to_host=h2)]],
        ev(inv, "h1"),
    )
    assert check_plan(inv, apart).ok


def test_max_per_host_counts_migrations_leaving_or_entering_a_host():
    inv = _grouped()
    h3 = inv.find("host", "h3")
    both = [mig(inv, "m0", "db-0", to_host=h3), mig(inv, "m1", "web", to_host=h3)]
    plan = plan_of(inv, [both], ev(inv, "h1"))
    assert check_plan(inv, plan).ok
    one = replace(plan, options=replace(plan.options, max_per_host=1))
    report = check_plan(inv, one)
    assert report.codes() == {codes.CONCURRENCY}
    assert all(v.mode is None for v in report.violations)
    # one after the other: safe both ways
    serial = plan_of(inv, [both[:1], both[1:]], ev(inv, "h1"))
    assert check_plan(inv, replace(serial, options=replace(serial.options, max_per_host=1))).ok
    assert isinstance(serial.waves[0], Wave)
