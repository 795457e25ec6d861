"""Each rule on hand-made inventories: every reason code, both sides of every threshold."""

from __future__ import annotations

import pytest

from planner.errors import InputError
from planner.inventory.builder import AMD, GIB, Builder
from planner.options import PlanOptions
from planner.plan import Migration, VifMap
from planner.rules import codes, exclusion_reasons, expected_kind, kind_reasons, target_reasons
from planner.rules.cpu import features_subset
from planner.rules.memory import host_capacity, memory_reasons, vm_memory
from planner.rules.network import management_network_warnings, map_vifs, resolve_network_map
from planner.rules.port80 import port80_reasons
from planner.rules.storage import reserve_on_source, reserve_on_target, sr_space_reasons
from planner.rules.version import version_at_least

OPTS = PlanOptions()


def got(reasons) -> set[str]:
    return {r.code for r in reasons}


def one_vm(**vm_props):
    """Pool a (HA on) with h1, h2, shared nfs and old SRs, vm-net; one VM 'v'."""
    b = Builder()
    a = b.pool("a", ha=True)
    h1 = b.host(a, "h1")
    b.host(a, "h2")
    sr = b.sr(a, "nfs")
    b.sr(a, "old")
    net = b.network(a, "vm-net")
    host = vm_props.pop("host", h1)
    b.vm(a, "v", host=host, disks=[(sr, 10)], networks=[net], **vm_props)
    inv = b.build()
    return inv, inv.vm_by_uuid[inv.find("vm", "v")]


def live_reasons(inv, vm, to="h2"):
    return target_reasons(inv, vm, "live", inv.find("host", to), vm.pool, {}, OPTS)


def storage_reasons(inv, vm, kind="storage", to="h2"):
    disks = {d.uuid: inv.find("sr", "old") for d in vm.disks}
    to_host = inv.find("host", to) if to else None
    return target_reasons(inv, vm, kind, to_host, vm.pool, disks, OPTS)


# ---------------------------------------------------------------- memory
def test_host_capacity_and_memory_threshold():
    b = Builder()
    a = b.pool("a")
    h = b.host(a, "h", memory_gib=10, overhead_gib=2)
    inv = b.build()
    host = inv.host_by_uuid[h]
    assert host_capacity(host, 0.0) == 8 * GIB
    assert host_capacity(host, 0.25) == 8 * GIB - int(2.5 * GIB)
    _, vm = one_vm()
    assert memory_reasons(vm, host, 8 * GIB, 8 * GIB) == []  # exactly full
    r = memory_reasons(vm, host, 8 * GIB + 1, 8 * GIB)  # one byte over
    assert got(r) == {codes.MEMORY}
    assert "8589934593 bytes" in r[0].message


def test_vm_memory_under_dmc():
    _, vm = one_vm(memory_gib=8, memory_min_gib=2)
    assert vm_memory(vm, dmc=False) == 8 * GIB
    assert vm_memory(vm, dmc=True) == 2 * GIB


# ---------------------------------------------------------------- storage
def test_sr_space_reservations_threshold():
    inv, vm = one_vm()
    disk = vm.disks[0]
    assert reserve_on_target(disk) == 3 * disk.size_bytes
    assert reserve_on_source(disk) == 2 * disk.size_bytes
    sr = inv.sr_by_uuid[inv.find("sr", "old")]
    need = reserve_on_target(disk)
    assert sr_space_reasons(sr, need, need) == []
    assert got(sr_space_reasons(sr, need + 1, need)) == {codes.SR_SPACE}


def test_sr_not_attached_and_wrong_pool():
    b = Builder()
    a = b.pool("a")
    h1, h2 = b.host(a, "h1"), b.host(a, "h2")
    local = b.sr(a, "local1", shared=False, host=h1)
    b.vm(a, "v", host=h1, disks=[(local, 10)])
    pb = b.pool("b")
    b.host(pb, "g1")
    other = b.sr(pb, "nfs-b")
    inv = b.build()
    vm = inv.vm_by_uuid[inv.find("vm", "v")]
    assert got(target_reasons(inv, vm, "live", h2, a, {}, OPTS)) == {codes.SR_NOT_ATTACHED}
    moved = {vm.disks[0].uuid: other}
    r = target_reasons(inv, vm, "storage", h2, a, moved, OPTS)
    assert codes.SR_WRONG_POOL in got(r)


