"""Resuming a run: asking XAPI what became of what the journal shows in flight.

`reconcile` settles every intent and started row after a crash or a stop (the task's
record, else what the VM is doing, else where it is); `ResumeMixin` is the Runner's side
of it (taking over flights still running, giving failed and held migrations another
chance). See docs/reliability.md.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from planner.execute import journal as J
from planner.execute.backend import CANCELLED, Backend, Location, MigrationFault
from planner.execute.config import _Flight
from planner.execute.room import Room
from planner.inventory.model import Inventory
from planner.plan import Migration, Plan

DRIFT = "drift:"
SETTLE_SECONDS = 90.0  # how long a call may be in transit before it is taken as lost


class ResumeMixin:
    """The resuming half of the Runner: what a new run does with the journal's rows."""

    journal: J.Journal
    backend: Backend
    live: Inventory
    clock: Callable[[], float]
    by_id: dict[str, Migration]
    flights: dict[str, _Flight]
    room: Room
    step_state: dict[str, str]

    if TYPE_CHECKING:

        def _emit(self, kind: str, m: Migration, detail: str = "") -> None: ...
        def _deadline(self, m: Migration, since: float) -> float: ...
        def _step_set(self, sid: str, state: str, detail: str) -> None: ...

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
                notes.append(
                    f"{se.id}: {se.kind} {self.live.label(se.host)} was under way; "
                    "asking XAPI where it stands"
                )
        for e in self.journal.entries():
            m = self.by_id.get(e.id)
            if m is None:
                continue
            if e.state == J.HELD and (e.error or "").startswith(DRIFT):
                if not self._drift_cleared(m):
                    notes.append(
                        f"{e.id}: held ({e.error}); re-plan (--replan) or put the "
                        "VM back where the plan has it"
                    )
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
        journal.held(
            m.id,
            f"{DRIFT} {why}; VM is {_where_text(loc)}, neither at its source nor at its target",
        )
        return False
    journal.pending(m.id, f"{why}; VM not at its target")
    return False


def new_marker(journal: J.Journal, m: Migration) -> str:
    """A client-side marker for one attempt of `m`: the journal's run id, the migration
    id and 8 random hex digits (docs/reliability.md). Unguessable, so nobody else's
    task or VM can carry it by chance."""
    return f"{journal.info().run_id[:8]}/{m.id}/{secrets.token_hex(4)}"


def intent_record(m: Migration, marker: str) -> dict[str, Any]:
    """What an intent announces: the marker, target host (None: chosen at the call, a
    host of `to_pool` seeing every target SR), pool and SRs."""
    return {
        "marker": marker,
        "to_host": m.to_host,
        "to_pool": m.to_pool,
        "srs": sorted({d.to_sr for d in m.disks}),
    }


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


def reconcile(
    plan: Plan,
    journal: J.Journal,
    backend: Backend,
    *,
    settle_seconds: float = SETTLE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> list[str]:
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
                why = (
                    f"{DRIFT} the task succeeded but the VM is {_where_text(loc)}, not at "
                    "its target"
                )
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


def _landed(
    journal: J.Journal,
    backend: Backend,
    m: Migration,
    e: J.Entry,
    marker: str | None,
    notes: list[str],
    settle_seconds: float,
    sleep: Callable[[float], None],
    now: Callable[[], float],
) -> list[str]:
    """An intent without task refs: our task's refs if our call landed (recorded as
    started), else [] with the migration settled (pending, done or held)."""
    if marker is None:
        # a journal written before markers: the VM's state is all there is to go by
        ref = backend.busy(m.from_pool).get(m.vm)
        if ref is not None:
            journal.held(
                m.id, f"{DRIFT} the VM is busy with {ref}, which no marker shows to be ours"
            )
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
            notes.append(f"{m.id}: the call had landed (task {','.join(ours)}, ours by its marker)")
            return ours
        ref = backend.busy(m.from_pool).get(m.vm)
        vm_marker = backend.marker_of(m.vm)
        if vm_marker != marker:
            # the marker precedes the call: without it on the VM, the call never left
            if ref is not None:
                journal.held(
                    m.id, f"{DRIFT} the VM is busy with a migration that is not ours ({ref})"
                )
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
            journal.held(
                m.id,
                f"{DRIFT} the VM is {_where_text(loc)}, neither at its source nor at its target",
            )
            notes.append(f"{m.id}: held (the VM went elsewhere)")
            return []
        left = deadline - now()
        if left <= 0:
            journal.pending(
                m.id,
                f"the call did not land within {settle_seconds:g}s of its intent: taken as lost",
            )
            notes.append(
                f"{m.id}: the call did not land within {settle_seconds:g}s: will start it again"
            )
            return []
        if not waited:
            notes.append(
                f"{m.id}: the call may still be in transit; waiting up to "
                f"{left:.0f}s for it to land"
            )
            waited = True
        sleep(min(0.5, left))
