"""Collect an inventory from live XenServer / Citrix Hypervisor pools over XenAPI.

`collect(urls, user, password)` logs in to each pool master, reads every class it needs
with one `<class>.get_all_records` call (never one call per object), maps the records to
the inventory format by the table in XAPI.md, and logs out. `collect_with_warnings`
also returns what could not be mapped. `convert_pool` is the pure mapping, shared with
the simulator's `inventory()`.

Left out, as FORMATS.md says: templates, snapshots and control domains; besides them ISO
and removable-media SRs (content type "iso", types "iso"/"udev") and the host-internal
management network, which are not places a VM can be migrated to.

Every failure to reach or log in to a pool is one `ConnectionFailed` line; the password
never appears in a message.
"""

from __future__ import annotations

import base64
import gc
import http.client
import ipaddress
import logging
import socket
import ssl
import time
import xml.etree.ElementTree as ET
import xmlrpc.client
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from planner.errors import ConnectionFailed
from planner.inventory.io import from_dict
from planner.inventory.model import FORMAT_NAME, FORMAT_VERSION, POWER_STATES, Inventory

if TYPE_CHECKING:
    from planner.tls import TlsSetting

_log = logging.getLogger(__name__)

NULL_REF = "OpaqueRef:NULL"
DEFAULT_TIMEOUT = 120.0  # seconds for one XML-RPC call (a 40,000-VM VM table is large)
MAX_REDIRECTS = 3  # HOST_IS_SLAVE hops followed before giving up
WORKERS = 3  # pools read at once

# Classes read from each pool master, one get_all_records call each. VLAN,
# network_sriov and pool_update are newer than some hosts: a pool without them reads
# as empty tables (with a warning).
CLASSES: tuple[str, ...] = (
    "pool", "host", "host_metrics", "VM", "VM_guest_metrics", "VBD", "VDI", "SR", "PBD",
    "network", "PIF", "VIF", "network_sriov", "pool_update", "VLAN", "VM_group",
)  # fmt: skip
# VM_group is recent (xen-api ocaml/idl/datamodel_vm_group.ml): older hosts answer
# MESSAGE_METHOD_UNKNOWN and the pool has no groups
OPTIONAL_CLASSES = ("network_sriov", "pool_update", "VLAN", "VM_group")
# XAPI's placement_policy enum -> the inventory's spelling (FORMATS.md vm_group)
PLACEMENTS = {"anti_affinity": "anti-affinity", "normal": "normal"}

LINUX_WORDS = (
    "linux", "ubuntu", "debian", "centos", "rhel", "red hat", "redhat", "oracle", "sles",
    "suse", "rocky", "alma", "fedora", "amazon", "gentoo", "arch", "coreos", "mint",
)  # fmt: skip

Record = dict[str, Any]
Tables = Mapping[str, Mapping[str, Record]]


@dataclass(frozen=True)
class McsRule:
    """How the collector recognises a VM created by Machine Creation Services.

    XAPI has no field for it. A VM counts as MCS when its `other_config` has one of
    `other_config_keys` with a value other than "false"/"0"/"" or when it carries one
    of `tags`. The default (`other_config:mcs`) is the key the simulator writes; set
    your provisioning tool's key or tag with `planner collect --mcs-key/--mcs-tag`.
    """

    other_config_keys: tuple[str, ...] = ("mcs",)
    tags: tuple[str, ...] = ()

    def matches(self, rec: Mapping[str, Any]) -> bool:
        other = rec.get("other_config") or {}
        for key in self.other_config_keys:
            value = str(other.get(key, "")).strip().lower()
            if value not in ("", "false", "0", "no"):
                return True
        return bool(set(self.tags) & set(rec.get("tags") or []))


DEFAULT_MCS = McsRule()


# ---------------------------------------------------------------- pure conversion