# ---------------------------------------------------------------- exclusions
@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({"ha_protected": True}, codes.HA_PROTECTED),
        ({"pci": True}, codes.PCI),
        ({"vgpu": True}, codes.VGPU),
        ({"on_boot": "reset"}, codes.ON_BOOT_RESET),
    ],
)
def test_exclusions_block_every_kind(props, code):
    inv, vm = one_vm(**props)
    for kind in ("live", "storage"):
        assert code in got(exclusion_reasons(inv, vm, kind))
    assert got(live_reasons(inv, vm)) == {code}
    inv, vm = one_vm()
    assert exclusion_reasons(inv, vm, "live") == []


def test_ha_protected_only_when_the_pool_has_ha():
    b = Builder()
    a = b.pool("a", ha=False)
    h1 = b.host(a, "h1")
    b.vm(a, "v", host=h1, ha_protected=True)
    inv = b.build()
    assert exclusion_reasons(inv, inv.vm_by_uuid[inv.find("vm", "v")], "live") == []


def test_sriov():
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1")
    vf, plain = b.network(a, "vf", sriov=True), b.network(a, "plain")
    b.vm(a, "v", host=h1, networks=[plain, vf])
    b.vm(a, "w", host=h1, networks=[plain])
    inv = b.build()
    r = exclusion_reasons(inv, inv.vm_by_uuid[inv.find("vm", "v")], "live")
    assert got(r) == {codes.SRIOV} and "VIF 1" in r[0].message
    assert exclusion_reasons(inv, inv.vm_by_uuid[inv.find("vm", "w")], "live") == []


@pytest.mark.parametrize(
    ("state", "os", "tools", "blocked"),
    [
        ("Running", "windows", False, True),
        ("Paused", "windows", False, True),
        ("Suspended", "windows", False, True),
        ("Halted", "windows", False, False),
        ("Running", "windows", True, False),
        ("Running", "linux", False, False),
    ],
)
def test_no_tools_for_running_or_suspended_windows(state, os, tools, blocked):
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1")
    running = state in ("Running", "Paused")
    b.vm(a, "v", host=h1 if running else None, power_state=state, os=os, tools=tools)
    inv = b.build()
    vm = inv.vm_by_uuid[inv.find("vm", "v")]
    kind = "live" if running else "storage" if state == "Suspended" else "move"
    assert (codes.NO_TOOLS in got(exclusion_reasons(inv, vm, kind))) is blocked


@pytest.mark.parametrize(
    ("props", "code"), [({"cbt": True}, codes.CBT), ({"mcs": True}, codes.MCS)]
)
def test_cbt_and_mcs_block_only_storage_and_move(props, code):
    inv, vm = one_vm(**props)
    assert live_reasons(inv, vm) == []
    assert got(storage_reasons(inv, vm)) == {code}
    inv, halted = one_vm(host=None, **props)
    assert got(storage_reasons(inv, halted, kind="move", to=None)) == {code}


# ---------------------------------------------------------------- cpu
def test_features_subset_words():
    assert features_subset("0000000f-00000001", "000000ff-00000001")
    assert not features_subset("0000010f", "000000ff")
    assert not features_subset("00000001-00000001", "00000001")  # missing word = no bits
    assert features_subset("", "00000001")


def test_cpu_vendor_and_features_only_for_running_vms():
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1", features="000000ff")
    amd = b.host(a, "amd", vendor=AMD, features="000000ff")
    small = b.host(a, "small", features="0000000f")
    sr = b.sr(a, "nfs")
    b.vm(a, "run", host=h1, cpu_features="000000f0", disks=[(sr, 1)])
    b.vm(a, "off", disks=[(sr, 1)])
    inv = b.build()
    run = inv.vm_by_uuid[inv.find("vm", "run")]
    off = inv.vm_by_uuid[inv.find("vm", "off")]
    assert got(target_reasons(inv, run, "live", amd, a, {}, OPTS)) == {codes.CPU_VENDOR}
    assert got(target_reasons(inv, run, "live", small, a, {}, OPTS)) == {codes.CPU_FEATURES}
    assert target_reasons(inv, run, "live", h1, a, {}, OPTS) == []
    # a halted VM names a new home host: no CPU constraint (it boots there afresh)
    assert codes.CPU_VENDOR not in got(target_reasons(inv, off, "move", amd, a, {}, OPTS))


