"""Property tests of the schedule (flow-mode) replay: valid plans from the solver and
the list scheduler pass both replays; a schedule mutated in one place (a start moved
earlier than what it waits for, more migrations of a pool overlapping than
`max_per_pool`, storage moves overlapping beyond an SR's space) is caught, in flow
mode only, with the code it breaks.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.check import FLOW, check_plan
from planner.goals import Evacuate
from planner.inventory import samples
from planner.inventory.generate import generate
from planner.inventory.io import from_dict, load
from planner.inventory.model import Inventory
from planner.plan import Migration, Plan, Wave, estimate_of
from planner.rules import codes
from planner.schedule import schedule
from planner.solve import solve
from tests.helpers.instances import instance
from tests.helpers.solving import assert_checked

SETTINGS = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def _scheduled(inv: Inventory, plan: Plan) -> Plan:
    waves = schedule(inv, plan.options, plan.waves)
    return replace(plan, waves=waves, estimate=estimate_of(waves))


@functools.cache
def _plans() -> list[tuple[Inventory, Plan]]:
    """(inventory, plan) pairs: the sample and generated fleets, evacuating two hosts per
    pool; each plan as solved (lock-step starts) and list-scheduled."""
    out = []
    fleets = [load(samples.sample_path())] + [from_dict(generate(2, 6, 40, seed=s)) for s in (1, 2)]
    for inv in fleets:
        hosts = tuple(h.uuid for p in inv.pools for h in inv.hosts_in_pool[p.uuid][:2])
        plan = solve(inv, Evacuate(hosts), solver="greedy")
        out += [(inv, plan), (inv, _scheduled(inv, plan))]
    return out


def _with(plan: Plan, changed: dict[str, Migration]) -> Plan:
    waves = tuple(
        replace(w, migrations=tuple(changed.get(m.id, m) for m in w.migrations)) for w in plan.waves
    )
    return replace(plan, waves=waves, estimate=estimate_of(waves))


def test_valid_plans_pass_both_replays() -> None:
    for inv, plan in _plans():
        assert_checked(inv, plan)
        assert plan.has_schedule
        assert plan.estimate.seconds <= plan.estimate.wave_seconds


@SETTINGS
@given(st.data())
def test_a_start_moved_earlier_is_caught(data: st.DataObject) -> None:
    inv, plan = data.draw(st.sampled_from(_plans()))
    migs = list(plan.migrations())
    pos = {m.id: i for i, m in enumerate(migs)}
    wave = {m.id: w.index for w in plan.waves for m in w.migrations}

    def before(m: Migration) -> list[Migration]:
        """Migrations of earlier waves, of other VMs (a dependency wave mode accepts)."""
        return [a for a in migs if wave[a.id] < wave[m.id] and a.end_s > 0 and a.vm != m.vm]

    m = data.draw(st.sampled_from([m for m in migs if before(m)]))
    a = data.draw(st.sampled_from(before(m)))
    # m now waits for a, and starts 1..est seconds before a ends
    start = max(0, a.end_s - data.draw(st.integers(1, max(1, a.est_seconds))))
    bad = replace(m, depends_on=(*m.depends_on, a.id), start_s=start)
    ends = {x.id: x.end_s for x in migs}
    want = set()
    if any(ends[d] > start for d in bad.depends_on):
        want.add(codes.DEPENDENCY)
    prev = [x for x in migs[: pos[m.id]] if x.vm == m.vm]
    if prev and prev[-1].end_s > start:
        want.add(codes.CONTINUITY)
    report = check_plan(inv, _with(plan, {m.id: bad}))
    assert all(v.mode == FLOW for v in report.violations), report.lines()
    got = {
        v.code
        for v in report.violations
        if v.migration == m.id and v.code in (codes.DEPENDENCY, codes.CONTINUITY)
    }
    assert got == want == got | {codes.DEPENDENCY}, report.lines()


@SETTINGS
@given(st.data())
def test_overlapping_a_pool_beyond_its_slots_is_caught(data: st.DataObject) -> None:
    inv, plan = data.draw(st.sampled_from(_plans()))
    limit = plan.options.max_per_pool
    by_pool: dict[str, list[Migration]] = {}
    for m in plan.migrations():
        if m.est_seconds > 0:
            by_pool.setdefault(m.from_pool, []).append(m)
    pools = sorted(p for p, ms in by_pool.items() if len(ms) > limit)
    pool = data.draw(st.sampled_from(pools))
    chosen = data.draw(
        st.lists(
            st.sampled_from(by_pool[pool]),
            min_size=limit + 1,
            max_size=limit + 1,
            unique_by=lambda m: m.id,
        )
    )
    at = data.draw(st.sampled_from([m.start_s for m in chosen]))
    report = check_plan(inv, _with(plan, {m.id: replace(m, start_s=at) for m in chosen}))
    assert all(v.mode == FLOW for v in report.violations), report.lines()
    ids = {m.id for m in chosen}
    assert any(
        v.code == codes.CONCURRENCY and v.migration in ids and f"at t={at} s" in v.message
        for v in report.violations
    ), report.lines()


@SETTINGS
@given(st.data())
def test_exact_codes_on_small_fleets(data: st.DataObject) -> None:
    """Mutations that break exactly one promise: four of one pool's migrations at one
    instant (room for all of them otherwise), or storage moves that one at a time fit
    an SR overlapping (slots to spare). Dependencies are dropped (wave mode does not
    need them) so that order is not what breaks."""
    which = data.draw(st.sampled_from(["slots", "sr"]))
    if which == "slots":
        x = instance("parallel-pools")
        inv = x.inv
        plan = _scheduled(inv, solve(inv, x.goal, solver="greedy"))
        pool_a = inv.find("pool", "A")
        mine = [m for m in plan.migrations() if m.from_pool == pool_a]
        chosen = data.draw(
            st.lists(st.sampled_from(mine), min_size=4, max_size=4, unique_by=lambda m: m.id)
        )
        want = codes.CONCURRENCY
    else:
        x = instance("serial-sr")
        inv = x.inv
        plan = _scheduled(inv, solve(inv, x.goal, solver="greedy"))
        mine = list(plan.migrations())
        chosen = data.draw(
            st.lists(st.sampled_from(mine), min_size=2, max_size=3, unique_by=lambda m: m.id)
        )
        want = codes.SR_SPACE
    assert_checked(inv, plan)
    at = data.draw(st.integers(0, 100))
    changed = {m.id: replace(m, start_s=at + i % 2, depends_on=()) for i, m in enumerate(chosen)}
    others = {m.id: replace(m, depends_on=()) for m in mine if m.id not in changed}
    report = check_plan(inv, _with(plan, {**others, **changed}))
    assert report.codes() == {want}, report.lines()
    assert {v.mode for v in report.violations} == {FLOW}


def test_lockstep_and_scheduled_waves_agree_on_wave_mode() -> None:
    """The scheduler keeps the waves: same migrations, same order, only start_s."""
    for inv, plan in _plans()[:2]:
        again = _scheduled(inv, plan)
        strip = [[replace(m, start_s=0) for m in w.migrations] for w in again.waves]
        assert strip == [[replace(m, start_s=0) for m in w.migrations] for w in plan.waves]
        assert isinstance(again.waves[0], Wave)
