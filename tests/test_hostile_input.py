"""Issue 16, cases 7 and 8: numbers out of range and hostile files or options are one
line on stderr and exit 2 - never a traceback, never a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.inventory.io import save
from planner.plan import save as save_plan
from planner.plan import to_dict
from tests.execute.test_export import _fleet


def _refused(args: list[str], *needles: str) -> str:
    r = CliRunner().invoke(app, args)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert r.exit_code == 2, (args, r.output)
    err = r.stderr.strip()
    # one line, or (a file with several faults) one line per fault, each prefixed
    assert err and all(ln.startswith("planner: ") for ln in err.splitlines()), err
    assert "Traceback" not in r.output and len(err.splitlines()) <= 3, err
    for n in needles:
        assert n in err, err
    return err


@pytest.fixture
def files(tmp_path):
    inv, plan = _fleet()
    save(inv, tmp_path / "inv.json")
    save_plan(plan, tmp_path / "plan.json")
    return tmp_path, to_dict(plan)


def _plan_with(tmp_path, doc, old: str, new: str):
    text = json.dumps(doc).replace(old, new, 1)
    assert text != json.dumps(doc)
    p = tmp_path / "bad-plan.json"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "value", ["NaN", "Infinity", "-Infinity", "1e300", "1e400", str(10**30), "1" * 5000]
)
def test_case7_est_seconds_out_of_range_refused_by_every_command(files, value):
    tmp_path, doc = files
    p = _plan_with(tmp_path, doc, '"est_seconds": 40', f'"est_seconds": {value}')
    inv = str(tmp_path / "inv.json")
    _refused(["check", str(p), inv], str(p))
    _refused(
        [
            "execute",
            str(p),
            "--url",
            "127.0.0.1:9",
            "--dry-run",
            "--inventory",
            inv,
            "--journal",
            str(tmp_path / "j"),
        ],
        str(p),
    )
    assert not (tmp_path / "j").exists()


def test_case7_wave_index_out_of_range(files):
    tmp_path, doc = files
    p = _plan_with(tmp_path, doc, '"index": 0', f'"index": {10**30}')
    _refused(["check", str(p), str(tmp_path / "inv.json")], "index")


def test_case8_memory_and_version_out_of_range(tmp_path):
    inv, _ = _fleet()
    save(inv, tmp_path / "inv.json")
    text = (tmp_path / "inv.json").read_text()
    mem = json.loads(text)["vms"][0]["memory_bytes"]
    (tmp_path / "mem.json").write_text(text.replace(str(mem), str(10**40), 1))
    _refused(["inventory", "validate", str(tmp_path / "mem.json")])
    ver = json.loads(text)["hosts"][0]["version"]
    (tmp_path / "ver.json").write_text(text.replace(f'"{ver}"', '"8.' + "9" * 5000 + '"', 1))
    _refused(["inventory", "validate", str(tmp_path / "ver.json")], "version")
    _refused(["solve", str(tmp_path / "ver.json"), "--solver", "greedy", "--evacuate", "x"])


def test_case8_lone_surrogate_refused_by_validate_too(tmp_path):
    inv, _ = _fleet()
    save(inv, tmp_path / "inv.json")
    text = (tmp_path / "inv.json").read_text().replace('"name": "web"', '"name": "w\\ud800"')
    (tmp_path / "s.json").write_text(text)
    _refused(["inventory", "validate", str(tmp_path / "s.json")], "surrogate")
    _refused(["inventory", "show", str(tmp_path / "s.json")], "surrogate")


def test_case8_deep_json_and_big_integers(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    _refused(["inventory", "validate", str(tmp_path / "deep.json")], "deep")
    (tmp_path / "int.json").write_text('{"format": "' + "x" + '", "version": ' + "7" * 5000 + "}")
    _refused(["inventory", "validate", str(tmp_path / "int.json")], "digits")


def test_case8_fifo_and_dev_zero_do_not_hang(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    # a subprocess with a timeout: a reader that blocks on the FIFO fails the test
    for f in (fifo, "/dev/zero"):
        r = subprocess.run(
            [sys.executable, "-m", "planner.cli", "inventory", "validate", str(f)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 2 and "not a regular file" in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args,needle",
    [
        (["execute", "p.json", "--url", "h", "--poll", "inf"], "--poll"),
        (["execute", "p.json", "--url", "h", "--poll", "nan"], "--poll"),
        (["execute", "p.json", "--url", "h", "--backoff", "inf"], "--backoff"),
        (["solve", "--time-limit", "inf"], "--time-limit"),
        (["solve", "--workers", "99999999999"], "--workers"),
        (["whatif", "--max-factor", "nan"], "--max-factor"),
        (["solve", "--evacuate", ""], "--evacuate"),
        (
            ["generate", "-o", "x.json", "--pools", "100000", "--hosts", "1000", "--vms", "100000"],
            "at most",
        ),
        (
            ["generate", "-o", "x.json", "--pools", "1000", "--hosts", "1000", "--vms", "1000"],
            "at most",
        ),
    ],
)
def test_case8_options_finite_and_in_range(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    _refused(args, needle)
    assert not (tmp_path / "x.json").exists()


def test_case8_bad_url_and_dask_address(tmp_path, monkeypatch):
    monkeypatch.setenv("XAPI_PASSWORD", "x")
    _refused(["collect", "http://[::1", "-o", str(tmp_path / "x.json")], "not a URL")
    _refused(["solve", "--dask", "garbage://x", "--solver", "greedy"], "--dask")


def test_case8_names_with_markup_and_escapes_print_safely(tmp_path):
    """A VM named `[/bad]` + ESC[2J (any pool admin can set it) made `solve` raise rich's
    MarkupError, and `explain` wrote the raw escape sequence to the terminal."""
    inv, _ = _fleet()
    save(inv, tmp_path / "inv.json")
    doc = json.loads((tmp_path / "inv.json").read_text())
    web = next(v for v in doc["vms"] if v["name"] == "web")
    web["name"] = "[/bad] \x1b[2J"
    host = next(h for h in doc["hosts"] if h["uuid"] == web["host"])
    host["name"] = "[link=http://x]h[/link]"
    (tmp_path / "inv.json").write_text(json.dumps(doc))
    inv_f = str(tmp_path / "inv.json")
    for args in (
        ["solve", inv_f, "--solver", "greedy", "--evacuate", host["uuid"]],
        ["explain", web["uuid"], inv_f],
        ["inventory", "show", inv_f, "--all"],
    ):
        r = CliRunner().invoke(app, args)
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        assert r.exit_code in (0, 1), (args, r.output)
        assert "\x1b[2J" not in r.output, args
    assert "[/bad]" in CliRunner().invoke(app, ["explain", web["uuid"], inv_f]).stdout
