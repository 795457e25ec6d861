"""TLS for XenAPI connections: verify with the system CAs, a CA file, or a pinned
certificate fingerprint; or not at all (`--insecure`).

XenServer masters usually present a self-signed certificate. Rather than turning
verification off, an operator can give the pool's CA (`--ca-file`) or pin the master's
certificate by its SHA-256 fingerprint (`--fingerprint`, as printed by `openssl x509
-noout -fingerprint -sha256`). A pin is checked right after the handshake, before a
byte of the request (so before the password) is sent; a mismatch is refused with one
line naming both fingerprints.

`TlsSetting` is what the collector's `make_transport` accepts for `insecure`: a bool
(the historical flag), one `Tls` for every URL, or a mapping from a URL's
`scheme://host:port` to its `Tls` (pools from the config file each carry their own).
"""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from planner.errors import InputError

_HEX = re.compile(r"^[0-9a-f]{64}$")


class FingerprintMismatch(ssl.SSLError):
    """The peer's certificate is not the pinned one."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "certificate fingerprint mismatch"


def normalize_fingerprint(text: str, where: str = "--fingerprint") -> str:
    """`AB:CD:...` or `abcd...` (64 hex digits, optional `sha256:`/`SHA256 Fingerprint=`
    prefix) -> lower-case hex; anything else raises InputError."""
    t = text.strip()
    if "=" in t:
        t = t.split("=", 1)[1]
    if t.lower().startswith("sha256:"):
        t = t[7:]
    t = t.replace(":", "").replace(" ", "").lower()
    if not _HEX.match(t):
        raise InputError(
            f"{where}: not a SHA-256 fingerprint (64 hex digits, colons allowed), got {text!r}"
        )
    return t


def show_fingerprint(hexdigest: str) -> str:
    """`abcd...` -> `AB:CD:...` (how openssl prints it)."""
    h = hexdigest.upper()
    return ":".join(h[i : i + 2] for i in range(0, len(h), 2))


def certificate_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate, lower-case hex."""
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Tls:
    """How to check one server: `insecure` (no check), `ca_file` (verify the chain and
    host name against these CAs), `fingerprint` (lower-case hex SHA-256 of the server's
    certificate; chain and name are not checked, the pin is). Default: the system CAs."""

    insecure: bool = False
    ca_file: Path | None = None
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        given = [
            n
            for n, v in (
                ("--insecure", self.insecure),
                ("--ca-file", self.ca_file),
                ("--fingerprint", self.fingerprint),
            )
            if v
        ]
        if len(given) > 1:
            raise InputError(f"give one of {' and '.join(given)}, not both")

    def context(self) -> ssl.SSLContext:
        """The client-side SSLContext for this setting."""
        if self.insecure:
            return ssl._create_unverified_context()
        if self.ca_file is not None:
            if not self.ca_file.is_file():
                raise InputError(f"--ca-file {self.ca_file}: no such file")
            try:
                return ssl.create_default_context(cafile=str(self.ca_file))
            except ssl.SSLError as e:
                raise InputError(
                    f"--ca-file {self.ca_file}: not a PEM CA file ({e.reason})"
                ) from None
        if self.fingerprint is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            # the pin replaces chain and name checks: a self-signed master is the norm
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.sslsocket_class = _pinned_socket_class(self.fingerprint)
            return ctx
        return ssl.create_default_context()


def _pinned_socket_class(expected: str) -> type[ssl.SSLSocket]:
    """An SSLSocket class whose handshake also checks the peer's certificate pin."""

    class PinnedSocket(ssl.SSLSocket):
        def do_handshake(self, block: bool = False) -> None:
            super().do_handshake(block)
            der = self.getpeercert(binary_form=True)
            got = certificate_fingerprint(der) if der else "none"
            if got != expected:
                self.close()
                raise FingerprintMismatch(
                    f"certificate fingerprint mismatch: expected {show_fingerprint(expected)}, "
                    f"the server presented {show_fingerprint(got)}; refusing to connect"
                )

    return PinnedSocket


TlsSetting = bool | Tls | Mapping[str, Tls]


def url_key(url: str) -> str:
    """`https://Host:443/path` -> `https://host:443`: the key of a per-URL setting."""
    p = urlsplit(url if "://" in url else f"https://{url}")
    port = p.port or (443 if p.scheme == "https" else 80)
    return f"{p.scheme}://{(p.hostname or '').lower()}:{port}"


def tls_for(url: str, setting: TlsSetting | Any) -> Tls:
    """The `Tls` of `url` under `setting` (a bool, one Tls, or a per-URL mapping; URLs
    the mapping does not name are verified with the system CAs)."""
    if isinstance(setting, Tls):
        return setting
    if isinstance(setting, Mapping):
        return setting.get(url_key(url), Tls())
    return Tls(insecure=bool(setting))
