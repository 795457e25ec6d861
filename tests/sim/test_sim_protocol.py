"""The simulator speaks XenAPI as the real client expects: envelope, wire types, errors,
arities, Async tasks and event.from. Every test drives the real `XenAPI.Session` (or a
raw `xmlrpc.client.ServerProxy` where the client would hide what is checked)."""

from __future__ import annotations

import threading
import time
import urllib.request
import xmlrpc.client

import pytest
import XenAPI

from planner.inventory.builder import Builder
from planner.sim import Simulator

GIB = 2**30


def lab():
    """Pool `a`: a1 (master, 256 GiB: ints far above 2**31), a2; pool `b`: b1. A few VMs."""
    b = Builder()
    pa = b.pool("a")
    a1 = b.host(pa, "a1", memory_gib=256)
    a2 = b.host(pa, "a2", memory_gib=256)
    sr = b.sr(pa, "nfs", size_gib=4000)
    net = b.network(pa, "vm-net")
    b.network(pa, "mgmt", management=True)  # the stream network of migrate_receive
    b.vm(pa, "web", host=a1, memory_gib=8, disks=[(sr, 40)], networks=[net])
    b.vm(pa, "db", host=a1, memory_gib=16, disks=[(sr, 100)], networks=[net])
    b.vm(pa, "cold", memory_gib=4, disks=[(sr, 10)], networks=[net])
    pb = b.pool("b")
    b.host(pb, "b1", memory_gib=128)
    b.sr(pb, "b-nfs", size_gib=2000)
    b.network(pb, "vm-net")
    b.network(pb, "mgmt", management=True)
    return b.build(), {"a1": a1, "a2": a2, "pa": pa, "pb": pb}


@pytest.fixture
def sim():
    inv, ids = lab()
    with Simulator(inv, speed=500, password="pw") as s:
        s.ids = ids
        s.inv0 = inv
        yield s


def session(url: str, password: str = "pw") -> XenAPI.Session:
    s = XenAPI.Session(url)
    s.xenapi.login_with_password("root", password, "2.21", "tests")
    return s


def master_url(sim) -> str:
    return sim.urls[sim.ids["pa"]]


def vm_ref(x, sim, name: str) -> str:
    return x.VM.get_by_uuid(sim.inv0.find("vm", name))


def host_ref(x, name_uuid: str) -> str:
    return x.host.get_by_uuid(name_uuid)


# ------------------------------------------------------------------ envelope and wire


def test_envelope_success_and_failure_on_the_wire(sim):
    raw = xmlrpc.client.ServerProxy(master_url(sim), allow_none=True)
    ok = raw.session.login_with_password("root", "pw", "2.21", "raw")
    assert ok["Status"] == "Success" and ok["Value"].startswith("OpaqueRef:")
    bad = raw.VM.get_record(ok["Value"], "OpaqueRef:nope")
    assert bad == {
        "Status": "Failure",
        "ErrorDescription": ["HANDLE_INVALID", "VM", "OpaqueRef:nope"],
    }
    assert "Value" not in bad


def test_64_bit_ints_travel_as_decimal_strings(sim):
    s = session(master_url(sim))
    x = s.xenapi
    metrics = x.host.get_metrics(host_ref(x, sim.ids["a1"]))
    total = x.host_metrics.get_memory_total(metrics)
    assert isinstance(total, str) and int(total) == 256 * GIB  # > 2**31: a bare int overflows
    vm = x.VM.get_record(vm_ref(x, sim, "db"))
    assert isinstance(vm["memory_static_max"], str)
    assert isinstance(vm["VCPUs_max"], str) and vm["VCPUs_max"] == "2"
    assert isinstance(vm["is_a_template"], bool)
    # and on the raw wire no <int>/<i4> element carries a size
    body = xmlrpc.client.dumps((s.handle, metrics), "host_metrics.get_record").encode()
    req = urllib.request.Request(master_url(sim), data=body, headers={"Content-Type": "text/xml"})
    answer = urllib.request.urlopen(req, timeout=10).read().decode()
    assert str(256 * GIB) in answer and "<int>" not in answer and "<i4>" not in answer


