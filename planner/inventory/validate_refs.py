"""Inventory validation, pass 2: references between objects, pool membership and
power-state consistency, then the warnings (memory overcommitted, SR usage below its
disks'). Runs after pass 1 (`planner.inventory.validate`) has checked every object's
shape and recorded uuids and pools in `Refs`; a reference to a malformed object is not
reported again. One function per object kind. Bytes throughout.
"""

from __future__ import annotations

from typing import Any

from planner.inventory.faults import Checker, Refs, show
from planner.inventory.model import RESIDENT_STATES

Objects = list[tuple[int, dict[str, Any]]]  # (index in its list, object)


def check_refs(c: Checker, lists: dict[str, Objects], refs: Refs) -> None:
    """References, pool membership and power-state consistency; memory warnings."""
    _pool_refs(c, lists["pools"], refs)
    for kind in ("hosts", "vm_groups"):
        for i, d in lists[kind]:
            _pool_of(c, refs, d, f"{kind}[{i}]")
    for kind, what in (("srs", "SR"), ("networks", "network")):
        for i, d in lists[kind]:
            _host_list(c, refs, d, f"{kind}[{i}]", what)
    _ip_hosts(c, lists["networks"], refs)
    committed: dict[str, int] = {}  # host uuid -> memory its running VMs commit
    disk_used: dict[str, int] = {}  # SR uuid -> its listed disks' used_bytes
    for i, d in lists["vms"]:
        _vm_refs(c, refs, d, f"vms[{i}]", committed, disk_used)
    _sr_usage_warnings(c, lists["srs"], disk_used)
    _memory_warnings(c, refs, committed)


def _pool_of(c: Checker, refs: Refs, d: dict[str, Any], path: str) -> str | None:
    """The object's pool uuid when it names a known pool (else report it)."""
    p = d.get("pool")
    if type(p) is not str:
        return None  # type fault already reported
    if p not in refs.pools:
        c.err(f"{path}.pool", f"no pool with uuid {p!r}")
        return None
    return p


def _other_pool(refs: Refs, owner: str | None, pool: str | None) -> bool:
    """True when `owner` (an object's pool) is known and differs from `pool`.

    An owner whose own pool is malformed or unknown was reported already, so it is
    not blamed again here."""
    return pool is not None and owner in refs.pools and owner != pool


def _pool_refs(c: Checker, pools: Objects, refs: Refs) -> None:
    """A pool's master and default SR exist and belong to it."""
    for i, d in pools:
        path = f"pools[{i}]"
        uuid = d.get("uuid")
        own = uuid if type(uuid) is str else None
        m = d.get("master")
        if type(m) is str:
            if m not in refs.host_pool:
                c.err(f"{path}.master", f"no host with uuid {m!r}")
            elif _other_pool(refs, refs.host_pool[m], own):
                c.err(f"{path}.master", f"host {m!r} ({refs.host_path[m]}) is not in this pool")
        s = d.get("default_sr")
        if type(s) is str:
            if s not in refs.sr_pool:
                c.err(f"{path}.default_sr", f"no SR with uuid {s!r}")
            elif _other_pool(refs, refs.sr_pool[s], own):
                c.err(f"{path}.default_sr", f"SR {s!r} is not in this pool")


def _host_list(c: Checker, refs: Refs, d: dict[str, Any], path: str, what: str) -> None:
    """An SR's or network's `hosts` exist and are in its pool."""
    pool = _pool_of(c, refs, d, path)
    hosts = d.get("hosts")
    if type(hosts) is not list:
        return
    for j, h in enumerate(hosts):
        if type(h) is not str:
            continue
        if h not in refs.host_pool:
            c.err(f"{path}.hosts[{j}]", f"no host with uuid {h!r}")
        elif _other_pool(refs, refs.host_pool[h], pool):
            c.err(
                f"{path}.hosts[{j}]",
                f"host {h!r} ({refs.host_path[h]}) is in another pool than this {what}",
            )


def _vm_refs(
    c: Checker,
    refs: Refs,
    d: dict[str, Any],
    path: str,
    committed: dict[str, int],
    disk_used: dict[str, int],
) -> None:
    """A VM's host, affinity, disks' SRs, suspend image, groups and VIFs' networks; adds
    its memory to `committed` (running on a known host) and its disks to `disk_used`."""
    pool = _pool_of(c, refs, d, path)
    state = d.get("power_state")
    _vm_host(c, refs, d, path, pool, state, committed)
    aff = d.get("affinity")
    if type(aff) is str:
        if aff not in refs.host_pool:
            c.err(f"{path}.affinity", f"no host with uuid {aff!r}")
        elif _other_pool(refs, refs.host_pool[aff], pool):
            c.err(f"{path}.affinity", f"host {aff!r} is in another pool")
    disks = d.get("disks")
    for j, x in enumerate(disks if type(disks) is list else ()):
        sr = x.get("sr") if type(x) is dict else None
        if type(sr) is not str:
            continue
        if sr not in refs.sr_pool:
            c.err(f"{path}.disks[{j}].sr", f"no SR with uuid {sr!r}")
        elif _other_pool(refs, refs.sr_pool[sr], pool):
            c.err(f"{path}.disks[{j}].sr", f"SR {sr!r} is in another pool than the VM")
        used = x.get("used_bytes")
        if type(used) is int and used >= 0:
            disk_used[sr] = disk_used.get(sr, 0) + used
    _v2_vm_refs(c, refs, d, path, pool, state)
    vifs = d.get("vifs")
    for j, x in enumerate(vifs if type(vifs) is list else ()):
        net = x.get("network") if type(x) is dict else None
        if type(net) is not str:
            continue
        if net not in refs.net_pool:
            c.err(f"{path}.vifs[{j}].network", f"no network with uuid {net!r}")
        elif _other_pool(refs, refs.net_pool[net], pool):
            c.err(f"{path}.vifs[{j}].network", f"network {net!r} is in another pool than the VM")


