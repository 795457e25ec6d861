"""One output convention for every command that prints data (docs/cli.md, "Output").

Every such command takes `--format table|json|csv` and `-o/--output FILE` (`-` is
stdout) through the option types below, and hands its data to an `Output`:

- `table` is for people: rich tables, with the status line in it;
- `json` and `csv` are data: stdout (or the file) holds only the data, and the status
  line ("plan: 7 migrations ...", "wrote FILE") goes to stderr, so a pipe gets clean data.

Only `typer` and the standard library are imported here: `planner --help` stays fast.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from planner.plan import Plan

FORMATS = ("table", "json", "csv")
STDOUT = Path("-")

FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        metavar="table|json|csv",
        help="Output format: table (for people), json or csv (data; the status line goes "
        "to stderr).",
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        metavar="FILE",
        help="Write the output to FILE instead of stdout ('-': stdout).",
        show_default=False,
    ),
]


def hms(seconds: float | int | None) -> str:
    """Whole seconds as h:mm:ss (`3725` -> `1:02:05`); None -> `-`."""
    if seconds is None:
        return "-"
    s = max(0, round(float(seconds)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 wave`, `3 waves` (`many` for irregular plurals)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def is_stdout(path: Path | None) -> bool:
    """Whether an `-o` value means stdout (not given, or `-`)."""
    return path is None or str(path) == "-"


def check_writable(path: Path | None, option: str = "-o/--output") -> None:
    """Fail now (InputError) when `path` cannot be written, before minutes of work."""
    if is_stdout(path):
        return
    assert path is not None
    if path.is_dir():
        raise InputError(f"{path}: cannot write: Is a directory")
    if not path.absolute().parent.is_dir():
        raise InputError(f"{path}: cannot write: no directory {path.absolute().parent}")


@dataclass(frozen=True)
class Output:
    """Where and how a command's data goes: `fmt` (table, json, csv) to `path`
    (None: stdout)."""

    fmt: str
    path: Path | None = None

    @classmethod
    def of(cls, fmt: str, output: Path | None, allowed: Sequence[str] = FORMATS) -> Output:
        """Validate `--format` (one of `allowed`) and `-o`; errors raise InputError."""
        if fmt not in allowed:
            raise InputError(f"--format: must be one of {', '.join(allowed)}, got {fmt!r}")
        check_writable(output)
        return cls(fmt, None if is_stdout(output) else output)

    @property
    def to_stdout(self) -> bool:
        return self.path is None

    @property
    def is_data(self) -> bool:
        """json or csv: the output is for a program, not a person."""
        return self.fmt != "table"

    def write(self, text: str) -> None:
        """`text` to stdout, or to the file (then "wrote FILE" on stderr)."""
        if self.path is None:
            typer.echo(text, nl=not text.endswith("\n"))
            return
        self.path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        typer.echo(f"wrote {self.path}", err=True)

    def json(self, doc: Any) -> None:
        """`doc` as indented JSON."""
        self.write(json.dumps(doc, indent=1, ensure_ascii=False, default=str))

    def csv(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
        """`rows` as CSV with a header of `columns` (None -> empty cell)."""
        from planner.rows import csv_text

        self.write(csv_text(rows, columns))

    def console(self) -> Console:
        """A rich console on stdout (terminal width, 120 when piped) or on the file."""
        from planner.terminal import SafeConsole as Console  # names from XAPI: no markup/ESC

        if self.path is None:
            return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 120)
        return Console(
            file=_FileSink(self.path), width=120, force_terminal=False, color_system=None
        )

    def table(self, render: Callable[[Console], None]) -> None:
        """Run `render` on the console of this output (a file is closed afterwards)."""
        con = self.console()
        render(con)
        if isinstance(con.file, _FileSink):
            con.file.close()
            typer.echo(f"wrote {self.path}", err=True)

    def status(self, line: str) -> None:
        """A status line: part of a table on stdout; stderr when stdout carries data or
        the output goes to a file."""
        typer.echo(line, err=self.is_data or self.path is not None)

    def emit(
        self,
        *,
        doc: Callable[[], Any],
        rows: Callable[[], Iterable[Mapping[str, Any]]],
        columns: Sequence[str],
        table: Callable[[Console], None],
    ) -> None:
        """Print in the chosen format: `doc()` for json, `rows()` for csv, `table` else."""
        if self.fmt == "json":
            self.json(doc())
        elif self.fmt == "csv":
            self.csv(rows(), columns)
        else:
            self.table(table)


class _FileSink(io.StringIO):
    """Collects a table, then writes the file in one go on close (nothing half-written)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def close(self) -> None:
        if not self.closed:
            self.path.write_text(self.getvalue(), encoding="utf-8")
        super().close()


def reason_summary(reasons: Iterable[str]) -> list[tuple[str, int]]:
    """(code, count) per reason code, most frequent first: the line above a long
    table of unplaced VMs."""
    from collections import Counter

    return Counter(reasons).most_common()


SUMMARY_FROM = 10  # unplaced VMs from which a count per reason code comes first


def print_reason_summary(out: Any, plan: Plan) -> None:
    """Above a long table of unplaced VMs: how many VMs each reason code stops.
    (`planner solve`'s table and the campaigns' table both print it.)"""
    if len(plan.unplaced) < SUMMARY_FROM:
        return
    counts = reason_summary(
        c for u in plan.unplaced for c in dict.fromkeys(r.code for r in u.reasons)
    )
    out.print(
        f"Unplaced: {plural(len(plan.unplaced), 'VM')}; per reason: "
        + ", ".join(f"{code} {n}" for code, n in counts),
        highlight=False,
    )
