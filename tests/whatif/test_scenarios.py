"""Scenario edits return new, valid inventories and leave the original untouched."""

from __future__ import annotations

import pytest

from planner.errors import InputError, LookupFailed
from planner.inventory import io
from planner.inventory.builder import GIB, Builder
from planner.scenarios import add_hosts, disable_hosts, grow_memory, remove_hosts


def _fleet():
    b = Builder()
    p = b.pool("lab")
    h = [b.host(p, f"xs-0{i}", memory_gib=32) for i in range(1, 4)]
    sr = b.sr(p, "nfs")
    local = b.sr(p, "local-1", shared=False, host=h[0])
    net = b.network(p, "vm-net")
    b.vm(p, "a", host=h[0], memory_gib=4, disks=[(sr, 10)], networks=[net], affinity=h[0])
    b.vm(p, "b", host=h[1], memory_gib=6, memory_min_gib=3, disks=[(local, 10)], networks=[net])
    b.vm(p, "c", memory_gib=2, disks=[(sr, 5)], networks=[net], affinity=h[0])
    return b.build(), h


def _revalidated(inv):
    """Round trip through the validator: the edit must yield a loadable document."""
    return io.from_dict(io.to_dict(inv))


def test_remove_host_halts_its_vms_and_detaches_it():
    inv, h = _fleet()
    before = io.to_dict(inv)
    after = remove_hosts(inv, ["xs-01"])
    assert io.to_dict(inv) == before  # untouched
    assert h[0] not in after.host_by_uuid
    a = next(v for v in after.vms if v.name == "a")
    assert (a.power_state, a.host, a.cpu_vendor, a.affinity) == ("Halted", None, None, None)
    assert next(v for v in after.vms if v.name == "c").affinity is None
    assert all(h[0] not in s.hosts for s in after.srs)
    assert after.pools[0].master == h[1]  # master promoted
    assert _revalidated(after).digest == io.digest(after)


def test_remove_every_host_of_a_pool_is_refused():
    inv, _ = _fleet()
    with pytest.raises(InputError, match="leave pool lab with none"):
        remove_hosts(inv, ["xs-01", "xs-02", "xs-03"])
    with pytest.raises(LookupFailed, match="xs-01"):
        remove_hosts(inv, ["xs-1"])


def test_disable_hosts():
    inv, h = _fleet()
    after = disable_hosts(inv, ["xs-02"])
    assert [x.enabled for x in after.hosts] == [True, False, True]
    assert inv.host_by_uuid[h[1]].enabled


def test_add_hosts_copies_and_attaches_shared_storage_only():
    inv, _ = _fleet()
    after = add_hosts(inv, "xs-02", 2, memory_total_bytes=256 * GIB, name_prefix="new-")
    new = [x for x in after.hosts if x.name.startswith("new-")]
    assert [x.name for x in new] == ["new-1", "new-2"]
    assert all(x.memory_total_bytes == 256 * GIB and x.enabled for x in new)
    nfs = next(s for s in after.srs if s.name == "nfs")
    local = next(s for s in after.srs if s.name == "local-1")
    assert all(x.uuid in nfs.hosts and x.uuid not in local.hosts for x in new)
    assert all(x.uuid in after.networks[0].hosts for x in new)
    _revalidated(after)
    with pytest.raises(InputError):
        add_hosts(inv, "xs-02", 0)


def test_grow_memory_scales_and_rounds():
    inv, _ = _fleet()
    after = grow_memory(inv, 1.5)
    b = next(v for v in after.vms if v.name == "b")
    assert b.memory_bytes == 9 * GIB and b.memory_min_bytes == round(4.5 * GIB)
    with pytest.raises(InputError):
        grow_memory(inv, 0)
    only = grow_memory(inv, 2.0, pools=["lab"])
    assert only.vms[0].memory_bytes == 8 * GIB
