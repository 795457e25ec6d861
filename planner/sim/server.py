"""The threaded XML-RPC server: one URL path per host, XAPI's envelope around every answer.

`/host/<host-uuid>/` is a host's URL: the pool master's URL serves its pool, a pool
member's answers login with HOST_IS_SLAVE [master address]. `/` and `/RPC2` reach the
first pool's master. A host that is offline (a fault) drops connections without
answering. Threads (`ThreadingMixIn`) let `event.from` and synchronous migrations block
one request without stopping the others.
"""

from __future__ import annotations

import re
import socketserver
import xmlrpc.client
from typing import Any, cast
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from planner.sim.api import Api
from planner.sim.wire import XapiError, dumps_response, failure, success

PATH_RE = re.compile(r"^/host/([0-9a-fA-F-]{36})/?$")


class _Handler(SimpleXMLRPCRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a collector makes a few large calls
    # no gzip: on loopback compressing costs more than it saves (None is the documented
    # off switch; typeshed types the attribute int)
    encode_threshold = None  # type: ignore[assignment]
    server: SimServer

    def is_rpc_path_valid(self) -> bool:
        return self.server.host_of_path(self.path) is not False

    def do_POST(self) -> None:
        host = self.server.host_of_path(self.path)
        if isinstance(host, str) and not self.server.api.st.live.get(host, True):
            self.close_connection = True  # an offline host answers nothing
            return
        super().do_POST()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the simulator is quiet; the audit log records what matters


class SimServer(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], api: Api) -> None:
        self.api = api
        super().__init__(
            addr, requestHandler=_Handler, logRequests=False, allow_none=True, encoding="utf-8"
        )

    def host_of_path(self, path: str) -> str | bool | None:
        """Host uuid of a URL path; None for `/` and `/RPC2`; False when not served."""
        path = path.split("?", 1)[0]
        if path in ("/", "/RPC2"):
            return None
        m = PATH_RE.match(path)
        if m and m.group(1) in self.api.st.live:
            return m.group(1)
        return False

    # typeshed says str in and out; the server hands it the request body and sends its
    # answer as they are, bytes both ways
    def _marshaled_dispatch(  # type: ignore[override]
        self,
        data: bytes,
        dispatch_method: Any = None,
        path: Any = None,
    ) -> bytes:
        host = self.host_of_path(path or "/")
        try:
            params, method = xmlrpc.client.loads(data, use_builtin_types=False)
        except Exception as e:  # malformed request: XAPI answers with a failure too
            resp = failure(XapiError("INTERNAL_ERROR", f"cannot parse the request: {e}"))
            return xmlrpc.client.dumps((resp,), methodresponse=True).encode()
        try:
            # a request without a method name fails inside call (an INTERNAL_ERROR envelope)
            name = cast(str, method)
            resp = success(self.api.call(host if isinstance(host, str) else None, name, params))
        except XapiError as e:
            resp = failure(e)
        except Exception as e:  # a simulator bug: still an envelope, never a broken socket
            resp = failure(XapiError("INTERNAL_ERROR", f"{type(e).__name__}: {e}"))
        try:
            return dumps_response(resp)
        except (OverflowError, TypeError) as e:
            return dumps_response(
                failure(XapiError("INTERNAL_ERROR", f"cannot marshal the answer: {e}"))
            )