def test_records_carry_xapi_names_and_enum_spellings(sim):
    x = session(master_url(sim)).xenapi
    vms = x.VM.get_all_records()
    states = {r["power_state"] for r in vms.values()}
    assert states <= {"Running", "Halted", "Paused", "Suspended"}
    # templates, a snapshot and one control domain per host are there to be filtered out
    assert sum(r["is_a_template"] for r in vms.values()) >= 1
    assert sum(r["is_a_snapshot"] for r in vms.values()) == 1
    dom0s = [r for r in vms.values() if r["is_control_domain"]]
    assert len(dom0s) == 2 and all(int(r["memory_static_max"]) > 0 for r in dom0s)
    vbds = x.VBD.get_all_records()
    assert {r["type"] for r in vbds.values()} <= {"Disk", "CD", "Floppy"}
    assert {r["mode"] for r in vbds.values()} <= {"RO", "RW"}
    for cls in (
        "pool",
        "host",
        "host_metrics",
        "VM_guest_metrics",
        "VM_metrics",
        "VDI",
        "SR",
        "PBD",
        "network",
        "PIF",
        "VIF",
        "network_sriov",
        "pool_update",
        "task",
    ):
        recs = getattr(x, cls).get_all_records()
        assert all("uuid" in r for r in recs.values()), cls
    pool = next(iter(x.pool.get_all_records().values()))
    assert pool["master"] == host_ref(x, sim.ids["a1"])
    null_refs = [r["affinity"] for r in vms.values()]
    assert "OpaqueRef:NULL" in null_refs


def test_getters_by_uuid_name_and_field(sim):
    x = session(master_url(sim)).xenapi
    web = vm_ref(x, sim, "web")
    assert x.VM.get_by_name_label("web") == [web]
    assert x.VM.get_name_label(web) == "web"
    assert x.VM.get_uuid(web) == sim.inv0.find("vm", "web")
    assert web in x.VM.get_all()
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.get_by_uuid("00000000-dead-beef-0000-000000000000")
    assert e.value.details[:2] == ["UUID_INVALID", "VM"]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.get_no_such_field(web)
    assert e.value.details[0] == "MESSAGE_METHOD_UNKNOWN"


def test_api_version_property_of_the_client(sim):
    s = session(master_url(sim))
    assert s.API_version == "2.21"  # pool.get_master + host.get_API_version_major/minor


# ------------------------------------------------------------------ errors


def test_wrong_password_is_session_authentication_failed(sim):
    with pytest.raises(XenAPI.Failure) as e:
        session(master_url(sim), password="wrong")
    assert e.value.details[0] == "SESSION_AUTHENTICATION_FAILED"
    assert "wrong" not in " ".join(e.value.details)


def test_handle_of_another_pool_is_invalid(sim):
    xa = session(master_url(sim)).xenapi
    xb = session(sim.urls[sim.ids["pb"]]).xenapi
    b1 = xb.host.get_all()[0]
    with pytest.raises(XenAPI.Failure) as e:
        xa.host.get_record(b1)
    assert e.value.details == ["HANDLE_INVALID", "host", b1]


def test_session_invalid_on_the_wire_and_client_relogin(sim):
    raw = xmlrpc.client.ServerProxy(master_url(sim), allow_none=True)
    r = raw.VM.get_all("OpaqueRef:not-a-session")
    assert r["Status"] == "Failure"
    assert r["ErrorDescription"] == ["SESSION_INVALID", "OpaqueRef:not-a-session"]
    s = session(master_url(sim))
    before = sim.logins()
    sim.expire_sessions()
    # the client sees SESSION_INVALID, logs in again with its stored credentials, retries
    assert len(s.xenapi.VM.get_all()) > 0
    assert sim.logins() == before + 1


def test_sessions_expire_after_their_lifetime():
    inv, ids = lab()
    with Simulator(inv, password="pw", faults=["sessions:0.2"]) as sim:
        raw = xmlrpc.client.ServerProxy(sim.urls[ids["pa"]], allow_none=True)
        ref = raw.session.login_with_password("root", "pw")["Value"]
        assert raw.VM.get_all(ref)["Status"] == "Success"
        time.sleep(0.3)
        assert raw.VM.get_all(ref)["ErrorDescription"][0] == "SESSION_INVALID"


def test_logout_ends_the_session(sim):
    raw = xmlrpc.client.ServerProxy(master_url(sim), allow_none=True)
    ref = raw.session.login_with_password("root", "pw")["Value"]
    assert raw.session.logout(ref) == {"Status": "Success", "Value": ""}
    assert raw.VM.get_all(ref)["ErrorDescription"][0] == "SESSION_INVALID"


