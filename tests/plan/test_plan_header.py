"""The typed plan header (issue 15): goal, options, solver, bounds and estimate are typed
values on `Plan`, turned to and from JSON only by `to_dict` / `from_dict`.

Round trips of planner-made plans (several goals, greedy and CP-SAT, a campaign plan, a
step-aside plan), unknown keys and statuses kept through load -> save, structurally bad
goals refused at load (one line, exit 2 from the CLI) while unknown uuids stay a check
violation, and the rebalance tolerance a document may leave out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner import sample_path
from planner.check import check_plan
from planner.cli import app
from planner.errors import InputError
from planner.goals import (
    DEFAULT_TOLERANCE,
    Evacuate,
    MovePool,
    Rebalance,
    RetireSR,
    RollingUpgrade,
    Target,
    check_goal_refs,
    goal_from_json,
    parse_goal_json,
)
from planner.inventory import load
from planner.inventory.builder import Builder
from planner.options import PlanOptions
from planner.plan import Figures, Plan, SolverInfo, from_dict, to_dict
from planner.plan import load as load_plan
from planner.plan import save as save_plan
from planner.plan_header import SolveSettings, StepAside
from planner.rules import codes
from planner.solve import solve
from planner.status import Status
from tests.helpers.plans import mig, plan_of
from tests.helpers.solving import assert_checked


def _round_trips(plan: Plan) -> None:
    """to_dict(from_dict(to_dict(p))) == to_dict(p), through JSON text too."""
    doc = to_dict(plan)
    again = from_dict(json.loads(json.dumps(doc)))
    assert to_dict(again) == doc
    assert again.goal == plan.goal and again.options == plan.options
    assert again.solver == plan.solver
    assert again.bounds == plan.bounds and again.estimate == plan.estimate


def _stepaside_fleet():
    """big (40 GiB) on h1 fits on h2 only once small (24 GiB) leaves h2 for h3 (as in
    tests/solvers/test_stepaside.py)."""
    b = Builder()
    p = b.pool("lab")
    h1 = b.host(p, "h1", memory_gib=64)
    h2 = b.host(p, "h2", memory_gib=64)  # 62 GiB for guests: 24 used, 38 free
    h3 = b.host(p, "h3", memory_gib=40)  # 38 for guests (< 40 even empty): 14 used
    sr = b.sr(p, "nfs", size_gib=2000)
    net = b.network(p, "mgmt", management=True)
    b.vm(p, "big", host=h1, memory_gib=40, disks=[(sr, 20)], networks=[net])
    b.vm(p, "small", host=h2, memory_gib=24, disks=[(sr, 20)], networks=[net])
    b.vm(p, "other", host=h3, memory_gib=14, disks=[(sr, 20)], networks=[net])
    return b.build(), h1


@pytest.mark.parametrize(
    ("sample", "goal_of", "solver"),
    [
        ("sample", lambda i: Evacuate((i.find("host", "xs-02"),)), "greedy"),
        ("sample", lambda i: Evacuate((i.find("host", "xs-02"),)), "cpsat"),
        ("sample", lambda i: RetireSR((i.find("sr", "nfs-old"),)), "greedy"),
        (
            "two-pools",
            lambda i: MovePool((i.find("pool", "old"),), (i.find("pool", "new"),)),
            "greedy",
        ),
        ("sample", lambda i: Rebalance(4), "greedy"),
        ("sample", lambda i: RollingUpgrade(i.pools[0].uuid, "8.4.1"), "greedy"),
    ],
    ids=["evacuate-greedy", "evacuate-cpsat", "retire-sr", "move-pool", "rebalance", "rolling"],
)
def test_planner_made_plans_round_trip(sample, goal_of, solver):
    inv = load(sample_path(sample))
    plan = solve(inv, goal_of(inv), solver=solver, time_limit=10, workers=1, seed=0)
    assert_checked(inv, plan)
    assert isinstance(plan.solver.status, Status)
    assert plan.estimate.seconds is not None and plan.bounds.seconds is not None
    if solver == "cpsat":  # the solve's own figures are typed, not dicts
        assert isinstance(plan.solver.greedy, Figures)
        assert plan.solver.settings == SolveSettings(10, 1, 0)
    if isinstance(plan.goal, RollingUpgrade):  # a campaign planner's own extra
        assert plan.solver.orders_tried is not None and plan.solver.orders_tried >= 1
    _round_trips(plan)


def test_a_step_aside_plan_round_trips():
    inv, h1 = _stepaside_fleet()
    plan = solve(inv, Evacuate((h1,)), time_limit=5, workers=1, seed=0)
    assert_checked(inv, plan)
    assert plan.unplaced == () and plan.solver.step_aside is not None
    assert [s.vm for s in plan.solver.step_aside] == [inv.find("vm", "small")]
    assert all(isinstance(s, StepAside) for s in plan.solver.step_aside)
    doc = to_dict(plan)
    assert doc["solver"]["step_aside"][0]["for"] == inv.find("vm", "big")
    _round_trips(plan)


def _hand_document() -> tuple[dict, object]:
    b = Builder()
    a = b.pool("a")
    h1, h2 = b.host(a, "h1"), b.host(a, "h2")
    b.vm(a, "web", host=h1, memory_gib=4)
    inv = b.build()
    plan = plan_of(inv, [[mig(inv, "m0", "web", to_host=h2)]], Evacuate((h1,)))
    return to_dict(plan), inv


def test_unknown_keys_and_status_survive_load_and_save(tmp_path: Path):
    """FORMATS.md: readers ignore unknown keys; this planner also keeps them."""
    doc, inv = _hand_document()
    doc["goal"]["why"] = "rack 4 is being rewired"
    doc["options"]["vendor_option"] = {"x": 1}
    doc["solver"].update(status="INTERRUPTED", solver_version="9.9", objective=7)
    doc["solver"]["greedy"] = {"seconds": 5, "waves": 1, "unplaced": 0, "note": "x"}
    doc["bounds"]["by"] = "hand"
    doc["estimate"]["confidence"] = 0.9
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    plan = load_plan(src)
    assert plan.status is None and plan.solver.status_text == "INTERRUPTED"
    assert "no status" in plan.summary()
    assert plan.goal.extra == {"why": "rack 4 is being rewired"}
    assert plan.solver.extra == {"solver_version": "9.9"} and plan.solver.objective == 7
    assert plan.solver.greedy == Figures(waves=1, seconds=5, unplaced=0, extra={"note": "x"})
    assert check_plan(inv, plan).ok  # unknown keys change nothing the checker reads
    out = tmp_path / "out.json"
    save_plan(plan, out)
    assert json.loads(out.read_text())["goal"] == doc["goal"]
    assert to_dict(load_plan(out)) == to_dict(plan)
    again = json.loads(out.read_text())
    for key in ("goal", "solver", "bounds", "estimate"):
        assert again[key] == doc[key], key
    assert again["options"]["vendor_option"] == {"x": 1}


def test_partial_solve_settings_and_odd_status_are_kept_verbatim():
    doc, _ = _hand_document()
    doc["solver"] = {"name": "other-tool", "status": 3, "seed": 7}
    plan = from_dict(doc)
    assert plan.solver.settings is None and plan.status is None
    assert to_dict(plan)["solver"] == {"name": "other-tool", "status": 3, "seed": 7}


@pytest.mark.parametrize(
    ("goal", "expect"),
    [
        ({"kind": "evacuate", "hosts": "h1"}, "plan.goal.hosts: must be a list of host uuids"),
        ({"kind": "teleport"}, "plan.goal.kind: unknown goal 'teleport'"),
        ({"hosts": []}, "plan.goal: must be an object with a 'kind'"),
        ({"kind": "rebalance", "max_moves": -1}, "plan.goal.max_moves: must be a non-negative"),
        ({"kind": "rebalance", "tolerance": 2}, "plan.goal.tolerance: must be a number in [0, 1]"),
        ({"kind": "target", "placements": []}, "plan.goal.placements: must be an object"),
        ({"kind": "rolling-upgrade", "pool": "p"}, "plan.goal.to_version: must be a version"),
        (
            {"kind": "rolling-upgrade", "pool": "p", "to_version": "8", "return_home": "yes"},
            "plan.goal.return_home: must be true or false",
        ),
    ],
)
def test_a_structurally_bad_goal_fails_at_load_in_one_line(goal, expect, tmp_path):
    doc, inv = _hand_document()
    doc["goal"] = goal
    with pytest.raises(InputError) as e:
        from_dict(doc)
    assert e.value.lines() == [e.value.message] and expect in e.value.message
    # through the CLI: one line on stderr, exit 2, no traceback
    pp, ip = tmp_path / "plan.json", tmp_path / "inv.json"
    pp.write_text(json.dumps(doc))
    from planner.inventory.io import save as save_inv

    save_inv(inv, ip)
    r = CliRunner().invoke(app, ["check", str(pp), str(ip)])
    assert r.exit_code == 2
    assert expect in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_a_bad_goal_among_other_faults_is_one_of_the_lines():
    doc, _ = _hand_document()
    doc["goal"] = {"kind": "evacuate"}
    doc["waves"][0]["migrations"][0]["kind"] = "teleport"
    with pytest.raises(InputError) as e:
        from_dict(doc)
    assert len(e.value.problems) == 2
    assert any(p.startswith("plan.goal.hosts:") for p in e.value.problems)


def test_a_goal_naming_an_unknown_uuid_is_still_a_check_violation():
    doc, inv = _hand_document()
    doc["goal"]["hosts"] = ["deadbeef-0000-4000-8000-000000000000"]
    plan = from_dict(doc)  # the shape is fine: the file loads
    report = check_plan(inv, plan)
    assert report.codes() == {codes.UNKNOWN_OBJECT}
    assert "no host with uuid deadbeef" in report.lines()[0]
    with pytest.raises(InputError, match=r"goal\.hosts: no host with uuid deadbeef"):
        check_goal_refs(plan.goal, inv)
    with pytest.raises(InputError, match="no host with uuid deadbeef"):
        goal_from_json(doc["goal"], inv)


def test_goals_parse_without_an_inventory_and_round_trip():
    goals = [
        Evacuate(("h1", "h2")),
        MovePool(("a",), ("b", "c")),
        RetireSR(("s",)),
        Rebalance(3, 0.2),
        Rebalance(None, None),
        Target({"v": "h"}),
        RollingUpgrade("p", "8.4.1", ("h1",), True),
    ]
    for g in goals:
        assert parse_goal_json(g.to_json()) == g
        assert parse_goal_json(g.to_json()).to_json() == g.to_json()


def test_rebalance_tolerance_absent_means_max_moves_only():
    """check_goal: a rebalance goal that states no tolerance is held to max_moves only;
    the planner's default stays 0.10."""
    doc = {"kind": "rebalance", "max_moves": 2}
    g = parse_goal_json(doc)
    assert isinstance(g, Rebalance) and g.tolerance is None
    assert g.tolerance_or_default == DEFAULT_TOLERANCE == Rebalance().tolerance == 0.10
    assert g.to_json() == doc  # not invented on save
    b = Builder()
    a = b.pool("a")
    h1, h2 = b.host(a, "h1"), b.host(a, "h2")
    b.vm(a, "v", host=h1, memory_gib=4)
    inv = b.build()
    # a balanced-enough pool (within the tolerance) where the plan still moves a VM
    plan = plan_of(inv, [[mig(inv, "m0", "v", to_host=h2)]], g)
    assert check_plan(inv, plan).ok
    stated = plan_of(inv, [[mig(inv, "m0", "v", to_host=h2)]], Rebalance(2, 0.5))
    assert codes.GOAL in check_plan(inv, stated).codes()


