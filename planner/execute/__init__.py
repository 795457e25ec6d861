"""Running a plan against XAPI: pre-flight, the runner, its journal, backends, xe export.

See docs/executor.md; the layer sits above the planning code and below the CLI
(docs/architecture.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.execute.session import ExecuteOutcome, ExecuteUI, QuietUI, Verdict, execute_plan

__all__ = ["ExecuteOutcome", "ExecuteUI", "QuietUI", "Verdict", "execute_plan"]


def __getattr__(name: str) -> Any:
    """`planner.execute.execute_plan` and its types, imported on first use: importing the
    package (for the journal, say) must not load the runner and the XenAPI backend."""
    if name in __all__:
        from planner.execute import session

        return getattr(session, name)
    raise AttributeError(f"module 'planner.execute' has no attribute {name!r}")
