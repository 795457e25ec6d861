"""`execute_plan`: one execution of a plan, the orchestration behind `planner execute`.

Connect to the pool masters, then either a dry run (pre-flight, what would run) or a
real one: open the journal, settle what a previous run left in flight (`reconcile`),
pre-flight the plan against the live pools, ask for confirmation, run it (`Runner`),
summarise, and re-check the plan's goal on the live pools. On drift, `--replan` solves
again from the live state and runs the new plan under its own file and journal.

Everything meant for people goes through an `ExecuteUI` (stdout and stderr lines, the
confirmation, the progress display), so the CLI stays a thin layer; the result is an
`ExecuteOutcome` whose `exit_code` is the CLI's exit status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from planner.errors import InputError
from planner.execute import journal as J
from planner.execute.backend import Backend, MigrationFault
from planner.execute.config import RunConfig, Summary
from planner.execute.loop import Runner
from planner.execute.preflight import PreflightReport, preflight
from planner.execute.reconcile import reconcile
from planner.execute.summary import (
    REFUSAL,
    drift_line,
    goal_lines,
    in_flight_text,
    label,
    preflight_lines,
    summary_lines,
    would_lines,
)
from planner.execute.xapi_backend import XapiBackend
from planner.goals import check_goal_refs
from planner.inventory import digest, load
from planner.inventory.io import save as save_inv
from planner.inventory.model import Inventory
from planner.inventory.samples import sample_path
from planner.plan import Migration, Plan
from planner.plan import save as save_plan

if TYPE_CHECKING:
    from planner.tls import TlsSetting

_log = logging.getLogger("planner.execute")

INVENTORY_GUESSES = 20  # inventory files looked at for names beside a journal


class Verdict(Enum):
    """How an execution ended; `exit_code` maps it to the CLI's exit status."""

    COMPLETE = "complete"  # every migration and step done and the goal holds
    NOTHING_TO_DO = "nothing to do"  # all done by earlier runs and the goal holds
    GOAL_MISSED = "goal missed"  # all done, but the live pools differ from the plan's end
    INCOMPLETE = "incomplete"  # something is left (failed, held, stopped, not started)
    REFUSED = "refused"  # the pre-flight refused (drift) and no re-plan was asked for
    IN_FLIGHT = "in flight"  # a re-plan must wait for migrations still in flight
    DECLINED = "declined"  # the operator answered no
    WOULD_RUN = "would run"  # dry run: the plan (or its re-plan) would run
    WOULD_REFUSE = "would refuse"  # dry run: the real run would refuse

    @property
    def exit_code(self) -> int:
        """0 when the goal holds (or a dry run would go ahead), else 1."""
        return 0 if self in (Verdict.COMPLETE, Verdict.NOTHING_TO_DO, Verdict.WOULD_RUN) else 1


@dataclass(frozen=True)
class ExecuteOutcome:
    """What one `execute_plan` call did.

    counts: journal states of the migrations at the end of the run (empty without a run).
    drift: the run's time against the plan's estimate (None without a run).
    summary: the end-of-run summary lines, as printed.
    goal: where the live pools differ from the plan's end state (one line per VM).
    plan_path, journal_path: the plan and journal run (a re-plan's when one was made).
    """

    verdict: Verdict
    plan_path: Path
    journal_path: Path
    counts: dict[str, int] = field(default_factory=dict)
    drift: str | None = None
    summary: tuple[str, ...] = ()
    goal: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code


class Progress(Protocol):
    """The run's progress display: told what earlier runs finished, then every event."""

    def seed(self, entries: list[J.Entry]) -> None: ...

    def event(self, kind: str, m: Migration, detail: str) -> None: ...


class ExecuteUI(Protocol):
    """Where `execute_plan` talks to people."""

    def say(self, line: str) -> None:
        """A line for stdout (the report)."""

    def warn(self, line: str) -> None:
        """A line for stderr (refusals, drift, goal problems)."""

    def confirm(self, question: str) -> bool:
        """Ask before starting (not called with `yes`)."""

    def progress(
        self, plan: Plan, inv: Inventory, slots: int, scheduled: bool, config: RunConfig
    ) -> AbstractContextManager[Progress]:
        """The progress display for a run of `plan` (`slots` migrations per pool)."""

    def step_wait(self) -> Callable[[float], bool] | None:
        """The runner's wait while a host upgrade is awaited (None: plain sleep)."""


