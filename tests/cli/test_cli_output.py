"""The output convention (docs/cli.md "Output"), walked over every data command.

Every command with a `--format` option (found in the real click tree, so a new one must
be added here) runs with `--format json` and `--format csv`, to stdout and with `-o -`;
stdout must parse as JSON / CSV with a header, and the status line must stay on stderr.
`-o FILE` writes the same bytes to the file and leaves stdout empty.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from planner.cli import app
from planner.inventory import load, sample_path

runner = CliRunner()


def _format_commands() -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if any("--format" in getattr(p, "opts", ()) for p in cmd.params):
            out.add(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """A greedy plan of the sample, its journal (never run: every entry pending)."""
    from planner.execute.journal import Journal
    from planner.plan import load as load_plan

    d = tmp_path_factory.mktemp("out")
    plan = d / "plan.json"
    r = runner.invoke(app, ["solve", "--solver", "greedy", "-o", str(plan)])
    assert r.exit_code in (0, 1), r.output
    with Journal.open(d / "plan.json.journal", load_plan(plan)):
        pass
    return {"plan": str(plan), "journal": str(d / "plan.json.journal")}


# command -> (argv before the format options, formats it accepts)
CASES: dict[tuple[str, ...], tuple[list[str], tuple[str, ...]]] = {
    ("solve",): (["solve", "--solver", "greedy"], ("json", "csv")),
    ("whatif",): (["whatif", "-s", "n-1", "--processes", "1"], ("json", "csv")),
    ("check",): (["check", "{plan}"], ("json", "csv")),
    ("explain",): (["explain", "db-01"], ("json", "csv")),
    ("inventory", "show"): (["inventory", "show"], ("json", "csv")),
    ("inventory", "validate"): (["inventory", "validate"], ("json", "csv")),
    ("execute",): (["execute", "--status", "--journal", "{journal}"], ("json", "csv")),
    ("export",): (["export", "{plan}"], ("json", "csv")),
    ("schema",): (["schema", "inventory"], ("json",)),
}


# commands whose --format picks a document, not data (`planner report`: html or md)
DOCUMENTS = {("report",): (["report", "{plan}"], ("md",))}


def test_every_format_command_is_walked():
    assert _format_commands() == set(CASES) | set(DOCUMENTS)


def test_document_commands_follow_o_dash_too(files):
    for path, (args, fmts) in DOCUMENTS.items():
        for fmt in fmts:
            r = runner.invoke(app, [*_argv(args, files), "--format", fmt, "-o", "-"])
            assert r.exit_code in (0, 1), r.output
            assert r.stdout.strip() and not Path("-").exists(), path


def _argv(args: list[str], files: dict[str, str]) -> list[str]:
    return [a.format(**files) if "{" in a else a for a in args]


def _parse(fmt: str, text: str) -> object:
    if fmt == "json":
        return json.loads(text)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows and rows[0] and all(rows[0]), text[:200]  # a header of named columns
    assert all(len(r) == len(rows[0]) for r in rows), text[:200]
    return rows


WALK = [
    (path, fmt, dash) for path, (_, fmts) in CASES.items() for fmt in fmts for dash in (False, True)
]


@pytest.mark.parametrize(
    ("path", "fmt", "dash"),
    WALK,
    ids=[f"{' '.join(p)}-{f}{'-o-' if d else ''}" for p, f, d in WALK],
)
def test_data_on_stdout_parses_and_status_stays_on_stderr(path, fmt, dash, files):
    args, _ = CASES[path]
    argv = [*_argv(args, files), "--format", fmt] + (["-o", "-"] if dash else [])
    r = runner.invoke(app, argv)
    assert r.exit_code in (0, 1), r.output
    _parse(fmt, r.stdout)
    assert "Traceback" not in r.output
    assert not Path("-").exists()  # `-o -` is stdout, never a file named '-'


@pytest.mark.parametrize("path", sorted(CASES), ids=lambda p: " ".join(p))
def test_o_file_gets_the_data_and_stdout_stays_empty(path, files, tmp_path):
    args, fmts = CASES[path]
    fmt = fmts[0]
    stdout = runner.invoke(app, [*_argv(args, files), "--format", fmt])
    out = tmp_path / f"out.{fmt}"
    r = runner.invoke(app, [*_argv(args, files), "--format", fmt, "-o", str(out)])
    assert r.exit_code == stdout.exit_code, r.output
    if path == ("solve",):  # solve's -o is the plan file; stdout keeps the json
        assert json.loads(out.read_text())["format"] == "xen-planner/plan"
        return
    assert r.stdout == ""
    assert f"wrote {out}" in r.stderr
    assert _parse(fmt, out.read_text()) == _parse(fmt, stdout.stdout)


def test_solve_csv_and_export_csv_have_the_same_rows(files):
    a = runner.invoke(app, ["solve", "--solver", "greedy", "--format", "csv"])
    b = runner.invoke(
        app, ["export", files["plan"], "--to", "csv", "--inventory", str(sample_path())]
    )
    assert a.stdout == b.stdout
    rows = list(csv.DictReader(io.StringIO(a.stdout)))
    inv = load(sample_path())
    # names and uuids both
    assert all(inv.label(r["vm"]) == r["vm_name"] for r in rows)
    assert all(inv.label(r["from_host"]) == r["from_host_name"] for r in rows)
    assert a.stderr.startswith("plan: ")  # the solver status, off the data


def test_rolling_upgrade_rows_carry_the_host_steps(tmp_path):
    from planner.inventory import save
    from planner.inventory.builder import Builder

    b = Builder()
    p = b.pool("old")
    hs = [b.host(p, f"h{i}", memory_gib=64, version="8.2.1") for i in range(3)]
    sr = b.sr(p, "nfs")
    for i in range(4):
        b.vm(p, f"vm{i}", host=hs[i % 3], memory_gib=4, disks=[(sr, 10)])
    inv_path = tmp_path / "inv.json"
    save(b.build(), inv_path)
    r = runner.invoke(
        app,
        [
            "solve",
            str(inv_path),
            "--rolling-upgrade",
            "old",
            "--to-version",
            "8.4.0",
            "--format",
            "csv",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    kinds = [x["kind"] for x in rows]
    for k in ("host-disable", "host-upgrade", "host-enable"):
        assert kinds.count(k) == 3, kinds
    up = next(x for x in rows if x["kind"] == "host-upgrade")
    assert up["to_version"] == "8.4.0" and up["from_host_name"].startswith("h")
    assert up["id"].startswith("s")  # the executor's journal id


def test_check_json_alias_still_works_and_says_deprecated(files):
    r = runner.invoke(app, ["check", files["plan"], "--json"])
    assert r.exit_code in (0, 1)
    assert "ok" in json.loads(r.stdout)
    assert "deprecated" in r.stderr


def test_check_says_safe_but_names_unplaced_vms(tmp_path):
    def build(b):
        p = b.pool("p")
        h1 = b.host(p, "h1", memory_gib=256)
        b.host(p, "h2", memory_gib=20)
        sr = b.sr(p, "nfs")
        for i in range(3):
            b.vm(p, f"vm{i}", host=h1, memory_gib=8, disks=[(sr, 10)])

    inv_path = _write_inv(tmp_path, build)
    plan = tmp_path / "plan.json"
    r = runner.invoke(
        app, ["solve", str(inv_path), "--evacuate", "h1", "--solver", "greedy", "-o", str(plan)]
    )
    assert r.exit_code == 1, r.output  # one of the three does not fit
    n = len(json.loads(plan.read_text())["unplaced"])
    r = runner.invoke(app, ["check", str(plan), str(inv_path)])
    assert r.exit_code == 0, r.output
    assert "plan is safe" in r.stdout
    assert f"{n} VM{'s' if n != 1 else ''} left unplaced by the plan" in r.stdout


def test_execute_status_finds_names_beside_the_journal(files):
    r = runner.invoke(app, ["execute", "--status", "--journal", files["journal"]])
    assert r.exit_code == 1  # nothing ran
    assert "add --inventory" not in r.stdout
    assert "db-01" in r.stdout  # a name, not only uuids


def test_version_option():
    from planner import __version__

    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"planner {__version__}"


def test_completion_is_enabled_and_completes_commands_and_options():
    r = runner.invoke(app, ["--show-completion", "bash"])
    assert r.exit_code == 0 and "_PLANNER_COMPLETE=complete_bash" in r.stdout
    env = {
        "_PLANNER_COMPLETE": "complete_bash",
        "COMP_WORDS": "planner solve --evac",
        "COMP_CWORD": "2",
    }
    r = runner.invoke(app, [], env=env, prog_name="planner")
    assert r.stdout.split() == ["--evacuate"]
    env.update(COMP_WORDS="planner inv", COMP_CWORD="1")
    assert runner.invoke(app, [], env=env, prog_name="planner").stdout.split() == ["inventory"]


def test_progress_goes_to_stderr_and_stdout_stays_data():
    # --progress forces the displays off a terminal; stdout must still parse
    r = runner.invoke(app, ["solve", "--time-limit", "5", "--format", "json", "--progress"])
    assert r.exit_code == 0, r.output
    json.loads(r.stdout)
    assert "solved in" in r.stderr and "OPTIMAL" in r.stderr
    r = runner.invoke(
        app, ["whatif", "-s", "n-1", "--processes", "1", "--format", "csv", "--progress"]
    )
    assert r.exit_code in (0, 1)
    assert "scenarios" in r.stderr and "5/5" in r.stderr  # the bar, one scenario per host
    assert r.stdout.startswith("scenario") or r.stdout.splitlines()[0].count(",") > 2
    r = runner.invoke(app, ["solve", "--time-limit", "5", "--format", "json"])
    assert "solved in" not in r.stderr  # not a terminal, not asked: no progress


def _write_inv(tmp_path, build) -> Path:
    from planner.inventory import save
    from planner.inventory.builder import Builder

    b = Builder()
    build(b)
    path = tmp_path / "inv.json"
    save(b.build(), path)
    return path


def test_long_unplaced_table_starts_with_a_count_per_reason(tmp_path):
    def build(b):
        p = b.pool("p")
        h1 = b.host(p, "h1", memory_gib=256)
        b.host(p, "h2", memory_gib=24)
        sr = b.sr(p, "nfs")
        for i in range(12):
            b.vm(p, f"vm{i:02d}", host=h1, memory_gib=8, disks=[(sr, 10)])

    path = _write_inv(tmp_path, build)
    r = runner.invoke(
        app, ["solve", str(path), "--evacuate", "h1", "--solver", "greedy"], env={"COLUMNS": "120"}
    )
    assert r.exit_code == 1, r.output
    lines = r.stdout.splitlines()
    head = next(i for i, x in enumerate(lines) if x.startswith("Unplaced: "))
    table = next(i for i, x in enumerate(lines) if "Unplaced VMs" in x)
    assert head < table  # the summary comes first
    n = int(lines[head].split()[1])
    assert n >= 10 and lines[head].endswith(f"per reason: NO_CAPACITY {n}")


def test_campaign_tables_show_h_mm_ss_and_singular_waves(tmp_path):
    def build(b):
        p = b.pool("old")
        hs = [b.host(p, f"h{i}", memory_gib=64, version="8.2.1") for i in range(3)]
        sr = b.sr(p, "nfs")
        for i in range(4):
            b.vm(p, f"vm{i}", host=hs[i % 3], memory_gib=4, disks=[(sr, 10)])

    path = _write_inv(tmp_path, build)
    r = runner.invoke(
        app,
        ["solve", str(path), "--rolling-upgrade", "old", "--to-version", "8.4.0"],
        env={"COLUMNS": "120"},
    )
    assert r.exit_code == 0, r.output
    import re

    rows = [x for x in r.stdout.splitlines() if " live " in x or "│ m" in x]
    assert rows and all(re.search(r"\d+:\d\d:\d\d", x) for x in rows if "vm" in x)
    assert not re.search(r"\b1 waves\b|\b1 migrations\b", r.stdout)
    summary = next(x for x in r.stdout.splitlines() if x.startswith("Plan: "))
    assert re.match(r"Plan: \d+ migrations? in \d+ waves?, \d+:\d\d:\d\d \(\d+ s\)", summary)
