"""The collector against the simulator: round trips equal on every FORMATS.md key, and
every failure (wrong password, refused connection, TLS, timeout) is one clear line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xmlrpc.client

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import ConnectionFailed
from planner.inventory import from_dict, load, sample_path, to_dict
from planner.inventory.builder import AMD, Builder
from planner.inventory.collect import (
    McsRule,
    _describe,
    collect,
    collect_with_warnings,
    convert_pool,
    fast_loads,
    normalize_url,
)
from planner.sim import Simulator

PW = "Tr0ub4dor&3-collect"  # distinctive, so a leak is easy to spot
PW_ENV = "XP_TEST_COLLECT_PW"
PLANNER = [sys.executable, "-c", "from planner.cli import main; main()"]
KEYS = ("pools", "hosts", "srs", "networks", "vms")


def assert_same(original, collected) -> None:
    """Equal on every FORMATS.md object key; top-level order may differ (pool by pool)."""
    a, b = to_dict(original), to_dict(collected)
    for key in KEYS:
        left = {x["uuid"]: x for x in a[key]}
        right = {x["uuid"]: x for x in b[key]}
        assert left.keys() == right.keys(), key
        for uuid, obj in left.items():
            assert right[uuid] == obj, (key, obj["name"])


def edge_fleet():
    """Every mapping decision at least once: power states, tools/OS combinations, MCS,
    PCI, vGPU, SR-IOV, CBT, on-boot reset, hotfixes, HTTPS-only, compression, partial
    attachments, local SRs, VMs without disks or VIFs, affinities."""
    b = Builder()
    p = b.pool("edge", ha=True, compression=True, https_only=True)
    h1 = b.host(p, "e1", memory_gib=128, hotfixes=("XS84E001", "XS84E003"))
    h2 = b.host(p, "e2", memory_gib=96, overhead_gib=3.3, features="1fcbfbff-f7fa3223")
    h3 = b.host(
        p,
        "e3",
        memory_gib=64,
        enabled=False,
        version="8.2.1",
        vendor=AMD,
        model="EPYC 7543",
        cpus=64,
    )
    nfs = b.sr(p, "nfs", size_gib=3000, default=True)
    local = b.sr(p, "local-e1", size_gib=500, shared=False, host=h1, used_gib=123)
    part = b.sr(p, "iscsi-part", size_gib=800, type="lvmoiscsi")
    mgmt = b.network(p, "management", management=True)
    vmnet = b.network(p, "vm-net", hosts=[h1, h2])
    sriov = b.network(p, "sriov", sriov=True, hosts=[h1])
    b.vm(
        p,
        "win-tools",
        host=h1,
        os="windows",
        disks=[(nfs, 60), (local, 10)],
        networks=[vmnet, mgmt],
        tags=["prod", "windows"],
        ha_protected=True,
    )
    b.vm(
        p,
        "win-notools",
        host=h2,
        os="windows",
        tools=False,
        disks=[(nfs, 40)],
        networks=[vmnet],
        memory_gib=6,
        memory_min_gib=3,
    )
    b.vm(p, "linux-notools", host=h1, tools=False, disks=[(part, 20)], networks=[vmnet])
    b.vm(p, "bsd", host=h1, os="other", disks=[(nfs, 8)], networks=[vmnet])
    b.vm(p, "bsd-notools", power_state="Halted", os="other", tools=False, disks=[(nfs, 8)])
    b.vm(
        p,
        "paused",
        host=h2,
        power_state="Paused",
        disks=[(nfs, 10)],
        networks=[vmnet],
        cpu_features="1fcbfbff-f7fa3023",
    )
    b.vm(p, "suspended", power_state="Suspended", disks=[(nfs, 10)], networks=[vmnet], affinity=h2)
    b.vm(p, "halted-home", disks=[(nfs, 10), (nfs, 30)], affinity=h1, cbt=True)
    b.vm(
        p,
        "mcs-desktop",
        host=h1,
        mcs=True,
        os="windows",
        disks=[(nfs, 32)],
        networks=[vmnet],
        on_boot="reset",
    )
    b.vm(p, "gpu", host=h1, vgpu=True, pci=True, disks=[(local, 50)], networks=[sriov])
    b.vm(p, "bare", host=h2, memory_gib=0.5, vcpus=1)
    b.vm(p, "amd-guest", host=h3, disks=[(nfs, 5)])
    q = b.pool("plain")
    b.host(q, "q1", memory_gib=64)
    b.network(q, "vm-net")
    b.vm(q, "lonely", power_state="Halted", memory_gib=2)
    return b.build()


# ------------------------------------------------------------------ round trips


def test_round_trip_edge_fleet():
    inv = edge_fleet()
    with Simulator(inv, password=PW) as sim:
        got, warnings = collect_with_warnings(list(sim.urls.values()), "root", PW)
        assert sim.state.sessions == {}  # logged out of every pool
    assert warnings == []
    assert_same(inv, got)
    assert got.source.startswith("xapi: http://127.0.0.1:")


@pytest.mark.parametrize("name", ["sample", "two-pools"])
def test_round_trip_bundled_samples(name):
    path = sample_path(name)
    if not path.exists():
        pytest.skip(f"{path.name} not written yet")
    inv = load(path)
    with Simulator(inv, password=PW) as sim:
        got = collect(list(sim.urls.values()), "root", PW)
    assert_same(inv, got)


def test_round_trip_generated_fleet():
    from planner.inventory.generate import generate

    inv = from_dict(generate(3, 4, 40, seed=5))
    with Simulator(inv, password=PW, seed=9) as sim:
        got = collect(list(sim.urls.values()), "root", PW)
    assert_same(inv, got)


def test_untouched_simulator_gives_back_the_same_document():
    inv = edge_fleet()
    with Simulator(inv) as sim:
        assert to_dict(sim.inventory()) == to_dict(inv)  # order, taken_at and source too


def test_templates_snapshots_and_control_domains_are_left_out():
    inv = edge_fleet()
    with Simulator(inv, password=PW) as sim:
        x = sim.state.db
        pool = inv.find("pool", "edge")
        all_vms = x.table(pool, "VM")
        odd = [
            r
            for r in all_vms.values()
            if r["is_a_template"] or r["is_a_snapshot"] or r["is_control_domain"]
        ]
        assert len(odd) >= 3 + 2 + 1  # a dom0 per host, two templates, a snapshot
        got = collect([sim.urls[pool]], "root", PW)
    assert len(got.vms) == len(inv.vms_in_pool[pool])
    assert not {v.name for v in got.vms} & {r["name_label"] for r in odd}
    assert all(s.type not in ("iso", "udev") for s in got.srs)


def test_what_cannot_be_mapped_is_a_warning():
    inv = edge_fleet()
    with Simulator(inv, password=PW) as sim:
        st = sim.state
        vm_ref = st.ref_of[inv.find("vm", "bsd")]
        disk_vbd = next(v for v in st.db.get(vm_ref)["VBDs"] if st.db.get(v)["type"] == "Disk")
        st.db.get(disk_vbd)["VDI"] = "OpaqueRef:NULL"  # a disk drive with nothing in it
        host = st.db.get(st.ref_of[inv.find("host", "e3")])
        host["control_domain"] = "OpaqueRef:NULL"
        dom0 = next(
            r
            for r in st.db.table(inv.find("pool", "edge"), "VM").values()
            if r["is_control_domain"] and r["resident_on"] == st.ref_of[host["uuid"]]
        )
        dom0["is_control_domain"] = False  # no control domain to be found for e3
        dom0["is_a_template"] = True
        got, warnings = collect_with_warnings([sim.urls[inv.find("pool", "edge")]], "root", PW)
    assert any("VM bsd: disk VBD" in w and "no VDI" in w for w in warnings)
    assert any("host e3: no control domain" in w for w in warnings)
    assert len(got.vm_by_uuid[inv.find("vm", "bsd")].disks) == 0
    e3 = got.host_by_uuid[inv.find("host", "e3")]
    assert e3.memory_overhead_bytes < inv.host_by_uuid[e3.uuid].memory_overhead_bytes


# ------------------------------------------------------------------ errors


def test_wrong_password_is_one_line_without_the_password():
    inv = edge_fleet()
    with Simulator(inv, password=PW) as sim:
        url = next(iter(sim.urls.values()))
        with pytest.raises(ConnectionFailed) as e:
            collect([url], "root", "not-" + PW)
    msg = str(e.value)
    assert "login refused for user 'root'" in msg and url in msg
    assert PW not in msg and "\n" not in msg


def test_refused_connection_on_a_closed_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(ConnectionFailed) as e:
        collect([f"http://127.0.0.1:{port}/"], "root", PW)
    assert "connection refused" in str(e.value)


def test_slave_url_is_followed_to_the_master_with_a_warning():
    inv = edge_fleet()
    pool = inv.find("pool", "edge")
    with Simulator(inv, password=PW) as sim:
        slave = sim.url_of_host(inv.find("host", "e2"))
        got, warnings = collect_with_warnings([slave], "root", PW)
        master = sim.urls[pool]
    assert any("is a pool member, not its master" in w and master in w for w in warnings)
    assert {p.uuid for p in got.pools} == {pool}
    assert len(got.vms) == len(inv.vms_in_pool[pool])


def test_the_same_pool_twice_is_collected_once():
    inv = edge_fleet()
    pool = inv.find("pool", "edge")
    with Simulator(inv, password=PW) as sim:
        got, warnings = collect_with_warnings(
            [sim.urls[pool], sim.url_of_host(inv.find("host", "e3"))], "root", PW
        )
    assert len(got.pools) == 1 and any("collected once" in w for w in warnings)


def test_a_slow_answer_times_out():
    inv = edge_fleet()
    with Simulator(inv, password=PW, faults=["delay:VM.get_all_records:2:1"]) as sim:
        url = next(iter(sim.urls.values()))
        t0 = time.monotonic()
        with pytest.raises(ConnectionFailed) as e:
            collect_with_warnings([url], "root", PW, timeout=0.3)
        assert time.monotonic() - t0 < 2.0
    assert "timed out" in str(e.value)


def test_url_forms():
    assert normalize_url("xs1.example.com") == "https://xs1.example.com/"
    assert normalize_url("xs1:8443") == "https://xs1:8443/"
    assert normalize_url("http://127.0.0.1:9/host/x/") == "http://127.0.0.1:9/host/x/"
    with pytest.raises(ConnectionFailed):
        normalize_url("ftp://xs1/")


def test_dns_failure_message_names_the_host():
    import socket

    msg = _describe(
        "https://nope.invalid/", socket.gaierror(-2, "Name or service not known"), "root", 5.0
    )
    assert msg == "https://nope.invalid/: cannot resolve host name 'nope.invalid'"


def test_tls_is_verified_unless_insecure(cert, monkeypatch):
    inv = edge_fleet()
    with Simulator(inv, password=PW, tls=cert) as sim:
        url = next(iter(sim.urls.values()))
        assert url.startswith("https://")
        with pytest.raises(ConnectionFailed) as e:
            collect([url], "root", PW)  # self-signed: verification fails
        assert "certificate verification failed" in str(e.value)
        assert "--insecure" in str(e.value)
        got = collect([url], "root", PW, insecure=True)
        assert len(got.vms) == len(inv.vms_in_pool[got.pools[0].uuid])
        # verification is real: trusting the certificate makes the secure path work
        monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
        assert collect([url], "root", PW).pools[0].uuid == got.pools[0].uuid


# ------------------------------------------------------------------ pure mapping pieces


def test_vlan_on_an_sriov_pif_makes_an_sriov_network():
    tables = {
        "pool": {"OpaqueRef:p": {"uuid": "p", "name_label": "p", "master": "OpaqueRef:h"}},
        "host": {
            "OpaqueRef:h": {
                "uuid": "h",
                "name_label": "h",
                "cpu_info": {"vendor": "x"},
                "software_version": {"product_version": "8.4.0"},
                "updates": [],
            }
        },
        "network": {
            "OpaqueRef:n": {"uuid": "n", "name_label": "vlan-on-vf", "PIFs": ["OpaqueRef:vlanpif"]}
        },
        "PIF": {
            "OpaqueRef:vlanpif": {
                "host": "OpaqueRef:h",
                "VLAN_master_of": "OpaqueRef:v",
                "sriov_logical_PIF_of": [],
            },
            "OpaqueRef:vf": {"host": "OpaqueRef:h", "sriov_logical_PIF_of": ["OpaqueRef:s"]},
        },
        "VLAN": {"OpaqueRef:v": {"tagged_PIF": "OpaqueRef:vf", "tag": "12"}},
    }
    doc = convert_pool(tables)
    assert doc.networks[0]["sriov"] is True
    tables["PIF"]["OpaqueRef:vf"]["sriov_logical_PIF_of"] = []
    assert convert_pool(tables).networks[0]["sriov"] is False


def test_mcs_rule_is_overridable():
    rec = {"other_config": {"XdMcs": "1"}, "tags": ["citrix-mcs"]}
    assert not McsRule().matches(rec)
    assert McsRule(other_config_keys=("XdMcs",)).matches(rec)
    assert McsRule(other_config_keys=(), tags=("citrix-mcs",)).matches(rec)
    assert not McsRule(other_config_keys=("XdMcs",)).matches({"other_config": {"XdMcs": "false"}})


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "",
        " spaced ",
        "a&b<c>",
        "ünïcode",
        True,
        False,
        0,
        -5,
        2**31 - 1,
        1.5,
        [],
        ["a", 1, [True]],
        {},
        {"k": {"n": ["x", {"y": ""}]}, "e": []},
        None,
        xmlrpc.client.DateTime("20261128T12:00:00Z"),
    ],
)
def test_fast_loads_decodes_like_xmlrpc_client(value):
    from planner.sim.wire import dumps_response

    for body in (
        xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode(),
        dumps_response(value),
    ):
        assert fast_loads(body) == xmlrpc.client.loads(body)[0]


def test_fast_loads_raises_faults_like_xmlrpc_client():
    body = xmlrpc.client.dumps(xmlrpc.client.Fault(7, "boom")).encode()
    with pytest.raises(xmlrpc.client.Fault) as e:
        fast_loads(body)
    assert (e.value.faultCode, e.value.faultString) == (7, "boom")


# ------------------------------------------------------------------ command line


def test_cli_collect_writes_the_inventory(tmp_path):
    inv = edge_fleet()
    out = tmp_path / "inv.json"
    with Simulator(inv, password=PW) as sim:
        r = CliRunner().invoke(
            app,
            ["collect", *sim.urls.values(), "--password-env", PW_ENV, "-o", str(out)],
            env={PW_ENV: PW},
        )
    assert r.exit_code == 0, r.output
    assert "collected 2 pool(s), 4 hosts" in r.output and f"{len(inv.vms)} VMs" in r.output
    assert PW not in r.output
    assert_same(inv, load(out))


def test_cli_collect_prompts_for_the_password(tmp_path):
    inv = edge_fleet()
    out = tmp_path / "inv.json"
    with Simulator(inv, password=PW) as sim:
        url = next(iter(sim.urls.values()))
        r = CliRunner().invoke(app, ["collect", url, "-o", str(out)], input=PW + "\n")
    assert r.exit_code == 0, r.output
    assert PW not in r.output  # hidden input is not echoed
    assert out.exists()


@pytest.mark.parametrize("case", ["wrong-password", "no-env", "refused"])
def test_cli_collect_errors_exit_2_with_one_line(tmp_path, case):
    inv = edge_fleet()
    out = tmp_path / "inv.json"
    with Simulator(inv, password=PW) as sim:
        url = next(iter(sim.urls.values()))
        env = {PW_ENV: "wrong" if case == "wrong-password" else PW}
        if case == "no-env":
            env = {}
        if case == "refused":
            url = url.replace(f":{sim.port}/", ":1/")
        r = CliRunner().invoke(
            app, ["collect", url, "--password-env", PW_ENV, "-o", str(out)], env=env
        )
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines() if r.stderr_bytes else r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: ")
    assert "Traceback" not in r.output
    assert not out.exists()  # nothing written


def test_cli_sim_serve_round_trip_and_clean_stop(tmp_path):
    """`planner sim serve` in its own process, `planner collect` from it, Ctrl-C."""
    inv = edge_fleet()
    src = tmp_path / "fleet.json"
    from planner.inventory import save

    save(inv, src)
    env = dict(os.environ, **{PW_ENV: PW})
    proc = subprocess.Popen(
        [*PLANNER, "sim", "serve", str(src), "--password-env", PW_ENV, "--speed", "1000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        urls, head = [], []
        assert proc.stdout is not None
        for line in proc.stdout:
            head.append(line)
            if line.startswith("pool "):
                urls.append(line.rsplit(" ", 1)[1].strip())
            if line.startswith("press Ctrl-C"):
                break
        assert "password from $" + PW_ENV in head[0] and PW not in "".join(head)
        assert len(urls) == 2
        out = tmp_path / "collected.json"
        r = CliRunner().invoke(
            app, ["collect", *urls, "--password-env", PW_ENV, "-o", str(out)], env={PW_ENV: PW}
        )
        assert r.exit_code == 0, r.output
        assert_same(inv, load(out))
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "stopped; 0 migration attempts audited" in rest


def test_cli_sim_serve_rejects_bad_options(tmp_path):
    r = CliRunner().invoke(app, ["sim", "serve", "--speed", "0", "--fault", "nosuch:X"])
    assert r.exit_code == 2
    assert "Traceback" not in r.output


# ------------------------------------------------------------------ scale


@pytest.mark.slow
def test_collect_a_large_generated_fleet():
    from planner.inventory.generate import generate

    inv = from_dict(generate(20, 16, 400, seed=3))  # 8,000 VMs
    with Simulator(inv, password=PW) as sim:
        t0 = time.monotonic()
        got = collect(list(sim.urls.values()), "root", PW)
        took = time.monotonic() - t0
    assert_same(inv, got)
    assert took < 60.0
