"""Pictures of plans and sweeps for a slide or a report (matplotlib, `notebook` extra).

Each function returns a `PlannerFigure` (a matplotlib `Figure`) and never touches
pyplot, so nothing piles up in pyplot's global state in a loop. The figure shows itself
in Jupyter (it has a `_repr_png_`), saves with `savefig` and embeds with `png_bytes`.

Conventions, shared by every figure so a reader learns them once:
- Times are h:mm from the campaign's start (h:mm:ss when the whole span is under ten
  minutes); memory is GiB (2**30 bytes).
- One colour meaning per figure family, from the palettes below: a migration kind is
  the same colour in every schedule, "after" is the same colour in every memory chart,
  and a reason class is the same colour in every N-1 map. Schedules and maps share the
  storage orange on purpose: it means storage in both.
- Legends sit outside the plotting area, so they hide no bar or mark.
- Large fleets are faceted per pool and capped in size (`MAX_WIDTH_IN`, `MAX_HEIGHT_IN`):
  the figures show the pools that matter most and say in their title which they left
  out; `pools=` picks others.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from matplotlib.figure import Figure

from planner.describe import describe_goal, hmm, migration_starts, name_of, scheduled_waves
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan
from planner.rules.memory import host_capacity, memory_after

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

__all__ = [
    "KIND_COLOURS", "MEMORY_COLOURS", "REASON_COLOURS", "PlannerFigure", "describe_goal",
    "gantt", "hmm", "host_memory", "memory_after", "migration_starts", "n1_heatmap",
    "png_bytes",
]  # fmt: skip

GIB = 2**30
MAX_WIDTH_IN = 15.0  # inches: a 16:9 slide at 100 dpi is about 13-16 inches wide
MAX_HEIGHT_IN = 14.0
DPI = 100

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
KIND_COLOURS = {"live": "#0072B2", "storage": "#E69F00", "move": "#009E73"}
KIND_LABELS = {"live": "live migration", "storage": "storage migration",
               "move": "disk move (halted VM)"}
STEP_COLOUR = "#8C8C8C"  # host steps (disable, upgrade, enable) in a schedule
MEMORY_COLOURS = {"before": "#C8C8C8", "after": "#5E3C99", "capacity": "#000000"}
# N-1 map: what keeps a failed host's VMs from restarting, by class of first reason
REASON_COLOURS = {
    "all restart": "#D9F0D3",
    "memory": "#C0392B",
    "storage": "#E69F00",
    "network": "#CC79A7",
    "several": "#6A1B4D",
    "no host left": "#2B2B2B",
    "other": "#8C8C8C",
}
REASON_CLASSES = {
    "NO_CAPACITY": "memory", "MEMORY": "memory", "HALTED_MEMORY": "memory",
    "SR_NOT_ATTACHED": "storage", "SR_SPACE": "storage", "SR_WRONG_POOL": "storage",
    "NETWORK_NOT_ATTACHED": "network", "NETWORK_UNMAPPED": "network",
    "NO_TARGET": "no host left",
}  # fmt: skip


class PlannerFigure(Figure):
    """A matplotlib Figure that Jupyter displays as a PNG without pyplot.

    Jupyter's inline backend registers its PNG formatter only once pyplot is imported;
    `_repr_png_` makes the figure display in any case, and exactly once.
    """

    def _repr_png_(self) -> bytes:
        return png_bytes(self)


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes (tight bounding box, white background)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def _figure(width: float, height: float) -> PlannerFigure:
    size = (min(width, MAX_WIDTH_IN), min(height, MAX_HEIGHT_IN))
    return PlannerFigure(figsize=size, dpi=DPI, layout="constrained")


def _figure_of(ax: Axes) -> Figure:
    """The figure a caller's `ax` draws on. Callers hand axes of top-level figures
    (matplotlib types `ax.figure` as Figure or SubFigure)."""
    return cast(Figure, ax.figure)


# ---------------------------------------------------------------- time


_TICK_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
               86400)  # fmt: skip


def _time_axis(ax: Axes, span: float, *, label: bool = True) -> None:
    """h:mm ticks at a round step (minutes, hours) giving at most ten ticks over `span`."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    span = max(span, 1.0)
    short = span < 600
    step = next((s for s in _TICK_STEPS if span / s <= 10 and (short or s >= 60)), 86400)
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: hmm(x, with_seconds=short)))
    ax.set_xlim(0, span * 1.02)
    if label:
        unit = "h:mm:ss" if short else "h:mm"
        ax.set_xlabel(f"time from the campaign's start ({unit}, estimated)")


