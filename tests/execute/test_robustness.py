"""Issue 16, case 9 (the smaller ones): journals that are not ours, a full disk and a bad
page, --status against another plan, `-o` over an input, the goal re-checked on the live
pools, offline target hosts, and the simulator's own options and session refs."""

from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import InputError
from planner.execute import journal as J
from planner.inventory.io import save
from planner.plan import save as save_plan
from tests.helpers.execsim import PASSWORD, PW_ENV, cli_args, evacuation_plan, fleet, run_cli

sim_mod = pytest.importorskip("planner.sim")
Simulator = sim_mod.Simulator


def _one_line_exit_2(r) -> str:
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("planner: ") and "\n" not in err and "Traceback" not in r.output
    return err


def test_case9_foreign_sqlite_database_is_not_touched(tmp_path):
    inv, hosts = fleet(2)
    plan = evacuation_plan(inv, hosts)
    other = tmp_path / "app.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    c.commit()
    c.close()
    before = other.read_bytes()
    with pytest.raises(InputError, match="not an executor journal"):
        J.Journal.open(other, plan)
    assert other.read_bytes() == before
    c = sqlite3.connect(other)
    assert [r[0] for r in c.execute("SELECT name FROM sqlite_master")] == ["customers"]


def test_case9_empty_and_non_sqlite_files_are_not_journals(tmp_path):
    inv, hosts = fleet(2)
    plan = evacuation_plan(inv, hosts)
    empty = tmp_path / "empty.journal"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        J.Journal.open(empty, plan)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(InputError, match="not an SQLite database"):
        J.Journal.open(text, plan)
    assert text.read_text() == "hello\n"


def test_case9_disk_full_is_one_clean_line(tmp_path):
    inv, hosts = fleet(2)
    plan = evacuation_plan(inv, hosts)
    with J.Journal.open(tmp_path / "j.db", plan) as j:
        conn = j._db._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
        first = next(plan.migrations()).id
        with pytest.raises(J.JournalError, match=r"journal unusable .*full") as e:
            for _ in range(500):
                j.note(first, "x" * 400)
        assert e.value.exit_code == 2 and "\n" not in str(e.value)
    # what was committed before is still there
    with J.Journal.read(tmp_path / "j.db") as j:
        assert j.counts()[J.PENDING] == len(list(plan.migrations()))


def test_case9_corrupted_journal_page_is_one_clean_line(tmp_path):
    inv, hosts = fleet(2)
    plan = evacuation_plan(inv, hosts)
    pf, jf = tmp_path / "plan.json", tmp_path / "j.db"
    save_plan(plan, pf)
    with J.Journal.open(jf, plan) as j:
        for _ in range(50):
            j.note(None, "filler " * 50)
    with sqlite3.connect(jf) as c:  # fold the WAL into the file, then break a page
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(jf.read_bytes())
    assert len(data) > 3 * 4096
    data[4096:8192] = b"\xff" * 4096
    jf.write_bytes(bytes(data))
    r = CliRunner().invoke(app, ["execute", "--status", "--journal", str(jf), str(pf)])
    _one_line_exit_2(r)


def test_case9_status_refuses_another_plans_journal(tmp_path):
    inv, hosts = fleet(3)
    plan = evacuation_plan(inv, hosts)
    other = evacuation_plan(*fleet(2, seed_name="o"))
    pf, of, jf = tmp_path / "plan.json", tmp_path / "other.json", tmp_path / "j.db"
    save_plan(plan, pf)
    save_plan(other, of)
    J.Journal.open(jf, plan).close()
    r = CliRunner().invoke(app, ["execute", "--status", "--journal", str(jf), str(of)])
    assert "another plan" in _one_line_exit_2(r)
    r = CliRunner().invoke(app, ["execute", "--status", "--journal", str(jf), str(pf)])
    assert r.exit_code == 1 and "pending" in r.stdout


