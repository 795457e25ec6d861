"""`planner execute` (carry a plan out through XenAPI) and `planner export` (xe / CSV).

Heavy modules (XenAPI, rich, the executor) are imported inside the commands.
Credentials: the password comes from the environment variable named by --password-env
(default XAPI_PASSWORD) or a hidden prompt; it is never echoed, logged or journaled.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cli import logs
from planner.cli.common import (
    DEFAULT_PASSWORD_ENV,
    CaFileOption,
    FingerprintOption,
    InsecureOption,
    LogFileOption,
    PoolOption,
    current_config,
    pool_access,
    tls_option_value,
)
from planner.cli.output import FormatOption, Output, OutputOption, hms
from planner.cli.progress import ProgressOption, enabled
from planner.errors import InputError

_log = logging.getLogger("planner.execute")

if TYPE_CHECKING:
    from planner.execute.journal import Entry, Journal
    from planner.execute.runner import RunConfig, Summary
    from planner.inventory.model import Inventory
    from planner.plan import Migration, Plan
    from planner.tls import TlsSetting


def _journal_path(plan_path: Path, journal: Path | None) -> Path:
    return journal if journal is not None else plan_path.with_name(plan_path.name + ".journal")


def _label(inv: Inventory | None, uuid: str | None) -> str:
    if uuid is None:
        return "-"
    return inv.label(uuid) if inv is not None else uuid


def _describe(m: Migration, inv: Inventory | None) -> str:
    dest = _label(inv, m.to_host) if m.to_host else f"pool {_label(inv, m.to_pool)}"
    src = _label(inv, m.from_host) if m.from_host else f"pool {_label(inv, m.from_pool)}"
    disks = f", {len(m.disks)} disk(s)" if m.disks else ""
    return f"{m.kind} {_label(inv, m.vm)}: {src} -> {dest}{disks}"


# ---------------------------------------------------------------- progress


class _Progress:
    """Per-pool progress: rich bars on a terminal, plain log lines otherwise.

    With a schedule (a v2 plan run in flow mode) each start and end is shown against the
    plan: "planned t+120s, at t+131s (+11s)", where the run's clock is aligned with the
    plan's at its first start; the ETA is the schedule's length minus the schedule's
    position (the earliest planned start not yet reached, or how far the last
    migrations in flight are into their planned run). Otherwise, ETA per pool: the
    estimated seconds still to run, spread over the pool's slots, times the
    observed/estimated ratio of the migrations done so far in this run.
    """

    def __init__(self, plan: Plan, inv: Inventory | None, max_per_pool: int, tty: bool,
                 scheduled: bool = False, config: RunConfig | None = None) -> None:  # fmt: skip
        self.config = config
        self.retries: dict[str, int] = {}  # retries announced per migration, this run
        self.plan = plan
        self.scheduled = scheduled
        self.origin: float | None = None  # monotonic time of the plan's t=0 in this run
        self.started: set[str] = set()
        self.seeded = 0  # migrations an earlier run finished
        self.inv = inv
        self.slots = max_per_pool
        self.by_pool: dict[str, list[Migration]] = {}
        for m in plan.migrations():
            self.by_pool.setdefault(m.from_pool, []).append(m)
        self.done: set[str] = set()
        self.flying: dict[str, float] = {}
        self.est_done = 0.0
        self.real_done = 0.0
        self.tty = tty
        self._live: Any = None
        self._ids: dict[str, Any] = {}

    def __enter__(self) -> _Progress:
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            from planner.terminal import SafeConsole as Console  # names from XAPI

            self._live = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                transient=False,
                console=Console(stderr=True, log_path=False),  # stdout stays for the report
            )
            self._live.__enter__()
            for pool, migs in self.by_pool.items():
                self._ids[pool] = self._live.add_task(
                    f"pool {_label(self.inv, pool)}", total=len(migs), info=""
                )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._refresh()
            self._live.__exit__(None, None, None)

    def seed(self, entries: list[Entry]) -> None:
        """Count what earlier runs finished."""
        from planner.execute.journal import DONE

        self.done |= {e.id for e in entries if e.state == DONE}
        self.seeded = len(self.done)
        self.started |= self.done
        self._refresh()

    def position(self, now: float) -> float:
        """Where the run stands on the plan's clock (seconds since the plan's t=0)."""
        left = [m.start_s for m in self.plan.migrations() if m.id not in self.started]
        if left:
            return float(min(left))
        by_id = {m.id: m for m in self.plan.migrations()}
        inside = [min(by_id[i].end_s, by_id[i].start_s + now - t0)
                  for i, t0 in self.flying.items() if i in by_id]  # fmt: skip
        return max(inside, default=float(self.plan.schedule_seconds))

    def schedule_eta(self, now: float) -> float:
        return max(0.0, self.plan.schedule_seconds - self.position(now))

    def _vs_plan(self, planned: int, now: float) -> str:
        """"planned t+X s, at t+Y s (+Z s)" for a start or an end."""
        if self.origin is None:
            return ""
        at = now - self.origin
        return f"planned t+{planned}s, at t+{at:.0f}s ({at - planned:+.0f}s)"

    def _eta(self, pool: str) -> float:
        left = [m for m in self.by_pool[pool] if m.id not in self.done]
        ratio = self.real_done / self.est_done if self.est_done > 0 else 1.0
        return sum(m.est_seconds for m in left) / self.slots * ratio

    def _refresh(self) -> None:
        if self._live is None:
            return
        now = time.monotonic()
        for pool, tid in self._ids.items():
            n_done = sum(1 for m in self.by_pool[pool] if m.id in self.done)
            flying = sum(1 for m in self.by_pool[pool] if m.id in self.flying)
            eta = self.schedule_eta(now) if self.scheduled else self._eta(pool)
            self._live.update(tid, completed=n_done, info=f"in flight {flying}  ETA {hms(eta)}")

    def event(self, kind: str, m: Migration, detail: str) -> None:
        now = time.monotonic()
        timing = ""
        if kind in ("start", "resume"):
            if self.scheduled and self.origin is None and kind == "start":
                self.origin = now - m.start_s
            self.flying[m.id] = now
            self.started.add(m.id)
            if self.scheduled and kind == "start":
                timing = self._vs_plan(m.start_s, now)
        elif kind == "done":
            t0 = self.flying.pop(m.id, None)
            self.done.add(m.id)
            if self.scheduled:
                timing = self._vs_plan(m.end_s, now)
            if t0 is not None and m.est_seconds > 0:
                self.est_done += m.est_seconds
                self.real_done += now - t0
        elif kind in ("failed", "held", "retry"):
            self.flying.pop(m.id, None)
        if kind == "retry" and self.config is not None:
            # the runner's rule (runner.py _failed_attempt): retry n waits backoff * 2^(n-1)
            n = self.retries[m.id] = self.retries.get(m.id, 0) + 1
            wait = self.config.backoff_seconds * 2 ** (n - 1)
            detail = (f"attempt {n} failed: {detail}; attempt {n + 1} of at most "
                      f"{self.config.retries + 1} in {wait:.1f} s")  # fmt: skip
        if kind == "note":
            line = detail
        else:
            if kind == "done" and detail.replace(".", "", 1).isdigit():
                detail = f"{detail} s"  # the runner reports wall seconds as a bare number
            if timing:
                detail = f"{detail}; {timing}" if detail else timing
            line = f"{kind:<7} {m.id} {_describe(m, self.inv)}" + (f" ({detail})" if detail else "")
        level = logging.WARNING if kind in ("failed", "held", "retry", "uncertain") else \
            logging.INFO  # fmt: skip
        # the terminal shows the event as its own line already: the log file records it
        _log.log(level, line, extra={"event": kind, "migration": getattr(m, "id", None),
                                     "vm": getattr(m, "vm", None), logs.FILE_ONLY: True})
        if self._live is not None:
            if kind not in ("start", "done", "resume"):
                self._live.console.log(line)
            self._refresh()
        else:
            typer.echo(f"{time.strftime('%H:%M:%S')} {line}")


# ---------------------------------------------------------------- summary


def _drift_line(summary: Summary, plan: Plan, mode: str, resumed: bool) -> str:
    """How long the run took against the plan's estimate (flow: the schedule's length,
    waves: the lock-step figure), in the runner's (wall) seconds."""
    scheduled = mode == "flow" and plan.has_schedule
    want = plan.schedule_seconds if scheduled else int(plan.estimate.get(
        "wave_seconds", plan.estimate.get("seconds", 0)))
    what = "schedule" if scheduled else "wave estimate"
    took = f"this run took {summary.seconds:,.0f}s"
    if resumed or not summary.complete or want <= 0:
        why = "resumed" if resumed else "not complete"
        return f"time: {took} ({why}: not compared with the plan's {what} of {want:,}s)"
    d = summary.seconds - want
    return (f"time: {took}; the plan's {what} is {want:,}s: drift {d:+,.0f}s "
            f"({100 * d / want:+.1f}%)")


