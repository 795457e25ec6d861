"""Issue 17: the migration network. Inventory `ip_hosts` (validated, collected from PIFs
with an IP, served by the simulator); `options.migration_network`; the
MIGRATION_NETWORK_NO_IP rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
from typer.testing import CliRunner

from planner.check import check_plan
from planner.cli import app
from planner.errors import InputError
from planner.explain import explain
from planner.goals import MovePool
from planner.inventory import save, to_dict
from planner.inventory.builder import Builder
from planner.inventory.collect import collect, pif_has_ip
from planner.inventory.io import from_dict
from planner.inventory.validate import validate_document
from planner.options import PlanOptions
from planner.plan import Migration
from planner.plan import load as load_plan
from planner.rules import codes, target_reasons
from planner.rules.migration_network import (
    migration_network_reasons,
    receiving_host,
    resolve_migration_networks,
)
from planner.rules.network import management_network_warnings
from planner.sim import Simulator
from planner.solve import solve

PW = "m1gr4te-Net-pw"


def storage_fleet():
    """Pools a (a1, a2) and b (b1, b2, b3), each with a management network; b also has a
    `storage` network with an IP on b1 and b2 only (b3 has a PIF on it but no IP)."""
    b = Builder()
    pa = b.pool("a")
    a1 = b.host(pa, "a1", memory_gib=64, version="8.2.1", hotfixes=("XS82ECU1033",))
    b.host(pa, "a2", memory_gib=64, version="8.2.1", hotfixes=("XS82ECU1033",))
    sra = b.sr(pa, "a-nfs", size_gib=2000)
    b.network(pa, "mgmt", management=True)
    na = b.network(pa, "vm-net")
    pb = b.pool("b")
    b1 = b.host(pb, "b1", memory_gib=64)
    b2 = b.host(pb, "b2", memory_gib=64)
    b3 = b.host(pb, "b3", memory_gib=64)
    b.sr(pb, "b-nfs", size_gib=2000)
    b.network(pb, "mgmt", management=True)
    b.network(pb, "vm-net")
    b.network(pb, "storage", ip_hosts=[b1, b2])
    b.network(pb, "backup", hosts=[b1], ip_hosts=[b1])
    for i in range(4):
        b.vm(
            pa,
            f"vm{i}",
            host=a1,
            memory_gib=2,
            disks=[(sra, 10)],
            networks=[na],
            affinity=a1 if i % 2 else None,
        )
    b.vm(pa, "cold", disks=[(sra, 5)], networks=[na])
    return b.build(), {"b1": b1, "b2": b2, "b3": b3}


def _errors(doc) -> list[str]:
    return [str(e) for e in validate_document(doc).errors]


# ------------------------------------------------------------------ inventory


def test_ip_hosts_round_trip_through_the_file_and_the_simulator():
    inv, h = storage_fleet()
    net = inv.network_by_uuid[inv.find("network", "storage")]
    assert set(net.ip_hosts) == {h["b1"], h["b2"]} and h["b3"] in net.hosts
    assert from_dict(to_dict(inv)).network_by_uuid[net.uuid].ip_hosts == net.ip_hosts
    with Simulator(inv, password=PW) as sim:
        pifs = sim.state.db.table(net.pool, "PIF")
        with_ip = {
            r["host"]
            for r in pifs.values()
            if r["network"] == sim.state.ref_of[net.uuid] and r["IP"]
        }
        assert with_ip == {sim.state.ref_of[h["b1"]], sim.state.ref_of[h["b2"]]}
        got = collect(list(sim.urls.values()), "root", PW)
    for n in inv.networks:
        assert set(got.network_by_uuid[n.uuid].ip_hosts) == set(n.ip_hosts), n.name
    mgmt = [n for n in got.networks if n.management]
    assert mgmt and all(set(n.ip_hosts) == set(n.hosts) for n in mgmt)


def test_pif_has_ip_follows_the_primary_address_type():
    assert pif_has_ip({"IP": "10.0.0.5", "ip_configuration_mode": "Static"})
    assert not pif_has_ip({"IP": "", "ip_configuration_mode": "None"})
    # DHCP without a lease yet: XAPI refuses it (INTERFACE_HAS_NO_IP)
    assert not pif_has_ip({"IP": "", "ip_configuration_mode": "DHCP"})
    v6 = {"primary_address_type": "IPv6", "IP": "10.0.0.5"}
    assert not pif_has_ip({**v6, "IPv6": ["fe80::1/64"]})  # link-local only
    assert pif_has_ip({**v6, "IPv6": ["fe80::1/64", "2001:db8::7/64"]})
    assert not pif_has_ip({**v6, "IPv6": ["garbage"]})


def test_ip_hosts_validation_names_each_bad_entry():
    inv, h = storage_fleet()
    doc = to_dict(inv)
    nets = doc["networks"]
    i = next(k for k, n in enumerate(nets) if n["name"] == "storage")
    a_mgmt = next(
        k for k, n in enumerate(nets) if n["name"] == "mgmt" and n["pool"] != nets[i]["pool"]
    )
    a1 = doc["hosts"][0]["uuid"]
    assert _errors(doc) == []
    nets[i]["ip_hosts"] = ["nope", a1, 7]
    nets[i]["hosts"] = [h["b1"], h["b2"]]
    nets[a_mgmt]["ip_hosts"] = [a1, h["b1"]]
    nets[a_mgmt]["hosts"] = [a1]
    errs = _errors(doc)
    assert f"networks[{i}].ip_hosts[0]: no host with uuid 'nope'" in errs
    assert any(
        e.startswith(f"networks[{i}].ip_hosts[1]: host '{a1}'") and "another pool" in e
        for e in errs
    )
    assert any(e.startswith(f"networks[{i}].ip_hosts[2]: must be a string") for e in errs)
    assert any(e.startswith(f"networks[{a_mgmt}].ip_hosts[1]") for e in errs)
    # a host of the right pool without a PIF on the network cannot have an IP on it
    doc = to_dict(inv)
    doc["networks"][i]["hosts"] = [h["b1"]]
    assert any(f"networks[{i}].ip_hosts[1]" in e and "no PIF" in e for e in _errors(doc))
    doc = to_dict(inv)
    doc["networks"][i]["ip_hosts"] = "b1"
    assert any(e.startswith(f"networks[{i}].ip_hosts: must be a list") for e in _errors(doc))


# ------------------------------------------------------------------ options and the rule


def _vm(inv, name):
    return inv.vm_by_uuid[inv.find("vm", name)]


def test_resolve_migration_networks_by_name_or_uuid_within_the_pool():
    inv, _ = storage_fleet()
    pb, storage = inv.find("pool", "b"), inv.find("network", "storage")
    assert resolve_migration_networks(inv, ["b=storage"]) == {pb: storage}
    assert resolve_migration_networks(inv, [f"{pb}={storage}"]) == {pb: storage}
    # "mgmt" is a name in both pools: the pool decides which one
    got = resolve_migration_networks(inv, ["a=mgmt"])
    assert inv.network_by_uuid[got[inv.find("pool", "a")]].pool == inv.find("pool", "a")
    with pytest.raises(InputError) as e:
        resolve_migration_networks(inv, ["b", "a=storage", "c=x", "b=storage", "b=mgmt"])
    assert e.value.message == "4 bad migration networks"
    text = "\n".join(e.value.problems)
    assert "'b': expected POOL=NETWORK" in text
    assert "no network named or with uuid 'storage' in pool a" in text
    assert "no pool named or with uuid 'c'" in text
    assert "'b=mgmt': pool b already has storage" in text


def test_rule_refuses_a_host_without_an_ip_on_the_migration_network():
    inv, h = storage_fleet()
    pb, storage = inv.find("pool", "b"), inv.find("network", "storage")
    named = {pb: storage}
    for kind in ("storage", "move"):
        assert migration_network_reasons(inv, kind, h["b1"], pb, named) == []
        r = migration_network_reasons(inv, kind, h["b3"], pb, named)
        assert [x.code for x in r] == [codes.MIGRATION_NETWORK_NO_IP]
        assert "b3" in r[0].message and "no IP" in r[0].message
    # a live migration does not go through host.migrate_receive
    assert migration_network_reasons(inv, "live", h["b3"], pb, named) == []
    # without a named network the management network (an IP on every host) carries it
    assert migration_network_reasons(inv, "storage", h["b3"], pb, {}) == []
    # a halted move without a to_host is received by the pool master (b1)
    assert migration_network_reasons(inv, "move", None, pb, named) == []
    # a network of another pool is refused
    bad = {pb: _net(inv, "a", "vm-net")}
    assert [x.code for x in migration_network_reasons(inv, "storage", h["b1"], pb, bad)] == [
        codes.MIGRATION_NETWORK_NO_IP
    ]
    # the same function decides for target_reasons (the problem builder, check, explain,
    # pre-flight)
    vm = _vm(inv, "vm0")
    opts = PlanOptions(migration_network=named)
    assert codes.MIGRATION_NETWORK_NO_IP in {
        x.code
        for x in target_reasons(
            inv, vm, "storage", h["b3"], pb, {vm.disks[0].uuid: _sr(inv, "b-nfs")}, opts
        )
    }
    cands = explain(inv, "vm0", to="b3", options=opts).candidates
    assert cands and all(
        codes.MIGRATION_NETWORK_NO_IP in {r.code for r in c.reasons} for c in cands
    )


def _net(inv, pool, name):
    p = inv.find("pool", pool)
    return next(n.uuid for n in inv.networks_in_pool[p] if n.name == name)


def _sr(inv, name):
    return inv.find("sr", name)


def test_solver_avoids_hosts_without_an_ip_and_check_catches_a_plan_that_does_not():
    inv, h = storage_fleet()
    pb, storage = inv.find("pool", "b"), inv.find("network", "storage")
    opts = PlanOptions(migration_network={pb: storage})
    plan = solve(
        inv, MovePool((inv.find("pool", "a"),), (pb,)), opts, solver="greedy", time_limit=10, seed=0
    )
    assert not plan.unplaced
    assert {m.to_host for m in plan.migrations() if m.to_host} <= {h["b1"], h["b2"]}
    assert check_plan(inv, plan).ok
    assert plan.options.migration_network == {pb: storage}
    # the named network silences the target pool's MANAGEMENT_NETWORK warning
    warned = [w.message for w in plan.warnings if w.code == codes.MANAGEMENT_NETWORK]
    assert len(warned) == 1 and warned[0].startswith("pool a:")
    # the same moves sent to b3 break the rule, and the checker says so
    m = next(m for m in plan.migrations() if m.to_host)
    bad = replace(
        plan,
        waves=tuple(
            replace(
                w,
                migrations=tuple(
                    replace(x, to_host=h["b3"]) if x.id == m.id else x for x in w.migrations
                ),
            )
            for w in plan.waves
        ),
    )
    assert codes.MIGRATION_NETWORK_NO_IP in check_plan(inv, bad).codes()


def test_management_warning_counts_live_moves_even_with_a_named_network():
    inv, h = storage_fleet()
    pb, storage = inv.find("pool", "b"), inv.find("network", "storage")
    live = Migration("m1", "v", "live", h["b1"], h["b2"], pb, pb)
    store = Migration("m2", "v", "storage", h["b1"], h["b2"], pb, pb)
    named = {pb: storage}
    assert len(management_network_warnings(inv, [live], named)) == 1
    assert management_network_warnings(inv, [store], named) == ()
    assert len(management_network_warnings(inv, [store], {})) == 1


def test_cli_solve_takes_migration_networks_and_reports_bad_ones(tmp_path):
    inv, h = storage_fleet()
    path = tmp_path / "inv.json"
    save(inv, path)
    out = tmp_path / "plan.json"
    r = CliRunner().invoke(
        app,
        [
            "solve",
            str(path),
            "--move-pool",
            "a",
            "--to",
            "b",
            "--migration-network",
            "b=storage",
            "--solver",
            "greedy",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    plan = load_plan(out)
    assert plan.options.migration_network == {inv.find("pool", "b"): inv.find("network", "storage")}
    assert h["b3"] not in {m.to_host for m in plan.migrations()}
    r = CliRunner().invoke(
        app, ["solve", str(path), "--move-pool", "a", "--to", "b", "--migration-network", "b=nope"]
    )
    assert r.exit_code == 2
    assert "bad migration network" in r.output and "Traceback" not in r.output


def test_cli_explain_shows_the_rule_with_its_remedy(tmp_path):
    inv, _ = storage_fleet()
    path = tmp_path / "inv.json"
    save(inv, path)
    r = CliRunner().invoke(
        app,
        ["explain", "vm0", str(path), "--to", "b3", "--migration-network", "b=storage"],
        env={"COLUMNS": "200"},
    )
    assert r.exit_code == 0, r.output
    assert "MIGRATION_NETWORK_NO_IP" in r.output
    r = CliRunner().invoke(app, ["explain", "vm0", str(path), "--to", "b3"], env={"COLUMNS": "200"})
    assert "MIGRATION_NETWORK_NO_IP" not in r.output


def test_ip_hosts_check_survives_malformed_neighbours():
    """Regression (found by the mutation test): an unhashable `pool` or `hosts` item next
    to `ip_hosts` is reported by its own check, not a TypeError."""
    inv, _ = storage_fleet()
    doc = to_dict(inv)
    n = next(x for x in doc["networks"] if x["name"] == "storage")
    n["pool"], n["hosts"] = [], [[], *n["hosts"]]
    errs = _errors(doc)
    assert errs and all(e.startswith("networks[") for e in errs)


def test_receiving_host_of_a_move_without_to_host_follows_the_target_srs():
    """As the executor picks it: the master if it sees every target SR, else the first
    enabled host that does (a local SR): that host needs the IP."""
    b = Builder()
    pa = b.pool("a")
    b.host(pa, "a1")
    sra = b.sr(pa, "a-nfs")
    pb = b.pool("b")
    b1 = b.host(pb, "b1")
    b2 = b.host(pb, "b2")
    b.sr(pb, "b-nfs")
    local = b.sr(pb, "b2-local", shared=False, host=b2)
    b.network(pb, "storage", ip_hosts=[b1])
    b.vm(pa, "cold", disks=[(sra, 5)])
    inv = b.build()
    named = {pb: inv.find("network", "storage")}
    assert receiving_host(inv, None, pb, [inv.find("sr", "b-nfs")]) == b1
    assert receiving_host(inv, None, pb, [local]) == b2
    assert migration_network_reasons(inv, "move", None, pb, named, [inv.find("sr", "b-nfs")]) == []
    r = migration_network_reasons(inv, "move", None, pb, named, [local])
    assert [x.code for x in r] == [codes.MIGRATION_NETWORK_NO_IP] and "b2" in r[0].message