# ---------------------------------------------------------------- text helpers


def _short(text: str, n: int) -> str:
    """`text` cut to `n` characters with an ellipsis in the middle (names end in digits)."""
    if len(text) <= n:
        return text
    head = (n - 1) // 2
    return text[:head] + "…" + text[-(n - 1 - head):]


# ---------------------------------------------------------------- schedule


def _wave_starts(plan: Plan, starts: dict[str, int]) -> list[int]:
    return [min((starts[m.id] for m in w.migrations), default=0) for w in plan.waves
            if w.migrations]  # fmt: skip


@dataclass(frozen=True)
class _Bar:
    start: float
    seconds: float
    colour: str
    text: str


def _lanes(bars: Sequence[_Bar]) -> list[list[_Bar]]:
    """Bars packed into as few rows as never overlap (first free row, by start)."""
    rows: list[list[_Bar]] = []
    ends: list[float] = []
    for b in sorted(bars, key=lambda b: (b.start, -b.seconds)):
        for i, e in enumerate(ends):
            if e <= b.start:
                rows[i].append(b)
                ends[i] = b.start + b.seconds
                break
        else:
            rows.append([b])
            ends.append(b.start + b.seconds)
    return rows


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


def _text_colour(colour: str) -> str:
    """Black or white, whichever reads better on `colour` (WCAG relative luminance)."""
    from matplotlib.colors import to_rgb

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in to_rgb(colour))
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # contrast with black (lum+0.05)/0.05 vs with white 1.05/(lum+0.05): equal at ~0.179
    return "black" if lum > 0.179 else "white"


def _pick(keys: list[str], weight: dict[str, float], wanted: Iterable[str] | None,
          most: int) -> tuple[list[str], int]:  # fmt: skip
    """The keys to draw: `wanted` ones (in key order), else the `most` heaviest; and how
    many were left out."""
    if wanted is not None:
        want = set(wanted)
        chosen = [k for k in keys if k in want]
    else:
        top = set(sorted(keys, key=lambda k: -weight.get(k, 0))[:most])
        chosen = [k for k in keys if k in top]
    return chosen, len(keys) - len(chosen)


def _left_out(names: Sequence[str], how: str | None) -> str:
    """The title line naming what a figure left out: `how` it chose, or None when the
    caller picked the pools."""
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    if how is None:
        return f"\nthe pools picked; not shown: {shown}"
    return f"\nnot shown ({how}): {shown}; pick pools with pools="


def _resolve_pools(inv: Inventory | None, pools: Iterable[str] | None) -> list[str] | None:
    if pools is None:
        return None
    if isinstance(pools, str):
        pools = [pools]
    return [inv.find("pool", p) if inv is not None else p for p in pools]


