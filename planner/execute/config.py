"""The executor's run settings and results: `RunConfig` (how to run), `Summary` (where a
run ended), the listener type, and the in-flight record the loop keeps per migration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from planner.errors import InputError
from planner.execute import journal as J
from planner.options import slots_error
from planner.plan import Migration

MODES = ("waves", "flow")


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
        if self.max_per_pool is not None and (
            why := slots_error("--max-per-pool", self.max_per_pool)
        ):
            raise InputError(why)
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
        return all(e.state == J.DONE for e in self.entries) and all(
            s.state == J.DONE for s in self.steps
        )


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


# a stand-in migration for run-level notes sent through the listener
_NOTE = Migration(
    id="-", vm="-", kind="live", from_host=None, to_host=None, from_pool="-", to_pool="-"
)