def test_unknown_method_and_wrong_parameter_count(sim):
    x = session(master_url(sim)).xenapi
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.frobnicate()
    assert e.value.details == ["MESSAGE_METHOD_UNKNOWN", "VM.frobnicate"]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.get_record()
    assert e.value.details == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "2", "1"]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.pool_migrate(vm_ref(x, sim, "web"), host_ref(x, sim.ids["a2"]))
    assert e.value.details[0] == "MESSAGE_PARAMETER_COUNT_MISMATCH"


def test_older_arities_are_accepted(sim):
    raw = xmlrpc.client.ServerProxy(master_url(sim), allow_none=True)
    assert raw.session.login_with_password("root", "pw")["Status"] == "Success"  # 2 params
    x = session(master_url(sim)).xenapi
    a2 = host_ref(x, sim.ids["a2"])
    # host.evacuate(host) and (host, network, batch_size): both arities are served
    assert x.host.get_vms_which_prevent_evacuation(a2) == {}
    x.host.evacuate(a2)
    x.host.evacuate(a2, "OpaqueRef:NULL", "0")
    # migrate_send with 6 (pre vgpu_map) and 8 parameters
    web = vm_ref(x, sim, "web")
    dest = x.host.migrate_receive(a2, x.network.get_by_name_label("mgmt")[0], {})
    vdis = {
        x.VBD.get_VDI(v): x.SR.get_by_name_label("nfs")[0]
        for v in x.VM.get_VBDs(web)
        if x.VBD.get_type(v) == "Disk"
    }
    x.VM.assert_can_migrate(web, dest, True, vdis, {}, {})
    x.VM.assert_can_migrate(web, dest, True, vdis, {}, {}, {})


def test_slave_answers_login_with_host_is_slave(sim):
    url = sim.url_of_host(sim.ids["a2"])
    with pytest.raises(XenAPI.Failure) as e:
        session(url)
    code, address = e.value.details
    assert code == "HOST_IS_SLAVE"
    assert f"http://{address}/" == master_url(sim)


def test_unknown_url_path_is_http_404(sim):
    bad = master_url(sim).replace("/host/", "/nohost/")
    with pytest.raises(xmlrpc.client.ProtocolError) as e:
        session(bad)
    assert e.value.errcode == 404


# ------------------------------------------------------------------ tasks


def test_async_migration_task_lifecycle(sim):
    x = session(master_url(sim)).xenapi
    web, a2 = vm_ref(x, sim, "web"), host_ref(x, sim.ids["a2"])
    task = x.Async.VM.pool_migrate(web, a2, {})
    assert task.startswith("OpaqueRef:")
    rec = x.task.get_record(task)
    assert rec["status"] == "pending" and 0.0 <= rec["progress"] < 1.0
    with pytest.raises(XenAPI.Failure) as e:
        x.task.destroy(task)
    assert e.value.details[0] == "OPERATION_NOT_ALLOWED"
    deadline = time.time() + 10
    while x.task.get_status(task) == "pending" and time.time() < deadline:
        time.sleep(0.02)
    rec = x.task.get_record(task)
    assert rec["status"] == "success" and rec["progress"] == 1.0 and rec["result"] == ""
    assert x.VM.get_resident_on(web) == a2
    x.task.destroy(task)
    with pytest.raises(XenAPI.Failure) as e:
        x.task.get_record(task)
    assert e.value.details[0] == "HANDLE_INVALID"


def test_async_refusal_is_a_failed_task_and_sync_raises(sim):
    x = session(master_url(sim)).xenapi
    cold, a2 = vm_ref(x, sim, "cold"), host_ref(x, sim.ids["a2"])
    task = x.Async.VM.pool_migrate(cold, a2, {})
    rec = x.task.get_record(task)
    assert rec["status"] == "failure"
    assert rec["error_info"] == ["VM_BAD_POWER_STATE", cold, "running", "halted"]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.pool_migrate(cold, a2, {})
    assert e.value.details == rec["error_info"]


def test_async_migrate_send_result_is_the_vm_ref_fragment(sim):
    xa = session(master_url(sim)).xenapi
    xb = session(sim.urls[sim.ids["pb"]]).xenapi
    web = vm_ref(xa, sim, "web")
    b1 = xb.host.get_all()[0]
    dest = xb.host.migrate_receive(b1, xb.network.get_by_name_label("mgmt")[0], {})
    vdi_map = {
        xa.VBD.get_VDI(v): xb.SR.get_by_name_label("b-nfs")[0]
        for v in xa.VM.get_VBDs(web)
        if xa.VBD.get_type(v) == "Disk"
    }
    vif_map = {v: xb.network.get_by_name_label("vm-net")[0] for v in xa.VM.get_VIFs(web)}
    task = xa.Async.VM.migrate_send(web, dest, True, vdi_map, vif_map, {}, {}, {})
    while xa.task.get_status(task) == "pending":
        time.sleep(0.02)
    assert xa.task.get_result(task) == f"<value>{web}</value>"
    assert xb.VM.get_resident_on(web) == b1  # the VM now lives in pool b's database
    with pytest.raises(XenAPI.Failure):
        xa.VM.get_record(web)


