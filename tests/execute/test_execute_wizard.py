"""Issue 17 end to end against the simulator: a cross-pool campaign with a dedicated
migration network and `--set-home same-host`, carried out by `planner execute` and by the
xe script, and the restart advice of a move from 8.2.1 to 8.4.0."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
from typer.testing import CliRunner

from planner.advice import restart_advice
from planner.check import check_plan
from planner.cli import app
from planner.execute.export import pool_variables, to_xe_script
from planner.inventory.io import from_dict, save, to_dict
from planner.plan import Migration, Plan, Step, Wave
from planner.plan import load as load_plan
from planner.sim import Simulator
from tests.helpers.execsim import PASSWORD, PW_ENV, cli_args, goal_holds
from tests.rules.test_migration_network import storage_fleet


def _invoke(args: list[str]):
    return CliRunner().invoke(app, args, env={PW_ENV: PASSWORD})


@pytest.fixture
def campaign(tmp_path):
    """The storage fleet, and its plan from `planner solve --move-pool a --to b
    --migration-network b=storage --set-home same-host` (file paths and objects)."""
    inv, hosts = storage_fleet()
    inf, pf = tmp_path / "inv.json", tmp_path / "plan.json"
    save(inv, inf)
    r = _invoke(
        [
            "solve",
            str(inf),
            "--move-pool",
            "a",
            "--to",
            "b",
            "--migration-network",
            "b=storage",
            "--set-home",
            "same-host",
            "--solver",
            "greedy",
            "-o",
            str(pf),
        ]
    )
    assert r.exit_code == 0, r.output
    plan = load_plan(pf)
    assert check_plan(inv, plan).ok
    return inv, hosts, plan, inf, pf


def test_execute_streams_over_the_migration_network_and_sets_homes(tmp_path, campaign):
    inv, _, plan, inf, pf = campaign
    storage = inv.find("network", "storage")
    pb = inv.find("pool", "b")
    moved = {m.vm for m in plan.migrations()}
    assert moved == {v.uuid for v in inv.vms}  # every VM of pool a, the halted one too
    with Simulator(inv, speed=1000, password=PASSWORD, seed=3) as sim:
        r = _invoke(cli_args(pf, sim, tmp_path / "run.journal", "--inventory", str(inf)))
        assert r.exit_code == 0, r.output
        live, audit = sim.inventory(), sim.audit()
    assert goal_holds(plan, live) == []
    migrations = [a for a in audit if a["kind"] != "affinity"]
    assert len(migrations) == len(moved) and all(a["result"] == "success" for a in migrations)
    # every migrate call streamed over the dedicated network (host.migrate_receive)
    assert {a["network"] for a in migrations} == {storage}
    # every VM ends with its home on a host of its new pool: where it runs, if it runs
    for uuid in moved:
        vm = live.vm_by_uuid[uuid]
        assert vm.pool == pb and vm.affinity is not None, vm.name
        assert live.host_by_uuid[vm.affinity].pool == pb
        if vm.power_state == "Running":
            assert vm.affinity == vm.host
    homes = [a for a in audit if a["kind"] == "affinity"]
    assert sorted(a["vm"] for a in homes) == sorted(moved)
    assert all(a["result"] == "set" and a["to_pool"] == pb for a in homes)
    # the summary repeats the restart advice (pool a runs 8.2.1, b 8.4.0)
    assert "Restart advice: 4 VMs moved to a newer version" in r.output
    for name in ("vm0", "vm1", "vm2", "vm3"):
        assert f"  {name}: 8.2.1 -> 8.4.0" in r.output
    assert "cold" not in r.output.split("Restart advice:")[1]  # halted: boots afresh


def test_simulator_refuses_a_stream_network_without_an_ip_as_xapi_does(campaign):
    inv, hosts, *_ = campaign
    import XenAPI

    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
        s = XenAPI.Session(sim.urls[inv.find("pool", "b")])
        s.xenapi.login_with_password("root", PASSWORD)
        x = s.xenapi
        net = x.network.get_by_uuid(inv.find("network", "storage"))
        b1, b3 = (x.host.get_by_uuid(hosts[h]) for h in ("b1", "b3"))
        token = x.host.migrate_receive(b1, net, {})
        assert "/services/xenops" in token["xenops"]
        with pytest.raises(XenAPI.Failure) as e:
            x.host.migrate_receive(b3, net, {})
        assert e.value.details[0] == "PIF_HAS_NO_NETWORK_CONFIGURATION"
        with pytest.raises(XenAPI.Failure) as e:
            x.host.migrate_receive(b1, x.network.get_by_name_label("vm-net")[0], {})
        assert e.value.details[0] == "PIF_HAS_NO_NETWORK_CONFIGURATION"
        backup = x.network.get_by_name_label("backup")[0]  # a PIF on b1 only
        with pytest.raises(XenAPI.Failure) as e:
            x.host.migrate_receive(b3, backup, {})
        assert e.value.details == ["HOST_CANNOT_ATTACH_NETWORK", b3, backup]
        # VM.set_affinity takes a host of the VM's pool or NULL; another pool's ref is
        # not a handle this pool knows
        sa = XenAPI.Session(sim.urls[inv.find("pool", "a")])
        sa.xenapi.login_with_password("root", PASSWORD)
        vm = sa.xenapi.VM.get_by_uuid(inv.find("vm", "vm0"))
        a2 = sa.xenapi.host.get_by_uuid(inv.find("host", "a2"))
        sa.xenapi.VM.set_affinity(vm, a2)
        assert sa.xenapi.VM.get_affinity(vm) == a2
        with pytest.raises(XenAPI.Failure) as e:
            sa.xenapi.VM.set_affinity(vm, b1)
        assert e.value.details[0] == "HANDLE_INVALID"
        sa.xenapi.VM.set_affinity(vm, "OpaqueRef:NULL")
        assert sim.inventory().vm_by_uuid[inv.find("vm", "vm0")].affinity is None
        assert [a["kind"] for a in sim.audit()] == ["affinity", "affinity"]


def _fake_xe(tmp_path):
    """An `xe` on PATH that logs its arguments and answers vif-list."""
    log = tmp_path / "xe.log"
    xe = tmp_path / "bin" / "xe"
    xe.parent.mkdir()
    xe.write_text(f"""#!/bin/sh