def gantt(plan: Plan, inv: Inventory | None = None, *, pools: Iterable[str] | None = None,
          max_pools: int = 8, ax: Axes | None = None) -> Figure:  # fmt: skip
    """The plan's schedule: one panel per source pool, one bar per migration from its
    planned start for its estimated duration, coloured by kind; host steps in grey.

    Bars are packed into rows that never overlap, so a pool has as many rows as it runs
    migrations at once. Dotted lines mark where waves start (up to 30 waves). With more
    than `max_pools` source pools, the pools with the most migration time are drawn
    (the title names the others); `pools` (names or uuids) picks them.
    `ax` draws every pool on one given axes (rows stacked, pool names as tick labels).
    """
    from matplotlib.patches import Patch

    starts = migration_starts(plan)
    by_pool: dict[str, list[_Bar]] = {}
    for m in plan.migrations():
        vm = name_of(inv, m.vm)
        by_pool.setdefault(m.from_pool, []).append(
            _Bar(starts[m.id], m.est_seconds, KIND_COLOURS.get(m.kind, "grey"), vm))
    for pool, bars in _step_bars(plan, inv).items():
        by_pool.setdefault(pool, []).extend(bars)
    end = max((b.start + b.seconds for bs in by_pool.values() for b in bs), default=0)
    keys = sorted(by_pool, key=lambda p: name_of(inv, p))
    weight = {p: sum(b.seconds for b in by_pool[p]) for p in keys}
    shown, left_out = _pick(keys, weight, _resolve_pools(inv, pools), max_pools)
    lanes = {p: _lanes(by_pool[p]) for p in shown}

    n_rows = sum(len(v) for v in lanes.values())
    n_bars = sum(len(r) for v in lanes.values() for r in v)
    row_in = max(0.16, min(0.34, (MAX_HEIGHT_IN - 1.6 - 0.3 * len(shown)) / max(n_rows, 1)))
    height = 1.6 + 0.3 * len(shown) + row_in * n_rows
    if ax is not None:
        fig = _figure_of(ax)
        axes = [ax] * len(shown)
    else:
        fig = _figure(12, max(height, 2.6))
        if shown:
            ratios = [max(len(lanes[p]), 1) + 0.6 for p in shown]
            axes = list(fig.subplots(len(shown), 1, sharex=True, squeeze=False,
                                     gridspec_kw={"height_ratios": ratios})[:, 0])  # fmt: skip
        else:
            axes = [fig.add_subplot()]
    span = max(end, 60)
    # a bar's name fits inside it when the bar is wide enough for ~6.5 pt per character
    axes_in = fig.get_size_inches()[0] * 0.85
    offset = 0
    ticks: list[tuple[float, str]] = []
    for p, a in zip(shown, axes, strict=False):
        rows = lanes[p]
        for i, row in enumerate(rows):
            y = offset + i
            # one collection per row: a campaign of 30,000 migrations draws in seconds
            a.broken_barh([(b.start, b.seconds) for b in row], (y - 0.39, 0.78),
                          facecolors=[b.colour for b in row], edgecolor="white",
                          linewidth=0.5 if n_bars <= 2000 else 0)  # fmt: skip
            for b in row:
                width_in = b.seconds / span * axes_in
                if len(shown) <= 12 and n_rows <= 40 and width_in > 0.09 * min(len(b.text), 14):
                    a.text(b.start + span * 0.004, y, _short(b.text, 14), va="center",
                           ha="left", fontsize=7, color=_text_colour(b.colour), clip_on=True)
        if ax is None:
            a.set_ylim(len(rows) - 0.5, -0.5)
            a.set_yticks([])
            a.set_ylabel("from " + _short(name_of(inv, p), 18), rotation=0, ha="right", va="center",
                         fontsize=9)  # fmt: skip
        else:
            ticks.append((offset + (len(rows) - 1) / 2, name_of(inv, p)))
            offset += len(rows) + 1
        if len(plan.waves) <= 30 and (ax is None or p == shown[0]):  # once per axes
            labelled = -span
            for k, t in enumerate(_wave_starts(plan, starts)):
                if k:
                    a.axvline(t, color="#555555", linestyle=":", linewidth=0.8, zorder=0)
                # name a wave where its label has room (~0.6 inch) after the previous one
                room = (t - labelled) / span * axes_in > 0.6
                if a is axes[0] and len(plan.waves) > 1 and room:
                    labelled = t
                    a.text(t, 1.0, f" wave {k + 1}", transform=a.get_xaxis_transform(),
                           ha="left", va="bottom", fontsize=7, color="#555555")  # fmt: skip
        a.grid(axis="x", color="#E6E6E6", linewidth=0.6, zorder=0)
        a.set_axisbelow(True)
    if ax is not None and ticks:
        ax.set_yticks([t for t, _ in ticks], [n for _, n in ticks])
        ax.set_ylim(offset - 1.5, -0.5)  # no gap after the last pool
    for a in axes:
        _time_axis(a, span, label=a is axes[-1])
        if a is not axes[-1]:
            a.tick_params(labelbottom=False)
    if not shown:
        axes[0].text(0.5, 0.5, "nothing to migrate", ha="center", va="center",
                     transform=axes[0].transAxes, fontsize=12, color="#555555")  # fmt: skip
        axes[0].set_yticks([])

    n = sum(1 for _ in plan.migrations())
    secs = int(plan.estimate.get("seconds", end) or end)
    bound = plan.bounds.get("seconds")
    gap = ""
    if bound:
        gap = f", lower bound {hmm(bound)} ({100 * (secs - bound) / bound:.0f}% above)"
    title = (f"{describe_goal(plan.goal, inv)}: {n} migration{'s' * (n != 1)} in "
             f"{len(plan.waves)} wave{'s' * (len(plan.waves) != 1)}, {hmm(secs)} "
             f"estimated{gap}")  # fmt: skip
    if left_out:
        title += _left_out([name_of(inv, p) for p in keys if p not in shown],
                           None if pools is not None else "less migration time")  # fmt: skip
    kinds = sorted({m.kind for m in plan.migrations()}, key=list(KIND_COLOURS).index)
    handles: list[Artist] = [Patch(color=KIND_COLOURS[k], label=KIND_LABELS[k]) for k in kinds]
    if any(_step_bars(plan, inv).values()):
        handles.append(Patch(color=STEP_COLOUR, label="host step"))
    if len(plan.waves) <= 30 and len(plan.waves) > 1:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="#555555", linestyle=":", label="wave start"))
    if ax is None:
        fig.suptitle(title, fontsize=11)
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncol=len(handles),
                       fontsize=8, frameon=False)  # fmt: skip
    else:
        ax.set_title(title, fontsize=10, pad=14)  # above the wave labels
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1),
                      fontsize=8, frameon=False)  # fmt: skip
    return fig