def _vm_host(
    c: Checker,
    refs: Refs,
    d: dict[str, Any],
    path: str,
    pool: str | None,
    state: Any,
    committed: dict[str, int],
) -> None:
    """A Running/Paused VM names a host of its pool; a Halted/Suspended one none."""
    host = d.get("host")
    if type(host) is str:
        if host not in refs.host_pool:
            c.err(f"{path}.host", f"no host with uuid {host!r}")
        elif _other_pool(refs, refs.host_pool[host], pool):
            c.err(
                f"{path}.host",
                f"resident on host {host!r} ({refs.host_path[host]}) of another pool",
            )
        elif state in RESIDENT_STATES:
            mem = d.get("memory_bytes")
            if type(mem) is int and mem >= 0:
                committed[host] = committed.get(host, 0) + mem
        if state in ("Halted", "Suspended"):
            c.err(f"{path}.host", f"must be null for a {state} VM, got {host!r}")
    elif host is None and state in RESIDENT_STATES:
        c.err(f"{path}.host", f"a {state} VM needs its resident host, got null")


def _sr_usage_warnings(c: Checker, srs: Objects, disk_used: dict[str, int]) -> None:
    for i, d in srs:
        uuid, sr_used = d.get("uuid"), d.get("used_bytes")
        listed = disk_used.get(uuid, 0) if type(uuid) is str else 0
        if type(sr_used) is int and sr_used < listed:
            # FORMATS.md: used_bytes is XAPI's physical_utilisation and every reader takes
            # it as it is; a figure below its own disks usually means a stale collection
            c.warnings.append(
                f"srs[{i}].used_bytes: {sr_used} bytes, less than the {listed} bytes its "
                "listed disks use; the planner and the checker take the SR's figure"
            )


def _memory_warnings(c: Checker, refs: Refs, committed: dict[str, int]) -> None:
    for host, used in committed.items():
        cap = refs.host_capacity.get(host)
        if cap is not None and used > cap:
            c.warnings.append(
                f"{refs.host_path[host]}: running VMs commit {used} bytes, more than the "
                f"{cap} bytes guests can use (memory_total_bytes - memory_overhead_bytes)"
            )


def _v2_vm_refs(
    c: Checker, refs: Refs, d: dict[str, Any], path: str, pool: str | None, state: Any
) -> None:
    """(v2) A VM's suspend image (Suspended VMs only, on an SR of its pool) and groups
    (known VM groups of its pool)."""
    sv = d.get("suspend_vdi")
    if type(sv) is dict:
        if state != "Suspended":
            c.err(
                f"{path}.suspend_vdi",
                f"only a Suspended VM has a suspend image, this one is {show(state)}",
            )
        sr = sv.get("sr")
        if type(sr) is str:
            if sr not in refs.sr_pool:
                c.err(f"{path}.suspend_vdi.sr", f"no SR with uuid {sr!r}")
            elif pool is not None and refs.sr_pool[sr] in refs.pools and refs.sr_pool[sr] != pool:
                c.err(f"{path}.suspend_vdi.sr", f"SR {sr!r} is in another pool than the VM")
    groups = d.get("groups")
    for j, g in enumerate(groups if type(groups) is list else ()):
        if type(g) is not str:
            continue
        if g not in refs.group_pool:
            c.err(f"{path}.groups[{j}]", f"no VM group with uuid {g!r}")
        elif pool is not None and refs.group_pool[g] in refs.pools and refs.group_pool[g] != pool:
            c.err(f"{path}.groups[{j}]", f"VM group {g!r} is in another pool than the VM")


def _ip_hosts(c: Checker, networks: list[tuple[int, dict[str, Any]]], refs: Refs) -> None:
    """(v2) A network's `ip_hosts` are hosts of its pool that have a PIF on it: an IP
    configuration lives on a PIF, so a host outside `hosts` cannot have one."""
    for i, d in networks:
        ips, hosts = d.get("ip_hosts"), d.get("hosts")
        if type(ips) is not list:
            continue
        # bad items of `hosts` and `pool` were reported by their own checks
        on = {x for x in hosts if type(x) is str} if type(hosts) is list else None
        pool = d.get("pool") if type(d.get("pool")) is str else None
        for j, h in enumerate(ips):
            if type(h) is not str:
                continue
            path = f"networks[{i}].ip_hosts[{j}]"
            if h not in refs.host_pool:
                c.err(path, f"no host with uuid {h!r}")
            elif pool in refs.pools and refs.host_pool[h] != pool:
                c.err(
                    path, f"host {h!r} ({refs.host_path[h]}) is in another pool than this network"
                )
            elif on is not None and h not in on:
                c.err(
                    path,
                    f"host {h!r} ({refs.host_path[h]}) has no PIF on this network "
                    "(not in its hosts)",
                )
