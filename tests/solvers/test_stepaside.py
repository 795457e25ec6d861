"""Issue 13 item 11: step-aside moves for evacuate, move-pool and retire-sr.

Each test builds an inventory where one VM fits only after another VM, one the goal
does not move, steps aside to a third host (or its disk to a third SR). Every plan goes
through the replay checker, and the exhaustive oracle confirms the plan's figures.
"""

from __future__ import annotations

from planner.check import check_plan
from planner.goals import Evacuate, Goal, MovePool, RetireSR
from planner.inventory.builder import Builder
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Migration, Plan
from planner.solve import solve
from planner.stepaside import apply, step_aside
from tests.helpers.instances import instance
from tests.helpers.oracle import oracle


def _checked(inv: Inventory, plan: Plan) -> Plan:
    report = check_plan(inv, plan)
    assert report.ok, report.lines()
    return plan


def _moves(plan: Plan) -> list[tuple[int, Migration]]:
    return [(w.index, m) for w in plan.waves for m in w.migrations]


def _evacuate_case() -> tuple[Inventory, Goal, tuple[str, str, str]]:
    """big (40 GiB) on h1 fits on h2 only once small (24 GiB) leaves h2 for h3 (the named
    instance step-aside-evacuate): inventory, goal and the hosts h1, h2, h3."""
    x = instance("step-aside-evacuate")
    h1, h2, h3 = (x.inv.find("host", h) for h in ("h1", "h2", "h3"))
    return x.inv, x.goal, (h1, h2, h3)


def test_issue13_case11_evacuate_steps_aside() -> None:
    inv, goal, (_, h2, h3) = _evacuate_case()
    big, small = inv.find("vm", "big"), inv.find("vm", "small")
    plan = _checked(inv, solve(inv, goal, time_limit=5))
    assert plan.unplaced == ()
    moves = _moves(plan)
    step = next((w, m) for w, m in moves if m.vm == small)
    main = next((w, m) for w, m in moves if m.vm == big)
    assert (step[1].from_host, step[1].to_host, step[1].kind) == (h2, h3, "live")
    assert main[1].to_host == h2 and main[0] > step[0]
    assert step[1].reason is None  # it does not move again: an ordinary move
    assert step[1].id in main[1].depends_on
    assert [s.vm for s in plan.solver.step_aside] == [small]
    assert any("step-aside" in w.message and "small" in w.message for w in plan.warnings)
    # the oracle: one VM placed, and no plan is shorter
    r = oracle(inv, goal)
    assert r.complete and r.placed == 1
    assert plan.schedule_seconds == r.seconds
    # without step-asides nothing fits: the oracle agrees that the move is needed
    assert oracle(inv, goal, extra=0).placed == 0


def test_issue13_case11_move_pool_steps_aside() -> None:
    """big must leave pool A; in pool B it fits on hb1 only once x moves to hb2."""
    b = Builder()
    pa, pb = b.pool("A"), b.pool("B")
    ha = b.host(pa, "ha", memory_gib=64)
    hb1 = b.host(pb, "hb1", memory_gib=64)  # 62 for guests: x uses 24, 38 free
    hb2 = b.host(pb, "hb2", memory_gib=32)  # 30 free: x fits, big does not
    sra, srb = b.sr(pa, "a-nfs", size_gib=1000), b.sr(pb, "b-nfs", size_gib=1000)
    na, nb = b.network(pa, "mgmt", management=True), b.network(pb, "mgmt", management=True)
    b.vm(pa, "big", host=ha, memory_gib=40, disks=[(sra, 10)], networks=[na])
    b.vm(pb, "x", host=hb1, memory_gib=24, disks=[(srb, 10)], networks=[nb])
    inv = b.build()
    goal = MovePool((pa,), (pb,))
    big, x = inv.find("vm", "big"), inv.find("vm", "x")
    plan = _checked(inv, solve(inv, goal, time_limit=5))
    assert plan.unplaced == ()
    moves = _moves(plan)
    step = next((w, m) for w, m in moves if m.vm == x)
    main = next((w, m) for w, m in moves if m.vm == big)
    assert (step[1].from_host, step[1].to_host) == (hb1, hb2)
    assert (main[1].kind, main[1].to_host, main[1].to_pool) == ("storage", hb1, pb)
    assert main[0] > step[0]
    r = oracle(inv, goal)
    assert r.complete and r.placed == 1 and plan.schedule_seconds == r.seconds


def test_issue13_case11_retire_sr_steps_aside() -> None:
    """v's 60 GiB disk leaves the retired SR; the only SR its host sees (a) lacks the
    3 x 60 GiB until w's disk moves from a to b, an SR only h2 sees (v cannot go to h2:
    too little memory)."""
    b = Builder()
    p = b.pool("lab")
    h1 = b.host(p, "h1", memory_gib=64)
    h2 = b.host(p, "h2", memory_gib=16)
    old = b.sr(p, "old", size_gib=200)
    a = b.sr(p, "a", size_gib=200)  # w uses 40: 160 free < 180
    bb = b.sr(p, "b", size_gib=500, shared=False, host=h2)
    net = b.network(p, "mgmt", management=True)
    b.vm(p, "v", host=h1, memory_gib=40, disks=[(old, 60)], networks=[net])
    b.vm(
        p,
        "w",
        power_state="Halted",
        memory_gib=4,
        disks=[(a, 40)],
        disk_used_fraction=1.0,
        networks=[net],
    )
    inv = b.build()
    goal = RetireSR((old,))
    v, w = inv.find("vm", "v"), inv.find("vm", "w")
    plan = _checked(inv, solve(inv, goal, time_limit=5))
    assert plan.unplaced == ()
    moves = _moves(plan)
    step = next((k, m) for k, m in moves if m.vm == w)
    main = next((k, m) for k, m in moves if m.vm == v)
    assert step[1].kind == "move" and [(d.from_sr, d.to_sr) for d in step[1].disks] == [(a, bb)]
    assert main[1].kind == "storage" and [d.to_sr for d in main[1].disks] == [a]
    assert main[0] > step[0] and step[1].id in main[1].depends_on
    r = oracle(inv, goal)
    assert r.complete and r.placed == 1 and plan.schedule_seconds == r.seconds


