"""The executor's SQLite journal: what was intended, started and finished, durably.

One journal belongs to one plan (its digest) made from one inventory (its digest). Every
migration of the plan has a row that moves through

    pending -> intent -> started(task refs) -> done | failed(error) | held(reason)

`intent` is written and committed (WAL, ``synchronous=FULL``) *before* the XAPI call and
`started` right after it returns its task refs, so a crash at any moment leaves enough to
ask XAPI what became of the call. Times are Unix seconds (float). The journal never
stores credentials: only plan ids, uuids, task refs, XAPI error codes and messages.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
import uuid as uuidlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from planner.errors import InputError
from planner.execute.journal_db import (
    _SCHEMA,
    OUR_TABLES,
    Entry,
    JournalError,
    RunInfo,
    StepEntry,
    _entry,
    _Guarded,
    _refuse_non_journal,
    _step_entry,
)
from planner.execute.journal_lock import Lock
from planner.plan import Plan, Step, to_dict

PENDING = "pending"
INTENT = "intent"
STARTED = "started"
DONE = "done"
FAILED = "failed"
HELD = "held"
STATES = (PENDING, INTENT, STARTED, DONE, FAILED, HELD)
IN_FLIGHT = (INTENT, STARTED)
FINAL = (DONE, FAILED, HELD)

SCHEMA_VERSION = 1


def plan_digest(plan: Plan) -> str:
    """sha256 hex of the plan document (canonical JSON, as for the inventory digest)."""
    text = json.dumps(to_dict(plan), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def step_ids(plan: Plan) -> list[tuple[str, int, Step]]:
    """(id, wave index, step) for every host step in the order they run: per wave, its
    `before` steps, then (after its migrations) its `after` steps; ids s1, s2, ..."""
    out: list[tuple[str, int, Step]] = []
    for w in plan.waves:
        for first in (True, False):
            for st in w.steps:
                if (st.when == "before") == first:
                    out.append((f"s{len(out) + 1}", w.index, st))
    return out


class Journal:
    """A journal file. Open with `Journal.open(path, plan)` (creates or resumes) or
    `Journal.read(path)` (status only, the plan not needed)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: Lock | None = None) -> None:
        self._db = _Guarded(conn, path)
        self.path = path
        self._lock = lock

    # ------------------------------------------------------------ opening

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # every commit reaches the disk before the XAPI call it announces
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @classmethod
    def open(cls, path: str | Path, plan: Plan) -> Journal:
        """Create the journal for `plan`, or reopen it to resume.

        Raises InputError when `path` holds a journal for another plan, or is not a
        journal at all.
        """
        p = Path(path)
        digest = plan_digest(plan)
        if not p.parent.is_dir():
            raise InputError(f"{p}: cannot create the journal: no directory {p.parent}")
        lock = Lock(p)
        lock.acquire()  # before anything is read: the holder may be writing
        try:
            return cls._open_locked(p, plan, digest, lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _open_locked(cls, p: Path, plan: Plan, digest: str, lock: Lock) -> Journal:
        _refuse_non_journal(p)
        if not p.exists():
            cls._create(p, plan, digest)
        try:
            if p.exists():
                # read-only first: another application's database is not touched at all
                # (not even switched to WAL)
                ro = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
                try:
                    tables = {
                        r[0]
                        for r in ro.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                    }
                finally:
                    ro.close()
                if (tables and "run" not in tables) or tables - OUR_TABLES:
                    raise InputError(
                        f"{p}: not an executor journal (an SQLite database "
                        f"with tables {', '.join(sorted(tables)[:5])}); refusing "
                        "to write to it: use another --journal file"
                    )
            conn = cls._connect(p)
            conn.executescript(_SCHEMA)
            cols = {r[1] for r in conn.execute("PRAGMA table_info(migration)")}
            if "intent" not in cols:  # a journal written before intent records
                conn.execute("ALTER TABLE migration ADD COLUMN intent TEXT")
            row = conn.execute("SELECT * FROM run WHERE id = 1").fetchone()
        except sqlite3.DatabaseError as e:
            raise InputError(f"{p}: not an executor journal ({e})") from None
        j = cls(conn, p, lock)
        if row is None:  # created by hand or by an older planner: not ours to fill
            j.close()
            raise InputError(
                f"{p}: not an executor journal (no run record); move it away to start a new journal"
            )
        if row["plan_digest"] != digest:
            j.close()
            raise InputError(
                f"{p}: journal belongs to another plan (plan digest "
                f"{row['plan_digest'][:12]}, this plan {digest[:12]}); "
                "use another --journal file"
            )
        j._add_steps(plan)
        return j

    @classmethod
    def _create(cls, p: Path, plan: Plan, digest: str) -> None:
        """Write a new journal beside `p` and rename it into place: a crash while it is
        being made leaves no file at `p`, so an empty or half-made journal is never ours
        and a re-run starts afresh (the stray temporary file is replaced)."""
        tmp = p.with_name(f".{p.name}.new")
        for stray in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            stray.unlink(missing_ok=True)
        try:
            conn = cls._connect(tmp)
            try:
                conn.executescript(_SCHEMA)
                cls(conn, tmp)._fill(plan, digest)
            finally:
                conn.close()  # the last connection: the WAL is checkpointed and removed
            os.replace(tmp, p)
        except sqlite3.DatabaseError as e:
            raise InputError(f"{p}: cannot create the journal ({e})") from None
        except OSError as e:
            raise InputError(f"{p}: cannot create the journal: {e.strerror or e}") from None

    def _fill(self, plan: Plan, digest: str) -> None:
        """The run record and a row per migration of a new journal."""
        conn = self._db
        with self._tx():
            conn.execute(
                "INSERT INTO run (id, schema_version, run_id, plan_digest, inventory_digest,"
                " created) VALUES (1, ?, ?, ?, ?, ?)",
                (SCHEMA_VERSION, str(uuidlib.uuid4()), digest, plan.inventory_digest, time.time()),
            )
            seq = 0
            for w in plan.waves:
                for m in w.migrations:
                    conn.execute(
                        "INSERT INTO migration (id, seq, wave, vm, kind, from_pool, to_pool,"
                        " est_seconds, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            m.id,
                            seq,
                            w.index,
                            m.vm,
                            m.kind,
                            m.from_pool,
                            m.to_pool,
                            int(m.est_seconds),
                            PENDING,
                        ),
                    )
                    seq += 1
            self._event(None, "created", f"{seq} migrations")

    def _add_steps(self, plan: Plan) -> None:
        """A row per host step (idempotent: a journal made before steps existed gets
        its step table filled on the next open)."""
        with self._tx():
            for seq, (sid, wave, st) in enumerate(step_ids(plan)):
                self._db.execute(
                    "INSERT OR IGNORE INTO step (id, seq, wave, kind, host, at, to_version,"
                    " state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (sid, seq, wave, st.kind, st.host, st.when, st.to_version, PENDING),
                )

    @classmethod
    def read(cls, path: str | Path) -> Journal:
        """Open an existing journal read-mostly (for --status). InputError if absent."""
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: no such journal")
        _refuse_non_journal(p)
        try:
            conn = cls._connect(p)
            row = conn.execute("SELECT * FROM run WHERE id = 1").fetchone()
        except sqlite3.DatabaseError as e:
            raise InputError(f"{p}: not an executor journal ({e})") from None
        if row is None:
            raise InputError(f"{p}: not an executor journal (no run record)")
        return cls(conn, p)

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ reading

    def info(self) -> RunInfo:
        r = self._db.execute("SELECT * FROM run WHERE id = 1").fetchone()
        return RunInfo(
            r["run_id"], r["plan_digest"], r["inventory_digest"], r["created"], r["runs"]
        )

    def entries(self) -> list[Entry]:
        """Every migration, in plan order."""
        rows = self._db.execute("SELECT * FROM migration ORDER BY seq").fetchall()
        return [_entry(r) for r in rows]

    def entry(self, mid: str) -> Entry:
        r = self._db.execute("SELECT * FROM migration WHERE id = ?", (mid,)).fetchone()
        if r is None:
            raise KeyError(mid)
        return _entry(r)

    def steps(self) -> list[StepEntry]:
        """Every host step, in plan order (none for a plan without steps)."""
        try:
            rows = self._db.execute("SELECT * FROM step ORDER BY seq").fetchall()
        except sqlite3.OperationalError:
            return []  # a journal written before host steps existed (read-only open)
        return [_step_entry(r) for r in rows]

    def step(self, sid: str) -> StepEntry:
        r = self._db.execute("SELECT * FROM step WHERE id = ?", (sid,)).fetchone()
        if r is None:
            raise KeyError(sid)
        return _step_entry(r)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for r in self._db.execute("SELECT state, COUNT(*) AS n FROM migration GROUP BY state"):
            out[r["state"]] = r["n"]
        return out

    def events(self, migration: str | None = None) -> list[tuple[float, str | None, str, str]]:
        q = "SELECT at, migration, state, detail FROM event"
        args: tuple[str, ...] = ()
        if migration is not None:
            q += " WHERE migration = ?"
            args = (migration,)
        return [tuple(r) for r in self._db.execute(q + " ORDER BY n", args)]

    # ------------------------------------------------------------ writing

    @contextmanager
    def _tx(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                with contextlib.suppress(JournalError):
                    self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _event(self, mid: str | None, state: str, detail: str = "") -> None:
        self._db.execute(
            "INSERT INTO event (at, migration, state, detail) VALUES (?, ?, ?, ?)",
            (time.time(), mid, state, detail),
        )

    def begin_run(self) -> int:
        """Count one more executor run on this journal; returns its number (1-based)."""
        with self._tx():
            self._db.execute("UPDATE run SET runs = runs + 1 WHERE id = 1")
            n = self._db.execute("SELECT runs FROM run WHERE id = 1").fetchone()[0]
            self._event(None, "run", f"run {n}")
        return int(n)

    def _set(self, mid: str, state: str, detail: str, **cols: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in ("state", *cols))
        with self._tx():
            cur = self._db.execute(
                f"UPDATE migration SET {sets} WHERE id = ?", (state, *cols.values(), mid)
            )
            if cur.rowcount != 1:
                raise KeyError(mid)
            self._event(mid, state, detail)

    def intent(self, mid: str, record: dict[str, Any] | None = None) -> None:
        """Before the XAPI call: durable proof that a call may have gone out, and what
        it will ask (`record`: the client-side marker, target host, pool and SRs)."""
        now = time.time()
        text = json.dumps({**record, "at": now}, sort_keys=True) if record else None
        with self._tx():
            cur = self._db.execute(
                "UPDATE migration SET state = ?, attempts = attempts + 1, intent_at = ?,"
                " tasks = '', error = NULL, intent = ? WHERE id = ? AND state IN (?, ?)",
                (INTENT, now, text, mid, PENDING, FAILED),
            )
            if cur.rowcount != 1:
                raise ValueError(f"migration {mid}: intent from state {self.entry(mid).state}")
            self._event(mid, INTENT)

    def started(self, mid: str, tasks: Iterable[str]) -> None:
        """After the XAPI call returned its task ref(s)."""
        refs = tuple(tasks)
        self._set(mid, STARTED, ",".join(refs), tasks=",".join(refs), started_at=time.time())

    def done(self, mid: str, detail: str = "") -> None:
        self._set(mid, DONE, detail, ended_at=time.time(), error=None)

    def failed(self, mid: str, error: str) -> None:
        """The migration ended without moving the VM; `error` is XAPI's code and params."""
        self._set(mid, FAILED, error, ended_at=time.time(), error=error)

    def held(self, mid: str, reason: str) -> None:
        """Not started on purpose: a permanent refusal, or a dependency that did not happen."""
        self._set(mid, HELD, reason, error=reason)

    def pending(self, mid: str, detail: str) -> None:
        """Back to pending: a call that never reached XAPI, or a retry after a fault."""
        self._set(mid, PENDING, detail, tasks="")

    # ------------------------------------------------------------ host steps

    def _set_step(self, sid: str, state: str, detail: str, **cols: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in ("state", *cols))
        with self._tx():
            cur = self._db.execute(
                f"UPDATE step SET {sets} WHERE id = ?", (state, *cols.values(), sid)
            )
            if cur.rowcount != 1:
                raise KeyError(sid)
            self._event(sid, state, detail)

    def step_intent(self, sid: str, detail: str = "") -> None:
        """Before the step's XAPI call (or before waiting for an upgrade)."""
        with self._tx():
            cur = self._db.execute(
                "UPDATE step SET state = ?, attempts = attempts + 1, intent_at = ?,"
                " error = NULL WHERE id = ?",
                (INTENT, time.time(), sid),
            )
            if cur.rowcount != 1:
                raise KeyError(sid)
            self._event(sid, INTENT, detail)

    def step_disabled_by_us(self, sid: str) -> None:
        """Record (before the call) that the executor disables the host for an upgrade."""
        self._set_step(sid, INTENT, "executor disables the host for the upgrade", disabled_by_us=1)

    def step_waiting(self, sid: str, why: str) -> None:
        """Still in progress (an upgrade not seen yet, a timeout): stays `intent`."""
        self._set_step(sid, INTENT, why, error=why)

    def step_done(self, sid: str, detail: str = "") -> None:
        self._set_step(sid, DONE, detail, ended_at=time.time(), error=None)

    def step_held(self, sid: str, reason: str) -> None:
        self._set_step(sid, HELD, reason, error=reason)

    def step_pending(self, sid: str, detail: str) -> None:
        self._set_step(sid, PENDING, detail)

    def note(self, mid: str | None, detail: str) -> None:
        """A free-form event (retries, reconciliation) that does not change the state."""
        with self._tx():
            self._event(mid, "note", detail)


__all__ = [
    "DONE",
    "FAILED",
    "FINAL",
    "HELD",
    "INTENT",
    "IN_FLIGHT",
    "OUR_TABLES",
    "PENDING",
    "SCHEMA_VERSION",
    "STARTED",
    "STATES",
    "Entry",
    "Journal",
    "JournalError",
    "Lock",
    "RunInfo",
    "StepEntry",
    "plan_digest",
    "step_ids",
]
