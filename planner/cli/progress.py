"""Progress displays of the long commands, drawn by rich on stderr.

Shown on a terminal only (stderr is a TTY), unless `--progress` / `--no-progress` says
otherwise; stdout is never touched, so `--format json | jq` stays clean. Each display
is a context manager and a callback the library code calls:

- `SolveProgress`: phase, the best plan and the bound so far, elapsed time (from the
  one-line messages `planner.solve.solve(progress=...)` emits);
- `PoolProgress`: one line per pool of `collect` (reading, then what it read);
- `CountProgress`: a bar with done/total, elapsed and ETA (`whatif`'s scenarios).

`execute` keeps its own per-pool bars (planner/cli/execute_cmd.py) with the same flag.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Annotated, Any

import typer

ProgressOption = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        show_default=False,
        help="Progress on stderr (default: only when stderr is a terminal).",
    ),
]


def enabled(flag: bool | None) -> bool:
    """`--progress` / `--no-progress`, else whether stderr is a terminal."""
    return sys.stderr.isatty() if flag is None else flag


def _console() -> Any:
    from planner.terminal import SafeConsole as Console  # names from XAPI: no markup/ESC

    return Console(stderr=True)


_PLAN = re.compile(r"(?:plan|schedule) of (\d+) s")
_BOUND = re.compile(r"bound (\d+) s")


def hms(seconds: float) -> str:
    from planner.cli.output import hms as fmt

    return fmt(seconds)


class SolveProgress:
    """One live line: `solving | phase | best 0:25:07 | bound 0:20:00 | 0:00:12`."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.phase = "starting"
        self.best: int | None = None
        self.bound: int | None = None
        self.t0 = time.monotonic()
        self._live: Any = None

    def __enter__(self) -> SolveProgress:
        if self.on:
            from rich.live import Live

            self._live = Live(
                self._render(),
                console=_console(),
                refresh_per_second=4,
                transient=True,
                get_renderable=self._render,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live.console.print(
                f"[dim]solved in {time.monotonic() - self.t0:.1f} s: {self.phase}[/dim]",
                highlight=False,
            )

    def __call__(self, message: str) -> None:
        """A message of `planner.solve.solve(progress=...)`."""
        self.phase = message
        if (m := _PLAN.search(message)) and (
            self.best is None or int(m[1]) < self.best or message.startswith("cpsat")
        ):
            self.best = int(m[1])
        if (b := _BOUND.search(message)) is not None:
            self.bound = max(self.bound or 0, int(b[1]))

    def _render(self) -> Any:
        from rich.text import Text

        parts = [f"solving: {self.phase}"]
        parts.append(f"best {hms(self.best)}" if self.best is not None else "best -")
        parts.append(f"bound {hms(self.bound)}" if self.bound is not None else "bound -")
        parts.append(f"elapsed {hms(time.monotonic() - self.t0)}")
        return Text(" | ".join(parts), style="dim", overflow="ellipsis", no_wrap=True)


class PoolProgress:
    """`collect`: one line per pool URL, a spinner while it is read, then what it read."""

    def __init__(self, urls: list[str], on: bool) -> None:
        self.urls = urls
        self.on = on
        self._p: Any = None
        self._ids: dict[str, Any] = {}

    def __enter__(self) -> PoolProgress:
        if self.on:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._p = Progress(
                SpinnerColumn(finished_text="[green]✓[/green]"),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[state]}"),
                console=_console(),
            )
            self._p.__enter__()
            for u in self.urls:
                self._ids[u] = self._p.add_task(u, total=1, state="waiting", start=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.__exit__(None, None, None)

    def __call__(self, url: str, text: str) -> None:
        """`collect_with_warnings(progress=...)`: a pool started or ended."""
        if self._p is None:
            return
        tid = self._ids.get(url)
        if tid is None:  # a redirect to the master: a new line
            tid = self._ids[url] = self._p.add_task(url, total=1, state="", start=False)
        if text == "reading":
            self._p.start_task(tid)
            self._p.update(tid, state="reading")
        else:
            self._p.update(tid, completed=1, state=text)
            self._p.stop_task(tid)


class CountProgress:
    """A bar: `what  ━━━━━━━━━━  12/40  0:00:05  ETA 0:00:12`."""

    def __init__(self, what: str, on: bool) -> None:
        self.what = what
        self.on = on
        self._p: Any = None
        self._tid: Any = None

    def __enter__(self) -> CountProgress:
        if self.on:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._p = Progress(
                TextColumn(self.what),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=_console(),
                transient=False,
            )
            self._p.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.__exit__(None, None, None)

    def __call__(self, done: int, total: int) -> None:
        if self._p is None:
            return
        if self._tid is None:
            self._tid = self._p.add_task(self.what, total=total)
        self._p.update(self._tid, completed=done, total=total)
