"""Validation of a parsed inventory document (FORMATS.md "Inventory snapshot").

`validate_document` never raises, whatever JSON value it is given: every fault becomes
one line that starts with its JSON path, e.g.

    vms[12].disks[0].sr: no SR with uuid '3f2a...'
    hosts[3].memory_total_bytes: must be a positive integer, got -5

Errors make the document unusable (loading refuses it); warnings describe states a real
pool can be in for a while (memory overcommitted on a host). Unknown keys are ignored.
The checks run in two passes: shapes and types of every object first (collecting uuids),
then references and cross-object consistency (`planner.inventory.validate_refs`; the
fault collecting is `planner.inventory.faults`), so a reference to an object that is itself
malformed is not reported twice. Speed matters (100,000 VMs in a few seconds), so the
hot loops use plain `type(x) is ...` tests rather than a generic schema walker.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from planner.inventory.faults import MISSING as _MISSING
from planner.inventory.faults import Checker as _Checker
from planner.inventory.faults import Refs as _Refs
from planner.inventory.faults import ValidationReport as ValidationReport
from planner.inventory.faults import show as _show
from planner.inventory.model import (
    CPU_VENDORS,
    FORMAT_NAME,
    FORMAT_VERSION,
    GROUP_PLACEMENTS,
    ON_BOOT,
    OS_KINDS,
    POWER_STATES,
    READ_VERSIONS,
)
from planner.inventory.validate_refs import check_refs

VERSION_RE = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9}){0,15}")  # ASCII digits; int()-safe parts
KINDS = ("pools", "hosts", "srs", "networks", "vms")
_KIND_NAME = {"pools": "pool", "hosts": "host", "srs": "SR", "networks": "network", "vms": "VM"}


def validate_document(doc: Any) -> ValidationReport:
    """Check a parsed inventory document; every fault is one line naming its path.

    Returns all errors and warnings found (the CLI decides how many to show). A document
    with the wrong `format` or `version` gets that one error only: it is not an inventory
    this reader understands.
    """
    c = _Checker()
    if not isinstance(doc, dict):
        c.errors.append(
            f"document: must be a JSON object with format {FORMAT_NAME!r}, got {_show(doc)}"
        )
        return ValidationReport(c.errors, c.warnings)
    fmt = doc.get("format", _MISSING)
    if fmt is _MISSING:
        c.err("format", f"missing (expected {FORMAT_NAME!r}): not a xen-planner inventory")
    elif fmt != FORMAT_NAME:
        c.err("format", f"must be {FORMAT_NAME!r}, got {_show(fmt)}")
    else:
        ver = doc.get("version", _MISSING)
        if ver is _MISSING:
            c.err("version", f"missing (expected {FORMAT_VERSION})")
        elif type(ver) is not int or ver not in READ_VERSIONS:
            c.err(
                "version",
                f"unsupported inventory version {_show(ver)} "
                f"(this planner reads versions 1 and {FORMAT_VERSION})",
            )
    if c.errors:
        return ValidationReport(c.errors, c.warnings)

    for key in ("taken_at", "source"):
        if key not in doc:
            c.err(key, "missing")
        elif type(doc[key]) is not str:
            c.err(key, f"must be a string, got {_show(doc[key])}")
    taken = doc.get("taken_at")
    if type(taken) is str and taken:
        try:
            datetime.fromisoformat(taken)
        except ValueError:
            c.warnings.append(f"taken_at: not an RFC 3339 time: {_show(taken)}")

    lists: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for kind in KINDS:
        items = doc.get(kind, _MISSING)
        if items is _MISSING:
            c.err(kind, "missing (a list, possibly empty)")
            items = []
        elif type(items) is not list:
            c.err(kind, f"must be a list, got {_show(items)}")
            items = []
        objs = []
        for i, x in enumerate(items):
            if type(x) is dict:
                objs.append((i, x))
            else:
                c.err(f"{kind}[{i}]", f"must be an object, got {_show(x)}")
        lists[kind] = objs

    # (v2) optional: a v1 document has no VM groups
    groups = doc.get("vm_groups", [])
    if type(groups) is not list:
        c.err("vm_groups", f"must be a list, got {_show(groups)}")
        groups = []
    lists["vm_groups"] = []
    for i, x in enumerate(groups):
        if type(x) is dict:
            lists["vm_groups"].append((i, x))
        else:
            c.err(f"vm_groups[{i}]", f"must be an object, got {_show(x)}")

    refs = _Refs()
    _pass1(c, lists, refs)
    check_refs(c, lists, refs)
    _v2_shapes(c, doc, lists)
    return ValidationReport(c.errors, c.warnings)


def _v2_shapes(c: _Checker, doc: dict[str, Any], lists: dict[str, Any]) -> None:
    """The optional (v2) keys, when present, have the shape the reader expects: a
    suspend image object, string lists, VM group objects, integer snapshot bytes."""
    for i, d in lists["networks"]:
        if "ip_hosts" in d:
            c.strings(d, "ip_hosts", f"networks[{i}]")
    for i, d in lists["vms"]:
        path = f"vms[{i}]"
        if "groups" in d:
            c.strings(d, "groups", path)
        sv = d.get("suspend_vdi")
        if sv is not None:
            if type(sv) is not dict:
                c.err(f"{path}.suspend_vdi", f"must be an object or null, got {_show(sv)}")
            else:
                for key in ("uuid", "sr"):
                    c.string(sv, key, f"{path}.suspend_vdi")
                for key in ("size_bytes", "used_bytes"):
                    c.integer(sv, key, f"{path}.suspend_vdi")
        for j, x in enumerate(d.get("disks") if type(d.get("disks")) is list else ()):
            if type(x) is dict and "snapshot_used_bytes" in x:
                c.integer(x, "snapshot_used_bytes", f"{path}.disks[{j}]")
    groups = doc.get("vm_groups", [])
    if type(groups) is not list:
        c.err("vm_groups", f"must be a list, got {_show(groups)}")
        return
    for i, g in enumerate(groups):
        if type(g) is not dict:
            c.err(f"vm_groups[{i}]", f"must be an object, got {_show(g)}")
            continue
        for key in ("uuid", "name", "pool", "placement"):
            c.string(g, key, f"vm_groups[{i}]")


def _claim(c: _Checker, refs: _Refs, uuid: str | None, path: str) -> bool:
    """Register a uuid; False (and an error) when another object already has it."""
    if uuid is None:
        return False
    first = refs.seen.get(uuid)
    if first is not None:
        c.err(f"{path}.uuid", f"duplicate uuid {uuid!r} (also {first})")
        return False
    refs.seen[uuid] = path
    return True


def _pass1(c: _Checker, lists: dict[str, list[tuple[int, dict[str, Any]]]], refs: _Refs) -> None:
    """Shapes and types of every object; records uuids and each object's pool."""
    for kind, shape in (
        ("pools", _pool_shape),
        ("hosts", _host_shape),
        ("srs", _sr_shape),
        ("networks", _network_shape),
        ("vm_groups", _group_shape),
        ("vms", _vm_shape),
    ):
        for i, d in lists[kind]:
            shape(c, refs, i, d)


