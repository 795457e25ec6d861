"""The simulator's XenAPI handlers that change the world: migrations (VM.pool_migrate,
VM.migrate_send, VDI.pool_migrate and their asserts), host.migrate_receive, affinity,
and host enable/disable/evacuate; `planner.sim.api.Api` dispatches to them."""

from __future__ import annotations

from typing import Any

from planner.inventory.model import VM, Host
from planner.rules.cpu import cpu_reasons
from planner.rules.memory import vm_memory
from planner.rules.network import networks_attached_reasons
from planner.rules.storage import sr_attached_reasons
from planner.sim import migrate as mig
from planner.sim.handlers_host import Ctx as Ctx
from planner.sim.handlers_host import Handler as Handler
from planner.sim.handlers_host import HostHandlers
from planner.sim.handlers_host import Method as Method
from planner.sim.wire import NULL_REF, XapiError, i


class Handlers(HostHandlers):
    """The handlers of the calls that migrate, and of host state, over one `SimState`."""

    # ---------------------------------------------------------------- migrations
    def vm_pool_migrate(self, ctx: Ctx, vm_ref: Any, host_ref: Any, options: Any) -> Any:
        st = self.st
        name = "Async.VM.pool_migrate"
        with st.lock:
            vm = self._vm(ctx, vm_ref)
            host = self._host(ctx, host_ref)
            force = str((options or {}).get("force", "")).lower() == "true"
            try:
                if vm.power_state != "Running":  # Paused too (xapi_vm_lifecycle.ml)
                    raise mig.bad_power_state(st, vm, mig.POOL_MIGRATE_STATES)
                mem = mig.check_migration(
                    st,
                    vm,
                    "live",
                    host,
                    vm.pool,
                    {},
                    [x.network for x in vm.vifs],
                    force=force,
                    version_code="NOT_SUPPORTED_DURING_UPGRADE",
                )
            except XapiError as e:
                mig.refuse(st, vm, "live", host.uuid, vm.pool, e)
                return self._failed_or_raise(ctx, name, e)
            m = mig.begin(st, ctx.pool, vm, "live", host, vm.pool, {}, {}, mem, name, "")
        return self._finish(ctx, m.task, "")

    def _send_args(
        self, ctx: Ctx, vm: VM, dest: Any, vdi_map: Any, vif_map: Any
    ) -> tuple[Host, str, dict[str, str], dict[str, str], list[str]]:
        """Resolve migrate_send's dest token and maps to (host, pool, disks, vifs, nets)."""
        st = self.st
        if not isinstance(dest, dict) or "host" not in dest:
            raise XapiError("INTERNAL_ERROR", "dest: expected the map host.migrate_receive returns")
        host = self._host(None, dest["host"])
        to_pool = host.pool
        vdi_map = vdi_map if isinstance(vdi_map, dict) else {}
        vif_map = vif_map if isinstance(vif_map, dict) else {}
        disk_to_sr: dict[str, str] = {}
        for d in vm.disks:
            vdi_ref = st.ref_of[d.uuid]
            sr_ref = vdi_map.get(vdi_ref)
            if sr_ref is None:
                if to_pool != vm.pool:
                    raise XapiError("VDI_NOT_IN_MAP", vdi_ref)
                continue
            disk_to_sr[d.uuid] = st.db.get(str(sr_ref), "SR")["uuid"]
        sv = vm.suspend_vdi
        if sv is not None and vm.power_state == "Suspended":
            # xapi_vm_migrate.ml: the suspend image stays when the VM stays in its pool on
            # a host that sees its SR; else it goes where vdi_map says, else to the
            # destination pool's suspend-image SR or default SR (none: VDI_NOT_IN_MAP)
            vdi_ref = st.ref_of[sv.uuid]
            sr_ref = vdi_map.get(vdi_ref)
            sees = host.uuid in st.pool_view(vm.pool).sr_by_uuid[sv.sr].hosts
            if sr_ref is not None:
                disk_to_sr[sv.uuid] = st.db.get(str(sr_ref), "SR")["uuid"]
            elif to_pool != vm.pool or not sees:
                pool_rec = st.db.get(st.ref_of[to_pool])
                default = pool_rec.get("suspend_image_SR") or NULL_REF
                if default == NULL_REF:
                    default = pool_rec.get("default_SR") or NULL_REF
                if default == NULL_REF:
                    raise XapiError("VDI_NOT_IN_MAP", vdi_ref)
                disk_to_sr[sv.uuid] = st.db.get(default, "SR")["uuid"]
        vm_rec = st.db.get(st.ref_of[vm.uuid])
        nets: list[str] = []
        vif_to_net: dict[str, str] = {}
        for vif_ref in vm_rec["VIFs"]:
            own = st.db.get(vif_ref)["network"]
            target = vif_map.get(vif_ref)
            if to_pool != vm.pool:
                if target is None:
                    raise XapiError("VIF_NOT_IN_MAP", vif_ref)
                net = st.db.get(str(target), "network")
                vif_to_net[vif_ref] = str(target)
                nets.append(net["uuid"])
            else:
                if target is not None and target != own:
                    raise XapiError(
                        "OPERATION_NOT_ALLOWED",
                        "vif_map must be empty for a migration within a pool",
                    )
                nets.append(st.db.get(own)["uuid"])
        return host, to_pool, disk_to_sr, vif_to_net, nets

    def _check_send(
        self, ctx: Ctx, vm_ref: Any, dest: Any, vdi_map: Any, vif_map: Any, audit: bool = True
    ) -> tuple[VM, str, Host, str, dict[str, str], dict[str, str], int]:
        st = self.st
        vm = self._vm(ctx, vm_ref)
        kind = "move" if vm.power_state == "Halted" else "storage"
        try:
            if vm.power_state == "Paused":  # xapi_vm_lifecycle.ml: Halted/Suspended/Running
                raise mig.bad_power_state(st, vm, mig.SEND_STATES)
            host, to_pool, disks, vifs, nets = self._send_args(ctx, vm, dest, vdi_map, vif_map)
        except XapiError as e:
            if audit:
                mig.refuse(st, vm, kind, None, vm.pool, e)
            raise
        try:
            mem = mig.check_migration(
                st, vm, kind, host, to_pool, disks, nets, check_concurrency=audit
            )
        except XapiError as e:
            if audit:
                mig.refuse(st, vm, kind, host.uuid if vm.is_running else None, to_pool, e)
            raise
        return vm, kind, host, to_pool, disks, vifs, mem

    def vm_migrate_send(
        self,
        ctx: Ctx,
        vm_ref: Any,
        dest: Any,
        live: Any,
        vdi_map: Any,
        vif_map: Any,
        options: Any,
        vgpu_map: Any = None,
        vdi_format_map: Any = None,
    ) -> Any:
        st = self.st
        name = "Async.VM.migrate_send"
        with st.lock:
            try:
                vm, kind, host, to_pool, disks, vifs, mem = self._check_send(
                    ctx, vm_ref, dest, vdi_map, vif_map
                )
            except XapiError as e:
                return self._failed_or_raise(ctx, name, e)
            vref = st.ref_of[vm.uuid]
            m = mig.begin(
                st,
                ctx.pool,
                vm,
                kind,
                host,
                to_pool,
                disks,
                vifs,
                mem,
                name,
                f"<value>{vref}</value>",
            )
            m.entry["network"] = self._stream_network(dest)  # the audit names it
        return self._finish(ctx, m.task, vref)

    def vm_assert_can_migrate(
        self,
        ctx: Ctx,
        vm_ref: Any,
        dest: Any,
        live: Any,
        vdi_map: Any,
        vif_map: Any,
        options: Any,
        vgpu_map: Any = None,
    ) -> str:
        with self.st.lock:
            self._check_send(ctx, vm_ref, dest, vdi_map, vif_map, audit=False)
        return ""

    def vdi_pool_migrate(self, ctx: Ctx, vdi_ref: Any, sr_ref: Any, options: Any) -> Any:
        st = self.st
        name = "Async.VDI.pool_migrate"
        with st.lock:
            vdi = st.db.lookup(ctx.pool, "VDI", str(vdi_ref))
            sr = st.db.lookup(ctx.pool, "SR", str(sr_ref))
            inv = st.pool_view(ctx.pool)
            hit = inv.disk_by_uuid.get(vdi["uuid"])
            if hit is None or not hit[0].is_running:
                err = XapiError("VDI_NEEDS_VM_FOR_MIGRATE", str(vdi_ref))
                return self._failed_or_raise(ctx, name, err)
            vm, disk = hit
            host = inv.host_by_uuid[vm.host] if vm.host else None
            try:
                if disk.cbt:
                    raise XapiError("VDI_CBT_ENABLED", str(vdi_ref))
                mem = mig.check_migration(
                    st,
                    vm,
                    "storage",
                    host,
                    vm.pool,
                    {disk.uuid: sr["uuid"]},
                    [x.network for x in vm.vifs],
                )
            except XapiError as e:
                mig.refuse(st, vm, "storage", vm.host, vm.pool, e)
                return self._failed_or_raise(ctx, name, e)
            m = mig.begin(
                st,
                ctx.pool,
                vm,
                "storage",
                host,
                vm.pool,
                {disk.uuid: sr["uuid"]},
                {},
                mem,
                name,
                f"<value>{vdi_ref}</value>",
            )
        return self._finish(ctx, m.task, str(vdi_ref))

    def vm_assert_can_boot_here(self, ctx: Ctx, vm_ref: Any, host_ref: Any) -> str:
        st = self.st
        with st.lock:
            vm = self._vm(ctx, vm_ref)
            host = self._host(ctx, host_ref)
            inv = st.pool_view(ctx.pool)
            vref, href = st.ref_of[vm.uuid], st.ref_of[host.uuid]
            if not st.live[host.uuid]:
                raise XapiError("HOST_NOT_LIVE")
            if not host.enabled and vm.host != host.uuid:
                raise XapiError("HOST_DISABLED", href)
            if vm.power_state != "Halted":
                for r in cpu_reasons(vm, host):
                    raise XapiError("VM_INCOMPATIBLE_WITH_THIS_HOST", vref, href, r.message)
            for d in vm.disks:
                if sr_attached_reasons(inv.sr_by_uuid[d.sr], host, d.uuid):
                    raise XapiError("VM_REQUIRES_SR", vref, st.ref_of[d.sr])
            nets = [x.network for x in vm.vifs]
            if networks_attached_reasons(inv, vm, nets, host):
                missing = next(n for n in nets if host.uuid not in inv.network_by_uuid[n].hosts)
                raise XapiError("VM_REQUIRES_NETWORK", vref, st.ref_of[missing])
            if vm.host != host.uuid:
                need, free = vm_memory(vm, False), st.free_memory(host.uuid)
                if need > free:
                    raise XapiError("HOST_NOT_ENOUGH_FREE_MEMORY", i(need), i(max(0, free)))
        return ""

    def host_migrate_receive(self, ctx: Ctx, host_ref: Any, network: Any, options: Any) -> Any:
        st = self.st
        with st.lock:
            host = self._host(ctx, host_ref)
            master = f"http://{st.master_address(host.pool)}/"
            stream = master  # where the migration stream goes (XAPI: the PIF's address)
            if network != NULL_REF:
                # as xapi_host.ml migrate_receive: the host's PIF on `network` must have
                # an address (a NULL network is accepted: the stand-in for inventories
                # that name no management network, docs/simulator.md)
                st.db.lookup(ctx.pool, "network", str(network))
                stream = f"http://{self._stream_ip(str(host_ref), str(network))}/"
            if not st.live[host.uuid]:
                raise XapiError("HOST_OFFLINE", str(host_ref))
            return {
                "host": str(host_ref),
                "master": master,
                "session_id": ctx.session,
                "xenops": f"{stream}services/xenops?session_id={ctx.session}",
                "SM": f"{stream}services/SM?session_id={ctx.session}",
                "SM_url": f"{stream}services/SM",
            }

    def _stream_ip(self, host_ref: str, network: str) -> str:
        """The address of `host_ref`'s PIF on `network`, or XAPI's refusal."""
        db = self.st.db
        pif_ref = next((p for p in db.get(network)["PIFs"] if db.get(p)["host"] == host_ref), None)
        if pif_ref is None:
            raise XapiError("HOST_CANNOT_ATTACH_NETWORK", host_ref, network)
        pif = db.get(pif_ref)
        if not pif.get("IP"):
            if pif.get("ip_configuration_mode") == "None":
                raise XapiError("PIF_HAS_NO_NETWORK_CONFIGURATION", pif_ref)
            raise XapiError("INTERFACE_HAS_NO_IP", pif_ref)
        return str(pif["IP"])

    def _stream_network(self, dest: Any) -> str | None:
        """The network uuid a migrate_send's dest token streams to (None: the NULL
        network of migrate_receive), found from the address in its xenops URL."""
        url = str(dest.get("xenops", "")) if isinstance(dest, dict) else ""
        ip = url.split("://", 1)[-1].split("/", 1)[0]
        db = self.st.db
        for pool in self.st.pool_order:
            for rec in db.table(pool, "PIF").values():
                if rec.get("IP") and rec["IP"] == ip:
                    return str(db.get(rec["network"])["uuid"])
        return None

    def vm_set_affinity(self, ctx: Ctx, vm_ref: Any, host_ref: Any) -> str:
        """XAPI's setter of the RW field `VM.affinity`: a host ref of this pool, or NULL
        (any other ref is HANDLE_INVALID). Recorded in the audit (kind "affinity",
        result "set") beside the migrations."""
        st = self.st
        with st.lock:
            vm = self._vm(ctx, vm_ref)
            host = None
            if host_ref != NULL_REF:
                host = st.db.lookup(ctx.pool, "host", str(host_ref))["uuid"]
            st.update(str(vm_ref), affinity=str(host_ref))
            st.changed(ctx.pool)
            now = round(st.sim_now(), 3)
            st.audit_refused(
                {
                    "vm": vm.uuid,
                    "kind": "affinity",
                    "from_host": None,
                    "to_host": host,
                    "from_pool": ctx.pool,
                    "to_pool": ctx.pool,
                    "start": now,
                    "end": now,
                    "result": "set",
                    "task": None,
                    "network": None,
                }
            )
        return ""
