"""Migrations in the simulator: XAPI's refusal codes, capacity bookkeeping that never
breaks a rule, the three-per-pool limit, timing by `speed`, fault injection and the
audit log. Every call goes through the real `XenAPI.Session`."""

from __future__ import annotations

import json
import random
import time

import pytest
import XenAPI

from planner.durations import DEFAULT_MODEL
from planner.errors import InputError
from planner.inventory.builder import AMD, Builder
from planner.sim import Simulator

GIB = 2**30
AUDIT_KEYS = {
    "vm",
    "kind",
    "from_host",
    "to_host",
    "from_pool",
    "to_pool",
    "start",
    "end",
    "result",
    "task",
    "network",
}


def lab():
    """A pool `a` with one host per refusal to provoke, pool `b` (same version) and pool
    `c` (older) for cross-pool moves. Returns the inventory."""
    b = Builder()
    pa = b.pool("a", ha=True)
    a1 = b.host(pa, "a1", memory_gib=160)
    b.host(pa, "a2", memory_gib=96)
    b.host(pa, "a3-disabled", memory_gib=96, enabled=False)
    b.host(pa, "a4-amd", memory_gib=96, vendor=AMD)
    b.host(pa, "a5-old", memory_gib=96, version="8.2.1")
    b.host(pa, "a6-small", memory_gib=10, overhead_gib=2)  # 8 GiB for guests
    nfs = b.sr(pa, "nfs", size_gib=4000, default=True)
    b.sr(pa, "tiny", size_gib=50)
    local = b.sr(pa, "local-a1", size_gib=500, shared=False, host=a1)
    net = b.network(pa, "vm-net")
    b.network(pa, "mgmt", management=True)  # an IP on every host: migrate_receive's
    sriov = b.network(pa, "sriov-net", sriov=True)
    b.vm(pa, "web", host=a1, memory_gib=4, disks=[(nfs, 20)], networks=[net])
    b.vm(pa, "web2", host=a1, memory_gib=4, disks=[(nfs, 20)], networks=[net])
    b.vm(pa, "web3", host=a1, memory_gib=4, disks=[(nfs, 20)], networks=[net])
    b.vm(pa, "web4", host=a1, memory_gib=4, disks=[(nfs, 20)], networks=[net])
    b.vm(pa, "big", host=a1, memory_gib=30, disks=[(nfs, 20)], networks=[net])
    b.vm(pa, "big2", host=a1, memory_gib=30, disks=[(nfs, 20)], networks=[net])
    b.vm(pa, "pci", host=a1, pci=True, disks=[(nfs, 10)], networks=[net])
    b.vm(pa, "gpu", host=a1, vgpu=True, disks=[(nfs, 10)], networks=[net])
    b.vm(pa, "sriov", host=a1, disks=[(nfs, 10)], networks=[sriov])
    b.vm(pa, "cbt", host=a1, cbt=True, disks=[(nfs, 10)], networks=[net])
    b.vm(pa, "mcs", host=a1, mcs=True, disks=[(nfs, 10)], networks=[net])
    b.vm(pa, "ha", host=a1, ha_protected=True, disks=[(nfs, 10)], networks=[net])
    b.vm(pa, "local", host=a1, disks=[(local, 10)], networks=[net])
    b.vm(pa, "cold", memory_gib=6, disks=[(nfs, 10)], networks=[net])
    pb = b.pool("b")
    b.host(pb, "b1", memory_gib=96)
    b.sr(pb, "b-nfs", size_gib=4000)
    b.network(pb, "vm-net")
    b.network(pb, "mgmt", management=True)
    pc = b.pool("c")
    b.host(pc, "c1", memory_gib=96, version="8.2.1", hotfixes=("XS82ECU1033",))
    b.sr(pc, "c-nfs", size_gib=4000)
    b.network(pc, "vm-net")
    b.network(pc, "mgmt", management=True)
    return b.build()


INV = lab()