def _int(value: Any, default: int = 0) -> int:
    """XAPI ints travel as decimal strings."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _ref(value: Any) -> str | None:
    return None if not value or value == NULL_REF else str(value)


@dataclass
class PoolDoc:
    """The inventory objects of one pool (FORMATS.md dicts) and the mapping warnings."""

    pools: list[dict[str, Any]] = field(default_factory=list)
    hosts: list[dict[str, Any]] = field(default_factory=list)
    srs: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    vms: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    vm_groups: list[dict[str, Any]] = field(default_factory=list)  # (v2)


def _os_of(vm: Mapping[str, Any], gm: Mapping[str, Any] | None) -> str:
    """"windows" | "linux" | "other" from guest metrics, else viridian, else the template."""
    osv = (gm or {}).get("os_version") or {}
    if osv:
        text = f"{osv.get('name', '')} {osv.get('distro', '')}".lower()
        if "windows" in text or "microsoft" in text:
            return "windows"
        return "linux" if any(w in text for w in LINUX_WORDS) else "other"
    if str((vm.get("platform") or {}).get("viridian", "")).lower() == "true":
        return "windows"
    base = str((vm.get("other_config") or {}).get("base_template_name", "")).lower()
    if "windows" in base:
        return "windows"
    if any(w in base for w in LINUX_WORDS):
        return "linux"
    return "other"


def _is_sriov_network(net: Mapping[str, Any], t: Tables) -> bool:
    """XAPI's is_sriov_network: the first PIF is an SR-IOV logical PIF, or a VLAN on one."""
    pifs = [t["PIF"][p] for p in net.get("PIFs", []) if p in t["PIF"]]
    if not pifs:
        return False
    pif = pifs[0]
    if pif.get("sriov_logical_PIF_of"):
        return True
    vlan = t.get("VLAN", {}).get(pif.get("VLAN_master_of") or NULL_REF)
    if vlan is not None:
        tagged = t["PIF"].get(vlan.get("tagged_PIF") or NULL_REF)
        return bool(tagged and tagged.get("sriov_logical_PIF_of"))
    return False


def pif_has_ip(pif: Mapping[str, Any]) -> bool:
    """Whether `host.migrate_receive` can take a migration stream on this PIF.

    XAPI (xapi_host.ml `migrate_receive`) reads the PIF's primary address: for
    `primary_address_type` "IPv6" (absent on old hosts: IPv4) a non-link-local address
    in `IPv6` ("addr/prefix" items), else `IP`; an empty one is refused
    (PIF_HAS_NO_NETWORK_CONFIGURATION when `ip_configuration_mode` is "None",
    INTERFACE_HAS_NO_IP otherwise). A DHCP PIF still waiting for its lease therefore
    does not count.
    """
    if pif.get("primary_address_type") == "IPv6":
        for item in pif.get("IPv6") or ():
            try:
                addr = ipaddress.ip_address(str(item).split("/", 1)[0].strip())
            except ValueError:
                continue
            if not addr.is_link_local:
                return True
        return False
    return bool(str(pif.get("IP") or "").strip())


def _skipped_sr(sr: Mapping[str, Any]) -> bool:
    return (
        sr.get("content_type") == "iso"
        or sr.get("type") in ("iso", "udev")
        or bool(sr.get("is_tools_sr"))
    )


def _skipped_vm(vm: Mapping[str, Any]) -> bool:
    return bool(vm.get("is_a_template") or vm.get("is_a_snapshot") or vm.get("is_control_domain"))