def test_async_form_of_a_plain_call_and_cancel(sim):
    x = session(master_url(sim)).xenapi
    a2 = host_ref(x, sim.ids["a2"])
    task = x.Async.host.disable(a2)
    deadline = time.time() + 5
    while x.task.get_status(task) == "pending" and time.time() < deadline:
        time.sleep(0.01)
    assert x.task.get_status(task) == "success"
    assert x.host.get_enabled(a2) is False
    with pytest.raises(XenAPI.Failure) as e:
        x.task.cancel(task)  # finished: nothing to cancel
    assert e.value.details[0] == "OPERATION_NOT_ALLOWED"
    with pytest.raises(XenAPI.Failure) as e:
        x.Async.VM.get_record(vm_ref(x, sim, "web"))  # getters have no Async form
    assert e.value.details[0] == "MESSAGE_METHOD_UNKNOWN"


# ------------------------------------------------------------------ events


def test_event_from_initial_blocking_and_wakeup(sim):
    s = session(master_url(sim))
    x = s.xenapi
    event_from = getattr(x.event, "from")
    first = event_from(["vm"], "", 1.0)
    assert {e["operation"] for e in first["events"]} == {"add"}
    assert {e["class"] for e in first["events"]} == {"vm"}
    n_vms = len(x.VM.get_all())
    assert len(first["events"]) == n_vms
    token = first["token"]
    t0 = time.monotonic()
    quiet = event_from(["task"], token, 0.4)
    waited = time.monotonic() - t0
    assert quiet["events"] == [] and 0.35 <= waited < 3.0
    # a migration started from another thread wakes the waiting call well before its timeout
    web, a2 = vm_ref(x, sim, "web"), host_ref(x, sim.ids["a2"])

    def later() -> None:
        time.sleep(0.2)
        other = session(master_url(sim)).xenapi
        other.Async.VM.pool_migrate(web, a2, {})

    threading.Thread(target=later).start()
    t0 = time.monotonic()
    woke = event_from(["task"], quiet["token"], 10.0)
    assert time.monotonic() - t0 < 5.0
    assert woke["events"] and woke["events"][0]["class"] == "task"
    assert woke["events"][0]["operation"] == "add"
    assert int(woke["token"]) > int(quiet["token"])


def test_event_from_rejects_a_bad_token(sim):
    x = session(master_url(sim)).xenapi
    with pytest.raises(XenAPI.Failure) as e:
        getattr(x.event, "from")(["*"], "not-a-token", 0.1)
    assert e.value.details == ["EVENT_FROM_TOKEN_PARSE_FAILURE", "not-a-token"]


def test_expire_fault_invalidates_open_sessions_at_a_simulated_time():
    inv, ids = lab()
    with Simulator(inv, password="pw", speed=100, faults=["expire@20"]) as sim:
        raw = xmlrpc.client.ServerProxy(sim.urls[ids["pa"]], allow_none=True)
        ref = raw.session.login_with_password("root", "pw")["Value"]
        assert raw.VM.get_all(ref)["Status"] == "Success"
        time.sleep(0.4)  # 20 simulated seconds at speed 100 is 0.2 s
        assert raw.VM.get_all(ref)["ErrorDescription"] == ["SESSION_INVALID", ref]
        fresh = raw.session.login_with_password("root", "pw")["Value"]
        assert raw.VM.get_all(fresh)["Status"] == "Success"  # only open sessions expired


def test_debug_audit_outside_the_xapi_namespace(sim):
    x = session(master_url(sim)).xenapi
    x.VM.pool_migrate(vm_ref(x, sim, "web"), host_ref(x, sim.ids["a2"]), {})
    raw = xmlrpc.client.ServerProxy(master_url(sim), allow_none=True)
    entries = raw.debug.audit()["Value"]
    assert [e["result"] for e in entries] == ["success"]
    assert entries == sim.audit()
