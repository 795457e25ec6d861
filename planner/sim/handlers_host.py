"""The simulator's host-state handlers (host.disable/enable, free memory, evacuation
and its assert) and what every handler shares: the call context `Ctx`, `Method`, and
`HandlerBase`'s helpers; planner.sim.handlers adds the migrations on top."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from planner.inventory.model import VM, Host
from planner.rules.cpu import cpu_reasons
from planner.rules.exclusions import exclusion_reasons
from planner.rules.memory import vm_memory
from planner.rules.network import networks_attached_reasons
from planner.rules.storage import sr_attached_reasons
from planner.rules.version import version_at_least
from planner.sim import migrate as mig
from planner.sim.state import MAX_PER_POOL, SimState
from planner.sim.wire import NULL_REF, XapiError, i


@dataclass
class Ctx:
    """What a handler knows about its call."""

    pool: str  # the session's pool
    session: str
    is_async: bool = False


Handler = Callable[..., Any]


@dataclass(frozen=True)
class Method:
    fn: Handler
    nmin: int  # parameters after the session
    nmax: int
    can_async: bool = True


class HandlerBase:
    """The helpers of the handlers over one `SimState`."""

    st: SimState

    # ---------------------------------------------------------------- helpers
    def _vm(self, ctx: Ctx, ref: Any) -> VM:
        st = self.st
        rec = st.db.lookup(ctx.pool, "VM", str(ref))
        if rec["is_a_template"] or rec["is_a_snapshot"]:
            raise XapiError("VM_IS_TEMPLATE", str(ref))
        if rec["is_control_domain"]:
            raise XapiError("OPERATION_NOT_ALLOWED", "the control domain cannot be migrated")
        return st.pool_view(ctx.pool).vm_by_uuid[rec["uuid"]]

    def _host(self, ctx: Ctx | None, ref: Any) -> Host:
        st = self.st
        rec = (
            st.db.lookup(ctx.pool, "host", str(ref))
            if ctx is not None
            else st.db.get(str(ref), "host")
        )
        return st.pool_view(st.db.pool_of(str(ref))).host_by_uuid[rec["uuid"]]

    def _failed_or_raise(self, ctx: Ctx, name: str, err: XapiError) -> str:
        """Async calls report a refusal in a failed task, as XAPI does; sync calls raise."""
        if not ctx.is_async:
            raise err
        task = self.st.new_task(ctx.pool, name)
        self.st.finish_task(task, error=err)
        return task

    def _finish(self, ctx: Ctx, task: str, value: Any) -> Any:
        if ctx.is_async:
            return task
        mig.wait(self.st, task)
        return value


class HostHandlers(HandlerBase):
    """The handlers of host state (enable, disable, free memory, evacuation)."""

    def host_disable(self, ctx: Ctx, host_ref: Any) -> str:
        return self._set_enabled(ctx, host_ref, False)

    def host_enable(self, ctx: Ctx, host_ref: Any) -> str:
        return self._set_enabled(ctx, host_ref, True)

    def _set_enabled(self, ctx: Ctx, host_ref: Any, enabled: bool) -> str:
        st = self.st
        with st.lock:
            st.db.lookup(ctx.pool, "host", str(host_ref))
            st.update(str(host_ref), enabled=enabled)
            st.changed(ctx.pool)
        return ""

    def host_free_memory(self, ctx: Ctx, host_ref: Any) -> str:
        with self.st.lock:
            host = self._host(ctx, host_ref)
            return i(max(0, self.st.free_memory(host.uuid)))

    def _evacuation_plan(
        self, ctx: Ctx, host_ref: Any
    ) -> tuple[list[tuple[VM, Host]], dict[str, list[str]]]:
        """XAPI's evacuation plan: (VM, target) pairs, and errors per VM ref."""
        st = self.st
        src = self._host(ctx, host_ref)
        inv = st.pool_view(ctx.pool)
        targets = [
            h
            for h in inv.hosts_in_pool[src.pool]
            if h.uuid != src.uuid
            and h.enabled
            and st.live[h.uuid]
            and version_at_least(h.version, src.version)
        ]
        free = {h.uuid: st.free_memory(h.uuid) for h in targets}
        moves: list[tuple[VM, Host]] = []
        errors: dict[str, list[str]] = {}
        vms = sorted(inv.vms_on_host.get(src.uuid, []), key=lambda v: -v.memory_bytes)
        for vm in vms:
            vref = st.ref_of[vm.uuid]
            excl = exclusion_reasons(inv, vm, "live")
            if excl:
                errors[vref] = mig._exclusion_error(st, vm, excl[0]).description
                continue
            static_ok = []
            first_err: list[str] | None = None
            for h in targets:
                bad = cpu_reasons(vm, h)
                bad += [
                    r
                    for d in vm.disks
                    for r in sr_attached_reasons(inv.sr_by_uuid[d.sr], h, d.uuid)
                ]
                bad += networks_attached_reasons(inv, vm, [x.network for x in vm.vifs], h)
                if bad:
                    first_err = first_err or [
                        "VM_INCOMPATIBLE_WITH_THIS_HOST",
                        vref,
                        st.ref_of[h.uuid],
                        bad[0].message,
                    ]
                else:
                    static_ok.append(h)
            need = vm_memory(vm, False)
            fit = next((h for h in static_ok if free[h.uuid] >= need), None)
            if fit is not None:
                free[fit.uuid] -= need
                moves.append((vm, fit))
            elif static_ok:
                errors[vref] = ["HOST_NOT_ENOUGH_FREE_MEMORY", vref]
            else:
                errors[vref] = first_err or ["NO_HOSTS_AVAILABLE"]
        return moves, errors

    def host_prevent_evacuation(self, ctx: Ctx, host_ref: Any) -> dict[str, list[str]]:
        with self.st.lock:
            return self._evacuation_plan(ctx, host_ref)[1]

    def host_evacuate(
        self, ctx: Ctx, host_ref: Any, network: Any = NULL_REF, batch_size: Any = "0"
    ) -> str:
        """Plan, then migrate the VMs in batches of at most three; the first error wins."""
        st = self.st
        with st.lock:
            moves, errors = self._evacuation_plan(ctx, host_ref)
            if errors:
                raise XapiError(*next(iter(errors.values())))
        size = min(MAX_PER_POOL, int(batch_size or 0) or MAX_PER_POOL)
        for start in range(0, len(moves), size):
            tasks = []
            failure: XapiError | None = None
            with st.lock:
                for vm, host in moves[start : start + size]:
                    vm = st.pool_view(ctx.pool).vm_by_uuid[vm.uuid]
                    try:
                        mem = mig.check_migration(
                            st, vm, "live", host, vm.pool, {}, [x.network for x in vm.vifs]
                        )
                    except XapiError as e:
                        mig.refuse(st, vm, "live", host.uuid, vm.pool, e)
                        failure = failure or e
                        continue
                    m = mig.begin(
                        st,
                        ctx.pool,
                        vm,
                        "live",
                        host,
                        vm.pool,
                        {},
                        {},
                        mem,
                        "Async.VM.pool_migrate",
                        "",
                    )
                    tasks.append(m.task)
            for t in tasks:
                try:
                    mig.wait(st, t)
                except XapiError as e:
                    failure = failure or e
            if failure is not None:
                raise failure
        return ""
