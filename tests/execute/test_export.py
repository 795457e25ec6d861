"""`planner export`: the xe script (syntax, commands against the plan, wave behaviour) and CSV."""

from __future__ import annotations

import csv
import io
import os
import shlex
import stat
import subprocess
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import InputError
from planner.execute.export import pool_variables, to_csv, to_xe_script
from planner.goals import Evacuate
from planner.inventory.builder import Builder
from planner.inventory.io import digest, save
from planner.options import PlanOptions
from planner.plan import DiskMove, Migration, Plan, VifMap, Wave
from planner.plan import save as save_plan
from planner.plan_header import Figures, SolverInfo


def _fleet():
    b = Builder()
    p1 = b.pool("old")
    h1 = b.host(p1, "old-01")
    h2 = b.host(p1, "old-02")
    sr1 = b.sr(p1, "old-nfs")
    sr1b = b.sr(p1, "old-nfs-2")
    n1 = b.network(p1, "vm-net")
    p2 = b.pool("new")
    h3 = b.host(p2, "new-01")
    sr2 = b.sr(p2, "new-nfs")
    n2 = b.network(p2, "vm-net")
    web = b.vm(p1, "web", host=h1, disks=[(sr1, 10)], networks=[n1])
    db = b.vm(p1, "db", host=h1, disks=[(sr1, 20), (sr1, 5)], networks=[n1, n1])
    arch = b.vm(p1, "archive", disks=[(sr1, 30)], networks=[n1])
    cold = b.vm(p1, "cold", disks=[(sr1, 8)], networks=[n1])
    inv = b.build()
    d = {v.name: v for v in inv.vms}
    migs = [
        Migration("m-live", web, "live", h1, h2, p1, p1, est_seconds=40),
        Migration(
            "m-sxm",
            db,
            "storage",
            h1,
            h3,
            p1,
            p2,
            disks=tuple(DiskMove(x.uuid, sr1, sr2) for x in d["db"].disks),
            vifs=(VifMap("0", n2), VifMap("1", n2)),
            est_seconds=300,
        ),
        Migration(
            "m-halt",
            arch,
            "move",
            None,
            None,
            p1,
            p1,
            disks=(DiskMove(d["archive"].disks[0].uuid, sr1, sr1b),),
            est_seconds=200,
            depends_on=("m-live",),
        ),
        Migration(
            "m-cold",
            cold,
            "move",
            None,
            h3,
            p1,
            p2,
            disks=(DiskMove(d["cold"].disks[0].uuid, sr1, sr2),),
            vifs=(VifMap("0", n2),),
            est_seconds=100,
        ),
    ]
    waves = (Wave(0, tuple(migs[:2])), Wave(1, tuple(migs[2:])))
    goal = Evacuate((h1,))
    plan = Plan(digest(inv), goal, PlanOptions(), SolverInfo(name="hand"), Figures(), waves)
    return inv, plan


def _xe_lines(script: str) -> list[list[str]]:
    """The argument lists of every `xe_at ... vm-migrate` line, shell-split."""
    out = []
    for line in script.splitlines():
        line = line.strip()
        if line.startswith("xe_at ") and " vm-migrate " in line:
            out.append(shlex.split(line))
    return out


def test_script_is_valid_posix_sh():
    inv, plan = _fleet()
    script = to_xe_script(plan, inv)
    r = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True)
    assert r.returncode == 0, r.stderr
    assert script.startswith("#!/bin/sh\n")


def test_each_command_matches_its_migration():
    inv, plan = _fleet()
    script = to_xe_script(plan, inv)
    pools = pool_variables(plan)
    cmds = {dict(a.split("=", 1) for a in c[3:] if "=" in a)["uuid"]: c for c in _xe_lines(script)}
    migs = list(plan.migrations())
    assert len(cmds) == len(migs)
    for m in migs:
        c = cmds[m.vm]
        kv = dict(a.split("=", 1) for a in c[3:] if "=" in a and not a.startswith(("vdi:", "vif:")))
        assert c[1] == f"${pools[m.from_pool]}"  # sent to the source pool's master
        vdis = {a[4:].split("=")[0]: a.split("=")[1] for a in c[3:] if a.startswith("vdi:")}
        assert vdis == {d.vdi: d.to_sr for d in m.disks}
        if m.kind == "live":
            assert kv == {"uuid": m.vm, "host-uuid": m.to_host, "live": "true"}
            continue
        assert kv["remote-master"] == f"${pools[m.to_pool]}"
        assert kv["remote-password"] == "$XE_PASSWORD"
        assert ("live" in kv) == (m.kind == "storage")
        assert kv.get("host-uuid") == m.to_host
        vifs = [a for a in c[3:] if a.startswith("vif:")]
        assert len(vifs) == (len(m.vifs) if m.to_pool != m.from_pool else 0)
        for a, v in zip(vifs, m.vifs, strict=False):
            assert a.endswith("=" + v.to_network)


