"""Issue 16, cases 3-6: a resumed run settles only *its own* calls, a call in transit at
the crash lands once, two executors cannot share a journal, and a Suspended VM's storage
move without a host lands on a host that sees its SR. Real parts: the XenAPI client
against the simulator, the SQLite journal, the executor as a subprocess."""

from __future__ import annotations

import signal
import time

import pytest

from planner.execute import journal as J
from planner.goals import MovePool
from planner.plan import save as save_plan
from tests.helpers.execsim import PASSWORD, cli_args, evacuation_plan, fleet, run_cli, successes
from tests.helpers.plans import plan_of

sim_mod = pytest.importorskip("planner.sim")
Simulator = sim_mod.Simulator


def _backend(sim):
    from planner.execute.xapi_backend import XapiBackend

    return XapiBackend(list(sim.urls.values()), "root", PASSWORD, poll_seconds=0.02)


def _wait_idle(be, pool: str, seconds: float = 30.0) -> None:
    end = time.monotonic() + seconds
    while be.busy(pool) and time.monotonic() < end:
        time.sleep(0.05)
    assert not be.busy(pool)


def test_case3_resume_does_not_adopt_someone_elses_task(tmp_path):
    from planner.execute.runner import (
        RunConfig,
        Runner,
        intent_record,
        new_marker,
        reconcile,
    )

    inv, hosts = fleet(3)
    plan = evacuation_plan(inv, hosts)
    first = next(plan.migrations())
    # the operator moves the VM to another host than the plan's
    other = next(
        h.uuid
        for h in inv.hosts
        if h.pool == first.from_pool and h.uuid not in (first.from_host, first.to_host)
    )
    with Simulator(inv, speed=20, password=PASSWORD) as sim:
        be = _backend(sim)
        try:
            with J.Journal.open(tmp_path / "j.db", plan) as j:
                j.intent(first.id, intent_record(first, new_marker(j, first)))
                # ... the executor dies before its call; the operator's call goes out
                vm = be._ref(first.from_pool, "VM", first.vm)
                h = be._ref(first.from_pool, "host", other)
                be._call(
                    first.from_pool, lambda x: x.Async.VM.pool_migrate(vm, h, {"live": "true"})
                )
                notes = reconcile(plan, j, be, settle_seconds=5)
                e = j.entry(first.id)
                assert e.state == J.HELD and e.error.startswith("drift:"), (e, notes)
                assert "not ours" in e.error and e.tasks == ()
                _wait_idle(be, first.from_pool)
                cfg = RunConfig(poll_seconds=0.02, backoff_seconds=0.02)
                summary = Runner(plan, j, be, be.inventory(), cfg).run(handle_sigint=False)
                assert j.entry(first.id).state == J.HELD  # never "done"
                assert not summary.complete
        finally:
            be.close()
        audit = sim.audit()
    mine = [a for a in audit if a["vm"] == first.vm]
    assert [(a["to_host"], a["result"]) for a in mine] == [(other, "success")]


def _move_pool_plan(inv):
    from planner.solve import solve

    a, b = (p.uuid for p in inv.pools)
    return solve(inv, MovePool((a,), (b,)), solver="greedy", time_limit=10.0, seed=0)


def test_case4_call_in_transit_at_the_crash_lands_once(tmp_path):
    inv, _ = fleet(3)
    plan = _move_pool_plan(inv)
    migs = list(plan.migrations())
    assert migs and all(m.kind == "storage" for m in migs)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    with Simulator(
        inv, speed=100, password=PASSWORD, faults=["delay:Async.VM.migrate_send:30:1"]
    ) as sim:
        args = cli_args(pf, sim, jf, "--settle", "40")
        p = run_cli(args)
        time.sleep(5)  # the first migrate_send is still held by the fault
        assert p.poll() is None
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=30)
        with J.Journal.read(jf) as j:
            assert [e.state for e in j.entries()].count(J.INTENT) == 1
        p = run_cli(args)  # at once: the old call lands while this run waits
        out, err = p.communicate(timeout=150)
        assert p.returncode == 0, out + err
        assert "may still be in transit" in out, out
        audit = sim.audit()
    assert [a["result"] for a in audit] == ["success"] * len(migs), audit
    assert sorted(successes(audit).values()) == [1] * len(migs)
    assert {a["vm"] for a in audit} == {m.vm for m in migs}