def convert_pool(t: Tables, *, mcs: McsRule = DEFAULT_MCS, where: str = "") -> PoolDoc:
    """Map one pool's `get_all_records` tables (class -> {ref: record}) to inventory dicts.

    Pure: the tables are not changed. `where` prefixes warnings (e.g. the URL).
    """
    out = PoolDoc()
    pre = f"{where}: " if where else ""

    def warn(msg: str) -> None:
        out.warnings.append(pre + msg)

    def table(cls: str) -> Mapping[str, Record]:
        return t.get(cls) or {}

    pools, hosts, srs, nets = table("pool"), table("host"), table("SR"), table("network")
    vms, vbds, vdis, vifs = table("VM"), table("VBD"), table("VDI"), table("VIF")
    pbds, pifs, metrics = table("PBD"), table("PIF"), table("host_metrics")
    guest, updates = table("VM_guest_metrics"), table("pool_update")
    if not pools:
        warn("no pool object: nothing collected")
        return out
    if len(pools) > 1:
        warn(f"{len(pools)} pool objects in one database; using the first")
    pool = next(iter(pools.values()))
    pool_uuid = pool["uuid"]

    def uuid_in(tab: Mapping[str, Record], ref: Any) -> str | None:
        rec = tab.get(ref) if ref else None
        return None if rec is None else rec["uuid"]

    # ---- hosts
    dom0_by_host: dict[str, Record] = {}
    for vm in vms.values():
        if vm.get("is_control_domain") and _ref(vm.get("resident_on")):
            dom0_by_host.setdefault(vm["resident_on"], vm)
    all_https = bool(hosts)
    for href, h in hosts.items():
        dom0 = vms.get(h.get("control_domain") or NULL_REF) or dom0_by_host.get(href)
        overhead = _int(h.get("memory_overhead"))
        if dom0 is not None:
            overhead += _int(dom0.get("memory_static_max")) + _int(dom0.get("memory_overhead"))
        else:
            warn(f"host {h['name_label']}: no control domain found; its memory is not "
                 "counted in memory_overhead_bytes")  # fmt: skip
        m = metrics.get(h.get("metrics") or NULL_REF)
        if m is None:
            warn(f"host {h['name_label']}: no host_metrics; memory_total_bytes set to 0")
        sv = h.get("software_version") or {}
        version = sv.get("product_version") or ""
        if not version:
            version = sv.get("platform_version") or "0"
            warn(f"host {h['name_label']}: no product_version; using platform_version "
                 f"{version}")  # fmt: skip
        if "updates" in h:
            fixes = [updates[u]["name_label"] for u in h["updates"] if u in updates]
        else:
            fixes = []
            warn(f"host {h['name_label']}: no `updates` field (pre-8.0 host); hotfixes "
                 "not collected")  # fmt: skip
        ci = h.get("cpu_info") or {}
        features = ci.get("features_hvm") or ci.get("features") or ""
        if not ci.get("vendor"):
            warn(f"host {h['name_label']}: cpu_info has no vendor")
        all_https = all_https and bool(h.get("https_only", False))
        out.hosts.append({
            "uuid": h["uuid"], "name": h["name_label"], "pool": pool_uuid,
            "enabled": bool(h.get("enabled")), "version": version, "hotfixes": fixes,
            "cpu": {"vendor": ci.get("vendor", ""), "features": features,
                    "model": ci.get("modelname", ""), "count": _int(ci.get("cpu_count"))},
            "memory_total_bytes": _int(m.get("memory_total")) if m else 0,
            "memory_overhead_bytes": overhead,
        })  # fmt: skip

    # ---- pool
    default_sr = srs.get(pool.get("default_SR") or NULL_REF)
    out.pools.append({
        "uuid": pool_uuid, "name": pool.get("name_label", ""),
        "master": uuid_in(hosts, pool.get("master")), "ha_enabled": bool(pool.get("ha_enabled")),
        "migration_compression": bool(pool.get("migration_compression", False)),
        "https_only": all_https,
        "default_sr": default_sr["uuid"] if default_sr and not _skipped_sr(default_sr) else None,
    })  # fmt: skip
    if out.pools[0]["master"] is None:
        warn(f"pool {pool.get('name_label', '')}: master is not among its hosts")

    # ---- storage
    kept_srs: set[str] = set()
    for sref, s in srs.items():
        if _skipped_sr(s):
            continue
        kept_srs.add(sref)
        attached = []
        for p in s.get("PBDs", []):
            pbd = pbds.get(p)
            if pbd and pbd.get("currently_attached"):
                hu = uuid_in(hosts, pbd.get("host"))
                if hu and hu not in attached:
                    attached.append(hu)
        out.srs.append({
            "uuid": s["uuid"], "name": s.get("name_label", ""), "pool": pool_uuid,
            "type": s.get("type", ""), "shared": bool(s.get("shared")),
            "size_bytes": _int(s.get("physical_size")),
            "used_bytes": _int(s.get("physical_utilisation")), "hosts": attached,
        })  # fmt: skip

    # ---- networks
    kept_nets: set[str] = set()
    for nref, n in nets.items():
        if str((n.get("other_config") or {}).get("is_host_internal_management_network")) == "true":
            continue
        kept_nets.add(nref)
        on_hosts: list[str] = []
        ip_hosts: list[str] = []
        management = False
        for p in n.get("PIFs", []):
            pif = pifs.get(p)
            if pif is None:
                continue
            management = management or bool(pif.get("management"))
            hu = uuid_in(hosts, pif.get("host"))
            if hu and hu not in on_hosts:
                on_hosts.append(hu)
            if hu and hu not in ip_hosts and pif_has_ip(pif):
                ip_hosts.append(hu)
        out.networks.append({
            "uuid": n["uuid"], "name": n.get("name_label", ""), "pool": pool_uuid,
            "management": management, "sriov": _is_sriov_network(n, t), "hosts": on_hosts,
            "ip_hosts": ip_hosts,
        })  # fmt: skip

    # ---- VM groups (v2): VM_group has no pool field; its pool is the one read here
    groups = table("VM_group")
    for g in groups.values():
        placement = PLACEMENTS.get(str(g.get("placement", "normal")))
        if placement is None:
            warn(f"VM group {g.get('name_label', '')}: unknown placement "
                 f"{g.get('placement')!r}; read as normal")  # fmt: skip
            placement = "normal"
        out.vm_groups.append({"uuid": g["uuid"], "name": g.get("name_label", ""),
                              "pool": pool_uuid, "placement": placement})  # fmt: skip

    # ---- VMs
    for v in vms.values():
        if _skipped_vm(v):
            continue
        name = v.get("name_label", "")
        state = v.get("power_state", "")
        if state not in POWER_STATES:
            warn(f"VM {name}: unknown power state {state!r}; left out")
            continue
        up = state in ("Running", "Paused")
        host = uuid_in(hosts, v.get("resident_on")) if up else None
        if up and host is None:
            warn(f"VM {name}: {state} but resident on no host of the pool")
        affinity = uuid_in(hosts, v.get("affinity"))
        ov = _int(v.get("memory_overhead"))
        top = v.get("memory_static_max") or v.get("memory_dynamic_max")
        flags = v.get("last_boot_CPU_flags") or {}
        gm = guest.get(v.get("guest_metrics") or NULL_REF)
        disks = []
        for b in v.get("VBDs", []):
            vbd = vbds.get(b)
            if vbd is None or vbd.get("type") != "Disk":
                continue  # CDs and floppies are not disks
            vdi = vdis.get(vbd.get("VDI") or NULL_REF)
            if vdi is None:
                warn(f"VM {name}: disk VBD {vbd.get('userdevice', '?')} has no VDI; left out")
                continue
            if vdi.get("SR") not in kept_srs:
                warn(f"VM {name}: disk {vdi['uuid']} is on an ISO or unknown SR; left out")
                continue
            # (v2) the disk's snapshot VDIs travel with it in a storage migration
            snaps = sum(_int(vdis[x].get("physical_utilisation"))
                        for x in vdi.get("snapshots") or () if x in vdis)  # fmt: skip
            disks.append({
                "uuid": vdi["uuid"], "sr": srs[vdi["SR"]]["uuid"],
                "size_bytes": _int(vdi.get("virtual_size")),
                "used_bytes": _int(vdi.get("physical_utilisation")),
                "cbt": bool(vdi.get("cbt_enabled")), "on_boot": vdi.get("on_boot", "persist"),
                "snapshot_used_bytes": snaps,
            })  # fmt: skip
        suspend = None
        sv = vdis.get(v.get("suspend_VDI") or NULL_REF) if state == "Suspended" else None
        if sv is not None and sv.get("SR") in kept_srs:
            suspend = {"uuid": sv["uuid"], "sr": srs[sv["SR"]]["uuid"],
                       "size_bytes": _int(sv.get("virtual_size")),
                       "used_bytes": _int(sv.get("physical_utilisation"))}  # fmt: skip
        elif sv is not None:
            warn(f"VM {name}: suspend image {sv['uuid']} is on an unknown SR; left out")
        vm_vifs = []
        for x in v.get("VIFs", []):
            vif = vifs.get(x)
            if vif is None:
                continue
            if vif.get("network") not in kept_nets:
                warn(f"VM {name}: VIF {vif.get('device')} is on an unknown network; left out")
                continue
            vm_vifs.append({"device": vif.get("device", ""),
                            "network": nets[vif["network"]]["uuid"]})  # fmt: skip
        out.vms.append({
            "uuid": v["uuid"], "name": name, "pool": pool_uuid, "power_state": state,
            "host": host, "affinity": affinity,
            "memory_bytes": _int(top) + ov,
            "memory_min_bytes": _int(v.get("memory_dynamic_min")) + ov,
            "vcpus": _int(v.get("VCPUs_at_startup") or v.get("VCPUs_max")),
            "cpu_vendor": (flags.get("vendor") or None) if state != "Halted" else None,
            "cpu_features": (flags.get("features") or None) if state != "Halted" else None,
            "ha_protected": bool(v.get("ha_always_run"))
            and v.get("ha_restart_priority") == "restart",
            "os": _os_of(v, gm), "tools": bool(gm and gm.get("PV_drivers_detected")),
            "mcs": mcs.matches(v), "pci": bool(v.get("attached_PCIs")),
            "vgpu": bool(v.get("VGPUs")), "tags": list(v.get("tags") or []),
            "disks": disks, "vifs": vm_vifs, "suspend_vdi": suspend,
            "groups": [groups[g]["uuid"] for g in v.get("groups") or () if g in groups],
        })  # fmt: skip
    return out


