"""The named instances (tests/data/instances/) against their known answers: CP-SAT
reaches the optimum, greedy never beats it, the bounds never exceed it, every plan
passes the replay checker (both modes), and the exhaustive oracle confirms the optimum
of each instance of at most 6 VMs. Also: the data files and the manifest agree."""

from __future__ import annotations

import json

import pytest

from planner.check import check_plan
from planner.inventory import load, save
from planner.options import PlanOptions
from planner.solve import solve
from tests.helpers.instances import (
    DIR,
    INDEX,
    KEYS,
    bound_seconds,
    bound_waves,
    instance,
    manifest,
    names,
)
from tests.helpers.oracle import oracle
from tests.helpers.solving import assert_checked

ORACLE_MAX_VMS = 6  # the oracle refuses more (tests/helpers/oracle.py)


@pytest.mark.parametrize("name", names())
def test_cpsat_reaches_the_known_optimum(name: str) -> None:
    x = instance(name)
    plan = solve(x.inv, x.goal, x.options, solver="cpsat", workers=1, seed=0, time_limit=10)
    assert_checked(x.inv, plan)
    assert plan.status == x.status, x.why
    assert plan.schedule_seconds == x.seconds, x.why
    assert len(plan.unplaced) == x.unplaced
    assert len(plan.waves) >= x.waves
    assert bound_seconds(plan) <= x.seconds
    assert bound_waves(plan) <= x.waves


@pytest.mark.parametrize("name", names())
def test_greedy_never_beats_the_optimum(name: str) -> None:
    x = instance(name)
    plan = solve(x.inv, x.goal, x.options, solver="greedy")
    assert_checked(x.inv, plan)
    # fewer VMs placed, or as many and no shorter
    assert len(plan.unplaced) >= x.unplaced
    if len(plan.unplaced) == x.unplaced:
        assert plan.schedule_seconds >= x.seconds
        assert len(plan.waves) >= x.waves
    assert bound_seconds(plan) <= x.seconds


TINY = [n for n in names() if len(instance(n).inv.vms) <= ORACLE_MAX_VMS]


@pytest.mark.parametrize("name", TINY)
def test_the_oracle_confirms_the_optimum(name: str) -> None:
    """Enumeration (step-asides and second moves included) finds no better plan, and
    one as good: the hand derivation in the manifest is right."""
    x = instance(name)
    r = oracle(x.inv, x.goal, x.options)
    assert r.complete and r.plan is not None
    assert r.must - r.placed == x.unplaced
    assert r.seconds == x.seconds, x.why
    assert check_plan(x.inv, r.plan).ok


def test_tiny_instances_are_there() -> None:
    """The oracle test is not vacuous: most instances are small enough for it."""
    assert len(TINY) >= len(names()) // 2


def test_every_file_has_a_manifest_entry_and_back(tmp_path) -> None:
    """Each tests/data/instances/<name>.json loads with the planner's inventory reader
    and is written as `planner.inventory.save` writes it; each manifest entry has its
    file, its keys, a goal naming things of that file and valid options."""
    files = {p.stem for p in DIR.glob("*.json") if p != INDEX}
    assert files == set(manifest()), "a file without a manifest entry, or the reverse"
    assert 6 <= len(files) <= 12
    for name in sorted(files):
        inv = load(DIR / f"{name}.json")
        assert len(inv.vms) < 20, name
        again = tmp_path / f"{name}.json"
        save(inv, again)
        assert again.read_bytes() == (DIR / f"{name}.json").read_bytes(), f"{name}: not canonical"
        entry = manifest()[name]
        assert set(entry) == set(KEYS), name
        x = instance(name)
        assert x.goal.to_json() == entry["goal"]
        defaults = PlanOptions().to_json()
        assert all(defaults.get(k) != v for k, v in entry["options"].items()), name
        assert x.options.to_json() == {**defaults, **entry["options"]}
        assert x.seconds > 0 and x.waves >= 1 and 0 <= x.unplaced < len(inv.vms)
        assert len(x.why) > 100, f"{name}: derive the answer in 'why'"
    # the manifest is kept sorted by name, two-space indented
    assert list(manifest()) == names()
    text = INDEX.read_text(encoding="utf-8")
    assert text == json.dumps(manifest(), indent=2, ensure_ascii=False) + "\n"
