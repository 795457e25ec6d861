"""`planner execute`'s progress display: per-pool bars on a terminal (rich), plain
time-stamped lines otherwise; the schedule's drift and ETA when the plan has one."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import typer

from planner.cli import logs
from planner.cli.output import hms
from planner.execute.config import RunConfig
from planner.execute.journal import DONE, Entry
from planner.execute.summary import describe, label
from planner.inventory.model import Inventory
from planner.plan import Migration, Plan

_log = logging.getLogger("planner.execute")


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

    def __init__(
        self,
        plan: Plan,
        inv: Inventory | None,
        max_per_pool: int,
        tty: bool,
        scheduled: bool = False,
        config: RunConfig | None = None,
    ) -> None:
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
                    f"pool {label(self.inv, pool)}", total=len(migs), info=""
                )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._refresh()
            self._live.__exit__(None, None, None)

    def seed(self, entries: list[Entry]) -> None:
        """Count what earlier runs finished."""
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
        inside = [
            min(by_id[i].end_s, by_id[i].start_s + now - t0)
            for i, t0 in self.flying.items()
            if i in by_id
        ]
        return max(inside, default=float(self.plan.schedule_seconds))

    def schedule_eta(self, now: float) -> float:
        return max(0.0, self.plan.schedule_seconds - self.position(now))

    def _vs_plan(self, planned: int, now: float) -> str:
        """ "planned t+X s, at t+Y s (+Z s)" for a start or an end."""
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
            detail = (
                f"attempt {n} failed: {detail}; attempt {n + 1} of at most "
                f"{self.config.retries + 1} in {wait:.1f} s"
            )
        if kind == "note":
            line = detail
        else:
            if kind == "done" and detail.replace(".", "", 1).isdigit():
                detail = f"{detail} s"  # the runner reports wall seconds as a bare number
            if timing:
                detail = f"{detail}; {timing}" if detail else timing
            line = f"{kind:<7} {m.id} {describe(m, self.inv)}" + (f" ({detail})" if detail else "")
        level = (
            logging.WARNING if kind in ("failed", "held", "retry", "uncertain") else logging.INFO
        )
        # the terminal shows the event as its own line already: the log file records it
        _log.log(
            level,
            line,
            extra={
                "event": kind,
                "migration": getattr(m, "id", None),
                "vm": getattr(m, "vm", None),
                logs.FILE_ONLY: True,
            },
        )
        if self._live is not None:
            if kind not in ("start", "done", "resume"):
                self._live.console.log(line)
            self._refresh()
        else:
            typer.echo(f"{time.strftime('%H:%M:%S')} {line}")


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
