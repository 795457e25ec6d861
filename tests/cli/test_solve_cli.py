"""`planner solve` through typer's runner: output, files, exit statuses, bad input."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.goals import Evacuate
from planner.inventory import load, save
from planner.inventory.builder import Builder
from planner.plan import load as load_plan
from tests.helpers.instances import instance
from tests.helpers.solving import assert_checked

runner = CliRunner()


def _fleet(tmp_path, *, ha: bool = False):
    b = Builder()
    p = b.pool("lab", ha=ha)
    h1 = b.host(p, "xs-01")
    b.host(p, "xs-02")
    b.host(p, "xs-03")
    sr = b.sr(p, "nfs-old")
    b.sr(p, "nfs-new")
    for i in range(4):
        b.vm(p, f"web-{i}", host=h1, disks=[(sr, 10)], ha_protected=ha and i == 0)
    path = tmp_path / "inv.json"
    save(b.build(), path)
    return path


def test_default_is_the_sample_maintenance_demo(tmp_path):
    out = tmp_path / "plan.json"
    r = runner.invoke(app, ["solve", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "evacuate xs-02" in r.stdout
    assert "lower bound" in r.stdout and "gap 0.0%" in r.stdout
    assert "Greedy:" in r.stdout and "Solver: cpsat OPTIMAL" in r.stdout
    from planner.inventory import sample_path

    inv = load(sample_path())
    plan = load_plan(out)
    assert_checked(inv, plan)
    # the summary prints the schedule's length, its bound and the wave-mode figure,
    # as the plan has them
    est, bound = plan.estimate, plan.bounds.seconds
    assert "Schedule: 7 migrations in" in r.stdout
    assert f"({est.seconds} s); lower bound" in r.stdout
    assert f"({bound} s) (gap" in r.stdout
    assert f"Wave mode (lock-step): {est.waves} waves" in r.stdout
    assert f"({est.wave_seconds} s)" in r.stdout
    assert plan.goal == Evacuate((inv.find("host", "xs-02"),))


def test_max_per_host_option_reaches_the_plan(tmp_path):
    inv_path = _fleet(tmp_path)
    out = tmp_path / "plan.json"
    r = runner.invoke(
        app, ["solve", str(inv_path), "--evacuate", "xs-01", "--max-per-host", "1", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    plan = load_plan(out)
    assert plan.options.max_per_host == 1
    assert_checked(load(inv_path), plan)
    # every move leaves xs-01: one at a time
    spans = sorted((m.start_s, m.end_s) for m in plan.migrations())
    assert len(spans) == 4 and all(a[1] <= b[0] for a, b in pairwise(spans))
    bad = runner.invoke(app, ["solve", str(inv_path), "--evacuate", "xs-01", "--max-per-host", "0"])
    assert bad.exit_code == 2 and "max_per_host" in bad.output


def test_names_comma_separated_or_repeated(tmp_path):
    inv_path = _fleet(tmp_path)
    a = runner.invoke(
        app, ["solve", str(inv_path), "--evacuate", "xs-01,xs-02", "--format", "json"]
    )
    b = runner.invoke(
        app,
        ["solve", str(inv_path), "--evacuate", "xs-01", "--evacuate", "xs-02", "--format", "json"],
    )
    assert a.exit_code == b.exit_code == 0, a.output + b.output
    ga, gb = json.loads(a.stdout)["goal"], json.loads(b.stdout)["goal"]
    assert ga == gb and len(ga["hosts"]) == 2
    plan = json.loads(a.stdout)
    inv = load(inv_path)
    from planner.plan import from_dict

    assert_checked(inv, from_dict(plan))
    assert {m["to_host"] for w in plan["waves"] for m in w["migrations"]} == {
        inv.find("host", "xs-03")
    }


def test_csv_has_a_row_per_migration(tmp_path):
    inv_path = _fleet(tmp_path)
    out = tmp_path / "plan.json"
    r = runner.invoke(
        app,
        [
            "solve",
            str(inv_path),
            "--retire-sr",
            "nfs-old",
            "--solver",
            "greedy",
            "--format",
            "csv",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert_checked(load(inv_path), load_plan(out))
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("wave,id,vm,vm_name,kind")
    assert "plan: 4 migrations" in r.stderr  # the status line stays off the data
    assert len(lines) == 1 + 4 and all(",storage," in x for x in lines[1:])


def test_unplaced_vms_exit_1_and_are_listed(tmp_path):
    inv_path = _fleet(tmp_path, ha=True)
    out = tmp_path / "plan.json"
    r = runner.invoke(app, ["solve", str(inv_path), "--evacuate", "xs-01", "-o", str(out)])
    assert r.exit_code == 1
    assert "Unplaced VMs" in r.stdout and "HA_PROTECTED" in r.stdout
    assert_checked(load(inv_path), load_plan(out))


def test_cpsat_beats_greedy_in_the_footer(tmp_path):
    x = instance("binpacking-trap")
    inv, path = x.inv, x.path
    out = tmp_path / "plan.json"
    r = runner.invoke(
        app, ["solve", str(path), "--evacuate", "src", "--workers", "1", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert_checked(inv, load_plan(out))
    assert "1 VM unplaced" in r.stdout  # greedy's figures
    assert "OPTIMAL" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--evacuate", "xs-9"], "no host named or with uuid 'xs-9'; did you mean"),
        (["--evacuate", "xs-01", "--retire-sr", "nfs-old"], "one goal at a time"),
        (["--move-pool", "lab"], "--move-pool needs --to"),
        (["--to", "lab"], "--to only goes with --move-pool"),
        (["--evacuate", "xs-01", "--headroom", "-0.1"], "--headroom"),
        (["--evacuate", "xs-01", "--time-limit", "0"], "--time-limit"),
        (["--evacuate", "xs-01", "--format", "xml"], "--format"),
        (["--evacuate", "xs-01", "--solver", "magic"], "--solver"),
        (["--evacuate", "xs-01", "--network-map", "nope"], "expected SRC=DST"),
        ([], "no goal"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    inv_path = _fleet(tmp_path)
    out = tmp_path / "plan.json"
    r = runner.invoke(app, ["solve", str(inv_path), *args, "-o", str(out)])
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert r.stderr.startswith("planner: ")
    assert "Traceback" not in r.output
    assert not out.exists()


def test_two_bad_names_are_two_lines(tmp_path):
    inv_path = _fleet(tmp_path)
    r = runner.invoke(app, ["solve", str(inv_path), "--evacuate", "nope1,nope2"])
    assert r.exit_code == 2
    assert r.stderr.count("no host named") == 2


def test_missing_inventory_file(tmp_path):
    r = runner.invoke(app, ["solve", str(tmp_path / "none.json"), "--evacuate", "x"])
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_help_has_examples():
    r = runner.invoke(app, ["solve", "--help"])
    assert r.exit_code == 0 and "--evacuate" in r.stdout and "Examples" in r.stdout
