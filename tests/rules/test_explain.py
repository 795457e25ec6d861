"""`explain`: candidate targets with their reasons, remedies first, and the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import LookupFailed
from planner.explain import explain
from planner.inventory import save
from planner.inventory.builder import GIB, Builder
from planner.options import PlanOptions
from planner.rules import codes


def fleet():
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1", memory_gib=64, overhead_gib=2)
    b.host(a, "h2", memory_gib=10, overhead_gib=2)  # 8 GiB for guests
    b.host(a, "h3", memory_gib=64, overhead_gib=2, enabled=False)
    local = b.sr(a, "local1", shared=False, host=h1)
    nfs = b.sr(a, "nfs", size_gib=100)
    net = b.network(a, "vm-net")
    b.vm(a, "web", host=h1, memory_gib=8, disks=[(nfs, 10)], networks=[net])
    b.vm(a, "big", host=h1, memory_gib=9, disks=[(nfs, 10)], networks=[net])
    b.vm(a, "loc", host=h1, memory_gib=2, disks=[(local, 10)], networks=[net])
    b.vm(a, "cbt", host=h1, memory_gib=2, disks=[(nfs, 10)], cbt=True)
    b.vm(a, "cold", memory_gib=4, disks=[(nfs, 10)], networks=[net])
    pb = b.pool("b")
    b.host(pb, "g1")
    b.host(pb, "g2")
    b.sr(pb, "nfs-b", size_gib=1000)
    b.network(pb, "vm-net")
    return b.build()


def by_host(e, inv):
    return {(inv.label(c.host), inv.label(c.sr)): c for c in e.candidates}


def test_running_vm_candidates_with_memory_figures():
    inv = fleet()
    e = explain(inv, "web")
    rows = by_host(e, inv)
    assert set(rows) == {("h2", "-"), ("h3", "-")}  # every other host of its pool
    assert rows["h2", "-"].eligible  # exactly 8 GiB free for an 8 GiB VM
    assert rows["h2", "-"].free_memory_bytes == 8 * GIB
    assert {r.code for r in rows["h3", "-"].reasons} == {codes.HOST_DISABLED}
    big = by_host(explain(inv, "big"), inv)
    assert {r.code for r in big["h2", "-"].reasons} == {codes.MEMORY}


def test_dmc_and_headroom_change_the_figures():
    inv = fleet()
    e = explain(inv, "web", to="h2", options=PlanOptions(headroom_fraction=0.1))
    assert e.candidates[0].free_memory_bytes == 8 * GIB - GIB
    assert not e.candidates[0].eligible


def test_local_disk_gets_storage_rows():
    inv = fleet()
    rows = by_host(explain(inv, "loc", to="h2"), inv)
    assert {r.code for r in rows["h2", "-"].reasons} == {codes.SR_NOT_ATTACHED}
    storage = rows["h2", "nfs"]
    assert storage.kind == "storage" and storage.eligible
    assert storage.free_sr_bytes == inv.sr_by_uuid[inv.find("sr", "nfs")].size_bytes - (
        inv.sr_by_uuid[inv.find("sr", "nfs")].used_bytes
    )


def test_excluded_vm_comes_with_its_remedy():
    inv = fleet()
    e = explain(inv, "cbt", to="b")
    assert [x.code for x in e.exclusions] == [codes.CBT]
    assert "disable changed block tracking" in e.exclusions[0].remedy
    assert e.exclusions[0].kinds == ("storage", "move")
    assert all(codes.CBT in {r.code for r in c.reasons} for c in e.candidates)
    # a live migration inside its pool is not blocked by CBT
    assert by_host(explain(inv, "cbt", to="h2"), inv)["h2", "-"].eligible


def test_cross_pool_candidates_and_vif_mapping():
    inv = fleet()
    e = explain(inv, "web", to="b")
    assert {(inv.label(c.host), inv.label(c.sr)) for c in e.candidates} == {
        ("g1", "nfs-b"),
        ("g2", "nfs-b"),
    }
    assert all(c.kind == "storage" and c.eligible for c in e.candidates)
    assert [(v.device, inv.label(v.to_network)) for v in e.vifs] == [("0", "vm-net")]
    assert inv.network_by_uuid[e.vifs[0].to_network].pool == inv.find("pool", "b")


def test_halted_vm_lists_srs():
    inv = fleet()
    e = explain(inv, "cold", to="b")
    assert [(c.kind, inv.label(c.host), inv.label(c.sr)) for c in e.candidates] == [
        ("move", "-", "nfs-b")
    ]
    assert e.candidates[0].eligible


def test_unknown_vm_or_target():
    inv = fleet()
    with pytest.raises(LookupFailed, match="did you mean web"):
        explain(inv, "wbe")
    with pytest.raises(LookupFailed, match="nor a pool"):
        explain(inv, "web", to="nowhere")


def test_cli_explain(tmp_path):
    inv = fleet()
    path = tmp_path / "inv.json"
    save(inv, path)
    runner = CliRunner()
    r = runner.invoke(app, ["explain", "cbt", str(path), "--to", "b"])
    assert r.exit_code == 0, r.output
    out = r.output
    assert out.index("CBT") < out.index("remedy") < out.index("g1")
    r = runner.invoke(
        app, ["explain", "web", str(path), "--to", "b", "--network-map", "a/vm-net=nosuch"]
    )
    assert r.exit_code == 2
    assert "nosuch" in r.stderr and "Traceback" not in r.output
    r = runner.invoke(app, ["explain", "nobody", str(path)])
    assert r.exit_code == 2 and r.stderr.startswith("planner: no vm named")
