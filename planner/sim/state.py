"""The simulator's mutable state: the XAPI database, sessions, tasks, events, capacity
bookkeeping (memory reserved on target hosts, space reserved on SRs), the audit log and
a clock that runs scheduled work (migration ends, faults) on a background thread.

One re-entrant lock guards everything; callbacks of the clock run under it. Records are
changed copy-on-write (a changed list or map is replaced, never edited in place, and no
key is added or removed after creation) so a record handed to the XML-RPC marshaller
outside the lock is never seen half-changed.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.inventory.convert import PoolDoc, assemble, convert_pool
from planner.inventory.model import Inventory
from planner.options import MAX_PER_POOL as MAX_PER_POOL  # one definition, also the sim's
from planner.rules.memory import host_capacity, vm_memory
from planner.sim import objects
from planner.sim.db import Db, Record
from planner.sim.events import EventLog
from planner.sim.faults import Faults
from planner.sim.migrate import fail_migrations_on_host
from planner.sim.wire import NULL_REF, RefMaker, XapiError, i, xapi_datetime

KINDS = ("pools", "hosts", "srs", "networks", "vms", "vm_groups")


class Clock:
    """Runs callbacks at wall-clock deadlines on one daemon thread (under the state lock)."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._cv = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._stopped = False
        self._cancelled: set[int] = set()
        self._thread = threading.Thread(target=self._run, name="sim-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def schedule(self, delay: float, fn: Callable[[], None]) -> int:
        with self._cv:
            n = next(self._seq)
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), n, fn))
            self._cv.notify_all()
            return n

    def cancel(self, handle: int) -> None:
        with self._cv:
            self._cancelled.add(handle)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cv.wait(timeout)
                if self._stopped:
                    return
                _, n, fn = heapq.heappop(self._heap)
                if n in self._cancelled:
                    self._cancelled.discard(n)
                    continue
            with self._lock:
                fn()


@dataclass
class SessionInfo:
    pool: str
    user: str
    created: float  # monotonic seconds


@dataclass
class TaskInfo:
    """Live fields of a pending task: progress is computed from the wall clock."""

    started: float  # monotonic
    duration: float  # wall seconds; 0: unknown
    stalled: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    cancel: Callable[[], None] | None = None


