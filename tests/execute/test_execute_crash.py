"""Crash tests: the executor (a subprocess) is killed with SIGKILL at random moments; the
same command, run again, completes the plan with every planned migration run once.

The Simulator lives in the test process, so it outlives every executor it serves.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from planner.execute import journal as J
from planner.plan import save as save_plan
from tests.helpers.execsim import (
    PASSWORD,
    cli_args,
    evacuation_plan,
    fleet,
    goal_holds,
    run_cli,
    successes,
)

sim_mod = pytest.importorskip("planner.sim")
Simulator = sim_mod.Simulator


def _kill_and_resume(tmp_path, seed: int, n_vms: int, kills: int) -> None:
    rng = random.Random(seed)
    inv, hosts = fleet(n_vms)
    plan = evacuation_plan(inv, hosts)
    n = sum(1 for _ in plan.migrations())
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    # speed 40: a migration of this fleet lasts 0.6-1.4 s of wall time and a whole run
    # about 4 s (0.7 s of it start-up), so kills land before, during and between migrations
    with Simulator(inv, speed=40, password=PASSWORD, seed=seed) as sim:
        args = cli_args(pf, sim, jf)
        killed = 0
        for _ in range(kills):
            p = run_cli(args)
            time.sleep(rng.uniform(0.4, 2.2))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                killed += 1
            p.communicate(timeout=30)
        p = run_cli(args)
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
        audit, live = sim.audit(), sim.inventory()
        conc = sim.max_concurrency()
    assert killed >= 1, "no run was killed: the test proves nothing"
    assert goal_holds(plan, live) == []
    # each planned migration ran exactly once: one successful attempt, nothing refused
    assert [a["result"] for a in audit] == ["success"] * n, audit
    assert sorted(successes(audit).values()) == [1] * n
    assert all(v <= 3 for v in conc.values())
    with J.Journal.read(jf) as j:
        assert j.counts()[J.DONE] == n


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_then_resume_runs_each_migration_once(tmp_path, seed):
    _kill_and_resume(tmp_path, seed, n_vms=9, kills=2)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 20))
def test_sigkill_many_seeds(tmp_path, seed):
    _kill_and_resume(tmp_path, seed, n_vms=15, kills=4)


def _backend(sim):
    from planner.execute.xapi_backend import XapiBackend

    return XapiBackend(list(sim.urls.values()), "root", PASSWORD, poll_seconds=0.02)


def test_killed_after_the_call_before_its_record(tmp_path):
    """The worst moment: XAPI accepted the call but the task ref never reached the
    journal. The resumed run finds the task by the marker it carries and waits for
    it instead of starting the migration again."""
    from planner.execute.runner import RunConfig, Runner, intent_record, new_marker, reconcile

    inv, hosts = fleet(3)
    plan = evacuation_plan(inv, hosts)
    first = next(plan.migrations())
    with Simulator(inv, speed=100, password=PASSWORD) as sim:
        be = _backend(sim)
        try:
            with J.Journal.open(tmp_path / "j.db", plan) as j:
                marker = new_marker(j, first)
                j.intent(first.id, intent_record(first, marker))
                task = be.start(first, marker)[0]  # ... and the process dies here
                notes = reconcile(plan, j, be)
                assert j.entry(first.id).tasks == (task,)
                assert any("had landed" in n for n in notes)
                live = be.inventory()
                cfg = RunConfig(poll_seconds=0.02, backoff_seconds=0.02)
                summary = Runner(plan, j, be, live, cfg).run(handle_sigint=False)
        finally:
            be.close()
        audit = sim.audit()
    assert summary.complete
    assert [a["result"] for a in audit] == ["success"] * len(audit)
    assert sum(1 for a in audit if a["vm"] == first.vm) == 1
    assert sorted(successes(audit).values()) == [1] * len(audit)


def test_killed_after_intent_before_the_call(tmp_path):
    """Intent committed, the call never sent: the VM did not move and is not busy, so
    the migration goes back to pending and runs (once)."""
    from planner.execute.runner import RunConfig, Runner, intent_record, new_marker, reconcile

    inv, hosts = fleet(3)
    plan = evacuation_plan(inv, hosts)
    first = next(plan.migrations())
    with Simulator(inv, speed=100, password=PASSWORD) as sim:
        be = _backend(sim)
        try:
            with J.Journal.open(tmp_path / "j.db", plan) as j:
                j.intent(first.id, intent_record(first, new_marker(j, first)))
                notes = reconcile(plan, j, be)
                assert j.entry(first.id).state == J.PENDING
                assert any("never left" in n for n in notes)
                cfg = RunConfig(poll_seconds=0.02, backoff_seconds=0.02)
                summary = Runner(plan, j, be, be.inventory(), cfg).run(handle_sigint=False)
                # the journal counts both attempts: the one that never reached XAPI too
                assert j.entry(first.id).attempts == 2
        finally:
            be.close()
        audit = sim.audit()
    assert summary.complete
    assert sum(1 for a in audit if a["vm"] == first.vm) == 1


def test_task_finished_while_away_and_task_gone(tmp_path):
    """A recorded task that succeeded while the executor was down is marked done; one
    that XAPI destroyed meanwhile is settled by the VM's location."""
    from planner.execute.runner import reconcile

    inv, hosts = fleet(3)
    plan = evacuation_plan(inv, hosts)
    migs = list(plan.migrations())
    a, b = migs[0], migs[1]
    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
        be = _backend(sim)
        try:
            with J.Journal.open(tmp_path / "j.db", plan) as j:
                for m in (a, b):
                    j.intent(m.id)
                    j.started(m.id, be.start(m))
                deadline = time.monotonic() + 10
                while be.migration_tasks(a.from_pool) and time.monotonic() < deadline:
                    time.sleep(0.02)
                tb = j.entry(b.id).tasks[0]
                be._call(b.from_pool, lambda x: x.task.destroy(tb))
                notes = reconcile(plan, j, be)
                assert j.entry(a.id).state == J.DONE
                assert j.entry(b.id).state == J.DONE
                assert any("task gone" in n for n in notes)
        finally:
            be.close()


