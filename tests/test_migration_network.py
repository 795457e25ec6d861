"""Issue 17: the migration network. Inventory `ip_hosts` (validated, collected from PIFs
with an IP, served by the simulator); `options.migration_network`; the
MIGRATION_NETWORK_NO_IP rule."""

from __future__ import annotations

from planner.inventory import to_dict
from planner.inventory.builder import Builder
from planner.inventory.collect import collect, pif_has_ip
from planner.inventory.io import from_dict
from planner.inventory.validate import validate_document
from planner.sim import Simulator

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
    for i in range(4):
        b.vm(pa, f"vm{i}", host=a1, memory_gib=2, disks=[(sra, 10)], networks=[na],
             affinity=a1 if i % 2 else None)  # fmt: skip
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
        with_ip = {r["host"] for r in pifs.values()
                   if r["network"] == sim.state.ref_of[net.uuid] and r["IP"]}  # fmt: skip
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
    a_mgmt = next(k for k, n in enumerate(nets)
                  if n["name"] == "mgmt" and n["pool"] != nets[i]["pool"])  # fmt: skip
    a1 = doc["hosts"][0]["uuid"]
    assert _errors(doc) == []
    nets[i]["ip_hosts"] = ["nope", a1, 7]
    nets[i]["hosts"] = [h["b1"], h["b2"]]
    nets[a_mgmt]["ip_hosts"] = [a1, h["b1"]]
    nets[a_mgmt]["hosts"] = [a1]
    errs = _errors(doc)
    assert f"networks[{i}].ip_hosts[0]: no host with uuid 'nope'" in errs
    assert any(e.startswith(f"networks[{i}].ip_hosts[1]: host '{a1}'") and "another pool" in e
               for e in errs)  # fmt: skip
    assert any(e.startswith(f"networks[{i}].ip_hosts[2]: must be a string") for e in errs)
    assert any(e.startswith(f"networks[{a_mgmt}].ip_hosts[1]") for e in errs)
    # a host of the right pool without a PIF on the network cannot have an IP on it
    doc = to_dict(inv)
    doc["networks"][i]["hosts"] = [h["b1"]]
    assert any(f"networks[{i}].ip_hosts[1]" in e and "no PIF" in e for e in _errors(doc))
    doc = to_dict(inv)
    doc["networks"][i]["ip_hosts"] = "b1"
    assert any(e.startswith(f"networks[{i}].ip_hosts: must be a list") for e in _errors(doc))
