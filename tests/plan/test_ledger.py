"""The capacity ledger's numbers-only core (planner/ledger.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from planner.goals import RetireSR
from planner.ledger import Ledger, Shortfall, merge, negate, slot_capacities


def test_fits_apply_undo_and_shortfalls() -> None:
    led = Ledger({"h1": 10, "sr": 100}, {"h1": 4})
    start = merge([("h1", 5), ("sr", 30), ("sr", 30)])
    assert start == (("h1", 5), ("sr", 60))
    assert led.fits(start) and led.shortfalls(start) == ()
    led.apply(start)
    assert led.free("h1") == 1 and led.free("sr") == 40
    assert not led.fits(start)
    assert led.shortfalls(start) == (Shortfall("h1", 5, 1), Shortfall("sr", 60, 40))
    led.undo(start)
    assert led.free("h1") == 6 and led.free("sr") == 100


def test_lowering_never_blocks_and_unlimited_keys() -> None:
    led = Ledger({"h": 1}, {"h": 5})  # overcommitted already
    assert led.fits((("h", -2),)) and led.fits((("h", 0),))
    assert not led.fits((("h", 1),))
    assert led.fits((("other", 10**15),))  # no capacity: no limit
    assert led.free("other") is None


def test_slots_and_best_free() -> None:
    led = Ledger()
    slot_capacities(led, [("pool", "p")], 2)
    one = (("pool", "p"), 1)
    d = (one,)
    led.apply(d)
    led.apply(d)
    assert not led.fits(d)
    led.apply(negate(d))
    assert led.fits(d)
    led2 = Ledger({"a": 5, "b": 9}, {"b": 8})
    assert led2.best_free(["a", "b"]) == 5
    assert led2.best_free([]) is None
    assert led2.best_free(["a", "zz"]) is None


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(-5, 9)), max_size=12),
    st.dictionaries(st.sampled_from("abc"), st.integers(0, 20)),
)
def test_fits_agrees_with_applying(pairs: list[tuple[str, int]], caps: dict[str, int]) -> None:
    """fits(delta) iff applying it leaves every raised key within capacity."""
    led = Ledger(caps)
    delta = merge(pairs)
    ok = led.fits(delta)
    led.apply(delta)
    raised = {k for k, n in delta if n > 0}
    within = all(led.used[k] <= caps[k] for k in raised if k in caps)
    assert ok == within
    led.undo(delta)
    assert all(v == 0 for v in led.used.values())


def test_suspend_image_stays_where_xapi_leaves_it():
    # XAPI keeps a Suspended VM's memory image on its SR when the VM stays in its pool on
    # a host that sees that SR: the image's bytes do not leave it, so a later move onto
    # that SR that fits only if they had left is refused (it was accepted before)
    from planner.check import check_plan
    from planner.inventory.builder import Builder
    from planner.rules import codes
    from tests.helpers.plans import mig, plan_of

    b = Builder()
    p = b.pool("a")
    a1 = b.host(p, "a1")
    b.host(p, "a2")
    old, new = b.sr(p, "old"), b.sr(p, "new")
    img = b.sr(p, "img", size_gib=100)
    net = b.network(p, "vm-net")
    b.vm(
        p,
        "s",
        power_state="Suspended",
        disks=[(old, 10)],
        networks=[net],
        suspend_sr=img,
        suspend_gib=40,
    )
    b.vm(p, "h", power_state="Halted", disks=[(old, 30)], networks=[net])
    inv = b.build()
    goal = RetireSR((old,))
    first = mig(inv, "m1", "s", to_host=a1, to_sr=new, kind="storage")
    ok = plan_of(inv, [[first], [mig(inv, "m2", "h", to_sr=new)]], goal)
    assert check_plan(inv, ok).ok, check_plan(inv, ok).lines()
    # 3 x 30 GiB = 90 GiB on img: only 60 GiB are free while the image stays there
    bad = plan_of(inv, [[first], [mig(inv, "m2", "h", to_sr=img)]], goal)
    assert check_plan(inv, bad).codes() == {codes.SR_SPACE}
