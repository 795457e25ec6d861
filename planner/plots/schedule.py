"""The schedule figure (`gantt`): one bar per migration and host step, per source pool."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from planner.describe import describe_goal, hmm, migration_starts, name_of, scheduled_waves
from planner.inventory.model import Inventory
from planner.plan import Plan
from planner.plots.base import (
    KIND_COLOURS,
    KIND_LABELS,
    MAX_HEIGHT_IN,
    STEP_COLOUR,
    _Bar,
    _figure,
    _lanes,
    _left_out,
    _pick,
    _resolve_pools,
    _short,
    _text_colour,
    _time_axis,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WAVE_COLOUR = "#555555"  # wave-start lines and their labels
MAX_WAVE_LINES = 30  # more waves than this draw no wave lines (they would be a comb)


def _wave_starts(plan: Plan, starts: dict[str, int]) -> list[int]:
    return [
        min((starts[m.id] for m in w.migrations), default=0) for w in plan.waves if w.migrations
    ]


def _step_bars(plan: Plan, inv: Inventory | None) -> dict[str, list[_Bar]]:
    """Host steps that take time (an upgrade's `est_seconds`), by the host's pool."""
    out: dict[str, list[_Bar]] = {}
    for w in scheduled_waves(plan):
        for s in w.steps:
            if s.est_seconds <= 0 or inv is None or s.host not in inv.host_by_uuid:
                continue
            pool = inv.host_by_uuid[s.host].pool
            text = f"{s.kind.removeprefix('host-')} {name_of(inv, s.host)}"
            out.setdefault(pool, []).append(_Bar(s.start_s, s.est_seconds, STEP_COLOUR, text))
    return out


def _bars_by_pool(
    plan: Plan, inv: Inventory | None, starts: dict[str, int]
) -> dict[str, list[_Bar]]:
    """Every migration (by its source pool) and timed host step (by its host's pool)."""
    by_pool: dict[str, list[_Bar]] = {}
    for m in plan.migrations():
        vm = name_of(inv, m.vm)
        by_pool.setdefault(m.from_pool, []).append(
            _Bar(starts[m.id], m.est_seconds, KIND_COLOURS.get(m.kind, "grey"), vm)
        )
    for pool, bars in _step_bars(plan, inv).items():
        by_pool.setdefault(pool, []).extend(bars)
    return by_pool


def _gantt_axes(
    ax: Axes | None, shown: list[str], lanes: dict[str, list[list[_Bar]]], height: float
) -> tuple[Any, list[Axes]]:
    """The figure and one axes per shown pool (the given `ax` for every pool)."""
    if ax is not None:
        return ax.figure, [ax] * len(shown)
    fig = _figure(12, max(height, 2.6))
    if not shown:
        return fig, [fig.add_subplot()]
    ratios = [max(len(lanes[p]), 1) + 0.6 for p in shown]
    axes = list(
        fig.subplots(
            len(shown), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": ratios}
        )[:, 0]
    )
    return fig, axes


def _draw_rows(
    a: Axes,
    rows: list[list[_Bar]],
    offset: int,
    span: float,
    axes_in: float,
    named: bool,
    n_bars: int,
) -> None:
    """One pool's lanes of bars from row `offset`; bar names where `named` and they fit."""
    for i, row in enumerate(rows):
        y = offset + i
        # one collection per row: a campaign of 30,000 migrations draws in seconds
        a.broken_barh(
            [(b.start, b.seconds) for b in row],
            (y - 0.39, 0.78),
            facecolors=[b.colour for b in row],
            edgecolor="white",
            linewidth=0.5 if n_bars <= 2000 else 0,
        )
        if not named:
            continue
        for b in row:
            # a bar's name fits inside it when the bar is wide enough for ~6.5 pt a character
            width_in = b.seconds / span * axes_in
            if width_in > 0.09 * min(len(b.text), 14):
                a.text(
                    b.start + span * 0.004,
                    y,
                    _short(b.text, 14),
                    va="center",
                    ha="left",
                    fontsize=7,
                    color=_text_colour(b.colour),
                    clip_on=True,
                )


def _wave_lines(
    a: Axes, plan: Plan, starts: dict[str, int], span: float, axes_in: float, labelled_axes: bool
) -> None:
    """Dotted lines where waves start; their names on `labelled_axes` where there is room."""
    labelled = -span
    for k, t in enumerate(_wave_starts(plan, starts)):
        if k:
            a.axvline(t, color=WAVE_COLOUR, linestyle=":", linewidth=0.8, zorder=0)
        # name a wave where its label has room (~0.6 inch) after the previous one
        room = (t - labelled) / span * axes_in > 0.6
        if labelled_axes and len(plan.waves) > 1 and room:
            labelled = t
            a.text(
                t,
                1.0,
                f" wave {k + 1}",
                transform=a.get_xaxis_transform(),
                ha="left",
                va="bottom",
                fontsize=7,
                color=WAVE_COLOUR,
            )


def _gantt_title(
    plan: Plan, inv: Inventory | None, end: float, left_out: Sequence[str], picked: bool
) -> str:
    """Goal, migrations, waves, estimate, gap to the lower bound, and the pools left out."""
    n = sum(1 for _ in plan.migrations())
    secs = int(plan.estimate.seconds or end)
    bound = plan.bounds.seconds
    gap = ""
    if bound:
        gap = f", lower bound {hmm(bound)} ({100 * (secs - bound) / bound:.0f}% above)"
    title = (
        f"{describe_goal(plan.goal, inv)}: {n} migration{'s' * (n != 1)} in "
        f"{len(plan.waves)} wave{'s' * (len(plan.waves) != 1)}, {hmm(secs)} "
        f"estimated{gap}"
    )
    if left_out:
        title += _left_out(left_out, None if picked else "less migration time")
    return title


def _gantt_handles(plan: Plan, inv: Inventory | None) -> list[Any]:
    """Legend entries: the kinds drawn, host steps, wave starts."""
    from matplotlib.patches import Patch

    kinds = sorted({m.kind for m in plan.migrations()}, key=list(KIND_COLOURS).index)
    handles: list[Any] = [Patch(color=KIND_COLOURS[k], label=KIND_LABELS[k]) for k in kinds]
    if any(_step_bars(plan, inv).values()):
        handles.append(Patch(color=STEP_COLOUR, label="host step"))
    if 1 < len(plan.waves) <= MAX_WAVE_LINES:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color=WAVE_COLOUR, linestyle=":", label="wave start"))
    return handles


