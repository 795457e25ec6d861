"""`planner execute --status`: where the run recorded in a journal stands (a table for
people, or rows as JSON / CSV), with names from the plan's inventory when one is found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.cli.execute_options import _journal_path, _load_base
from planner.cli.output import Output
from planner.errors import InputError
from planner.execute import journal as J
from planner.execute.session import inventory_beside
from planner.execute.summary import describe, label, readable, schedule_origin, schedule_status
from planner.inventory.model import Inventory
from planner.plan import Plan

STATUS_COLUMNS = (
    "id",
    "wave",
    "kind",
    "state",
    "attempts",
    "vm",
    "vm_name",
    "host",
    "host_name",
    "from_pool",
    "from_pool_name",
    "to_pool",
    "to_pool_name",
    "to_version",
    "tasks",
    "error",
)


def _status_rows(journal: J.Journal, inv: Inventory | None) -> list[dict[str, Any]]:
    """Every migration and host step of the journal as a row (uuids and names)."""

    def name(u: str | None) -> str | None:
        return inv.label(u) if inv is not None and u is not None else None

    rows: list[dict[str, Any]] = [
        {
            "id": e.id,
            "wave": e.wave,
            "kind": e.kind,
            "state": e.state,
            "attempts": e.attempts,
            "vm": e.vm,
            "vm_name": name(e.vm),
            "from_pool": e.from_pool,
            "from_pool_name": name(e.from_pool),
            "to_pool": e.to_pool,
            "to_pool_name": name(e.to_pool),
            "tasks": list(e.tasks),
            "error": readable(e.error) if e.error else None,
        }
        for e in journal.entries()
    ]
    rows += [
        {
            "id": st.id,
            "wave": st.wave,
            "kind": st.kind,
            "state": st.state,
            "attempts": st.attempts,
            "host": st.host,
            "host_name": name(st.host),
            "to_version": st.to_version,
            "error": st.error,
        }
        for st in journal.steps()
    ]
    return rows


def _status(
    journal: J.Journal, plan: Plan | None, inv: Inventory | None, out: Output | None = None
) -> int:
    out = out or Output("table")
    info = journal.info()
    entries = journal.entries()
    steps = journal.steps()
    counts = journal.counts()
    head = f"journal {journal.path}: run {info.run_id}, {info.runs} run(s); " + "  ".join(
        f"{s} {counts[s]}" for s in J.STATES
    )
    done = all(e.state == J.DONE for e in entries) and all(st.state == J.DONE for st in steps)
    code = 0 if done else 1
    if out.is_data:
        out.emit(
            doc=lambda: {
                "journal": str(journal.path),
                "run_id": info.run_id,
                "runs": info.runs,
                "plan_digest": info.plan_digest,
                "inventory_digest": info.inventory_digest,
                "counts": {s: counts[s] for s in J.STATES},
                "complete": code == 0,
                "rows": _status_rows(journal, inv),
            },
            rows=lambda: _status_rows(journal, inv),
            columns=STATUS_COLUMNS,
            table=lambda _c: None,
        )
        out.status(head)
        return code

    def table(con: Any) -> None:
        def say(line: str) -> None:
            con.print(line, markup=False, highlight=False, soft_wrap=True)

        say(f"journal {journal.path}: run {info.run_id}, {info.runs} run(s)")
        say(f"plan digest {info.plan_digest[:16]}  inventory digest {info.inventory_digest[:16]}")
        say("  ".join(f"{s} {counts[s]}" for s in J.STATES))
        if inv is None and any(e.state != J.DONE for e in entries):
            say("(uuids below: add --inventory INV to see names)")
        by_id = {m.id: m for m in plan.migrations()} if plan is not None else {}
        origin = schedule_origin(entries, by_id, plan)
        if origin is not None and plan is not None:
            for line in schedule_status(entries, by_id, plan, origin):
                say(line)
        for e in entries:
            if e.state == J.DONE:
                continue
            m = by_id.get(e.id)
            what = describe(m, inv) if m is not None else f"{e.kind} {label(inv, e.vm)}"
            tail = f"  [{readable(e.error)}]" if e.error else ""
            task = f"  task {','.join(e.tasks)}" if e.tasks else ""
            when = ""
            if origin is not None and m is not None:
                when = f"  planned t+{m.start_s}s"
                if e.started_at is not None:
                    when += f", started t+{e.started_at - origin:.0f}s"
            say(f"{e.id:<14} {e.state:<8} tries {e.attempts}  {what}{task}{when}{tail}")
        for st in steps:
            if st.state == J.DONE:
                continue
            ver = f" to {st.to_version}" if st.to_version else ""
            tail = f"  [{st.error}]" if st.error else ""
            say(
                f"{st.id:<14} {st.state:<8} tries {st.attempts}  wave {st.wave}: {st.kind} "
                f"{label(inv, st.host)}{ver}{tail}"
            )

    out.table(table)
    return code


def _names_for(
    jpath: Path, plan: Plan | None, plan_path: Path | None
) -> tuple[Plan | None, Inventory | None]:
    """`execute --status` without --inventory: the plan next to the journal (PLAN.journal)
    and an inventory with the journal's digest beside it (the re-plan's
    `.inventory.json`, another inventory file in the directory, or a bundled sample),
    for names."""
    from planner.plan import load as load_plan

    with J.Journal.read(jpath) as j:
        info = j.info()
    if plan is None and jpath.name.endswith(".journal"):
        guess = jpath.with_name(jpath.name[: -len(".journal")])
        if guess.is_file():
            try:
                cand = load_plan(guess)
            except (InputError, OSError):
                cand = None
            if cand is not None and J.plan_digest(cand) == info.plan_digest:
                plan, plan_path = cand, guess
    return plan, inventory_beside(plan_path or jpath, info.inventory_digest)


def show_status(
    plan_path: Path | None,
    journal: Path | None,
    inventory: Path | None,
    fmt: str,
    output: Path | None,
) -> int:
    """The --status answer; returns the exit status (0: everything done, else 1)."""
    from planner.plan import load as load_plan

    if journal is None and plan_path is None:
        raise InputError("--status needs --journal FILE (or PLAN)")
    if journal is not None:
        jpath = journal
    else:
        assert plan_path is not None  # refused above when both are missing
        jpath = _journal_path(plan_path, None)
    out = Output.of(fmt, output)
    plan = load_plan(plan_path) if plan_path is not None else None
    inv = _load_base(inventory, plan)
    if inv is None and jpath.exists():
        plan, inv = _names_for(jpath, plan, plan_path)
    with J.Journal.read(jpath) as j:
        if plan is not None and j.info().plan_digest != J.plan_digest(plan):
            raise InputError(
                f"{jpath}: journal belongs to another plan than "
                f"{plan_path} (plan digest {j.info().plan_digest[:12]}, "
                f"this plan {J.plan_digest(plan)[:12]})"
            )
        return _status(j, plan, inv, out)
