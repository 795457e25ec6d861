"""The plan file: JSON round trip, precise errors for malformed files, the pandas view."""

from __future__ import annotations

import json

import pytest

from planner.errors import InputError
from planner.goals import Evacuate
from planner.inventory.builder import GIB, Builder
from planner.options import PlanOptions
from planner.plan import FORMAT_NAME, Figures, Reason, SolverInfo, from_dict, load, save, to_dict
from tests.helpers.plans import mig, plan_of


def small():
    b = Builder()
    a = b.pool("a")
    h1, h2 = b.host(a, "h1"), b.host(a, "h2")
    nfs, new = b.sr(a, "nfs"), b.sr(a, "new")
    net = b.network(a, "vm-net")
    b.vm(a, "web", host=h1, memory_gib=4, disks=[(nfs, 20)], networks=[net])
    b.vm(a, "db", host=h1, memory_gib=16, disks=[(nfs, 50), (nfs, 30)], networks=[net])
    inv = b.build()
    waves = [
        [mig(inv, "m0", "web", to_host=h2)],
        [mig(inv, "m1", "db", to_host=h2, to_sr=new, depends_on=("m0",))],
    ]
    plan = plan_of(inv, waves, Evacuate((h1,)), unplaced={"web": ["NO_CAPACITY"]})
    return inv, plan


def test_round_trip_through_dict_and_file(tmp_path):
    _, plan = small()
    doc = to_dict(plan)
    assert doc["format"] == FORMAT_NAME and doc["version"] == 2
    assert from_dict(json.loads(json.dumps(doc))) == plan
    path = tmp_path / "plan.json"
    save(plan, path)
    assert load(path) == plan
    m1 = json.loads(path.read_text())["waves"][1]["migrations"][0]
    # FORMATS.md migration keys, all of them
    assert set(m1) >= {
        "id",
        "vm",
        "kind",
        "from_host",
        "to_host",
        "from_pool",
        "to_pool",
        "disks",
        "vifs",
        "est_seconds",
        "depends_on",
    }
    assert set(m1["disks"][0]) == {"vdi", "from_sr", "to_sr"}
    assert m1["depends_on"] == ["m0"]


def test_unknown_keys_are_ignored():
    _, plan = small()
    doc = to_dict(plan)
    doc["extra"] = {"from": "another tool"}
    doc["waves"][0]["migrations"][0]["note"] = "x"
    assert from_dict(doc) == plan


def test_plan_with_no_waves_and_defaults():
    _, plan = small()
    doc = to_dict(plan)
    doc["waves"] = []
    for key in ("unplaced", "warnings", "solver", "bounds", "options", "estimate"):
        del doc[key]
    p = from_dict(doc)
    assert p.waves == () and p.unplaced == () and p.options == PlanOptions()
    assert p.solver == SolverInfo() and p.bounds == p.estimate == Figures()
    assert p.warnings == ()


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (lambda d: d.update(format="xen-planner/inventory"), "format must be"),
        (lambda d: d.update(version=3), "unsupported plan version 3"),
        (lambda d: d.pop("inventory_digest"), "plan.inventory_digest: missing"),
        (lambda d: d["waves"].append(7), "waves[2]: must be an object"),
        (
            lambda d: d["waves"][0]["migrations"][0].update(kind="teleport"),
            "waves[0].migrations[0].kind: must be one of live, storage, move, got 'teleport'",
        ),
        (
            lambda d: d["waves"][0]["migrations"][0].update(est_seconds="ten"),
            "waves[0].migrations[0].est_seconds: must be int/float, got str",
        ),
        (
            lambda d: d["waves"][0]["migrations"][0].update(est_seconds=-1),
            "est_seconds: must not be negative",
        ),
        (lambda d: d["waves"][1]["migrations"][0].update(id="m0"), "duplicate migration id 'm0'"),
        (
            lambda d: d["waves"][1]["migrations"][0]["disks"].append("x"),
            "waves[1].migrations[0].disks[2]: must be an object",
        ),
        (
            lambda d: d["waves"][0]["migrations"][0].update(from_pool=None),
            "waves[0].migrations[0].from_pool: must be str, got NoneType",
        ),
        (
            lambda d: d["unplaced"][0].update(reasons=[{"message": "no code"}]),
            "unplaced[0].reasons[0].code: missing",
        ),
    ],
)
def test_malformed_plans_name_the_fault(mutate, expect):
    _, plan = small()
    doc = to_dict(plan)
    mutate(doc)
    with pytest.raises(InputError) as e:
        from_dict(doc)
    lines = e.value.lines()
    assert any(expect in line for line in lines), lines
    assert len(lines) <= 2  # one fault, one line (after the summary line, if any)


def test_every_fault_reported_at_once():
    _, plan = small()
    doc = to_dict(plan)
    doc["waves"][0]["migrations"][0]["kind"] = "teleport"
    del doc["waves"][1]["migrations"][0]["vm"]
    with pytest.raises(InputError) as e:
        from_dict(doc)
    assert len(e.value.problems) == 2


def test_malformed_json_file_is_one_line(tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text('{"format": "xen-planner/plan",\n "waves": [}')
    with pytest.raises(InputError) as e:
        load(bad)
    assert e.value.lines() == [e.value.message]
    assert "plan.json:2:" in e.value.message and "malformed JSON" in e.value.message
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "missing.json")
    with pytest.raises(InputError, match="must be a JSON object"):
        from_dict([1, 2])


def test_to_frame_columns_and_values():
    inv, plan = small()
    df = plan.to_frame(inv)
    assert list(df.columns) == [
        "wave",
        "id",
        "vm",
        "kind",
        "from_host",
        "to_host",
        "from_pool",
        "to_pool",
        "memory_bytes",
        "disk_bytes",
        "est_seconds",
        "reason",
    ]
    assert list(df["vm"]) == ["web", "db"]
    assert list(df["wave"]) == [0, 1]
    assert list(df["to_host"]) == ["h2", "h2"]
    assert df["memory_bytes"].tolist() == [4 * GIB, 16 * GIB]
    assert df["disk_bytes"].tolist() == [0, 80 * GIB]  # db moves both its disks
    assert df["est_seconds"].tolist() == [m.est_seconds for m in plan.migrations()]
    raw = plan.to_frame()  # without an inventory: uuids, no sizes
    assert raw["vm"].iloc[0] == plan.waves[0].migrations[0].vm


def test_reason_json():
    assert Reason("CBT", "x").to_json() == {"code": "CBT", "message": "x"}


@pytest.mark.parametrize("value", ["OPTIMAL", "FEASIBLE", "NOTHING_TO_DO", "PARTIAL", "NO_PLAN"])
def test_solver_status_is_a_status_read_at_the_file_edge(tmp_path, value):
    """The file keeps the string (FORMATS.md `solver.status`); the plan reads a Status."""
    from planner.status import Status

    _, plan = small()
    doc = to_dict(plan)
    doc["solver"] = {**doc["solver"], "status": value}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    loaded = load(path)
    assert loaded.status is Status(value)
    save(loaded, tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["solver"]["status"] == value


@pytest.mark.parametrize("solver", [{}, {"status": "hand-made"}, {"status": 3}])
def test_missing_or_unknown_solver_status_reads_as_none(solver):
    _, plan = small()
    doc = to_dict(plan)
    doc["solver"] = solver
    plan = from_dict(doc)
    assert plan.status is None
    assert "no status" in plan.summary()