def _pool_shape(c: _Checker, refs: _Refs, i: int, d: dict[str, Any]) -> None:
    path = f"pools[{i}]"
    uuid = c.string(d, "uuid", path, nonempty=True)
    c.string(d, "name", path)
    c.string(d, "master", path)
    for key in ("ha_enabled", "migration_compression", "https_only"):
        c.boolean(d, key, path)
    c.string(d, "default_sr", path, nullable=True)
    if uuid is not None and _claim(c, refs, uuid, path):
        refs.pools[uuid] = i


def _host_shape(c: _Checker, refs: _Refs, i: int, d: dict[str, Any]) -> None:
    path = f"hosts[{i}]"
    uuid = c.string(d, "uuid", path, nonempty=True)
    c.string(d, "name", path)
    pool = c.string(d, "pool", path)
    c.boolean(d, "enabled", path)
    version = c.string(d, "version", path)
    if version is not None and not VERSION_RE.fullmatch(version):
        c.err(f"{path}.version", f"must be dotted integers like '8.4.0', got {_show(version)}")
    c.strings(d, "hotfixes", path)
    cpu = c.get(d, "cpu", path)
    if cpu is not _MISSING:
        if type(cpu) is dict:
            cp = f"{path}.cpu"
            c.enum(cpu, "vendor", cp, CPU_VENDORS)
            c.features(cpu, "features", cp)
            c.string(cpu, "model", cp)
            c.integer(cpu, "count", cp, positive=True)
        else:
            c.err(f"{path}.cpu", f"must be an object, got {_show(cpu)}")
    total = c.integer(d, "memory_total_bytes", path, positive=True)
    overhead = c.integer(d, "memory_overhead_bytes", path)
    if total is not None and overhead is not None and overhead >= total:
        c.err(
            f"{path}.memory_overhead_bytes",
            f"must be less than memory_total_bytes ({total}), got {overhead}",
        )
    if uuid is not None and _claim(c, refs, uuid, path):
        refs.host_pool[uuid] = pool
        refs.host_path[uuid] = path
        if total is not None and overhead is not None:
            refs.host_capacity[uuid] = total - overhead


