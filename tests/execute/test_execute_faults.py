"""Faults injected by the Simulator: the executor ends in a correct, explained state."""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.execute import journal as J
from planner.plan import save as save_plan
from tests.helpers.execsim import (
    PASSWORD,
    PW_ENV,
    cli_args,
    evacuation_plan,
    fleet,
    goal_holds,
    run_cli,
    successes,
)

sim_mod = pytest.importorskip("planner.sim")
Simulator = sim_mod.Simulator


def _setup(tmp_path, n=8):
    inv, hosts = fleet(n)
    plan = evacuation_plan(inv, hosts)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    return inv, plan, pf, jf


def _invoke(args):
    return CliRunner().invoke(app, args, env={PW_ENV: PASSWORD})


def test_ten_percent_failures_are_retried(tmp_path):
    inv, plan, pf, jf = _setup(tmp_path, 12)
    with Simulator(inv, speed=1000, password=PASSWORD, fail_rate=0.1, seed=3) as sim:
        r = _invoke(cli_args(pf, sim, jf, "--retries", "6"))
        audit, live = sim.audit(), sim.inventory()
    failures = [a for a in audit if a["result"] != "success"]
    assert all(a["result"] == "VM_MIGRATE_FAILED" for a in failures)
    assert r.exit_code == 0, r.output
    assert goal_holds(plan, live) == []
    # every VM succeeded exactly once; each failure was followed by a retry
    assert sorted(successes(audit).values()) == [1] * 12
    with J.Journal.read(jf) as j:
        tries = {e.vm: e.attempts for e in j.entries()}
    per_vm = Counter(a["vm"] for a in audit)
    assert tries == dict(per_vm)  # the journal counts what XAPI saw, no more, no less
    if failures:
        assert "retry" in r.output and "VM_MIGRATE_FAILED" in r.output


def test_permanent_fault_holds_that_migration_and_the_rest_goes_on(tmp_path):
    inv, plan, pf, jf = _setup(tmp_path, 6)
    victim = plan.waves[0].migrations[0]
    name = inv.label(victim.vm)
    with Simulator(
        inv, speed=1000, password=PASSWORD, faults=[f"{name}:VM_REQUIRES_NETWORK"]
    ) as sim:
        r = _invoke(cli_args(pf, sim, jf))
        audit = sim.audit()
    assert r.exit_code == 1
    with J.Journal.read(jf) as j:
        e = j.entry(victim.id)
        others = [x for x in j.entries() if x.id != victim.id]
    assert e.state == J.HELD and "VM_REQUIRES_NETWORK" in (e.error or "")
    assert e.attempts == 1  # permanent: not retried
    assert all(x.state == J.DONE for x in others)
    assert sum(1 for a in audit if a["vm"] == victim.vm) == 1
    assert "held 1" in r.output and "VM_REQUIRES_NETWORK" in r.output
    st = _invoke(["execute", str(pf), "--status", "--journal", str(jf)])
    assert st.exit_code == 1  # something is left
    line = next(ln for ln in st.output.splitlines() if ln.startswith(victim.id + " "))
    assert "held" in line and "VM_REQUIRES_NETWORK" in line and victim.vm in line


def test_host_offline_mid_run(tmp_path):
    inv, plan, pf, jf = _setup(tmp_path, 9)
    # the host that receives most migrations goes away after the first wave has started
    target = Counter(m.to_host for m in plan.migrations()).most_common(1)[0][0]
    # offline as soon as the first migration has started (a fixed simulated time could
    # come before the pre-flight on a loaded machine, which then rightly refuses the
    # run: the host is not live)
    import threading

    with Simulator(inv, speed=200, password=PASSWORD) as sim:
        stop = threading.Event()

        def take_offline() -> None:
            while not stop.is_set() and not sim.audit():
                time.sleep(0.005)
            if not stop.is_set():
                sim.set_host_live(target, False)

        watcher = threading.Thread(target=take_offline, daemon=True)
        watcher.start()
        try:
            r = _invoke(cli_args(pf, sim, jf))
        finally:
            stop.set()
            watcher.join(timeout=5)
        audit, live = sim.audit(), sim.inventory()
    assert r.exit_code == 1, r.output
    with J.Journal.read(jf) as j:
        entries = j.entries()
    by_id = {m.id: m for m in plan.migrations()}
    for e in entries:
        m = by_id[e.id]
        if m.to_host == target and e.state != J.DONE:
            # refused or broken by the offline host: held, with XAPI's reason
            assert e.state == J.HELD, e
            assert "HOST_OFFLINE" in (e.error or "") or "HOST_NOT_LIVE" in (e.error or ""), e
        elif m.to_host != target:
            assert e.state == J.DONE, e
    held = [e for e in entries if e.state == J.HELD]
    assert held, "the offline host should have stopped something"
    # where the executor says done, the VM is there; held ones did not move
    for e in entries:
        vm = live.vm_by_uuid[by_id[e.id].vm]
        if e.state == J.DONE:
            assert vm.host == by_id[e.id].to_host
        else:
            assert vm.host == by_id[e.id].from_host
    assert all(a["result"] in ("success", "HOST_OFFLINE", "HOST_NOT_LIVE") for a in audit)
    assert "HOST_OFFLINE" in r.output or "HOST_NOT_LIVE" in r.output
    assert any(e.state == J.DONE for e in entries)


def test_expired_sessions_are_survived(tmp_path):
    inv, plan, pf, jf = _setup(tmp_path, 6)
    with Simulator(inv, speed=300, password=PASSWORD, faults=["sessions:0.3"]) as sim:
        r = _invoke(cli_args(pf, sim, jf))
        audit, live = sim.audit(), sim.inventory()
    assert r.exit_code == 0, r.output
    assert goal_holds(plan, live) == []
    assert sorted(successes(audit).values()) == [1] * 6
    assert all(a["result"] == "success" for a in audit)