def assemble(parts: list[PoolDoc], *, source: str, taken_at: str | None = None,
             validate: bool = True) -> Inventory:  # fmt: skip
    """One inventory from the pools' parts (pools in the given order)."""
    doc: dict[str, Any] = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION,
        "taken_at": taken_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": source, "pools": [], "hosts": [], "srs": [], "networks": [], "vms": [],
    }  # fmt: skip
    for p in parts:
        for key in ("pools", "hosts", "srs", "networks", "vms"):
            doc[key].extend(getattr(p, key))
    doc["vm_groups"] = [g for p in parts for g in getattr(p, "vm_groups", ())]
    # the v2 defaults written out, so that the digest of this document is that of the
    # file it is saved to, and a plan made from it matches that file
    for n in doc["networks"]:
        n.setdefault("ip_hosts", list(n["hosts"]) if n["management"] else [])
    for v in doc["vms"]:
        v.setdefault("suspend_vdi", None)
        v.setdefault("groups", [])
        for d in v["disks"]:
            d.setdefault("snapshot_used_bytes", 0)
    return from_dict(doc, validate=validate, where=f"collected inventory ({source})")


# ---------------------------------------------------------------- talking to XAPI


def _value(v: ET.Element) -> Any:
    """One XML-RPC `<value>` element as xmlrpc.client would decode it."""
    if len(v) == 0:
        return v.text or ""  # untyped: a string (XAPI's usual form)
    c = v[0]
    tag = c.tag
    if tag == "string":
        return c.text or ""
    if tag == "struct":
        # members holding an untyped string (most XAPI fields) skip the recursion
        return {(m[0].text or ""): (m[1].text or "") if not len(m[1]) else _value(m[1])
                for m in c}
    if tag == "array":
        return [(x.text or "") if not len(x) else _value(x) for x in c[0]] if len(c) else []
    if tag == "boolean":
        return (c.text or "").strip() == "1"
    if tag in ("int", "i4", "i8"):
        return int((c.text or "").strip())
    if tag == "double":
        return float((c.text or "").strip())
    if tag == "dateTime.iso8601":
        return xmlrpc.client.DateTime((c.text or "").strip())
    if tag == "nil":
        return None
    if tag == "base64":
        return xmlrpc.client.Binary(base64.b64decode(c.text or ""))
    raise xmlrpc.client.ResponseError(f"unknown XML-RPC type <{tag}>")


