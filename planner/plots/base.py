"""What every figure of `planner.plots` shares: palettes, sizes, the figure class, time
axes, text and pool-picking helpers (the conventions are in `planner.plots`' docstring)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from planner.describe import hmm
from planner.inventory.model import Inventory

if TYPE_CHECKING:
    from matplotlib.axes import Axes

GIB = 2**30
MAX_WIDTH_IN = 15.0  # inches: a 16:9 slide at 100 dpi is about 13-16 inches wide
MAX_HEIGHT_IN = 14.0
DPI = 100

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
KIND_COLOURS = {"live": "#0072B2", "storage": "#E69F00", "move": "#009E73"}
KIND_LABELS = {
    "live": "live migration",
    "storage": "storage migration",
    "move": "disk move (halted VM)",
}
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
    "NO_CAPACITY": "memory",
    "MEMORY": "memory",
    "HALTED_MEMORY": "memory",
    "SR_NOT_ATTACHED": "storage",
    "SR_SPACE": "storage",
    "SR_WRONG_POOL": "storage",
    "NETWORK_NOT_ATTACHED": "network",
    "NETWORK_UNMAPPED": "network",
    "NO_TARGET": "no host left",
}


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


# ---------------------------------------------------------------- time


_TICK_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


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
    return text[:head] + "…" + text[-(n - 1 - head) :]


# ---------------------------------------------------------------- bars and picking


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


def _text_colour(colour: str) -> str:
    """Black or white, whichever reads better on `colour` (WCAG relative luminance)."""
    from matplotlib.colors import to_rgb

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in to_rgb(colour))
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # contrast with black (lum+0.05)/0.05 vs with white 1.05/(lum+0.05): equal at ~0.179
    return "black" if lum > 0.179 else "white"


def _pick(
    keys: list[str], weight: dict[str, float], wanted: Iterable[str] | None, most: int
) -> tuple[list[str], int]:
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