def _summary_lines(summary: Summary, plan: Plan, inv: Inventory | None,
                   drift: str | None = None) -> list[str]:  # fmt: skip
    from planner.execute import journal as J

    by_id = {m.id: m for m in plan.migrations()}
    counts = {
        "done": summary.count(J.DONE),
        "failed": summary.count(J.FAILED),
        "held": summary.count(J.HELD),
        "not started": sum(1 for e in summary.entries if e.state in (J.PENDING, J.INTENT)),
        "in flight": summary.count(J.STARTED),
    }
    out = ["", "summary: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v or k == "done")]
    if drift:
        out.append(drift)
    if summary.steps:
        left = [e for e in summary.steps if e.state != J.DONE]
        out.append(f"host steps: done {len(summary.steps) - len(left)} of {len(summary.steps)}")
        for e in left:
            state = "pending" if e.state in (J.PENDING, J.INTENT) else e.state
            ver = f" to {e.to_version}" if e.to_version else ""
            out.append(f"{e.id:<14} {state:<11} {e.attempts:>5}  wave {e.wave}: {e.kind} "
                       f"{_label(inv, e.host)}{ver}")  # fmt: skip
            if e.error:
                out.append(f"{'':<14} {'':<11} {'':>5}  {_readable(e.error)}")
    rows = [e for e in summary.entries if e.state != J.DONE]
    if rows:
        out.append(f"{'id':<14} {'state':<11} {'tries':>5}  migration / why")
        for row in rows:
            m = by_id.get(row.id)
            state = "not started" if row.state in (J.PENDING, J.INTENT) else row.state
            what = _describe(m, inv) if m is not None else row.vm
            out.append(f"{row.id:<14} {state:<11} {row.attempts:>5}  {what}")
            if row.error:
                out.append(f"{'':<14} {'':<11} {'':>5}  {_readable(row.error)}")
    if inv is not None:
        out += _advice(summary, plan, inv)
    return out


def _advice(summary: Summary, plan: Plan, inv: Inventory) -> list[str]:
    """(issue 17) The restart advice for the VMs whose every migration is done."""
    from planner.advice import advice_lines
    from planner.execute import journal as J

    state = {e.id: e.state for e in summary.entries}
    vms: dict[str, bool] = {}
    for m in plan.migrations():
        vms[m.vm] = vms.get(m.vm, True) and state.get(m.id) == J.DONE
    return advice_lines(inv, plan, {vm for vm, done in vms.items() if done})


def _readable(error: str) -> str:
    """A journaled XAPI error without its opaque refs (they stay in the journal)."""
    import re

    return re.sub(r"OpaqueRef:[0-9A-Za-z-]+(,\s*)?", "", error).strip().rstrip(",")


STATUS_COLUMNS = ("id", "wave", "kind", "state", "attempts", "vm", "vm_name", "host",
                  "host_name", "from_pool", "from_pool_name", "to_pool", "to_pool_name",
                  "to_version", "tasks", "error")  # fmt: skip


def _status_rows(journal: Journal, inv: Inventory | None) -> list[dict[str, Any]]:
    """Every migration and host step of the journal as a row (uuids and names)."""
    def name(u: str | None) -> str | None:
        return inv.label(u) if inv is not None and u is not None else None

    rows: list[dict[str, Any]] = [
        {"id": e.id, "wave": e.wave, "kind": e.kind, "state": e.state, "attempts": e.attempts,
         "vm": e.vm, "vm_name": name(e.vm), "from_pool": e.from_pool,
         "from_pool_name": name(e.from_pool), "to_pool": e.to_pool,
         "to_pool_name": name(e.to_pool), "tasks": list(e.tasks),
         "error": _readable(e.error) if e.error else None}
        for e in journal.entries()]  # fmt: skip
    rows += [{"id": st.id, "wave": st.wave, "kind": st.kind, "state": st.state,
              "attempts": st.attempts, "host": st.host, "host_name": name(st.host),
              "to_version": st.to_version, "error": st.error}
             for st in journal.steps()]  # fmt: skip
    return rows


def _status(journal: Journal, plan: Plan | None, inv: Inventory | None,
            out: Output | None = None) -> int:  # fmt: skip
    from planner.execute import journal as J

    out = out or Output("table")
    info = journal.info()
    entries = journal.entries()
    steps = journal.steps()
    counts = journal.counts()
    head = f"journal {journal.path}: run {info.run_id}, {info.runs} run(s); " + "  ".join(
        f"{s} {counts[s]}" for s in J.STATES)
    rows: tuple[J.Entry | J.StepEntry, ...] = (*entries, *steps)
    code = 0 if all(e.state == J.DONE for e in rows) else 1
    if out.is_data:
        out.emit(doc=lambda: {
            "journal": str(journal.path), "run_id": info.run_id, "runs": info.runs,
            "plan_digest": info.plan_digest, "inventory_digest": info.inventory_digest,
            "counts": {s: counts[s] for s in J.STATES}, "complete": code == 0,
            "rows": _status_rows(journal, inv)},
            rows=lambda: _status_rows(journal, inv), columns=STATUS_COLUMNS,
            table=lambda _c: None)  # fmt: skip
        out.status(head)
        return code

    def table(con: Any) -> None:
        def say(line: str) -> None:
            con.print(line, markup=False, highlight=False, soft_wrap=True)

        say(f"journal {journal.path}: run {info.run_id}, {info.runs} run(s)")
        say(f"plan digest {info.plan_digest[:16]}  inventory digest "
            f"{info.inventory_digest[:16]}")  # fmt: skip
        say("  ".join(f"{s} {counts[s]}" for s in J.STATES))
        if inv is None and any(e.state != J.DONE for e in entries):
            say("(uuids below: add --inventory INV to see names)")
        by_id = {m.id: m for m in plan.migrations()} if plan is not None else {}
        origin = _schedule_origin(entries, by_id, plan)
        if origin is not None and plan is not None:
            for line in _schedule_status(entries, by_id, plan, origin):
                say(line)
        for e in entries:
            if e.state == J.DONE:
                continue
            m = by_id.get(e.id)
            what = _describe(m, inv) if m is not None else f"{e.kind} {_label(inv, e.vm)}"
            tail = f"  [{_readable(e.error)}]" if e.error else ""
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
            say(f"{st.id:<14} {st.state:<8} tries {st.attempts}  wave {st.wave}: {st.kind} "
                f"{_label(inv, st.host)}{ver}{tail}")  # fmt: skip

    out.table(table)
    return code


def _names_for(jpath: Path, plan: Plan | None,
               plan_path: Path | None) -> tuple[Plan | None, Inventory | None]:  # fmt: skip
    """`execute --status` without --inventory: the plan next to the journal (PLAN.journal)
    and an inventory with the journal's digest beside it (the re-plan's
    `.inventory.json`, another inventory file in the directory, or a bundled sample),
    for names."""
    from planner.execute import journal as J
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
    return plan, _inventory_beside(plan_path or jpath, info.inventory_digest)


def _inventory_beside(path: Path, inventory_digest: str) -> Inventory | None:
    """An inventory with this digest next to `path` (a plan or journal): the re-plan's
    `.inventory.json`, another inventory file of the directory, or a bundled sample;
    None when there is none. Only for names in messages."""
    from planner.inventory import digest, load
    from planner.inventory.samples import sample_path

    folder = path.absolute().parent
    first = [path.with_name(path.stem + ".inventory.json")]

    others = sorted(p for p in folder.glob("*.json")
                    if p not in first and p != path)[:INVENTORY_GUESSES]  # fmt: skip
    samples = [Path(sample_path()), Path(sample_path("two-pools"))]
    for cand_path in [*first, *others, *samples]:
        try:
            # a small peek first: only inventory files are loaded
            if not cand_path.is_file() or b"xen-planner/inventory" not in \
                    cand_path.open("rb").read(4096):  # fmt: skip
                continue
            inv = load(cand_path)
        except (InputError, OSError):
            continue
        if digest(inv) == inventory_digest:
            return inv
    return None


INVENTORY_GUESSES = 20  # inventory files looked at for names beside a journal


def _schedule_origin(entries: list[Entry], by_id: dict[str, Migration],
                     plan: Plan | None) -> float | None:  # fmt: skip
    """The journal's Unix time of the plan's t=0: the first start, less its planned start
    (None for a plan without a schedule, or before anything started)."""
    if plan is None or not plan.has_schedule:
        return None
    firsts = [(e.started_at, by_id[e.id].start_s) for e in entries
              if e.started_at is not None and e.id in by_id]  # fmt: skip
    if not firsts:
        return None
    at, planned = min(firsts)
    return at - planned


def _schedule_status(entries: list[Entry], by_id: dict[str, Migration], plan: Plan,
                     origin: float) -> list[str]:  # fmt: skip
    """Planned against actual: the schedule's length, how far the run is, its drift."""
    from planner.execute import journal as J

    ended = [(e.ended_at, by_id[e.id]) for e in entries
             if e.state == J.DONE and e.ended_at is not None and e.id in by_id]  # fmt: skip
    n_done = sum(1 for e in entries if e.state == J.DONE)
    out = [f"schedule: {plan.schedule_seconds:,}s planned; {n_done} of {len(entries)} "
           "migrations done"]  # fmt: skip
    if ended:
        at, m = max(ended, key=lambda x: x[0])
        late = (at - origin) - m.end_s
        out.append(f"latest end: {m.id} planned t+{m.end_s}s, ended t+{at - origin:.0f}s "
                   f"(drift {late:+.0f}s)")  # fmt: skip
        if n_done < len(entries):
            left = max(0.0, plan.schedule_seconds - m.end_s)
            out.append(f"ETA: about {left:,.0f}s after the latest end, if the rest keeps "
                       "to the schedule")  # fmt: skip
        else:
            span = at - origin
            d = span - plan.schedule_seconds
            pct = 100 * d / plan.schedule_seconds if plan.schedule_seconds else 0.0
            out.append(f"finished: span {span:,.0f}s against {plan.schedule_seconds:,}s "
                       f"planned (drift {d:+,.0f}s, {pct:+.1f}%)")  # fmt: skip
    return out


# ---------------------------------------------------------------- commands


def register(app: typer.Typer) -> None:
    """Add `execute` and `export` to `app`."""

    @app.command("execute")
    def execute(
        plan_path: Annotated[
            Path | None, typer.Argument(metavar="PLAN", help="Plan JSON file.")
        ] = None,
        url: Annotated[
            list[str] | None,
            typer.Option(
                "--url", help="URL of a pool master (one per pool; repeat).", metavar="URL"
            ),
        ] = None,
        user: Annotated[str, typer.Option("-u", "--user", help="XAPI user name.")] = "root",
        password_env: Annotated[
            str | None,
            typer.Option(
                "--password-env",
                help="Environment variable holding the password "
                f"(default {DEFAULT_PASSWORD_ENV}; else a prompt).",
            ),
        ] = None,
        pool: PoolOption = None,
        insecure: InsecureOption = False,
        ca_file: CaFileOption = None,
        fingerprint: FingerprintOption = None,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run", help="Pre-flight and print what would happen; change nothing."
            ),
        ] = False,
        mode: Annotated[str, typer.Option("--mode", help="waves (lock-step) or flow.")] = "flow",
        journal: Annotated[
            Path | None,
            typer.Option(
                "--journal", help="Journal file (default: PLAN.journal next to the plan)."
            ),
        ] = None,
        max_per_pool: Annotated[
            int | None,
            typer.Option("--max-per-pool", help="Migrations in flight per source pool (1..3); "
                         "default: the plan's max_per_pool (this may only lower it).",
                         show_default=False),
        ] = None,
        retries: Annotated[
            int, typer.Option("--retries", help="Retries of a transient fault.")
        ] = 3,
        backoff: Annotated[
            float,
            typer.Option("--backoff", help="Seconds before the first retry (doubles each time)."),
        ] = 5.0,
        poll: Annotated[
            float, typer.Option("--poll", help="Longest wait between task checks (seconds).")
        ] = 1.0,
        inventory: Annotated[
            Path | None,
            typer.Option(
                "--inventory",
                help="The inventory the plan was made from: enables the precise drift check "
                "of memory, free space and enabled hosts.",
            ),
        ] = None,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
        ] = False,
        replan: Annotated[
            bool,
            typer.Option(
                "--replan",
                help="On drift, solve again from the live state (keeping what is done) and "
                "run the new plan (written next to PLAN, with its own journal).",
            ),
        ] = False,
        replan_solver: Annotated[
            str, typer.Option("--solver", help="Solver for --replan: cpsat or greedy.")
        ] = "cpsat",
        time_limit: Annotated[
            float, typer.Option("--time-limit", help="Seconds for --replan's solver.")
        ] = 30.0,
        status: Annotated[
            bool, typer.Option("--status", help="Show where the run recorded in --journal stands.")
        ] = False,
        step_poll: Annotated[
            float,
            typer.Option(
                "--step-poll", help="Seconds between two looks at a host being upgraded."
            ),
        ] = 10.0,
        step_timeout: Annotated[
            float | None,
            typer.Option(
                "--step-timeout",
                help="Give up waiting for a host upgrade after this many seconds (exit 1; "
                "re-run to resume). Default: wait as long as it takes.",
            ),
        ] = None,
        settle: Annotated[
            float,
            typer.Option(
                "--settle",
                help="On resume, how long after its intent a start call that may still be "
                "in transit is waited for before it is sent again (docs/reliability.md).",
            ),
        ] = 90.0,
        fmt: FormatOption = "table",
        output: OutputOption = None,
        log_file: LogFileOption = None,
        show_progress: ProgressOption = None,
    ) -> None:
        """Carry out PLAN through XenAPI, journaled and resumable.

        Re-running the same command resumes: tasks left in flight are looked up in XAPI and no migration is started twice. Ctrl-C once stops starting new migrations and waits for those in flight; twice cancels them.

        Exit status: 0 all done, 1 something is left (see the summary) or the pre-flight refused, 2 bad input or unreachable pools.

        Example: planner execute plan.json --url https://pool-a --url https://pool-b --password-env XAPI_PASSWORD --mode flow
        """  # noqa: E501
        from planner.execute import journal as J
        from planner.plan import load as load_plan

        if status:
            if journal is not None:
                jpath = journal
            elif plan_path is not None:
                jpath = _journal_path(plan_path, None)
            else:
                raise InputError("--status needs --journal FILE (or PLAN)")
            out = Output.of(fmt, output)
            plan = load_plan(plan_path) if plan_path is not None else None
            inv = _load_base(inventory, plan)
            if inv is None and jpath.exists():
                plan, inv = _names_for(jpath, plan, plan_path)
            with J.Journal.read(jpath) as j:
                if plan is not None and j.info().plan_digest != J.plan_digest(plan):
                    raise InputError(f"{jpath}: journal belongs to another plan than "
                                     f"{plan_path} (plan digest {j.info().plan_digest[:12]}, "
                                     f"this plan {J.plan_digest(plan)[:12]})")  # fmt: skip
                raise typer.Exit(_status(j, plan, inv, out))
        if plan_path is None:
            raise InputError("missing PLAN (the plan JSON file)")
        problems = []
        if fmt != "table" or output is not None:
            problems.append("--format and -o go with --status (a run reports to people)")
        if not url and not pool and not current_config().pools:
            problems.append("--url: give the URL of each pool master (repeat --url), or "
                            "--pool NAME from the config file")
        if mode not in ("waves", "flow"):
            problems.append(f"--mode: must be waves or flow, got {mode!r}")
        if max_per_pool is not None and not 1 <= max_per_pool <= 3:
            problems.append(f"--max-per-pool: must be 1..3, got {max_per_pool}")
        if retries < 0:
            problems.append(f"--retries: must be >= 0, got {retries}")
        if replan_solver not in ("cpsat", "greedy"):
            problems.append(f"--solver: must be cpsat or greedy, got {replan_solver!r}")
        if backoff < 0 or poll <= 0:
            problems.append("--backoff must be >= 0 and --poll > 0")
        if not step_poll > 0:
            problems.append(f"--step-poll: must be > 0, got {step_poll}")
        if step_timeout is not None and not step_timeout > 0:
            problems.append(f"--step-timeout: must be > 0, got {step_timeout}")
        if problems:
            raise InputError("cannot execute", problems)
        plan = load_plan(plan_path)
        from planner.execute.runner import refuse_steps

        refuse_steps(plan)  # before anything is opened or written
        base = _load_base(inventory, plan)
        jpath = _journal_path(plan_path, journal)
        cli_tls = tls_option_value(insecure, ca_file, fingerprint)
        urls, user, password, tls = pool_access(list(url or []), list(pool or []), user,
                                                password_env, cli_tls, url_option="--url")
        log = logs.configure(log_file, secrets=[password])
        log.info("execute %s: %s, %d pool(s), journal %s", plan_path,
                 "dry run" if dry_run else f"mode {mode}", len(urls), jpath)  # fmt: skip
        from planner.execute.runner import RunConfig

        config = RunConfig(
            mode=mode,
            max_per_pool=max_per_pool,
            retries=retries,
            backoff_seconds=backoff,
            poll_seconds=poll,
            step_poll_seconds=step_poll,
            step_timeout_seconds=step_timeout,
        )
        try:
            code = _execute(
                plan,
                plan_path,
                base,
                jpath,
                urls,
                user,
                password,
                insecure=tls,
                dry_run=dry_run,
                config=config,
                yes=yes,
                replan=(replan_solver, time_limit) if replan else None,
                progress=enabled(show_progress),
                settle=settle,
            )
        except Exception as e:
            log.error("execute failed: %s", e)
            raise
        finally:
            log.info("execute ended")
            logs.close()
        raise typer.Exit(code)

    @app.command("export")
    def export(
        plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="Plan JSON file.")],
        to: Annotated[str | None, typer.Option(
            "--to", metavar="xe|csv|json",
            help="xe: a POSIX shell script of xe commands; csv or json: the runbook "
            "(same as --format).")] = None,
        output: Annotated[
            Path | None, typer.Option("-o", "--output", metavar="FILE",
                                      help="Output file (default or '-': stdout).")
        ] = None,
        inventory: Annotated[
            Path | None,
            typer.Option(
                "--inventory", help="The plan's inventory, for names in comments and CSV."
            ),
        ] = None,
        password_env: Annotated[
            str,
            typer.Option("--password-env", help="Variable the script reads the password from."),
        ] = "XE_PASSWORD",
        user_env: Annotated[
            str, typer.Option("--user-env", help="Variable the script reads the user name from.")
        ] = "XE_USER",
        remote_password: Annotated[
            str,
            typer.Option(
                "--remote-password",
                help="env or prompt: where remote-password= of storage and halted moves comes "
                "from (xe has no file form for it, so it is in xe's argv; docs/security.md).",
            ),
        ] = "env",
        fmt: FormatOption = "table",
    ) -> None:
        """Write PLAN for other executors: an `xe vm-migrate` script or a runbook table.

        The script runs wave by wave (each wave's migrations in the background, then waits) and stops at the first failed wave. Set XE_PASSWORD and POOL_n_MASTER (listed at the top of the script) before running it; the password is never written to the file. The runbook (--format table|json|csv) has one row per migration and per host step, with uuids and names: the columns of `planner solve --format csv`.

        Example: planner export plan.json --to xe -o campaign.sh
        """  # noqa: E501
        from planner.cli.output import is_stdout
        from planner.execute.export import to_xe_script
        from planner.plan import load as load_plan
        from planner.rows import PLAN_COLUMNS, plan_rows

        if to is not None and to not in ("xe", "csv", "json"):
            raise InputError(f"--to: must be xe, csv or json, got {to!r}")
        if to in ("csv", "json"):
            fmt = to
        out = Output.of(fmt, output)
        plan = load_plan(plan_path)
        inv = _load_base(inventory, plan)
        if to != "xe":
            rows = plan_rows(plan, inv)

            def table(con: Any) -> None:
                from rich.table import Table

                from planner.cli.output import hms

                t = Table(header_style="bold")
                for col in ("wave", "id", "kind", "VM / host", "from", "to", "est"):
                    t.add_column(col, justify="right" if col in ("wave", "est") else "left")
                for r in rows:
                    what = r["vm_name"] or r["vm"] or r["from_host_name"] or r["from_host"]
                    src = (r["from_host_name"] or r["from_host"] or r["from_pool_name"]
                           or r["from_pool"]) if r["vm"] else r["when"]  # fmt: skip
                    dst = (r["to_host_name"] or r["to_host"] or r["to_pool_name"]
                           or r["to_pool"] or r["to_version"] or "")  # fmt: skip
                    t.add_row(str(r["wave"]), r["id"], r["kind"], what, src, dst,
                              hms(r["est_seconds"]) if r["est_seconds"] else "")  # fmt: skip
                con.print(t)

            out.emit(doc=lambda: rows, rows=lambda: rows, columns=PLAN_COLUMNS, table=table)
            return
        text = to_xe_script(plan, inv, user_var=user_env, password_var=password_env,
                            remote_password=remote_password)  # fmt: skip
        if is_stdout(output):
            typer.echo(text, nl=False)
            return
        assert output is not None
        output.write_text(text)
        output.chmod(0o755)
        typer.echo(f"wrote {output}", err=True)