def fast_loads(body: bytes) -> tuple[Any, ...]:
    """Decode a methodResponse like `xmlrpc.client.loads(body)[0]`, several times faster.

    xmlrpc.client's pure-Python unmarshaller costs a Python call per XML event; the C
    ElementTree parser builds the tree at C speed and one small recursion converts it.
    On a fault it raises `xmlrpc.client.Fault` as xmlrpc.client does.
    """
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise xmlrpc.client.ResponseError(f"malformed XML-RPC answer: {e}") from None
    if len(root) and root[0].tag == "fault":
        f = _value(root[0][0])
        raise xmlrpc.client.Fault(f.get("faultCode", 0), f.get("faultString", ""))
    if len(root) == 0 or root[0].tag != "params":
        raise xmlrpc.client.ResponseError("XML-RPC answer without params")
    return tuple(_value(p[0]) for p in root[0])


class _FastParse:
    """Transport mixin: a socket timeout and `fast_loads` for answers."""

    _timeout: float

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        conn = super().make_connection(host)  # type: ignore[misc]
        conn.timeout = self._timeout
        return conn

    def parse_response(self, response: http.client.HTTPResponse) -> tuple[Any, ...]:
        body = response.read()
        if response.getheader("Content-Encoding", "") == "gzip":
            body = xmlrpc.client.gzip_decode(body, max_decode=-1)
        return fast_loads(body)


