"""JSON Schemas: valid draft 2020-12, accept what the planner writes, reject contract faults."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from planner.goals import Evacuate
from planner.inventory import sample_path, to_dict
from planner.inventory.generate import generate
from planner.inventory.io import read_json
from planner.options import PlanOptions
from planner.plan_header import Figures, SolverInfo
from planner.schema import inventory_schema, plan_schema
from planner.status import Status

INV = Draft202012Validator(inventory_schema())
PLAN = Draft202012Validator(plan_schema())


def test_schemas_are_valid_draft_2020_12():
    Draft202012Validator.check_schema(inventory_schema())
    Draft202012Validator.check_schema(plan_schema())


@pytest.mark.parametrize("name", ["sample", "two-pools"])
def test_samples_match(name):
    INV.validate(read_json(sample_path(name), "inventory"))


def test_generated_fleet_matches():
    INV.validate(generate(3, 4, 60, seed=2))


def test_required_keys_are_exactly_what_the_model_writes(sample_inv):
    # the model writes every FORMATS.md key and no other: the schema must know the same,
    # requiring the version 1 keys (a v1 file lacks the v2 ones, whose defaults apply)
    doc = to_dict(sample_inv)
    props = inventory_schema()["properties"]
    assert set(props) == set(doc)
    assert set(inventory_schema()["required"]) == set(doc) - {"vm_groups"}
    v2 = {"networks": {"ip_hosts"}, "vms": {"suspend_vdi", "groups"}}
    for kind in ("pools", "hosts", "srs", "networks", "vms"):
        item = props[kind]["items"]
        assert set(item["properties"]) == set(doc[kind][0]), kind
        assert set(item["required"]) == set(doc[kind][0]) - v2.get(kind, set()), kind
    vm = props["vms"]["items"]["properties"]
    disk = set(doc["vms"][0]["disks"][0])
    assert set(vm["disks"]["items"]["required"]) == disk - {"snapshot_used_bytes"}
    assert set(vm["vifs"]["items"]["required"]) == set(doc["vms"][0]["vifs"][0])
    cpu = props["hosts"]["items"]["properties"]["cpu"]
    assert set(cpu["required"]) == set(doc["hosts"][0]["cpu"])


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["hosts"][0].update(memory_total_bytes=True),
        lambda d: d["hosts"][0].update(memory_total_bytes=0),
        lambda d: d["vms"][0].update(power_state="running"),
        lambda d: d["vms"][0]["disks"][0].update(size_bytes=-1),
        lambda d: d["vms"][0]["disks"][0].pop("on_boot"),
        lambda d: d["pools"][0].update(ha_enabled=1),
        lambda d: d["hosts"][0].update(version="8.4-beta"),
        lambda d: d["hosts"][0]["cpu"].update(features="xyz"),
        lambda d: d.update(version=3),
        lambda d: d.update(format="other"),
        lambda d: d.pop("vms"),
    ],
)
def test_inventory_faults_are_rejected(edit, sample_inv):
    doc = to_dict(sample_inv)
    edit(doc)
    with pytest.raises(jsonschema.ValidationError):
        INV.validate(doc)


def test_unknown_keys_are_allowed(sample_inv):
    doc = to_dict(sample_inv)
    doc["extra"] = 1
    doc["vms"][0]["x"] = {"y": []}
    INV.validate(doc)


def hand_written_plan() -> dict:
    """A plan written by hand from FORMATS.md (not by the planner)."""
    return {
        "format": "xen-planner/plan",
        "version": 1,
        "inventory_digest": "ab" * 32,
        "goal": {"kind": "evacuate", "hosts": ["h2"]},
        "options": {"headroom_fraction": 0.1, "dmc": False, "max_per_pool": 3},
        "solver": {"name": "greedy", "status": "FEASIBLE", "wall_seconds": 0.01},
        "bounds": {"waves": 1, "seconds": 40},
        "waves": [
            {
                "index": 0,
                "migrations": [
                    {
                        "id": "m1",
                        "vm": "v1",
                        "kind": "live",
                        "from_host": "h2",
                        "to_host": "h1",
                        "from_pool": "p",
                        "to_pool": "p",
                        "disks": [],
                        "vifs": [],
                        "est_seconds": 40,
                        "depends_on": [],
                    },
                    {
                        "id": "m2",
                        "vm": "v2",
                        "kind": "move",
                        "from_host": None,
                        "to_host": None,
                        "from_pool": "p",
                        "to_pool": "q",
                        "disks": [{"vdi": "d1", "from_sr": "s1", "to_sr": "s9"}],
                        "vifs": [{"device": "0", "to_network": "n9"}],
                        "est_seconds": 30,
                        "depends_on": ["m1"],
                    },
                ],
            }
        ],
        "unplaced": [{"vm": "v3", "reasons": [{"code": "SRIOV", "message": "v3 has ..."}]}],
        "warnings": [],
        "estimate": {"waves": 1, "seconds": 40},
    }


def test_hand_written_plan_matches():
    PLAN.validate(hand_written_plan())


@pytest.mark.parametrize(
    "goal",
    [
        {"kind": "move-pool", "from": ["a"], "to": ["b"]},
        {"kind": "retire-sr", "srs": ["s"]},
        {"kind": "rebalance", "max_moves": None},
        {"kind": "rebalance", "max_moves": 5},
        {"kind": "target", "placements": {"v1": "h1"}},
    ],
)
def test_every_goal_kind_matches(goal):
    plan = hand_written_plan()
    plan["goal"] = goal
    PLAN.validate(plan)


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p.update(inventory_digest="not-hex"),
        lambda p: p["goal"].update(kind="evacuate-all"),
        lambda p: p["goal"].pop("hosts"),
        lambda p: p["options"].update(max_per_pool=4),
        lambda p: p["waves"][0]["migrations"][0].update(kind="cold"),
        lambda p: p["waves"][0]["migrations"][0].pop("to_pool"),
        lambda p: p["waves"][0]["migrations"][0].update(est_seconds=-1),
        lambda p: p["unplaced"][0]["reasons"][0].pop("code"),
        lambda p: p.pop("estimate"),
    ],
)
def test_plan_faults_are_rejected(edit):
    plan = copy.deepcopy(hand_written_plan())
    edit(plan)
    with pytest.raises(jsonschema.ValidationError):
        PLAN.validate(plan)


def test_plan_written_by_the_planner_matches(sample_inv):
    # the plan module's own writer, fed a minimal Plan, must produce a schema-valid file
    from planner.plan import Migration, Plan, Wave, estimate_of
    from planner.plan import to_dict as plan_to_dict

    vm = next(v for v in sample_inv.vms if v.is_running)
    other = next(h for h in sample_inv.hosts if h.uuid != vm.host)
    m = Migration("m1", vm.uuid, "live", vm.host, other.uuid, vm.pool, vm.pool, est_seconds=12)
    waves = (Wave(0, (m,)),)
    plan = Plan(
        inventory_digest="0" * 64,
        goal=Evacuate((vm.host,)),
        options=PlanOptions(),
        solver=SolverInfo(name="test", status=Status.FEASIBLE, wall_seconds=0.0),
        bounds=Figures(waves=1, seconds=12),
        waves=waves,
        estimate=estimate_of(waves),
    )
    PLAN.validate(plan_to_dict(plan))