# ---------------------------------------------------------------- version
def test_version_threshold():
    assert version_at_least("8.4.0", "8.4")
    assert version_at_least("8.2.1", "8.2.1")
    assert not version_at_least("8.2.1", "8.2.2")
    assert version_at_least("8.10.0", "8.9.9")  # numeric, not string, comparison
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1", version="8.2.1")
    same = b.host(a, "same", version="8.2.1")
    old = b.host(a, "old", version="8.2.0")
    b.vm(a, "v", host=h1)
    inv = b.build()
    vm = inv.vm_by_uuid[inv.find("vm", "v")]
    assert target_reasons(inv, vm, "live", same, a, {}, OPTS) == []
    assert got(target_reasons(inv, vm, "live", old, a, {}, OPTS)) == {codes.VERSION}


def test_halted_vm_version_is_its_pool_masters():
    b = Builder()
    a = b.pool("a")
    b.host(a, "master", version="8.4.0")
    old = b.host(a, "old", version="8.2.1")
    sr = b.sr(a, "nfs")
    b.vm(a, "v", disks=[(sr, 1)])
    inv = b.build()
    vm = inv.vm_by_uuid[inv.find("vm", "v")]
    assert got(target_reasons(inv, vm, "move", old, a, {}, OPTS)) == {codes.VERSION}


# ---------------------------------------------------------------- hosts and kinds
def test_host_disabled():
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1")
    off = b.host(a, "off", enabled=False)
    b.vm(a, "v", host=h1)
    inv = b.build()
    vm = inv.vm_by_uuid[inv.find("vm", "v")]
    assert got(target_reasons(inv, vm, "live", off, a, {}, OPTS)) == {codes.HOST_DISABLED}


def test_kinds_fit_power_state():
    inv, run = one_vm()
    _, off = one_vm(host=None)
    _, susp = one_vm(host=None, power_state="Suspended")
    a = run.pool
    assert expected_kind(run, a, False) == "live"
    assert expected_kind(run, a, True) == "storage"
    assert expected_kind(susp, a, True) == "storage"
    assert expected_kind(off, a, True) == "move"
    assert kind_reasons(run, "storage", a, False) == []  # storage may stand in for live
    assert got(kind_reasons(run, "move", a, True)) == {codes.WRONG_KIND}
    assert got(kind_reasons(off, "live", a, False)) == {codes.WRONG_KIND}
    # a running VM's migration always needs a target host
    r = target_reasons(inv, run, "live", None, a, {}, OPTS)
    assert got(r) == {codes.WRONG_KIND} and "to_host" in r[0].message


# ---------------------------------------------------------------- networks and port 80
def two_pools(
    *,
    b_net: str = "vm-net",
    https: bool = False,
    version: str = "8.4.0",
    hotfixes: tuple[str, ...] = (),
):
    b = Builder()
    a = b.pool("a")
    h1 = b.host(a, "h1", version=version, hotfixes=hotfixes)
    sr = b.sr(a, "nfs")
    net = b.network(a, "vm-net")
    b.network(a, "mgmt", management=True)
    b.vm(a, "v", host=h1, disks=[(sr, 1)], networks=[net])
    pb = b.pool("b", https_only=https)
    b.host(pb, "g1")
    b.sr(pb, "nfs-b")
    b.network(pb, b_net)
    b.network(pb, "other-net")
    b.network(pb, "mgmt-b", management=True)
    inv = b.build()
    return inv, inv.vm_by_uuid[inv.find("vm", "v")]


def cross_reasons(inv, vm, options=OPTS, vifs=None):
    g1, pb = inv.find("host", "g1"), inv.find("pool", "b")
    disks = {d.uuid: inv.find("sr", "nfs-b") for d in vm.disks}
    return target_reasons(inv, vm, "storage", g1, pb, disks, options, vifs)


def test_network_mapped_by_name():
    inv, vm = two_pools()
    vifs, unmapped = map_vifs(inv, vm, inv.find("pool", "b"), {})
    assert unmapped == []
    assert [inv.label(v.to_network) for v in vifs] == ["vm-net"]
    assert inv.network_by_uuid[vifs[0].to_network].pool == inv.find("pool", "b")
    assert cross_reasons(inv, vm) == []


def test_network_unmapped_then_mapped_by_map():
    inv, vm = two_pools(b_net="VM Network")
    assert got(cross_reasons(inv, vm)) == {codes.NETWORK_UNMAPPED}
    nmap = resolve_network_map(inv, ["vm-net=VM Network"])
    assert nmap == {inv.find("network", "vm-net"): inv.find("network", "VM Network")}
    assert cross_reasons(inv, vm, PlanOptions(network_map=nmap)) == []