class _Transport(_FastParse, xmlrpc.client.Transport):
    """HTTP transport with a socket timeout (XenAPI's default has none)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout


class _SafeTransport(_FastParse, xmlrpc.client.SafeTransport):
    """HTTPS transport with a socket timeout and the given TLS context."""

    def __init__(self, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._timeout = timeout


def normalize_url(url: str) -> str:
    """`host` or `host:port` -> `https://host[:port]/`; an empty path becomes `/`."""
    url = url.strip()
    if "://" not in url:
        url = f"https://{url}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number in 0..65535
    except ValueError as e:
        raise ConnectionFailed(f"{url}: not a URL ({e})") from None
    if parts.scheme not in ("http", "https"):
        raise ConnectionFailed(f"{url}: unsupported scheme {parts.scheme!r} (use https:// "
                               "or http://)")  # fmt: skip
    if not parts.hostname:
        raise ConnectionFailed(f"{url}: no host name in the URL")
    if not parts.path:
        url += "/"
    return url


def make_transport(url: str, insecure: TlsSetting, timeout: float) -> xmlrpc.client.Transport:
    """An XML-RPC transport with a socket `timeout` (seconds); TLS verified unless
    `insecure` is True, or as a `planner.tls` setting says (CA file, pinned fingerprint,
    per URL). The collector and the executor's XenAPI sessions both use it."""
    if url.startswith("https://"):
        from planner.tls import tls_for

        return _SafeTransport(timeout, tls_for(url, insecure).context())
    return _Transport(timeout)


def _scrub(text: str, password: str) -> str:
    return text.replace(password, "***") if password else text