class _NoProgress:
    def seed(self, entries: list[J.Entry]) -> None:
        pass

    def event(self, kind: str, m: Migration, detail: str) -> None:
        pass


@dataclass
class QuietUI:
    """An `ExecuteUI` for library callers: keeps the lines, shows no progress, and
    declines the confirmation (pass `yes=True` to run)."""

    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.out.append(line)

    def warn(self, line: str) -> None:
        self.err.append(line)

    def confirm(self, question: str) -> bool:
        return False

    @contextmanager
    def progress(
        self, plan: Plan, inv: Inventory, slots: int, scheduled: bool, config: RunConfig
    ) -> Iterator[Progress]:
        yield _NoProgress()

    def step_wait(self) -> Callable[[float], bool] | None:
        return None


@dataclass(frozen=True)
class _Job:
    """The fixed inputs of one execution (what the CLI's options say)."""

    plan_path: Path
    base: Inventory | None
    config: RunConfig
    yes: bool
    replan: tuple[str, float] | None
    ui: ExecuteUI


def execute_plan(
    plan: Plan,
    plan_path: Path,
    base: Inventory | None,
    jpath: Path,
    urls: list[str],
    user: str,
    password: str,
    *,
    ui: ExecuteUI,
    insecure: TlsSetting = False,
    dry_run: bool = False,
    config: RunConfig | None = None,
    yes: bool = False,
    replan: tuple[str, float] | None = None,
    settle: float = 90.0,
) -> ExecuteOutcome:
    """Carry out `plan` (read from `plan_path`) on the pools whose masters are `urls`,
    journaled in `jpath`. `base`: the inventory the plan was made from (the precise drift
    check), or None. `replan`: (solver, time limit in seconds) to re-plan on drift.
    `settle`: seconds a start call may be in transit on resume (docs/reliability.md).
    Raises InputError (one line) for bad input, ConnectionFailed for unreachable pools."""
    config = config or RunConfig()
    job = _Job(plan_path, base, config, yes, replan, ui)
    backend = XapiBackend(
        urls, user, password, insecure=insecure, poll_seconds=min(config.poll_seconds, 0.5)
    )
    try:
        _refuse_missing_pools(plan, plan_path, base, backend)
        if dry_run:
            return _dry_run(plan, jpath, backend, job)
        return _real_run(plan, jpath, backend, job, settle)
    finally:
        backend.close()


def _refuse_missing_pools(
    plan: Plan, plan_path: Path, base: Inventory | None, backend: Any
) -> None:
    missing = {m.from_pool for m in plan.migrations()} | {m.to_pool for m in plan.migrations()}
    missing -= set(backend.pools)
    if missing:
        names = base or inventory_beside(plan_path, plan.inventory_digest)
        raise InputError(
            "no --url for pool(s) the plan uses (give --url or --pool)",
            sorted(f"{label(names, p)} ({p})" if names else p for p in missing),
        )