def test_case5_second_executor_on_a_journal_exits_2_naming_the_holder(tmp_path):
    import os
    import socket

    inv, hosts = fleet(2)
    plan = evacuation_plan(inv, hosts)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    with Simulator(inv, speed=100, password=PASSWORD) as sim:
        with J.Journal.open(jf, plan):
            p = run_cli(cli_args(pf, sim, jf))
            out, err = p.communicate(timeout=60)
            with pytest.raises(Exception, match="in use by another executor"):
                J.Journal.open(jf, plan)
        assert p.returncode == 2, out + err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"pid {os.getpid()}" in err and socket.gethostname() in err
        # the lock goes with its holder: the same command now runs
        p = run_cli(cli_args(pf, sim, jf))
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
        assert sorted(successes(sim.audit()).values()) == [1] * len(list(plan.migrations()))


def _suspended_fleet():
    """Pool a: a Suspended VM on a shared SR. Pool b: master b-01 and b-02, which alone
    has a local SR."""
    from planner.inventory.builder import Builder

    b = Builder()
    pa = b.pool("a")
    b.host(pa, "a-01")
    sra = b.sr(pa, "a-nfs")
    na = b.network(pa, "net")
    pb = b.pool("b")
    b.host(pb, "b-01")
    hb2 = b.host(pb, "b-02")
    local = b.sr(pb, "b-02-local", shared=False, host=hb2)
    nb = b.network(pb, "net")
    vm = b.vm(pa, "sleepy", disks=[(sra, 10)], networks=[na], power_state="Suspended")
    return b.build(), vm, local, nb, pa, pb, hb2


def _suspended_plan():
    """The Suspended VM's disk to a local SR of pool b, as a storage move with no
    `to_host` (a hand-made plan: the planner would name a host that sees the SR)."""
    from planner.plan import DiskMove, Migration, VifMap

    inv, vm, local, nb, pa, pb, _ = _suspended_fleet()
    d = inv.vm_by_uuid[vm].disks[0]
    m = Migration(
        "m1",
        vm,
        "storage",
        None,
        None,
        pa,
        pb,
        disks=(DiskMove(d.uuid, d.sr, local),),
        vifs=(VifMap("0", nb),),
        est_seconds=60,
    )
    return inv, vm, local, pb, plan_of(inv, [[m]], MovePool((pa,), (pb,)))


def test_case6_checker_refuses_storage_move_without_to_host(tmp_path):
    from planner.check import check_plan

    inv, _vm, _local, _pb, plan = _suspended_plan()
    report = check_plan(inv, plan)
    assert any("to_host" in v.message for v in report.violations), report.violations


def test_case6_executor_sends_it_to_a_host_that_sees_the_sr(tmp_path):
    from planner.execute.runner import RunConfig, Runner

    inv, vm, local, pb, plan = _suspended_plan()
    with Simulator(inv, speed=100, password=PASSWORD) as sim:
        be = _backend(sim)
        try:
            with J.Journal.open(tmp_path / "j.db", plan) as j:
                cfg = RunConfig(poll_seconds=0.02, backoff_seconds=0.02, retries=0)
                summary = Runner(plan, j, be, be.inventory(), cfg).run(handle_sigint=False)
                assert summary.complete, j.entries()
            live = be.inventory()
        finally:
            be.close()
    moved = live.vm_by_uuid[vm]
    assert moved.pool == pb and moved.disks[0].sr == local
    assert moved.power_state == "Suspended"