echo "$*" >> {log}
case "$*" in *vif-list*) echo vif-uuid-for-device;; esac
exit 0
""")
    xe.chmod(xe.stat().st_mode | stat.S_IEXEC)
    return log, xe.parent


def test_xe_script_names_the_network_and_sets_each_home(tmp_path, campaign):
    inv, _, plan, *_ = campaign
    storage = inv.find("network", "storage")
    pb = inv.find("pool", "b")
    script = tmp_path / "run.sh"
    script.write_text(to_xe_script(plan, inv))
    log, bindir = _fake_xe(tmp_path)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", XE_PASSWORD="pw")
    for var in pool_variables(plan).values():
        env[var] = "10.0.0.1"
    r = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    migrates = [ln for ln in lines if " vm-migrate " in f" {ln} "]
    assert len(migrates) == len(list(plan.migrations()))
    assert all(f"remote-network={storage}" in ln.split() for ln in migrates)
    for m in plan.migrations():
        sets = [i for i, ln in enumerate(lines) if "vm-param-set" in ln and f"uuid={m.vm}" in ln]
        assert len(sets) == 1, m.id
        home = lines[sets[0]].split("affinity=")[1].split()[0]
        assert inv.host_by_uuid[home].pool == pb
        mig = next(i for i, ln in enumerate(lines) if "vm-migrate" in ln and f"uuid={m.vm} " in ln)
        assert mig < sets[0]  # the home is set after the VM arrived


def test_restart_advice_in_the_table_and_the_json(campaign):
    inv, _, _, inf, _ = campaign
    r = _invoke(
        [
            "solve",
            str(inf),
            "--move-pool",
            "a",
            "--to",
            "b",
            "--solver",
            "greedy",
            "--format",
            "json",
        ]
    )
    assert r.exit_code == 0, r.output
    advice = json.loads(r.stdout)["restart_advice"]
    assert sorted(a["name"] for a in advice) == ["vm0", "vm1", "vm2", "vm3"]
    assert all((a["from_version"], a["to_version"]) == ("8.2.1", "8.4.0") for a in advice)
    assert all(a["vm"] == inv.find("vm", a["name"]) for a in advice)
    r = _invoke(["solve", str(inf), "--move-pool", "a", "--to", "b", "--solver", "greedy"])
    assert "Restart advice: 4 VMs moved to a newer version" in r.output
    assert "  vm2: 8.2.1 -> 8.4.0" in r.output
    # an evacuation within pool a (all 8.2.1) gives none
    r = _invoke(["solve", str(inf), "--evacuate", "a1", "--solver", "greedy", "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["restart_advice"] == []


def test_restart_advice_replays_host_upgrades():
    inv, _ = storage_fleet()
    a1, a2 = inv.find("host", "a1"), inv.find("host", "a2")
    pa = inv.find("pool", "a")
    vm = inv.vm_by_uuid[inv.find("vm", "vm0")]
    go = Migration("m1", vm.uuid, "live", a1, a2, pa, pa)
    back = Migration("m2", vm.uuid, "live", a2, a1, pa, pa)
    up = Step("host-upgrade", a2, "before", to_version="8.4.0")
    plain = Plan("x", {}, {}, {}, {}, (Wave(0, (go,)),))
    assert restart_advice(inv, plain) == []  # a2 still runs 8.2.1
    upgraded = Plan("x", {}, {}, {}, {}, (Wave(0, (go,), (up,)),))
    assert [(a.name, a.to_version) for a in restart_advice(inv, upgraded)] == [("vm0", "8.4.0")]
    # moved back to a1 (8.2.1) at the end: nothing to restart for
    home = Plan("x", {}, {}, {}, {}, (Wave(0, (go,), (up,)), Wave(1, (back,))))
    assert restart_advice(inv, home) == []


def test_preflight_refuses_when_a_target_lost_its_ip_on_the_migration_network(tmp_path, campaign):
    """The live pools serve the fleet with b1's storage PIF unconfigured since the plan
    was made: the pre-flight's rules (MIGRATION_NETWORK_NO_IP) stop the run."""
    inv, hosts, plan, inf, pf = campaign
    storage = inv.find("network", "storage")
    doc = to_dict(inv)
    for n in doc["networks"]:
        if n["uuid"] == storage:
            n["ip_hosts"] = [h for h in n["ip_hosts"] if h != hosts["b1"]]
    assert any(m.to_host == hosts["b1"] for m in plan.migrations())
    with Simulator(from_dict(doc), speed=1000, password=PASSWORD) as sim:
        r = _invoke(cli_args(pf, sim, tmp_path / "run.journal", "--inventory", str(inf)))
        assert r.exit_code == 1, r.output
        assert "MIGRATION_NETWORK_NO_IP" in r.stderr and "b1" in r.stderr
        assert sim.audit() == []