def _load_base(path: Path | None, plan: Plan | None = None) -> Inventory | None:
    """The `--inventory` file, if given; with `plan`, it must be the plan's inventory
    (names from another one would label the wrong VMs, or none at all)."""
    if path is None:
        return None
    from planner.inventory import digest, load

    inv = load(path)
    if plan is not None and digest(inv) != plan.inventory_digest:
        raise InputError(
            f"--inventory {path}: not the inventory the plan was made for "
            f"(digest {digest(inv)[:12]}, plan {plan.inventory_digest[:12]})"
        )
    return inv


def _execute(
    plan: Plan,
    plan_path: Path,
    base: Inventory | None,
    jpath: Path,
    urls: list[str],
    user: str,
    password: str,
    *,
    insecure: TlsSetting,
    dry_run: bool,
    config: RunConfig,
    yes: bool,
    replan: tuple[str, float] | None,
    progress: bool | None = None,
    settle: float = 90.0,
) -> int:
    from planner.execute import journal as J
    from planner.execute.preflight import preflight
    from planner.execute.runner import reconcile
    from planner.execute.xapi_backend import XapiBackend

    backend = XapiBackend(
        urls, user, password, insecure=insecure, poll_seconds=min(config.poll_seconds, 0.5)
    )
    try:
        missing = {m.from_pool for m in plan.migrations()} | {m.to_pool for m in plan.migrations()}
        missing -= set(backend.pools)
        if missing:
            names = base or _inventory_beside(plan_path, plan.inventory_digest)
            raise InputError("no --url for pool(s) the plan uses (give --url or --pool)",
                             sorted(f"{_label(names, p)} ({p})" if names else p
                                    for p in missing))  # fmt: skip
        if dry_run:
            states = {}
            if jpath.exists():
                with J.Journal.read(jpath) as j:
                    if j.info().plan_digest != J.plan_digest(plan):
                        raise InputError(f"{jpath}: journal belongs to another plan")
                    states = {e.id: e.state for e in j.entries()}
                    states.update({st.id: st.state for st in j.steps()})
            live = backend.inventory()
            report = preflight(plan, live, states, base, host_live=_host_live(backend))
            _print_preflight(report)
            # the same verdict as the real run below, word for word, and its exit status
            if not report.ok and replan is None:
                typer.echo(f"planner: {REFUSAL} (dry run: nothing was changed)", err=True)
                return 1
            flying = [i for i, st in states.items() if st in J.IN_FLIGHT]
            if not report.ok and flying:
                typer.echo(f"planner: {_in_flight(len(flying))} (dry run: nothing was changed)",
                           err=True)  # fmt: skip
                return 1
            if not report.ok and replan is not None:
                new = _replan(plan, live, replan)
                typer.echo(
                    f"replan: {sum(1 for _ in new.migrations())} migration(s) from the "
                    "live state (not saved: dry run)"
                )
                _print_would(new, {}, live)
                return 0
            _print_would(plan, states, live)
            return 0 if report.ok else 1
        fresh = not jpath.exists()
        refused = False
        with J.Journal.open(jpath, plan) as j:
            for line in reconcile(plan, j, backend, settle_seconds=settle):
                typer.echo(f"resume: {line}")
            live = backend.inventory()
            states = {e.id: e.state for e in j.entries()}
            report = preflight(plan, live, states, base, host_live=_host_live(backend))
            _print_preflight(report)
            if report.ok:
                return _run(plan, j, backend, live, base, report, config, yes, progress)
            if replan is None:
                typer.echo(f"planner: {REFUSAL}", err=True)
                refused = True
            elif flying := [e.id for e in j.entries() if e.state in J.IN_FLIGHT]:
                typer.echo(f"planner: {_in_flight(len(flying))}", err=True)
                return 1
        if refused:
            if fresh:  # a first run that was refused leaves nothing behind
                for suffix in ("", "-wal", "-shm", ".lock"):
                    Path(f"{jpath}{suffix}").unlink(missing_ok=True)
            return 1
        # re-plan from the live state: what is done stays done (it is in the live state);
        # the new plan gets its own file, inventory and journal, the old journal is kept
        assert replan is not None  # without --replan a refusal returned above
        plan = _replan(plan, live, replan)
        new_path = _free_name(plan_path)
        _save_replan(plan, live, new_path)
        jpath = new_path.with_name(new_path.name + ".journal")
        typer.echo(
            f"replan: {sum(1 for _ in plan.migrations())} migration(s) in "
            f"{len(plan.waves)} wave(s) written to {new_path}; journal {jpath}"
        )
        with J.Journal.open(jpath, plan) as j:
            report = preflight(plan, live, {}, live)
            return _run(plan, j, backend, live, live, report, config, yes, progress)
    finally:
        backend.close()