# ---------------------------------------------------------------- memory


def host_memory(inv: Inventory, plan: Plan | None = None, *, pool: str | None = None,
                pools: Iterable[str] | None = None, max_panels: int = 6,
                hosts_per_panel: int = 40, ax: Axes | None = None) -> Figure:  # fmt: skip
    """Committed memory per host (GiB) before and after `plan`, against each host's
    capacity (total - overhead - headroom), one panel per pool.

    Without `pool`/`pools` the pools the plan touches are drawn (all pools without a
    plan); a pool of more than `hosts_per_panel` hosts continues on the next panel, and
    at most `max_panels` panels are drawn, in pool order (the title names the pools left
    out). `ax` draws one pool (or the first chosen) on a given axes.
    """
    import numpy as np

    opts = PlanOptions.from_json(plan.options) if plan else PlanOptions()
    before = memory_after(inv, None, opts)
    after = memory_after(inv, plan, opts) if plan else before
    keys = [p.uuid for p in inv.pools]
    wanted = _resolve_pools(inv, [pool] if pool is not None else pools)
    if wanted is None and plan is not None:
        touched = {m.from_pool for m in plan.migrations()} | {m.to_pool for m in plan.migrations()}
        wanted = [p for p in keys if p in touched] or None
    chosen = [p for p in keys if wanted is None or p in set(wanted)]
    panels: list[tuple[str, list[Any], str]] = []  # pool, hosts, which part
    for p in chosen:
        hosts = inv.hosts_in_pool.get(p, [])
        for i in range(0, max(len(hosts), 1), hosts_per_panel):
            part = f" (hosts {i + 1}-{min(i + hosts_per_panel, len(hosts))} of {len(hosts)})"
            panels.append((p, list(hosts[i:i + hosts_per_panel]),
                           part if len(hosts) > hosts_per_panel else ""))  # fmt: skip
    keep = max_panels if ax is None else 1
    drawn = {q for q, _, _ in panels[:keep]}
    left_out = [inv.label(p) + (" in part" if p in drawn else "")
                for p in dict.fromkeys(p for p, _, _ in panels[keep:])]  # fmt: skip
    panels = panels[:keep]
    widest = max((len(h) for _, h, _ in panels), default=1)
    # a few small pools side by side (a slide is wide), else one pool under the other
    side = 1 < len(panels) <= 4 and sum(len(h) for _, h, _ in panels) <= 24
    if ax is not None:
        fig, axes = _figure_of(ax), [ax]
    elif side:
        total = sum(max(len(h), 3) for _, h, _ in panels)
        fig = _figure(max(6.0, 1.2 + 0.7 * total + 0.8 * len(panels)), 4.2)
        axes = list(fig.subplots(1, len(panels), sharey=True, squeeze=False,
                                 width_ratios=[max(len(h), 3) for _, h, _ in panels])[0])
    else:
        fig = _figure(max(6.0, 1.4 + 0.3 * widest), 0.6 + 2.9 * len(panels))
        axes = list(fig.subplots(len(panels), 1, squeeze=False)[:, 0]) if panels else \
            [fig.add_subplot()]  # fmt: skip
    top = max([h.memory_total_bytes / GIB for _, hs, _ in panels for h in hs] or [1.0])
    # every panel of a stacked figure has the same bar width and label size
    slots = max(widest if not side else 0, 2)
    fs = 9 if widest <= 20 else 7
    for (p, hosts, part), a in zip(panels, axes, strict=False):
        x = np.arange(len(hosts))
        width = 0.4 if plan is not None else 0.7
        a.bar(x - (0.2 if plan is not None else 0), [before[h.uuid] / GIB for h in hosts],
              width, color=MEMORY_COLOURS["before"], label="before the plan"
              if plan is not None else "committed now")  # fmt: skip
        if plan is not None:
            a.bar(x + 0.2, [after[h.uuid] / GIB for h in hosts], width,
                  color=MEMORY_COLOURS["after"], label="after the plan")  # fmt: skip
        caps = [host_capacity(h, opts.headroom_fraction) / GIB for h in hosts]
        a.hlines(caps, x - 0.45, x + 0.45, color=MEMORY_COLOURS["capacity"], linewidth=1.6,
                 label="capacity (total - overhead - headroom)", zorder=3)  # fmt: skip
        a.set_xticks(x, [_short(h.name, 16) for h in hosts], rotation=45 if len(hosts) > 8
                     else 0, ha="right" if len(hosts) > 8 else "center", fontsize=fs)  # fmt: skip
        a.set_xlim(-0.6, max(len(hosts), slots) - 0.4)
        a.set_ylim(0, top * 1.05)
        if a is axes[0] or not side:
            a.set_ylabel("GiB committed")
        if ax is None:  # on a given axes the pool goes into the one title
            a.set_title(f"pool {inv.label(p)}{part}", fontsize=10, loc="left")
        a.grid(axis="y", color="#E6E6E6", linewidth=0.6)
        a.set_axisbelow(True)
    what = "before and after the plan" if plan is not None else "now"
    title = f"Committed memory per host, {what}"
    if plan is not None:
        title += f" ({describe_goal(plan.goal, inv)})"
    if left_out:
        title += _left_out(left_out, f"at most {keep} panels")
    handles, labels = axes[0].get_legend_handles_labels()
    if ax is None:
        fig.suptitle(title, fontsize=11)
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8,
                   frameon=False)  # fmt: skip
    else:
        pool_name = f": pool {inv.label(panels[0][0])}" if panels else ""
        ax.set_title(title + pool_name, fontsize=10)
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
                  frameon=False)  # fmt: skip
    return fig


