"""Collect an inventory from live XenServer / Citrix Hypervisor pools over XenAPI.

`collect(urls, user, password)` logs in to each pool master, reads every class it needs
with one `<class>.get_all_records` call (never one call per object), maps the records to
the inventory format by the table in XAPI.md, and logs out. `collect_with_warnings`
also returns what could not be mapped. The mapping itself is pure and lives in
`planner.inventory.convert` (shared with the simulator's `inventory()`); its names stay
importable from here.

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
import logging
import socket
import ssl
import time
import xml.etree.ElementTree as ET
import xmlrpc.client
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from planner.errors import ConnectionFailed
from planner.inventory.convert import DEFAULT_MCS as DEFAULT_MCS  # public here as before
from planner.inventory.convert import NULL_REF as NULL_REF
from planner.inventory.convert import McsRule as McsRule
from planner.inventory.convert import PoolDoc as PoolDoc
from planner.inventory.convert import Record as Record
from planner.inventory.convert import Tables as Tables
from planner.inventory.convert import assemble as assemble
from planner.inventory.convert import convert_pool as convert_pool
from planner.inventory.convert import pif_has_ip as pif_has_ip
from planner.inventory.model import Inventory
from planner.tls import FingerprintMismatch, tls_for

if TYPE_CHECKING:
    from planner.tls import TlsSetting

_log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 120.0  # seconds for one XML-RPC call (a 40,000-VM VM table is large)
MAX_REDIRECTS = 3  # HOST_IS_SLAVE hops followed before giving up
WORKERS = 3  # pools read at once

# Classes read from each pool master, one get_all_records call each. VLAN,
# network_sriov and pool_update are newer than some hosts: a pool without them reads
# as empty tables (with a warning).
CLASSES: tuple[str, ...] = (
    "pool",
    "host",
    "host_metrics",
    "VM",
    "VM_guest_metrics",
    "VBD",
    "VDI",
    "SR",
    "PBD",
    "network",
    "PIF",
    "VIF",
    "network_sriov",
    "pool_update",
    "VLAN",
    "VM_group",
)
# VM_group is recent (xen-api ocaml/idl/datamodel_vm_group.ml): older hosts answer
# MESSAGE_METHOD_UNKNOWN and the pool has no groups
OPTIONAL_CLASSES = ("network_sriov", "pool_update", "VLAN", "VM_group")


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
        return {(m[0].text or ""): (m[1].text or "") if not len(m[1]) else _value(m[1]) for m in c}
    if tag == "array":
        return [(x.text or "") if not len(x) else _value(x) for x in c[0]] if len(c) else []
    scalar = _SCALARS.get(tag)
    if scalar is None:
        raise xmlrpc.client.ResponseError(f"unknown XML-RPC type <{tag}>")
    return scalar(c.text or "")


# the rarer XML-RPC scalars: tag -> decoder of the element's text
_SCALARS: dict[str, Callable[[str], Any]] = {
    "boolean": lambda s: s.strip() == "1",
    "int": lambda s: int(s.strip()),
    "i4": lambda s: int(s.strip()),
    "i8": lambda s: int(s.strip()),
    "double": lambda s: float(s.strip()),
    "dateTime.iso8601": lambda s: xmlrpc.client.DateTime(s.strip()),
    "nil": lambda s: None,
    "base64": lambda s: xmlrpc.client.Binary(base64.b64decode(s)),
}


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

    # Any: whatever the transport's own make_connection makes (HTTP or HTTPS)
    def make_connection(self, host: Any) -> Any:
        # a mixin: the transport class after it in the MRO makes the connection
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
        raise ConnectionFailed(
            f"{url}: unsupported scheme {parts.scheme!r} (use https:// or http://)"
        )
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

    if isinstance(e, FingerprintMismatch):
        return f"{url}: {e}"
    if isinstance(e, ssl.SSLCertVerificationError):
        return (
            f"{url}: TLS certificate verification failed ({e.verify_message}); "
            "give --ca-file or --fingerprint, or --insecure to skip verification if "
            "you trust this host"
        )
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


def _read_pool(
    url: str, user: str, password: str, insecure: TlsSetting, timeout: float, warnings: list[str]
) -> tuple[str, dict[str, dict[str, Record]]]:
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
                warnings.append(
                    f"{current} is a pool member, not its master: collected from "
                    f"the master {master} instead"
                )
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
                    if (
                        cls in OPTIONAL_CLASSES
                        and e.details
                        and (e.details[0] == "MESSAGE_METHOD_UNKNOWN")
                    ):
                        warnings.append(f"{current}: this XAPI has no {cls} class; read as empty")
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
        _log.info(
            "pool %s: %d hosts, %d VMs in %.1f s",
            name,
            len(part.hosts),
            len(part.vms),
            took,
            extra={"url": url, "pool": name},
        )
        tell(
            url, f"done: pool {name}, {len(part.hosts)} hosts, {len(part.vms)} VMs in {took:.1f} s"
        )
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
            warnings.append(
                f"{raw} reaches pool {part.pools[0]['name']} already collected from "
                f"{seen[pu]}; collected once"
            )
            continue
        seen[pu] = raw
        parts.append(part)
    inv = assemble(parts, source=f"xapi: {', '.join(seen.values())}")
    return inv, warnings


def collect(
    urls: list[str], user: str, password: str, *, insecure: TlsSetting = False
) -> Inventory:
    """Read each pool master at `urls` and return the fleet as one inventory.

    `https://` URLs have their certificate verified unless `insecure`; `http://` is
    allowed (e.g. the simulator on loopback); a bare host name means https. Raises
    `ConnectionFailed` (one line) for a refused connection, a failed name lookup or TLS
    verification, a wrong password, a timeout or a non-XAPI endpoint.
    """
    inv, _ = collect_with_warnings(urls, user, password, insecure=insecure)
    return inv
