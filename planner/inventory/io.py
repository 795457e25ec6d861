"""Inventory JSON: load (validated), save, dict conversion and the FORMATS.md digest."""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

from planner.errors import InputError
from planner.inventory.model import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SR,
    VM,
    Cpu,
    Disk,
    Host,
    Inventory,
    Network,
    Pool,
    SuspendVdi,
    Vif,
    VMGroup,
)
from planner.inventory.validate import validate_document
from planner.limits import MAX_FILE_BYTES


def canonical_json(obj: Any) -> str:
    """The serialisation FORMATS.md fixes for digests: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# (v2) two collections of an unchanged fleet must have the same digest
DIGEST_IGNORES = ("taken_at", "source")


def digest_of_document(doc: dict[str, Any]) -> str:
    """sha256 hex of a parsed inventory document, as FORMATS.md defines `inventory_digest`
    (v2: without `taken_at` and `source`)."""
    if isinstance(doc, dict) and any(k in doc for k in DIGEST_IGNORES):
        doc = {k: v for k, v in doc.items() if k not in DIGEST_IGNORES}
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def digest(inv: Inventory) -> str:
    """The `inventory_digest` of an inventory.

    For an inventory read from a file this is the digest of the document as read
    (unknown keys included), so a plan made by another tool from the same file matches.
    For one built in memory it is the digest of `to_dict(inv)`.
    """
    return inv.digest if inv.digest is not None else digest_of_document(to_dict(inv))


# ---------------------------------------------------------------- dict -> objects


def _pool(d: dict[str, Any]) -> Pool:
    return Pool(
        uuid=d["uuid"],
        name=d["name"],
        master=d["master"],
        ha_enabled=d["ha_enabled"],
        migration_compression=d["migration_compression"],
        https_only=d["https_only"],
        default_sr=d.get("default_sr"),
    )


def _host(d: dict[str, Any]) -> Host:
    c = d["cpu"]
    return Host(
        uuid=d["uuid"],
        name=d["name"],
        pool=d["pool"],
        enabled=d["enabled"],
        version=d["version"],
        hotfixes=tuple(d["hotfixes"]),
        cpu=Cpu(vendor=c["vendor"], features=c["features"], model=c["model"], count=c["count"]),
        memory_total_bytes=d["memory_total_bytes"],
        memory_overhead_bytes=d["memory_overhead_bytes"],
    )


def _sr(d: dict[str, Any]) -> SR:
    return SR(
        uuid=d["uuid"],
        name=d["name"],
        pool=d["pool"],
        type=d["type"],
        shared=d["shared"],
        size_bytes=d["size_bytes"],
        used_bytes=d["used_bytes"],
        hosts=tuple(d["hosts"]),
    )


def _network(d: dict[str, Any]) -> Network:
    return Network(
        uuid=d["uuid"],
        name=d["name"],
        pool=d["pool"],
        management=d["management"],
        sriov=d["sriov"],
        hosts=tuple(d["hosts"]),
        ip_hosts=tuple(
            d["ip_hosts"] if "ip_hosts" in d else (d["hosts"] if d["management"] else ())
        ),
    )


def _suspend_vdi(d: dict[str, Any] | None) -> SuspendVdi | None:
    if d is None:
        return None
    return SuspendVdi(
        uuid=d["uuid"], sr=d["sr"], size_bytes=d["size_bytes"], used_bytes=d["used_bytes"]
    )


def _vm(d: dict[str, Any]) -> VM:
    return VM(
        uuid=d["uuid"],
        name=d["name"],
        pool=d["pool"],
        power_state=d["power_state"],
        host=d.get("host"),
        affinity=d.get("affinity"),
        memory_bytes=d["memory_bytes"],
        memory_min_bytes=d["memory_min_bytes"],
        vcpus=d["vcpus"],
        cpu_vendor=d.get("cpu_vendor"),
        cpu_features=d.get("cpu_features"),
        ha_protected=d["ha_protected"],
        os=d["os"],
        tools=d["tools"],
        mcs=d["mcs"],
        pci=d["pci"],
        vgpu=d["vgpu"],
        tags=tuple(d["tags"]),
        disks=tuple(
            Disk(
                uuid=x["uuid"],
                sr=x["sr"],
                size_bytes=x["size_bytes"],
                used_bytes=x["used_bytes"],
                cbt=x["cbt"],
                on_boot=x["on_boot"],
                snapshot_used_bytes=x.get("snapshot_used_bytes", 0),
            )
            for x in d["disks"]
        ),
        vifs=tuple(Vif(device=x["device"], network=x["network"]) for x in d["vifs"]),
        suspend_vdi=_suspend_vdi(d.get("suspend_vdi")),
        groups=tuple(d.get("groups", ())),
    )


def from_dict(doc: dict[str, Any], *, validate: bool = True, where: str = "inventory") -> Inventory:
    """Build an Inventory from a parsed document.

    With `validate` (the default) the document is checked first and every fault raises
    one `InputError` listing them all (`where` prefixes nothing; it names the source in
    the message). The returned inventory remembers the document's digest.
    """
    if validate:
        report = validate_document(doc)
        if report.errors:
            n = len(report.errors)
            raise InputError(f"{where}: {n} problem{'s' if n != 1 else ''}", report.errors)
    return Inventory(
        taken_at=doc.get("taken_at", ""),
        source=doc.get("source", ""),
        pools=tuple(_pool(x) for x in doc["pools"]),
        hosts=tuple(_host(x) for x in doc["hosts"]),
        srs=tuple(_sr(x) for x in doc["srs"]),
        networks=tuple(_network(x) for x in doc["networks"]),
        vms=tuple(_vm(x) for x in doc["vms"]),
        vm_groups=tuple(
            VMGroup(uuid=g["uuid"], name=g["name"], pool=g["pool"], placement=g["placement"])
            for g in doc.get("vm_groups", ())
        ),
        digest=digest_of_document(doc),
    )


# ---------------------------------------------------------------- objects -> dict


def _host_dict(h: Host) -> dict[str, Any]:
    return {
        "uuid": h.uuid,
        "name": h.name,
        "pool": h.pool,
        "enabled": h.enabled,
        "version": h.version,
        "hotfixes": list(h.hotfixes),
        "cpu": {
            "vendor": h.cpu.vendor,
            "features": h.cpu.features,
            "model": h.cpu.model,
            "count": h.cpu.count,
        },
        "memory_total_bytes": h.memory_total_bytes,
        "memory_overhead_bytes": h.memory_overhead_bytes,
    }


def _vm_dict(v: VM) -> dict[str, Any]:
    return {
        "uuid": v.uuid,
        "name": v.name,
        "pool": v.pool,
        "power_state": v.power_state,
        "host": v.host,
        "affinity": v.affinity,
        "memory_bytes": v.memory_bytes,
        "memory_min_bytes": v.memory_min_bytes,
        "vcpus": v.vcpus,
        "cpu_vendor": v.cpu_vendor,
        "cpu_features": v.cpu_features,
        "ha_protected": v.ha_protected,
        "os": v.os,
        "tools": v.tools,
        "mcs": v.mcs,
        "pci": v.pci,
        "vgpu": v.vgpu,
        "tags": list(v.tags),
        "disks": [
            {
                "uuid": d.uuid,
                "sr": d.sr,
                "size_bytes": d.size_bytes,
                "used_bytes": d.used_bytes,
                "cbt": d.cbt,
                "on_boot": d.on_boot,
                "snapshot_used_bytes": d.snapshot_used_bytes,
            }
            for d in v.disks
        ],
        "vifs": [{"device": x.device, "network": x.network} for x in v.vifs],
        "suspend_vdi": (
            None
            if v.suspend_vdi is None
            else {
                "uuid": v.suspend_vdi.uuid,
                "sr": v.suspend_vdi.sr,
                "size_bytes": v.suspend_vdi.size_bytes,
                "used_bytes": v.suspend_vdi.used_bytes,
            }
        ),
        "groups": list(v.groups),
    }


def to_dict(inv: Inventory) -> dict[str, Any]:
    """The FORMATS.md document for an inventory (unknown keys read earlier are not kept)."""
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "taken_at": inv.taken_at,
        "source": inv.source,
        "pools": [
            {
                "uuid": p.uuid,
                "name": p.name,
                "master": p.master,
                "ha_enabled": p.ha_enabled,
                "migration_compression": p.migration_compression,
                "https_only": p.https_only,
                "default_sr": p.default_sr,
            }
            for p in inv.pools
        ],
        "hosts": [_host_dict(h) for h in inv.hosts],
        "srs": [
            {
                "uuid": s.uuid,
                "name": s.name,
                "pool": s.pool,
                "type": s.type,
                "shared": s.shared,
                "size_bytes": s.size_bytes,
                "used_bytes": s.used_bytes,
                "hosts": list(s.hosts),
            }
            for s in inv.srs
        ],
        "networks": [
            {
                "uuid": n.uuid,
                "name": n.name,
                "pool": n.pool,
                "management": n.management,
                "sriov": n.sriov,
                "hosts": list(n.hosts),
                "ip_hosts": list(n.ip_hosts),
            }
            for n in inv.networks
        ],
        "vms": [_vm_dict(v) for v in inv.vms],
        "vm_groups": [
            {"uuid": g.uuid, "name": g.name, "pool": g.pool, "placement": g.placement}
            for g in inv.vm_groups
        ],
    }


# ---------------------------------------------------------------- files


class _Refused(ValueError):
    """A JSON number the planner does not take (raised from the decoder's hooks)."""


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number the planner takes (JSON has no NaN/Infinity)")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise _Refused(f"number {text[:40]} is out of range")
    return v


def _small_int(text: str) -> int:
    # 20 digits hold any 64-bit integer; longer ones are refused before int() parses
    # them (a 5,000-digit integer makes int() raise, a 4,000-digit one is slow)
    if len(text.lstrip("-")) > 20:
        raise _Refused(f"integer of {len(text)} digits is out of range")
    return int(text)


def read_bytes(path: str | Path, what: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The content of a regular file of at most `limit` bytes; anything else (missing,
    a directory, a FIFO or device such as /dev/zero, too big, unreadable) is a one-line
    `InputError`. The file is opened non-blocking, so a FIFO cannot hang the reader."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, expected a {what} JSON file") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        raise InputError(f"{p}: cannot read {what}: {getattr(e, 'strerror', None) or e}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{p}: is a directory, expected a {what} JSON file")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{p}: not a regular file (a pipe or a device); give a {what} file")
        if st.st_size > limit:
            raise InputError(
                f"{p}: {st.st_size:,} bytes, more than the {limit:,} a {what} file may have"
            )
        chunks = []
        size = 0
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            while size <= limit:
                chunk = f.read(min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        if size > limit:
            raise InputError(f"{p}: more than the {limit:,} bytes a {what} file may have")
        return b"".join(chunks)
    except OSError as e:
        raise InputError(f"{p}: cannot read {what}: {e.strerror or e}") from None
    finally:
        if fd >= 0:
            os.close(fd)


def read_json(path: str | Path, what: str) -> Any:
    """Parse a JSON file: a regular file of at most MAX_FILE_BYTES, UTF-8, nested at
    most as deep as the parser allows, numbers finite with at most 20 digits, no lone
    surrogate in any string. Anything else is a one-line `InputError` (docs/reliability.md)."""
    p = Path(path)
    raw = read_bytes(p, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: cannot read {what}: not UTF-8 (byte {e.start})") from None
    try:
        doc = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_small_int
        )
    except json.JSONDecodeError as e:
        raise InputError(f"{p}:{e.lineno}:{e.colno}: malformed JSON: {e.msg}") from None
    except _Refused as e:
        raise InputError(f"{p}: {e}") from None
    except RecursionError:
        raise InputError(f"{p}: JSON nested too deep") from None
    if "\\ud" in text.lower():
        # a \udXXX escape may leave a lone surrogate, which no name may hold: it cannot
        # be written to a file or a terminal (every later command would fail on it)
        try:
            canonical_json(doc).encode("utf-8")
        except UnicodeEncodeError as e:
            raise InputError(
                f"{p}: holds a lone surrogate (a \\u{ord(e.object[e.start]):04x} "
                "escape) in a string"
            ) from None
        except RecursionError:
            raise InputError(f"{p}: JSON nested too deep") from None
    return doc


def load(path: str | Path) -> Inventory:
    """Read and validate an inventory file. Raises `InputError` listing every fault."""
    doc = read_json(path, "inventory")
    return from_dict(doc, where=str(path))


def write_json(path: str | Path, doc: Any, *, indent: int | None = None) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    # json.dumps runs the C encoder; json.dump to a file does not (5x slower on big fleets)
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.write("\n")
        tmp.replace(p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{p}: cannot write: {e.strerror or e}") from None


def save(inv: Inventory, path: str | Path, *, indent: int | None = 1) -> None:
    """Write an inventory file. Small inventories are indented for people to read."""
    if len(inv.vms) > 5000:
        indent = None
    write_json(path, to_dict(inv), indent=indent)


def with_digest(inv: Inventory) -> Inventory:
    """A copy of `inv` whose `digest` is computed from its own contents."""
    return replace(inv, digest=digest_of_document(to_dict(inv)))
