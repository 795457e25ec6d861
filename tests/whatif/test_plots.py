"""Plots: the figure objects carry what they claim (bars where the schedule puts them,
labels, colours, sizes), they display in Jupyter, and their pixels are a picture."""

from __future__ import annotations

import dataclasses
import itertools
import re

import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from planner import plots, whatif
from planner.check import check_plan
from planner.goals import Evacuate
from planner.inventory.builder import GIB, Builder
from planner.inventory.generate import generate
from planner.inventory.io import digest, from_dict
from planner.options import PlanOptions
from planner.plan import Migration, Plan, Wave, estimate_of, lockstep
from planner.plan_header import Figures, SolverInfo
from tests.helpers.png import assert_not_blank


def _inv_and_plan():
    b = Builder()
    p = b.pool("lab")
    h1, h2 = b.host(p, "xs-01", memory_gib=32), b.host(p, "xs-02", memory_gib=32)
    q = b.pool("other")
    b.host(q, "o-01")
    v1 = b.vm(p, "a", host=h1, memory_gib=4)
    v2 = b.vm(p, "b", host=h1, memory_gib=8)
    v3 = b.vm(p, "c", host=h1, memory_gib=2)
    inv = b.build()
    waves = (
        Wave(
            0,
            (
                Migration("m1", v1, "live", h1, h2, p, p, est_seconds=400),
                Migration("m2", v2, "live", h1, h2, p, p, est_seconds=700),
            ),
        ),
        Wave(1, (Migration("m3", v3, "live", h1, h2, p, p, est_seconds=300),)),
    )
    waves = lockstep(waves)  # planned starts: wave 2 when wave 1 has ended
    plan = Plan(
        digest(inv),
        Evacuate((h1,)),
        PlanOptions(),
        SolverInfo(),
        Figures(seconds=900),
        waves,
        estimate=estimate_of(waves),
    )
    report = check_plan(inv, plan)
    assert report.ok, report.violations
    return inv, plan, (h1, h2)


@dataclasses.dataclass(frozen=True)
class _Bar:
    x: float
    width: float
    y: float  # the row's centre
    colour: tuple[float, float, float]


def _bars(fig) -> list[_Bar]:
    """Every schedule bar: the Gantt draws one collection of rectangles per row."""
    out = []
    for a in fig.axes:
        for coll in a.collections:
            colours = coll.get_facecolors()
            for i, path in enumerate(coll.get_paths()):
                v = path.vertices
                out.append(
                    _Bar(
                        float(v[:, 0].min()),
                        float(v[:, 0].max() - v[:, 0].min()),
                        float((v[:, 1].min() + v[:, 1].max()) / 2),
                        tuple(colours[i % len(colours)][:3]),
                    )
                )
    return out


def test_hmm_formats_hours_and_minutes():
    assert plots.hmm(0) == "0:00"
    assert plots.hmm(1703) == "0:28"
    assert plots.hmm(3 * 3600 + 5 * 60 + 29) == "3:05"
    assert plots.hmm(30 * 3600) == "30:00"  # not wrapped at a day
    assert plots.hmm(3725, with_seconds=True) == "1:02:05"
    assert plots.hmm(-90) == "-0:02"


def test_gantt_places_each_migration_at_its_wave_start_for_its_duration():
    inv, plan, _ = _inv_and_plan()
    fig = plots.gantt(plan, inv)
    spans = sorted((round(b.x), round(b.width)) for b in _bars(fig))
    # wave 2 starts when wave 1's longest migration (700 s) ends
    assert spans == [(0, 400), (0, 700), (700, 300)]
    assert _bars(fig)[0].colour == pytest.approx(to_rgb(plots.KIND_COLOURS["live"]))
    assert plots.migration_starts(plan) == {"m1": 0, "m2": 0, "m3": 700}
    fig.canvas.draw()
    ax = fig.axes[-1]
    lo, hi = ax.get_xlim()
    ticks = [t.get_text() for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi]
    assert ticks and all(re.fullmatch(r"\d+:\d\d", t) for t in ticks), ticks
    assert "h:mm" in ax.get_xlabel()
    title = fig._suptitle.get_text()
    assert "Evacuate xs-01" in title and "0:17 estimated" in title
    assert "lower bound 0:15 (11% above)" in title


def test_gantt_rows_never_overlap_and_legend_covers_no_axes():
    inv, plan, _ = _inv_and_plan()
    fig = plots.gantt(plan, inv)
    rows: dict[float, list[tuple[float, float]]] = {}
    for b in _bars(fig):
        rows.setdefault(round(b.y, 3), []).append((b.x, b.x + b.width))
    for spans in rows.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    assert not any(legend.overlaps(a.get_window_extent()) for a in fig.axes)


