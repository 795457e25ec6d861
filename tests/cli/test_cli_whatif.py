"""`planner whatif` through typer's runner: formats, exit statuses, bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from planner.cli import app
from planner.inventory import io
from planner.inventory.builder import Builder

runner = CliRunner()


def _write(tmp_path):
    b = Builder()
    p = b.pool("lab")
    hs = [b.host(p, f"xs-0{i}", memory_gib=32) for i in range(1, 4)]
    sr = b.sr(p, "nfs")
    for i in range(6):
        b.vm(p, f"vm{i}", host=hs[i % 3], memory_gib=4, disks=[(sr, 10)])
    path = tmp_path / "inv.json"
    io.save(b.build(), path)
    return path


def test_json_output_all_feasible_exit_0(tmp_path):
    path = _write(tmp_path)
    r = runner.invoke(app, ["whatif", str(path), "--processes", "1", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [x["scenario"] for x in rows] == ["fail xs-01", "fail xs-02", "fail xs-03"]
    assert all(x["feasible"] for x in rows)


def test_infeasible_exits_1_and_csv(tmp_path):
    path = _write(tmp_path)
    r = runner.invoke(
        app, ["whatif", str(path), "-s", "n-k", "--hosts", "xs-01,xs-02", "--format", "csv"]
    )
    # 4 x 4 GiB onto one 30 GiB host already holding 8: 22 free, all fit
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].startswith("scenario,kind,pool")
    r = runner.invoke(
        app,
        [
            "whatif",
            str(path),
            "-s",
            "growth",
            "--step",
            "1",
            "--max-factor",
            "5",
            "--format",
            "json",
        ],
    )
    # two 4 GiB VMs per 30 GiB host: x3 (24) fits, x4 (32) cannot be re-packed
    assert r.exit_code == 1
    assert [x["factor"] for x in json.loads(r.stdout)] == [1.0, 2.0, 3.0, 4.0]


def test_bad_input_is_one_line_exit_2(tmp_path):
    path = _write(tmp_path)
    for args, needle in [
        (["whatif", str(path), "-s", "n-k"], "needs --hosts"),
        (["whatif", str(path), "--hosts", "xs-9"], "no host named"),
        (["whatif", str(tmp_path / "missing.json")], "no such file"),
        (["whatif", str(path), "--processes", "0"], "--processes"),
    ]:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert needle in r.output
        assert "Traceback" not in r.output