# ---------------------------------------------------------------- N-1


def _reason_counts(text: Any) -> dict[str, int]:
    """"NO_CAPACITY:2, SR_NOT_ATTACHED:1" -> {"memory": 2, "storage": 1}."""
    out: dict[str, int] = {}
    if not isinstance(text, str):
        return out
    for part in text.split(","):
        code, _, n = part.strip().partition(":")
        if code:
            cls = REASON_CLASSES.get(code, "other")
            out[cls] = out.get(cls, 0) + (int(n) if n.isdigit() else 1)
    return out


def n1_heatmap(df: pd.DataFrame, *, pools: Iterable[str] | None = None, max_cols: int = 12,
               max_rows: int = 24, ax: Axes | None = None) -> Figure:  # fmt: skip
    """An N-1 sweep as a grid: one cell per failed host, one row of cells per pool.

    A cell's colour is why its VMs cannot all restart (the class of each unplaced VM's
    first reason: memory, storage, network, no host left; "several" when more than one
    class), pale green when they all can. Its text is the host and "unplaced/affected
    VMs", with the classes' counts when there are several. `df` is what
    `planner.whatif.n_minus_1` returns. A pool of more than `max_cols` hosts wraps onto
    more rows; beyond `max_rows` rows the pools with the most failing hosts are drawn
    (the title says how many were left out); `pools` (names, as in the frame) picks them.
    """
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    classes = list(REASON_COLOURS)
    cells: dict[str, list[tuple[str, str, str]]] = {}  # pool -> (host, class, text)
    bad: dict[str, float] = {}
    for _, r in df.iterrows():
        counts = _reason_counts(r.get("reasons"))
        unplaced = int(r.get("unplaced") or 0)
        vms = int(r.get("vms") or 0)
        if unplaced == 0:
            cls = "all restart"
        elif len(counts) == 1:
            cls = next(iter(counts))
        else:
            cls = "several" if counts else "other"
        text = f"{_short(str(r['hosts']), 14)}\n{unplaced}/{vms} VMs"
        if len(counts) > 1:
            text += "\n" + " ".join(f"{k[:3]} {n}" for k, n in sorted(counts.items()))
        cells.setdefault(str(r["pool"]), []).append((str(r["hosts"]), cls, text))
        bad[str(r["pool"])] = bad.get(str(r["pool"]), 0) + (unplaced > 0)
    keys = list(cells)
    rows_of = {p: math.ceil(len(cells[p]) / max_cols) for p in keys}
    if pools is not None:
        shown, left_out = _pick(keys, bad, [pools] if isinstance(pools, str) else pools, 0)
    else:  # worst pools first until the rows run out, then in the frame's order
        order = sorted(keys, key=lambda p: -bad[p])
        take: set[str] = set()
        used = 0
        for p in order:
            if used + rows_of[p] > max_rows and take:
                break
            take.add(p)
            used += rows_of[p]
        shown = [p for p in keys if p in take]
        left_out = len(keys) - len(shown)
    rows: list[tuple[str, list[tuple[str, str, str]]]] = []
    for p in shown:
        for i in range(0, len(cells[p]), max_cols):
            rows.append((p if i == 0 else "", cells[p][i:i + max_cols]))
    ncols = max((len(c) for _, c in rows), default=1)
    grid = np.full((max(len(rows), 1), ncols), np.nan)
    for i, (_, row) in enumerate(rows):
        for j, (_, cls, _) in enumerate(row):
            grid[i, j] = classes.index(cls)
    given = ax is not None
    if ax is not None:
        fig = _figure_of(ax)
    else:
        fig = _figure(2.2 + 1.15 * ncols, 1.9 + 0.62 * max(len(rows), 1))
        ax = fig.add_subplot()
    cmap = ListedColormap([REASON_COLOURS[c] for c in classes]).with_extremes(bad="white")
    ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=len(classes) - 0.5, aspect="auto",
              interpolation="nearest")  # fmt: skip
    for i, (_, row) in enumerate(rows):
        for j, (_, cls, text) in enumerate(row):
            ax.text(j, i, text, ha="center", va="center", fontsize=9 if ncols <= 8 else 8,
                    color=_text_colour(REASON_COLOURS[cls]), linespacing=1.15)  # fmt: skip
    # white gridlines between cells so neighbours of one colour still read as cells
    ax.set_xticks(np.arange(-0.5, ncols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, len(rows), 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="both", length=0)
    ax.set_xticks([])
    ax.set_yticks(range(len(rows)), [_short(p, 18) for p, _ in rows], fontsize=9)
    for s in ax.spines.values():
        s.set_visible(False)
    for i, (p, _) in enumerate(rows):
        if p and i:  # a dark rule where the next pool starts
            ax.axhline(i - 0.5, color="#444444", linewidth=1.2)
    n_bad = int(sum(bad[p] for p in shown))
    n_all = sum(len(cells[p]) for p in shown)
    title = (f"N-1: can each pool restart a failed host's VMs? {n_bad} of {n_all} single "
             "failures leave VMs without a host")  # fmt: skip
    if left_out:
        title += _left_out([p for p in keys if p not in shown],
                           None if pools is not None else "fewer failing hosts")  # fmt: skip
    ax.set_title(title, fontsize=10)
    present = [c for c in classes if c in {cls for _, r in rows for _, cls, _ in r}]
    handles = [Patch(facecolor=REASON_COLOURS[c], edgecolor="#999999",
                     label=c if c == "all restart" else f"unplaced: {c}") for c in present]
    if not rows:
        ax.text(0.5, 0.5, "no failure scenarios", ha="center", va="center",
                transform=ax.transAxes, fontsize=12, color="#555555")  # fmt: skip
    elif not given:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
                   fontsize=8, frameon=False)  # fmt: skip
    else:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
                  frameon=False)  # fmt: skip
    return fig
