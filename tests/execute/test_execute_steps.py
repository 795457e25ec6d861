"""The executor runs host steps (host-disable, host-upgrade, host-enable) against the
simulator: a rolling upgrade of a 3-host pool, with an "operator" thread that upgrades
each host once the executor has disabled and emptied it."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.campaigns.rolling import plan_rolling_upgrade
from planner.check import check_plan
from planner.cli import app
from planner.errors import InputError
from planner.execute import journal as J
from planner.execute.runner import refuse_steps
from planner.goals import RollingUpgrade
from planner.inventory.builder import Builder
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan, Step, Wave, estimate_of, to_dict
from planner.plan import save as save_plan
from planner.plan_header import Figures, SolverInfo
from planner.rules.version import version_at_least
from tests.helpers.execsim import PASSWORD, PW_ENV, cli_args, goal_holds, run_cli, successes

sim_mod = pytest.importorskip("planner.sim")
Simulator = sim_mod.Simulator

OLD, NEW = "8.2.1", "8.4.0"
FAST = ("--step-poll", "0.05")


def three_hosts() -> tuple[Inventory, str]:
    """Pool `lab`: h0 (master), h1, h2, each 32 GiB for guests and two 8 GiB VMs: every
    host has room for the two VMs of the host being upgraded."""
    b = Builder()
    p = b.pool("lab")
    hosts = [b.host(p, f"h{i}", memory_gib=34, version=OLD) for i in range(3)]
    sr = b.sr(p, "nfs", size_gib=2000)
    net = b.network(p, "vm-net")
    for i, h in enumerate(hosts):
        for k in range(2):
            b.vm(p, f"v{i}{k}", host=h, memory_gib=8, disks=[(sr, 10)], networks=[net])
    return b.build(), p


def rolling_plan(inv: Inventory, pool: str) -> Plan:
    plan = plan_rolling_upgrade(inv, RollingUpgrade(pool, NEW), PlanOptions())
    report = check_plan(inv, plan)
    assert report.ok, report.lines()
    kinds = [s.kind for w in plan.waves for s in w.steps]
    # each of the 3 hosts is disabled, upgraded and enabled again
    assert kinds.count("host-upgrade") == 3 and kinds.count("host-disable") == 3
    return plan


class Operator(threading.Thread):
    """Upgrades a host when the executor waits for it (its host-upgrade step is under
    way in the journal), the way an operator answers the executor's request; `reboot`
    seconds of downtime each. Records whether the host was disabled and empty then."""

    def __init__(self, sim: object, journal: Path, reboot: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.sim = sim
        self.journal = journal
        self.reboot = reboot
        self.upgraded: list[str] = []
        self.unready: list[str] = []  # hosts asked for while enabled or not empty
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            asked = [
                s.host
                for s in _steps_of(self.journal)
                if s.kind == "host-upgrade" and s.state == J.INTENT
            ]
            if asked:
                inv = self.sim.inventory()
                for h in asked:
                    if h in self.upgraded:
                        continue
                    busy = [v for v in inv.vms_on_host.get(h, []) if v.is_running]
                    if inv.host_by_uuid[h].enabled or busy:
                        self.unready.append(h)
                    self.upgraded.append(h)
                    self.sim.upgrade_host(h, NEW, after_seconds=self.reboot)
            time.sleep(0.02)


def _steps_of(journal: Path) -> list[J.StepEntry]:
    """The journal's steps as another process (or thread) sees them; [] until the
    executor has created it."""
    try:
        with J.Journal.read(journal) as j:
            return j.steps()
    except (InputError, sqlite3.Error):
        return []


def _invoke(args: list[str]):
    return CliRunner().invoke(app, args, env={PW_ENV: PASSWORD})


def _files(tmp_path: Path, plan: Plan) -> tuple[Path, Path]:
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    return pf, jf


def _assert_finished(plan: Plan, sim: object, n: int) -> None:
    live = sim.inventory()
    assert all(version_at_least(h.version, NEW) for h in live.hosts), [
        (h.name, h.version) for h in live.hosts
    ]
    assert all(h.enabled for h in live.hosts)
    assert goal_holds(plan, live) == []
    audit = sim.audit()
    # no migration refused (e.g. by the VERSION rule) and none repeated
    assert all(a["result"] == "success" for a in audit), audit
    assert len(audit) == n
    assert sorted(successes(audit).values()) == [1] * n


@pytest.mark.parametrize(("mode", "reboot"), [("flow", 0.3), ("waves", 0.0)])
def test_rolling_upgrade_runs_to_the_end(tmp_path, mode, reboot):
    inv, pool = three_hosts()
    plan = rolling_plan(inv, pool)
    n = sum(1 for _ in plan.migrations())
    pf, jf = _files(tmp_path, plan)
    with Simulator(inv, speed=1000, password=PASSWORD, seed=3) as sim:
        op = Operator(sim, jf, reboot)
        op.start()
        try:
            r = _invoke(cli_args(pf, sim, jf, "--mode", mode, *FAST, "--step-timeout", "60"))
        finally:
            op.stop.set()
            op.join(5)
        assert r.exit_code == 0, r.output
        _assert_finished(plan, sim, n)
        # the operator was asked for each host, the master first (XenServer's rule)
        assert op.upgraded[0] == inv.pool_by_uuid[pool].master
        assert sorted(op.upgraded) == sorted(h.uuid for h in inv.hosts)
        assert op.unready == []  # each host was disabled and empty when asked for
    assert r.output.count("OPERATOR: upgrade host") == 3
    assert f"to {NEW}" in r.output
    with J.Journal.read(jf) as j:
        assert [s.state for s in j.steps()] == [J.DONE] * 9
        assert all(e.state == J.DONE and e.attempts == 1 for e in j.entries())
        # barrier: every step started after the migrations planned before it ended, and
        # no migration planned after a step started before the step was done
        steps = j.steps()
        entries = {e.id: e for e in j.entries()}
    _assert_barriers(plan, steps, entries)


def _assert_barriers(plan: Plan, steps: list[J.StepEntry], entries: dict[str, J.Entry]) -> None:
    sid = iter(steps)
    done_before: list[str] = []
    last_step_end = 0.0
    for w in plan.waves:
        order = [s for s in w.steps if s.when == "before"]
        after = [s for s in w.steps if s.when != "before"]
        for _ in order:
            st = next(sid)
            assert st.intent_at is not None and st.ended_at is not None
            assert all(entries[m].ended_at <= st.intent_at for m in done_before)
            last_step_end = st.ended_at
        for m in w.migrations:
            assert entries[m.id].intent_at >= last_step_end
            done_before.append(m.id)
        for _ in after:
            st = next(sid)
            if st.intent_at is None:  # "already enabled": done without a call
                continue
            assert all(entries[m].ended_at <= st.intent_at for m in done_before)
            last_step_end = st.ended_at


def test_step_timeout_exits_1_and_names_the_pending_step(tmp_path):
    inv, pool = three_hosts()
    plan = rolling_plan(inv, pool)
    pf, jf = _files(tmp_path, plan)
    master = inv.pool_by_uuid[pool].master
    # migrations planned before the master's upgrade step: they run, nothing after it
    before = []
    for w in plan.waves:
        before += [m.id for m in w.migrations]
        if any(s.kind == "host-upgrade" for s in w.steps):
            break
    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
        t0 = time.monotonic()
        r = _invoke(cli_args(pf, sim, jf, *FAST, "--step-timeout", "0.4"))
        took = time.monotonic() - t0
        assert r.exit_code == 1, r.output
        assert len(sim.audit()) == len(before)
        live = sim.inventory()
        # the plan's disable ran; the master was never upgraded
        assert not live.host_by_uuid[master].enabled
        assert live.host_by_uuid[master].version == OLD
    assert took < 30
    assert "host steps: done 1 of 9" in r.output
    assert "s2" in r.output and "host-upgrade h0 to 8.4.0" in r.output
    assert "TIMEOUT" in r.output and "runs 8.2.1" in r.output
    with J.Journal.read(jf) as j:
        s2 = j.step("s2")
        assert s2.kind == "host-upgrade" and s2.state == J.INTENT and "TIMEOUT" in s2.error
        states = {e.id: e.state for e in j.entries()}
    assert all(states[m] == J.DONE for m in before)
    assert all(s == J.PENDING for m, s in states.items() if m not in before)
    st = _invoke(["execute", "--status", "--journal", str(jf)])
    assert st.exit_code == 1 and "s2" in st.output and "host-upgrade" in st.output


def test_stop_during_upgrade_then_resume_does_not_repeat_migrations(tmp_path):
    inv, pool = three_hosts()
    plan = rolling_plan(inv, pool)
    n = sum(1 for _ in plan.migrations())
    pf, jf = _files(tmp_path, plan)
    with Simulator(inv, speed=1000, password=PASSWORD, seed=5) as sim:
        proc = run_cli(cli_args(pf, sim, jf, *FAST))
        try:
            # wait until the executor is waiting for the master's upgrade, then Ctrl-C
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(s.kind == "host-upgrade" and s.state == J.INTENT for s in _steps_of(jf)):
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the executor never reached the upgrade step")
            time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 1, (out, err)
        first = len(sim.audit())
        assert 0 < first < n
        with J.Journal.read(jf) as j:
            pending = [s for s in j.steps() if s.state != J.DONE]
            assert pending[0].kind == "host-upgrade" and pending[0].state == J.INTENT
        # the operator upgrades the hosts now; the re-run resumes at the pending step
        op = Operator(sim, jf)
        op.start()
        try:
            r = _invoke(cli_args(pf, sim, jf, *FAST, "--step-timeout", "60"))
        finally:
            op.stop.set()
            op.join(5)
        assert r.exit_code == 0, r.output
        _assert_finished(plan, sim, n)
    with J.Journal.read(jf) as j:
        assert all(s.state == J.DONE for s in j.steps())
        assert all(e.attempts == 1 for e in j.entries())


def test_dry_run_lists_the_steps(tmp_path):
    inv, pool = three_hosts()
    plan = rolling_plan(inv, pool)
    pf, jf = _files(tmp_path, plan)
    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
        r = _invoke(cli_args(pf, sim, jf, "--dry-run"))
        assert r.exit_code == 0, r.output
        assert sim.audit() == []
        assert all(h.enabled for h in sim.inventory().hosts)
    assert r.output.count("  would run   s") == 9
    assert "would run   s1: host-disable h0 (before the moves)" in r.output
    assert f"host-upgrade h0 to {NEW}" in r.output
    assert "and 9 host step(s) would run" in r.output
    assert not jf.exists()


def test_unknown_step_kind_is_refused_before_anything_is_written(tmp_path):
    inv, pool = three_hosts()
    plan = rolling_plan(inv, pool)
    host = inv.pool_by_uuid[pool].master
    odd = Plan(
        plan.inventory_digest,
        plan.goal,
        plan.options,
        plan.solver,
        plan.bounds,
        (Wave(0, (), (Step("host-reboot", host, "after"),)), *plan.waves),
    )
    with pytest.raises(InputError, match="host-reboot"):
        refuse_steps(odd, inv)
    # through the CLI: the plan file itself is refused, one line, exit 2
    pf = tmp_path / "plan.json"
    import json

    pf.write_text(json.dumps(to_dict(odd)))
    r = _invoke(["execute", str(pf), "--url", "http://127.0.0.1:1/", "--yes"])
    assert r.exit_code == 2, r.output
    assert "host-reboot" in r.stderr and "Traceback" not in r.output
    # the loader's format: a header, then one line per problem (here one)
    lines = r.stderr.strip().splitlines()
    assert all(x.startswith("planner:") for x in lines)
    assert sum("host-reboot" in x for x in lines) == 1 and len(lines) <= 2
    assert not (tmp_path / "plan.json.journal").exists()


def test_bad_step_options_are_refused(tmp_path):
    inv, pool = three_hosts()
    pf, _ = _files(tmp_path, rolling_plan(inv, pool))
    r = _invoke(
        [
            "execute",
            str(pf),
            "--url",
            "http://127.0.0.1:1/",
            "--yes",
            "--step-poll",
            "0",
            "--step-timeout",
            "-1",
        ]
    )
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "--step-poll" in r.stderr and "--step-timeout" in r.stderr
    assert not (tmp_path / "plan.json.journal").exists()


def test_simulator_upgrade_changes_the_version_rules():
    import XenAPI

    inv, pool = three_hosts()
    h0, h1 = (h.uuid for h in inv.hosts[:2])
    vm = inv.vms_on_host[h0][0]
    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
        sim.upgrade_host(h0, NEW, after_seconds=0.3)
        assert not sim.state.live[h0]  # rebooting
        time.sleep(0.6)
        live = sim.inventory()
        assert live.host_by_uuid[h0].version == NEW and sim.state.live[h0]
        s = XenAPI.Session(sim.urls[pool])
        s.xenapi.login_with_password("root", PASSWORD, "2.0", "test")
        x = s.xenapi
        href = x.host.get_by_uuid(h0)
        assert x.host.get_software_version(href)["product_version"] == NEW
        # a VM on the upgraded h0 may not go to the older h1 (XAPI's code)
        with pytest.raises(XenAPI.Failure) as e:
            x.VM.pool_migrate(x.VM.get_by_uuid(vm.uuid), x.host.get_by_uuid(h1), {"live": "true"})
        assert e.value.details[0] == "NOT_SUPPORTED_DURING_UPGRADE"
        # the debug call over the wire, no session (like debug.audit)
        x_raw = s._ServerProxy__request  # type: ignore[attr-defined]
        x_raw("debug.upgrade_host", (h1, NEW))
        assert sim.inventory().host_by_uuid[h1].version == NEW
        s.xenapi.session.logout()


def test_upgrade_without_a_plan_disable_disables_then_enables_again(tmp_path):
    """A plan whose only step is the upgrade of an empty master: the executor disables
    the host itself for the upgrade and enables it again afterwards (as the replay,
    which leaves the host enabled, has it)."""
    from planner.inventory.io import digest

    b = Builder()
    p = b.pool("lab")
    h0 = b.host(p, "h0", memory_gib=34, version=OLD)
    h1 = b.host(p, "h1", memory_gib=34, version=OLD)
    sr = b.sr(p, "nfs")
    b.vm(p, "v", host=h1, memory_gib=4, disks=[(sr, 10)])
    inv = b.build()
    waves = (Wave(0, (), (Step("host-upgrade", h0, "after", NEW),)),)
    plan = Plan(
        digest(inv),
        RollingUpgrade(p, NEW),
        PlanOptions(),
        SolverInfo(name="hand"),
        Figures(),
        waves,
        estimate=estimate_of(waves),
    )
    # deliberately partial (h1 is left at OLD): the goal is the only thing not met
    assert [v.code for v in check_plan(inv, plan).violations] == ["GOAL"]
    pf, jf = _files(tmp_path, plan)
    seen: list[bool] = []  # the host's `enabled` when the operator upgrades it

    def operator(sim: object) -> None:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if any(s.state == J.INTENT for s in _steps_of(jf)):
                # give the executor its moment to disable the host
                while time.monotonic() < end and sim.inventory().host_by_uuid[h0].enabled:
                    time.sleep(0.02)
                seen.append(sim.inventory().host_by_uuid[h0].enabled)
                sim.upgrade_host(h0, NEW)
                return
            time.sleep(0.02)

    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
        t = threading.Thread(target=operator, args=(sim,), daemon=True)
        t.start()
        r = _invoke(cli_args(pf, sim, jf, *FAST, "--step-timeout", "30"))
        t.join(5)
        assert r.exit_code == 0, r.output
        live = sim.inventory()
        assert live.host_by_uuid[h0].version == NEW and live.host_by_uuid[h0].enabled
        assert sim.audit() == []
    assert seen == [False]
    assert "disabled h0 for its upgrade" in r.output and "enabled h0 again" in r.output
    with J.Journal.read(jf) as j:
        (s1,) = j.steps()
        assert s1.state == J.DONE and s1.disabled_by_us
