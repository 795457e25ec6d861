"""Carry out a plan: wave mode (lock-step) or flow mode, journaled and resumable.

The loop is single-threaded: it reconciles what a previous run left in flight, then
repeatedly (1) starts every migration that may start, in plan order, (2) waits for XAPI
to report progress, (3) records outcomes. A migration may start when

- it is pending (and its retry back-off has passed),
- every migration it `depends_on`, and every earlier migration of the same VM, is done
  (when one of them failed or was held, it is held too),
- wave mode: every migration of the earlier waves has ended;
- flow mode with a schedule (a v2 plan): migrations are tried in schedule order
  (`start_s`, then plan order), and within a source pool none starts before the
  migrations of that pool planned earlier have started (so the run follows the plan's
  schedule rather than racing ahead of it and taking room the schedule gave to another);
- its source pool has a free slot: fewer than `max_per_pool` migrations from that pool
  in flight, counting those XAPI shows started by anyone else (the plan's
  `options.max_per_pool`, lowered by `--max-per-pool`; `max_per_host` from the plan);
- the live state has room (`planner.execute.room`, the capacity ledger): otherwise it
  waits; if nothing at all is in flight and it still has no room, it is held with the
  capacity reason.

Journal discipline: `intent` is committed before the XAPI call and `started` (task refs)
right after, so a crash at any point leaves a row that `reconcile` can settle by asking
XAPI: the task's record, else what the VM is doing (its current operations), else where
it is. A migration is never started while XAPI shows it running or after it arrived.

Failures: a transient fault (`backend.TRANSIENT_CODES`) is retried up to `retries`
times with exponential back-off; a permanent refusal holds the migration (and, through
the dependency rule, its dependants) while the rest goes on.

Host steps (docs/plan-extensions.md, docs/executor.md "Host steps") are barriers, in
both modes: a step starts only when every migration planned before it (earlier waves,
and its own wave's for an `after` step) has ended done, and nothing planned after it
starts until it is done. If one of those migrations failed or was held, the step is
held, and so is everything after it. host-disable / host-enable call XAPI on the host's
pool master (after asking whether the host already is so: resume-safe); host-upgrade
waits, polling the host, until it runs the target version and is live again.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from planner.errors import InputError
from planner.execute import journal as J
from planner.execute.backend import (
    CANCELLED,
    Backend,
    ExecutorError,
    HostState,
    Location,
    MigrationFault,
)
from planner.execute.room import Room
from planner.inventory.model import Inventory
from planner.options import MAX_PER_POOL, PlanOptions
from planner.plan import STEP_KINDS, STEP_WHEN, Migration, Plan, Step
from planner.rules.version import version_at_least

MODES = ("waves", "flow")
LOST_CONTACT_SECONDS = 300.0  # how long a master may stay silent before the run stops


@dataclass(frozen=True)
class RunConfig:
    """How to run. Times are seconds of wall-clock time.

    retries: further attempts after a transient fault (0: none).
    backoff_seconds: wait before the first retry; doubles with each one.
    poll_seconds: longest wait between two looks at the tasks in flight.
    task_timeout_factor, task_timeout_min: a task still pending after
        max(task_timeout_min, factor * est_seconds) is cancelled and counted as a
        transient TIMEOUT fault.
    """

    mode: str = "flow"
    max_per_pool: int | None = None  # None: the plan's options.max_per_pool; else at most
    retries: int = 3
    backoff_seconds: float = 5.0
    poll_seconds: float = 1.0
    task_timeout_factor: float = 10.0
    task_timeout_min: float = 600.0
    step_poll_seconds: float = 10.0
    step_timeout_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"--mode: must be waves or flow, got {self.mode!r}")
        if self.max_per_pool is not None and not 1 <= self.max_per_pool <= MAX_PER_POOL:
            raise InputError(f"--max-per-pool: must be 1..{MAX_PER_POOL}, got {self.max_per_pool}")
        if self.retries < 0:
            raise InputError(f"--retries: must be >= 0, got {self.retries}")
        if not self.step_poll_seconds > 0:
            raise InputError(f"--step-poll: must be > 0, got {self.step_poll_seconds}")
        if self.step_timeout_seconds is not None and not self.step_timeout_seconds > 0:
            raise InputError(f"--step-timeout: must be > 0, got {self.step_timeout_seconds}")


@dataclass(frozen=True)
class Summary:
    """Where the run ended: every journal entry, and whether the user stopped it."""

    entries: tuple[J.Entry, ...]
    interrupted: bool = False
    steps: tuple[J.StepEntry, ...] = ()
    seconds: float = 0.0  # how long this run took (the runner's clock, wall seconds)

    def count(self, state: str) -> int:
        return sum(1 for e in self.entries if e.state == state)

    @property
    def complete(self) -> bool:
        rows: tuple[J.Entry | J.StepEntry, ...] = (*self.entries, *self.steps)
        return all(e.state == J.DONE for e in rows)


Listener = Callable[[str, Migration, str], None]


@dataclass
class _Flight:
    m: Migration
    tasks: list[str]
    deadline: float
    started: float
    # False for a flight taken over on resume that the live inventory already shows
    # arrived: the room account (built from that inventory) has it at its target
    counted: bool = True


@dataclass
class Runner:
    """One run of a plan against a backend, recorded in a journal."""

    plan: Plan
    journal: J.Journal
    backend: Backend
    live: Inventory
    config: RunConfig = field(default_factory=RunConfig)
    on_event: Listener | None = None
    clock: Callable[[], float] = time.monotonic
    # waits up to the given seconds while a host upgrade is awaited; True when the
    # operator asked to check now (the CLI: Enter on a terminal). None: plain sleep.
    step_wait: Callable[[float], bool] | None = None

    def __post_init__(self) -> None:
        refuse_steps(self.plan, self.live)
        self._init_steps()
        self.by_id: dict[str, Migration] = {m.id: m for m in self.plan.migrations()}
        self.order: list[Migration] = list(self.plan.migrations())
        self.scheduled = self.config.mode == "flow" and self.plan.has_schedule
        if self.scheduled:  # schedule order; a stable sort keeps plan order at one instant
            self.order.sort(key=lambda m: m.start_s)
        options = PlanOptions.from_json(self.plan.options)
        self.max_per_pool = min(options.max_per_pool, self.config.max_per_pool or MAX_PER_POOL)
        self.wave_of: dict[str, int] = {
            m.id: w.index for w in self.plan.waves for m in w.migrations
        }
        # earlier migrations of the same VM: implicit dependencies (continuity)
        self.prev_same_vm: dict[str, str] = {}
        last: dict[str, str] = {}
        for m in self.order:
            if m.vm in last:
                self.prev_same_vm[m.id] = last[m.vm]
            last[m.vm] = m.id
        self.flights: dict[str, _Flight] = {}
        self.retry_at: dict[str, float] = {}
        self.tries: dict[str, int] = {}
        self.room = Room.of(self.live, options, max_per_pool=self.max_per_pool)
        self.backend.set_migration_networks(options.migration_network)  # issue 17
        self._homed: set[str] = set()  # migrations whose home_host this run has set
        self.stopping = False
        self.cancelling = False
        self._cancelled_sent: set[str] = set()
        self._misses: dict[str, float] = {}  # pool -> when its polls began to fail

    def _init_steps(self) -> None:
        """Place each host step in the plan's order: `gate` maps a migration to the last
        step before it; `before_step` maps a step to the migrations since the previous
        step (the earlier ones were done when that step ran)."""
        self.steps: list[tuple[str, int, Step]] = J.step_ids(self.plan)
        self.gate: dict[str, str] = {}
        self.before_step: dict[str, list[str]] = {}
        self.prev_step: dict[str, str] = {}
        by_wave: dict[int, list[tuple[str, Step]]] = {}
        for sid, wave, st in self.steps:
            by_wave.setdefault(wave, []).append((sid, st))
        last: str | None = None
        since: list[str] = []

        def place(sid: str) -> None:
            nonlocal last, since
            self.before_step[sid] = since
            if last is not None:
                self.prev_step[sid] = last
            last, since = sid, []

        for w in self.plan.waves:
            mine = by_wave.pop(w.index, [])
            for sid, st in mine:
                if st.when == "before":
                    place(sid)
            for m in w.migrations:
                if last is not None:
                    self.gate[m.id] = last
                since.append(m.id)
            for sid, st in mine:
                if st.when != "before":
                    place(sid)
        self.step_state: dict[str, str] = {}
        self._step_silent: set[str] = set()  # steps whose host stopped answering
        self.halted = False  # a host step is still awaited (timeout, Ctrl-C): stop the run
        unknown = sorted({st.host for _, _, st in self.steps} - set(self.live.host_by_uuid))
        if unknown:
            raise InputError(f"host step(s) name host {unknown[0]}, which no pool given by "
                             "--url has")  # fmt: skip

    # ------------------------------------------------------------ events

    def _emit(self, kind: str, m: Migration, detail: str = "") -> None:
        if self.on_event is not None:
            self.on_event(kind, m, detail)

    def state(self, mid: str) -> str:
        return self.journal.entry(mid).state

    # ------------------------------------------------------------ resuming

    def _deadline(self, m: Migration, since: float) -> float:
        c = self.config
        return since + max(c.task_timeout_min, c.task_timeout_factor * m.est_seconds)

    def _resume_flights(self) -> list[str]:
        """Take over what `reconcile` found still running, and give failed and held
        migrations another chance (the pre-flight has re-checked the rules)."""
        notes = []
        now = self.clock()
        for se in self.journal.steps():
            self.step_state[se.id] = se.state
            if se.state == J.HELD:
                self._step_set(se.id, J.PENDING, f"new run: retrying after held ({se.error})")
                notes.append(f"{se.id}: was held ({se.error}); will try again")
            elif se.state == J.INTENT:
                notes.append(f"{se.id}: {se.kind} {self.live.label(se.host)} was under way; "
                             "asking XAPI where it stands")  # fmt: skip
        for e in self.journal.entries():
            m = self.by_id.get(e.id)
            if m is None:
                continue
            if e.state == J.HELD and (e.error or "").startswith(DRIFT):
                if not self._drift_cleared(m):
                    notes.append(f"{e.id}: held ({e.error}); re-plan (--replan) or put the "
                                 "VM back where the plan has it")  # fmt: skip
                    continue
                self.journal.pending(e.id, "new run: the VM is back where the plan has it")
                notes.append(f"{e.id}: was held for drift; the VM is back: will try again")
            elif e.state in (J.FAILED, J.HELD):
                self.journal.pending(e.id, f"new run: retrying after {e.state} ({e.error})")
                notes.append(f"{e.id}: was {e.state} ({e.error}); will try again")
            elif e.state in J.IN_FLIGHT:
                # STARTED with pending tasks, or INTENT with the VM busy on an unknown task
                fl = _Flight(m, list(e.tasks), self._deadline(m, now), now)
                fl.counted = not arrived(m, _live_location(self.live, m.vm))
                if fl.counted:
                    self.room.start(m)
                self.flights[m.id] = fl
                self._emit("resume", m, ",".join(e.tasks))
                notes.append(f"{e.id}: in flight; waiting for it")
        return notes

    def _drift_cleared(self, m: Migration) -> bool:
        """Whether a migration held for drift may start again: the VM is back at its
        source (the live inventory of this run) and no migration of it runs."""
        if not at_source(m, _live_location(self.live, m.vm)):
            return False
        try:
            return m.vm not in self.backend.busy(m.from_pool)
        except MigrationFault:
            return False

    def _by_location(self, m: Migration, why: str) -> bool:
        """Settle a migration whose task is unknown by where the VM is; True if done."""
        done = settle_by_location(self.journal, self.backend, m, why)
        self._emit("done" if done else "retry", m, why)
        return done

    # ------------------------------------------------------------ readiness

    def _open_wave(self, states: dict[str, str]) -> int:
        """The lowest wave with a migration that has not ended (wave mode's current wave)."""
        return min(
            (self.wave_of[m.id] for m in self.order if states[m.id] not in J.FINAL), default=1 << 30
        )

    def _blockers(
        self, m: Migration, states: dict[str, str], open_wave: int | None = None
    ) -> tuple[bool, str | None]:
        """(ready, hold reason): ready when every prerequisite is done; a hold reason
        when one of them ended without being done."""
        deps = list(m.depends_on)
        if m.id in self.prev_same_vm:
            deps.append(self.prev_same_vm[m.id])
        ready = True
        gate = self.gate.get(m.id)
        if gate is not None:
            gs = self.step_state.get(gate, J.PENDING)
            if gs == J.HELD:
                return False, f"{gate} ({self._step_text(gate)}) did not happen"
            if gs != J.DONE:
                ready = False
        for d in deps:
            s = states.get(d)
            if s is None:
                continue  # not in this plan: nothing to wait for
            if s in (J.FAILED, J.HELD):
                return False, f"{d} did not happen ({s})"
            if s != J.DONE:
                ready = False
        if self.config.mode == "waves":
            if open_wave is None:
                open_wave = self._open_wave(states)
            if self.wave_of[m.id] > open_wave:
                return False, None
        return ready, None

    def _in_flight_from(self, pool: str) -> int:
        """Migrations in flight from `pool`: ours, plus the migration tasks XAPI shows
        pending there that are not ours (started by anyone else)."""
        ours = [f for f in self.flights.values() if f.m.from_pool == pool]
        our_tasks = {t for f in ours for t in f.tasks}
        try:
            others = self.backend.migration_tasks(pool) - our_tasks
        except MigrationFault:
            others = set()
        # a flight adopted without its task ref may be among `others`: count it once
        unknown = sum(1 for f in ours if not f.tasks)
        return len(ours) + max(0, len(others) - unknown)

    # ------------------------------------------------------------ starting

    def _start_ready(self) -> None:
        if self.stopping:
            return
        states = {e.id: e.state for e in self.journal.entries()}
        now = self.clock()
        load: dict[str, int] = {}
        open_wave = self._open_wave(states) if self.config.mode == "waves" else None
        waiting: set[str] = set()  # pools whose next migration in schedule order waits
        for m in self.order:
            if states[m.id] != J.PENDING or self.retry_at.get(m.id, 0.0) > now:
                continue
            if m.from_pool in waiting:
                continue
            if self.scheduled:
                waiting.add(m.from_pool)  # cleared below if it starts
            ready, hold = self._blockers(m, states, open_wave)
            if hold is not None:
                self.journal.held(m.id, hold)
                states[m.id] = J.HELD
                self._emit("held", m, hold)
                waiting.discard(m.from_pool)  # it will not run: the next one may
                continue
            if not ready:
                continue
            if m.from_pool not in load:
                load[m.from_pool] = self._in_flight_from(m.from_pool)
            if load[m.from_pool] >= self.max_per_pool:
                continue
            if self.room.reasons(m):
                continue
            if self._start(m):
                load[m.from_pool] += 1
                states[m.id] = J.STARTED
                waiting.discard(m.from_pool)
            else:
                states[m.id] = self.state(m.id)

    def _start(self, m: Migration) -> bool:
        """Check, journal the intent, call XAPI, journal the tasks. True if started."""
        try:
            self.backend.check(m)
        except MigrationFault as f:
            self._failed_attempt(m, f, restore_room=False, journal_first=True)
            return False
        self.retry_at.pop(m.id, None)
        marker = new_marker(self.journal, m)
        self.journal.intent(m.id, intent_record(m, marker))
        self.tries[m.id] = self.tries.get(m.id, 0) + 1
        try:
            tasks = self.backend.start(m, marker)
        except MigrationFault as f:
            if f.code == "CONNECTION":
                # unknown whether the call landed: leave the intent for `reconcile`
                self._emit("uncertain", m, f.describe())
                raise ExecutorError(
                    f"{m.id}: lost the connection to the master of pool "
                    f"{m.from_pool} while starting it; re-run to resume "
                    f"({f.describe()})"
                ) from None
            self._failed_attempt(m, f, restore_room=False)
            return False
        self.journal.started(m.id, tasks)
        now = self.clock()
        self.flights[m.id] = _Flight(m, list(tasks), self._deadline(m, now), now)
        self.room.start(m)
        self._emit("start", m, ",".join(tasks))
        return True

    def _failed_attempt(
        self, m: Migration, f: MigrationFault, *, restore_room: bool, journal_first: bool = False
    ) -> None:
        """Record a failed attempt: retry a transient fault, hold a permanent one."""
        fl = self.flights.pop(m.id, None)
        if restore_room and (fl is None or fl.counted):
            self.room.failed(m)
        used = self.tries.get(m.id, 0)
        if journal_first:
            # refused by the pre-call check: no intent was written, count the try here
            used += 1
            self.tries[m.id] = used
        if f.code == CANCELLED and self.cancelling:
            self.journal.failed(m.id, f.describe(refs=True))
            self._emit("failed", m, f.describe())
            return
        if f.transient and used <= self.config.retries:
            delay = self.config.backoff_seconds * (2 ** (used - 1))
            self.retry_at[m.id] = self.clock() + delay
            self.journal.pending(
                m.id, f"retry {used}/{self.config.retries} in {delay:.1f}s after {f.describe()}"
            )
            self._emit("retry", m, f.describe())
            return
        if f.transient or f.code == CANCELLED:
            self.journal.failed(m.id, f.describe(refs=True))
            self._emit("failed", m, f.describe())
        else:
            self.journal.held(m.id, f"refused: {f.describe(refs=True)}")
            self._emit("held", m, f"refused: {f.describe()}")

    # ------------------------------------------------------------ waiting

    def _lost_contact(self, m: Migration, f: MigrationFault) -> None:
        """A poll failed: the task is still XAPI's business. Tolerate it for a while (a
        master restarting, a network blip); then stop, leaving the journal to resume."""
        if f.code not in ("CONNECTION", "SESSION_INVALID"):
            raise ExecutorError(f"{m.id}: cannot read its task: {f.describe()}") from None
        now = self.clock()
        since = self._misses.setdefault(m.from_pool, now)
        if since == now:
            self._emit("note", _NOTE, f"lost contact with pool {m.from_pool}: {f.describe()}")
        if now - since > LOST_CONTACT_SECONDS:
            raise ExecutorError(
                f"no answer from the master of pool {m.from_pool} for "
                f"{LOST_CONTACT_SECONDS:.0f}s ({f.describe()}); the journal keeps every "
                "migration in flight: re-run the same command to resume"
            ) from None

    def _settled(self, fl: _Flight, done: bool) -> None:
        """Keep the room account: a finished flight frees its source (done) or gives its
        reservations back (not done)."""
        if not fl.counted:
            return
        if done:
            self.room.done(fl.m)
        else:
            self.room.failed(fl.m)

    def _set_home(self, m: Migration) -> None:
        """(issue 17) Give an arrived VM its planned home server (`VM.set_affinity` on
        its new pool). Idempotent, so a resumed run may repeat it; a refusal is noted
        (journal and listener), never a failure of the migration, which is done."""
        if m.home_host is None or m.id in self._homed:
            return
        self._homed.add(m.id)
        try:
            self.backend.set_affinity(m.vm, m.to_pool, m.home_host)
        except MigrationFault as f:
            self.journal.note(m.id, f"home server not set: {f.describe(refs=True)}")
            self._emit("note", _NOTE, f"{m.id}: home server not set: {f.describe()}")
            return
        self.journal.note(m.id, f"home server {m.home_host}")
        self._emit("home", m, f"home server {self.live.label(m.home_host)}")

    def _set_homes_of_done(self) -> None:
        """Homes of migrations done without passing through `_poll` (settled on resume,
        by location): set at the end of the run."""
        done = {e.id for e in self.journal.entries() if e.state == J.DONE}
        for m in self.order:
            if m.id in done:
                self._set_home(m)

    def _poll(self) -> None:
        now = self.clock()
        for mid, fl in list(self.flights.items()):
            m = fl.m
            if not fl.tasks:
                # adopted without a task ref: watch the VM instead
                try:
                    still = m.vm in self.backend.busy(m.from_pool)
                except MigrationFault as f:
                    self._lost_contact(m, f)
                    continue
                if still:
                    continue
                self.flights.pop(mid)
                self._settled(fl, self._by_location(m, "VM no longer busy"))
                continue
            try:
                states = [self.backend.task_state(m.from_pool, t) for t in fl.tasks]
            except MigrationFault as f:
                self._lost_contact(m, f)
                continue
            self._misses.pop(m.from_pool, None)
            if any(not s.finished for s in states):
                if now > fl.deadline and mid not in self._cancelled_sent:
                    for t in fl.tasks:
                        self._cancel(m, t)
                    self.journal.note(mid, "task timed out; cancelling")
                continue
            if all(s.status == "success" for s in states):
                self.flights.pop(mid)
                self._settled(fl, True)
                self.journal.done(mid, f"{now - fl.started:.1f}s")
                self._emit("done", m, f"{now - fl.started:.1f}")
                self._set_home(m)
                continue
            if any(s.status == "gone" for s in states):
                self.flights.pop(mid)
                self._settled(fl, self._by_location(m, "task gone"))
                continue
            bad = next(s for s in states if s.status != "success")
            if bad.status == "cancelled" and mid in self._cancelled_sent and not self.cancelling:
                details: tuple[str, ...] = ("TIMEOUT", f"after {now - fl.started:.0f}s")
            else:
                details = bad.error or (
                    (CANCELLED,) if bad.status == "cancelled" else ("INTERNAL_ERROR",)
                )
            self._failed_attempt(m, MigrationFault(details), restore_room=True)

    def _cancel(self, m: Migration, task: str) -> None:
        self._cancelled_sent.add(m.id)
        try:
            self.backend.cancel(m.from_pool, task)
        except MigrationFault as f:
            # OPERATION_NOT_ALLOWED: the task is past cancelling; it will end on its own
            self.journal.note(m.id, f"cancel refused: {f.describe()}")
        self._emit("cancel", m, task)

    def cancel_all(self) -> None:
        """Ctrl-C twice: ask XAPI to cancel every task in flight."""
        self.cancelling = True
        self.stopping = True
        for fl in list(self.flights.values()):
            for t in fl.tasks:
                self._cancel(fl.m, t)

    # ------------------------------------------------------------ host steps

    def _step_text(self, sid: str) -> str:
        st = next(st for i, _, st in self.steps if i == sid)
        extra = f" to {st.to_version}" if st.to_version else ""
        return f"{st.kind} {self.live.label(st.host)}{extra}"

    def _step_set(self, sid: str, state: str, detail: str) -> None:
        """Journal a step's new state (and keep the in-memory copy the gates read)."""
        if state == J.DONE:
            self.journal.step_done(sid, detail)
        elif state == J.HELD:
            self.journal.step_held(sid, detail)
        elif state == J.PENDING:
            self.journal.step_pending(sid, detail)
        elif state == J.INTENT:
            self.journal.step_intent(sid, detail)
        self.step_state[sid] = state

    def _note(self, line: str, sid: str | None = None) -> None:
        self.journal.note(sid, line)
        self._emit("note", _NOTE, line)

    def _advance_steps(self) -> bool:
        """Nothing is in flight: run every host step whose turn has come, in order.
        True when a step ended (done or held), so migrations may have been released."""
        states = {e.id: e.state for e in self.journal.entries()}
        progressed = False
        for sid, _, st in self.steps:
            state = self.step_state.get(sid, J.PENDING)
            if state in (J.DONE, J.HELD):
                continue
            prev = self.prev_step.get(sid)
            if prev is not None and self.step_state.get(prev) == J.HELD:
                why = f"{prev} ({self._step_text(prev)}) did not happen"
                self._step_set(sid, J.HELD, why)
                self._note(f"held    {sid} {self._step_text(sid)} ({why})", sid)
                progressed = True
                continue
            before = self.before_step.get(sid, [])
            if any(states.get(m) not in J.FINAL for m in before):
                return progressed  # its migrations are still to run
            bad = next((m for m in before if states.get(m) != J.DONE), None)
            if bad is not None:
                why = f"{bad} did not happen ({states.get(bad)})"
                self._step_set(sid, J.HELD, why)
                self._note(f"held    {sid} {self._step_text(sid)} ({why})", sid)
                progressed = True
                continue
            if self.stopping:
                return progressed
            self._run_step(sid, st)
            progressed = True
            if self.step_state.get(sid) not in (J.DONE, J.HELD):
                self.halted = True
                return progressed
        return progressed

    def _host_state(self, sid: str, host: str) -> HostState | None:
        """The host's state, or None while its master does not answer (rebooting)."""
        try:
            return self.backend.host_state(host)
        except MigrationFault as f:
            if f.code in ("CONNECTION", "SESSION_INVALID"):
                if sid not in self._step_silent:
                    self._step_silent.add(sid)
                    self._note(f"no answer about {self.live.label(host)} ({f.describe()}); "
                               "it may be rebooting: still waiting", sid)  # fmt: skip
                return None
            raise

    def _run_step(self, sid: str, st: Step) -> None:
        """Carry out one host step; its journal row ends done, held, or (an upgrade not
        seen before the timeout or Ctrl-C) intent."""
        text = self._step_text(sid)
        try:
            if st.kind == "host-upgrade":
                self._upgrade(sid, st)
                return
            want = st.kind == "host-enable"
            hs = self.backend.host_state(st.host)
            if hs.enabled == want:
                self._step_set(sid, J.DONE, f"already {'enabled' if want else 'disabled'}")
                self._note(f"done    {sid} {text} (it already was)", sid)
                return
            self._step_set(sid, J.INTENT, "calling XAPI")
            self.backend.set_host_enabled(st.host, want)
        except MigrationFault as f:
            if f.code in ("CONNECTION", "SESSION_INVALID"):
                # whether the call landed is unknown: the journal keeps the intent and a
                # re-run asks XAPI first
                raise ExecutorError(f"{sid} ({text}): lost the connection to the pool master; "
                                    f"re-run to resume ({f.describe()})") from None  # fmt: skip
            self._step_set(sid, J.HELD, f"refused: {f.describe()}")
            self._note(f"held    {sid} {text} (refused: {f.describe()})", sid)
            return
        self._step_set(sid, J.DONE, "")
        self._note(f"done    {sid} {text}", sid)

    def _upgrade(self, sid: str, st: Step) -> None:
        want = st.to_version or ""
        name = self.live.label(st.host)
        entry = self.journal.step(sid)
        hs = self._host_state(sid, st.host)
        if (
            entry.state == J.PENDING
            and hs is not None
            and hs.live
            and version_at_least(hs.version, want)
        ):
            self._step_set(sid, J.DONE, f"already runs {hs.version}")
            self._note(f"done    {sid} {name} already runs {hs.version}", sid)
            return
        if entry.state == J.PENDING:
            self._step_set(sid, J.INTENT, "waiting for the upgrade")
        by_us = entry.disabled_by_us
        if hs is not None and hs.enabled and not version_at_least(hs.version, want):
            # the plan left it enabled: nothing may land on it while it is upgraded
            self.journal.step_disabled_by_us(sid)
            self.backend.set_host_enabled(st.host, False)
            by_us = True
            self._note(f"disabled {name} for its upgrade (the plan did not)", sid)
        c = self.config
        limit = c.step_timeout_seconds
        hint = "; press Enter to check now" if self.step_wait is not None else ""
        self._note(
            f"OPERATOR: upgrade host {name} ({st.host}) to {want} and reboot it. Waiting "
            f"until it runs {want} and is live (checking every {c.step_poll_seconds:g}s"
            + (f", for at most {limit:g}s" if limit else "") + f"{hint}; Ctrl-C stops, "
            "re-running resumes here)", sid)  # fmt: skip
        since = self.clock()
        while not (hs is not None and hs.live and version_at_least(hs.version, want)):
            waited = self.clock() - since
            if self.stopping:
                self.journal.step_waiting(sid, f"stopped while waiting for {name} to run {want}")
                return
            if limit is not None and waited >= limit:
                now_at = hs.version if hs is not None else "(no answer)"
                why = (
                    f"TIMEOUT after {waited:.0f}s: {name} runs {now_at}"
                    f"{'' if hs is None or hs.live else ' and is not live'}, wants {want}"
                )
                self.journal.step_waiting(sid, why)
                self._note(f"pending {sid} {self._step_text(sid)} ({why})", sid)
                return
            pause = c.step_poll_seconds if limit is None else min(c.step_poll_seconds,
                                                                  limit - waited)  # fmt: skip
            self._step_sleep(pause)
            hs = self._host_state(sid, st.host)
        assert hs is not None  # the loop ends only on an answer
        if by_us:
            self.backend.set_host_enabled(st.host, True)
            self._note(f"enabled {name} again (the executor had disabled it)", sid)
        self._step_set(sid, J.DONE, f"runs {hs.version}")
        self._note(f"done    {sid} {name} runs {hs.version}", sid)

    def _step_sleep(self, seconds: float) -> None:
        """Wait up to `seconds` in short slices, so Ctrl-C and the operator's Enter are
        noticed at once."""
        end = self.clock() + max(0.0, seconds)
        while not self.stopping:
            left = end - self.clock()
            if left <= 0:
                return
            chunk = min(0.2, left)
            if self.step_wait is not None:
                if self.step_wait(chunk):
                    return
            else:
                time.sleep(chunk)

    # ------------------------------------------------------------ the loop

    def _wait(self) -> None:
        tasks: dict[str, list[str]] = {}
        for fl in self.flights.values():
            tasks.setdefault(fl.m.from_pool, []).extend(fl.tasks)
        timeout = self.config.poll_seconds
        if self.retry_at:
            nxt = min(self.retry_at.values()) - self.clock()
            timeout = max(0.0, min(timeout, nxt))
        self.backend.wait(tasks, timeout)

    def _stuck(self) -> bool:
        """Nothing in flight, nothing can start: hold what waits for room, else stop."""
        states = {e.id: e.state for e in self.journal.entries()}
        now = self.clock()
        pending = [m for m in self.order if states[m.id] == J.PENDING]
        if not pending:
            return True
        if any(self.retry_at.get(m.id, 0.0) > now for m in pending):
            return False
        held_any = False
        for m in pending:
            ready, _ = self._blockers(m, states)
            reasons = self.room.reasons(m)
            if ready and reasons:
                text = "; ".join(f"{r.code} {r.message}" for r in reasons)
                self.journal.held(m.id, f"no room: {text}")
                states[m.id] = J.HELD
                self._emit("held", m, f"no room: {text}")
                held_any = True
        return not held_any and not any(self._blockers(m, states)[0] for m in pending)

    def run(self, *, handle_sigint: bool = True) -> Summary:
        """Run to the end (or until stopped); returns the summary. The journal already
        holds every outcome when this returns or raises."""
        self.journal.begin_run()
        began = self.clock()
        old = None
        if handle_sigint:
            old = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            for line in self._resume_flights():
                self.journal.note(None, line)
                self._emit("note", _NOTE, line)
            while True:
                if self.cancelling:
                    for fl in list(self.flights.values()):
                        if fl.m.id not in self._cancelled_sent:
                            for t in fl.tasks:
                                self._cancel(fl.m, t)
                self._start_ready()
                if not self.flights:
                    if self.stopping:
                        break
                    if self.steps and self._advance_steps():
                        if self.halted:
                            break
                        continue
                    if self._stuck():
                        break
                    self._idle()
                    continue
                self._wait()
                self._poll()
            self._set_homes_of_done()
        finally:
            if handle_sigint and old is not None:
                signal.signal(signal.SIGINT, old)
        return Summary(tuple(self.journal.entries()), interrupted=self.stopping,
                       steps=tuple(self.journal.steps()),
                       seconds=self.clock() - began)  # fmt: skip

    def _idle(self) -> None:
        """Nothing of ours in flight but work remains (a retry back-off, or slots taken by
        others): sleep until the next retry is due, at most `poll_seconds`."""
        delay = self.config.poll_seconds
        if self.retry_at:
            delay = min(delay, min(self.retry_at.values()) - self.clock())
        time.sleep(max(0.01, delay))

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            self.stopping = True
            self._emit(
                "note",
                _NOTE,
                "stopping: no new migrations; waiting for those in flight "
                "(Ctrl-C again cancels them)",
            )
        else:
            self._emit("note", _NOTE, "cancelling the migrations in flight")
            self.cancel_all()


def _live_location(inv: Inventory, vm_uuid: str) -> Location | None:
    vm = inv.vm_by_uuid.get(vm_uuid)
    if vm is None:
        return None
    host = vm.host if vm.is_running else None
    return Location(vm.pool, host, vm.power_state, {d.uuid: d.sr for d in vm.disks})


def arrived(m: Migration, loc: Location | None) -> bool:
    """Whether XAPI shows the VM where `m` takes it."""
    if loc is None or loc.pool != m.to_pool:
        return False
    if m.kind in ("live", "storage") and m.to_host is not None and loc.host != m.to_host:
        return False
    for d in m.disks:
        where = loc.disks.get(d.vdi)
        # a copied disk may come back under a new uuid; then some disk must be on to_sr
        if where is not None and where != d.to_sr:
            return False
        if where is None and d.to_sr not in set(loc.disks.values()):
            return False
    return True


def settle_by_location(journal: J.Journal, backend: Backend, m: Migration, why: str) -> bool:
    """No task to ask: the VM's location says whether `m` happened. True if done; else
    the migration goes back to pending (it did not move the VM, so it may start again),
    or is held as drift when the VM is neither at its source nor at its target."""
    loc = backend.locate(m.vm)
    if arrived(m, loc):
        journal.done(m.id, f"{why}; VM is at its target")
        return True
    if loc is not None and not at_source(m, loc):
        journal.held(m.id, f"{DRIFT} {why}; VM is {_where_text(loc)}, neither at its source "
                           "nor at its target")  # fmt: skip
        return False
    journal.pending(m.id, f"{why}; VM not at its target")
    return False


DRIFT = "drift:"
SETTLE_SECONDS = 90.0  # how long a call may be in transit before it is taken as lost


def new_marker(journal: J.Journal, m: Migration) -> str:
    """A client-side marker for one attempt of `m`: the journal's run id, the migration
    id and 8 random hex digits (docs/reliability.md). Unguessable, so nobody else's
    task or VM can carry it by chance."""
    return f"{journal.info().run_id[:8]}/{m.id}/{secrets.token_hex(4)}"


def intent_record(m: Migration, marker: str) -> dict[str, Any]:
    """What an intent announces: the marker, target host (None: chosen at the call, a
    host of `to_pool` seeing every target SR), pool and SRs."""
    return {"marker": marker, "to_host": m.to_host, "to_pool": m.to_pool,
            "srs": sorted({d.to_sr for d in m.disks})}  # fmt: skip


def at_source(m: Migration, loc: Location | None) -> bool:
    """Whether XAPI shows the VM where `m` starts (its pool, host when running, disks)."""
    if loc is None or loc.pool != m.from_pool:
        return False
    if m.from_host is not None and loc.host is not None and loc.host != m.from_host:
        return False
    return all(loc.disks.get(d.vdi, d.from_sr) == d.from_sr for d in m.disks)


def _where_text(loc: Location | None) -> str:
    if loc is None:
        return "in no pool"
    return f"in pool {loc.pool}" + (f" on host {loc.host}" if loc.host else "")


def reconcile(plan: Plan, journal: J.Journal, backend: Backend, *,
              settle_seconds: float = SETTLE_SECONDS,
              sleep: Callable[[float], None] = time.sleep,
              now: Callable[[], float] = time.time) -> list[str]:  # fmt: skip
    """After a crash or a stop: ask XAPI what became of every migration the journal shows
    in flight, and record it. Returns one line per decision. Only *our* call counts:

    - task refs recorded: all succeeded and the VM is at its target -> done (succeeded
      but the VM is elsewhere -> held as drift); one failed -> failed; one pending ->
      left in flight; gone -> by location;
    - intent without task refs (killed between the call and its record): a task that
      carries the intent's marker is ours -> started with it. Else the VM's marker says
      whether the call may have gone out: not ours -> the call never left (pending, or
      drift when someone else is moving the VM); ours -> a migration running on the VM
      is ours (started), the VM at its target is done, and a VM still at its source
      may have the call in transit: it is waited for until `settle_seconds` after the
      intent, then taken as lost (pending: it will be sent again).
    """
    by_id = {m.id: m for m in plan.migrations()}
    notes: list[str] = []
    for e in journal.entries():
        m = by_id.get(e.id)
        if m is None or e.state not in J.IN_FLIGHT:
            continue
        tasks = list(e.tasks)
        marker = (e.intent or {}).get("marker")
        if not tasks:
            tasks = _landed(journal, backend, m, e, marker, notes, settle_seconds, sleep, now)
            if not tasks:
                continue
        states = [backend.task_state(m.from_pool, t) for t in tasks]
        if any(not s.finished for s in states):
            notes.append(f"{m.id}: still running (task {','.join(tasks)}); waiting for it")
        elif all(s.status == "success" for s in states):
            loc = backend.locate(m.vm)
            if arrived(m, loc):
                journal.done(m.id, "task succeeded while the executor was away")
                notes.append(f"{m.id}: succeeded while the executor was away")
            else:
                why = (f"{DRIFT} the task succeeded but the VM is {_where_text(loc)}, not at "
                       "its target")  # fmt: skip
                journal.held(m.id, why)
                notes.append(f"{m.id}: held ({why})")
        elif any(s.status == "gone" for s in states):
            done = settle_by_location(journal, backend, m, "task gone")
            notes.append(f"{m.id}: task gone; " + _settled_text(journal, m.id, done))
        else:
            bad = next(s for s in states if s.status != "success")
            fault = MigrationFault(
                bad.error or ((CANCELLED,) if bad.status == "cancelled" else ("INTERNAL_ERROR",))
            )
            journal.failed(m.id, fault.describe())
            notes.append(f"{m.id}: failed while the executor was away: {fault.describe()}")
    return notes


def _settled_text(journal: J.Journal, mid: str, done: bool) -> str:
    if done:
        return "the VM is at its target: done"
    e = journal.entry(mid)
    return f"held ({e.error})" if e.state == J.HELD else "the VM did not move: will start it"


def _landed(journal: J.Journal, backend: Backend, m: Migration, e: J.Entry,
            marker: str | None, notes: list[str], settle_seconds: float,
            sleep: Callable[[float], None], now: Callable[[], float]) -> list[str]:  # fmt: skip
    """An intent without task refs: our task's refs if our call landed (recorded as
    started), else [] with the migration settled (pending, done or held)."""
    if marker is None:
        # a journal written before markers: the VM's state is all there is to go by
        ref = backend.busy(m.from_pool).get(m.vm)
        if ref is not None:
            journal.held(m.id, f"{DRIFT} the VM is busy with {ref}, which no marker shows "
                               "to be ours")  # fmt: skip
            notes.append(f"{m.id}: held (VM busy with a migration not known to be ours)")
            return []
        done = settle_by_location(journal, backend, m, "no task recorded")
        notes.append(f"{m.id}: no task recorded; " + _settled_text(journal, m.id, done))
        return []
    deadline = (e.intent_at or now()) + settle_seconds
    waited = False
    while True:
        ours = backend.tasks_marked(m.from_pool, marker)
        if ours:
            journal.started(m.id, ours)
            notes.append(f"{m.id}: the call had landed (task {','.join(ours)}, ours by its "
                         "marker)")  # fmt: skip
            return ours
        ref = backend.busy(m.from_pool).get(m.vm)
        vm_marker = backend.marker_of(m.vm)
        if vm_marker != marker:
            # the marker precedes the call: without it on the VM, the call never left
            if ref is not None:
                journal.held(m.id, f"{DRIFT} the VM is busy with a migration that is not "
                                   f"ours ({ref})")  # fmt: skip
                notes.append(f"{m.id}: held: someone else is migrating the VM ({ref})")
                return []
            done = settle_by_location(journal, backend, m, "the call never left")
            notes.append(f"{m.id}: the call never left; " + _settled_text(journal, m.id, done))
            return []
        if ref is not None and ref.startswith("OpaqueRef:"):
            # our marker is on the VM and a migration of it runs: our call, which died
            # before its task was tagged
            journal.started(m.id, [ref])
            notes.append(f"{m.id}: the call had landed (task {ref})")
            return [ref]
        loc = backend.locate(m.vm)
        if ref is None and arrived(m, loc):
            journal.done(m.id, "our call landed and finished while the executor was away")
            notes.append(f"{m.id}: the call landed and finished: done")
            return []
        if ref is None and not at_source(m, loc):
            journal.held(m.id, f"{DRIFT} the VM is {_where_text(loc)}, neither at its source "
                               "nor at its target")  # fmt: skip
            notes.append(f"{m.id}: held (the VM went elsewhere)")
            return []
        left = deadline - now()
        if left <= 0:
            journal.pending(m.id, f"the call did not land within {settle_seconds:g}s of "
                                  "its intent: taken as lost")  # fmt: skip
            notes.append(f"{m.id}: the call did not land within {settle_seconds:g}s: will "
                         "start it again")  # fmt: skip
            return []
        if not waited:
            notes.append(f"{m.id}: the call may still be in transit; waiting up to "
                         f"{left:.0f}s for it to land")  # fmt: skip
            waited = True
        sleep(min(0.5, left))


def refuse_steps(plan: Plan, inv: Inventory | None = None) -> None:
    """Raise InputError (one line) for the first host step the executor cannot run: an
    unknown kind or `when`, or a host-upgrade without `to_version`. Called before
    anything is opened or written. (`plan.from_dict` refuses these already; a Plan made
    in Python has not been through it.)"""
    label = inv.label if inv is not None else (lambda u: u)
    for w in plan.waves:
        for s in w.steps:
            where = f"wave {w.index}: step {s.kind!r} on {label(s.host)}"
            if s.kind not in STEP_KINDS:
                raise InputError(f"{where}: the executor does not know this kind of host "
                                 f"step (it runs {', '.join(STEP_KINDS)})")  # fmt: skip
            if s.when not in STEP_WHEN:
                raise InputError(f"{where}: `when` must be before or after, got {s.when!r}")
            if s.kind == "host-upgrade" and not s.to_version:
                raise InputError(f"{where}: a host-upgrade needs to_version")


# a stand-in migration for run-level notes sent through the listener
_NOTE = Migration(
    id="-", vm="-", kind="live", from_host=None, to_host=None, from_pool="-", to_pool="-"
)


def run_plan(
    plan: Plan,
    journal: J.Journal,
    backend: Backend,
    live: Inventory,
    config: RunConfig | None = None,
    on_event: Listener | None = None,
    **kw: Any,
) -> Summary:
    """Convenience: build a Runner and run it."""
    return Runner(plan, journal, backend, live, config or RunConfig(), on_event, **kw).run()


__all__ = [
    "MODES",
    "ExecutorError",
    "RunConfig",
    "Runner",
    "Summary",
    "arrived",
    "reconcile",
    "refuse_steps",
    "run_plan",
]