def _kill_with_delayed_start(tmp_path, seed: int) -> None:
    """Storage moves (migrate_send) with the start call of one or two of them held in
    transit by the simulator; the executor is SIGKILLed at random instants (also while
    that call is held, and while a resumed run waits for it to land); the last run
    completes. The audit must show every planned migration exactly once."""
    from planner.goals import MovePool
    from planner.solve import solve

    rng = random.Random(seed)
    inv, _ = fleet(6, seed_name=f"s{seed}")
    a, b = (p.uuid for p in inv.pools)
    plan = solve(inv, MovePool((a,), (b,)), solver="greedy", time_limit=10.0, seed=0)
    n = sum(1 for _ in plan.migrations())
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    delay = rng.uniform(1.0, 3.0)
    fault = f"delay:Async.VM.migrate_send:{delay:.2f}:{rng.randint(1, 2)}"
    mode = "waves" if seed % 2 else "flow"
    with Simulator(inv, speed=60, password=PASSWORD, seed=seed, faults=[fault]) as sim:
        args = cli_args(pf, sim, jf, "--mode", mode, "--settle", f"{delay + 2:.2f}")
        killed = 0
        for _ in range(3):
            p = run_cli(args)
            time.sleep(rng.uniform(0.3, 3.5))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                killed += 1
            p.communicate(timeout=60)
        p = run_cli(args)
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, out + err
        audit = sim.audit()
    assert killed >= 1, "no run was killed: the test proves nothing"
    assert [x["result"] for x in audit] == ["success"] * n, audit
    assert sorted(successes(audit).values()) == [1] * n
    assert {x["vm"] for x in audit} == {m.vm for m in plan.migrations()}


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 120))
def test_case4_sigkill_random_instants_and_delayed_start(tmp_path, seed):
    _kill_with_delayed_start(tmp_path, seed)
