"""The report as one self-contained HTML page (inline CSS, figures as base64 PNGs)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

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

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;
 border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
.sub{color:#57606a;margin-top:0}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa} tbody tr:nth-child(even){background:#fafbfc}
table.kv th{width:14rem} td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.8rem;
 word-break:break-all}
.ok{color:#1a7f37;font-weight:600} .bad{color:#cf222e;font-weight:600}
figure{margin:.5rem 0} figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
figcaption{color:#57606a;font-size:.85rem}
.note{color:#57606a;font-size:.85rem}
nav{font-size:.9rem;margin:.6rem 0} nav a{color:#0969da;text-decoration:none}
details{margin:.3rem 0} summary{cursor:pointer}
@media print{body{margin:0;max-width:none} h2{break-after:avoid} figure{break-inside:avoid}}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(
    head: Sequence[str], body: Sequence[Sequence[str]], num: Callable[[int], bool] = lambda _: False
) -> str:
    h = "".join(f"<th>{_e(x)}</th>" for x in head)
    b = "".join(
        "<tr>"
        + "".join(
            f"<td class=num>{_e(x)}</td>" if num(i) else f"<td>{_e(x)}</td>"
            for i, x in enumerate(r)
        )
        + "</tr>"
        for r in body
    )
    return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


def _kv(items: Sequence[tuple[str, str]], mono: Sequence[str] = ()) -> str:
    body = "".join(
        f"<tr><th>{_e(k)}</th><td{' class=mono' if k in mono else ''}>{_e(v)}</td></tr>"
        for k, v in items
    )
    return f"<table class=kv><tbody>{body}</tbody></table>"


def _figure_html(b64: str | None, alt: str, caption: str, missing: str) -> str:
    if b64 is None:
        return f"<p class=note>{_e(missing)}</p>"
    return (
        f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{b64}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _nav(c: _Context) -> str:
    """Links to the sections (plain anchors: no script)."""
    links = [
        ("summary", "Summary"),
        ("unplaced", "Unplaced"),
        ("schedule", "Schedule"),
        ("memory", "Memory"),
        ("migrations", "Migrations"),
    ]
    if any(w.steps for w in c.plan.waves):
        links.append(("steps", "Host steps"))
    links.append(("warnings", "Warnings"))
    if restart_advice(c.plan):
        links.append(("restart-advice", "Restart advice"))
    links.append(("digests", "Digests"))
    return "<nav>" + " · ".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in links) + "</nav>"


def _html(c: _Context) -> str:
    s = c.summary
    verdict = ""
    if s.check is not None:
        cls = "ok" if s.check.ok else "bad"
        verdict = f" <span class={cls}>{_e(_summary_items(c)[-1][1])}</span>"
    if s.unplaced:
        verdict += f" <span class=bad>{s.unplaced} VM{'s' * (s.unplaced != 1)} unplaced</span>"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Plan report: {_e(s.goal)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Plan report: {_e(s.goal)}</h1>",
        f"<p class=sub>{_e(_headline(s))}.{verdict}</p>",
        _nav(c),
        "<h2 id=summary>Summary</h2>",
        _kv(_summary_items(c)),
        "<p class=note>Times are h:mm (h:mm:ss for a plan under ten minutes) from the "
        "campaign's start, from the plan's "
        "estimates. The lower bound is proven for the moves this goal needs; the gap is "
        "how far above it the plan can be.</p>",
    ]
    if s.check is not None and not s.check.ok:
        parts.append("<ul>" + "".join(f"<li>{_e(v)}</li>" for v in s.check.violations) + "</ul>")
    parts.append("<h2 id=unplaced>Unplaced VMs by reason</h2>")
    if c.reasons:
        parts.append(
            _table(
                ("Reason", "VMs", "Meaning", "Remedy"),
                [(r.code, str(r.vms), r.meaning, r.remedy or "-") for r in c.reasons],
                lambda i: i == 1,
            )
        )
        for r in c.reasons:
            parts.append(
                f"<details><summary>{_e(r.code)}: {r.vms} VM"
                f"{'s' * (r.vms != 1)}</summary><p>{_e(', '.join(r.names))}</p>"
                "</details>"
            )
    else:
        parts.append("<p>None: every VM the goal concerns has a place.</p>")
    parts += [
        "<h2 id=schedule>Schedule</h2>",
        _figure_html(
            c.figures.get("gantt"),
            "Gantt chart of the schedule per pool",
            "One panel per source pool; each bar is a migration from its planned "
            "start for its estimated duration, coloured by kind.",
            "Figures need matplotlib (pip install 'xen-planner[notebook]').",
        ),
        "<h2 id=memory>Host memory before and after</h2>",
        _figure_html(
            c.figures.get("memory"),
            "Committed memory per host before and after",
            "Grey: before the plan; purple: after; black mark: capacity (total "
            "less overhead and headroom).",
            "Give the inventory (planner report PLAN INV) to draw host memory."
            if c.inv is None
            else "Figures need matplotlib (pip install 'xen-planner[notebook]').",
        ),
        f"<h2 id=migrations>Migrations ({len(c.rows)})</h2>",
    ]
    if c.rows:
        short = _short_plan(c)
        parts.append(_table(COLUMNS, [_cells(r, short) for r in c.rows], lambda i: i < 3))
    else:
        parts.append("<p>None.</p>")
    steps = _steps(c)
    if steps:
        parts += ["<h2 id=steps>Host steps</h2>", _table(STEP_COLUMNS, steps)]
    parts.append(f"<h2 id=warnings>Warnings ({len(c.plan.warnings)})</h2>")
    if c.plan.warnings:
        parts.append(_table(("Code", "Message"), [(w.code, w.message) for w in c.plan.warnings]))
    else:
        parts.append("<p>None.</p>")
    advice = restart_advice(c.plan)
    if advice:
        parts += [
            "<h2 id=restart-advice>Restart advice</h2>",
            "<ul>" + "".join(f"<li>{_e(a)}</li>" for a in advice) + "</ul>",
        ]
    parts += [
        "<h2 id=digests>Digests</h2>",
        _kv(
            _digest_items(c),
            mono=(
                "Plan digest",
                "Plan digest in the executor's journal",
                "Inventory digest (the plan's)",
            ),
        ),
        f"<p class=note>{_e(DIGEST_NOTE)}<br><code>{_e(DIGEST_COMMAND)}</code></p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
