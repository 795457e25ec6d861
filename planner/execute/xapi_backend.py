"""The real `Backend`: XenAPI sessions, one per pool master (see /work/shared/XAPI.md).

- live: ``Async.VM.pool_migrate(vm, host, {"live": "true"})``;
- storage (running VM, its disks move, in its pool or to another):
  ``host.migrate_receive(host, network, {})`` on the target pool (`network`: the plan's
  ``options.migration_network`` for that pool, else the host's management network),
  then ``Async.VM.migrate_send(vm, dest, live=True, vdi_map, vif_map, {})``; the
  vdi_map maps every moved VDI to its target SR (within a pool, the others to their own
  SR) and, across pools, the vif_map maps every VIF (by device, as the plan says) to its
  target network;
- move (halted VM), within its pool or across: ``Async.VM.migrate_send(..., live=False,
  ...)``. Not ``VDI.pool_migrate``: XAPI refuses that for a VDI whose VM is not running
  (VDI_NEEDS_VM_FOR_MIGRATE), and the simulator, like XAPI, does too.

After a migration has arrived, a ``home_host`` is set with ``VM.set_affinity`` on the
VM's new pool.

Every storage or halted move is checked first with ``VM.assert_can_migrate``; a live
one with ``VM.assert_can_boot_here`` (XAPI's own check for `pool_migrate`, which needs no
migrate_receive token). Tasks are awaited with ``event.from`` on a watcher thread per pool
(its own session, so the main session is never blocked), falling back to polling
``task.get_record`` when ``event.from`` is not offered.

Sessions: the client logs in again by itself on SESSION_INVALID (3 tries); when that is
not enough we open a new session once and repeat the call. TLS is verified unless
`insecure`. The password lives only in this object's memory (and the XenAPI client's,
which keeps it for re-login); it is never logged or written.
"""

from __future__ import annotations

import contextlib
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from planner.errors import ConnectionFailed
from planner.execute.backend import HostState, Location, MigrationFault, TaskState
from planner.execute.xapi_records import (
    MARKER_KEY,
    _host_seeing,
    _location,
    _management_network,
    _set_marker,
)
from planner.execute.xapi_session import CALL_TIMEOUT, ORIGINATOR, _open_session, _Pool
from planner.inventory.collect import collect, normalize_url

if TYPE_CHECKING:
    from planner.inventory.model import Inventory
    from planner.plan import Migration
    from planner.tls import TlsSetting

MIGRATE_TASKS = frozenset(
    {"Async.VM.pool_migrate", "Async.VM.migrate_send", "Async.VDI.pool_migrate"}
)
MIGRATE_OPS = frozenset({"pool_migrate", "migrate_send", "migrate", "migrate_receive"})