REFUSAL = ("refusing to execute: the pools changed since the plan was made (use --replan, "
           "or make a new plan from a fresh inventory)")


def _in_flight(n: int) -> str:
    return f"cannot re-plan while {n} migration(s) are in flight; re-run when they have ended"


def _host_live(backend: Any) -> Any:
    """host uuid -> whether its master shows it live (no answer counts as not live)."""
    from planner.execute.backend import MigrationFault

    def live(host: str) -> bool:
        try:
            return bool(backend.host_state(host).live)
        except MigrationFault:
            return False

    return live


def _goal_lines(plan: Plan, live: Inventory) -> list[str]:
    """Where the live pools differ from the plan's end state (each VM where its last
    migration takes it): one line per VM, empty when the goal holds."""
    from planner.execute.runner import _live_location, arrived

    last: dict[str, Migration] = {}
    for m in plan.migrations():
        last[m.vm] = m
    out = []
    for vm, m in last.items():
        if not arrived(m, _live_location(live, vm)):
            out.append(f"goal: {_label(live, vm)} is not where {m.id} takes it "
                       f"({_describe(m, live)})")  # fmt: skip
    return out


def _replan(plan: Plan, live: Inventory, how: tuple[str, float]) -> Plan:
    from planner.goals import goal_from_json
    from planner.options import PlanOptions
    from planner.solve import solve

    goal = goal_from_json(plan.goal, live, where="plan goal (live inventory)")
    solver, time_limit = how
    return solve(
        live, goal, PlanOptions.from_json(plan.options), solver=solver, time_limit=time_limit
    )


