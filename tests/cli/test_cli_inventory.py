"""`planner inventory show|validate`, `generate` and `schema`, through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.inventory import sample_path
from planner.inventory.io import read_json

runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _bad_inventory(tmp_path: Path) -> Path:
    doc = read_json(sample_path("sample"), "inventory")
    doc["vms"][3]["disks"][0]["sr"] = "3f2a"
    doc["hosts"][1]["memory_total_bytes"] = -5
    doc["vms"][0]["power_state"] = "Up"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    return p


# ---------------------------------------------------------------- validate


def test_validate_ok_defaults_to_the_sample():
    r = run("inventory", "validate")
    assert r.exit_code == 0
    assert r.stdout.strip() == "ok: 1 pools, 5 hosts, 43 VMs"


def test_validate_ok_prints_warnings(tmp_path: Path):
    doc = read_json(sample_path("sample"), "inventory")
    doc["hosts"][4]["memory_total_bytes"] //= 2  # xs-05 now holds more than it can
    p = tmp_path / "over.json"
    p.write_text(json.dumps(doc))
    r = run("inventory", "validate", str(p))
    assert r.exit_code == 0
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "ok: 1 pools, 5 hosts, 43 VMs"
    assert len(lines) == 2 and lines[1].startswith("warning: hosts[4]: running VMs commit")


def test_validate_bad_lists_each_fault_and_exits_2(tmp_path: Path):
    p = _bad_inventory(tmp_path)
    r = run("inventory", "validate", str(p))
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert lines[0] == f"planner: {p}: 3 problems:"
    assert lines[1:] == [
        "planner:   hosts[1].memory_total_bytes: must be a positive integer, got -5",
        "planner:   vms[0].power_state: must be one of 'Running', 'Paused', 'Suspended', "
        "'Halted', got 'Up'",
        "planner:   vms[3].disks[0].sr: no SR with uuid '3f2a'",
    ]


def test_validate_caps_the_display_but_counts_everything(tmp_path: Path):
    doc = read_json(sample_path("sample"), "inventory")
    for v in doc["vms"]:
        v["vcpus"] = 0
    p = tmp_path / "many.json"
    p.write_text(json.dumps(doc))
    r = run("inventory", "validate", str(p))
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert lines[0] == f"planner: {p}: 43 problems:"
    assert len(lines) == 1 + 43  # under the cap of 50: every one shown


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "no such file"),
        ("{not json", "malformed JSON"),
        ('{"format": "xen-planner/plan", "version": 1}', "format: must be 'xen-planner/inventory'"),
        ('{"format": "xen-planner/inventory", "version": 9}', "version: unsupported"),
    ],
)
def test_unusable_files_one_line_exit_2(content, expected, tmp_path: Path):
    p = tmp_path / "inv.json"
    if content is not None:
        p.write_text(content)
    for cmd in (["inventory", "validate", str(p)], ["inventory", "show", str(p)]):
        r = run(*cmd)
        assert r.exit_code == 2
        assert expected in r.stderr
        assert len(r.stderr.strip().splitlines()) <= 2  # message (+ the one problem)
        assert r.stdout == ""


# ---------------------------------------------------------------- show


def test_show_sample_summary():
    r = run("inventory", "show")
    assert r.exit_code == 0
    out = r.stdout
    for text in (
        "lab",
        "xs-01",
        "xs-05",
        "nfs-old",
        "nfs-new",
        "xs-02-local",
        "sriov-net",
        "HA_PROTECTED",
        "ON_BOOT_RESET",
        "NO_TOOLS",
        "Suspended",
        "Halted",
    ):
        assert text in out, text
    # xs-01: 128 GiB - 4 GiB overhead = 124 GiB capacity, 94 committed, 30 free
    row = next(line for line in out.splitlines() if "xs-01" in line and "124.0" in line)
    assert "94.0" in row and "30.0" in row and "76%" in row
    # two HA-protected VMs, two MCS VMs, one of each other exclusion
    assert _count(out, "HA_PROTECTED") == 2 and _count(out, "MCS") == 2
    assert _count(out, "SRIOV") == 1 and _count(out, "CBT") == 1
    assert "Running" in out and _count(out, "Halted") == 4


def _count(out: str, code: str) -> int:
    line = next(x for x in out.splitlines() if x.split("│")[0].strip() == code)
    return int(line.split("│")[1])


def test_show_caps_rows_unless_all(tmp_path: Path):
    fleet = tmp_path / "fleet.json"
    assert (
        run("generate", "--pools", "3", "--hosts", "20", "--vms", "50", "-o", str(fleet)).exit_code
        == 0
    )
    capped = run("inventory", "show", str(fleet))
    assert capped.exit_code == 0
    assert "... 20 more rows (use --all)" in capped.stdout  # 60 hosts, 40 shown
    full = run("inventory", "show", str(fleet), "--all")
    assert "more rows" not in full.stdout
    assert "p02-xs-20" in full.stdout and "p02-xs-20" not in capped.stdout


def test_show_prints_validation_warnings(tmp_path: Path):
    doc = read_json(sample_path("sample"), "inventory")
    doc["hosts"][4]["memory_total_bytes"] //= 2
    p = tmp_path / "over.json"
    p.write_text(json.dumps(doc))
    r = run("inventory", "show", str(p))
    assert r.exit_code == 0
    assert "1 warning:" in r.stdout and "hosts[4]: running VMs commit" in r.stdout


# ---------------------------------------------------------------- generate


def test_generate_writes_a_valid_deterministic_file(tmp_path: Path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for p in (a, b):
        r = run(
            "generate", "--pools", "2", "--hosts", "4", "--vms", "30", "--seed", "3", "-o", str(p)
        )
        assert r.exit_code == 0
        assert r.stdout.startswith(f"wrote {p}: 2 pools, 8 hosts, 60 VMs in ")
    assert a.read_bytes() == b.read_bytes()
    assert run("inventory", "validate", str(a)).stdout.strip() == "ok: 2 pools, 8 hosts, 60 VMs"
    r = run("generate", "--pools", "2", "--hosts", "4", "--vms", "30", "--seed", "4", "-o", str(b))
    assert a.read_bytes() != b.read_bytes()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--pools", "0"], ["--pools: must be a positive integer, got 0"]),
        (["--hosts", "-1"], ["--hosts: must be a positive integer, got -1"]),
        (
            ["--vms", "0", "--pools", "-2"],
            [
                "--pools: must be a positive integer, got -2",
                "--vms: must be a positive integer, got 0",
            ],
        ),
    ],
)
def test_generate_rejects_non_positive_counts(args, expected, tmp_path: Path):
    out = tmp_path / "f.json"
    r = run("generate", *args, "-o", str(out))
    assert r.exit_code == 2
    assert not out.exists()  # nothing written
    got = [line.removeprefix("planner: ").strip() for line in r.stderr.strip().splitlines()]
    if len(expected) == 1:
        assert got == expected
    else:
        assert got == ["bad arguments:", *expected]


def test_generate_needs_an_output(tmp_path: Path):
    r = run("generate", "--pools", "1")
    assert r.exit_code == 2
    assert r.stderr.strip() == "planner: -o/--output: required (the file to write)"


def test_generate_into_a_missing_directory_is_one_line(tmp_path: Path):
    r = run("generate", "-o", str(tmp_path / "no" / "f.json"))
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "No such file" in r.stderr


# ---------------------------------------------------------------- schema and help


@pytest.mark.parametrize("which, title", [("inventory", "inventory snapshot"), ("plan", "plan")])
def test_schema_prints_json(which, title):
    r = run("schema", which)
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert title in doc["title"]


def test_schema_unknown_is_exit_2():
    r = run("schema", "fleet")
    assert r.exit_code == 2
    assert r.stderr.strip() == "planner: schema: choose one of inventory, plan, got 'fleet'"


@pytest.mark.parametrize(
    "cmd",
    [["inventory"], ["inventory", "show"], ["inventory", "validate"], ["generate"], ["schema"]],
)
def test_every_command_has_help(cmd):
    r = run(*cmd, "--help")
    assert r.exit_code == 0
    assert "Usage:" in r.stdout and len(r.stdout) > 200
