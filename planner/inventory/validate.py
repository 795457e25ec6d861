"""Validation of a parsed inventory document (FORMATS.md "Inventory snapshot").

`validate_document` never raises, whatever JSON value it is given: every fault becomes
one line that starts with its JSON path, e.g.

    vms[12].disks[0].sr: no SR with uuid '3f2a...'
    hosts[3].memory_total_bytes: must be a positive integer, got -5

Errors make the document unusable (loading refuses it); warnings describe states a real
pool can be in for a while (memory overcommitted on a host). Unknown keys are ignored.
The checks run in two passes: shapes and types of every object first (collecting uuids),
then references and cross-object consistency, so a reference to an object that is itself
malformed is not reported twice. Speed matters (100,000 VMs in a few seconds), so the
hot loops use plain `type(x) is ...` tests rather than a generic schema walker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
from planner.limits import MAX_BYTES, bad_text

VERSION_RE = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9}){0,15}")  # ASCII digits; int()-safe parts
FEATURES_RE = re.compile(r"[0-9a-fA-F]{1,8}(-[0-9a-fA-F]{1,8})*")
KINDS = ("pools", "hosts", "srs", "networks", "vms")
_KIND_NAME = {"pools": "pool", "hosts": "host", "srs": "SR", "networks": "network", "vms": "VM"}
RUNNING = ("Running", "Paused")


@dataclass
class ValidationReport:
    """Faults of a document: `errors` make it unusable, `warnings` do not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _show(value: Any) -> str:
    """A short rendering of a bad value for a message."""
    text = repr(value) if isinstance(value, str) else _json_text(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


class _Checker:
    """Collects faults; each `need_*` returns the value when it is valid, else None."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    # ---- typed getters: `d` is a dict, `path` the object's path

    def get(self, d: dict[str, Any], key: str, path: str) -> Any:
        if key not in d:
            self.err(f"{path}.{key}", "missing")
            return _MISSING
        return d[key]

    def string(self, d: dict[str, Any], key: str, path: str, *, nullable: bool = False,
               nonempty: bool = False) -> str | None:  # fmt: skip
        v = self.get(d, key, path)
        if v is _MISSING:
            return None
        if type(v) is str:
            if nonempty and not v:
                self.err(f"{path}.{key}", "must not be empty")
                return None
            why = bad_text(v, controls=False)
            if why is not None:
                # (a name XAPI gave may hold a newline; exports quote it, see export.py)
                self.err(f"{path}.{key}", why)
                return None
            return v
        if v is None and nullable:
            return None
        what = "a string or null" if nullable else "a string"
        self.err(f"{path}.{key}", f"must be {what}, got {_show(v)}")
        return None

    def boolean(self, d: dict[str, Any], key: str, path: str) -> bool | None:
        v = self.get(d, key, path)
        if v is _MISSING:
            return None
        if type(v) is bool:
            return v
        self.err(f"{path}.{key}", f"must be true or false, got {_show(v)}")
        return None

    def integer(self, d: dict[str, Any], key: str, path: str, *,
                positive: bool = False) -> int | None:  # fmt: skip
        """A non-negative (or positive) integer; bools and floats are refused."""
        v = self.get(d, key, path)
        if v is _MISSING:
            return None
        if type(v) is int and (v > 0 if positive else v >= 0) and v <= MAX_BYTES:
            return v
        what = "a positive integer" if positive else "a non-negative integer"
        if type(v) is int and v > MAX_BYTES:
            what += " of at most 2**62"
        self.err(f"{path}.{key}", f"must be {what}, got {_show(v)}")
        return None

    def enum(self, d: dict[str, Any], key: str, path: str, choices: tuple[str, ...], *,
             nullable: bool = False) -> str | None:  # fmt: skip
        v = self.get(d, key, path)
        if v is _MISSING:
            return None
        if type(v) is str and v in choices:
            return v
        if v is None and nullable:
            return None
        opts = ", ".join(repr(c) for c in choices) + (" or null" if nullable else "")
        self.err(f"{path}.{key}", f"must be one of {opts}, got {_show(v)}")
        return None

    def features(self, d: dict[str, Any], key: str, path: str, *,
                 nullable: bool = False) -> str | None:  # fmt: skip
        v = self.string(d, key, path, nullable=nullable)
        if v is not None and not FEATURES_RE.fullmatch(v):
            self.err(f"{path}.{key}",
                     f"must be hex words joined by '-' (e.g. '1fcbfbff-f7fa3223'), "
                     f"got {_show(v)}")  # fmt: skip
            return None
        return v

    def list_of(self, d: dict[str, Any], key: str, path: str) -> list[Any] | None:
        v = self.get(d, key, path)
        if v is _MISSING:
            return None
        if type(v) is list:
            return v
        self.err(f"{path}.{key}", f"must be a list, got {_show(v)}")
        return None

    def strings(self, d: dict[str, Any], key: str, path: str) -> list[str]:
        """A list of strings; bad items are reported and dropped."""
        items = self.list_of(d, key, path)
        if items is None:
            return []
        out = []
        for i, x in enumerate(items):
            if type(x) is str:
                out.append(x)
            else:
                self.err(f"{path}.{key}[{i}]", f"must be a string, got {_show(x)}")
        return out


class _Missing:
    pass


_MISSING: Any = _Missing()


@dataclass
class _Refs:
    """What pass 1 learned, for pass 2: uuid -> pool of each object kind."""

    pools: dict[str, int] = field(default_factory=dict)  # uuid -> index
    host_pool: dict[str, str | None] = field(default_factory=dict)
    sr_pool: dict[str, str | None] = field(default_factory=dict)
    net_pool: dict[str, str | None] = field(default_factory=dict)
    host_capacity: dict[str, int] = field(default_factory=dict)
    host_path: dict[str, str] = field(default_factory=dict)
    group_pool: dict[str, str | None] = field(default_factory=dict)  # (v2) VM groups
    seen: dict[str, str] = field(default_factory=dict)  # every uuid -> path of first owner


def validate_document(doc: Any) -> ValidationReport:
    """Check a parsed inventory document; every fault is one line naming its path.

    Returns all errors and warnings found (the CLI decides how many to show). A document
    with the wrong `format` or `version` gets that one error only: it is not an inventory
    this reader understands.
    """
    c = _Checker()
    if not isinstance(doc, dict):
        c.errors.append(f"document: must be a JSON object with format {FORMAT_NAME!r}, "
                        f"got {_show(doc)}")  # fmt: skip
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
            c.err("version", f"unsupported inventory version {_show(ver)} "
                             f"(this planner reads versions 1 and {FORMAT_VERSION})")  # fmt: skip
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
    _pass2(c, lists, refs)
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
    for i, d in lists["pools"]:
        path = f"pools[{i}]"
        uuid = c.string(d, "uuid", path, nonempty=True)
        c.string(d, "name", path)
        c.string(d, "master", path)
        for key in ("ha_enabled", "migration_compression", "https_only"):
            c.boolean(d, key, path)
        c.string(d, "default_sr", path, nullable=True)
        if _claim(c, refs, uuid, path):
            refs.pools[uuid] = i  # type: ignore[index]

    for i, d in lists["hosts"]:
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
            c.err(f"{path}.memory_overhead_bytes",
                  f"must be less than memory_total_bytes ({total}), got {overhead}")  # fmt: skip
        if _claim(c, refs, uuid, path):
            refs.host_pool[uuid] = pool  # type: ignore[index]
            refs.host_path[uuid] = path  # type: ignore[index]
            if total is not None and overhead is not None:
                refs.host_capacity[uuid] = total - overhead  # type: ignore[index]

    for i, d in lists["srs"]:
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
        if _claim(c, refs, uuid, path):
            refs.sr_pool[uuid] = pool  # type: ignore[index]

    for i, d in lists["networks"]:
        path = f"networks[{i}]"
        uuid = c.string(d, "uuid", path, nonempty=True)
        c.string(d, "name", path)
        pool = c.string(d, "pool", path)
        c.boolean(d, "management", path)
        c.boolean(d, "sriov", path)
        c.strings(d, "hosts", path)
        if "ip_hosts" in d:  # (v2) optional: the reader fills the FORMATS.md default
            c.strings(d, "ip_hosts", path)
        if _claim(c, refs, uuid, path):
            refs.net_pool[uuid] = pool  # type: ignore[index]

    for i, d in lists["vm_groups"]:
        path = f"vm_groups[{i}]"
        uuid = c.string(d, "uuid", path, nonempty=True)
        c.string(d, "name", path)
        pool = c.string(d, "pool", path)
        c.enum(d, "placement", path, GROUP_PLACEMENTS)
        if _claim(c, refs, uuid, path):
            refs.group_pool[uuid] = pool  # type: ignore[index]

    for i, d in lists["vms"]:
        _vm_shape(c, refs, i, d)


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
        c.err(f"{path}.memory_min_bytes",
              f"must not exceed memory_bytes ({mem}), got {low}")  # fmt: skip
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


def _v2_vm_refs(c: _Checker, refs: _Refs, d: dict[str, Any], path: str, pool: str | None,
                state: Any) -> None:  # fmt: skip
    """(v2) A VM's suspend image (Suspended VMs only, on an SR of its pool) and groups
    (known VM groups of its pool)."""
    sv = d.get("suspend_vdi")
    if type(sv) is dict:
        if state != "Suspended":
            c.err(f"{path}.suspend_vdi", f"only a Suspended VM has a suspend image, this one "
                                         f"is {_show(state)}")  # fmt: skip
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


def _pass2(c: _Checker, lists: dict[str, list[tuple[int, dict[str, Any]]]], refs: _Refs) -> None:
    """References, pool membership and power-state consistency; memory warnings."""
    pools = refs.pools

    def pool_ref(d: dict[str, Any], path: str) -> str | None:
        """The object's pool uuid when it names a known pool (else report it)."""
        p = d.get("pool")
        if type(p) is not str:
            return None  # type fault already reported
        if p not in pools:
            c.err(f"{path}.pool", f"no pool with uuid {p!r}")
            return None
        return p

    def other_pool(owner: str | None, pool: str | None) -> bool:
        """True when `owner` (an object's pool) is known and differs from `pool`.

        An owner whose own pool is malformed or unknown was reported already, so it is
        not blamed again here."""
        return pool is not None and owner in pools and owner != pool

    for i, d in lists["pools"]:
        path = f"pools[{i}]"
        uuid = d.get("uuid")
        m = d.get("master")
        if type(m) is str:
            if m not in refs.host_pool:
                c.err(f"{path}.master", f"no host with uuid {m!r}")
            elif other_pool(refs.host_pool[m], uuid if type(uuid) is str else None):
                c.err(f"{path}.master", f"host {m!r} ({refs.host_path[m]}) is not in this pool")
        s = d.get("default_sr")
        if type(s) is str:
            if s not in refs.sr_pool:
                c.err(f"{path}.default_sr", f"no SR with uuid {s!r}")
            elif other_pool(refs.sr_pool[s], uuid if type(uuid) is str else None):
                c.err(f"{path}.default_sr", f"SR {s!r} is not in this pool")

    for i, d in lists["hosts"]:
        pool_ref(d, f"hosts[{i}]")

    for i, d in lists["vm_groups"]:
        pool_ref(d, f"vm_groups[{i}]")

    for kind, what in (("srs", "SR"), ("networks", "network")):
        for i, d in lists[kind]:
            path = f"{kind}[{i}]"
            pool = pool_ref(d, path)
            hosts = d.get("hosts")
            if type(hosts) is not list:
                continue
            for j, h in enumerate(hosts):
                if type(h) is not str:
                    continue
                if h not in refs.host_pool:
                    c.err(f"{path}.hosts[{j}]", f"no host with uuid {h!r}")
                elif other_pool(refs.host_pool[h], pool):
                    c.err(f"{path}.hosts[{j}]",
                          f"host {h!r} ({refs.host_path[h]}) is in another pool than "
                          f"this {what}")  # fmt: skip
    _ip_hosts(c, lists["networks"], refs)

    committed: dict[str, int] = {}
    disk_used: dict[str, int] = {}  # SR uuid -> its listed disks' used_bytes
    for i, d in lists["vms"]:
        path = f"vms[{i}]"
        pool = pool_ref(d, path)
        state = d.get("power_state")
        host = d.get("host")
        if type(host) is str:
            if host not in refs.host_pool:
                c.err(f"{path}.host", f"no host with uuid {host!r}")
            elif other_pool(refs.host_pool[host], pool):
                c.err(f"{path}.host",
                      f"resident on host {host!r} ({refs.host_path[host]}) of another pool")
            elif state in RUNNING:
                mem = d.get("memory_bytes")
                if type(mem) is int and mem >= 0:
                    committed[host] = committed.get(host, 0) + mem
            if state in ("Halted", "Suspended"):
                c.err(f"{path}.host", f"must be null for a {state} VM, got {host!r}")
        elif host is None and state in RUNNING:
            c.err(f"{path}.host", f"a {state} VM needs its resident host, got null")
        aff = d.get("affinity")
        if type(aff) is str:
            if aff not in refs.host_pool:
                c.err(f"{path}.affinity", f"no host with uuid {aff!r}")
            elif other_pool(refs.host_pool[aff], pool):
                c.err(f"{path}.affinity", f"host {aff!r} is in another pool")
        disks = d.get("disks")
        for j, x in enumerate(disks if type(disks) is list else ()):
            sr = x.get("sr") if type(x) is dict else None
            if type(sr) is not str:
                continue
            if sr not in refs.sr_pool:
                c.err(f"{path}.disks[{j}].sr", f"no SR with uuid {sr!r}")
            elif other_pool(refs.sr_pool[sr], pool):
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
            elif other_pool(refs.net_pool[net], pool):
                c.err(f"{path}.vifs[{j}].network",
                      f"network {net!r} is in another pool than the VM")  # fmt: skip

    for i, d in lists["srs"]:
        uuid, sr_used = d.get("uuid"), d.get("used_bytes")
        listed = disk_used.get(uuid, 0) if type(uuid) is str else 0
        if type(sr_used) is int and sr_used < listed:
            # FORMATS.md: used_bytes is XAPI's physical_utilisation and every reader takes
            # it as it is; a figure below its own disks usually means a stale collection
            c.warnings.append(
                f"srs[{i}].used_bytes: {sr_used} bytes, less than the {listed} bytes its "
                "listed disks use; the planner and the checker take the SR's figure")

    for host, used in committed.items():
        cap = refs.host_capacity.get(host)
        if cap is not None and used > cap:
            c.warnings.append(
                f"{refs.host_path[host]}: running VMs commit {used} bytes, more than the "
                f"{cap} bytes guests can use (memory_total_bytes - memory_overhead_bytes)"
            )


def _ip_hosts(c: _Checker, networks: list[tuple[int, dict[str, Any]]], refs: _Refs) -> None:
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
                c.err(path, f"host {h!r} ({refs.host_path[h]}) is in another pool than "
                            "this network")  # fmt: skip
            elif on is not None and h not in on:
                c.err(path, f"host {h!r} ({refs.host_path[h]}) has no PIF on this network "
                            "(not in its hosts)")  # fmt: skip
