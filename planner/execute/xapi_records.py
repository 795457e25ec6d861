"""Reading and tagging XAPI objects for the executor: the intent marker on a VM or
task, a destination host seeing the target SRs, the migration stream's network, and where
a VM is (`Location`). Each takes a session's ``xenapi`` proxy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from planner.execute.backend import Location
from planner.inventory.model import RESIDENT_STATES

# other_config key of the executor's client-side marker (docs/reliability.md): set on
# the VM before a migration call, and on the call's task once XAPI returned it
MARKER_KEY = "xen_planner_intent"


def _set_marker(api: Any, ref: str, marker: str) -> None:
    """other_config[MARKER_KEY] = marker (add_to_other_config refuses a present key)."""
    api.remove_from_other_config(ref, MARKER_KEY)
    api.add_to_other_config(ref, MARKER_KEY, marker)


def _host_seeing(x: Any, srs: Sequence[str]) -> str:
    """A destination for a move without `to_host` (a Halted or Suspended VM): the pool
    master when it has every target SR attached, else the first enabled host that has
    (a local SR is attached to one host only: XAPI would refuse the master with
    VM_REQUIRES_SR). The master when none has: XAPI then names what is missing."""
    master = x.pool.get_master(x.pool.get_all()[0])
    if not srs:
        return master
    attached: dict[str, set[str]] = {}
    for sr in srs:
        for pbd in x.SR.get_PBDs(sr):
            rec = x.PBD.get_record(pbd)
            if rec.get("currently_attached"):
                attached.setdefault(rec.get("host"), set()).add(sr)
    want = set(srs)
    hosts = [master] + [h for h in x.host.get_all() if h != master]
    for h in hosts:
        if attached.get(h, set()) >= want and (h == master or x.host.get_enabled(h)):
            return h
    return master


def _management_network(x: Any, host: str) -> str:
    """The network of `host`'s management PIF (migrate_receive's stream network when the
    plan names none, as `xe vm-migrate` does); without one, the first PIF with an IP
    (migrate_receive refuses a PIF without), else NULL."""
    pifs = x.host.get_PIFs(host)
    for pif in pifs:
        if x.PIF.get_management(pif):
            return x.PIF.get_network(pif)
    for pif in pifs:
        if x.PIF.get_IP(pif):
            return x.PIF.get_network(pif)
    return "OpaqueRef:NULL"


def _location(x: Any, ref: str, pool: str) -> Location:
    rec = x.VM.get_record(ref)
    state = rec.get("power_state", "Halted")
    host = None
    if state in RESIDENT_STATES and rec.get("resident_on") not in (None, "OpaqueRef:NULL"):
        host = x.host.get_uuid(rec["resident_on"])
    disks: dict[str, str] = {}
    for vbd in rec.get("VBDs", []):
        v = x.VBD.get_record(vbd)
        if v.get("type") != "Disk" or v.get("VDI") in (None, "", "OpaqueRef:NULL"):
            continue
        vdi = x.VDI.get_record(v["VDI"])
        disks[vdi["uuid"]] = x.SR.get_uuid(vdi["SR"])
    return Location(pool, host, state, disks)
