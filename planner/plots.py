"""Pictures of plans and sweeps (matplotlib, from the `notebook` extra).

Each function returns a `matplotlib.figure.Figure` and draws on a new one unless given
an `ax`; nothing is shown or saved, so notebooks display them and tests inspect them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan
from planner.rules.memory import host_capacity, memory_after

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

KIND_COLOURS = {"live": "#4c72b0", "storage": "#dd8452", "move": "#55a868"}
GIB = 2**30


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def gantt(plan: Plan, inv: Inventory | None = None, *, ax: Axes | None = None) -> Figure:
    """Waves over estimated time: one lane per source pool, one row per slot in the
    lane, one bar per migration coloured by kind; dotted lines mark wave starts."""
    from matplotlib.patches import Patch

    pools = sorted({m.from_pool for m in plan.migrations()},
                   key=lambda p: inv.label(p) if inv else p)  # fmt: skip
    slots = int(plan.options.get("max_per_pool", 3))
    lane = {p: i for i, p in enumerate(pools)}
    height = max(2.0, 0.6 * slots * len(pools) + 1)
    fig, ax = _axes(ax, (10, height))
    start = 0
    for w in plan.waves:
        used: dict[str, int] = {}
        for m in w.migrations:
            k = used.get(m.from_pool, 0)
            used[m.from_pool] = k + 1
            y = lane[m.from_pool] * (slots + 1) + k
            ax.barh(y, m.est_seconds, left=start, height=0.8,
                    color=KIND_COLOURS.get(m.kind, "grey"), edgecolor="white")  # fmt: skip
        ax.axvline(start, color="grey", linestyle=":", linewidth=0.6)
        start += w.seconds
    ticks = [lane[p] * (slots + 1) + (slots - 1) / 2 for p in pools]
    ax.set_yticks(ticks, [inv.label(p) if inv else p[:8] for p in pools])
    ax.invert_yaxis()
    ax.set_xlabel("estimated seconds")
    ax.set_title(f"{len(plan.waves)} waves, {plan.estimate.get('seconds', start)} s estimated")
    ax.legend(handles=[Patch(color=c, label=k) for k, c in KIND_COLOURS.items()],
              loc="lower right", fontsize="small")  # fmt: skip
    return fig


def host_memory(inv: Inventory, plan: Plan | None = None, *, pool: str | None = None,
                ax: Axes | None = None) -> Figure:  # fmt: skip
    """Committed memory per host before and after `plan`, against each host's capacity."""
    import numpy as np

    opts = PlanOptions.from_json(plan.options) if plan else PlanOptions()
    hosts = [h for h in inv.hosts if pool is None or h.pool == inv.find("pool", pool)]
    before = memory_after(inv, None, opts)
    after = memory_after(inv, plan, opts)
    fig, ax = _axes(ax, (max(6, 0.5 * len(hosts) + 2), 4))
    x = np.arange(len(hosts))
    ax.bar(x - 0.2, [before[h.uuid] / GIB for h in hosts], 0.4, label="before")
    if plan is not None:
        ax.bar(x + 0.2, [after[h.uuid] / GIB for h in hosts], 0.4, label="after")
    caps = [host_capacity(h, opts.headroom_fraction) / GIB for h in hosts]
    ax.scatter(x, caps, marker="_", s=400, color="black", label="capacity", zorder=3)
    ax.set_xticks(x, [h.name for h in hosts], rotation=60, ha="right", fontsize="small")
    ax.set_ylabel("GiB committed")
    ax.legend(fontsize="small")
    return fig


def n1_heatmap(df: pd.DataFrame, *, value: str = "unplaced", ax: Axes | None = None) -> Figure:
    """An N-1 sweep as a pools x hosts grid coloured by `value` (unplaced VMs by default).

    `df` is what `planner.whatif.n_minus_1` returns; each row's host goes in its pool's
    row, in the order the sweep listed them.
    """
    import numpy as np

    pools = list(dict.fromkeys(df["pool"]))
    per_pool: dict[str, list[Any]] = {p: [] for p in pools}
    for _, r in df.iterrows():
        per_pool[r["pool"]].append((r["hosts"], float(r[value])))
    width = max(len(v) for v in per_pool.values()) if per_pool else 1
    grid = np.full((len(pools), width), np.nan)
    for i, p in enumerate(pools):
        for j, (_, v) in enumerate(per_pool[p]):
            grid[i, j] = v
    fig, ax = _axes(ax, (max(5, 0.6 * width + 2), max(2, 0.5 * len(pools) + 1.5)))
    im = ax.imshow(grid, cmap="Reds", aspect="auto", vmin=0)
    for i, p in enumerate(pools):
        for j, (host, v) in enumerate(per_pool[p]):
            ax.text(j, i, f"{host}\n{v:g}", ha="center", va="center", fontsize="x-small")
    ax.set_yticks(range(len(pools)), pools)
    ax.set_xticks([])
    ax.set_title(f"N-1: {value} per failed host")
    fig.colorbar(im, ax=ax, label=value)
    return fig
