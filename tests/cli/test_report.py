"""`planner report`: one self-contained HTML file (or Markdown) that says what the plan
does, rendered by a real headless Chromium where one is installed."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.inventory import load, sample_path, save
from planner.inventory.builder import Builder
from planner.plan import load as load_plan
from planner.report import render
from planner.rules.codes import REMEDY
from tests.helpers.png import assert_not_blank
from tests.helpers.solving import assert_checked

runner = CliRunner()


def _files(tmp_path, *, ha: bool = True):
    """An inventory where evacuating xs-01 leaves the HA-protected VM unplaced, and the
    plan for it (solved through the CLI, checked by the replay checker)."""
    b = Builder()
    p = b.pool("lab", ha=ha)
    h1 = b.host(p, "xs-01")
    b.host(p, "xs-02")
    sr = b.sr(p, "nfs")
    local = b.sr(p, "xs-01-local", shared=False, host=h1)
    for i in range(4):
        b.vm(p, f"web-{i}", host=h1, disks=[(sr, 10)], ha_protected=ha and i == 0)
    b.vm(p, "db-0", host=h1, disks=[(local, 40)])
    inv_path = tmp_path / "inv.json"
    save(b.build(), inv_path)
    plan_path = tmp_path / "plan.json"
    r = runner.invoke(
        app,
        ["solve", str(inv_path), "--evacuate", "xs-01", "--solver", "greedy", "-o", str(plan_path)],
    )
    assert r.exit_code in (0, 1), r.output
    inv, plan = load(inv_path), load_plan(plan_path)
    assert_checked(inv, plan)
    return inv_path, plan_path, inv, plan


def test_html_report_has_every_section_and_no_outside_resource(tmp_path):
    _, plan_path, inv, plan = _files(tmp_path)
    assert plan.unplaced and any(m.kind == "storage" for m in plan.migrations())
    text = render(plan, inv, plan_doc=json.loads(plan_path.read_text()))
    for heading in (
        "Summary",
        "Unplaced VMs by reason",
        "Schedule",
        "Host memory before and after",
        "Migrations (",
        "Warnings (",
        "Digests",
    ):
        assert f">{heading}" in text, heading
    assert "Evacuate xs-01" in text and "Replay check" in text and "safe: every replay" in text
    # unplaced by reason, with the remedy of docs/rules.md
    assert "HA_PROTECTED" in text and html.escape(REMEDY["HA_PROTECTED"]) in text
    # the migration table: names, kinds, disks, planned start and end as h:mm
    assert re.search(r"<td class=num>0:00:00</td><td class=num>\d+:\d\d:\d\d</td>", text)
    assert "xs-01-local → nfs" in text and ">db-0<" in text and ">storage<" in text
    # digests: the plan file's canonical JSON, and the inventory's
    doc = json.loads(plan_path.read_text())
    want = hashlib.sha256(
        json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert want in text and plan.inventory_digest in text
    # self-contained: no script, no link, nothing fetched from elsewhere
    assert not re.search(r"<script|<link|@import|url\(|src=\"(?!data:)|https?://", text)
    for anchor in re.findall(r'href="#([^"]+)"', text):  # the section links lead somewhere
        assert f"id={anchor}>" in text, anchor
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 2  # schedule and memory
    for b64 in images:
        assert_not_blank(base64.b64decode(b64))


def test_report_without_inventory_shows_uuids_and_says_what_is_missing(tmp_path):
    _, _, _, plan = _files(tmp_path)
    text = render(plan)
    assert plan.unplaced[0].vm in text  # a uuid, not a name
    assert "not run (no inventory given)" in text
    assert "Give the inventory" in text
    assert len(re.findall(r"data:image/png", text)) == 1  # the schedule only


def test_restart_advice_hook(tmp_path):
    import dataclasses

    _, _, inv, plan = _files(tmp_path)
    advised = dataclasses.replace(
        plan,
        solver=dataclasses.replace(
            plan.solver,
            restart_advice=(
                {"vm": "web-1", "message": "restart web-1 to use the newer CPU features"},
            ),
        ),
    )
    assert "Restart advice" not in render(plan, inv, figures=False)
    with pytest.raises(Exception, match="another inventory"):
        render(advised, load(sample_path()))
    # the advice does not change the migrations, so the plan stays checkable
    text = render(advised, inv, figures=False)
    assert "Restart advice" in text and "restart web-1 to use the newer CPU" in text


def test_cli_defaults_to_the_bundled_sample_only_for_a_plan_made_for_it(tmp_path):
    plan_path = tmp_path / "sample-plan.json"
    r = runner.invoke(
        app, ["solve", "--evacuate", "xs-02", "--solver", "greedy", "-o", str(plan_path)]
    )
    assert r.exit_code in (0, 1), r.output
    assert_checked(load(sample_path()), load_plan(plan_path))
    r = runner.invoke(app, ["report", str(plan_path), "-o", "-", "--format", "md"])
    assert r.exit_code == 0, r.output
    assert "Evacuate xs-02" in r.stdout and "safe: every replay rule holds" in r.stdout
    _, other, _, _ = _files(tmp_path)
    r = runner.invoke(app, ["report", str(other), "-o", "-", "--format", "md"])
    assert r.exit_code == 0, r.output
    assert "not run (no inventory given)" in r.stdout


def test_cli_writes_html_markdown_and_stdout(tmp_path):
    inv_path, plan_path, _, plan = _files(tmp_path)
    r = runner.invoke(app, ["report", str(plan_path), str(inv_path)])
    assert r.exit_code == 0, r.output
    html_path = plan_path.with_suffix(".html")
    assert html_path.read_text().startswith("<!DOCTYPE html>")
    assert f"wrote {html_path}" in r.stderr
    r = runner.invoke(app, ["report", str(plan_path), str(inv_path), "-o", "-", "--format", "md"])
    assert r.exit_code == 0, r.output
    md = r.stdout
    assert md.startswith("# Plan report: Evacuate xs-01")
    assert "| HA_PROTECTED | 1 |" in md and "| Start | End | Wave | VM |" in md
    rows = [line for line in md.splitlines() if re.match(r"\| [\d:]+ \| [\d:]+ \|", line)]
    assert len(rows) == sum(1 for _ in plan.migrations())
    out = tmp_path / "ticket.md"
    r = runner.invoke(app, ["report", str(plan_path), "-o", str(out)])
    assert r.exit_code == 0 and out.read_text().startswith("# Plan report")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "pdf", "-o", "-"], "--format: must be one of html, md"),
        (["-o", "{plan}"], "is the plan file itself"),
        (["{sample}", "-o", "-"], "plan was made for another inventory"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path, args, message):
    _, plan_path, _, _ = _files(tmp_path)
    args = [a.format(plan=plan_path, sample=sample_path()) for a in args]
    r = runner.invoke(app, ["report", str(plan_path), *args])
    assert r.exit_code == 2, r.output
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


CHROMIUM = next(
    (
        p
        for p in (
            shutil.which("chromium"),
            shutil.which("chromium-browser"),
            shutil.which("google-chrome"),
        )
        if p
    ),
    None,
)

# appended to a copy of the report (the report itself has no script): after load, writes
# how many images decoded into the page title, so --dump-dom shows it
PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 100).length;
  document.title = "PROBE images " + ok + "/" + imgs.length;
});
</script>"""