def _dry_run(plan: Plan, jpath: Path, backend: Any, job: _Job) -> ExecuteOutcome:
    """Pre-flight and say what would happen; the same verdict as the real run, word for
    word, and its exit status."""
    ui = job.ui
    states = {}
    if jpath.exists():
        with J.Journal.read(jpath) as j:
            if j.info().plan_digest != J.plan_digest(plan):
                raise InputError(f"{jpath}: journal belongs to another plan")
            states = {e.id: e.state for e in j.entries()}
            states.update({st.id: st.state for st in j.steps()})
    live = backend.inventory()
    report = preflight(plan, live, states, job.base, host_live=host_live(backend))
    _report_preflight(report, ui)
    done = ExecuteOutcome(Verdict.WOULD_RUN, job.plan_path, jpath)
    refused = ExecuteOutcome(Verdict.WOULD_REFUSE, job.plan_path, jpath)
    if not report.ok and job.replan is None:
        ui.warn(f"planner: {REFUSAL} (dry run: nothing was changed)")
        return refused
    flying = [i for i, st in states.items() if st in J.IN_FLIGHT]
    if not report.ok and flying:
        ui.warn(f"planner: {in_flight_text(len(flying))} (dry run: nothing was changed)")
        return refused
    if not report.ok and job.replan is not None:
        new = replan_from(plan, live, job.replan)
        ui.say(
            f"replan: {sum(1 for _ in new.migrations())} migration(s) from the "
            "live state (not saved: dry run)"
        )
        for line in would_lines(new, {}, live):
            ui.say(line)
        return done
    for line in would_lines(plan, states, live):
        ui.say(line)
    return done if report.ok else refused


def _real_run(plan: Plan, jpath: Path, backend: Any, job: _Job, settle: float) -> ExecuteOutcome:
    """Resume what was in flight, pre-flight, run; on drift refuse, or re-plan."""
    ui = job.ui
    fresh = not jpath.exists()
    refused = False
    with J.Journal.open(jpath, plan) as j:
        for line in reconcile(plan, j, backend, settle_seconds=settle):
            ui.say(f"resume: {line}")
        live = backend.inventory()
        states = {e.id: e.state for e in j.entries()}
        report = preflight(plan, live, states, job.base, host_live=host_live(backend))
        _report_preflight(report, ui)
        if report.ok:
            return _run(plan, job.plan_path, j, backend, live, job.base, report, job)
        if job.replan is None:
            ui.warn(f"planner: {REFUSAL}")
            refused = True
        elif flying := [e.id for e in j.entries() if e.state in J.IN_FLIGHT]:
            ui.warn(f"planner: {in_flight_text(len(flying))}")
            return ExecuteOutcome(Verdict.IN_FLIGHT, job.plan_path, jpath)
    if refused:
        if fresh:  # a first run that was refused leaves nothing behind
            for suffix in ("", "-wal", "-shm", ".lock"):
                Path(f"{jpath}{suffix}").unlink(missing_ok=True)
        return ExecuteOutcome(Verdict.REFUSED, job.plan_path, jpath)
    assert job.replan is not None
    # re-plan from the live state: what is done stays done (it is in the live state);
    # the new plan gets its own file, inventory and journal, the old journal is kept
    plan = replan_from(plan, live, job.replan)
    new_path = free_name(job.plan_path)
    save_replan(plan, live, new_path)
    jpath = new_path.with_name(new_path.name + ".journal")
    ui.say(
        f"replan: {sum(1 for _ in plan.migrations())} migration(s) in "
        f"{len(plan.waves)} wave(s) written to {new_path}; journal {jpath}"
    )
    with J.Journal.open(jpath, plan) as j:
        report = preflight(plan, live, {}, live)
        return _run(plan, new_path, j, backend, live, live, report, job)


