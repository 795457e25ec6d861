"""The report as Markdown, for a ticket: the HTML page's tables without its figures."""

from __future__ import annotations

from collections.abc import Sequence

from planner.report.content import (
    COLUMNS,
    DIGEST_COMMAND,
    DIGEST_NOTE,
    STEP_COLUMNS,
    _cells,
    _Context,
    _digest_items,
    _headline,
    _short_plan,
    _steps,
    _summary_items,
    restart_advice,
)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") or " "


def _md_table(head: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_md_cell(x) for x in r) + " |" for r in body]
    return out


def _markdown(c: _Context) -> str:
    s = c.summary
    out = [f"# Plan report: {s.goal}", "", f"{_headline(s)}.", "", "## Summary", ""]
    out += _md_table(("Item", "Value"), _summary_items(c))
    if s.check is not None and not s.check.ok:
        out += [""] + [f"- {v}" for v in s.check.violations]
    out += ["", "## Unplaced VMs by reason", ""]
    if c.reasons:
        out += _md_table(
            ("Reason", "VMs", "Meaning", "Remedy"),
            [(r.code, str(r.vms), r.meaning, r.remedy or "-") for r in c.reasons],
        )
        out += [""] + [f"- **{r.code}**: {', '.join(r.names)}" for r in c.reasons]
    else:
        out.append("None: every VM the goal concerns has a place.")
    out += [
        "",
        f"## Migrations ({len(c.rows)})",
        "",
        f"Times are {'h:mm:ss' if _short_plan(c) else 'h:mm'} from the campaign's "
        "start (estimated); the HTML report "
        "(`--format html`) has the schedule and memory figures.",
        "",
    ]
    short = _short_plan(c)
    out += _md_table(COLUMNS, [_cells(r, short) for r in c.rows]) if c.rows else ["None."]
    steps = _steps(c)
    if steps:
        out += ["", "## Host steps", "", *_md_table(STEP_COLUMNS, steps)]
    out += ["", f"## Warnings ({len(c.plan.warnings)})", ""]
    out += [f"- **{w.code}**: {w.message}" for w in c.plan.warnings] or ["None."]
    advice = restart_advice(c.plan)
    if advice:
        out += ["", "## Restart advice", ""] + [f"- {a}" for a in advice]
    out += ["", "## Digests", ""]
    out += _md_table(
        ("Item", "Value"), [(k, f"`{v}`" if "digest" in k else v) for k, v in _digest_items(c)]
    )
    out += ["", DIGEST_NOTE, "", "```", DIGEST_COMMAND, "```", ""]
    return "\n".join(out)
