"""`planner execute --replan` for a campaign goal: every goal goes through one
`planner.solve`, so a drifted target-placement plan is re-planned from the live state
and run on the simulator."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from planner.check import check_plan
from planner.cli import app
from planner.goals import Target
from planner.plan import save as save_plan
from planner.solve import solve
from tests.helpers.execsim import PASSWORD, PW_ENV, cli_args, fleet

sim_mod = pytest.importorskip("planner.sim")


def _invoke(args: list[str]):
    return CliRunner().invoke(app, args, env={PW_ENV: PASSWORD})


def test_replan_of_a_target_goal_runs_on_the_simulator(tmp_path):
    from planner.inventory.io import from_dict, to_dict
    from planner.inventory.io import load as load_inv
    from planner.plan import load as load_plan

    inv, _ = fleet(4)
    by_name = {v.name: v.uuid for v in inv.vms}
    hosts = {h.name: h.uuid for h in inv.hosts}
    goal = Target({by_name["vm-01"]: hosts["a-03"], by_name["vm-02"]: hosts["a-04"]})
    plan = solve(inv, goal)
    assert check_plan(inv, plan).ok
    assert {m.vm for m in plan.migrations()} == {by_name["vm-01"], by_name["vm-02"]}
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    # drift: vm-01 already went to a-02 by other means
    doc = to_dict(inv)
    vm01 = next(v for v in doc["vms"] if v["name"] == "vm-01")
    vm01["host"] = hosts["a-02"]
    with sim_mod.Simulator(from_dict(doc), speed=1000, password=PASSWORD) as sim:
        refused = _invoke(cli_args(pf, sim, jf))
        assert refused.exit_code == 1 and sim.audit() == [], refused.output
        r = _invoke(cli_args(pf, sim, tmp_path / "r.journal", "--replan"))
        assert r.exit_code == 0, r.output
        live, audit = sim.inventory(), sim.audit()
    new = load_plan(tmp_path / "plan.replan-1.json")
    assert new.goal.kind == "target"
    assert check_plan(load_inv(tmp_path / "plan.replan-1.inventory.json"), new).ok
    # both VMs were moved from where they were live: vm-01 from a-02 now
    moves = {m.vm: m for m in new.migrations()}
    assert moves[by_name["vm-01"]].from_host == hosts["a-02"]
    assert len(audit) == len(moves) and all(a["result"] == "success" for a in audit)
    where = {v.uuid: v.host for v in live.vms}
    assert where[by_name["vm-01"]] == hosts["a-03"] and where[by_name["vm-02"]] == hosts["a-04"]