def _sr_shape(c: _Checker, refs: _Refs, i: int, d: dict[str, Any]) -> None:
    path = f"srs[{i}]"
    uuid = c.string(d, "uuid", path, nonempty=True)
    c.string(d, "name", path)
    pool = c.string(d, "pool", path)
    c.string(d, "type", path)
    c.boolean(d, "shared", path)
    size = c.integer(d, "size_bytes", path)
    used = c.integer(d, "used_bytes", path)
    if size is not None and used is not None and used > size:
        c.err(f"{path}.used_bytes", f"must not exceed size_bytes ({size}), got {used}")
    c.strings(d, "hosts", path)
    if uuid is not None and _claim(c, refs, uuid, path):
        refs.sr_pool[uuid] = pool


def _network_shape(c: _Checker, refs: _Refs, i: int, d: dict[str, Any]) -> None:
    path = f"networks[{i}]"
    uuid = c.string(d, "uuid", path, nonempty=True)
    c.string(d, "name", path)
    pool = c.string(d, "pool", path)
    c.boolean(d, "management", path)
    c.boolean(d, "sriov", path)
    c.strings(d, "hosts", path)
    if "ip_hosts" in d:  # (v2) optional: the reader fills the FORMATS.md default
        c.strings(d, "ip_hosts", path)
    if uuid is not None and _claim(c, refs, uuid, path):
        refs.net_pool[uuid] = pool


def _group_shape(c: _Checker, refs: _Refs, i: int, d: dict[str, Any]) -> None:
    path = f"vm_groups[{i}]"
    uuid = c.string(d, "uuid", path, nonempty=True)
    c.string(d, "name", path)
    pool = c.string(d, "pool", path)
    c.enum(d, "placement", path, GROUP_PLACEMENTS)
    if uuid is not None and _claim(c, refs, uuid, path):
        refs.group_pool[uuid] = pool


def _vm_shape(c: _Checker, refs: _Refs, i: int, d: dict[str, Any]) -> None:
    path = f"vms[{i}]"
    uuid = c.string(d, "uuid", path, nonempty=True)
    c.string(d, "name", path)
    c.string(d, "pool", path)
    c.enum(d, "power_state", path, POWER_STATES)
    for key in ("host", "affinity"):
        c.string(d, key, path, nullable=True)
    mem = c.integer(d, "memory_bytes", path)
    low = c.integer(d, "memory_min_bytes", path)
    if mem is not None and low is not None and low > mem:
        c.err(f"{path}.memory_min_bytes", f"must not exceed memory_bytes ({mem}), got {low}")
    c.integer(d, "vcpus", path, positive=True)
    c.enum(d, "cpu_vendor", path, CPU_VENDORS, nullable=True)
    c.features(d, "cpu_features", path, nullable=True)
    for key in ("ha_protected", "tools", "mcs", "pci", "vgpu"):
        c.boolean(d, key, path)
    c.enum(d, "os", path, OS_KINDS)
    c.strings(d, "tags", path)
    disks = c.list_of(d, "disks", path)
    for j, x in enumerate(disks or ()):
        dp = f"{path}.disks[{j}]"
        if type(x) is not dict:
            c.err(dp, f"must be an object, got {_show(x)}")
            continue
        du = c.string(x, "uuid", dp, nonempty=True)
        _claim(c, refs, du, dp)
        c.string(x, "sr", dp)
        c.integer(x, "size_bytes", dp)
        c.integer(x, "used_bytes", dp)
        c.boolean(x, "cbt", dp)
        c.enum(x, "on_boot", dp, ON_BOOT)
        if "snapshot_used_bytes" in x:  # (v2, default 0)
            c.integer(x, "snapshot_used_bytes", dp)
    sv = d.get("suspend_vdi")  # (v2, default null)
    if sv is not None:
        sp = f"{path}.suspend_vdi"
        if type(sv) is not dict:
            c.err(sp, f"must be an object or null, got {_show(sv)}")
        else:
            _claim(c, refs, c.string(sv, "uuid", sp, nonempty=True), sp)
            c.string(sv, "sr", sp)
            c.integer(sv, "size_bytes", sp)
            c.integer(sv, "used_bytes", sp)
    if "groups" in d:  # (v2, default [])
        c.strings(d, "groups", path)
    vifs = c.list_of(d, "vifs", path)
    devices: set[str] = set()
    for j, x in enumerate(vifs or ()):
        vp = f"{path}.vifs[{j}]"
        if type(x) is not dict:
            c.err(vp, f"must be an object, got {_show(x)}")
            continue
        dev = c.string(x, "device", vp)
        if dev is not None:
            if dev in devices:
                c.err(f"{vp}.device", f"duplicate VIF device {dev!r} in this VM")
            devices.add(dev)
        c.string(x, "network", vp)
    _claim(c, refs, uuid, path)
