"""Issue 16: a fuzz harness. Hostile and mutated inventories, plans, target files,
journals and option values go to every command in-process (typer's CliRunner), each
under a timer. Every run must end with exit 0, 1 or 2 - never a traceback, never a hang -
and a refusal (exit 2) is one line per problem, each starting with ``planner:``.

Seeded (`derandomize`) and bounded (`max_examples`, a 20 s timer per command), so it
runs in well under a minute. The counts it prints at the end are in docs/reliability.md.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.cli import app
from planner.inventory.builder import Builder
from planner.inventory.io import save
from planner.plan import save as save_plan
from planner.plan import to_dict

TIMEOUT_S = 20  # per command: a hang fails the run
COUNTS: Counter = Counter()

HOSTILE: list[Any] = [
    None,
    True,
    -1,
    0,
    1.5,
    10**30,
    1e300,
    -1e300,
    "",
    " ",
    "x" * 5000,
    "a\nb",
    "$(touch pwned)",
    "`id`",
    "\ud800",
    "../../etc/passwd",
    [],
    {},
    [[[[]]]],
    {"a": {"b": {"c": None}}},
    "NaN",
    "8." + "9" * 40,
    2**63,
    -(2**63) - 1,
]
HOSTILE_NAMES = [
    "a\nb",
    "$(touch pwned)",
    "`id`",
    "x'; rm -rf /; '",
    "\x1b[2J",
    "",
    " ",
    "é" * 300,
    "\ud800",
    "--help",
    "-o",
    "name with spaces",
]
HOSTILE_OPTION = [
    "inf",
    "-inf",
    "nan",
    "-1",
    "0",
    "1e309",
    "99999999999",
    "",
    " ",
    "garbage://x",
    "http://[::1",
    "a\nb",
    "\ud800x",
]


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang(f"no answer within {TIMEOUT_S}s")


def run(args: list[str]) -> None:
    """Invoke the CLI in-process under a timer; record and check the outcome."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        r = CliRunner().invoke(app, args, env={"XAPI_PASSWORD": "pw"})
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    COUNTS["inputs"] += 1
    exc = r.exception
    assert not isinstance(exc, _Hang), f"hang: {args}"
    assert exc is None or isinstance(exc, SystemExit), (args, repr(exc), r.output[-2000:])
    assert "Traceback" not in r.output, (args, r.output[-2000:])
    assert r.exit_code in (0, 1, 2), (args, r.exit_code, r.output[-500:])
    if r.exit_code == 2:
        COUNTS["refused"] += 1
        lines = r.stderr.strip().splitlines()
        assert lines and all(ln.startswith("planner: ") for ln in lines), (args, r.stderr)
        assert all(len(ln) <= 420 for ln in lines), (args, r.stderr[:500])
    else:
        COUNTS["accepted"] += 1


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A two-pool fleet, a plan for it, its files; every example copies from these."""
    from planner.goals import Evacuate
    from planner.solve import solve

    b = Builder()
    pa = b.pool("a")
    ha = [b.host(pa, f"a-0{i}") for i in range(1, 4)]
    sra = b.sr(pa, "a-nfs")
    na = b.network(pa, "net")
    pb = b.pool("b")
    b.host(pb, "b-01")
    b.sr(pb, "b-nfs")
    b.network(pb, "net")
    for i in range(4):
        b.vm(pa, f"vm-{i}", host=ha[0], disks=[(sra, 10)], networks=[na])
    b.vm(pa, "cold", disks=[(sra, 5)], networks=[na])
    inv = b.build()
    plan = solve(inv, Evacuate((ha[0],)), solver="greedy", time_limit=5.0, seed=0)
    d = tmp_path_factory.mktemp("fuzz-base")
    save(inv, d / "inv.json")
    save_plan(plan, d / "plan.json")
    return {
        "dir": d,
        "inv": json.loads((d / "inv.json").read_text()),
        "plan": to_dict(plan),
        "host": inv.hosts[0].name,
        "vm": inv.vms[0].name,
    }


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    line = (
        f"fuzz: {COUNTS['inputs']} inputs, {COUNTS['refused']} refused (exit 2), "
        f"{COUNTS['accepted']} accepted (exit 0/1), 0 tracebacks, 0 hangs"
    )
    cap = request.config.pluginmanager.get_plugin("capturemanager")
    if tr is not None and cap is not None:
        with cap.global_and_fixture_disabled():
            tr.write_line(line)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """The document with 1-3 values (at any depth) replaced by hostile ones, or a key
    dropped."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        if len(paths) < 2:
            break  # nothing left to mutate (every key dropped)
        names = [p for p in paths if p and p[-1] == "name"]
        if names and data.draw(st.booleans()):
            # a hostile name (XAPI lets any pool admin set one): the document stays
            # valid, so the commands get past loading with it
            path = data.draw(st.sampled_from(names))
            parent = doc
            for k in path[:-1]:
                parent = parent[k]
            parent["name"] = data.draw(st.sampled_from(HOSTILE_NAMES))
            continue
        path = data.draw(st.sampled_from(paths[1:]))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if not isinstance(parent, (dict, list)):
            continue
        if data.draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = data.draw(st.sampled_from(HOSTILE))
    return doc