def test_gantt_of_an_empty_plan_says_so():
    inv, plan, _ = _inv_and_plan()
    empty = Plan(
        plan.inventory_digest,
        plan.goal,
        PlanOptions(),
        SolverInfo(),
        Figures(),
        (),
        estimate=estimate_of(()),
    )
    fig = plots.gantt(empty, inv)
    assert any("nothing to migrate" in t.get_text() for t in fig.axes[0].texts)


def test_host_memory_before_and_after_with_capacity_marks():
    inv, plan, (h1, h2) = _inv_and_plan()
    after = plots.memory_after(inv, plan)
    assert (after[h1], after[h2]) == (0, 14 * GIB)
    fig = plots.host_memory(inv, plan, pool="lab")
    ax = fig.axes[0]
    heights = [round(p.get_height()) for p in ax.patches]
    assert heights == [14, 0, 0, 14]  # before xs-01, xs-02; after xs-01, xs-02
    colours = {tuple(p.get_facecolor()[:3]) for p in ax.patches[2:]}
    assert colours == {to_rgb(plots.MEMORY_COLOURS["after"])}
    assert ax.get_ylabel() == "GiB committed" and "before and after" in fig._suptitle.get_text()
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    assert not any(legend.overlaps(a.get_window_extent()) for a in fig.axes)


def test_one_colour_meaning_per_family():
    kinds = set(plots.KIND_COLOURS.values())
    assert len(kinds) == len(plots.KIND_COLOURS)
    assert not kinds & set(plots.MEMORY_COLOURS.values())
    # the maps reuse a schedule colour only for the same meaning (storage)
    shared = kinds & set(plots.REASON_COLOURS.values())
    assert shared == {plots.KIND_COLOURS["storage"]} == {plots.REASON_COLOURS["storage"]}


def test_n1_heatmap_colours_cells_by_reason_class_with_readable_text():
    from planner.inventory import load, sample_path

    inv = load(sample_path())
    df = whatif.n_minus_1(inv, processes=1)
    df = pd.concat(
        [
            df,
            pd.DataFrame(
                [
                    {
                        "pool": "lab",
                        "hosts": "xs-09",
                        "vms": 5,
                        "unplaced": 3,
                        "reasons": "NO_CAPACITY:1, SR_NOT_ATTACHED:2",
                    },
                    {
                        "pool": "gone",
                        "hosts": "g-01",
                        "vms": 2,
                        "unplaced": 2,
                        "reasons": "NO_TARGET:2",
                    },
                ]
            ),
        ],
        ignore_index=True,
    )
    fig = plots.n1_heatmap(df)
    ax = fig.axes[0]
    classes = list(plots.REASON_COLOURS)
    grid = ax.images[0].get_array()
    assert grid.shape == (2, 6)  # pools x most hosts in a pool
    cell = {"xs-01": (0, 0), "xs-02": (0, 1), "xs-03": (0, 2), "xs-09": (0, 5), "g-01": (1, 0)}
    # the sample: xs-02's VMs are on its local SR; the others' lack room elsewhere
    want = {
        "xs-01": "all restart",
        "xs-02": "storage",
        "xs-03": "memory",
        "xs-09": "several",
        "g-01": "no host left",
    }
    for host, cls in want.items():
        assert classes[int(grid[cell[host]])] == cls, host
    by_host = {t.get_text().split("\n")[0]: t for t in ax.texts}
    assert "3/7 VMs" in by_host["xs-02"].get_text()
    assert "mem 1 sto 2" in by_host["xs-09"].get_text()
    for host, cls in want.items():
        assert _contrast(plots.REASON_COLOURS[cls], by_host[host].get_color()) >= 4.5, host
    assert "6 of 7 single failures" in ax.get_title()
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"all restart", "unplaced: memory", "unplaced: storage"} <= labels


def _contrast(a: str, b: str) -> float:
    def lum(c: str) -> float:
        def lin(x: float) -> float:
            return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

        r, g, bl = (lin(x) for x in to_rgb(c))
        return 0.2126 * r + 0.7152 * g + 0.0722 * bl

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_a_320_host_fleet_stays_slide_sized_and_names_what_it_left_out():
    big = from_dict(generate(8, 40, 40, seed=1))
    assert len(big.hosts) == 320
    fig = plots.host_memory(big)
    w, h = fig.get_size_inches()
    assert w <= plots.MAX_WIDTH_IN and h <= plots.MAX_HEIGHT_IN
    assert len(fig.axes) == 6 and "not shown" in fig._suptitle.get_text()
    assert "pool-07" in fig._suptitle.get_text()
    one = plots.host_memory(big, pools=["pool-07"])
    assert [a.get_title(loc="left") for a in one.axes] == ["pool pool-07"]
    split = plots.host_memory(big, pools=["pool-07"], hosts_per_panel=16)
    assert [a.get_title(loc="left") for a in split.axes] == [
        f"pool pool-07 (hosts {r} of 40)" for r in ("1-16", "17-32", "33-40")
    ]
    assert len({a.get_xlim() for a in split.axes}) == 1  # same bar width on every panel
    rows = [
        {
            "pool": f"pool-{p:02d}",
            "hosts": f"p{p:02d}-xs-{i:02d}",
            "vms": 9,
            "unplaced": int(i % 3 == 0),
            "reasons": "NO_CAPACITY:1" if i % 3 == 0 else "",
        }
        for p in range(8)
        for i in range(40)
    ]
    heat = plots.n1_heatmap(pd.DataFrame(rows))
    w, h = heat.get_size_inches()
    assert w <= plots.MAX_WIDTH_IN and h <= plots.MAX_HEIGHT_IN
    assert heat.axes[0].images[0].get_array().shape[1] == 12  # 40 hosts wrap at 12
    assert "not shown (fewer failing hosts)" in heat.axes[0].get_title()
    picked = plots.n1_heatmap(pd.DataFrame(rows), pools=["pool-03"])
    assert picked.axes[0].get_yticklabels()[0].get_text() == "pool-03"
    assert "the pools picked; not shown: pool-00" in picked.axes[0].get_title()


