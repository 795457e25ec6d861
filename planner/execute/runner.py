"""Carry out a plan: wave mode (lock-step) or flow mode, journaled and resumable.

The loop is single-threaded: it reconciles what a previous run left in flight, then
repeatedly (1) starts every migration that may start, in plan order, (2) waits for XAPI
to report progress, (3) records outcomes. A migration may start when

- it is pending (and its retry back-off has passed),
- every migration it `depends_on`, and every earlier migration of the same VM, is done
  (when one of them failed or was held, it is held too),
- wave mode: every migration of the earlier waves has ended;
- its source pool has a free slot: fewer than `max_per_pool` migrations from that pool
  in flight, counting those XAPI shows started by anyone else,
- the live state has room (`planner.execute.room`): otherwise it waits; if nothing at
  all is in flight and it still has no room, it is held with the capacity reason.

Journal discipline: `intent` is committed before the XAPI call and `started` (task refs)
right after, so a crash at any point leaves a row that `reconcile` can settle by asking
XAPI: the task's record, else what the VM is doing (its current operations), else where
it is. A migration is never started while XAPI shows it running or after it arrived.

Failures: a transient fault (`backend.TRANSIENT_CODES`) is retried up to `retries`
times with exponential back-off; a permanent refusal holds the migration (and, through
the dependency rule, its dependants) while the rest goes on.
"""

from __future__ import annotations

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
    Location,
    MigrationFault,
)
from planner.execute.room import Room
from planner.inventory.model import Inventory
from planner.options import MAX_PER_POOL, PlanOptions
from planner.plan import Migration, Plan

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
    max_per_pool: int = MAX_PER_POOL
    retries: int = 3
    backoff_seconds: float = 5.0
    poll_seconds: float = 1.0
    task_timeout_factor: float = 10.0
    task_timeout_min: float = 600.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"--mode: must be waves or flow, got {self.mode!r}")
        if not 1 <= self.max_per_pool <= MAX_PER_POOL:
            raise InputError(f"--max-per-pool: must be 1..{MAX_PER_POOL}, got {self.max_per_pool}")
        if self.retries < 0:
            raise InputError(f"--retries: must be >= 0, got {self.retries}")