def _write(path: Path, doc: Any, data: st.DataObject) -> None:
    text = json.dumps(doc)  # ensure_ascii: a lone surrogate becomes a \ud800 escape
    how = data.draw(st.sampled_from(["as is", "as is", "truncate", "nan", "deep"]))
    if how == "truncate":
        text = text[: data.draw(st.integers(0, max(0, len(text) - 1)))]
    elif how == "nan":
        text = text.replace("0", "NaN", 1)
    elif how == "deep":
        text = "[" * 50_000 + "]" * 50_000
    path.write_text(text)


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@SETTINGS
@given(data=st.data())
def test_fuzz_inventories(base, tmp_path_factory, data):
    d = tmp_path_factory.mktemp("inv")
    f = d / "inv.json"
    _write(f, _mutate(base["inv"], data), data)
    cmd = data.draw(
        st.sampled_from(
            [
                ["inventory", "validate", str(f)],
                ["inventory", "show", str(f)],
                [
                    "solve",
                    str(f),
                    "--solver",
                    "greedy",
                    "--time-limit",
                    "2",
                    "--evacuate",
                    base["host"],
                ],
                ["check", str(base["dir"] / "plan.json"), str(f)],
                ["whatif", str(f), "--solver", "greedy", "--time-limit", "1", "-s", "n-1"],
                ["explain", base["vm"], str(f)],
            ]
        )
    )
    run(cmd)


@SETTINGS
@given(data=st.data())
def test_fuzz_plans(base, tmp_path_factory, data):
    d = tmp_path_factory.mktemp("plan")
    f = d / "plan.json"
    _write(f, _mutate(base["plan"], data), data)
    inv = str(base["dir"] / "inv.json")
    cmd = data.draw(
        st.sampled_from(
            [
                ["check", str(f), inv],
                ["export", str(f), "--to", "xe", "--inventory", inv, "-o", str(d / "run.sh")],
                ["export", str(f), "--to", "csv"],
                [
                    "execute",
                    str(f),
                    "--url",
                    "127.0.0.1:9",
                    "--dry-run",
                    "--journal",
                    str(d / "j.db"),
                ],
                ["execute", "--status", "--journal", str(d / "j.db"), str(f)],
            ]
        )
    )
    run(cmd)


@SETTINGS
@given(data=st.data())
def test_fuzz_targets_and_journals(base, tmp_path_factory, data):
    d = tmp_path_factory.mktemp("tj")
    inv = str(base["dir"] / "inv.json")
    if data.draw(st.booleans()):
        f = d / "target.json"
        _write(f, _mutate({base["vm"]: base["host"]}, data), data)
        run(["solve", inv, "--solver", "greedy", "--time-limit", "2", "--target", str(f)])
        return
    j = d / "j.db"
    kind = data.draw(st.sampled_from(["bytes", "foreign", "empty", "truncated", "fifo"]))
    if kind == "bytes":
        j.write_bytes(data.draw(st.binary(max_size=300)))
    elif kind == "foreign":
        c = sqlite3.connect(j)
        c.execute("CREATE TABLE run (x)")
        c.commit()
        c.close()
    elif kind == "empty":
        j.write_bytes(b"")
    elif kind == "fifo":
        import os

        os.mkfifo(j)
    else:
        from planner.execute import journal as J
        from planner.plan import load

        J.Journal.open(j, load(base["dir"] / "plan.json")).close()
        raw = j.read_bytes()
        j.write_bytes(raw[: data.draw(st.integers(0, len(raw)))])
    run(["execute", "--status", "--journal", str(j), str(base["dir"] / "plan.json")])


