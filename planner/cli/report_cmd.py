"""`planner report PLAN [INV]`: the plan as one self-contained HTML file (or Markdown)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    plan: Annotated[Path, typer.Argument(help="Plan JSON file.", show_default=False)],
    inventory: Annotated[
        Path | None,
        typer.Argument(
            help="The inventory the plan was made for: names instead of uuids, "
            "the host memory figure and the replay check (default: the bundled "
            "sample if the plan was made for it, else none).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help="Where to write ('-' for stdout). Default: PLAN with .html or .md.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="html|md",
            help="html (self-contained, figures embedded) or md (for a ticket). "
            "Default: from the -o suffix, else html.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a report of PLAN to hand round (docs/report.md).

    The HTML file needs no network: the goal and summary (schedule length, lower bound,
    gap, waves, the replay check), unplaced VMs by reason with remedies, the schedule per
    pool, host memory before and after, the migration table with planned start and end,
    host steps, warnings, and the plan's and inventory's digests. --format md gives the
    same tables in Markdown, without figures.

    Examples: planner report plan.json fleet.json -o plan.html;  planner report plan.json
    fleet.json --format md -o - | xclip
    """
    import sys

    from planner.errors import InputError
    from planner.inventory.io import read_json
    from planner.plan import from_dict
    from planner.report import FORMATS, render

    doc = read_json(plan, "plan")
    p = from_dict(doc, where=str(plan))
    if fmt is None:
        fmt = "md" if output is not None and output.lower().endswith(".md") else "html"
    if fmt not in FORMATS:
        raise InputError(f"--format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    from planner.inventory import load, sample_path

    if inventory is not None:
        inv = load(inventory)
    else:  # the bundled sample, as elsewhere, but only for a plan that was made for it
        from planner.inventory.io import digest

        inv = load(sample_path())
        if digest(inv) != p.inventory_digest:
            inv = None
    text = render(p, inv, fmt=fmt, plan_doc=doc)
    if output == "-":
        sys.stdout.write(text)
        return
    target = Path(output) if output is not None else plan.with_suffix(f".{fmt}")
    if target.resolve() == plan.resolve():
        raise InputError(f"-o: {target} is the plan file itself; name another file")
    target.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {target} ({fmt}, {len(text.encode('utf-8')):,} bytes)", err=True)


def register(app: typer.Typer) -> None:
    """Add `report` to `app`."""
    app.command("report")(report)
