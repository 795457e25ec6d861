"""The memory figure (`host_memory`): committed memory per host before and after a plan."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from planner.describe import describe_goal
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan
from planner.plots.base import GIB, MEMORY_COLOURS, _figure, _left_out, _resolve_pools, _short
from planner.rules.memory import host_capacity, memory_after

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# one panel: the pool's uuid, its hosts drawn there, and which part of the pool it is
_Panel = tuple[str, list[Any], str]


def _chosen_pools(
    inv: Inventory, plan: Plan | None, pool: str | None, pools: Iterable[str] | None
) -> list[str]:
    """The pools to draw, in inventory order: those asked for, else those the plan touches,
    else all."""
    keys = [p.uuid for p in inv.pools]
    wanted = _resolve_pools(inv, [pool] if pool is not None else pools)
    if wanted is None and plan is not None:
        touched = {m.from_pool for m in plan.migrations()} | {m.to_pool for m in plan.migrations()}
        wanted = [p for p in keys if p in touched] or None
    return [p for p in keys if wanted is None or p in set(wanted)]


def _panels(
    inv: Inventory, chosen: list[str], hosts_per_panel: int, keep: int
) -> tuple[list[_Panel], list[str]]:
    """At most `keep` panels of at most `hosts_per_panel` hosts each, and the labels of the
    pools (wholly or in part) left out."""
    panels: list[_Panel] = []
    for p in chosen:
        hosts = inv.hosts_in_pool.get(p, [])
        for i in range(0, max(len(hosts), 1), hosts_per_panel):
            part = f" (hosts {i + 1}-{min(i + hosts_per_panel, len(hosts))} of {len(hosts)})"
            panels.append(
                (
                    p,
                    list(hosts[i : i + hosts_per_panel]),
                    part if len(hosts) > hosts_per_panel else "",
                )
            )
    drawn = {q for q, _, _ in panels[:keep]}
    left_out = [
        inv.label(p) + (" in part" if p in drawn else "")
        for p in dict.fromkeys(p for p, _, _ in panels[keep:])
    ]
    return panels[:keep], left_out


def _memory_axes(
    ax: Axes | None, panels: list[_Panel], side: bool, widest: int
) -> tuple[Any, list[Axes]]:
    """The figure and one axes per panel: side by side, stacked, or the given `ax`."""
    if ax is not None:
        return ax.figure, [ax]
    if side:
        total = sum(max(len(h), 3) for _, h, _ in panels)
        fig = _figure(max(6.0, 1.2 + 0.7 * total + 0.8 * len(panels)), 4.2)
        axes = list(
            fig.subplots(
                1,
                len(panels),
                sharey=True,
                squeeze=False,
                width_ratios=[max(len(h), 3) for _, h, _ in panels],
            )[0]
        )
        return fig, axes
    fig = _figure(max(6.0, 1.4 + 0.3 * widest), 0.6 + 2.9 * len(panels))
    axes = (
        list(fig.subplots(len(panels), 1, squeeze=False)[:, 0]) if panels else [fig.add_subplot()]
    )
    return fig, axes


def _draw_panel(
    a: Axes,
    hosts: list[Any],
    before: dict[str, int],
    after: dict[str, int] | None,
    headroom: float,
    fs: int,
) -> None:
    """One panel's bars (before, and after when there is a plan) and capacity marks."""
    import numpy as np

    x = np.arange(len(hosts))
    width = 0.4 if after is not None else 0.7
    a.bar(
        x - (0.2 if after is not None else 0),
        [before[h.uuid] / GIB for h in hosts],
        width,
        color=MEMORY_COLOURS["before"],
        label="before the plan" if after is not None else "committed now",
    )
    if after is not None:
        a.bar(
            x + 0.2,
            [after[h.uuid] / GIB for h in hosts],
            width,
            color=MEMORY_COLOURS["after"],
            label="after the plan",
        )
    caps = [host_capacity(h, headroom) / GIB for h in hosts]
    a.hlines(
        caps,
        x - 0.45,
        x + 0.45,
        color=MEMORY_COLOURS["capacity"],
        linewidth=1.6,
        label="capacity (total - overhead - headroom)",
        zorder=3,
    )
    a.set_xticks(
        x,
        [_short(h.name, 16) for h in hosts],
        rotation=45 if len(hosts) > 8 else 0,
        ha="right" if len(hosts) > 8 else "center",
        fontsize=fs,
    )


def host_memory(
    inv: Inventory,
    plan: Plan | None = None,
    *,
    pool: str | None = None,
    pools: Iterable[str] | None = None,
    max_panels: int = 6,
    hosts_per_panel: int = 40,
    ax: Axes | None = None,
) -> Figure:
    """Committed memory per host (GiB) before and after `plan`, against each host's
    capacity (total - overhead - headroom), one panel per pool.

    Without `pool`/`pools` the pools the plan touches are drawn (all pools without a
    plan); a pool of more than `hosts_per_panel` hosts continues on the next panel, and
    at most `max_panels` panels are drawn, in pool order (the title names the pools left
    out). `ax` draws one pool (or the first chosen) on a given axes.
    """
    opts = plan.options if plan else PlanOptions()
    before = memory_after(inv, None, opts)
    after = memory_after(inv, plan, opts) if plan else None
    keep = max_panels if ax is None else 1
    panels, left_out = _panels(inv, _chosen_pools(inv, plan, pool, pools), hosts_per_panel, keep)
    widest = max((len(h) for _, h, _ in panels), default=1)
    # a few small pools side by side (a slide is wide), else one pool under the other
    side = 1 < len(panels) <= 4 and sum(len(h) for _, h, _ in panels) <= 24
    fig, axes = _memory_axes(ax, panels, side, widest)
    top = max([h.memory_total_bytes / GIB for _, hs, _ in panels for h in hs] or [1.0])
    # every panel of a stacked figure has the same bar width and label size
    slots = max(widest if not side else 0, 2)
    fs = 9 if widest <= 20 else 7
    for (p, hosts, part), a in zip(panels, axes, strict=False):
        _draw_panel(a, hosts, before, after, opts.headroom_fraction, fs)
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
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    else:
        pool_name = f": pool {inv.label(panels[0][0])}" if panels else ""
        ax.set_title(title + pool_name, fontsize=10)
        ax.legend(
            handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False
        )
    return fig
