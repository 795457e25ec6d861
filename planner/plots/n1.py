"""The N-1 figure (`n1_heatmap`): can each pool restart a failed host's VMs elsewhere?"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from planner.plots.base import (
    REASON_CLASSES,
    REASON_COLOURS,
    _figure,
    _left_out,
    _pick,
    _short,
    _text_colour,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

_Cell = tuple[str, str, str]  # failed host, reason class, cell text


def _reason_counts(text: Any) -> dict[str, int]:
    """ "NO_CAPACITY:2, SR_NOT_ATTACHED:1" -> {"memory": 2, "storage": 1}."""
    out: dict[str, int] = {}
    if not isinstance(text, str):
        return out
    for part in text.split(","):
        code, _, n = part.strip().partition(":")
        if code:
            cls = REASON_CLASSES.get(code, "other")
            out[cls] = out.get(cls, 0) + (int(n) if n.isdigit() else 1)
    return out


def _cells(df: pd.DataFrame) -> tuple[dict[str, list[_Cell]], dict[str, float]]:
    """The sweep's cells by pool (frame order), and per pool how many failures leave VMs
    without a host."""
    cells: dict[str, list[_Cell]] = {}
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
    return cells, bad


def _shown(
    cells: dict[str, list[_Cell]],
    bad: dict[str, float],
    pools: Iterable[str] | None,
    max_cols: int,
    max_rows: int,
) -> tuple[list[str], int]:
    """The pools to draw (frame order) and how many were left out: those picked, else the
    worst first until `max_rows` rows are used."""
    keys = list(cells)
    if pools is not None:
        return _pick(keys, bad, [pools] if isinstance(pools, str) else pools, 0)
    rows_of = {p: math.ceil(len(cells[p]) / max_cols) for p in keys}
    take: set[str] = set()
    used = 0
    for p in sorted(keys, key=lambda p: -bad[p]):
        if used + rows_of[p] > max_rows and take:
            break
        take.add(p)
        used += rows_of[p]
    shown = [p for p in keys if p in take]
    return shown, len(keys) - len(shown)


def _draw_grid(ax: Axes, rows: list[tuple[str, list[_Cell]]], ncols: int) -> None:
    """The coloured cells with their texts, pool names as row labels, rules between pools."""
    import numpy as np
    from matplotlib.colors import ListedColormap

    classes = list(REASON_COLOURS)
    grid = np.full((max(len(rows), 1), ncols), np.nan)
    for i, (_, row) in enumerate(rows):
        for j, (_, cls, _) in enumerate(row):
            grid[i, j] = classes.index(cls)
    cmap = ListedColormap([REASON_COLOURS[c] for c in classes]).with_extremes(bad="white")
    ax.imshow(
        grid, cmap=cmap, vmin=-0.5, vmax=len(classes) - 0.5, aspect="auto", interpolation="nearest"
    )
    for i, (_, row) in enumerate(rows):
        for j, (_, cls, text) in enumerate(row):
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=9 if ncols <= 8 else 8,
                color=_text_colour(REASON_COLOURS[cls]),
                linespacing=1.15,
            )
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


def n1_heatmap(
    df: pd.DataFrame,
    *,
    pools: Iterable[str] | None = None,
    max_cols: int = 12,
    max_rows: int = 24,
    ax: Axes | None = None,
) -> Figure:
    """An N-1 sweep as a grid: one cell per failed host, one row of cells per pool.

    A cell's colour is why its VMs cannot all restart (the class of each unplaced VM's
    first reason: memory, storage, network, no host left; "several" when more than one
    class), pale green when they all can. Its text is the host and "unplaced/affected
    VMs", with the classes' counts when there are several. `df` is what
    `planner.whatif.n_minus_1` returns. A pool of more than `max_cols` hosts wraps onto
    more rows; beyond `max_rows` rows the pools with the most failing hosts are drawn
    (the title says how many were left out); `pools` (names, as in the frame) picks them.
    """
    from matplotlib.patches import Patch

    cells, bad = _cells(df)
    keys = list(cells)
    shown, left_out = _shown(cells, bad, pools, max_cols, max_rows)
    rows: list[tuple[str, list[_Cell]]] = []
    for p in shown:
        for i in range(0, len(cells[p]), max_cols):
            rows.append((p if i == 0 else "", cells[p][i : i + max_cols]))
    ncols = max((len(c) for _, c in rows), default=1)
    given = ax is not None
    fig: Any  # a Figure, or the SubFigure a given `ax` sits in
    if ax is not None:
        fig = ax.figure
    else:
        fig = _figure(2.2 + 1.15 * ncols, 1.9 + 0.62 * max(len(rows), 1))
        ax = fig.add_subplot()
    _draw_grid(ax, rows, ncols)
    n_bad = int(sum(bad[p] for p in shown))
    n_all = sum(len(cells[p]) for p in shown)
    title = (
        f"N-1: can each pool restart a failed host's VMs? {n_bad} of {n_all} single "
        "failures leave VMs without a host"
    )
    if left_out:
        title += _left_out(
            [p for p in keys if p not in shown],
            None if pools is not None else "fewer failing hosts",
        )
    ax.set_title(title, fontsize=10)
    present = [c for c in REASON_COLOURS if c in {cls for _, r in rows for _, cls, _ in r}]
    handles = [
        Patch(
            facecolor=REASON_COLOURS[c],
            edgecolor="#999999",
            label=c if c == "all restart" else f"unplaced: {c}",
        )
        for c in present
    ]
    if not rows:
        ax.text(
            0.5,
            0.5,
            "no failure scenarios",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=12,
            color="#555555",
        )
    elif not given:
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=min(len(handles), 4),
            fontsize=8,
            frameon=False,
        )
    else:
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False
        )
    return fig