def _free_name(plan_path: Path) -> Path:
    for k in range(1, 1000):
        p = plan_path.with_name(f"{plan_path.stem}.replan-{k}{plan_path.suffix or '.json'}")
        if not p.exists():
            return p
    raise InputError(f"{plan_path}: too many re-plans next to this plan")


def _save_replan(plan: Plan, live: Inventory, path: Path) -> None:
    from planner.inventory.io import save as save_inv
    from planner.plan import save as save_plan

    save_plan(plan, path)
    # the inventory the new plan was made from, so `planner check` can replay it
    save_inv(live, path.with_name(path.stem + ".inventory.json"))


def _run(
    plan: Plan,
    j: Journal,
    backend: Any,
    live: Inventory,
    base: Inventory | None,
    report: Any,
    config: RunConfig,
    yes: bool,
    progress: bool | None = None,
) -> int:
    from planner.execute import journal as J
    from planner.execute.runner import Runner

    steps_left = [e for e in j.steps() if e.state != J.DONE]
    if not report.pending and not steps_left:
        typer.echo("nothing to do: every migration of the plan is done")
        # ... but the pools may have changed since: the exit status says if the goal holds
        problems = _goal_lines(plan, live)
        for line in problems:
            typer.echo(line, err=True)
        return 1 if problems else 0
    if not yes:
        if not sys.stdin.isatty():
            raise InputError("confirm with --yes (no terminal to ask on)")
        extra = f" and {len(steps_left)} host step(s)" if steps_left else ""
        if not typer.confirm(f"start {len(report.pending)} migration(s){extra}?"):
            return 1
    tty = sys.stderr.isatty() if progress is None else progress
    slots = min(config.max_per_pool or 3, int(plan.options.get("max_per_pool", 3)))
    scheduled = config.mode == "flow" and plan.has_schedule
    with _Progress(plan, base or live, slots, tty, scheduled, config) as bars:
        bars.seed(j.entries())
        runner = Runner(plan, j, backend, live, config, on_event=bars.event,
                        step_wait=_enter_waiter() if sys.stdin.isatty() else None)  # fmt: skip
        summary = runner.run()
    drift = _drift_line(summary, plan, config.mode, bars.seeded > 0)
    for line in _summary_lines(summary, plan, base or live, drift):
        typer.echo(line)
        if line:
            _log.info(line, extra={"event": "summary"})
    if not summary.complete:
        return 1
    problems = _goal_lines(plan, backend.inventory())  # re-checked on the live pools
    for line in problems:
        typer.echo(line, err=True)
    return 1 if problems else 0


