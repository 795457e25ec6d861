"""A plan report to hand round: one self-contained HTML file, or Markdown for a ticket.

`planner report PLAN [INV]` (docs/report.md) calls `render`. The HTML needs no network
and no script: CSS is inline and figures are PNG images embedded as base64 `data:` URIs,
so the file can be mailed, attached to a change request or opened offline. Markdown
carries the same tables without figures.

Sections, in order: the goal and summary (schedule length, lower bound, gap, waves, the
replay checker's verdict), unplaced VMs by reason with the remedies of docs/rules.md,
the schedule (a Gantt per pool), host memory before and after, the migration table
(planned start and end as h:mm from the campaign's start), host steps, warnings,
restart advice (when the plan carries it) and the digests that tie the report to its
plan and inventory files.

The content is gathered in `content`, laid out by `html_page` and `markdown_page`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.check import check_plan
from planner.errors import InputError
from planner.plan import Plan, to_dict
from planner.report.content import (
    FORMATS,
    GIB,
    ReasonCount,
    Row,
    Summary,
    _Context,
    plan_file_digest,
    restart_advice,
    rows,
    summary,
    unplaced_by_reason,
)
from planner.report.html_page import _html
from planner.report.markdown_page import _markdown

if TYPE_CHECKING:
    from planner.inventory.model import Inventory

__all__ = [
    "FORMATS",
    "GIB",
    "ReasonCount",
    "Row",
    "Summary",
    "plan_file_digest",
    "render",
    "restart_advice",
    "rows",
    "summary",
    "unplaced_by_reason",
]


# ---------------------------------------------------------------- rendering


def _figures(plan: Plan, inv: Inventory | None) -> dict[str, str | None]:
    """Base64 PNGs of the schedule and memory figures; None where a figure cannot be drawn
    (matplotlib missing, or no inventory for the memory figure)."""
    try:
        import planner.plots as plots  # matplotlib: optional, and slow to import
    except ImportError:  # the `notebook` extra is not installed
        return {"gantt": None, "memory": None}
    import base64

    def b64(fig: Any) -> str:
        # 120 dpi: crisp when the page scales the picture to its width
        return base64.b64encode(plots.png_bytes(fig, dpi=120)).decode("ascii")

    out: dict[str, str | None] = {"gantt": b64(plots.gantt(plan, inv, max_pools=12))}
    out["memory"] = b64(plots.host_memory(inv, plan)) if inv is not None else None
    return out


def render(
    plan: Plan,
    inv: Inventory | None = None,
    *,
    fmt: str = "html",
    plan_doc: dict[str, Any] | None = None,
    figures: bool = True,
) -> str:
    """The report of `plan` as `fmt` ("html" or "md").

    With `inv` (the inventory the plan was made for) names replace uuids, the memory
    figure is drawn and the replay checker's verdict is included; a plan made for
    another inventory raises `InputError`, as `planner check` does. `plan_doc` is the
    parsed plan file, for its digest (default: the plan as this planner writes it).
    """
    if fmt not in FORMATS:
        raise InputError(f"--format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    check = None
    if inv is not None:
        check = check_plan(inv, plan)
    ctx = _Context(
        plan,
        inv,
        summary(plan, inv, check),
        rows(plan, inv),
        unplaced_by_reason(plan, inv),
        plan_file_digest(plan_doc if plan_doc is not None else to_dict(plan)),
        _figures(plan, inv) if figures and fmt == "html" else {},
    )
    return _html(ctx) if fmt == "html" else _markdown(ctx)