def test_step_aside_leaves_a_plan_without_stuck_vms_alone() -> None:
    """Nothing unplaced for lack of room: the solver's plan comes back unchanged."""
    inv, goal, _ = _evacuate_case()
    plan = solve(inv, goal, time_limit=5)
    again = step_aside(
        inv,
        goal,
        plan_options(plan),
        plan,
        lambda *_: (_ for _ in ()).throw(AssertionError("no re-solve")),
    )
    assert again is plan


def test_step_aside_is_dropped_when_it_places_nobody() -> None:
    """big cannot fit anywhere even with every other VM gone: no step-aside is kept."""
    b = Builder()
    p = b.pool("lab")
    h1 = b.host(p, "h1", memory_gib=64)
    h2 = b.host(p, "h2", memory_gib=32)
    b.host(p, "h3", memory_gib=32)
    net = b.network(p, "mgmt", management=True)
    b.vm(p, "big", host=h1, memory_gib=40, networks=[net])
    b.vm(p, "small", host=h2, memory_gib=8, networks=[net])
    inv = b.build()
    goal = Evacuate((h1,))
    plan = _checked(inv, solve(inv, goal, time_limit=5))
    assert [u.vm for u in plan.unplaced] == [inv.find("vm", "big")]
    assert plan.solver.step_aside is None and plan.waves == ()


def test_apply_moves_the_vm_and_the_sr_space() -> None:
    inv, _, (_, h2, h3) = _evacuate_case()
    small = inv.vm_by_uuid[inv.find("vm", "small")]
    after = apply(inv, Migration("s", small.uuid, "live", h2, h3, small.pool, small.pool))
    assert after.vm_by_uuid[small.uuid].host == h3
    assert after.srs == inv.srs and after.digest is None


def plan_options(plan: Plan) -> PlanOptions:
    return plan.options


def test_issue13_case11_retire_sr_steps_aside_and_back() -> None:
    """v's 20 GiB disk must leave old for s1 (3 x 20 = 60 GiB, s1's whole size); w's disk
    on s1 steps aside onto old, the only other SR, and comes back once v has arrived:
    the step-aside breaks the goal for w for a while, so it is "temporary"."""
    b = Builder()
    p = b.pool("lab")
    h0 = b.host(p, "h0", memory_gib=64)
    old = b.sr(p, "old", size_gib=100)
    s1 = b.sr(p, "s1", size_gib=60)
    net = b.network(p, "mgmt", management=True)
    b.vm(p, "v", host=h0, memory_gib=4, disks=[(old, 20)], networks=[net])
    b.vm(p, "w", host=h0, memory_gib=4, disks=[(s1, 10)], networks=[net])
    inv = b.build()
    goal = RetireSR((old,))
    v, w = inv.find("vm", "v"), inv.find("vm", "w")
    plan = _checked(inv, solve(inv, goal, time_limit=5))
    assert plan.unplaced == ()
    trips = [
        (m.reason, [(d.from_sr, d.to_sr) for d in m.disks if d.from_sr != d.to_sr])
        for m in plan.migrations()
        if m.vm == w
    ]
    assert trips == [("temporary", [(s1, old)]), (None, [(old, s1)])]
    order = [m.vm for m in sorted(plan.migrations(), key=lambda m: m.start_s)]
    assert order == [w, v, w]
    r = oracle(inv, goal)
    assert r.complete and r.placed == 1 and plan.schedule_seconds == r.seconds


def test_issue13_case11_retire_sr_disks_one_at_a_time() -> None:
    """v's two 20 GiB disks leave old, which has 35 GiB free: the 2 x 40 GiB source
    reservation of both never fits, one disk's 2 x 20 fits once w's disk has left old.
    So: w, then one disk of v ("temporary": v moves again), then the other."""
    b = Builder()
    p = b.pool("lab")
    h = b.host(p, "h", memory_gib=64)
    old = b.sr(p, "old", size_gib=60)
    new = b.sr(p, "new", size_gib=150)
    net = b.network(p, "mgmt", management=True)
    b.vm(p, "v", host=h, memory_gib=2, disks=[(old, 20), (old, 20)], networks=[net])
    b.vm(p, "w", host=h, memory_gib=2, disks=[(old, 10)], networks=[net])
    inv = b.build()
    goal = RetireSR((old,))
    v, w = inv.find("vm", "v"), inv.find("vm", "w")
    plan = _checked(inv, solve(inv, goal, time_limit=5))
    assert plan.unplaced == ()
    migs = sorted(plan.migrations(), key=lambda m: m.start_s)
    assert [m.vm for m in migs] == [w, v, v]
    assert [m.reason for m in migs] == [None, "temporary", None]
    moved = [[d.to_sr for d in m.disks if d.from_sr != d.to_sr] for m in migs]
    assert moved == [[new], [new], [new]]
    assert migs[0].id in migs[1].depends_on
    r = oracle(inv, goal)
    assert r.complete and r.placed == 2 and plan.schedule_seconds == r.seconds