def _fake_xe(tmp_path, fail_vm: str | None = None):
    """An `xe` on PATH that logs its arguments (and fails for one VM)."""
    log = tmp_path / "xe.log"
    xe = tmp_path / "bin" / "xe"
    xe.parent.mkdir()
    fail = (
        f'case "$*" in *"uuid={fail_vm} "*) echo "VM_MIGRATE_FAILED" >&2; exit 1;; esac'
        if fail_vm
        else ""
    )
    xe.write_text(f"""#!/bin/sh
echo "$*" >> {log}
# record the password file xe was given: its mode and its two lines
record_pwf() {{
  while [ $# -gt 1 ]; do
    if [ "$1" = "-pwf" ]; then stat -c '%a' "$2" >> {log}.pwf; cat "$2" >> {log}.pwf; fi
    shift
  done
}}
record_pwf "$@"
case "$*" in *vif-list*) echo vif-uuid-for-device; exit 0;; esac
{fail}
sleep 0.05
exit 0
""")
    xe.chmod(xe.stat().st_mode | stat.S_IEXEC)
    env = dict(
        os.environ,
        PATH=f"{xe.parent}:{os.environ['PATH']}",
        XE_PASSWORD="pw-from-env",
        POOL_1_MASTER="10.0.0.1",
        POOL_2_MASTER="10.0.0.2",
    )
    return log, env


