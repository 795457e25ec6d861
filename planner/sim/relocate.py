"""A finished migration applied to the simulator's database: the VM changes host, its
disks (and their snapshots) change SR with the SRs' usage following, and across pools the
VM and its devices leave one pool's database for the other's.

Called by `planner.sim.migrate.end` on success, with the state lock held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.sim.wire import NULL_REF, i

if TYPE_CHECKING:  # annotations only: planner.sim.migrate calls into this module
    from planner.sim.migrate import Migration
    from planner.sim.state import SimState


def apply_migration(st: SimState, m: Migration) -> None:
    """Move the VM (and its disks, VIFs) in the database."""
    db = st.db
    vref = st.ref_of[m.vm]
    vm = db.get(vref, "VM")
    if m.from_host != m.to_host:
        if m.from_host is not None:
            h = db.get(st.ref_of[m.from_host])
            st.update(
                st.ref_of[m.from_host], resident_VMs=[x for x in h["resident_VMs"] if x != vref]
            )
        if m.to_host is not None:
            h = db.get(st.ref_of[m.to_host])
            st.update(st.ref_of[m.to_host], resident_VMs=[*h["resident_VMs"], vref])
    if m.to_host is not None:
        st.update(vref, resident_on=st.ref_of[m.to_host])
    for disk_uuid, sr_uuid in m.disk_to_sr.items():
        vdi_ref = st.ref_of[disk_uuid]
        # (v2) a disk's snapshot VDIs go where the disk goes (xapi_vm_migrate.ml)
        for ref in (vdi_ref, *db.get(vdi_ref, "VDI")["snapshots"]):
            _move_vdi(st, ref, st.ref_of[sr_uuid])
    if m.to_pool != m.from_pool:
        _move_pool(st, m, vref, vm)


def _move_vdi(st: SimState, vdi_ref: str, new: str) -> None:
    """A VDI changes SR; both SRs' VDIs, utilisation and allocation follow."""
    db = st.db
    vdi = db.get(vdi_ref, "VDI")
    old = vdi["SR"]
    used, size = int(vdi["physical_utilisation"]), int(vdi["virtual_size"])
    o, n = db.get(old), db.get(new)
    st.update(
        old,
        VDIs=[x for x in o["VDIs"] if x != vdi_ref],
        physical_utilisation=i(int(o["physical_utilisation"]) - used),
        virtual_allocation=i(int(o["virtual_allocation"]) - size),
    )
    st.update(
        new,
        VDIs=[*n["VDIs"], vdi_ref],
        physical_utilisation=i(int(n["physical_utilisation"]) + used),
        virtual_allocation=i(int(n["virtual_allocation"]) + size),
    )
    st.update(vdi_ref, SR=new)


def _move_pool(st: SimState, m: Migration, vref: str, vm: dict[str, Any]) -> None:
    """Cross-pool: the VM and its devices leave one pool's database for the other's."""
    _move_vifs(st, m, vm)
    _move_disks(st, m, vm)
    for ref in [*vm["VIFs"], *vm["attached_PCIs"], *vm["VGPUs"]]:
        _move(st, ref, m.to_pool)
    _move_snapshots_and_suspend(st, m, vm)
    db = st.db
    for g in vm.get("groups", []):
        # VM groups are objects of a pool: the VM leaves its groups with the pool
        if db.maybe(g) is not None:
            st.update(g, VMs=[x for x in db.get(g)["VMs"] if x != vref])
    if vm.get("groups"):
        st.update(vref, groups=[])
    for ref in (vm["metrics"], vm["guest_metrics"]):
        if ref != NULL_REF:
            _move(st, ref, m.to_pool)
    # the old home host is not in the new pool: XAPI's import cannot resolve it and
    # leaves the VM without a home (xen-api import.ml, Host handler -> NULL)
    st.update(vref, affinity=NULL_REF, snapshots=[])
    _move(st, vref, m.to_pool)


def _move_vifs(st: SimState, m: Migration, vm: dict[str, Any]) -> None:
    """Each VIF joins its mapped network of the new pool (NULL when unmapped)."""
    db = st.db
    for vif_ref in vm["VIFs"]:
        vif = db.get(vif_ref)
        old, new = vif["network"], m.vif_to_net.get(vif_ref, NULL_REF)
        if db.maybe(old) is not None:
            st.update(old, VIFs=[x for x in db.get(old)["VIFs"] if x != vif_ref])
        if db.maybe(new) is not None:
            st.update(new, VIFs=[*db.get(new)["VIFs"], vif_ref])
        st.update(vif_ref, network=new)


def _move_disks(st: SimState, m: Migration, vm: dict[str, Any]) -> None:
    """VBDs and their VDIs go to the new pool; a CD drive arrives empty."""
    db = st.db
    for vbd_ref in vm["VBDs"]:
        vbd = db.get(vbd_ref)
        if vbd["type"] == "CD" and not vbd["empty"]:
            # the source pool's ISO does not travel: the drive arrives empty
            iso = vbd["VDI"]
            st.update(iso, VBDs=[x for x in db.get(iso)["VBDs"] if x != vbd_ref])
            st.update(vbd_ref, VDI=NULL_REF, empty=True)
        elif vbd["VDI"] != NULL_REF:
            _move(st, vbd["VDI"], m.to_pool)
        _move(st, vbd_ref, m.to_pool)


def _move_snapshots_and_suspend(st: SimState, m: Migration, vm: dict[str, Any]) -> None:
    """(v2) The disks' snapshot VDIs and the suspend image follow the VM."""
    db = st.db
    for vbd_ref in vm["VBDs"]:
        vdi = db.get(vbd_ref)["VDI"]
        if vdi != NULL_REF and db.maybe(vdi) is not None:
            for snap in db.get(vdi)["snapshots"]:  # (v2) snapshots travel with the disk
                if db.pool_of(snap) != m.to_pool:
                    _move(st, snap, m.to_pool)
    suspend = vm.get("suspend_VDI", NULL_REF)
    if suspend != NULL_REF and db.maybe(suspend) is not None:
        target = m.disk_to_sr.get(db.get(suspend)["uuid"])
        if target is not None and db.get(suspend)["SR"] != st.ref_of[target]:
            _move_vdi(st, suspend, st.ref_of[target])
        _move(st, suspend, m.to_pool)


def _move(st: SimState, ref: str, to_pool: str) -> None:
    st.emit("del", ref)
    st.db.move(ref, to_pool)
    st.emit("add", ref)
