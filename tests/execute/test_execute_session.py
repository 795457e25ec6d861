"""`planner.execute.execute_plan`, the library under `planner execute`: its typed outcome
(verdict, exit status, counts, drift and summary lines) against the simulator."""

from __future__ import annotations

import pytest

from planner.check import check_plan
from planner.execute import QuietUI, Verdict, execute_plan
from planner.execute import journal as J
from planner.execute.runner import RunConfig
from planner.plan import save as save_plan
from tests.helpers.execsim import PASSWORD, evacuation_plan, fleet, goal_holds

sim_mod = pytest.importorskip("planner.sim")
Simulator = sim_mod.Simulator

FAST = RunConfig(poll_seconds=0.05, backoff_seconds=0.05)


def _run(plan, pf, jf, sim, **kw):
    ui = QuietUI()
    out = execute_plan(
        plan, pf, None, jf, list(sim.urls.values()), "root", PASSWORD, ui=ui, config=FAST, **kw
    )
    return out, ui


def test_execute_plan_returns_a_typed_outcome(tmp_path):
    inv, hosts = fleet(4)
    plan = evacuation_plan(inv, hosts)
    assert check_plan(inv, plan).ok
    n = sum(1 for _ in plan.migrations())
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    with Simulator(inv, speed=1000, password=PASSWORD, seed=1) as sim:
        dry, dry_ui = _run(plan, pf, jf, sim, dry_run=True)
        assert dry.verdict is Verdict.WOULD_RUN and dry.exit_code == 0
        assert sum("would start" in line for line in dry_ui.out) == n
        assert not jf.exists() and sim.audit() == []
        # without yes, the quiet UI declines: nothing starts, exit status 1
        no, _ = _run(plan, pf, jf, sim)
        assert no.verdict is Verdict.DECLINED and no.exit_code == 1
        assert sim.audit() == []
        out, ui = _run(plan, pf, jf, sim, yes=True)
        assert out.verdict is Verdict.COMPLETE and out.exit_code == 0, ui.out + ui.err
        assert out.counts[J.DONE] == n and out.goal == ()
        assert out.drift is not None and out.drift.startswith("time: this run took")
        assert out.summary and out.summary[1].startswith(f"summary: done {n}")
        assert ui.out[-len(out.summary) :] == list(out.summary)  # said as printed
        assert out.journal_path == jf and out.plan_path == pf
        again, _ = _run(plan, pf, jf, sim, yes=True)
        assert again.verdict is Verdict.NOTHING_TO_DO and again.exit_code == 0
        assert goal_holds(plan, sim.inventory()) == []