def _run(
    plan: Plan,
    plan_path: Path,
    j: J.Journal,
    backend: Backend,
    live: Inventory,
    base: Inventory | None,
    report: PreflightReport,
    job: _Job,
) -> ExecuteOutcome:
    """Confirm, run, summarise, re-check the goal on the live pools."""
    ui, config = job.ui, job.config
    steps_left = [e for e in j.steps() if e.state != J.DONE]
    if not report.pending and not steps_left:
        ui.say("nothing to do: every migration of the plan is done")
        # ... but the pools may have changed since: the exit status says if the goal holds
        problems = goal_lines(plan, live)
        for line in problems:
            ui.warn(line)
        verdict = Verdict.GOAL_MISSED if problems else Verdict.NOTHING_TO_DO
        return ExecuteOutcome(verdict, plan_path, j.path, goal=tuple(problems))
    if not job.yes:
        extra = f" and {len(steps_left)} host step(s)" if steps_left else ""
        if not ui.confirm(f"start {len(report.pending)} migration(s){extra}?"):
            return ExecuteOutcome(Verdict.DECLINED, plan_path, j.path)
    slots = min(config.max_per_pool or 3, plan.options.max_per_pool)
    scheduled = config.mode == "flow" and plan.has_schedule
    resumed = any(e.state == J.DONE for e in j.entries())  # an earlier run finished some
    with ui.progress(plan, base or live, slots, scheduled, config) as bars:
        bars.seed(j.entries())
        runner = Runner(
            plan, j, backend, live, config, on_event=bars.event, step_wait=ui.step_wait()
        )
        summary = runner.run()
    drift = drift_line(summary, plan, config.mode, resumed)
    lines = summary_lines(summary, plan, base or live, drift)
    for line in lines:
        ui.say(line)
        if line:
            _log.info(line, extra={"event": "summary"})
    counts = _counts(summary)
    if not summary.complete:
        return ExecuteOutcome(Verdict.INCOMPLETE, plan_path, j.path, counts, drift, tuple(lines))
    problems = goal_lines(plan, backend.inventory())  # re-checked on the live pools
    for line in problems:
        ui.warn(line)
    verdict = Verdict.GOAL_MISSED if problems else Verdict.COMPLETE
    return ExecuteOutcome(verdict, plan_path, j.path, counts, drift, tuple(lines), tuple(problems))


def _counts(summary: Summary) -> dict[str, int]:
    return {s: summary.count(s) for s in J.STATES}


def _report_preflight(report: PreflightReport, ui: ExecuteUI) -> None:
    out, err = preflight_lines(report)
    for line in out:
        ui.say(line)
    for line in err:
        ui.warn(line)
    for d in report.drift if not report.ok else ():
        _log.info("drift: %s", d.line(), extra={"event": "drift"})


def host_live(backend: Any) -> Callable[[str], bool]:
    """host uuid -> whether its master shows it live (no answer counts as not live)."""

    def live(host: str) -> bool:
        try:
            return bool(backend.host_state(host).live)
        except MigrationFault:
            return False

    return live


def replan_from(plan: Plan, live: Inventory, how: tuple[str, float]) -> Plan:
    """Solve `plan`'s goal again from the live state; `how` is (solver, seconds). The
    solver modules are imported here: they load OR-Tools, which a run without --replan
    does not need."""
    from planner.solve import solve

    check_goal_refs(plan.goal, live, where="plan goal (live inventory)")
    solver, time_limit = how
    return solve(live, plan.goal, plan.options, solver=solver, time_limit=time_limit)


def free_name(plan_path: Path) -> Path:
    """The first free `PLAN.replan-k.json` next to the plan."""
    for k in range(1, 1000):
        p = plan_path.with_name(f"{plan_path.stem}.replan-{k}{plan_path.suffix or '.json'}")
        if not p.exists():
            return p
    raise InputError(f"{plan_path}: too many re-plans next to this plan")


def save_replan(plan: Plan, live: Inventory, path: Path) -> None:
    """Write a re-plan and, beside it, the inventory it was made from."""

    save_plan(plan, path)
    # the inventory the new plan was made from, so `planner check` can replay it
    save_inv(live, path.with_name(path.stem + ".inventory.json"))


def inventory_beside(path: Path, inventory_digest: str) -> Inventory | None:
    """An inventory with this digest next to `path` (a plan or journal): the re-plan's
    `.inventory.json`, another inventory file of the directory, or a bundled sample;
    None when there is none. Only for names in messages."""

    folder = path.absolute().parent
    first = [path.with_name(path.stem + ".inventory.json")]

    others = sorted(p for p in folder.glob("*.json") if p not in first and p != path)[
        :INVENTORY_GUESSES
    ]
    samples = [Path(sample_path()), Path(sample_path("two-pools"))]
    for cand_path in [*first, *others, *samples]:
        try:
            # a small peek first: only inventory files are loaded
            if not cand_path.is_file() or b"xen-planner/inventory" not in cand_path.open("rb").read(
                4096
            ):
                continue
            inv = load(cand_path)
        except (InputError, OSError):
            continue
        if digest(inv) == inventory_digest:
            return inv
    return None