OPTION_COMMANDS = [
    (
        ["solve", "{inv}", "--solver", "greedy", "--evacuate", "{host}"],
        [
            "--time-limit",
            "--workers",
            "--headroom",
            "--seed",
            "--max-moves",
            "--tolerance",
            "--evacuate",
            "--dask",
        ],
    ),
    (
        ["whatif", "{inv}", "--solver", "greedy", "--time-limit", "1"],
        ["--max-factor", "--step", "--headroom", "--processes", "--hosts"],
    ),
    (
        ["execute", "{plan}", "--url", "127.0.0.1:9", "--dry-run", "--journal", "{j}"],
        [
            "--poll",
            "--backoff",
            "--retries",
            "--max-per-pool",
            "--step-poll",
            "--settle",
            "--url",
            "--mode",
        ],
    ),
    (["generate", "-o", "{out}"], ["--pools", "--hosts", "--vms", "--seed"]),
    (["export", "{plan}", "--to", "xe"], ["--password-env", "--remote-password", "--to"]),
    (["collect", "-o", "{out}"], ["--timeout"]),
    (["explain", "{vm}", "{inv}"], ["--to", "--headroom", "--network-map"]),
    (["schema"], ["--help-not-an-option"]),
]


@SETTINGS
@given(data=st.data())
def test_fuzz_option_values(base, tmp_path_factory, data):
    d = tmp_path_factory.mktemp("opt")
    cmd, options = data.draw(st.sampled_from(OPTION_COMMANDS))
    fill = {
        "{inv}": str(base["dir"] / "inv.json"),
        "{plan}": str(base["dir"] / "plan.json"),
        "{host}": base["host"],
        "{vm}": base["vm"],
        "{j}": str(d / "j.db"),
        "{out}": str(d / "out.json"),
    }
    args = [fill.get(a, a) for a in cmd]
    for opt in data.draw(st.lists(st.sampled_from(options), min_size=1, max_size=2)):
        args += [opt, data.draw(st.sampled_from(HOSTILE_OPTION))]
    if cmd[0] == "collect":
        args.insert(1, data.draw(st.sampled_from(["http://[::1", "127.0.0.1:9", "garbage://x"])))
    run(args)


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_fuzz_export_names_never_run(tmp_path_factory, data):
    """Random names (any text, with planted commands mixed in) for pools and hosts: the
    exported script, run with a fake `xe`, never runs a planted command."""
    import subprocess
    from dataclasses import replace

    from planner.errors import InputError
    from planner.execute.export import to_xe_script
    from tests.execute.test_export import _attack_fleet, _fake_xe

    d = tmp_path_factory.mktemp("xe")
    mark = d / "PWNED"
    plant = st.sampled_from(
        [
            f"$(touch {mark})",
            f"`touch {mark}`",
            f"'; touch {mark}; '",
            f'"; touch {mark}; "',
            f"\ntouch {mark}\n",
            f"\\\ntouch {mark}",
        ]
    )
    name = st.builds(lambda a, p, b: a + p + b, st.text(max_size=20), plant, st.text(max_size=20))
    inv, plan = _attack_fleet(pool_name=data.draw(name), host_name=data.draw(name))
    vm_name = data.draw(name)
    inv = replace(inv, vms=tuple(replace(v, name=vm_name) for v in inv.vms))
    COUNTS["inputs"] += 1
    try:
        text = to_xe_script(plan, inv)
    except InputError:  # refused, e.g. a lone surrogate no file can hold
        COUNTS["refused"] += 1
        return
    try:
        script = d / "run.sh"
        script.write_text(text, encoding="utf-8")
    except UnicodeEncodeError:
        pytest.fail("the export produced text that cannot be written as UTF-8")
    _log, env = _fake_xe(d)
    r = subprocess.run(
        ["sh", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        cwd=d,
    )
    COUNTS["accepted"] += 1
    assert not mark.exists(), text
    assert r.returncode == 0, r.stderr
