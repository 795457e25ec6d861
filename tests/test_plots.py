"""Plots: the figure objects carry what they claim (bars, lanes, labels), not pixels."""

from __future__ import annotations

from planner import plots, whatif
from planner.inventory.builder import GIB, Builder
from planner.plan import Migration, Plan, Wave, estimate_of


def _inv_and_plan():
    b = Builder()
    p = b.pool("lab")
    h1, h2 = b.host(p, "xs-01", memory_gib=32), b.host(p, "xs-02", memory_gib=32)
    q = b.pool("other")
    b.host(q, "o-01")
    v1 = b.vm(p, "a", host=h1, memory_gib=4)
    v2 = b.vm(p, "b", host=h1, memory_gib=8)
    inv = b.build()
    waves = (
        Wave(0, (
            Migration("m1", v1, "live", h1, h2, p, p, est_seconds=40),
            Migration("m2", v2, "live", h1, h2, p, p, est_seconds=70),
        )),
    )
    plan = Plan("x", {"kind": "evacuate", "hosts": [h1]}, {"max_per_pool": 3}, {}, {}, waves,
                estimate=estimate_of(waves))  # fmt: skip
    return inv, plan, (h1, h2)


def test_gantt_has_one_bar_per_migration_with_its_duration():
    inv, plan, _ = _inv_and_plan()
    fig = plots.gantt(plan, inv)
    ax = fig.axes[0]
    widths = sorted(round(p.get_width()) for p in ax.patches)
    assert widths == [40, 70]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["lab"]
    assert "70 s" in ax.get_title()


def test_host_memory_before_and_after():
    inv, plan, (h1, h2) = _inv_and_plan()
    after = plots.memory_after(inv, plan)
    assert (after[h1], after[h2]) == (0, 12 * GIB)
    fig = plots.host_memory(inv, plan, pool="lab")
    heights = [round(p.get_height()) for p in fig.axes[0].patches]
    assert heights == [12, 0, 0, 12]  # before xs-01, xs-02; after xs-01, xs-02


def test_n1_heatmap_grid():
    inv, _, _ = _inv_and_plan()
    df = whatif.n_minus_1(inv, processes=1)
    fig = plots.n1_heatmap(df)
    grid = fig.axes[0].images[0].get_array()
    assert grid.shape == (2, 2)  # pools x most hosts in a pool
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("xs-01") for t in texts)


def test_plan_renders_as_html_in_jupyter():
    _, plan, _ = _inv_and_plan()
    html = plan._repr_html_()
    assert html.count("<tr") == 3  # header + two migrations
    assert "evacuate" in html and "2 migrations in 1 waves, 70 s estimated" in html
    assert plan.summary().endswith("0 unplaced")
