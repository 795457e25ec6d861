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
"""

from __future__ import annotations

import hashlib
import html
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner import __version__
from planner.check import check_plan
from planner.describe import describe_goal, hmm, migration_starts, name_of, scheduled_waves
from planner.errors import InputError
from planner.inventory.io import canonical_json, digest
from planner.plan import Migration, Plan, to_dict
from planner.rules import codes

if TYPE_CHECKING:
    from planner.check import CheckReport
    from planner.inventory.model import Inventory

FORMATS = ("html", "md")
GIB = 2**30


# ---------------------------------------------------------------- the content


@dataclass(frozen=True)
class Row:
    """One migration as the report shows it (names when an inventory was given)."""

    wave: int
    start_s: int
    end_s: int
    vm: str
    kind: str
    from_host: str
    to_host: str
    from_pool: str
    to_pool: str
    disks: str
    reason: str


def plan_file_digest(doc: dict[str, Any]) -> str:
    """sha256 hex of a parsed plan document serialised as canonical JSON (sorted keys,
    separators `,` and `:`, UTF-8, non-ASCII kept): the rule FORMATS.md fixes for the
    inventory digest, applied to the plan file."""
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def _name(inv: Inventory | None, uuid: str | None) -> str:
    return name_of(inv, uuid, short=False)


def _disks(inv: Inventory | None, m: Migration) -> str:
    """"2 disks, 60 GiB: local-xs02 -> nfs" (moves grouped by source and target SR)."""
    if not m.disks:
        return ""
    sizes = {}
    if inv is not None and m.vm in inv.vm_by_uuid:
        sizes = {d.uuid: d.size_bytes for d in inv.vm_by_uuid[m.vm].disks}
    pairs = Counter((d.from_sr, d.to_sr) for d in m.disks)
    moves = "; ".join(
        f"{_name(inv, a)} → {_name(inv, b)}" + (f" ×{n}" if n > 1 else "") if a != b
        else f"{_name(inv, a)} (stays)" + (f" ×{n}" if n > 1 else "")
        for (a, b), n in pairs.items()
    )
    size = sum(sizes.get(d.vdi, 0) for d in m.disks)
    total = f", {size / GIB:,.0f} GiB" if size else ""
    return f"{len(m.disks)} disk{'s' * (len(m.disks) != 1)}{total}: {moves}"


def rows(plan: Plan, inv: Inventory | None = None) -> list[Row]:
    """The migration table, in planned start order (then wave and id)."""
    starts = migration_starts(plan)
    out = []
    for w in plan.waves:
        for m in w.migrations:
            s = starts[m.id]
            out.append(Row(w.index, s, s + m.est_seconds, _name(inv, m.vm), m.kind,
                           _name(inv, m.from_host), _name(inv, m.to_host),
                           _name(inv, m.from_pool), _name(inv, m.to_pool), _disks(inv, m),
                           m.reason or ""))  # fmt: skip
    out.sort(key=lambda r: (r.start_s, r.wave))
    return out


@dataclass(frozen=True)
class ReasonCount:
    code: str
    vms: int
    meaning: str
    remedy: str
    names: tuple[str, ...]


def unplaced_by_reason(plan: Plan, inv: Inventory | None = None) -> list[ReasonCount]:
    """Unplaced VMs counted by their first reason, most common first, with the code's
    meaning and remedy (planner.rules.codes)."""
    by: dict[str, list[str]] = {}
    for u in plan.unplaced:
        code = u.reasons[0].code if u.reasons else "UNKNOWN"
        by.setdefault(code, []).append(_name(inv, u.vm))
    return [ReasonCount(c, len(v), codes.MEANING.get(c, ""), codes.REMEDY.get(c, ""),
                        tuple(sorted(v)))
            for c, v in sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0]))]  # fmt: skip


def restart_advice(plan: Plan) -> list[str]:
    """Restart advice the plan carries (issue 17: VMs that moved to a newer version
    should restart to pick up its features), one line each; empty when there is none.
    Reads `plan.solver["restart_advice"]`: a list of strings or of objects with a
    `message` (or `vm` and `reason`)."""
    items = plan.solver.get("restart_advice") or []
    out = []
    for x in items if isinstance(items, list) else [items]:
        if isinstance(x, dict):
            out.append(str(x.get("message") or " ".join(f"{k}: {v}" for k, v in x.items())))
        else:
            out.append(str(x))
    return out


@dataclass(frozen=True)
class Summary:
    goal: str  # short: at most four names of a list
    goal_in_full: str
    status: str
    solver: str
    migrations: int
    by_kind: dict[str, int]
    waves: int
    seconds: int
    bound: int | None
    gap_percent: float | None
    unplaced: int
    check: CheckReport | None
    wave_seconds: int | None = None  # the lock-step figure (each wave waits for the last)


def summary(plan: Plan, inv: Inventory | None = None,
            check: CheckReport | None = None) -> Summary:  # fmt: skip
    """The headline figures of `plan`."""
    n = sum(len(w.migrations) for w in plan.waves)
    secs = int(plan.estimate.get("seconds", 0) or 0)
    bound = plan.bounds.get("seconds")
    gap = 100 * (secs - bound) / bound if bound else None
    solver = str(plan.solver.get("name", "?"))
    wall = plan.solver.get("wall_seconds")
    if isinstance(wall, int | float):
        solver += f", {wall:.1f} s"
    return Summary(describe_goal(plan.goal, inv), describe_goal(plan.goal, inv, most=None),
                   plan.status or "no status", solver, n,
                   dict(Counter(m.kind for m in plan.migrations())), len(plan.waves), secs,
                   int(bound) if bound is not None else None, gap, len(plan.unplaced),
                   check, plan.estimate.get("wave_seconds"))  # fmt: skip


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


def render(plan: Plan, inv: Inventory | None = None, *, fmt: str = "html",
           plan_doc: dict[str, Any] | None = None, figures: bool = True) -> str:  # fmt: skip
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
    ctx = _Context(plan, inv, summary(plan, inv, check), rows(plan, inv),
                   unplaced_by_reason(plan, inv),
                   plan_file_digest(plan_doc if plan_doc is not None else to_dict(plan)),
                   _figures(plan, inv) if figures and fmt == "html" else {})  # fmt: skip
    return _html(ctx) if fmt == "html" else _markdown(ctx)


@dataclass(frozen=True)
class _Context:
    plan: Plan
    inv: Inventory | None
    summary: Summary
    rows: list[Row]
    reasons: list[ReasonCount]
    plan_digest: str
    figures: dict[str, str | None]


def _headline(s: Summary) -> str:
    """"OPTIMAL: 7 migrations in 3 waves, 0:28 (h:mm), 0 unplaced"."""
    return (f"{s.status}: {s.migrations} migration{'s' * (s.migrations != 1)} in {s.waves} "
            f"wave{'s' * (s.waves != 1)}, {hmm(s.seconds)} (h:mm) estimated, "
            f"{s.unplaced} unplaced")


def _summary_items(c: _Context) -> list[tuple[str, str]]:
    s = c.summary
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(s.by_kind.items()))
    items = [
        ("Goal", s.goal_in_full),
        ("Solver", f"{s.solver}; status {s.status}"),
        ("Schedule length", f"{hmm(s.seconds)} (h:mm, {s.seconds:,} s estimated)"),
        ("Lower bound", f"{hmm(s.bound)} ({s.bound:,} s)" if s.bound is not None
         else "not known"),
        ("Gap to the bound", f"{s.gap_percent:.1f}%" if s.gap_percent is not None else "-"),
        ("Waves", str(s.waves) + (f" (in lock step, one after another: {hmm(s.wave_seconds)})"
                                  if s.wave_seconds not in (None, s.seconds) else "")),
        ("Migrations", f"{s.migrations}" + (f" ({kinds})" if kinds else "")),
        ("Unplaced VMs", str(s.unplaced)),
    ]  # fmt: skip
    if s.check is not None:
        n = len(s.check.violations)
        verdict = ("safe: every replay rule holds" if s.check.ok
                   else f"NOT safe: {n} violation{'s' * (n != 1)}")  # fmt: skip
        items.append(("Replay check", verdict))
    else:
        items.append(("Replay check", "not run (no inventory given)"))
    return items


def _digest_items(c: _Context) -> list[tuple[str, str]]:
    items = [("Plan digest", c.plan_digest)]
    # the executor's journal digests the plan as this planner writes it: the same for a
    # file it wrote, different for an older version's file or one with unknown keys
    journal = plan_file_digest(to_dict(c.plan))
    if journal != c.plan_digest:
        items.append(("Plan digest in the executor's journal", journal))
    items.append(("Inventory digest (the plan's)", c.plan.inventory_digest or "(empty)"))
    if c.inv is not None:
        same = digest(c.inv) == c.plan.inventory_digest
        items.append(("Inventory given", "the same digest: the plan was made for it" if same
                      else digest(c.inv)))  # fmt: skip
    items.append(("Planner", f"xen-planner {__version__}"))
    opts = ", ".join(f"{k}={v}" for k, v in sorted(c.plan.options.items()))
    items.append(("Options", opts or "-"))
    return items


DIGEST_NOTE = ("The plan digest is the sha256 of the plan file's JSON in canonical form "
               "(sorted keys, separators ',' and ':', UTF-8, non-ASCII kept), the rule "
               "FORMATS.md fixes for the inventory digest. Check it with:")  # fmt: skip
DIGEST_COMMAND = ("python3 -c \"import json,hashlib,sys; d=json.load(open(sys.argv[1])); "
                  "print(hashlib.sha256(json.dumps(d,sort_keys=True,separators=(',',':'),"
                  "ensure_ascii=False).encode()).hexdigest())\" plan.json")  # fmt: skip

COLUMNS = ("Start", "End", "Wave", "VM", "Kind", "From host", "To host", "From pool",
           "To pool", "Disks", "Note")  # fmt: skip


def _clock(seconds: int, short: bool) -> str:
    return hmm(seconds, with_seconds=short)


def _cells(r: Row, short: bool) -> list[str]:
    return [_clock(r.start_s, short), _clock(r.end_s, short), str(r.wave + 1), r.vm, r.kind,
            r.from_host, r.to_host, r.from_pool, r.to_pool, r.disks, r.reason]  # fmt: skip


def _short_plan(c: _Context) -> bool:
    """Under ten minutes the table shows h:mm:ss, as the schedule figure does."""
    return max((r.end_s for r in c.rows), default=0) < 600


def _steps(c: _Context) -> list[list[str]]:
    out = []
    short = _short_plan(c)
    for w in scheduled_waves(c.plan):
        for s in w.steps:
            out.append([str(w.index + 1), s.when, s.kind, _name(c.inv, s.host),
                        s.to_version or "", _clock(s.start_s, short),
                        hmm(s.est_seconds, with_seconds=short) if s.est_seconds else ""])
    return out


STEP_COLUMNS = ("Wave", "When", "Step", "Host", "To version", "Start", "Duration")

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


def _table(head: Sequence[str], body: Sequence[Sequence[str]],
           num: Callable[[int], bool] = lambda _: False) -> str:  # fmt: skip
    h = "".join(f"<th>{_e(x)}</th>" for x in head)
    b = "".join(
        "<tr>" + "".join(f"<td class=num>{_e(x)}</td>" if num(i) else f"<td>{_e(x)}</td>"
                         for i, x in enumerate(r)) + "</tr>"
        for r in body
    )  # fmt: skip
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
    return (f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")  # fmt: skip


def _nav(c: _Context) -> str:
    """Links to the sections (plain anchors: no script)."""
    links = [("summary", "Summary"), ("unplaced", "Unplaced"), ("schedule", "Schedule"),
             ("memory", "Memory"), ("migrations", "Migrations")]  # fmt: skip
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
        verdict = f' <span class={cls}>{_e(_summary_items(c)[-1][1])}</span>'
    if s.unplaced:
        verdict += f' <span class=bad>{s.unplaced} VM{"s" * (s.unplaced != 1)} unplaced</span>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Plan report: {_e(s.goal)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Plan report: {_e(s.goal)}</h1>",
        f'<p class=sub>{_e(_headline(s))}.{verdict}</p>',
        _nav(c),
        "<h2 id=summary>Summary</h2>",
        _kv(_summary_items(c)),
        "<p class=note>Times are h:mm (h:mm:ss for a plan under ten minutes) from the "
        "campaign's start, from the plan's "
        "estimates. The lower bound is proven for the moves this goal needs; the gap is "
        "how far above it the plan can be.</p>",
    ]
    if s.check is not None and not s.check.ok:
        parts.append("<ul>" + "".join(f"<li>{_e(v)}</li>" for v in s.check.violations)
                     + "</ul>")  # fmt: skip
    parts.append("<h2 id=unplaced>Unplaced VMs by reason</h2>")
    if c.reasons:
        parts.append(_table(("Reason", "VMs", "Meaning", "Remedy"),
                            [(r.code, str(r.vms), r.meaning, r.remedy or "-")
                             for r in c.reasons], lambda i: i == 1))  # fmt: skip
        for r in c.reasons:
            parts.append(f"<details><summary>{_e(r.code)}: {r.vms} VM"
                         f"{'s' * (r.vms != 1)}</summary><p>{_e(', '.join(r.names))}</p>"
                         "</details>")  # fmt: skip
    else:
        parts.append("<p>None: every VM the goal concerns has a place.</p>")
    parts += [
        "<h2 id=schedule>Schedule</h2>",
        _figure_html(c.figures.get("gantt"), "Gantt chart of the schedule per pool",
                     "One panel per source pool; each bar is a migration from its planned "
                     "start for its estimated duration, coloured by kind.",
                     "Figures need matplotlib (pip install 'xen-planner[notebook]')."),
        "<h2 id=memory>Host memory before and after</h2>",
        _figure_html(c.figures.get("memory"), "Committed memory per host before and after",
                     "Grey: before the plan; purple: after; black mark: capacity (total "
                     "less overhead and headroom).",
                     "Give the inventory (planner report PLAN INV) to draw host memory."
                     if c.inv is None else
                     "Figures need matplotlib (pip install 'xen-planner[notebook]')."),
        f"<h2 id=migrations>Migrations ({len(c.rows)})</h2>",
    ]  # fmt: skip
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
        parts.append(_table(("Code", "Message"),
                            [(w.code, w.message) for w in c.plan.warnings]))  # fmt: skip
    else:
        parts.append("<p>None.</p>")
    advice = restart_advice(c.plan)
    if advice:
        parts += ["<h2 id=restart-advice>Restart advice</h2>",
                  "<ul>" + "".join(f"<li>{_e(a)}</li>" for a in advice) + "</ul>"]
    parts += [
        "<h2 id=digests>Digests</h2>",
        _kv(_digest_items(c), mono=("Plan digest", "Plan digest in the executor's journal",
                                    "Inventory digest (the plan's)")),
        f"<p class=note>{_e(DIGEST_NOTE)}<br><code>{_e(DIGEST_COMMAND)}</code></p>",
        "</body></html>",
    ]  # fmt: skip
    return "\n".join(parts) + "\n"


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
        out += _md_table(("Reason", "VMs", "Meaning", "Remedy"),
                         [(r.code, str(r.vms), r.meaning, r.remedy or "-") for r in c.reasons])
        out += [""] + [f"- **{r.code}**: {', '.join(r.names)}" for r in c.reasons]
    else:
        out.append("None: every VM the goal concerns has a place.")
    out += ["", f"## Migrations ({len(c.rows)})", "",
            f"Times are {'h:mm:ss' if _short_plan(c) else 'h:mm'} from the campaign's "
            "start (estimated); the HTML report "
            "(`--format html`) has the schedule and memory figures.", ""]  # fmt: skip
    short = _short_plan(c)
    out += _md_table(COLUMNS, [_cells(r, short) for r in c.rows]) if c.rows else ["None."]
    steps = _steps(c)
    if steps:
        out += ["", "## Host steps", "", *_md_table(STEP_COLUMNS, steps)]
    out += ["", f"## Warnings ({len(c.plan.warnings)})", ""]
    out += ([f"- **{w.code}**: {w.message}" for w in c.plan.warnings] or ["None."])
    advice = restart_advice(c.plan)
    if advice:
        out += ["", "## Restart advice", ""] + [f"- {a}" for a in advice]
    out += ["", "## Digests", ""]
    out += _md_table(("Item", "Value"), [(k, f"`{v}`" if "digest" in k else v)
                                         for k, v in _digest_items(c)])  # fmt: skip
    out += ["", DIGEST_NOTE, "", "```", DIGEST_COMMAND, "```", ""]
    return "\n".join(out)