def _describe(url: str, e: BaseException, user: str, timeout: float) -> str:
    """One line for a failure to talk to `url` (never containing the password)."""
    import XenAPI

    if isinstance(e, XenAPI.Failure):
        details = [str(x) for x in (e.details or ["UNKNOWN"])]
        code = details[0]
        if code == "SESSION_AUTHENTICATION_FAILED":
            return f"{url}: login refused for user {user!r}: wrong user name or password"
        if code == "MESSAGE_METHOD_UNKNOWN":
            return f"{url}: the server does not know {details[1:]}: is this a XAPI pool master?"
        return f"{url}: XAPI error {' '.join(details)}"
    from planner.tls import FingerprintMismatch

    if isinstance(e, FingerprintMismatch):
        return f"{url}: {e}"
    if isinstance(e, ssl.SSLCertVerificationError):
        return (f"{url}: TLS certificate verification failed ({e.verify_message}); "
                "give --ca-file or --fingerprint, or --insecure to skip verification if "
                "you trust this host")  # fmt: skip
    if isinstance(e, ssl.SSLError):
        return f"{url}: TLS error ({e.reason or e}); is the scheme right (https vs http)?"
    if isinstance(e, ConnectionRefusedError):
        return f"{url}: connection refused (is XAPI listening on that address and port?)"
    if isinstance(e, socket.gaierror):
        return f"{url}: cannot resolve host name {urlsplit(url).hostname!r}"
    if isinstance(e, TimeoutError | socket.timeout):
        return f"{url}: no answer within {timeout:g} s (timed out)"
    if isinstance(e, xmlrpc.client.ProtocolError):
        return f"{url}: HTTP {e.errcode} {e.errmsg}: not a XAPI endpoint?"
    if isinstance(e, xmlrpc.client.Fault):
        return f"{url}: XML-RPC fault {e.faultCode}: {e.faultString}"
    if isinstance(e, http.client.RemoteDisconnected | ConnectionResetError):
        return f"{url}: the server closed the connection without answering"
    if isinstance(e, OSError):
        return f"{url}: cannot connect: {e.strerror or e}"
    if isinstance(e, xmlrpc.client.ResponseError | http.client.HTTPException):
        return f"{url}: malformed answer ({e}): not a XAPI endpoint?"
    return f"{url}: {type(e).__name__}: {e}"


