"""XenAPI methods of the simulator: dispatch, arities, sessions and every call it serves.

`Api.call(url_host, method, params)` returns the value of a call or raises `XapiError`;
the server wraps either in XAPI's envelope. Method names are `<Class>.<message>` (the
class part is case-insensitive, as in XAPI); `Async.<Class>.<message>` returns a task.
Parameter counts include the session, as XAPI counts them; calls with older arities
(trailing parameters left out) are accepted and filled with their defaults.
"""

from __future__ import annotations

import threading
import time
import xmlrpc.client
from typing import Any
from xml.sax.saxutils import escape

from planner.sim import events as ev
from planner.sim.db import CANONICAL
from planner.sim.handlers import Ctx, Handler, Handlers, Method
from planner.sim.state import SimState
from planner.sim.wire import XapiError

API_VERSION = ("2", "21")

__all__ = ["API_VERSION", "Api", "Ctx", "Handler", "Method", "result_fragment"]


def result_fragment(value: Any) -> str:
    """A task's `result`: the XML-RPC `<value>` of the return value ("" for void)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return f"<value>{escape(value)}</value>"
    body = xmlrpc.client.dumps((value,), allow_none=True)
    start, stop = body.index("<value>"), body.rindex("</value>") + len("</value>")
    return body[start:stop]


class Api(Handlers):
    """The simulator's XenAPI: dispatch by method name to a handler (the migration
    handlers are in `planner.sim.handlers`, the host ones in `planner.sim.handlers_host`)."""

    def __init__(self, st: SimState) -> None:
        self.st = st
        self.methods: dict[str, Method] = {
            "VM.pool_migrate": Method(self.vm_pool_migrate, 3, 3),
            "VM.migrate_send": Method(self.vm_migrate_send, 6, 8),
            "VM.assert_can_migrate": Method(self.vm_assert_can_migrate, 6, 7),
            "VM.assert_can_boot_here": Method(self.vm_assert_can_boot_here, 2, 2),
            "VDI.pool_migrate": Method(self.vdi_pool_migrate, 3, 3),
            "host.migrate_receive": Method(self.host_migrate_receive, 3, 3),
            "VM.set_affinity": Method(self.vm_set_affinity, 2, 2, can_async=False),
            "host.evacuate": Method(self.host_evacuate, 1, 3),
            "host.get_vms_which_prevent_evacuation": Method(self.host_prevent_evacuation, 1, 1),
            "host.disable": Method(self.host_disable, 1, 1),
            "host.enable": Method(self.host_enable, 1, 1),
            "host.compute_free_memory": Method(self.host_free_memory, 1, 1),
            "task.cancel": Method(self.task_cancel, 1, 1, can_async=False),
            "task.destroy": Method(self.task_destroy, 1, 1, can_async=False),
            "event.from": Method(self.event_from, 3, 3, can_async=False),
            "session.logout": Method(self.session_logout, 0, 0, can_async=False),
            "session.get_this_host": Method(self.session_this_host, 1, 1, can_async=False),
        }

    # ---------------------------------------------------------------- dispatch
    def call(self, url_host: str | None, method: str, params: tuple[Any, ...]) -> Any:
        st = self.st
        delay = 0.0
        if st.faults.delays:
            with st.lock:  # counted delays are shared by all request threads
                delay = st.faults.delay_for(method)
        if delay:
            time.sleep(delay)
        if method in ("session.login_with_password", "session.login"):
            if not 2 <= len(params) <= 4:
                raise XapiError("MESSAGE_PARAMETER_COUNT_MISMATCH", method, "4", str(len(params)))
            with st.lock:
                return st.login(url_host or self.default_host(), str(params[0]), str(params[1]))
        if method == "debug.audit":
            with st.lock:
                return [dict(e) for e in st.audit_log]
        if method == "debug.upgrade_host":
            # test hook (not XAPI): an operator's upgrade; params host uuid, version[, after]
            if len(params) not in (2, 3) or str(params[0]) not in st.live:
                raise XapiError("MESSAGE_PARAMETER_COUNT_MISMATCH", method, "3", str(len(params)))
            with st.lock:
                st.upgrade_host_later(
                    str(params[0]), str(params[1]), float(params[2]) if len(params) == 3 else 0.0
                )
            return ""
        is_async = method.startswith("Async.")
        name = method[len("Async.") :] if is_async else method
        cls, _, msg = name.partition(".")
        cls = CANONICAL.get(cls.lower(), cls) if cls.lower() != "event" else "event"
        if cls.lower() == "session":
            cls = "session"
        key = f"{cls}.{msg}"
        spec = self.methods.get(key)
        if spec is None:
            spec = self.generic(cls, msg)
        if spec is None or (is_async and not spec.can_async):
            raise XapiError("MESSAGE_METHOD_UNKNOWN", method)
        nargs = len(params) - 1
        if not spec.nmin <= nargs <= spec.nmax:
            raise XapiError(
                "MESSAGE_PARAMETER_COUNT_MISMATCH", method, str(spec.nmax + 1), str(len(params))
            )
        session = params[0]
        with st.lock:
            pool = st.session_pool(session)
        ctx = Ctx(pool, str(session), is_async)
        if is_async and key not in ("VM.pool_migrate", "VM.migrate_send", "VDI.pool_migrate"):
            return self.run_async(ctx, key, spec, params[1:])
        return spec.fn(ctx, *params[1:])

    def default_host(self) -> str:
        """`/` and `/RPC2` reach the first pool's master."""
        st = self.st
        return st.db.get(st.db.get(st.ref_of[st.pool_order[0]])["master"])["uuid"]

    def run_async(self, ctx: Ctx, key: str, spec: Method, args: tuple[Any, ...]) -> str:
        st = self.st
        with st.lock:
            task = st.new_task(ctx.pool, f"Async.{key}")
        sync = Ctx(ctx.pool, ctx.session, False)

        def work() -> None:
            try:
                value = spec.fn(sync, *args)
            except XapiError as e:
                with st.lock:
                    st.finish_task(task, error=e)
            except Exception as e:  # a simulator bug must still end the task
                with st.lock:
                    st.finish_task(task, error=XapiError("INTERNAL_ERROR", repr(e)))
            else:
                with st.lock:
                    st.finish_task(task, result_fragment(value))

        threading.Thread(target=work, name=f"sim-{key}", daemon=True).start()
        return task

    # ---------------------------------------------------------------- generic getters
    def generic(self, cls: str, msg: str) -> Method | None:
        if cls not in CANONICAL.values():
            return None
        st = self.st

        def get_all_records(ctx: Ctx) -> dict[str, Any]:
            with st.lock:
                table = st.db.table(ctx.pool, cls)
                if cls == "task":
                    for ref in table:
                        st.task_progress(ref)
                return dict(table)

        def get_all(ctx: Ctx) -> list[str]:
            with st.lock:
                return list(st.db.table(ctx.pool, cls))

        def get_record(ctx: Ctx, ref: Any) -> dict[str, Any]:
            with st.lock:
                if cls == "task":
                    st.task_progress(str(ref))
                return st.db.lookup(ctx.pool, cls, str(ref))

        def get_by_uuid(ctx: Ctx, uuid: Any) -> str:
            with st.lock:
                ref = st.db.by_uuid[cls].get(str(uuid))
                if ref is None or st.db.where[ref] != (ctx.pool, cls):
                    raise XapiError("UUID_INVALID", cls, str(uuid))
                return ref

        def get_by_name_label(ctx: Ctx, label: Any) -> list[str]:
            with st.lock:
                return [
                    r
                    for r, rec in st.db.table(ctx.pool, cls).items()
                    if rec.get("name_label") == label
                ]

        fixed = {
            "get_all_records": Method(get_all_records, 0, 0, False),
            "get_all": Method(get_all, 0, 0, False),
            "get_record": Method(get_record, 1, 1, False),
            "get_by_uuid": Method(get_by_uuid, 1, 1, False),
            "get_by_name_label": Method(get_by_name_label, 1, 1, False),
        }
        if msg in fixed:
            return fixed[msg]
        if msg in ("add_to_other_config", "remove_from_other_config") and cls in ("VM", "task"):
            return self._other_config(cls, msg == "add_to_other_config")
        if msg.startswith("get_"):
            fname = msg[4:]

            def get_field(ctx: Ctx, ref: Any) -> Any:
                with st.lock:
                    if cls == "task":
                        st.task_progress(str(ref))
                    rec = st.db.lookup(ctx.pool, cls, str(ref))
                    if fname not in rec:
                        raise XapiError("MESSAGE_METHOD_UNKNOWN", f"{cls}.{msg}")
                    return rec[fname]

            return Method(get_field, 1, 1, False)
        return None

    def _other_config(self, cls: str, add: bool) -> Method:
        """`<cls>.add_to_other_config(ref, key, value)` (MAP_DUPLICATE_KEY when the key
        is there, as XAPI) and `remove_from_other_config(ref, key)` (no error when it is
        not) for VMs and tasks: the executor's client-side markers."""
        st = self.st

        def change(ctx: Ctx, ref: Any, key: Any, value: Any = None) -> str:
            with st.lock:
                rec = st.db.lookup(ctx.pool, cls, str(ref))
                oc = dict(rec.get("other_config") or {})
                if add:
                    if str(key) in oc:
                        raise XapiError(
                            "MAP_DUPLICATE_KEY", cls, "other_config", str(ref), str(key)
                        )
                    oc[str(key)] = str(value)
                else:
                    oc.pop(str(key), None)
                st.update(str(ref), other_config=oc)
            return ""

        return Method(change, 3 if add else 2, 3 if add else 2, False)

    # ---------------------------------------------------------------- tasks, events, session
    def task_cancel(self, ctx: Ctx, task: Any) -> str:
        st = self.st
        with st.lock:
            rec = st.db.lookup(ctx.pool, "task", str(task))
            info = st.tasks.get(str(task))
            if rec["status"] != "pending" or info is None or info.cancel is None:
                raise XapiError("OPERATION_NOT_ALLOWED", "the task cannot be cancelled now")
            info.cancel()
        return ""

    def task_destroy(self, ctx: Ctx, task: Any) -> str:
        st = self.st
        with st.lock:
            rec = st.db.lookup(ctx.pool, "task", str(task))
            if rec["status"] == "pending":
                raise XapiError("OPERATION_NOT_ALLOWED", "the task is still pending")
            st.emit("del", str(task))
            st.db.remove(str(task))
            st.tasks.pop(str(task), None)
        return ""

    def event_from(self, ctx: Ctx, classes: Any, token: Any, timeout: Any) -> dict[str, Any]:
        st = self.st
        subs = ev.parse_classes(classes)
        after = ev.parse_token(token)
        try:
            wait_s = max(0.0, float(timeout))
        except (TypeError, ValueError):
            raise XapiError("INTERNAL_ERROR", f"timeout: not a number: {timeout!r}") from None
        with st.cond:
            if after is None:
                out = []
                now = time.time()
                for cls, table in st.db.tables[ctx.pool].items():
                    for ref, rec in table.items():
                        if ev.matches(subs, cls, ref):
                            out.append(
                                {
                                    "id": "0",
                                    "timestamp": f"{now:.6f}",
                                    "class": cls.lower(),
                                    "operation": "add",
                                    "ref": ref,
                                    "snapshot": rec,
                                }
                            )
                return {"events": out, "valid_ref_counts": {}, "token": str(st.events.last_id)}
            deadline = time.monotonic() + wait_s
            while True:
                found = st.events.since(ctx.pool, subs, after)
                left = deadline - time.monotonic()
                if found or left <= 0:
                    break
                st.cond.wait(left)
            return {
                "events": [ev.to_wire(e) for e in found],
                "valid_ref_counts": {},
                "token": str(st.events.last_id),
            }

    def session_logout(self, ctx: Ctx) -> str:
        with self.st.lock:
            self.st.sessions.pop(ctx.session, None)
        return ""

    def session_this_host(self, ctx: Ctx, session: Any) -> str:
        with self.st.lock:
            return str(self.st.db.get(self.st.ref_of[ctx.pool])["master"])
