"""`execute --dry-run` ends with the verdict of the real run (issue 14): on drifted pools
both refuse with the same line and exit 1, and the dry run lists nothing as "would run"."""

from __future__ import annotations

from typer.testing import CliRunner

from planner.cli import app
from planner.inventory.io import from_dict, to_dict
from planner.plan import save as save_plan
from planner.sim import Simulator
from tests.helpers.execsim import PASSWORD, PW_ENV, cli_args, evacuation_plan, fleet


def _invoke(args):
    return CliRunner().invoke(app, args, env={PW_ENV: PASSWORD})


def _refusal(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if "refusing to execute" in line)


def test_dry_run_and_real_run_refuse_drift_alike(tmp_path):
    inv, hosts = fleet(4)
    plan = evacuation_plan(inv, hosts)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    doc = to_dict(inv)  # the pools serve a fleet where vm-00 already moved
    a02 = next(h["uuid"] for h in doc["hosts"] if h["name"] == "a-02")
    for v in doc["vms"]:
        if v["name"] == "vm-00":
            v["host"] = a02
    with Simulator(from_dict(doc), speed=1000, password=PASSWORD) as sim:
        dry = _invoke(cli_args(pf, sim, jf, "--dry-run"))
        real = _invoke(cli_args(pf, sim, jf))
        assert sim.audit() == []
    assert dry.exit_code == real.exit_code == 1
    assert "would start" not in dry.stdout and "would run" not in dry.stdout
    assert _refusal(dry.stderr).startswith(_refusal(real.stderr))
    assert "dry run: nothing was changed" in _refusal(dry.stderr)
    # both list the same changes
    changes = [line for line in real.stderr.splitlines() if line.startswith("  ")]
    assert changes and changes == [x for x in dry.stderr.splitlines() if x.startswith("  ")]
    assert not jf.exists()


def test_missing_url_names_the_pool(tmp_path):
    from planner.inventory.io import save

    inv, hosts = fleet(4)
    plan = evacuation_plan(inv, hosts)
    pf, jf = tmp_path / "plan.json", tmp_path / "run.journal"
    save_plan(plan, pf)
    save(inv, tmp_path / "fleet.json")  # beside the plan: found by its digest, for names
    pool_a = plan.waves[0].migrations[0].from_pool
    with Simulator(inv, speed=1000, password=PASSWORD) as sim:
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
        assert sim.audit() == []
    assert r.exit_code == 2
    assert "no --url for pool" in r.stderr
    assert f"{inv.label(pool_a)} ({pool_a})" in r.stderr
