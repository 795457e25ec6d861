"""The journal's SQLite side: the schema, the guarded connection, and the row types
(`Entry`, `StepEntry`, `RunInfo`) read back from it. `planner.execute.journal` is the
journal itself; these names are importable from there too."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.errors import InputError, PlannerError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    plan_digest TEXT NOT NULL,
    inventory_digest TEXT NOT NULL,
    created REAL NOT NULL,
    runs INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS migration (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    wave INTEGER NOT NULL,
    vm TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_pool TEXT NOT NULL,
    to_pool TEXT NOT NULL,
    est_seconds INTEGER NOT NULL,
    state TEXT NOT NULL,
    tasks TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    intent_at REAL,
    started_at REAL,
    ended_at REAL,
    intent TEXT
);
CREATE TABLE IF NOT EXISTS step (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    wave INTEGER NOT NULL,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    at TEXT NOT NULL,
    to_version TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    disabled_by_us INTEGER NOT NULL DEFAULT 0,
    intent_at REAL,
    ended_at REAL
);
CREATE TABLE IF NOT EXISTS event (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    migration TEXT,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
"""


OUR_TABLES = frozenset({"run", "migration", "step", "event", "sqlite_sequence"})


class JournalError(PlannerError):
    """The journal cannot be written or read (disk full, a corrupted page, I/O error):
    the run stops at once, one line, exit status 2. What was committed stays; a call
    whose intent was committed is settled by asking XAPI on the next run."""


class _Guarded:
    """The SQLite connection, with every sqlite3 error turned into a one-line
    `JournalError` naming the file (no traceback for a full disk or a bad page)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path

    def execute(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, args)
        except sqlite3.Error as e:
            raise JournalError(
                f"{self._path}: journal unusable ({e}); nothing more is "
                "started; fix it (free disk space) and re-run to resume"
            ) from None

    def executescript(self, sql: str) -> sqlite3.Cursor:
        return self._conn.executescript(sql)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()


@dataclass(frozen=True, slots=True)
class Entry:
    """One migration's row. `tasks` are XAPI task refs (several for per-disk moves)."""

    id: str
    seq: int
    wave: int
    vm: str
    kind: str
    from_pool: str
    to_pool: str
    est_seconds: int
    state: str
    tasks: tuple[str, ...]
    attempts: int
    error: str | None
    intent_at: float | None
    started_at: float | None
    ended_at: float | None
    # what the last intent announced (JSON): marker, to_host, to_pool, srs, at
    intent: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StepEntry:
    """One host step's row (docs/plan-extensions.md). States: pending -> intent (the
    call is being made, or the upgrade is awaited) -> done | held(reason). `at` is the
    step's `when` ("before"/"after" its wave's migrations). `disabled_by_us`: the
    executor disabled the host for an upgrade the plan did not disable it for, and
    enables it again once the upgrade is seen."""

    id: str
    seq: int
    wave: int
    kind: str
    host: str
    at: str
    to_version: str | None
    state: str
    attempts: int
    error: str | None
    disabled_by_us: bool
    intent_at: float | None
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    plan_digest: str
    inventory_digest: str
    created: float
    runs: int


def _refuse_non_journal(p: Path) -> None:
    """A file that exists must be an SQLite database with content: a 0-byte file is not
    a journal taken as new (it may be a truncated one), nor is any other file."""
    try:
        st = p.stat()
    except FileNotFoundError:
        return
    except OSError as e:
        raise InputError(f"{p}: cannot read the journal: {e.strerror or e}") from None
    if not p.is_file():
        raise InputError(f"{p}: not a regular file; give a journal file")
    if st.st_size == 0:
        raise InputError(
            f"{p}: empty file, not a journal (a truncated one?); move it away "
            "to start a new journal"
        )
    try:
        with p.open("rb") as f:
            head = f.read(16)
    except OSError as e:
        raise InputError(f"{p}: cannot read the journal: {e.strerror or e}") from None
    if head != b"SQLite format 3\x00":
        raise InputError(f"{p}: not an executor journal (not an SQLite database)")


def _entry(r: sqlite3.Row) -> Entry:
    return Entry(
        id=r["id"],
        seq=r["seq"],
        wave=r["wave"],
        vm=r["vm"],
        kind=r["kind"],
        from_pool=r["from_pool"],
        to_pool=r["to_pool"],
        est_seconds=r["est_seconds"],
        state=r["state"],
        tasks=tuple(t for t in r["tasks"].split(",") if t),
        attempts=r["attempts"],
        error=r["error"],
        intent_at=r["intent_at"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        intent=_intent_record(r),
    )


def _intent_record(r: sqlite3.Row) -> dict[str, Any] | None:
    if "intent" not in r.keys() or not r["intent"]:  # noqa: SIM118 - `in` on a Row tests values
        return None
    try:
        rec = json.loads(r["intent"])
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def _step_entry(r: sqlite3.Row) -> StepEntry:
    return StepEntry(
        id=r["id"],
        seq=r["seq"],
        wave=r["wave"],
        kind=r["kind"],
        host=r["host"],
        at=r["at"],
        to_version=r["to_version"],
        state=r["state"],
        attempts=r["attempts"],
        error=r["error"],
        disabled_by_us=bool(r["disabled_by_us"]),
        intent_at=r["intent_at"],
        ended_at=r["ended_at"],
    )