class SimState:
    def __init__(
        self,
        inv: Inventory,
        *,
        speed: float,
        fail_rate: float,
        seed: int,
        faults: Faults,
        user: str,
        password: str,
        audit_path: str | Path | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.inv0 = inv
        self.pool_order = [p.uuid for p in inv.pools]
        self.db: Db
        self.db, self.ref_of = objects.build(inv, seed)
        self.refs = RefMaker(seed + 7919)
        self.speed = speed
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.faults = faults
        self.user, self.password = user, password
        self.t0 = time.monotonic()
        self.clock = Clock(self.lock)
        self.sessions: dict[str, SessionInfo] = {}
        self.logins = 0
        self.events = EventLog()
        self.tasks: dict[str, TaskInfo] = {}
        self.incoming: dict[str, int] = {}  # host uuid -> memory bytes reserved by arrivals
        self.sr_reserved: dict[str, int] = {}  # sr uuid -> bytes reserved by copies
        self.in_flight: dict[str, Any] = {}  # task ref -> migrate.Migration
        self.busy: dict[str, str] = {}  # vm uuid -> task ref
        self.max_conc: dict[str, int] = {p: 0 for p in self.pool_order}
        self.audit_log: list[dict[str, Any]] = []
        # (v2) migrations that put two members of an anti-affinity group on one host:
        # XAPI accepts them (it only raises a breach alert), so the simulator records them
        self.affinity_warnings: list[str] = []
        self.audit_path = Path(audit_path) if audit_path else None
        self.live: dict[str, bool] = {h.uuid: True for h in inv.hosts}
        self.base = "127.0.0.1"
        self._docs: dict[str, PoolDoc] = {}
        self._views: dict[frozenset[str], Inventory] = {}
        self.rank = {k: {o.uuid: n for n, o in enumerate(getattr(inv, k))} for k in KINDS}
        self.refresh_memory_free(list(self.live))

    # ---------------------------------------------------------------- time
    def sim_now(self) -> float:
        """Simulated seconds since start (wall seconds x speed)."""
        return (time.monotonic() - self.t0) * self.speed

    def start(self, base: str) -> None:
        self.base = base
        self.t0 = time.monotonic()
        for h in self.inv0.hosts:
            self.db.get(self.ref_of[h.uuid])["address"] = objects.host_address(base, h.uuid)
        for host, at in self.faults.offline:
            self.clock.schedule(at / self.speed, functools.partial(self.set_live, host, False))
        for at in self.faults.expire_at:
            self.clock.schedule(at / self.speed, self.expire_sessions)
        self.clock.start()

    # ---------------------------------------------------------------- inventory view
    def _doc(self, pool: str) -> PoolDoc:
        doc = self._docs.get(pool)
        if doc is None:
            doc = self._docs[pool] = convert_pool(self.db.tables[pool])
        return doc

    def view(self, pools: Iterable[str]) -> Inventory:
        """The live state of some pools as an Inventory (cached until they change).

        Checks need one or two pools; converting only those keeps a 40,000-VM simulator
        quick after every migration.
        """
        key = frozenset(pools)
        inv = self._views.get(key)
        if inv is None:
            order = [p for p in self.pool_order if p in key]
            parts = [self._doc(p) for p in order]
            doc: dict[str, list[Any]] = {k: [] for k in KINDS}
            for k in KINDS:
                # objects keep the order of the served inventory, so that an untouched
                # simulator gives back exactly the document it was given
                rank = self.rank[k]
                doc[k] = sorted(
                    (x for part in parts for x in getattr(part, k)),
                    key=lambda x: rank.get(x["uuid"], len(rank)),
                )
            merged = PoolDoc(**doc)
            inv = assemble(
                [merged], source=self.inv0.source, taken_at=self.inv0.taken_at, validate=False
            )
            if len(self._views) > 64:
                self._views.clear()
            self._views[key] = inv
        return inv

    def inventory(self) -> Inventory:
        """The live state of every pool in inventory form."""
        with self.lock:
            return self.view(self.pool_order)

    def pool_view(self, *pools: str) -> Inventory:
        return self.view(pools)

    def changed(self, *pools: str) -> None:
        """Forget cached views of `pools` (all when none is named)."""
        for p in pools or list(self._docs):
            self._docs.pop(p, None)
        self._views.clear()

    def free_memory(self, host_uuid: str) -> int:
        """Bytes guests may still commit on a host: capacity - residents - arrivals."""
        inv = self.view([self.inv0.host_by_uuid[host_uuid].pool])
        host = inv.host_by_uuid[host_uuid]
        used = sum(vm_memory(v, False) for v in inv.vms_on_host.get(host_uuid, []))
        return host_capacity(host, 0.0) - used - self.incoming.get(host_uuid, 0)

    def free_space(self, sr_uuid: str) -> int:
        sr = self.view([self.db.pool_of(self.ref_of[sr_uuid])]).sr_by_uuid[sr_uuid]
        return sr.size_bytes - sr.used_bytes - self.sr_reserved.get(sr_uuid, 0)

    def refresh_memory_free(self, host_uuids: list[str]) -> None:
        for hu in host_uuids:
            host = self.db.get(self.ref_of[hu])
            m = self.db.get(host["metrics"])
            m["memory_free"] = i(max(0, self.free_memory(hu)))

    # ---------------------------------------------------------------- events
    def emit(self, op: str, ref: str) -> None:
        pool, cls = self.db.where[ref]
        self.events.emit(pool, cls, op, ref, self.db.tables[pool][cls][ref])
        self.cond.notify_all()

    def update(self, ref: str, **fields: Any) -> None:
        """Replace fields of a record (copy-on-write) and emit a `mod` event."""
        rec = self.db.get(ref)
        for k, v in fields.items():
            if k not in rec:
                raise KeyError(f"{k} is not a field of {ref}")
            rec[k] = v
        self.emit("mod", ref)

    # ---------------------------------------------------------------- sessions
    def is_master(self, host_uuid: str) -> bool:
        host = self.inv0.host_by_uuid[host_uuid]
        pool = self.db.get(self.ref_of[host.pool])
        return pool["master"] == self.ref_of[host_uuid]

    def master_address(self, pool_uuid: str) -> str:
        pool = self.db.get(self.ref_of[pool_uuid])
        return str(self.db.get(pool["master"])["address"])

    def login(self, host_uuid: str, user: str, password: str) -> str:
        host = self.inv0.host_by_uuid[host_uuid]
        if not self.is_master(host_uuid):
            raise XapiError("HOST_IS_SLAVE", self.master_address(host.pool))
        if user != self.user or password != self.password:
            raise XapiError("SESSION_AUTHENTICATION_FAILED", user, "Authentication failure")
        # session refs are the only secret a client holds: never derived from the seed
        ref = f"OpaqueRef:{uuid.UUID(bytes=secrets.token_bytes(16), version=4)}"
        self.sessions[ref] = SessionInfo(host.pool, user, time.monotonic())
        self.logins += 1
        return ref

    def session_pool(self, ref: Any) -> str:
        s = self.sessions.get(ref) if isinstance(ref, str) else None
        if (
            s is not None
            and self.faults.session_ttl is not None
            and (time.monotonic() - s.created > self.faults.session_ttl)
        ):
            del self.sessions[ref]
            s = None
        if s is None:
            raise XapiError("SESSION_INVALID", str(ref))
        return s.pool

    def expire_sessions(self) -> None:
        self.sessions.clear()

    # ---------------------------------------------------------------- hosts
    def set_live(self, host_uuid: str, live: bool) -> None:
        self.live[host_uuid] = live
        host = self.db.get(self.ref_of[host_uuid])
        self.update(host["metrics"], live=live, last_updated=xapi_datetime())
        if not live:
            fail_migrations_on_host(self, host_uuid)

    def upgrade_host(self, host_uuid: str, version: str) -> None:
        """Debug (not XAPI): the host now runs `version`. Its `software_version` changes
        (product and platform version), so the collector's view and the simulator's
        VERSION rule see the new version at once. Caller holds the lock."""
        ref = self.ref_of[host_uuid]
        sv = dict(self.db.get(ref)["software_version"])
        sv.update(
            product_version=version,
            product_version_text=version,
            product_version_text_short=version,
            platform_version=objects.platform_version(version),
        )
        self.update(ref, software_version=sv)
        self.changed(self.db.pool_of(ref))

    def upgrade_host_later(self, host_uuid: str, version: str, after_seconds: float) -> None:
        """`upgrade_host` now (after_seconds <= 0), or a reboot: not live from now until
        the new version comes up `after_seconds` wall seconds later. Caller holds the lock."""
        if after_seconds <= 0:
            self.upgrade_host(host_uuid, version)
            return

        def back() -> None:
            self.upgrade_host(host_uuid, version)
            self.set_live(host_uuid, True)

        self.set_live(host_uuid, False)
        self.clock.schedule(after_seconds, back)

    # ---------------------------------------------------------------- tasks
    def new_task(self, pool: str, name: str, duration: float = 0.0) -> str:
        ref = self.refs.ref()
        rec: Record = {
            "name_label": name,
            "name_description": "",
            "allowed_operations": ["cancel"],
            "current_operations": {},
            "created": xapi_datetime(),
            "finished": xapi_datetime(0),
            "status": "pending",
            "resident_on": self.db.get(self.ref_of[pool])["master"],
            "progress": 0.0,
            "type": "<none/>",
            "result": "",
            "error_info": [],
            "other_config": {},
            "subtask_of": NULL_REF,
            "subtasks": [],
            "backtrace": "()",
        }
        rec["uuid"] = self.refs.uuid()
        self.db.add(pool, "task", ref, rec)
        self.tasks[ref] = TaskInfo(time.monotonic(), duration)
        self.emit("add", ref)
        return ref

    def task_progress(self, ref: str) -> None:
        """Bring a pending task's `progress` up to date before it is read."""
        info = self.tasks.get(ref)
        rec = self.db.maybe(ref)
        if info is None or rec is None or rec["status"] != "pending":
            return
        if info.stalled:
            rec["progress"] = 0.5
        elif info.duration > 0:
            rec["progress"] = round(min(0.99, (time.monotonic() - info.started) / info.duration), 3)

    def finish_task(self, ref: str, result: str = "", error: XapiError | None = None) -> None:
        rec = self.db.maybe(ref)
        if rec is None or rec["status"] != "pending":
            return
        if error is None:
            fields = {"status": "success", "progress": 1.0, "result": result}
        elif error.code == "TASK_CANCELLED":
            fields = {"status": "cancelled", "error_info": error.description}
        else:
            fields = {"status": "failure", "error_info": error.description}
        self.update(ref, finished=xapi_datetime(), allowed_operations=[], **fields)
        info = self.tasks.get(ref)
        if info is not None:
            info.done.set()

    # ---------------------------------------------------------------- audit
    def audit_start(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.audit_log.append(entry)
        return entry

    def audit_end(self, entry: dict[str, Any], result: str) -> None:
        entry["end"] = round(self.sim_now(), 3)
        entry["result"] = result
        self._write_audit(entry)

    def audit_refused(self, entry: dict[str, Any]) -> None:
        self.audit_log.append(entry)
        self._write_audit(entry)

    def _write_audit(self, entry: dict[str, Any]) -> None:
        if self.audit_path is not None:
            with self.audit_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")
