"""Python goals name objects as the command line does (issue 14): a name, a uuid or a
unique uuid prefix; an unknown name is a clear error, not NOTHING_TO_DO."""

from __future__ import annotations

import pytest

import planner
from planner.errors import InputError
from planner.goals import Evacuate, MovePool, RetireSR, RollingUpgrade, resolve_goal
from tests.helpers.solving import assert_checked


@pytest.fixture(scope="module")
def inv():
    return planner.load_inventory(planner.sample_path())


def test_evacuate_by_name_plans_the_same_as_by_uuid(inv):
    by_name = planner.solve(inv, planner.Evacuate(("xs-02",)), solver="greedy")
    by_uuid = planner.solve(inv, planner.Evacuate((inv.find("host", "xs-02"),)), solver="greedy")
    assert by_name.status != "NOTHING_TO_DO"
    assert by_name.goal == by_uuid.goal == Evacuate((inv.find("host", "xs-02"),))
    assert [m.vm for m in by_name.migrations()] == [m.vm for m in by_uuid.migrations()]
    assert by_name.waves, "xs-02 runs VMs: there is something to move"
    assert_checked(inv, by_name)


def test_unknown_name_is_a_clear_error(inv):
    with pytest.raises(InputError) as e:
        planner.solve(inv, planner.Evacuate(("nope",)))
    assert str(e.value).startswith("Evacuate.hosts: no host named or with uuid 'nope'")
    with pytest.raises(InputError, match="did you mean xs-0"):
        planner.solve(inv, planner.Evacuate(("xs-9",)))


def test_every_named_goal_resolves_and_reports_each_bad_name(inv):
    sr = resolve_goal(inv, RetireSR(("nfs-old",)))
    assert sr.srs == (inv.find("sr", "nfs-old"),)
    assert resolve_goal(inv, planner.Evacuate("xs-01,xs-02")).hosts == (
        inv.find("host", "xs-01"),
        inv.find("host", "xs-02"),
    )
    ru = resolve_goal(inv, RollingUpgrade("lab", "8.4.0", ("xs-01",)))
    assert ru.pool == inv.find("pool", "lab") and ru.order == (inv.find("host", "xs-01"),)
    with pytest.raises(InputError) as e:
        resolve_goal(inv, MovePool(("lab",), ("nowhere", "neither")))
    assert len(e.value.problems) == 2 and all("MovePool.to_pools" in p for p in e.value.problems)
