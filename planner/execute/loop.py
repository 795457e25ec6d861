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

Host steps are barriers between migrations: see `planner.execute.steps`.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from planner.execute import journal as J
from planner.execute.backend import CANCELLED, Backend, ExecutorError, MigrationFault
from planner.execute.config import _NOTE, Listener, RunConfig, Summary, _Flight
from planner.execute.reconcile import (
    ResumeMixin,
    intent_record,
    new_marker,
)
from planner.execute.room import Room
from planner.execute.steps import StepsMixin, refuse_steps
from planner.inventory.model import Inventory
from planner.options import MAX_PER_POOL
from planner.plan import Migration, Plan

LOST_CONTACT_SECONDS = 300.0  # how long a master may stay silent before the run stops


@dataclass
class Runner(ResumeMixin, StepsMixin):
    """One run of a plan against a backend, recorded in a journal. The scheduling loop
    lives here; host steps in `StepsMixin` (steps.py), resuming in `ResumeMixin`
    (reconcile.py)."""

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
        options = self.plan.options
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

    def _emit(self, kind: str, m: Migration, detail: str = "") -> None:
        if self.on_event is not None:
            self.on_event(kind, m, detail)

    def state(self, mid: str) -> str:
        return self.journal.entry(mid).state

    # ------------------------------------------------------------ resuming

    def _deadline(self, m: Migration, since: float) -> float:
        c = self.config
        return since + max(c.task_timeout_min, c.task_timeout_factor * m.est_seconds)

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
        return Summary(
            tuple(self.journal.entries()),
            interrupted=self.stopping,
            steps=tuple(self.journal.steps()),
            seconds=self.clock() - began,
        )

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
