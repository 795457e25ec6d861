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

The figures live one per module (`schedule`, `memory`, `n1`) over `base`; this module
gathers their public names.
"""

from __future__ import annotations

from planner.describe import describe_goal, hmm, migration_starts
from planner.plots.base import (
    DPI,
    GIB,
    KIND_COLOURS,
    KIND_LABELS,
    MAX_HEIGHT_IN,
    MAX_WIDTH_IN,
    MEMORY_COLOURS,
    REASON_CLASSES,
    REASON_COLOURS,
    STEP_COLOUR,
    PlannerFigure,
    png_bytes,
)
from planner.plots.memory import host_memory
from planner.plots.n1 import n1_heatmap
from planner.plots.schedule import gantt
from planner.rules.memory import memory_after

__all__ = [
    "DPI",
    "GIB",
    "KIND_COLOURS",
    "KIND_LABELS",
    "MAX_HEIGHT_IN",
    "MAX_WIDTH_IN",
    "MEMORY_COLOURS",
    "REASON_CLASSES",
    "REASON_COLOURS",
    "STEP_COLOUR",
    "PlannerFigure",
    "describe_goal",
    "gantt",
    "hmm",
    "host_memory",
    "memory_after",
    "migration_starts",
    "n1_heatmap",
    "png_bytes",
]
