"""`Simulator`: the Python API that starts the XAPI simulator in a background thread."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from planner.errors import InputError
from planner.inventory.model import Inventory
from planner.rules.memory import host_capacity, vm_memory
from planner.sim.api import Api
from planner.sim.faults import parse_faults
from planner.sim.server import SimServer
from planner.sim.state import MAX_PER_POOL, SimState


class Simulator:
    """Serve `inv` as XAPI pools on `host:port` (port 0: a free port).

    `speed`: simulated seconds per wall second (a migration estimated at 600 s takes
    600 / speed wall seconds). `fail_rate`: share of accepted migrations that fail
    mid-way with VM_MIGRATE_FAILED, drawn from a generator seeded with `seed`.
    `faults`: specs as in `planner.sim.faults`. `audit_path`: also append each finished
    migration attempt to this JSONL file. `tls`: (certificate file, key file) to serve
    HTTPS instead of HTTP (URLs then start with https://).
    """

    def __init__(
        self,
        inv: Inventory,
        *,
        speed: float = 60.0,
        fail_rate: float = 0.0,
        seed: int = 0,
        faults: Sequence[str] = (),
        user: str = "root",
        password: str = "secret",
        host: str = "127.0.0.1",
        port: int = 0,
        audit_path: str | Path | None = None,
        tls: tuple[str | Path, str | Path] | None = None,
    ) -> None:
        problems = []
        if not (math.isfinite(speed) and speed > 0):
            problems.append(f"--speed must be a positive number, got {speed}")
        if not (0.0 <= fail_rate <= 1.0):
            problems.append(f"--fail-rate must be in [0, 1], got {fail_rate}")
        if not 0 <= port <= 65535:
            problems.append(f"--port must be 0..65535, got {port}")
        if not inv.pools:
            problems.append("the inventory has no pool to serve")
        if audit_path is not None:
            # the audit is appended to from the migration threads: a file that cannot be
            # written must stop the simulator now, not kill a thread mid-migration later
            try:
                with Path(audit_path).open("a", encoding="utf-8"):
                    pass
            except OSError as e:
                problems.append(f"--audit {audit_path}: cannot append to it: {e.strerror or e}")
        try:
            parsed = parse_faults(list(faults), inv)
        except InputError as e:
            problems += e.problems
        if problems:
            raise InputError("cannot start the simulator", problems)
        self._bind = (host, port)
        self._tls = tls
        self._scheme = "https" if tls else "http"
        self.state = SimState(
            inv,
            speed=speed,
            fail_rate=fail_rate,
            seed=seed,
            faults=parsed,
            user=user,
            password=password,
            audit_path=audit_path,
        )
        self.api = Api(self.state)
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> Simulator:
        """Bind and serve in a daemon thread. OSError when the port is taken."""
        if self._server is not None:
            return self
        self._server = SimServer(self._bind, self.api)
        if self._tls is not None:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self._tls[0]), str(self._tls[1]))
            # handshake in the request thread, so a client that refuses the certificate
            # does not hold up the accept loop
            self._server.socket = ctx.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        # an AF_INET server: (host, port); typeshed also allows a path or bytes
        bound_host, port = cast(tuple[str, int], self._server.server_address)[:2]
        shown = "127.0.0.1" if bound_host in ("0.0.0.0", "") else bound_host
        self._base = f"{shown}:{port}"
        self.state.start(self._base)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sim-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and the clock (idempotent). Pending tasks stay pending."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self.state.clock.stop()
        with self.state.cond:
            self.state.cond.notify_all()
        self._server = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return int(self._server.server_address[1])

    def url_of_host(self, host_uuid: str) -> str:
        """The URL of one host (`http://127.0.0.1:PORT/host/<uuid>/`; https with `tls`)."""
        if host_uuid not in self.state.live:
            raise InputError(f"no host with uuid {host_uuid!r}")
        self.port  # noqa: B018 - raises when not started
        return f"{self._scheme}://{self._base}/host/{host_uuid}/"

    @property
    def urls(self) -> dict[str, str]:
        """Pool uuid -> the URL of that pool's master."""
        st = self.state
        with st.lock:
            masters = {
                p: st.db.get(st.db.get(st.ref_of[p])["master"])["uuid"] for p in st.pool_order
            }
        return {p: self.url_of_host(h) for p, h in masters.items()}

    # ---------------------------------------------------------------- observation
    def inventory(self) -> Inventory:
        """The live model state in inventory form (VMs in flight are still at the source)."""
        return self.state.inventory()

    def audit(self) -> list[dict[str, Any]]:
        """One entry per migration attempt: vm, kind, from_host, to_host, from_pool, to_pool,
        start, end (simulated seconds; end None while running), result ("success", the
        XAPI error code, or "pending"), task (None for an attempt refused at once)."""
        with self.state.lock:
            return [dict(e) for e in self.state.audit_log]

    def max_concurrency(self) -> dict[str, int]:
        """Pool uuid -> the most migrations from that pool ever in flight at once."""
        with self.state.lock:
            return dict(self.state.max_conc)

    def sim_time(self) -> float:
        """Simulated seconds since start."""
        return self.state.sim_now()

    def logins(self) -> int:
        """How many sessions were opened (re-logins after expiry included)."""
        with self.state.lock:
            return self.state.logins

    # ---------------------------------------------------------------- control (faults)
    def set_host_live(self, host_uuid: str, live: bool) -> None:
        """Take a host offline (migrations touching it fail, its URL drops calls) or back."""
        with self.state.lock:
            self.state.set_live(host_uuid, live)

    def upgrade_host(self, host_uuid: str, version: str, after_seconds: float = 0.0) -> None:
        """Debug entry point (not XAPI): "upgrade" a host to `version`, as an operator
        would. With `after_seconds` (wall seconds) > 0 the host reboots: it is not live
        (its URL drops calls, `host_metrics.live` is false) from now until the new
        version comes up `after_seconds` later, live again. With 0 the version changes
        at once and the host stays live. Also reachable over the wire as
        `debug.upgrade_host(host_uuid, version, after_seconds)`."""
        if host_uuid not in self.state.live:
            raise InputError(f"no host with uuid {host_uuid!r}")
        with self.state.lock:
            self.state.upgrade_host_later(host_uuid, version, after_seconds)

    def expire_sessions(self) -> None:
        """Invalidate every open session (clients see SESSION_INVALID)."""
        with self.state.lock:
            self.state.expire_sessions()

    def check_invariants(self) -> list[str]:
        """Capacity rules the live state breaks right now (empty when all hold)."""
        st = self.state
        out = []
        with st.lock:
            inv = st.inventory()
            for h in inv.hosts:
                used = sum(vm_memory(v, False) for v in inv.vms_on_host.get(h.uuid, []))
                total = used + st.incoming.get(h.uuid, 0)
                if total > host_capacity(h, 0.0):
                    out.append(
                        f"host {h.name}: {total} bytes committed > capacity {host_capacity(h, 0.0)}"
                    )
            for s in inv.srs:
                total = s.used_bytes + st.sr_reserved.get(s.uuid, 0)
                if total > s.size_bytes:
                    out.append(f"SR {s.name}: {total} bytes used+reserved > {s.size_bytes}")
            per_pool: dict[str, int] = {}
            for m in st.in_flight.values():
                per_pool[m.from_pool] = per_pool.get(m.from_pool, 0) + 1
            for p, n in per_pool.items():
                if n > MAX_PER_POOL:
                    out.append(f"pool {inv.label(p)}: {n} migrations in flight")
        return out
