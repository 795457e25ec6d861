"""Carry out a plan: wave mode (lock-step) or flow mode, journaled and resumable.

The executor lives in four modules; this one keeps their public names importable from
their old place:

- `planner.execute.loop`: the `Runner` and its flow/wave scheduling loop (the
  discipline is described there);
- `planner.execute.steps`: host steps (barriers between migrations);
- `planner.execute.reconcile`: resuming, asking XAPI what became of intents and tasks;
- `planner.execute.config`: `RunConfig`, `Summary`, the listener type.

`run_plan` (build a Runner and run it) is defined here.
"""

from __future__ import annotations

from typing import Any

from planner.execute import journal as J
from planner.execute.backend import Backend, ExecutorError
from planner.execute.config import _NOTE, MODES, Listener, RunConfig, Summary, _Flight
from planner.execute.loop import LOST_CONTACT_SECONDS, Runner
from planner.execute.reconcile import (
    DRIFT,
    SETTLE_SECONDS,
    _landed,
    _live_location,
    _settled_text,
    _where_text,
    arrived,
    at_source,
    intent_record,
    new_marker,
    reconcile,
    settle_by_location,
)
from planner.execute.steps import refuse_steps
from planner.inventory.model import Inventory
from planner.plan import Plan


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

# re-exported for the modules that import them from here (not part of __all__)
_REEXPORTED = (
    _NOTE,
    _Flight,
    LOST_CONTACT_SECONDS,
    DRIFT,
    SETTLE_SECONDS,
    _landed,
    _live_location,
    _settled_text,
    _where_text,
    at_source,
    intent_record,
    new_marker,
    settle_by_location,
)