def test_script_runs_waves_in_order_and_reads_password_from_env(tmp_path):
    inv, plan = _fleet()
    script = tmp_path / "run.sh"
    script.write_text(to_xe_script(plan, inv))
    assert "pw-from-env" not in script.read_text()
    log, env = _fake_xe(tmp_path)
    r = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    migrates = [ln for ln in lines if "vm-migrate" in ln]
    assert len(migrates) == 4
    # wave 0's two migrations are logged before any of wave 1's
    order = [next(m.id for m in plan.migrations() if f"uuid={m.vm} " in ln) for ln in migrates]
    assert set(order[:2]) == {"m-live", "m-sxm"} and set(order[2:]) == {"m-halt", "m-cold"}
    # the password reaches xe through a private file, never through its -pw argument;
    # only cross-pool remote-password= (xe has no file form for it) carries it in argv
    assert all(" -pwf " in f" {ln} " and " -pw " not in f" {ln} " for ln in lines)
    assert all("remote-password=" in ln for ln in lines if "pw-from-env" in ln)
    assert any("remote-password=pw-from-env" in ln for ln in migrates)
    pwf = (tmp_path / "xe.log.pwf").read_text().splitlines()
    # (a wave's migrations run in parallel, so their records may interleave)
    assert set(pwf) == {"600", "root", "pw-from-env"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp.")]
    sxm = next(ln for ln in migrates if "vif:" in ln and "live=true" in ln)
    assert "vif:vif-uuid-for-device=" in sxm and "remote-master=10.0.0.2" in sxm


def test_script_stops_after_a_failed_wave(tmp_path):
    inv, plan = _fleet()
    script = tmp_path / "run.sh"
    script.write_text(to_xe_script(plan, inv))
    failing = next(m.vm for m in plan.migrations() if m.id == "m-live")
    log, env = _fake_xe(tmp_path, fail_vm=failing)
    r = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "wave 0: a migration failed; stopping" in r.stderr
    migrates = [ln for ln in log.read_text().splitlines() if "vm-migrate" in ln]
    assert len(migrates) == 2  # wave 1 never started


def test_script_refuses_to_run_without_password(tmp_path):
    inv, plan = _fleet()
    script = tmp_path / "run.sh"
    script.write_text(to_xe_script(plan, inv))
    log, env = _fake_xe(tmp_path)
    del env["XE_PASSWORD"]
    r = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "XE_PASSWORD" in r.stderr
    assert not log.exists()


def test_csv_runbook_has_a_row_per_migration():
    inv, plan = _fleet()
    rows = list(csv.DictReader(io.StringIO(to_csv(plan, inv))))
    migs = list(plan.migrations())
    assert [r["id"] for r in rows] == [m.id for m in migs]
    sxm = next(r for r in rows if r["id"] == "m-sxm")
    assert sxm["vm_name"] == "db" and sxm["wave"] == "0" and sxm["kind"] == "storage"
    assert len(sxm["disks"].split(";")) == 2
    assert next(r for r in rows if r["id"] == "m-halt")["depends_on"] == "m-live"


def test_cli_export_writes_files_and_rejects_bad_input(tmp_path):
    inv, plan = _fleet()
    pf, inf = tmp_path / "plan.json", tmp_path / "inv.json"
    save_plan(plan, pf)
    save(inv, inf)
    runner = CliRunner()
    out = tmp_path / "run.sh"
    r = runner.invoke(
        app, ["export", str(pf), "--to", "xe", "-o", str(out), "--inventory", str(inf)]
    )
    assert r.exit_code == 0, r.output
    assert subprocess.run(["sh", "-n", str(out)]).returncode == 0
    assert os.access(out, os.X_OK)
    r = runner.invoke(app, ["export", str(pf), "--to", "csv"])
    assert r.exit_code == 0 and r.stdout.startswith("wave,id,vm")
    bad = runner.invoke(app, ["export", str(pf), "--to", "yaml"])
    assert bad.exit_code == 2
    missing = runner.invoke(app, ["export", str(tmp_path / "nope.json"), "--to", "xe"])
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    assert missing.stderr.count("\n") == 1


@pytest.mark.parametrize("bad", ["a b", "x;rm -rf /", "$(id)"])
def test_unsafe_identifiers_are_refused(bad):
    _inv, plan = _fleet()
    m = next(plan.migrations())
    w0 = replace(plan.waves[0], migrations=(replace(m, vm=bad), *plan.waves[0].migrations[1:]))
    with pytest.raises(InputError, match="not a plain identifier"):
        to_xe_script(replace(plan, waves=(w0, *plan.waves[1:])))


# ---------------------------------------------------------------- issue 16, cases 1 and 2


def _attack_fleet(pool_name: str = "old", host_name: str = "old-02"):
    """The `_fleet` plan with hostile names, and a host-disable / host-upgrade step on
    the hostile host so its name reaches comments and the operator's message."""
    from planner.plan import Step

    inv, plan = _fleet()
    old = next(p for p in inv.pools if p.name == "old")
    h2 = next(h for h in inv.hosts if h.name == "old-02")
    inv = replace(
        inv,
        pools=tuple(replace(p, name=pool_name) if p is old else p for p in inv.pools),
        hosts=tuple(replace(h, name=host_name) if h is h2 else h for h in inv.hosts),
    )
    steps = (
        Step("host-disable", h2.uuid, "after"),
        Step("host-upgrade", h2.uuid, "after", "8.4.0"),
    )
    waves = (replace(plan.waves[0], steps=steps), *plan.waves[1:])
    return inv, replace(plan, waves=waves)


def _run_attack(tmp_path, inv, plan, mark):
    script = tmp_path / "run.sh"
    script.write_text(to_xe_script(plan, inv))
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    log, env = _fake_xe(tmp_path)
    r = subprocess.run(
        ["sh", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert not mark.exists(), "a planted command ran"
    assert r.returncode == 0, r.stderr
    assert len([ln for ln in log.read_text().splitlines() if "vm-migrate" in ln]) == 4
    return script.read_text(), r


def test_case1_export_injection_pool_name_newline(tmp_path):
    mark = tmp_path / "PWNED-newline"
    inv, plan = _attack_fleet(pool_name=f"old\ntouch {mark}\n")
    text, _ = _run_attack(tmp_path, inv, plan, mark)
    assert "its name has control characters" in text


def test_case1_export_injection_host_name_command_substitution(tmp_path):
    mark = tmp_path / "PWNED-subst"
    inv, plan = _attack_fleet(host_name=f"$(touch {mark})")
    _text, r = _run_attack(tmp_path, inv, plan, mark)
    # the operator's message shows the name as it is, not its expansion
    assert f"$(touch {mark})" in r.stdout


def test_case1_export_injection_host_name_backticks(tmp_path):
    mark = tmp_path / "PWNED-backtick"
    inv, plan = _attack_fleet(host_name=f"`touch {mark}`'\"; touch {mark}; #")
    _run_attack(tmp_path, inv, plan, mark)


def test_case1_export_refuses_control_characters_it_cannot_quote():
    from planner.execute.export import quote

    assert quote("a'b $(x)", "name") == "'a'\"'\"'b $(x)'"
    with pytest.raises(InputError, match="control character"):
        quote("a\nb", "name")
    _inv, plan = _fleet()
    with pytest.raises(InputError, match="control character"):
        to_xe_script(replace(plan, inventory_digest="x\nid"))


def test_case2_export_password_prompt_mode_keeps_env_password_out_of_argv(tmp_path):
    inv, plan = _fleet()
    script = tmp_path / "run.sh"
    script.write_text(to_xe_script(plan, inv, remote_password="prompt"))
    log, env = _fake_xe(tmp_path)
    r = subprocess.run(
        ["sh", str(script)],
        env=env,
        input="typed-remote-pw\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    assert not any("pw-from-env" in ln for ln in lines)  # only in the -pwf file
    migrates = [ln for ln in lines if "vm-migrate" in ln]
    # live moves carry no remote-* at all; storage and halted moves the typed password
    assert [("remote-password=typed-remote-pw" in ln) for ln in migrates].count(True) == 3
    assert all("remote-" not in ln for ln in migrates if "live=true" in ln and "vdi:" not in ln)
    with pytest.raises(InputError, match="--remote-password"):
        to_xe_script(plan, inv, remote_password="argv")


def test_case1_csv_names_cannot_be_spreadsheet_formulas():
    inv, plan = _fleet()
    web = next(v for v in inv.vms if v.name == "web")
    inv = replace(
        inv,
        vms=tuple(
            replace(v, name='=HYPERLINK("http://x","y")') if v is web else v for v in inv.vms
        ),
    )
    rows = list(csv.DictReader(io.StringIO(to_csv(plan, inv))))
    assert next(r for r in rows if r["vm"] == web.uuid)["vm_name"].startswith("'=")