def test_figures_display_in_jupyter_as_png_and_are_not_blank():
    from IPython.core.interactiveshell import InteractiveShell

    inv, plan, _ = _inv_and_plan()
    shell = InteractiveShell.instance()
    for fig in (
        plots.gantt(plan, inv),
        plots.host_memory(inv, plan),
        plots.n1_heatmap(whatif.n_minus_1(inv, processes=1)),
    ):
        data, _ = shell.display_formatter.format(fig)
        assert "image/png" in data
        png = data["image/png"]
        png = png if isinstance(png, bytes) else __import__("base64").b64decode(png)
        assert png.startswith(b"\x89PNG")
        assert_not_blank(png)


def test_plan_renders_as_html_in_jupyter():
    _, plan, _ = _inv_and_plan()
    html = plan._repr_html_()
    assert html.count("<tr") == 4  # header + three migrations
    assert "evacuate" in html and "3 migrations, schedule" in html
    assert "lock-step 2 waves" in html
    assert plan.summary().endswith("0 unplaced")


def test_the_blank_check_rejects_an_empty_canvas():
    blank = plots.png_bytes(plots.PlannerFigure(figsize=(4, 3)))
    with pytest.raises(AssertionError):
        assert_not_blank(blank)


def test_gantt_follows_the_planned_starts_of_a_flow_schedule_and_derives_v1_ones():
    from planner.plan import from_dict, to_dict

    inv, plan, _ = _inv_and_plan()
    # flow mode: m3 starts when m1 has ended (400 s), not when the whole wave has
    w0, w1 = plan.waves
    m3 = dataclasses.replace(w1.migrations[0], start_s=400)
    waves = (w0, dataclasses.replace(w1, migrations=(m3,)))
    flow = dataclasses.replace(plan, waves=waves, estimate=estimate_of(waves))
    assert check_plan(inv, flow).ok, check_plan(inv, flow).violations
    spans = sorted((round(b.x), round(b.width)) for b in _bars(plots.gantt(flow, inv)))
    assert spans == [(0, 400), (0, 700), (400, 300)]
    assert "0:12 estimated" in plots.gantt(flow, inv)._suptitle.get_text()
    # a v1 file has no starts: the waves run in lock step
    doc = to_dict(flow)
    doc["version"] = 1
    for w in doc["waves"]:
        for m in w["migrations"]:
            m.pop("start_s", None)
    v1 = from_dict(doc)
    assert plots.migration_starts(v1) == {"m1": 0, "m2": 0, "m3": 700}


def test_gantt_draws_host_steps_that_take_time():

    from planner.plan import Step

    inv, plan, (h1, _) = _inv_and_plan()
    last = plan.waves[-1]
    steps = (
        Step("host-disable", h1, "before"),
        Step("host-upgrade", h1, "after", "8.4.1", est_seconds=1800),
    )
    waves = lockstep((*plan.waves[:-1], dataclasses.replace(last, steps=steps)))
    upgraded = dataclasses.replace(plan, waves=waves, estimate=estimate_of(waves))
    report = check_plan(inv, upgraded)
    assert report.ok, report.violations
    fig = plots.gantt(upgraded, inv)
    grey = [b for b in _bars(fig) if b.colour == pytest.approx(to_rgb(plots.STEP_COLOUR))]
    assert [(round(b.x), round(b.width)) for b in grey] == [(1000, 1800)]
    assert "host step" in {t.get_text() for t in fig.legends[0].get_texts()}


def test_empty_inputs_say_so_instead_of_failing():
    fig = plots.n1_heatmap(pd.DataFrame(columns=whatif.COLUMNS))
    assert any("no failure scenarios" in t.get_text() for t in fig.axes[0].texts)
    assert plots.png_bytes(fig).startswith(b"\x89PNG")