class Lab:
    """Sessions on pools a, b, c and name -> ref helpers."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.inv = sim.inventory()
        self.x = {}
        for p in self.inv.pools:
            s = XenAPI.Session(sim.urls[p.uuid])
            s.xenapi.login_with_password("root", "secret")
            self.x[p.name] = s.xenapi

    def vm(self, name: str) -> str:
        return self.x["a"].VM.get_by_uuid(self.inv.find("vm", name))

    def host(self, name: str, pool: str = "a") -> str:
        return self.x[pool].host.get_by_uuid(self.inv.find("host", name))

    def sr(self, name: str, pool: str = "a") -> str:
        return self.x[pool].SR.get_by_uuid(self.inv.find("sr", name))

    def net(self, pool: str) -> str:
        return self.x[pool].network.get_by_name_label("vm-net")[0]

    def disks(self, vm: str) -> list[str]:
        x = self.x["a"]
        return [x.VBD.get_VDI(v) for v in x.VM.get_VBDs(self.vm(vm)) if x.VBD.get_type(v) == "Disk"]

    def send_args(self, vm: str, pool: str, host: str, sr: str):
        """(dest, vdi_map, vif_map) for a migrate_send of `vm` into `pool` on `host`, `sr`."""
        x, y = self.x["a"], self.x[pool]
        mgmt = y.network.get_by_name_label("mgmt")[0]  # vm-net has no IP: XAPI refuses it
        dest = y.host.migrate_receive(self.host(host, pool), mgmt, {})
        vdi_map = {d: self.sr(sr, pool) for d in self.disks(vm)}
        vif_map = {} if pool == "a" else {v: self.net(pool) for v in x.VM.get_VIFs(self.vm(vm))}
        return dest, vdi_map, vif_map

    def wait(self, task: str, timeout: float = 20.0, pool: str = "a") -> dict:
        x = self.x[pool]
        deadline = time.monotonic() + timeout
        while x.task.get_status(task) == "pending":
            assert time.monotonic() < deadline, "task did not finish"
            time.sleep(0.01)
        return x.task.get_record(task)


@pytest.fixture
def lab_sim():
    with Simulator(INV, speed=2000) as sim:
        yield Lab(sim)


def refusal(fn, *args) -> list[str]:
    with pytest.raises(XenAPI.Failure) as e:
        fn(*args)
    return e.value.details


# ------------------------------------------------------------------ refusal codes


def test_not_enough_free_memory(lab_sim):
    L = lab_sim
    d = refusal(L.x["a"].VM.pool_migrate, L.vm("big"), L.host("a6-small"), {})
    assert d == ["HOST_NOT_ENOUGH_FREE_MEMORY", str(30 * GIB), str(8 * GIB)]


def test_cpu_vendor_mismatch(lab_sim):
    L = lab_sim
    d = refusal(L.x["a"].VM.pool_migrate, L.vm("web"), L.host("a4-amd"), {})
    assert d[:3] == ["VM_INCOMPATIBLE_WITH_THIS_HOST", L.vm("web"), L.host("a4-amd")]
    # XAPI skips the CPU check with force=true
    L.x["a"].VM.pool_migrate(L.vm("web"), L.host("a4-amd"), {"force": "true"})


@pytest.mark.parametrize(
    "vm,code",
    [
        ("pci", "VM_HAS_PCI_ATTACHED"),
        ("gpu", "VM_HAS_VGPU"),
        ("sriov", "VM_HAS_SRIOV_VIF"),
        ("ha", "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"),
    ],
)
def test_vm_level_exclusions(lab_sim, vm, code):
    L = lab_sim
    d = refusal(L.x["a"].VM.pool_migrate, L.vm(vm), L.host("a2"), {})
    assert d[0] == code
    if code != "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN":
        assert d[1] == L.vm(vm)


def test_cbt_blocks_storage_moves_only(lab_sim):
    L = lab_sim
    vdi = L.disks("cbt")[0]
    assert refusal(L.x["a"].VDI.pool_migrate, vdi, L.sr("tiny"), {}) == ["VDI_CBT_ENABLED", vdi]
    dest, vdis, vifs = L.send_args("cbt", "b", "b1", "b-nfs")
    d = refusal(L.x["a"].VM.migrate_send, L.vm("cbt"), dest, True, vdis, vifs, {})
    assert d == ["VDI_CBT_ENABLED", vdi]
    L.x["a"].VM.pool_migrate(L.vm("cbt"), L.host("a2"), {})  # a live move is fine


def test_mcs_vm_storage_is_refused(lab_sim):
    L = lab_sim
    dest, vdis, vifs = L.send_args("mcs", "b", "b1", "b-nfs")
    d = refusal(L.x["a"].VM.migrate_send, L.vm("mcs"), dest, True, vdis, vifs, {})
    assert d[0] == "OPERATION_NOT_ALLOWED" and "Machine Creation Services" in d[1]


def test_disabled_target_host(lab_sim):
    L = lab_sim
    d = refusal(L.x["a"].VM.pool_migrate, L.vm("web"), L.host("a3-disabled"), {})
    assert d == ["HOST_DISABLED", L.host("a3-disabled")]
    # host.disable / enable change that
    L.x["a"].host.enable(L.host("a3-disabled"))
    L.x["a"].VM.pool_migrate(L.vm("web"), L.host("a3-disabled"), {})
    L.x["a"].host.disable(L.host("a2"))
    assert refusal(L.x["a"].VM.pool_migrate, L.vm("web2"), L.host("a2"), {})[0] == "HOST_DISABLED"


def test_older_target_version(lab_sim):
    L = lab_sim
    d = refusal(L.x["a"].VM.pool_migrate, L.vm("web"), L.host("a5-old"), {})
    assert d == ["NOT_SUPPORTED_DURING_UPGRADE"]  # within a pool: XAPI's rolling-upgrade check
    dest, vdis, vifs = L.send_args("web", "c", "c1", "c-nfs")
    d = refusal(L.x["a"].VM.migrate_send, L.vm("web"), dest, True, vdis, vifs, {})
    assert d == ["VM_HOST_INCOMPATIBLE_VERSION_MIGRATE", L.host("c1", "c"), L.vm("web")]


def test_bad_power_state_and_local_sr(lab_sim):
    L = lab_sim
    d = refusal(L.x["a"].VM.pool_migrate, L.vm("cold"), L.host("a2"), {})
    assert d == ["VM_BAD_POWER_STATE", L.vm("cold"), "running", "halted"]
    d = refusal(L.x["a"].VM.pool_migrate, L.vm("local"), L.host("a2"), {})
    assert d == ["VM_REQUIRES_SR", L.vm("local"), L.sr("local-a1")]


def test_sr_space_uses_the_3x_target_reservation(lab_sim):
    L = lab_sim
    vdi = L.disks("web")[0]  # 20 GiB virtual: needs 60 GiB free on the 50 GiB SR
    d = refusal(L.x["a"].VDI.pool_migrate, vdi, L.sr("tiny"), {})
    assert d[0] == "SR_BACKEND_FAILURE_44"
    vdi10 = L.disks("cold")[0]  # a halted VM's 10 GiB disk fits: 30 GiB <= 50 GiB
    dest, _, _ = L.send_args("cold", "a", "a2", "tiny")
    task = L.x["a"].Async.VM.migrate_send(L.vm("cold"), dest, False, {vdi10: L.sr("tiny")}, {}, {})
    assert L.wait(task)["status"] == "success"
    assert L.x["a"].VDI.get_SR(vdi10) == L.sr("tiny")
    assert L.sim.inventory().sr_by_uuid[L.inv.find("sr", "tiny")].used_bytes == 5 * GIB


def test_cross_pool_maps_must_cover_every_disk_and_vif(lab_sim):
    L = lab_sim
    dest, vdis, vifs = L.send_args("web", "b", "b1", "b-nfs")
    d = refusal(L.x["a"].VM.migrate_send, L.vm("web"), dest, True, {}, vifs, {})
    assert d[0] == "VDI_NOT_IN_MAP"
    d = refusal(L.x["a"].VM.migrate_send, L.vm("web"), dest, True, vdis, {}, {})
    assert d[0] == "VIF_NOT_IN_MAP"
    L.x["a"].VM.assert_can_migrate(L.vm("web"), dest, True, vdis, vifs, {})


def test_host_offline_refuses_and_breaks_migrations():
    with Simulator(INV, speed=50, faults=["offline:a6-small@0"]) as sim:
        L = Lab(sim)
        d = refusal(L.x["a"].VM.pool_migrate, L.vm("web"), L.host("a6-small"), {})
        assert d == ["HOST_OFFLINE", L.host("a6-small")]
        # a migration in flight to a host that goes offline fails with HOST_OFFLINE
        task = L.x["a"].Async.VM.pool_migrate(L.vm("web"), L.host("a2"), {})
        sim.set_host_live(L.inv.find("host", "a2"), False)
        rec = L.x["a"].task.get_record(task)
        assert rec["status"] == "failure" and rec["error_info"][0] == "HOST_OFFLINE"
        assert sim.inventory().vm_by_uuid[L.inv.find("vm", "web")].host == L.inv.find("host", "a1")
        # an offline host's URL drops the connection without answering
        with pytest.raises((ConnectionError, OSError)):
            XenAPI.Session(sim.url_of_host(L.inv.find("host", "a2"))).xenapi.login_with_password(
                "root", "secret"
            )


# ------------------------------------------------------------------ capacity and limits


def test_memory_is_reserved_on_the_target_from_the_start():
    with Simulator(INV, speed=20) as sim:
        L = Lab(sim)
        # a6-small has 8 GiB for guests: one 4 GiB VM in flight leaves 4 GiB
        t1 = L.x["a"].Async.VM.pool_migrate(L.vm("web"), L.host("a6-small"), {})
        t2 = L.x["a"].Async.VM.pool_migrate(L.vm("web2"), L.host("a6-small"), {})
        t3 = L.x["a"].Async.VM.pool_migrate(L.vm("web3"), L.host("a6-small"), {})
        statuses = [L.x["a"].task.get_status(t) for t in (t1, t2, t3)]
        assert statuses[:2] == ["pending", "pending"]
        assert L.x["a"].task.get_record(t3)["error_info"][0] == "HOST_NOT_ENOUGH_FREE_MEMORY"
        assert sim.check_invariants() == []
        free = int(L.x["a"].host.compute_free_memory(L.host("a6-small")))
        assert free == 0


def test_three_migrations_per_source_pool_and_the_fourth_is_refused():
    with Simulator(INV, speed=20) as sim:
        L = Lab(sim)
        tasks = [
            L.x["a"].Async.VM.pool_migrate(L.vm(n), L.host("a2"), {})
            for n in ("web", "web2", "web3")
        ]
        assert all(L.x["a"].task.get_status(t) == "pending" for t in tasks)
        d = refusal(L.x["a"].VM.pool_migrate, L.vm("web4"), L.host("a2"), {})
        assert d == ["TOO_MANY_STORAGE_MIGRATES", "3"]
        # another pool's slots are its own
        dest, vdis, vifs = L.send_args("web4", "b", "b1", "b-nfs")
        assert L.x["b"].VM.get_all()  # pool b is reachable
        # the limit is per *source* pool: pool a is full, so web4 cannot leave either
        d = refusal(L.x["a"].VM.migrate_send, L.vm("web4"), dest, True, vdis, vifs, {})
        assert d[0] == "TOO_MANY_STORAGE_MIGRATES"
        # a VM already migrating is busy
        d = refusal(L.x["a"].VM.pool_migrate, L.vm("web"), L.host("a1"), {})
        assert d[0] in ("OTHER_OPERATION_IN_PROGRESS", "TOO_MANY_STORAGE_MIGRATES")
        for t in tasks:
            assert L.wait(t, 30)["status"] == "success"
        L.x["a"].VM.pool_migrate(L.vm("web4"), L.host("a2"), {})
        assert sim.max_concurrency()[L.inv.find("pool", "a")] == 3


def test_random_concurrent_traffic_never_breaks_capacity():
    """Many clients fire random migrations; at every poll the state obeys every rule."""
    rng = random.Random(7)
    with Simulator(INV, speed=400) as sim:
        L = Lab(sim)
        x = L.x["a"]
        names = ["web", "web2", "web3", "web4", "big", "big2", "cbt", "local"]
        hosts = ["a1", "a2", "a4-amd", "a6-small", "a5-old"]
        srs = ["nfs", "tiny"]
        tasks, codes = [], set()
        for _ in range(60):
            vm = L.vm(rng.choice(names))
            try:
                if rng.random() < 0.6:
                    tasks.append(x.Async.VM.pool_migrate(vm, L.host(rng.choice(hosts)), {}))
                else:
                    vdi = next(iter(x.VM.get_VBDs(vm)))
                    tasks.append(
                        x.Async.VDI.pool_migrate(x.VBD.get_VDI(vdi), L.sr(rng.choice(srs)), {})
                    )
            except XenAPI.Failure as e:
                codes.add(e.details[0])
            assert sim.check_invariants() == []
            time.sleep(rng.random() * 0.01)
        for t in tasks:
            rec = L.wait(t, 30)
            if rec["status"] != "success":
                codes.add(rec["error_info"][0])
            assert sim.check_invariants() == []
        audit = sim.audit()
    assert max(sim.max_concurrency().values()) <= 3
    assert any(a["result"] == "success" for a in audit)
    assert "TOO_MANY_STORAGE_MIGRATES" in codes or "OTHER_OPERATION_IN_PROGRESS" in codes


# ------------------------------------------------------------------ time, faults, audit


def test_duration_follows_the_model_and_speed():
    speed = 200.0
    with Simulator(INV, speed=speed) as sim:
        L = Lab(sim)
        vm = L.inv.vm_by_uuid[L.inv.find("vm", "big")]
        est = DEFAULT_MODEL.estimate(L.inv, vm, "live", set())  # 30 GiB: ~ 315 s
        t0 = time.monotonic()
        L.x["a"].VM.pool_migrate(L.vm("big"), L.host("a2"), {})
        wall = time.monotonic() - t0
        entry = sim.audit()[-1]
    assert est / speed * 0.9 <= wall <= est / speed + 1.0
    assert entry["end"] - entry["start"] == pytest.approx(est, rel=0.1)


def test_scripted_fault_fails_mid_way_once():
    with Simulator(INV, speed=2000, faults=["web:VM_MIGRATE_FAILED"]) as sim:
        L = Lab(sim)
        web, a2 = L.vm("web"), L.host("a2")
        d = refusal(L.x["a"].VM.pool_migrate, web, a2, {})
        assert d[0] == "VM_MIGRATE_FAILED" and d[1] == web
        assert L.x["a"].VM.get_resident_on(web) == L.host("a1")  # stayed at the source
        assert sim.check_invariants() == []
        L.x["a"].VM.pool_migrate(web, a2, {})  # the fault was used up
        assert L.x["a"].VM.get_resident_on(web) == a2
        results = [a["result"] for a in sim.audit()]
    assert results == ["VM_MIGRATE_FAILED", "success"]


def test_fail_rate_is_seeded_and_repeatable():
    def run(seed: int) -> list[str]:
        with Simulator(INV, speed=5000, fail_rate=0.5, seed=seed) as sim:
            L = Lab(sim)
            for _ in range(3):
                for n in ("web", "web2"):
                    here = L.x["a"].VM.get_resident_on(L.vm(n))
                    to = L.host("a2") if here == L.host("a1") else L.host("a1")
                    try:
                        L.x["a"].VM.pool_migrate(L.vm(n), to, {})
                    except XenAPI.Failure as e:
                        assert e.details[0] == "VM_MIGRATE_FAILED"
            return [a["result"] for a in sim.audit()]

    first, again, other = run(1), run(1), run(2)
    assert first == again
    assert set(first) == {"success", "VM_MIGRATE_FAILED"} or first != other


def test_stalled_task_can_be_cancelled_and_frees_its_reservation():
    with Simulator(INV, speed=2000, faults=["web:STALL"]) as sim:
        L = Lab(sim)
        small = L.host("a6-small")
        before = int(L.x["a"].host.compute_free_memory(small))
        task = L.x["a"].Async.VM.pool_migrate(L.vm("web"), small, {})
        time.sleep(0.3)  # far longer than the migration would take
        rec = L.x["a"].task.get_record(task)
        assert rec["status"] == "pending" and rec["progress"] == 0.5
        assert int(L.x["a"].host.compute_free_memory(small)) == before - 4 * GIB
        L.x["a"].task.cancel(task)
        rec = L.x["a"].task.get_record(task)
        assert rec["status"] == "cancelled" and rec["error_info"] == ["TASK_CANCELLED", task]
        assert int(L.x["a"].host.compute_free_memory(small)) == before
        assert sim.audit()[-1]["result"] == "TASK_CANCELLED"


def test_evacuate_moves_every_vm_it_can(lab_sim):
    L = lab_sim
    x = L.x["a"]
    blockers = x.host.get_vms_which_prevent_evacuation(L.host("a1"))
    blocked = {L.x["a"].VM.get_name_label(r): v[0] for r, v in blockers.items()}
    assert blocked == {
        "pci": "VM_HAS_PCI_ATTACHED",
        "gpu": "VM_HAS_VGPU",
        "sriov": "VM_HAS_SRIOV_VIF",
        "ha": "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN",
        "local": "VM_INCOMPATIBLE_WITH_THIS_HOST",
    }
    assert refusal(x.host.evacuate, L.host("a1"))[0] in set(blocked.values())


def test_evacuate_of_an_evacuable_host_runs_in_batches():
    b = Builder()
    p = b.pool("p")
    h1, _h2 = b.host(p, "h1", memory_gib=64), b.host(p, "h2", memory_gib=64)
    sr, net = b.sr(p, "nfs"), b.network(p, "net")
    for n in range(5):
        b.vm(p, f"v{n}", host=h1, memory_gib=2, disks=[(sr, 5)], networks=[net])
    inv = b.build()
    with Simulator(inv, speed=2000) as sim:
        s = XenAPI.Session(sim.urls[p])
        s.xenapi.login_with_password("root", "secret")
        task = s.xenapi.Async.host.evacuate(s.xenapi.host.get_by_uuid(h1))
        deadline = time.monotonic() + 20
        while s.xenapi.task.get_status(task) == "pending" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert s.xenapi.task.get_status(task) == "success"
        assert not sim.inventory().vms_on_host.get(h1)
        assert sim.max_concurrency()[p] == 3
        assert [a["result"] for a in sim.audit()] == ["success"] * 5


def test_audit_entries_and_jsonl_file(tmp_path):
    path = tmp_path / "audit.jsonl"
    with Simulator(INV, speed=2000, audit_path=path) as sim:
        L = Lab(sim)
        L.x["a"].VM.pool_migrate(L.vm("web"), L.host("a2"), {})
        with pytest.raises(XenAPI.Failure):
            L.x["a"].VM.pool_migrate(L.vm("pci"), L.host("a2"), {})
        audit = sim.audit()
    assert [set(a) for a in audit] == [AUDIT_KEYS, AUDIT_KEYS]
    ok, refused = audit
    assert ok["vm"] == L.inv.find("vm", "web") and ok["kind"] == "live"
    assert ok["from_host"] == L.inv.find("host", "a1") and ok["to_host"] == L.inv.find("host", "a2")
    assert ok["from_pool"] == ok["to_pool"] == L.inv.find("pool", "a")
    assert 0 <= ok["start"] < ok["end"] and ok["result"] == "success" and ok["task"]
    assert refused["result"] == "VM_HAS_PCI_ATTACHED" and refused["start"] == refused["end"]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == audit  # the file holds every finished attempt


def test_bad_fault_specs_and_options_are_input_errors():
    with pytest.raises(InputError) as e:
        Simulator(INV, faults=["nosuchvm:VM_MIGRATE_FAILED", "web:lowercase", "offline:zz"])
    assert len(e.value.problems) == 3
    with pytest.raises(InputError) as e:
        Simulator(INV, speed=0, fail_rate=2, faults=["web:STALL", "delay:x"])
    assert len(e.value.problems) == 3  # every problem at once, one line each


def test_halted_vm_moves_pool_with_its_disks_and_space_follows(lab_sim):
    L = lab_sim
    inv0 = L.sim.inventory()
    cold = inv0.vm_by_uuid[L.inv.find("vm", "cold")]
    src, dst = L.inv.find("sr", "nfs"), L.inv.find("sr", "b-nfs")
    used = sum(d.used_bytes for d in cold.disks)
    dest, vdis, vifs = L.send_args("cold", "b", "b1", "b-nfs")
    L.x["a"].VM.migrate_send(L.vm("cold"), dest, False, vdis, vifs, {})
    after = L.sim.inventory()
    moved = after.vm_by_uuid[cold.uuid]
    assert moved.pool == L.inv.find("pool", "b") and moved.power_state == "Halted"
    assert moved.host is None and all(d.sr == dst for d in moved.disks)
    assert moved.vifs[0].network in {n.uuid for n in after.networks_in_pool[moved.pool]}
    assert after.sr_by_uuid[src].used_bytes == inv0.sr_by_uuid[src].used_bytes - used
    assert after.sr_by_uuid[dst].used_bytes == inv0.sr_by_uuid[dst].used_bytes + used
    entry = L.sim.audit()[-1]
    assert (entry["kind"], entry["from_host"], entry["to_host"]) == ("move", None, None)
    assert L.sim.check_invariants() == []
