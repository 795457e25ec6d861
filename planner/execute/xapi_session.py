"""XenAPI sessions for the executor: logging in to a pool master (with a socket timeout
and one-line errors) and the per-pool record `XapiBackend` keeps."""

from __future__ import annotations

import threading
import xmlrpc.client
from typing import TYPE_CHECKING, Any

from planner.errors import ConnectionFailed
from planner.inventory.collect import make_transport

if TYPE_CHECKING:
    from planner.tls import TlsSetting

ORIGINATOR = "xen-planner-executor"


CALL_TIMEOUT = 60.0  # seconds a single XAPI call may take before we call it a fault


def _open_session(
    url: str, user: str, password: str, insecure: TlsSetting, timeout: float = CALL_TIMEOUT
) -> Any:
    """A logged-in XenAPI session; ConnectionFailed (one line) when that is impossible.

    The transport (the collector's) has a socket timeout: XenAPI's default has none, and
    a master that stops answering must not hang the executor.
    """
    import XenAPI

    try:
        s = XenAPI.Session(url, transport=make_transport(url, insecure, timeout))
        s.xenapi.login_with_password(user, password, "2.0", ORIGINATOR)
        return s
    except XenAPI.Failure as e:
        d = list(e.details)
        if d and d[0] == "HOST_IS_SLAVE":
            master = d[1] if len(d) > 1 else "?"
            raise ConnectionFailed(
                f"{url}: is a pool member, not its master; use the master's address {master}"
            ) from None
        if d and d[0] == "SESSION_AUTHENTICATION_FAILED":
            raise ConnectionFailed(f"{url}: wrong user name or password") from None
        raise ConnectionFailed(f"{url}: login refused: {' '.join(map(str, d))}") from None
    except (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.Fault) as e:
        text = str(e).replace(password, "***") if password else str(e)
        raise ConnectionFailed(f"{url}: cannot connect: {text}") from None


class _Pool:
    """One pool: its URL, its session and the refs we looked up (they never change)."""

    def __init__(self, url: str, session: Any, uuid: str) -> None:
        self.url = url
        self.session = session
        self.uuid = uuid
        self.refs: dict[tuple[str, str], str] = {}
        self.lock = threading.Lock()