@dataclass(frozen=True)
class Summary:
    """Where the run ended: every journal entry, and whether the user stopped it."""

    entries: tuple[J.Entry, ...]
    interrupted: bool = False

    def count(self, state: str) -> int:
        return sum(1 for e in self.entries if e.state == state)

    @property
    def complete(self) -> bool:
        return all(e.state == J.DONE for e in self.entries)


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

    def __post_init__(self) -> None:
        refuse_steps(self.plan, self.live)
        self.by_id: dict[str, Migration] = {m.id: m for m in self.plan.migrations()}
        self.order: list[Migration] = list(self.plan.migrations())
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
        self.room = Room.of(self.live, PlanOptions.from_json(self.plan.options))
        self.stopping = False
        self.cancelling = False
        self._cancelled_sent: set[str] = set()
        self._misses: dict[str, float] = {}  # pool -> when its polls began to fail

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
        for e in self.journal.entries():
            m = self.by_id.get(e.id)
            if m is None:
                continue
            if e.state in (J.FAILED, J.HELD):
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
        for m in self.order:
            if states[m.id] != J.PENDING or self.retry_at.get(m.id, 0.0) > now:
                continue
            ready, hold = self._blockers(m, states, open_wave)
            if hold is not None:
                self.journal.held(m.id, hold)
                states[m.id] = J.HELD
                self._emit("held", m, hold)
                continue
            if not ready:
                continue
            if m.from_pool not in load:
                load[m.from_pool] = self._in_flight_from(m.from_pool)
            if load[m.from_pool] >= self.config.max_per_pool:
                continue
            if self.room.reasons(m):
                continue
            if self._start(m):
                load[m.from_pool] += 1
                states[m.id] = J.STARTED
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
        self.journal.intent(m.id)
        self.tries[m.id] = self.tries.get(m.id, 0) + 1
        try:
            tasks = self.backend.start(m)
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
            self.journal.failed(m.id, f.describe())
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
            self.journal.failed(m.id, f.describe())
            self._emit("failed", m, f.describe())
        else:
            self.journal.held(m.id, f"refused: {f.describe()}")
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
                    if self.stopping or self._stuck():
                        break
                    self._idle()
                    continue
                self._wait()
                self._poll()
        finally:
            if handle_sigint and old is not None:
                signal.signal(signal.SIGINT, old)
        return Summary(tuple(self.journal.entries()), interrupted=self.stopping)

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
    the migration goes back to pending (it did not move the VM, so it may start again)."""
    if arrived(m, backend.locate(m.vm)):
        journal.done(m.id, f"{why}; VM is at its target")
        return True
    journal.pending(m.id, f"{why}; VM not at its target")
    return False


def reconcile(plan: Plan, journal: J.Journal, backend: Backend) -> list[str]:
    """After a crash or a stop: ask XAPI what became of every migration the journal shows
    in flight, and record it. Returns one line per decision.

    - task refs known: all succeeded -> done; one failed -> failed (XAPI's error); one
      still pending -> left in flight (the next run waits for it); gone -> by location;
    - intent without task refs (killed between the call and its record): the VM's
      current operations name the task if the call landed -> started with that task;
      else the location says done, or the call never landed -> pending.
    """
    by_id = {m.id: m for m in plan.migrations()}
    notes: list[str] = []
    for e in journal.entries():
        m = by_id.get(e.id)
        if m is None or e.state not in J.IN_FLIGHT:
            continue
        tasks = list(e.tasks)
        if not tasks:
            ref = backend.busy(m.from_pool).get(m.vm)
            if ref is not None and ref.startswith("OpaqueRef:"):
                journal.started(m.id, [ref])
                tasks = [ref]
                notes.append(f"{m.id}: the call had landed (task {ref})")
            elif ref is not None:
                journal.note(m.id, f"VM busy with {ref}; waiting")
                notes.append(f"{m.id}: the VM is migrating ({ref}); waiting for it")
                continue
            else:
                done = settle_by_location(journal, backend, m, "no task recorded")
                notes.append(
                    f"{m.id}: no task recorded; "
                    + (
                        "the VM is at its target: done"
                        if done
                        else "the VM did not move: will start it"
                    )
                )
                continue
        states = [backend.task_state(m.from_pool, t) for t in tasks]
        if any(not s.finished for s in states):
            notes.append(f"{m.id}: still running (task {','.join(tasks)}); waiting for it")
        elif all(s.status == "success" for s in states):
            journal.done(m.id, "task succeeded while the executor was away")
            notes.append(f"{m.id}: succeeded while the executor was away")
        elif any(s.status == "gone" for s in states):
            done = settle_by_location(journal, backend, m, "task gone")
            notes.append(
                f"{m.id}: task gone; "
                + (
                    "the VM is at its target: done"
                    if done
                    else "the VM did not move: will start it"
                )
            )
        else:
            bad = next(s for s in states if s.status != "success")
            fault = MigrationFault(
                bad.error or ((CANCELLED,) if bad.status == "cancelled" else ("INTERNAL_ERROR",))
            )
            journal.failed(m.id, fault.describe())
            notes.append(f"{m.id}: failed while the executor was away: {fault.describe()}")
    return notes


def refuse_steps(plan: Plan, inv: Inventory | None = None) -> None:
    """Raise InputError when `plan` has host steps (docs/plan-extensions.md): upgrades
    need an operator or an upgrade tool the executor does not drive. Such a plan runs
    as an xe script (`planner export --to xe` pauses at each upgrade)."""
    label = inv.label if inv is not None else (lambda u: u)
    steps = [f"wave {w.index}: {s.kind} {label(s.host)}" for w in plan.waves for s in w.steps]
    if steps:
        raise InputError(
            f"the plan has {len(steps)} host step(s) (first: {steps[0]}); the executor "
            "does not run host steps: use `planner export --to xe`, which pauses for "
            "the operator at each upgrade")


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