def test_case9_solve_refuses_to_overwrite_its_input(tmp_path):
    inv, hosts = fleet(2)
    f = tmp_path / "inv.json"
    save(inv, f)
    before = f.read_bytes()
    r = CliRunner().invoke(
        app, ["solve", str(f), "-o", str(f), "--solver", "greedy", "--evacuate", hosts[0]]
    )
    assert "refusing to overwrite" in _one_line_exit_2(r)
    assert f.read_bytes() == before


def test_case9_nothing_to_do_rechecks_the_goal_on_the_live_pools(tmp_path):
    inv, hosts = fleet(2)
    plan = evacuation_plan(inv, hosts)
    m = next(plan.migrations())
    pf, jf = tmp_path / "plan.json", tmp_path / "j.db"
    save_plan(plan, pf)
    with Simulator(inv, speed=200, password=PASSWORD) as sim:
        args = cli_args(pf, sim, jf)
        out, err = run_cli(args).communicate(timeout=120)
        assert "Traceback" not in err
        from planner.execute.xapi_backend import XapiBackend

        be = XapiBackend(list(sim.urls.values()), "root", PASSWORD, use_events=False)
        try:  # someone moves a VM back by hand
            vm, h = be._ref(m.from_pool, "VM", m.vm), be._ref(m.from_pool, "host", m.from_host)
            be._call(m.from_pool, lambda x: x.VM.pool_migrate(vm, h, {"live": "true"}))
        finally:
            be.close()
        p = run_cli(args)
        out, err = p.communicate(timeout=120)
    assert "nothing to do" in out
    assert p.returncode == 1 and "goal:" in err and "Traceback" not in err, err


def test_case9_preflight_refuses_an_offline_target_host(tmp_path):
    inv, hosts = fleet(2)
    plan = evacuation_plan(inv, hosts)
    target = next(m.to_host for m in plan.migrations())
    name = inv.host_by_uuid[target].name
    pf, jf = tmp_path / "plan.json", tmp_path / "j.db"
    save_plan(plan, pf)
    with Simulator(inv, speed=200, password=PASSWORD, faults=[f"offline:{name}"]) as sim:
        p = run_cli(cli_args(pf, sim, jf))
        out, err = p.communicate(timeout=120)
        audit = sim.audit()
    assert p.returncode == 1, out + err
    assert "HOST_OFFLINE" in out + err and "not live" in out + err, out + err
    assert audit == []


def test_case9_simulator_validates_its_options(tmp_path):
    inv, _ = fleet(2)
    with pytest.raises(InputError) as e:
        Simulator(inv, audit_path=tmp_path / "missing" / "audit.jsonl")
    assert "--audit" in " ".join(e.value.problems)
    for spec in ("sessions:nan", "sessions:inf", "delay:*:nan", "expire@inf"):
        with pytest.raises(InputError):
            Simulator(inv, faults=[spec])
    r = CliRunner().invoke(app, ["sim", "serve", "--fault", "sessions:nan"], env={PW_ENV: PASSWORD})
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_case9_simulator_session_refs_are_unpredictable():
    from planner.sim.state import SimState

    inv, _ = fleet(2)
    refs = []
    for _ in range(2):
        st = SimState(
            inv, speed=1.0, fail_rate=0.0, seed=0, faults=None, user="root", password="pw"
        )
        master = inv.pools[0].master
        refs.append(st.login(master, "root", "pw"))
    assert refs[0] != refs[1]  # same seed, same inventory: still different


def test_case9_simulator_warns_on_a_non_loopback_bind(tmp_path, monkeypatch):
    import planner.sim

    started = []

    class Stop(Exception):
        pass

    def fake_start(self):
        started.append(self)
        raise Stop

    monkeypatch.setattr(planner.sim.Simulator, "start", fake_start)
    inv, _ = fleet(1)
    f = tmp_path / "inv.json"
    save(inv, f)
    r = CliRunner().invoke(app, ["sim", "serve", str(f), "--host", "0.0.0.0"])
    assert started and "not loopback" in r.stderr