def _print_preflight(report: Any) -> None:
    if report.same_digest and report.ok:
        typer.echo("pre-flight: the live inventory matches the plan's (same digest)")
    elif report.ok:
        typer.echo(
            f"pre-flight: {len(report.pending)} migration(s) to run still fit the live state"
        )
    else:
        typer.echo(f"pre-flight: {len(report.drift)} change(s) since the plan was made:", err=True)
        for d in report.drift:
            typer.echo(f"  {d.line()}", err=True)
            _log.info("drift: %s", d.line(), extra={"event": "drift"})


def _print_would(plan: Plan, states: dict[str, str], live: Inventory) -> None:
    from planner.execute import journal as J

    n = 0
    sids = {id(st): sid for sid, _, st in J.step_ids(plan)}
    for w in plan.waves:
        todo = [m for m in w.migrations if states.get(m.id, J.PENDING) != J.DONE]
        steps = [(sids[id(st)], st) for st in w.steps
                 if states.get(sids[id(st)], J.PENDING) != J.DONE]  # fmt: skip
        if not todo and not steps:
            continue
        typer.echo(f"wave {w.index}:")
        for sid, st in steps:
            if st.when == "before":
                typer.echo(f"  would run   {sid}: {_step_line(st, live)} (before the moves)")
        for m in todo:
            n += 1
            typer.echo(f"  would start {m.id}: {_describe(m, live)} (~{m.est_seconds}s)")
        for sid, st in steps:
            if st.when != "before":
                typer.echo(f"  would run   {sid}: {_step_line(st, live)} (after the moves)")
    n_steps = sum(1 for sid, _, _ in J.step_ids(plan) if states.get(sid, J.PENDING) != J.DONE)
    more = f" and {n_steps} host step(s)" if n_steps else ""
    typer.echo(f"dry run: {n} migration(s){more} would run; nothing was changed")


def _step_line(st: Any, inv: Inventory | None) -> str:
    if st.kind == "host-upgrade":
        return (f"host-upgrade {_label(inv, st.host)} to {st.to_version}: wait for the "
                "operator to upgrade and reboot it")  # fmt: skip
    return f"{st.kind} {_label(inv, st.host)}"


def _enter_waiter() -> Any:
    """On a terminal: wait up to N seconds for the operator to press Enter (True)."""
    import select

    def wait(seconds: float) -> bool:
        try:
            ready, _, _ = select.select([sys.stdin], [], [], seconds)
        except (OSError, ValueError):
            time.sleep(seconds)
            return False
        if ready:
            sys.stdin.readline()
            return True
        return False

    return wait
