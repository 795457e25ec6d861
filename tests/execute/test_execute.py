"""End to end: build a fleet, serve it with the Simulator, solve, execute, collect again."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from planner.check import check_plan
from planner.cli import app
from planner.execute import journal as J
from planner.inventory.io import save
from planner.plan import save as save_plan
from tests.helpers.execsim import (
    PASSWORD,
    PW_ENV,
    cli_args,
    evacuation_plan,
    fleet,
    goal_holds,
    successes,
)

sim_mod = pytest.importorskip("planner.sim")
Simulator = sim_mod.Simulator


def _invoke(args: list[str]):
    return CliRunner().invoke(app, args, env={PW_ENV: PASSWORD})


@pytest.mark.parametrize("mode", ["flow", "waves"])
def test_execute_carries_out_the_plan(tmp_path, mode):
    inv, hosts = fleet(8)
    plan = evacuation_plan(inv, hosts)
    assert check_plan(inv, plan).ok
    n = sum(1 for _ in plan.migrations())
    assert n == 8  # every VM leaves a-01
    pf, jf, inf = tmp_path / "plan.json", tmp_path / "run.journal", tmp_path / "inv.json"
    save_plan(plan, pf)
    save(inv, inf)
    with Simulator(inv, speed=1000, password=PASSWORD, seed=1) as sim:
        r = _invoke(cli_args(pf, sim, jf, "--mode", mode, "--inventory", str(inf)))
        assert r.exit_code == 0, r.output
        live = sim.inventory()
        audit = sim.audit()
        conc = sim.max_concurrency()
    assert goal_holds(plan, live) == []
    assert all(a["result"] == "success" for a in audit), audit
    # each planned migration ran exactly once
    assert len(audit) == n
    assert sorted(successes(audit).values()) == [1] * n
    assert all(v <= 3 for v in conc.values()) and max(conc.values()) >= 2
    # nothing of the password anywhere the executor writes
    assert PASSWORD not in r.output
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("run.journal"))
    assert PASSWORD.encode() not in raw
    with J.Journal.read(jf) as j:
        assert j.counts()[J.DONE] == n
        assert all(len(e.tasks) >= 1 and e.attempts == 1 for e in j.entries())
    assert "summary: done 8" in r.output


def test_rerun_after_completion_does_nothing(tmp_path):
    inv, hosts = fleet(4)
    plan = evacuation_plan(inv, hosts)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
        assert _invoke(cli_args(pf, sim, jf)).exit_code == 0
        r = _invoke(cli_args(pf, sim, jf))
        assert r.exit_code == 0, r.output
        assert "nothing to do" in r.output
        assert len(sim.audit()) == 4
        st = _invoke(["execute", "--status", "--journal", str(jf)])
        assert st.exit_code == 0 and "done 4" in st.output


def test_dry_run_changes_nothing(tmp_path):
    inv, hosts = fleet(4)
    plan = evacuation_plan(inv, hosts)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
        r = _invoke(cli_args(pf, sim, jf, "--dry-run"))
        assert r.exit_code == 0, r.output
        assert r.output.count("would start") == 4
        assert sim.audit() == []
    assert not jf.exists()


def test_drift_is_refused_with_what_changed(tmp_path):
    """The plan was made for one fleet; the pools serve another (a VM elsewhere)."""
    inv, hosts = fleet(4)
    plan = evacuation_plan(inv, hosts)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    # the same fleet, but vm-00 already sits on a-02
    from planner.inventory.io import from_dict, to_dict

    doc = to_dict(inv)
    a02 = next(h["uuid"] for h in doc["hosts"] if h["name"] == "a-02")
    for v in doc["vms"]:
        if v["name"] == "vm-00":
            v["host"] = a02
    moved = from_dict(doc)
    with Simulator(moved, speed=1000, password=PASSWORD) as sim:
        r = _invoke(cli_args(pf, sim, jf))
        assert r.exit_code == 1
        assert "VM_MOVED" in r.stderr and "vm-00" in r.stderr
        assert sim.audit() == []


def test_bad_input_is_one_line_exit_2(tmp_path):
    inv, hosts = fleet(2)
    plan = evacuation_plan(inv, hosts)
    pf = tmp_path / "plan.json"
    save_plan(plan, pf)
    cases = [
        ["execute", str(pf), "--url", "http://127.0.0.1:1/", "--mode", "fast"],
        ["execute", str(pf), "--url", "http://127.0.0.1:1/", "--max-per-pool", "4"],
        ["execute", str(tmp_path / "missing.json"), "--url", "http://127.0.0.1:1/"],
        ["execute", "--status", "--journal", str(tmp_path / "none.journal")],
        ["execute", str(pf), "--url", "http://127.0.0.1:1/", "--password-env", "NOPE_XYZ"],
    ]
    for args in cases:
        r = _invoke(args)
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output
        assert r.stderr.startswith("planner: ")
    # a refused connection: exit 2, one line, the password not shown
    r = _invoke(["execute", str(pf), "--url", "http://127.0.0.1:1/", "--password-env", PW_ENV])
    assert r.exit_code == 2 and PASSWORD not in r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_wrong_password_and_missing_pool_url(tmp_path):
    inv, hosts = fleet(2)
    plan = evacuation_plan(inv, hosts)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
        urls = list(sim.urls.values())
        r = CliRunner().invoke(
            app,
            ["execute", str(pf), "--url", urls[0], "--password-env", "WRONG_PW", "--yes"],
            env={"WRONG_PW": "nope"},
        )
        assert r.exit_code == 2 and "password" in r.stderr
        assert "nope" not in r.output
        # only one pool's URL: the plan's other pool (the evacuation stays in pool a, so
        # give pool b only) is missing
        pool_a = plan.waves[0].migrations[0].from_pool
        other = [u for p, u in sim.urls.items() if p != pool_a]
        r = _invoke(
            [
                "execute",
                str(pf),
                "--url",
                other[0],
                "--password-env",
                PW_ENV,
                "--yes",
                "--journal",
                str(jf),
            ]
        )
        assert r.exit_code == 2 and "no --url for pool" in r.stderr
        assert sim.audit() == []


def _two_pools():
    from planner.inventory.builder import Builder

    b = Builder()
    pa = b.pool("old")
    a1, a2 = b.host(pa, "old-01"), b.host(pa, "old-02")
    sra = b.sr(pa, "old-nfs", size_gib=2000)
    na = b.network(pa, "vm-net")
    pb = b.pool("new")
    b.host(pb, "new-01", memory_gib=128)
    b.host(pb, "new-02", memory_gib=128)
    b.sr(pb, "new-nfs", size_gib=2000)
    b.network(pb, "vm-net")
    for i, h in enumerate([a1, a2, a1]):
        b.vm(pa, f"app-{i}", host=h, memory_gib=4, disks=[(sra, 10), (sra, 5)], networks=[na])
    b.vm(pa, "cold-0", disks=[(sra, 8)], networks=[na])
    return b.build(), pa, pb


def test_cross_pool_storage_and_halted_moves(tmp_path):
    """move-pool: running VMs go by storage migration (migrate_send with vdi/vif maps),
    the halted one by a halted move; afterwards every VM and disk is in the new pool."""
    from planner.goals import MovePool
    from planner.solve import solve

    inv, pa, pb = _two_pools()
    plan = solve(inv, MovePool((pa,), (pb,)), solver="greedy", time_limit=10.0)
    assert check_plan(inv, plan).ok
    kinds = sorted(m.kind for m in plan.migrations())
    assert kinds == ["move", "storage", "storage", "storage"]
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
        r = _invoke(cli_args(pf, sim, jf))
        assert r.exit_code == 0, r.output
        live, audit = sim.inventory(), sim.audit()
    assert goal_holds(plan, live) == []
    new_srs = {s.uuid for s in live.srs if s.pool == pb}
    for name in ("app-0", "app-1", "app-2", "cold-0"):
        vm = next(v for v in live.vms if v.name == name)
        assert vm.pool == pb and all(d.sr in new_srs for d in vm.disks)
        assert vm.power_state == ("Halted" if name == "cold-0" else "Running")
    assert sorted(a["kind"] for a in audit) == kinds
    assert all(a["result"] == "success" for a in audit)


def test_drift_in_free_memory_and_disabled_host_needs_the_inventory(tmp_path):
    """With --inventory the pre-flight also sees less free memory on a target host and a
    target host that was disabled since the plan was made."""
    from planner.inventory.io import from_dict, to_dict

    inv, hosts = fleet(4)
    plan = evacuation_plan(inv, hosts)
    pf, jf, inf = tmp_path / "plan.json", tmp_path / "run.journal", tmp_path / "inv.json"
    save_plan(plan, pf)
    save(inv, inf)
    doc = to_dict(inv)
    targets = {m.to_host for m in plan.migrations()}
    hungry, off = sorted(targets)[:2]
    for h in doc["hosts"]:
        if h["uuid"] == off:
            h["enabled"] = False
        if h["uuid"] == hungry:
            h["memory_overhead_bytes"] += 8 * 2**30  # 8 GiB less for guests
    with Simulator(from_dict(doc), speed=1000, password=PASSWORD) as sim:
        r = _invoke(cli_args(pf, sim, jf, "--inventory", str(inf)))
        assert r.exit_code == 1, r.output
        assert "HOST_MEMORY" in r.stderr and inv.label(hungry) in r.stderr
        assert "HOST_DISABLED" in r.stderr and inv.label(off) in r.stderr
        assert sim.audit() == []
        # an inventory that is not the plan's is refused outright
        other = tmp_path / "other.json"
        save(from_dict(doc), other)
        j2 = tmp_path / "second.journal"
        r = _invoke(cli_args(pf, sim, j2, "--inventory", str(other)))
        assert r.exit_code == 2 and "not the inventory the plan was made for" in r.stderr
        assert not j2.exists()  # refused before anything was opened


def test_replan_on_drift_solves_from_the_live_state(tmp_path):
    """vm-00 left a-01 by other means: --replan makes a new plan for what is left (the
    evacuation no longer needs vm-00), saves it with its inventory, and runs it."""
    from planner.inventory.io import from_dict, to_dict
    from planner.inventory.io import load as load_inv
    from planner.plan import load as load_plan

    inv, hosts = fleet(4)
    plan = evacuation_plan(inv, hosts)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    doc = to_dict(inv)
    a02 = next(h["uuid"] for h in doc["hosts"] if h["name"] == "a-02")
    vm00 = next(v for v in doc["vms"] if v["name"] == "vm-00")
    vm00["host"] = a02
    with Simulator(from_dict(doc), speed=1000, password=PASSWORD) as sim:
        dry = _invoke(cli_args(pf, sim, jf, "--replan", "--solver", "greedy", "--dry-run"))
        assert dry.exit_code == 0, dry.output
        assert dry.output.count("would start") == 3 and sim.audit() == []
        assert not (tmp_path / "plan.replan-1.json").exists()
        r = _invoke(cli_args(pf, sim, jf, "--replan", "--solver", "greedy"))
        assert r.exit_code == 0, r.output
        live, audit = sim.inventory(), sim.audit()
    new = load_plan(tmp_path / "plan.replan-1.json")
    assert check_plan(load_inv(tmp_path / "plan.replan-1.inventory.json"), new).ok
    assert vm00["uuid"] not in {m.vm for m in new.migrations()}
    assert len(audit) == 3 and all(a["result"] == "success" for a in audit)
    assert not any(v.host == hosts[0] for v in live.vms if v.is_running)
    with J.Journal.read(tmp_path / "plan.replan-1.json.journal") as j:
        assert j.counts()[J.DONE] == 3
