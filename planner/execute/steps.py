"""Host steps of a run (docs/plan-extensions.md, docs/executor.md "Host steps").

Steps are barriers, in both modes: a step starts only when every migration planned before
it (earlier waves, and its own wave's for an `after` step) has ended done, and nothing
planned after it starts until it is done. If one of those migrations failed or was held,
the step is held, and so is everything after it. host-disable / host-enable call XAPI on
the host's pool master (after asking whether the host already is so: resume-safe);
host-upgrade waits, polling the host, until it runs the target version and is live again.

`StepsMixin` is one face of `planner.execute.loop.Runner`; it reads the runner's state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from planner.errors import InputError
from planner.execute import journal as J
from planner.execute.backend import Backend, ExecutorError, HostState, MigrationFault
from planner.execute.config import _NOTE, RunConfig
from planner.inventory.model import Inventory
from planner.plan import STEP_KINDS, STEP_WHEN, Migration, Plan, Step
from planner.rules.version import version_at_least


class StepsMixin:
    """The host-step half of the Runner: placing steps among the migrations, running
    them when their turn comes, waiting for host upgrades."""

    plan: Plan
    journal: J.Journal
    backend: Backend
    live: Inventory
    config: RunConfig
    clock: Callable[[], float]
    step_wait: Callable[[float], bool] | None
    stopping: bool

    if TYPE_CHECKING:

        def _emit(self, kind: str, m: Migration, detail: str = "") -> None: ...

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
            raise InputError(
                f"host step(s) name host {unknown[0]}, which no pool given by --url has"
            )

    # ------------------------------------------------------------ events

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
                    self._note(
                        f"no answer about {self.live.label(host)} ({f.describe()}); "
                        "it may be rebooting: still waiting",
                        sid,
                    )
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
                raise ExecutorError(
                    f"{sid} ({text}): lost the connection to the pool master; "
                    f"re-run to resume ({f.describe()})"
                ) from None
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
            + (f", for at most {limit:g}s" if limit else "")
            + f"{hint}; Ctrl-C stops, "
            "re-running resumes here)",
            sid,
        )
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
            pause = (
                c.step_poll_seconds if limit is None else min(c.step_poll_seconds, limit - waited)
            )
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
                raise InputError(
                    f"{where}: the executor does not know this kind of host "
                    f"step (it runs {', '.join(STEP_KINDS)})"
                )
            if s.when not in STEP_WHEN:
                raise InputError(f"{where}: `when` must be before or after, got {s.when!r}")
            if s.kind == "host-upgrade" and not s.to_version:
                raise InputError(f"{where}: a host-upgrade needs to_version")