def _chromium(*args: str, tmp_path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium installed (Debian: apt-get install chromium; CI's .ci/run installs it)",
)
def test_report_renders_in_headless_chromium(tmp_path):
    inv_path, plan_path, _, _ = _files(tmp_path)
    out = tmp_path / "report.html"
    r = runner.invoke(app, ["report", str(plan_path), str(inv_path), "-o", str(out)])
    assert r.exit_code == 0, r.output
    shot = tmp_path / "shot.png"
    # --host-resolver-rules: any attempt to reach the network fails, so the page must
    # render from the file alone
    run = _chromium(
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        out.as_uri(),
        tmp_path=tmp_path,
    )
    assert shot.exists(), run.stderr[-2000:]
    assert_not_blank(shot.read_bytes())
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    probe = tmp_path / "probe.html"
    probe.write_text(out.read_text().replace("</body>", PROBE + "</body>"))
    dom = _chromium("--dump-dom", probe.as_uri(), tmp_path=tmp_path)
    assert "PROBE images 2/2" in dom.stdout, dom.stdout[:500]
    assert "Unplaced VMs by reason" in dom.stdout and "HA_PROTECTED" in dom.stdout


def test_digest_of_a_file_with_unknown_keys_shows_the_journal_digest_too(tmp_path):
    from planner.execute.journal import plan_digest

    _, plan_path, inv, plan = _files(tmp_path)
    doc = json.loads(plan_path.read_text())
    same = render(plan, inv, plan_doc=doc, figures=False)
    assert "executor&#x27;s journal" not in same and plan_digest(plan) in same
    doc["x-reviewed-by"] = "change board"  # an added key: the file differs, the plan not
    text = render(plan, inv, plan_doc=doc, figures=False)
    assert "executor&#x27;s journal" in text and plan_digest(plan) in text


def test_without_matplotlib_the_report_says_where_the_figures_would_be(tmp_path, monkeypatch):
    import sys

    _, _, inv, plan = _files(tmp_path)
    monkeypatch.setitem(sys.modules, "planner.plots", None)  # import fails: no extra
    text = render(plan, inv)
    assert "data:image" not in text and text.count("Figures need matplotlib") == 2
    assert ">Migrations (" in text