def _wait_started(jf, timeout=20.0):
    """Until the journal (written by the subprocess) shows a migration in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if jf.exists():
            try:
                with J.Journal.read(jf) as j:
                    if j.counts()[J.STARTED] > 0:
                        return
            except Exception:
                pass  # the file is being created
        time.sleep(0.02)
    raise AssertionError("no migration started")


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_once_waits_twice_cancels(tmp_path, presses):
    inv, _plan, pf, jf = _setup(tmp_path, 6)
    with Simulator(inv, speed=20, password=PASSWORD) as sim:
        p = run_cli(cli_args(pf, sim, jf))
        _wait_started(jf)
        for _ in range(presses):
            p.send_signal(signal.SIGINT)
            time.sleep(0.2)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 1, out + err
        assert "Traceback" not in err
        with J.Journal.read(jf) as j:
            counts = j.counts()
        audit = sim.audit()
        assert counts[J.INTENT] == counts[J.STARTED] == 0  # nothing left unaccounted
        assert counts[J.PENDING] > 0 and "not started" in out
        if presses == 1:
            # the migrations in flight were waited for, and finished
            assert all(a["result"] == "success" for a in audit)
            assert counts[J.DONE] == len(audit) > 0
        else:
            cancelled = [a for a in audit if a["result"] == "TASK_CANCELLED"]
            assert cancelled and counts[J.FAILED] == len(cancelled)
            assert "TASK_CANCELLED" in out
        # the same command again finishes the plan; nothing that succeeded runs twice
        p = run_cli(cli_args(pf, sim, jf))
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, out + err
        audit = sim.audit()
    assert sorted(successes(audit).values()) == [1] * 6


def test_dependants_of_a_refused_migration_are_held(tmp_path):
    """m_b depends on m_a (as when m_a frees room m_b needs); m_a is refused for good, so
    m_b is held with the reason, and the unrelated migrations still run."""
    from dataclasses import replace

    inv, plan, pf, jf = _setup(tmp_path, 6)
    a = plan.waves[0].migrations[0]
    w1 = plan.waves[1]
    b = replace(w1.migrations[0], depends_on=(a.id,))
    plan = replace(
        plan,
        waves=(plan.waves[0], replace(w1, migrations=(b, *w1.migrations[1:])), *plan.waves[2:]),
    )
    save_plan(plan, pf)
    with Simulator(
        inv, speed=1000, password=PASSWORD, faults=[f"{inv.label(a.vm)}:VM_REQUIRES_SR"]
    ) as sim:
        r = _invoke(cli_args(pf, sim, jf))
        audit = sim.audit()
    assert r.exit_code == 1
    with J.Journal.read(jf) as j:
        ea, eb = j.entry(a.id), j.entry(b.id)
        rest = [e for e in j.entries() if e.id not in (a.id, b.id)]
    assert ea.state == J.HELD and "VM_REQUIRES_SR" in ea.error
    assert eb.state == J.HELD and f"{a.id} did not happen" in eb.error and eb.attempts == 0
    assert all(e.state == J.DONE for e in rest)
    assert not any(x["vm"] == b.vm for x in audit)  # never sent to XAPI


def test_migrations_started_by_others_take_slots(tmp_path):
    """Two migrations someone else started (stalled, so they stay in flight) hold two of
    the pool's three slots: the executor runs one at a time, XAPI never refuses it, and
    no more than three migrations from the pool are ever in flight."""
    import XenAPI

    from planner.goals import Evacuate
    from planner.inventory.builder import Builder
    from planner.solve import solve

    b = Builder()
    p = b.pool("busy")
    h = [b.host(p, f"h{i}", memory_gib=96) for i in range(4)]
    sr = b.sr(p, "nfs", size_gib=4000)
    net = b.network(p, "vm-net")
    for i in range(4):
        b.vm(p, f"mine-{i}", host=h[0], memory_gib=2, disks=[(sr, 10)], networks=[net])
    for i in range(2):
        b.vm(p, f"theirs-{i}", host=h[3], memory_gib=2, disks=[(sr, 10)], networks=[net])
    inv = b.build()
    plan = solve(inv, Evacuate((h[0],)), solver="greedy", time_limit=10.0)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    with Simulator(
        inv, speed=1000, password=PASSWORD, faults=["theirs-0:STALL", "theirs-1:STALL"]
    ) as sim:
        other = XenAPI.Session(sim.urls[p])
        other.xenapi.login_with_password("root", PASSWORD, "2.0", "someone-else")
        x = other.xenapi
        theirs = []
        for i in range(2):
            vm = x.VM.get_by_uuid(inv.find("vm", f"theirs-{i}"))
            theirs.append(x.Async.VM.pool_migrate(vm, x.host.get_by_uuid(h[2]), {}))
        r = _invoke(cli_args(pf, sim, jf))
        audit, conc = sim.audit(), sim.max_concurrency()
        for t in theirs:
            x.task.cancel(t)
    assert r.exit_code == 0, r.output
    mine = [a for a in audit if a["vm"] not in {inv.find("vm", f"theirs-{i}") for i in range(2)}]
    assert [a["result"] for a in mine] == ["success"] * 4  # no TOO_MANY_* refusal
    assert conc[p] == 3
    # one slot left: my migrations ran one after another
    spans = sorted((a["start"], a["end"]) for a in mine)
    assert all(s2 >= e1 for (_, e1), (s2, _) in itertools.pairwise(spans))