def _time_axes(axes: list[Axes], span: float, empty: bool) -> None:
    """Time ticks on every axes, labelled on the last; "nothing to migrate" when `empty`."""
    for a in axes:
        _time_axis(a, span, label=a is axes[-1])
        if a is not axes[-1]:
            a.tick_params(labelbottom=False)
    if empty:
        axes[0].text(
            0.5,
            0.5,
            "nothing to migrate",
            ha="center",
            va="center",
            transform=axes[0].transAxes,
            fontsize=12,
            color="#555555",
        )
        axes[0].set_yticks([])


def _title_and_legend(fig: Any, ax: Axes | None, title: str, handles: list[Any]) -> None:
    """The title and legend: over and under a figure of its own, beside a given `ax`."""
    if ax is None:
        fig.suptitle(title, fontsize=11)
        if handles:
            fig.legend(
                handles=handles,
                loc="outside lower center",
                ncol=len(handles),
                fontsize=8,
                frameon=False,
            )
    else:
        ax.set_title(title, fontsize=10, pad=14)  # above the wave labels
        if handles:
            ax.legend(
                handles=handles,
                loc="upper left",
                bbox_to_anchor=(1.01, 1),
                fontsize=8,
                frameon=False,
            )


def gantt(
    plan: Plan,
    inv: Inventory | None = None,
    *,
    pools: Iterable[str] | None = None,
    max_pools: int = 8,
    ax: Axes | None = None,
) -> Figure:
    """The plan's schedule: one panel per source pool, one bar per migration from its
    planned start for its estimated duration, coloured by kind; host steps in grey.

    Bars are packed into rows that never overlap, so a pool has as many rows as it runs
    migrations at once. Dotted lines mark where waves start (up to 30 waves). With more
    than `max_pools` source pools, the pools with the most migration time are drawn
    (the title names the others); `pools` (names or uuids) picks them.
    `ax` draws every pool on one given axes (rows stacked, pool names as tick labels).
    """
    starts = migration_starts(plan)
    by_pool = _bars_by_pool(plan, inv, starts)
    end = max((b.start + b.seconds for bs in by_pool.values() for b in bs), default=0)
    keys = sorted(by_pool, key=lambda p: name_of(inv, p))
    weight = {p: sum(b.seconds for b in by_pool[p]) for p in keys}
    shown, left_out = _pick(keys, weight, _resolve_pools(inv, pools), max_pools)
    lanes = {p: _lanes(by_pool[p]) for p in shown}

    n_rows = sum(len(v) for v in lanes.values())
    n_bars = sum(len(r) for v in lanes.values() for r in v)
    row_in = max(0.16, min(0.34, (MAX_HEIGHT_IN - 1.6 - 0.3 * len(shown)) / max(n_rows, 1)))
    fig, axes = _gantt_axes(ax, shown, lanes, 1.6 + 0.3 * len(shown) + row_in * n_rows)
    span = max(end, 60)
    axes_in = fig.get_size_inches()[0] * 0.85
    named = len(shown) <= 12 and n_rows <= 40
    offset = 0
    ticks: list[tuple[float, str]] = []
    for p, a in zip(shown, axes, strict=False):
        rows = lanes[p]
        _draw_rows(a, rows, offset, span, axes_in, named, n_bars)
        if ax is None:
            a.set_ylim(len(rows) - 0.5, -0.5)
            a.set_yticks([])
            a.set_ylabel(
                "from " + _short(name_of(inv, p), 18),
                rotation=0,
                ha="right",
                va="center",
                fontsize=9,
            )
        else:
            ticks.append((offset + (len(rows) - 1) / 2, name_of(inv, p)))
            offset += len(rows) + 1
        if len(plan.waves) <= MAX_WAVE_LINES and (ax is None or p == shown[0]):  # once per axes
            _wave_lines(a, plan, starts, span, axes_in, a is axes[0])
        a.grid(axis="x", color="#E6E6E6", linewidth=0.6, zorder=0)
        a.set_axisbelow(True)
    if ax is not None and ticks:
        ax.set_yticks([t for t, _ in ticks], [n for _, n in ticks])
        ax.set_ylim(offset - 1.5, -0.5)  # no gap after the last pool
    _time_axes(axes, span, empty=not shown)
    title = _gantt_title(
        plan,
        inv,
        end,
        [name_of(inv, p) for p in keys if p not in shown] if left_out else [],
        pools is not None,
    )
    _title_and_legend(fig, ax, title, _gantt_handles(plan, inv))
    return fig
