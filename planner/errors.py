"""Exceptions the CLI turns into one-line messages and exit statuses.

Library code raises these; only `planner.cli` decides how they are shown. Exit status 2
means the input was unusable (nothing was changed); 1 means the answer is "no".
"""

from __future__ import annotations


class PlannerError(Exception):
    """Base of every error the planner reports to the user without a traceback."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems: list[str] = list(problems or [])

    def lines(self, cap: int = 50) -> list[str]:
        """The message, then each problem on its own line (at most `cap` of them)."""
        if not self.problems:
            return [self.message]
        shown = self.problems[:cap]
        out = [f"{self.message}:"] + [f"  {p}" for p in shown]
        if len(self.problems) > cap:
            out.append(f"  ... and {len(self.problems) - cap} more")
        return out


class InputError(PlannerError):
    """A file, argument or name the user gave is unusable (exit status 2)."""


class LookupFailed(InputError):
    """A name or uuid matches no object, or more than one (exit status 2)."""


class ConnectionFailed(PlannerError):
    """A XAPI endpoint could not be reached or refused the credentials (exit status 2)."""
