"""The exhaustive oracle (tests/helpers/oracle.py) and the planner measured against it.

First the oracle itself, on hand-made instances whose best plan is known; then the
seeded property test: on random tiny instances `planner.solve` places as many VMs as
the oracle and, where it claims OPTIMAL, matches the oracle's campaign length.
docs/rules.md "Oracle" records the counts and the generator's restrictions.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from planner.check import check_plan
from planner.durations import DEFAULT_MODEL
from planner.goals import Goal, RetireSR
from planner.inventory.builder import Builder
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.solve import solve
from tests.helpers.instances import instance
from tests.helpers.oracle import (
    EXTRA_MOVES,
    MAX_MOVES_PER_VM,
    RESTRICTED,
    Comparison,
    _Oracle,
    compare,
    oracle,
    random_instance,
)

# The property test's generator is `oracle.RESTRICTED` (why: see there).


def test_oracle_packs_waves_under_the_pool_limit() -> None:
    """Four 1 GiB VMs leave h1: at most 3 per pool per wave, so two waves."""
    x = instance("pool-limit")
    inv = x.inv
    r = oracle(inv, x.goal)
    one = DEFAULT_MODEL.estimate(inv, inv.vms[0], "live", set())
    assert r.complete and r.placed == r.must == 4
    assert r.seconds == 2 * one and r.plan is not None
    assert [len(w.migrations) for w in r.plan.waves] in ([3, 1], [1, 3])
    assert check_plan(inv, r.plan).ok


def _two_disks() -> tuple[Inventory, Goal]:
    """A halted VM's two 40 GiB disks leave SR old; a and b each hold one (3 x 40 GiB
    reserved) but not both (the named instance two-disks)."""
    x = instance("two-disks")
    return x.inv, x.goal


def test_oracle_finds_a_target_sr_per_disk() -> None:
    inv, goal = _two_disks()
    r = oracle(inv, goal, extra=0)
    assert r.placed == 1 and r.plan is not None
    (m,) = list(r.plan.migrations())
    assert len({d.to_sr for d in m.disks}) == 2
    # with one target SR per move and no second move, nothing fits
    assert oracle(inv, goal, extra=0, per_disk=False).placed == 0
    # one SR per move but two moves: one disk, then the other
    two = oracle(inv, goal, per_disk=False)
    assert two.placed == 1 and two.plan is not None
    assert [m.reason for m in two.plan.migrations()] == ["temporary", None]
    assert two.seconds > r.seconds  # two waves instead of one


def test_oracle_and_planner_step_aside_for_a_halted_vms_memory() -> None:
    """Rule 4: halted w (6 GiB) moves its disk only while some host of its pool has
    6 GiB free; h1 has 5 until v (4 GiB) steps aside to h0."""
    b = Builder()
    p = b.pool("lab")
    h0 = b.host(p, "h0", memory_gib=6, overhead_gib=1)
    h1 = b.host(p, "h1", memory_gib=10, overhead_gib=1)
    old, new = b.sr(p, "old", size_gib=200), b.sr(p, "new", size_gib=200)
    net = b.network(p, "mgmt", management=True)
    b.vm(p, "v", host=h1, memory_gib=4, networks=[net])
    b.vm(p, "w", power_state="Halted", memory_gib=6, disks=[(old, 10)], networks=[net])
    inv = b.build()
    goal = RetireSR((old,))
    r = oracle(inv, goal)
    assert r.complete and r.placed == 1 and r.plan is not None
    first = r.plan.waves[0].migrations
    assert [(inv.label(m.vm), m.to_host) for m in first] == [("v", h0)]
    assert oracle(inv, goal, extra=0).placed == 0
    plan = solve(inv, goal, time_limit=5)
    assert check_plan(inv, plan).ok and plan.unplaced == ()
    assert plan.schedule_seconds == r.seconds
    assert [m.to_sr for m in plan.waves[-1].migrations[0].disks] == [new]


def test_oracle_stops_at_its_state_bound() -> None:
    inv, goal = _two_disks()
    r = oracle(inv, goal, per_disk=False, max_states=1)
    assert not r.complete


def test_oracle_plans_pass_the_checker_without_rejections() -> None:
    """The oracle's wave test mirrors the checker: no candidate plan is refused, and
    each VM moves at most MAX_MOVES_PER_VM times."""
    searched = 0
    for seed in range(60):
        inv, goal = random_instance(seed)
        r = oracle(inv, goal)
        assert r.plan is not None and r.rejected == 0, seed
        assert check_plan(inv, r.plan).ok
        per_vm = Counter(m.vm for m in r.plan.migrations())
        assert max(per_vm.values(), default=0) <= MAX_MOVES_PER_VM
        searched += r.states
    assert searched > 60  # the instances were not all trivial


# Disagreements of the restricted generator that are planner bugs reported to their
# owner (docs/rules.md "Oracle"); no generator restriction isolates them. Any other
# disagreement fails the test; a listed seed that agrees again is reported.
KNOWN_PLANNER_BUGS: dict[int, str] = {}  # seed -> why; empty: none known


def _property(seeds: range) -> list[Comparison]:
    out = [compare(s, time_limit=5, **RESTRICTED) for s in seeds]
    failed = [c for c in out if c.failed and c.seed not in KNOWN_PLANNER_BUGS]
    assert not failed, "\n".join(map(str, failed))
    for c in out:
        if c.seed in KNOWN_PLANNER_BUGS:
            state = "still disagrees" if c.failed else "AGREES NOW: drop it from the list"
            print(f"\n  known planner bug, seed {c.seed}: {state}: {c}")
    kinds = Counter(c.kind for c in out)
    # the oracle's bounds keep it fast; an instance it cannot finish is counted apart,
    # and must stay rare for the test to mean something
    assert kinds["oracle-incomplete"] + kinds["length-unproven"] <= len(seeds) // 50, kinds
    # not vacuous: most instances place something, several need more than one wave
    assert sum(c.oracle_placed > 0 for c in out) >= len(seeds) // 3
    return out


def test_planner_matches_the_oracle_on_100_random_instances() -> None:
    out = _property(range(100))
    assert all(c.kind in ("agree", "longer", "optimal-in-model", "length-unproven") for c in out)


@pytest.mark.slow
def test_planner_matches_the_oracle_on_1000_random_instances() -> None:
    out = _property(range(1000, 2000))
    print("\noracle property, restricted generator:")
    for (kind, why), n in Counter((c.kind, c.why) for c in out).most_common():
        print(f"  {n:5d} {kind} {why}")
    for c in out:
        if c.kind != "agree":
            print(f"  {c}")


@pytest.mark.slow
def test_oracle_full_generator_counts() -> None:
    """The unrestricted generator (multi-disk VMs, local SRs): every disagreement is
    classified; only plans the checker refuses or plans that beat the oracle (an
    oracle bug) fail here. The counts go in docs/rules.md "Oracle"."""
    out = [compare(s, time_limit=5) for s in range(1000)]
    kinds = Counter((c.kind, c.why) for c in out)
    print("\noracle property, full generator:")
    for (kind, why), n in kinds.most_common():
        print(f"  {n:5d} {kind} {why}")
    for c in out:
        if c.failed:
            print(f"  {c}")
    assert not [c for c in out if c.kind in ("invalid", "better")]


def _brute_force(inv: Inventory, goal: Goal, waves: int) -> tuple[int, int]:
    """Every plan of at most `waves` waves within the oracle's move bounds, each checked
    by `check_plan` alone (no wave test of the oracle's own): the best (placed, seconds).
    Uses the oracle's move generation, so it checks the search and the wave test."""
    o = _Oracle(inv, goal, PlanOptions(), DEFAULT_MODEL, EXTRA_MOVES, True)
    n = len(o.vms)
    best: tuple[int, int] | None = None

    def plan_of(path: list[list[Any]]) -> tuple[Any, Any]:
        parent: dict[Any, Any] = {}
        state = (o.start, (0,) * n)
        parent[state] = None
        for wave in path:
            pos, count = list(state[0]), list(state[1])
            for m in wave:
                pos[m.vm], count[m.vm] = m.to, count[m.vm] + 1
            nxt = (tuple(pos), tuple(count))
            parent[nxt] = (state, wave)
            state = nxt
        return state, o.plan(state, parent)

    def rec(path: list[list[Any]], state: Any) -> None:
        nonlocal best
        st, plan = plan_of(path)
        if not check_plan(inv, plan).ok:
            return  # a prefix the checker refuses: no extension is valid
        score = o.score(st[0])
        if score is not None:
            key = (-score, plan.schedule_seconds)
            best = key if best is None or key < best else best
        if len(path) == waves:
            return
        pos, count = state
        left = o.budget - sum(count)
        options = [
            [None, *o.moves(i, pos[i])] if count[i] < o.max_moves and left > 0 else [None]
            for i in range(n)
        ]
        for combo in itertools.product(*options):
            wave = [m for m in combo if m is not None]
            if not wave or len(wave) > left:
                continue
            npos, ncount = list(pos), list(count)
            for m in wave:
                npos[m.vm], ncount[m.vm] = m.to, ncount[m.vm] + 1
            rec([*path, wave], (tuple(npos), tuple(ncount)))

    rec([], (o.start, (0,) * n))
    assert best is not None
    return -best[0], best[1]


def test_oracle_equals_brute_force_on_small_instances() -> None:
    """Where the oracle's best plan has at most 2 waves, checking every plan of at most
    2 waves with the checker alone finds the same figures."""
    compared = 0
    for seed in range(400):
        inv, goal = random_instance(seed, max_vms=2, max_disks=1)
        r = oracle(inv, goal)
        if r.plan is None or r.info["lockstep_waves"] > 2 or r.must == 0:
            continue
        assert _brute_force(inv, goal, 2) == (r.placed, r.wave_seconds), seed
        compared += 1
        if compared == 25:
            break
    assert compared >= 10
