"""`--log-file` of collect and execute: JSON lines with full ISO timestamps and a time
zone, retries with their attempt number, and no password anywhere (searched for)."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime

from typer.testing import CliRunner

from planner.cli import app, logs
from planner.plan import save as save_plan
from planner.sim import Simulator
from tests.helpers.execsim import PASSWORD, PW_ENV, cli_args, evacuation_plan, fleet

runner = CliRunner()


def _records(path) -> list[dict]:
    lines = path.read_text().splitlines()
    assert lines, "empty log"
    out = [json.loads(line) for line in lines]
    for r in out:
        ts = datetime.fromisoformat(r["ts"])
        assert ts.tzinfo is not None and ts.utcoffset() is not None, r["ts"]
        assert "T" in r["ts"] and r["level"] and r["message"]
    return out


def test_execute_log_has_every_event_retries_with_attempts_and_no_password(tmp_path):
    inv, hosts = fleet(12)
    plan = evacuation_plan(inv, hosts)
    pf, jf, log = tmp_path / "plan.json", tmp_path / "run.journal", tmp_path / "run.log"
    save_plan(plan, pf)
    with Simulator(inv, speed=1000, password=PASSWORD, fail_rate=0.1, seed=3) as sim:
        r = runner.invoke(
            app,
            cli_args(pf, sim, jf, "--retries", "6", "--log-file", str(log), "--progress"),
            env={PW_ENV: PASSWORD},
        )
        failures = [a for a in sim.audit() if a["result"] != "success"]
    assert r.exit_code == 0, r.output
    recs = _records(log)
    done = [x for x in recs if x.get("event") == "done"]
    assert len(done) == 12 and {x["migration"] for x in done} == {m.id for m in plan.migrations()}
    assert failures, "seed 3 at 10% makes failures: the retry path must run"
    retries = [x for x in recs if x.get("event") == "retry"]
    assert len(retries) == len(failures)
    assert all("attempt " in x["message"] and "of at most 7 in " in x["message"] for x in retries)
    assert any(x.get("event") == "summary" for x in recs)
    assert "file_only" not in log.read_text()
    # --progress: the bars on stderr, ETA as h:mm:ss, each retry once with its attempt
    assert re.search(r"ETA \d+:\d\d:\d\d", r.stderr), r.stderr
    assert " ".join(r.stderr.split()).count("attempt 2 of at most 7") == sum(
        1 for x in retries if "attempt 1 failed" in x["message"]
    )
    assert "summary: done 12" in r.stdout
    raw = log.read_bytes() + r.output.encode()
    raw += b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("run."))
    assert PASSWORD.encode() not in raw


def test_collect_log_per_pool_and_a_refused_login_logs_no_password(tmp_path):
    inv, _ = fleet(4)
    log = tmp_path / "collect.log"
    with Simulator(inv, password=PASSWORD) as sim:
        urls = list(sim.urls.values())
        r = runner.invoke(
            app,
            [
                "collect",
                *urls,
                "--password-env",
                PW_ENV,
                "-o",
                str(tmp_path / "inv.json"),
                "--log-file",
                str(log),
            ],
            env={PW_ENV: PASSWORD},
        )
        assert r.exit_code == 0, r.output
        bad = runner.invoke(
            app,
            [
                "collect",
                urls[0],
                "--password-env",
                PW_ENV,
                "-o",
                str(tmp_path / "x.json"),
                "--log-file",
                str(log),
            ],
            env={PW_ENV: PASSWORD + "-wrong"},
        )
    assert bad.exit_code == 2
    recs = _records(log)
    pools = {x.get("pool") for x in recs if x.get("pool")}
    assert pools == {p.name for p in inv.pools}
    assert any(x["level"] == "ERROR" and "login refused" in x["message"] for x in recs)
    text = log.read_text()
    assert PASSWORD not in text


def test_a_secret_that_slips_into_a_message_is_redacted(tmp_path):
    path = tmp_path / "l.jsonl"
    log = logs.configure(path, secrets=["hunter2"], tty=False)
    try:
        logging.getLogger("planner.test").warning(
            "server said: bad password %s", "hunter2", extra={"detail": "x hunter2 y"}
        )
    finally:
        logs.close()
    rec = _records(path)[0]
    assert "hunter2" not in path.read_text()
    assert rec["message"] == "server said: bad password ***" and rec["detail"] == "x *** y"
    assert log.name == "planner"
