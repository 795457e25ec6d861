"""The executor's SQLite journal: states, durability settings, ownership by one plan."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from planner.errors import InputError
from planner.execute import journal as J
from planner.goals import Evacuate
from planner.options import PlanOptions
from planner.plan import Migration, Plan, Wave
from planner.plan_header import Figures, SolverInfo


def _plan(n: int = 3, digest: str = "d" * 64) -> Plan:
    migs = [
        Migration(
            id=f"m{i}",
            vm=f"vm-{i}",
            kind="live",
            from_host="h1",
            to_host="h2",
            from_pool="p1",
            to_pool="p1",
            est_seconds=10 + i,
        )
        for i in range(n)
    ]
    return Plan(
        inventory_digest=digest,
        goal=Evacuate(("h1",)),
        options=PlanOptions(),
        solver=SolverInfo(name="hand"),
        bounds=Figures(),
        waves=(Wave(0, tuple(migs[:2])), Wave(1, tuple(migs[2:]))),
    )


def test_new_journal_has_every_migration_pending_in_plan_order(tmp_path):
    plan = _plan()
    with J.Journal.open(tmp_path / "j.db", plan) as j:
        es = j.entries()
        assert [e.id for e in es] == ["m0", "m1", "m2"]
        assert [e.wave for e in es] == [0, 0, 1]
        assert all(e.state == J.PENDING and e.attempts == 0 for e in es)
        info = j.info()
        assert info.plan_digest == J.plan_digest(plan)
        assert info.inventory_digest == plan.inventory_digest
        assert j.counts()[J.PENDING] == 3


def test_wal_and_full_sync_are_set(tmp_path):
    with J.Journal.open(tmp_path / "j.db", _plan()) as j:
        assert j._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # 2 = FULL: intent records reach the disk before the XAPI call they announce
        assert j._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_state_machine_records_intent_before_tasks_and_outcome(tmp_path):
    with J.Journal.open(tmp_path / "j.db", _plan()) as j:
        j.intent("m0")
        e = j.entry("m0")
        assert e.state == J.INTENT and e.attempts == 1 and e.tasks == ()
        assert e.intent_at is not None
        j.started("m0", ["OpaqueRef:t1"])
        assert j.entry("m0").tasks == ("OpaqueRef:t1",)
        j.done("m0")
        assert j.entry("m0").state == J.DONE
        j.intent("m1")
        j.started("m1", ["OpaqueRef:a", "OpaqueRef:b"])
        j.failed("m1", "VM_MIGRATE_FAILED vm, h1, h2, boom")
        e = j.entry("m1")
        assert e.state == J.FAILED and e.error.startswith("VM_MIGRATE_FAILED")
        assert e.tasks == ("OpaqueRef:a", "OpaqueRef:b")
        # a retry after a failure counts a second attempt and forgets the old tasks
        j.intent("m1")
        assert j.entry("m1").attempts == 2 and j.entry("m1").tasks == ()
        j.held("m2", "m1 did not happen")
        assert j.entry("m2").state == J.HELD
        states = [ev[2] for ev in j.events("m1")]
        assert states == [J.INTENT, J.STARTED, J.FAILED, J.INTENT]


def test_intent_is_refused_while_a_migration_is_in_flight_or_done(tmp_path):
    with J.Journal.open(tmp_path / "j.db", _plan()) as j:
        j.intent("m0")
        with pytest.raises(ValueError, match="intent from state intent"):
            j.intent("m0")
        j.started("m0", ["OpaqueRef:t"])
        j.done("m0")
        with pytest.raises(ValueError, match="intent from state done"):
            j.intent("m0")


def test_reopening_resumes_and_other_plan_is_refused(tmp_path):
    path = tmp_path / "j.db"
    plan = _plan()
    with J.Journal.open(path, plan) as j:
        j.intent("m0")
        j.started("m0", ["OpaqueRef:t"])
    # a second process (the resumed run) sees exactly what was committed
    with J.Journal.open(path, plan) as j:
        assert j.entry("m0").state == J.STARTED
        assert j.entry("m0").tasks == ("OpaqueRef:t",)
    other = replace(plan, goal=Evacuate(("h2",)))
    with pytest.raises(InputError, match="another plan"):
        J.Journal.open(path, other)


def test_read_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(InputError, match="no such journal"):
        J.Journal.read(tmp_path / "nope.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="not an executor journal"):
        J.Journal.read(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InputError, match="not an executor journal"):
        J.Journal.read(other)


def test_journal_holds_no_credentials(tmp_path):
    """Only ids, uuids, task refs and XAPI errors are stored: scan every text cell."""
    path = tmp_path / "j.db"
    with J.Journal.open(path, _plan()) as j:
        j.intent("m0")
        j.started("m0", ["OpaqueRef:t"])
        j.failed("m0", "SESSION_AUTHENTICATION_FAILED")
    raw = (
        path.read_bytes() + (tmp_path / "j.db-wal").read_bytes()
        if (tmp_path / "j.db-wal").exists()
        else path.read_bytes()
    )
    assert b"secret" not in raw and b"password" not in raw.lower()


def test_begin_run_counts_runs(tmp_path):
    with J.Journal.open(tmp_path / "j.db", _plan()) as j:
        assert j.begin_run() == 1
        assert j.begin_run() == 2
        assert j.info().runs == 2


def test_journal_in_a_missing_directory_is_named(tmp_path):
    with pytest.raises(InputError, match=r"no directory .*missing"):
        J.Journal.open(tmp_path / "missing" / "j.db", _plan())
    assert not (tmp_path / "missing").exists()


def test_operator_sees_xapi_errors_without_opaque_refs():
    from planner.cli.execute_cmd import _readable
    from planner.execute.backend import MigrationFault

    f = MigrationFault(["VM_MIGRATE_FAILED", "OpaqueRef:a-1", "OpaqueRef:b-2", "injected"])
    assert f.describe() == "VM_MIGRATE_FAILED injected"
    assert f.describe(refs=True) == "VM_MIGRATE_FAILED OpaqueRef:a-1, OpaqueRef:b-2, injected"
    assert _readable(f.describe(refs=True)) == "VM_MIGRATE_FAILED injected"


def test_a_journal_appears_whole_or_not_at_all(tmp_path):
    # a crash while the journal was being made (SIGKILL in CI's crash test) left a 0-byte
    # file that the next run rightly refused as "empty": the journal is now made beside
    # its path and renamed into place, so only the temporary file can be half-made
    path = tmp_path / "run.journal"
    stray = tmp_path / ".run.journal.new"
    stray.write_bytes(b"SQLite format 3\x00half")  # what a killed creation leaves
    with J.Journal.open(path, _plan()) as j:
        assert [e.id for e in j.entries()] == ["m0", "m1", "m2"]
    assert path.stat().st_size > 0 and not stray.exists()
    # a 0-byte file at the path itself is still not taken as new
    empty = tmp_path / "empty.journal"
    empty.touch()
    with pytest.raises(InputError, match="empty file"):
        J.Journal.open(empty, _plan())
    # nor is an SQLite database without a run record (its tables would be filled)
    bare = tmp_path / "bare.journal"
    sqlite3.connect(bare).execute("CREATE TABLE run (id INTEGER)").connection.commit()
    with pytest.raises(InputError, match="no run record"):
        J.Journal.open(bare, _plan())