def _read_pool(url: str, user: str, password: str, insecure: TlsSetting, timeout: float,
               warnings: list[str]) -> tuple[str, dict[str, dict[str, Record]]]:  # fmt: skip
    """Log in (following HOST_IS_SLAVE), read every class, log out. Returns (url, tables)."""
    import XenAPI

    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        session = XenAPI.Session(current, transport=make_transport(current, insecure, timeout))
        try:
            session.xenapi.login_with_password(user, password, "2.21", "xen-planner")
        except XenAPI.Failure as e:
            details = list(e.details or [])
            if details and details[0] == "HOST_IS_SLAVE" and len(details) > 1:
                scheme = urlsplit(current).scheme
                master = f"{scheme}://{str(details[1]).rstrip('/')}/"
                warnings.append(f"{current} is a pool member, not its master: collected from "
                                f"the master {master} instead")  # fmt: skip
                current = master
                continue
            raise ConnectionFailed(_scrub(_describe(current, e, user, timeout), password)) from None
        except Exception as e:
            raise ConnectionFailed(_scrub(_describe(current, e, user, timeout), password)) from None
        try:
            tables: dict[str, dict[str, Record]] = {}
            for cls in CLASSES:
                try:
                    tables[cls] = getattr(session.xenapi, cls).get_all_records()
                except XenAPI.Failure as e:
                    if cls in OPTIONAL_CLASSES and e.details and (
                        e.details[0] == "MESSAGE_METHOD_UNKNOWN"
                    ):
                        warnings.append(f"{current}: this XAPI has no {cls} class; read as "
                                        "empty")  # fmt: skip
                        tables[cls] = {}
                    else:
                        raise
            return current, tables
        except Exception as e:
            raise ConnectionFailed(_scrub(_describe(current, e, user, timeout), password)) from None
        finally:
            # always log out; best effort, as an unreachable server ends the session itself
            with suppress(Exception):
                session.xenapi.session.logout()
    raise ConnectionFailed(f"{url}: more than {MAX_REDIRECTS} HOST_IS_SLAVE redirects")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (restoring its state after).

    Decoded records are millions of small acyclic dicts and lists, freed by reference
    counting; the cyclic collector's passes over them cost more than the parsing (40,000
    VMs: 69 s with it, 33 s without). Nothing built here forms a cycle.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def collect_with_warnings(
    urls: list[str],
    user: str,
    password: str,
    *,
    insecure: TlsSetting = False,
    timeout: float = DEFAULT_TIMEOUT,
    mcs: McsRule = DEFAULT_MCS,
    progress: Callable[[str, str], None] | None = None,
) -> tuple[Inventory, list[str]]:
    """Like `collect`, also returning warnings (one line each) about what was not mapped.

    `timeout` is the socket timeout of one call, in seconds. Two URLs that reach the
    same pool are collected once (with a warning). `progress(url, text)` hears when each
    pool starts ("reading") and ends ("done: ...", "failed: ..."), from worker threads.
    """
    if not urls:
        raise ConnectionFailed("no pool URL given")
    norm = [normalize_url(u) for u in urls]
    tell = progress or (lambda _url, _text: None)

    def one(url: str) -> tuple[PoolDoc, list[str]]:
        notes: list[str] = []
        t0 = time.monotonic()
        tell(url, "reading")
        try:
            where, tables = _read_pool(url, user, password, insecure, timeout, notes)
        except Exception as e:
            tell(url, f"failed: {e}")
            raise
        part = convert_pool(tables, mcs=mcs, where=where)
        del tables  # the raw records are the big part: free them before the next pool
        took = time.monotonic() - t0
        name = part.pools[0]["name"] if part.pools else "?"
        _log.info("pool %s: %d hosts, %d VMs in %.1f s", name, len(part.hosts),
                  len(part.vms), took, extra={"url": url, "pool": name})  # fmt: skip
        tell(url, f"done: pool {name}, {len(part.hosts)} hosts, {len(part.vms)} VMs "
                  f"in {took:.1f} s")  # fmt: skip
        return part, notes + part.warnings

    # Pools are read by a few threads: while one parses an answer another waits for the
    # next (the server marshals meanwhile). Results keep the order of `urls`.
    with gc_paused(), ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(norm)))) as pool:
        results = list(pool.map(one, norm))
    warnings: list[str] = []
    parts: list[PoolDoc] = []
    seen: dict[str, str] = {}
    for raw, (part, notes) in zip(urls, results, strict=True):
        warnings.extend(notes)
        if not part.pools:
            continue
        pu = part.pools[0]["uuid"]
        if pu in seen:
            warnings.append(f"{raw} reaches pool {part.pools[0]['name']} already collected from "
                            f"{seen[pu]}; collected once")  # fmt: skip
            continue
        seen[pu] = raw
        parts.append(part)
    inv = assemble(parts, source=f"xapi: {', '.join(seen.values())}")
    return inv, warnings


def collect(urls: list[str], user: str, password: str, *,
            insecure: TlsSetting = False) -> Inventory:  # fmt: skip
    """Read each pool master at `urls` and return the fleet as one inventory.

    `https://` URLs have their certificate verified unless `insecure`; `http://` is
    allowed (e.g. the simulator on loopback); a bare host name means https. Raises
    `ConnectionFailed` (one line) for a refused connection, a failed name lookup or TLS
    verification, a wrong password, a timeout or a non-XAPI endpoint.
    """
    inv, _ = collect_with_warnings(urls, user, password, insecure=insecure)
    return inv