class XapiBackend:
    """`Backend` over XenAPI. `urls` are pool masters' URLs (one per pool)."""

    def __init__(
        self,
        urls: Sequence[str],
        user: str,
        password: str,
        *,
        insecure: TlsSetting = False,  # or a planner.tls setting: CA file, pin, per URL
        use_events: bool = True,
        poll_seconds: float = 0.5,
    ) -> None:

        self._urls = [normalize_url(u) for u in urls]
        self._user = user
        self._password = password
        self._insecure = insecure
        self._poll = poll_seconds
        # target pool uuid -> network uuid of the migration stream (the plan's
        # options.migration_network; the runner sets it): passed to host.migrate_receive
        self.migration_network: dict[str, str] = {}
        self.pools: dict[str, _Pool] = {}
        for url in self._urls:
            s = _open_session(url, user, password, insecure)
            try:
                pref = s.xenapi.pool.get_all()[0]
                puuid = s.xenapi.pool.get_uuid(pref)
            except Exception as e:  # a master that logs in but cannot name its pool
                raise ConnectionFailed(f"{url}: cannot read the pool: {e}") from None
            if puuid in self.pools:
                raise ConnectionFailed(f"{url}: same pool as {self.pools[puuid].url}")
            self.pools[puuid] = _Pool(url, s, puuid)
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._watchers: list[threading.Thread] = []
        self.events_ok: dict[str, bool] = {}
        if use_events:
            for p in self.pools.values():
                t = threading.Thread(
                    target=self._watch, args=(p,), daemon=True, name=f"xapi-events-{p.uuid[:8]}"
                )
                self.events_ok[p.uuid] = True
                t.start()
                self._watchers.append(t)

    # ------------------------------------------------------------ calls

    def _pool(self, uuid: str) -> _Pool:
        p = self.pools.get(uuid)
        if p is None:
            raise MigrationFault(("CONNECTION", f"no --url given for pool {uuid}"))
        return p

    def _call(self, pool: str, fn: Callable[..., Any]) -> Any:  # fn(xenapi); lambdas bind args
        """Run `fn(session.xenapi)` on `pool`'s master, turning every failure into a
        MigrationFault (XAPI's details, or CONNECTION / SESSION_INVALID)."""
        import XenAPI

        p = self._pool(pool)
        for attempt in (1, 2):
            try:
                with p.lock:
                    return fn(p.session.xenapi)
            except XenAPI.Failure as e:
                raise MigrationFault(tuple(map(str, e.details))) from None
            except xmlrpc.client.Fault as e:
                # the client's own re-login gave up: open a new session, once
                if attempt == 1:
                    self._relogin(p)
                    continue
                raise MigrationFault(("SESSION_INVALID", str(e.faultString))) from None
            except (TimeoutError, OSError, xmlrpc.client.ProtocolError) as e:
                raise MigrationFault(("CONNECTION", f"{p.url}: {e}")) from None
        raise AssertionError("unreachable")

    def _relogin(self, p: _Pool) -> None:
        try:
            s = _open_session(p.url, self._user, self._password, self._insecure)
        except ConnectionFailed as e:
            raise MigrationFault(("CONNECTION", e.message)) from None
        with p.lock:
            p.session = s

    def _ref(self, pool: str, cls: str, uuid: str) -> str:
        p = self._pool(pool)
        key = (cls, uuid)
        if key not in p.refs:
            p.refs[key] = self._call(pool, lambda x: getattr(x, cls).get_by_uuid(uuid))
        return p.refs[key]

    # ------------------------------------------------------------ inventory

    def inventory(self) -> Inventory:

        return collect(self._urls, self._user, self._password, insecure=self._insecure)

    # ------------------------------------------------------------ migrations

    def _dest(self, m: Migration) -> tuple[str, dict[str, Any]]:
        """(dest host ref in the target pool, migrate_receive token)."""
        tp = m.to_pool
        if m.to_host is not None:
            host = self._ref(tp, "host", m.to_host)
        else:
            srs = sorted({self._ref(tp, "SR", d.to_sr) for d in m.disks})
            host = self._call(tp, lambda x: _host_seeing(x, srs))
        named = self.migration_network.get(tp)
        if named is not None:
            net = self._ref(tp, "network", named)
        else:
            net = self._call(tp, lambda x: _management_network(x, host))
        token = self._call(tp, lambda x: x.host.migrate_receive(host, net, {}))
        return host, token

    def set_migration_networks(self, networks: Mapping[str, str]) -> None:
        self.migration_network = dict(networks)

    def set_affinity(self, vm: str, pool: str, host: str | None) -> None:
        """`VM.set_affinity` on `pool`'s master (the VM's pool after its migration)."""
        ref = self._ref(pool, "VM", vm)
        href = self._ref(pool, "host", host) if host is not None else "OpaqueRef:NULL"
        self._call(pool, lambda x: x.VM.set_affinity(ref, href))

    def _maps(self, m: Migration) -> tuple[dict[str, str], dict[str, str]]:
        """vdi_map {VDI ref: SR ref} and vif_map {VIF ref: network ref} for migrate_send."""
        sp, tp = m.from_pool, m.to_pool
        vm = self._ref(sp, "VM", m.vm)
        moved = {d.vdi: d.to_sr for d in m.disks}
        vdi_map: dict[str, str] = {}
        vbds = self._call(sp, lambda x: [x.VBD.get_record(r) for r in x.VM.get_VBDs(vm)])
        for vbd in vbds:
            if vbd.get("type") != "Disk" or vbd.get("VDI") in (None, "", "OpaqueRef:NULL"):
                continue
            vdi_ref = vbd["VDI"]
            vdi_uuid = self._call(sp, lambda x, r=vdi_ref: x.VDI.get_uuid(r))
            if vdi_uuid in moved:
                vdi_map[vdi_ref] = self._ref(tp, "SR", moved[vdi_uuid])
            elif sp == tp:
                # within the pool a disk that stays is mapped to its own SR (no copy)
                vdi_map[vdi_ref] = self._call(sp, lambda x, r=vdi_ref: x.VDI.get_SR(r))
        self._map_suspend_image(m, vm, vdi_map, vbds)
        vif_map: dict[str, str] = {}
        if sp != tp:
            by_device = {v.device: v.to_network for v in m.vifs}
            vifs = self._call(sp, lambda x: [(r, x.VIF.get_device(r)) for r in x.VM.get_VIFs(vm)])
            for ref, device in vifs:
                if device in by_device:
                    vif_map[ref] = self._ref(tp, "network", by_device[device])
        return vdi_map, vif_map

    def _map_suspend_image(
        self, m: Migration, vm: str, vdi_map: dict[str, str], vbds: list[dict[str, Any]]
    ) -> None:
        """(v2) Name a Suspended VM's memory image in vdi_map where the plan's accounting
        has it (planner.rules.storage.suspend_target): on its own SR when the VM stays in
        its pool on a host that sees it, else with the VM's first disk. Unmapped, XAPI
        would pick the destination's suspend-image or default SR."""
        sp, tp = m.from_pool, m.to_pool
        image = self._call(sp, lambda x: x.VM.get_suspend_VDI(vm))
        if image in (None, "", "OpaqueRef:NULL"):
            return
        own = self._call(sp, lambda x: x.VDI.get_SR(image))
        if sp == tp and m.to_host is not None:
            pbds = self._call(sp, lambda x: [x.PBD.get_record(p) for p in x.SR.get_PBDs(own)])
            host = self._ref(sp, "host", m.to_host)
            if any(p.get("host") == host and p.get("currently_attached") for p in pbds):
                vdi_map[image] = own
                return
        # the collector lists disks in VM.VBDs order: the inventory's first disk
        disks = [v for v in vbds if v.get("type") == "Disk" and v.get("VDI") in vdi_map]
        if disks:
            vdi_map[image] = vdi_map[disks[0]["VDI"]]

    def check(self, m: Migration) -> None:
        sp = m.from_pool
        vm = self._ref(sp, "VM", m.vm)
        if m.kind == "live":
            host = self._ref(sp, "host", m.to_host or "")
            self._call(sp, lambda x: x.VM.assert_can_boot_here(vm, host))
            return
        _host, dest = self._dest(m)
        vdi_map, vif_map = self._maps(m)
        live = m.kind == "storage"
        self._call(sp, lambda x: x.VM.assert_can_migrate(vm, dest, live, vdi_map, vif_map, {}))

    def start(self, m: Migration, marker: str | None = None) -> list[str]:
        """Start `m`. With `marker`, the VM's other_config gets ``MARKER_KEY=marker``
        before the call and the task's after it, so a resumed run can tell its own call
        from anyone else's (`tasks_marked`, `marker_of`)."""
        sp = m.from_pool
        vm = self._ref(sp, "VM", m.vm)
        if m.kind == "live":
            host = self._ref(sp, "host", m.to_host or "")

            def call(x: Any) -> str:
                return x.Async.VM.pool_migrate(vm, host, {"live": "true"})
        else:
            _host, dest = self._dest(m)
            vdi_map, vif_map = self._maps(m)
            live = m.kind == "storage"

            def call(x: Any) -> str:
                return x.Async.VM.migrate_send(vm, dest, live, vdi_map, vif_map, {})

        if marker is not None:
            self._call(sp, lambda x: _set_marker(x.VM, vm, marker))
        task = self._call(sp, call)
        if marker is not None:
            # best effort: a crash before this line is covered by the VM's marker
            with contextlib.suppress(MigrationFault):
                self._call(sp, lambda x: x.task.add_to_other_config(task, MARKER_KEY, marker))
        return [task]

    def marker_of(self, vm: str) -> str | None:
        """The executor's marker in the VM's other_config (any pool), or None."""
        for puuid in self.pools:
            try:
                oc = self._call(puuid, lambda x: x.VM.get_other_config(x.VM.get_by_uuid(vm)))
            except MigrationFault as f:
                if f.code in ("UUID_INVALID", "HANDLE_INVALID"):
                    continue
                raise
            return (oc or {}).get(MARKER_KEY)
        return None

    def tasks_marked(self, pool: str, marker: str) -> list[str]:
        """Refs of the tasks on `pool`'s master that carry `marker` (finished ones too)."""
        recs = self._call(pool, lambda x: x.task.get_all_records())
        return sorted(
            ref
            for ref, r in recs.items()
            if (r.get("other_config") or {}).get(MARKER_KEY) == marker
        )

    # ------------------------------------------------------------ tasks

    def task_state(self, pool: str, task: str) -> TaskState:
        try:
            rec = self._call(pool, lambda x: x.task.get_record(task))
        except MigrationFault as f:
            if f.code == "HANDLE_INVALID":
                return TaskState("gone")
            raise
        status = str(rec.get("status", "pending"))
        err = tuple(str(e) for e in rec.get("error_info") or ())
        try:
            progress = float(rec.get("progress", 0.0))
        except (TypeError, ValueError):
            progress = 0.0
        return TaskState(status, err, progress)

    def cancel(self, pool: str, task: str) -> None:
        self._call(pool, lambda x: x.task.cancel(task))

    def migration_tasks(self, pool: str) -> set[str]:
        # task.get_all_records is far cheaper than reading every VM's current_operations
        recs = self._call(pool, lambda x: x.task.get_all_records())
        return {
            ref
            for ref, r in recs.items()
            if r.get("status") == "pending" and r.get("name_label") in MIGRATE_TASKS
        }

    def busy(self, pool: str) -> dict[str, str]:
        recs = self._call(pool, lambda x: x.VM.get_all_records())
        out: dict[str, str] = {}
        for rec in recs.values():
            if rec.get("is_a_template") or rec.get("is_control_domain"):
                continue
            for ref, op in (rec.get("current_operations") or {}).items():
                if op in MIGRATE_OPS:
                    out[rec["uuid"]] = ref
        return out

    def locate(self, vm: str) -> Location | None:
        for puuid in self.pools:
            try:
                ref = self._call(puuid, lambda x: x.VM.get_by_uuid(vm))
            except MigrationFault as f:
                if f.code in ("UUID_INVALID", "HANDLE_INVALID"):
                    continue
                raise
            return self._call(puuid, lambda x, r=ref, p=puuid: _location(x, r, p))
        return None

    # ------------------------------------------------------------ hosts

    def _host_pool(self, host: str) -> str:
        """The pool holding `host` (remembered: a host does not change pools during a
        run, and its master may be rebooting the next time we ask)."""
        key = ("host-pool", host)
        for p in self.pools.values():
            if key in p.refs:
                return p.uuid
        unreachable: MigrationFault | None = None
        for puuid, p in self.pools.items():
            try:
                ref = self._call(puuid, lambda x: x.host.get_by_uuid(host))
            except MigrationFault as f:
                if f.code in ("UUID_INVALID", "HANDLE_INVALID"):
                    continue
                unreachable = f
                continue
            p.refs[("host", host)] = ref
            p.refs[key] = puuid
            return puuid
        if unreachable is not None:
            raise unreachable
        raise MigrationFault(("UUID_INVALID", "host", host), "no pool given by --url has it")

    def host_state(self, host: str) -> HostState:
        pool = self._host_pool(host)
        ref = self._ref(pool, "host", host)

        def read(x: Any) -> HostState:
            rec = x.host.get_record(ref)
            live = True
            metrics = rec.get("metrics")
            if metrics not in (None, "", "OpaqueRef:NULL"):
                live = bool(x.host_metrics.get_live(metrics))
            version = str((rec.get("software_version") or {}).get("product_version", ""))
            return HostState(pool, bool(rec.get("enabled")), live, version)

        return self._call(pool, read)

    def set_host_enabled(self, host: str, enabled: bool) -> None:
        pool = self._host_pool(host)
        ref = self._ref(pool, "host", host)
        if enabled:
            self._call(pool, lambda x: x.host.enable(ref))
        else:
            self._call(pool, lambda x: x.host.disable(ref))

    def wait(self, tasks: Mapping[str, Sequence[str]], timeout: float) -> None:
        if not tasks or not any(self.events_ok.get(p, False) for p in tasks):
            time.sleep(max(0.0, min(timeout, self._poll)))
            return
        self._changed.wait(timeout)
        self._changed.clear()

    def _watch(self, p: _Pool) -> None:
        """Watcher thread: blocks in event.from on its own session; sets `_changed`."""
        import XenAPI

        try:
            s = _open_session(p.url, self._user, self._password, self._insecure)
        except ConnectionFailed:
            self.events_ok[p.uuid] = False
            return
        token = ""
        while not self._stop.is_set():
            try:
                res = getattr(s.xenapi.event, "from")(["task", "vm"], token, 5.0)
                token = res["token"]
                if res.get("events"):
                    self._changed.set()
            except XenAPI.Failure as e:
                if e.details and e.details[0] in (
                    "MESSAGE_METHOD_UNKNOWN",
                    "EVENT_SUBSCRIPTION_PARSE_FAILURE",
                ):
                    self.events_ok[p.uuid] = False  # fall back to polling
                    self._changed.set()
                    return
                token = ""
                time.sleep(self._poll)
            except Exception:
                # connection trouble: keep the runner polling meanwhile, try again later
                self._changed.set()
                if self._stop.wait(self._poll):
                    break
                with contextlib.suppress(ConnectionFailed):
                    s = _open_session(p.url, self._user, self._password, self._insecure)
        with contextlib.suppress(Exception):
            s.xenapi.session.logout()

    def close(self) -> None:
        self._stop.set()
        for p in self.pools.values():
            with contextlib.suppress(Exception), p.lock:
                p.session.xenapi.session.logout()


__all__ = [
    "CALL_TIMEOUT",
    "MARKER_KEY",
    "MIGRATE_OPS",
    "MIGRATE_TASKS",
    "ORIGINATOR",
    "XapiBackend",
]