def test_hand_made_defaults_are_typed():
    assert SolverInfo(name="hand").to_json() == {"name": "hand"}
    assert Figures().to_json() == {}
    assert PlanOptions().to_json() == {
        "headroom_fraction": 0.0,
        "dmc": False,
        "max_per_pool": 3,
        "max_per_host": None,
        "anti_affinity": "strict",
    }


@pytest.mark.parametrize(
    ("where", "value", "expect"),
    [
        ("estimate", {"waves": 1.5, "seconds": 12}, "plan.estimate.waves: must be a whole"),
        ("bounds", {"seconds": "ten"}, "plan.bounds.seconds: must be a non-negative number"),
        ("bounds", {"seconds": -3}, "plan.bounds.seconds: must be a non-negative number"),
        ("solver", {"name": 5}, "plan.solver.name: must be str"),
        ("solver", {"step_aside": [{"vm": "x"}]}, "plan.solver.step_aside[0].migration"),
        ("options", {"max_per_pool": 9}, "plan.options: max_per_pool: must be 1..3, got 9"),
        ("options", [], "plan.options: must be an object"),
        ("options", {"headroom_fraction": "x"}, "plan.options.headroom_fraction: must be a number"),
        ("options", {"network_map": "a=b"}, "plan.options.network_map: must be an object"),
    ],
)
def test_bad_header_figures_name_the_field(where, value, expect):
    doc, _ = _hand_document()
    doc[where] = value
    with pytest.raises(InputError) as e:
        from_dict(doc)
    assert any(expect in line for line in e.value.lines()), e.value.lines()


def test_a_fractional_estimate_loads_and_the_checker_reports_it():
    """The schema allows any number of seconds; the planner writes whole ones, and rule
    12 compares the file's estimate with the waves' exactly, so 12.5 is a violation of
    the plan, not an unreadable file."""
    doc, inv = _hand_document()
    whole = doc["estimate"]["seconds"]
    doc["estimate"]["seconds"] = whole + 0.5
    doc["bounds"] = {"waves": 1, "seconds": 0.5}
    plan = from_dict(doc)
    assert plan.estimate.seconds == whole + 0.5 and plan.bounds.seconds == 0.5
    report = check_plan(inv, plan)
    assert [v.code for v in report.violations] == ["ESTIMATE"], report.lines()
    doc["estimate"]["seconds"] = whole
    assert check_plan(inv, from_dict(doc)).ok


def test_a_whole_float_figure_reads_as_an_int():
    doc, _ = _hand_document()
    doc["bounds"] = {"waves": 1.0, "seconds": 60.0}
    plan = from_dict(doc)
    assert plan.bounds == Figures(waves=1, seconds=60)
    assert isinstance(plan.bounds.seconds, int)