def test_network_map_beats_the_same_name():
    inv, vm = two_pools()
    with pytest.raises(InputError) as e:  # both pools have a "vm-net"
        resolve_network_map(inv, ["vm-net=other-net"])
    assert "ambiguous" in e.value.problems[0]
    nmap = resolve_network_map(inv, ["a/vm-net=other-net"])
    vifs, _ = map_vifs(inv, vm, inv.find("pool", "b"), nmap)
    assert inv.label(vifs[0].to_network) == "other-net"


def test_resolve_network_map_pool_qualified_names():
    inv, _ = two_pools()
    nmap = resolve_network_map(inv, ["a/vm-net=b/other-net", "a/vm-net = b/other-net"])
    src = next(n for n in inv.networks if n.name == "vm-net" and n.pool == inv.find("pool", "a"))
    assert nmap == {src.uuid: inv.find("network", "other-net")}
    with pytest.raises(InputError) as e:
        resolve_network_map(inv, ["a/vm-net=b/nope"])
    assert "no network named 'nope' in pool b" in e.value.problems[0]


def test_plan_vifs_checked_across_pools():
    inv, vm = two_pools()
    assert got(cross_reasons(inv, vm, vifs=())) == {codes.NETWORK_UNMAPPED}
    wrong_pool = (VifMap("0", vm.vifs[0].network),)  # a network of the source pool
    assert got(cross_reasons(inv, vm, vifs=wrong_pool)) == {codes.NETWORK_UNMAPPED}


def test_resolve_network_map_bad_items():
    inv, _ = two_pools(b_net="VM Network")
    with pytest.raises(InputError) as e:
        resolve_network_map(inv, ["novalue", "vm-net=nosuch", "vm-net=mgmt", "vm-net=mgmt-b", "=x"])
    lines = e.value.problems
    assert len(lines) == 5
    assert "expected SRC=DST" in lines[0] and "nosuch" in lines[1]
    assert "both in pool a" in lines[2] and "management network" in lines[3]


def test_network_not_attached():
    b = Builder()
    a = b.pool("a")
    h1, h2 = b.host(a, "h1"), b.host(a, "h2")
    net = b.network(a, "vm-net", hosts=[h1])
    b.vm(a, "v", host=h1, networks=[net])
    inv = b.build()
    vm = inv.vm_by_uuid[inv.find("vm", "v")]
    assert got(target_reasons(inv, vm, "live", h2, a, {}, OPTS)) == {codes.NETWORK_NOT_ATTACHED}


@pytest.mark.parametrize(
    ("version", "hotfixes", "https", "blocked"),
    [
        ("8.2.1", (), True, True),
        ("8.2.1", ("XS82ECU1033",), True, False),
        ("8.2.1", (), False, False),
        ("8.4.0", (), True, False),
    ],
)
def test_port80(version, hotfixes, https, blocked):
    inv, vm = two_pools(https=https, version=version, hotfixes=hotfixes)
    r = port80_reasons(inv, vm.pool, inv.find("pool", "b"))
    assert (got(r) == {codes.PORT80}) is blocked
    assert port80_reasons(inv, vm.pool, vm.pool) == []
    assert (codes.PORT80 in got(cross_reasons(inv, vm))) is blocked


def test_management_network_warnings():
    inv, vm = two_pools()
    a, pb = vm.pool, inv.find("pool", "b")
    m = Migration("m0", vm.uuid, "storage", vm.host, inv.find("host", "g1"), a, pb)
    w = management_network_warnings(inv, [m])
    assert [x.code for x in w] == [codes.MANAGEMENT_NETWORK] * 2
    assert "mgmt" in w[0].message
    named = {a: vm.vifs[0].network, pb: inv.find("network", "other-net")}
    assert management_network_warnings(inv, [m], named) == ()
    # naming the management network itself does not silence the warning
    assert len(management_network_warnings(inv, [m], {a: inv.find("network", "mgmt")})) == 2


def test_every_code_has_a_meaning():
    names = [n for n in dir(codes) if n.isupper() and isinstance(getattr(codes, n), str)]
    assert {getattr(codes, n) for n in names} == set(codes.MEANING)
    assert set(codes.REMEDY) <= set(codes.MEANING)
