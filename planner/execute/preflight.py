"""Pre-flight: does the plan still fit the pools as they are now?

Before anything starts (and again on every resume) the executor collects the live
inventory and compares it with what the plan expects:

1. the digest: when the live inventory's digest equals the plan's, nothing changed;
2. otherwise a precise diff of what matters to the migrations still to run: where each
   of their VMs is (host, pool, each disk's SR) and its power state, against the plan's
   inventory with the migrations already done applied; and, when that inventory is at
   hand (`base`), each VM's memory, the target hosts' free memory and enabled flag and
   the target SRs' free space (a drop below what the plan counted on is drift; more
   room is not);
3. the rules (`planner.rules.target_reasons`) re-run on the live inventory for the next
   pending migration of every VM.

Later hops of a VM that moves more than once (temporary moves) are checked when they
become its next migration, that is on a later resume; the runner's room check and XAPI's
own assert_can_migrate cover them meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from planner.errors import InputError
from planner.execute import journal as J
from planner.execute.room import Room
from planner.inventory.io import digest
from planner.inventory.model import RESIDENT_STATES, VM, Inventory
from planner.options import PlanOptions
from planner.plan import Migration, Plan, Step
from planner.rules import target_reasons
from planner.rules.storage import gib
from planner.rules.version import version_at_least


@dataclass(frozen=True, slots=True)
class Drift:
    """One thing that changed (or a rule now broken), with the migration it concerns."""

    code: str
    message: str
    migration: str | None = None

    def line(self) -> str:
        where = f"{self.migration}: " if self.migration else ""
        return f"{where}{self.code} {self.message}"


@dataclass(frozen=True)
class PreflightReport:
    drift: tuple[Drift, ...]
    pending: tuple[str, ...]  # migration ids still to run, plan order
    done: tuple[str, ...]
    same_digest: bool

    @property
    def ok(self) -> bool:
        return not self.drift


@dataclass(frozen=True, slots=True)
class _Pos:
    pool: str
    host: str | None
    power_state: str
    disks: dict[str, str]


def _pos(vm: VM) -> _Pos:
    return _Pos(
        vm.pool,
        vm.host if vm.is_running else None,
        vm.power_state,
        {d.uuid: d.sr for d in vm.disks},
    )


def _after(p: _Pos, m: Migration) -> _Pos:
    disks = dict(p.disks)
    for d in m.disks:
        disks[d.vdi] = d.to_sr
    host = m.to_host if p.power_state in RESIDENT_STATES else None
    return _Pos(m.to_pool, host, p.power_state, disks)


def _from_plan(m: Migration, live_vm: VM | None) -> _Pos:
    """Where the plan says a VM starts, when the plan's inventory is not at hand."""
    state = live_vm.power_state if live_vm is not None else "Running"
    if m.kind == "move":
        state = "Halted"
    disks = {d.uuid: d.sr for d in live_vm.disks} if live_vm is not None else {}
    for d in m.disks:
        disks[d.vdi] = d.from_sr
    return _Pos(m.from_pool, m.from_host, state, disks)


def preflight(
    plan: Plan,
    live: Inventory,
    states: dict[str, str],
    base: Inventory | None = None,
    host_live: Callable[[str], bool] | None = None,
) -> PreflightReport:
    """Compare `live` with what `plan` expects, given the journal `states` (id -> state;
    missing ids are pending). `base` is the plan's own inventory, if the user gave it.
    `host_live(host uuid)`: whether XAPI shows the host live (`host_metrics.live`, not
    part of any inventory): a pending migration's target host that is not is drift
    (HOST_OFFLINE), even when the digest is unchanged."""
    report = _preflight(plan, live, states, base)
    if host_live is None:
        return report
    pending = set(report.pending)
    extra: list[Drift] = []
    seen: set[str] = set()
    for m in plan.migrations():
        h = m.to_host
        if m.id not in pending or h is None or h in seen or h not in live.host_by_uuid:
            continue
        seen.add(h)
        if not host_live(h):
            extra.append(
                Drift(
                    "HOST_OFFLINE",
                    f"target host {live.label(h)} is not live (host_metrics.live is false)",
                    m.id,
                )
            )
    return replace(report, drift=report.drift + tuple(extra)) if extra else report


def _preflight(
    plan: Plan, live: Inventory, states: dict[str, str], base: Inventory | None = None
) -> PreflightReport:
    if base is not None and digest(base) != plan.inventory_digest:
        raise InputError(
            "--inventory: this is not the inventory the plan was made for "
            f"(digest {digest(base)[:12]}, plan {plan.inventory_digest[:12]})"
        )
    options = plan.options
    order = list(plan.migrations())
    done = tuple(m.id for m in order if states.get(m.id) == J.DONE)
    pending = tuple(m.id for m in order if states.get(m.id, J.PENDING) != J.DONE)
    same = digest(live) == plan.inventory_digest
    out: list[Drift] = []
    if same or not pending:
        return PreflightReport((), pending, done, same)

    at_wave = hosts_by_wave(plan, live)
    wave_of = {m.id: w.index for w in plan.waves for m in w.migrations}
    expected, nxt = _expected(order, states, live, base)
    for vm_uuid, m in nxt.items():
        if states.get(m.id, J.PENDING) in J.IN_FLIGHT:
            # XAPI is moving it right now: it may be at either end; the runner waits
            continue
        vm = live.vm_by_uuid.get(vm_uuid)
        name = base.label(vm_uuid) if base is not None else vm_uuid
        if vm is None:
            out.append(Drift("VM_GONE", f"VM {name} is not in any pool", m.id))
            continue
        out += _position_drift(vm, m, expected[vm_uuid], live, base)
        if vm.pool != m.from_pool:
            continue  # the rules would only repeat VM_MOVED
        out += _rule_drift(at_wave[wave_of[m.id]], m, vm_uuid, options)

    if base is not None:
        out += _capacity_drift(plan, base, live, states, options, nxt, _step_hosts(plan))
    else:
        for m in nxt.values():
            h = live.host_by_uuid.get(m.to_host or "")
            if m.to_host is not None and h is None:
                out.append(Drift("HOST_GONE", f"target host {m.to_host} is in no pool", m.id))
    return PreflightReport(tuple(_dedupe(out)), pending, done, same)


def _expected(
    order: list[Migration], states: dict[str, str], live: Inventory, base: Inventory | None
) -> tuple[dict[str, _Pos], dict[str, Migration]]:
    """Where each VM should be now (its start, with the done migrations applied) and
    its next migration that is not done."""
    expected: dict[str, _Pos] = {}
    nxt: dict[str, Migration] = {}
    for m in order:
        if m.vm not in expected:
            if base is not None and m.vm in base.vm_by_uuid:
                expected[m.vm] = _pos(base.vm_by_uuid[m.vm])
            else:
                expected[m.vm] = _from_plan(m, live.vm_by_uuid.get(m.vm))
        if states.get(m.id) == J.DONE:
            expected[m.vm] = _after(expected[m.vm], m)
        elif m.vm not in nxt:
            nxt[m.vm] = m
    return expected, nxt


def _position_drift(
    vm: VM, m: Migration, want: _Pos, live: Inventory, base: Inventory | None
) -> list[Drift]:
    """The VM is not where, or not in the state, the plan expects before `m` (its pool,
    host, power state, disks' SRs; its memory, when the plan's inventory is given)."""
    out: list[Drift] = []
    have = _pos(vm)
    if have.pool != want.pool:
        out.append(
            Drift(
                "VM_MOVED",
                f"{vm.name} is in pool {live.label(have.pool)}, "
                f"the plan expects {live.label(want.pool)}",
                m.id,
            )
        )
    elif have.host != want.host and m.kind != "move":
        out.append(
            Drift(
                "VM_MOVED",
                f"{vm.name} is on {live.label(have.host)}, "
                f"the plan expects {live.label(want.host)}",
                m.id,
            )
        )
    if _state_class(have.power_state) != _state_class(want.power_state):
        out.append(
            Drift(
                "POWER_STATE",
                f"{vm.name} is {have.power_state}, the plan expects {want.power_state}",
                m.id,
            )
        )
    for vdi, sr in want.disks.items():
        now = have.disks.get(vdi)
        if now is not None and now != sr:
            out.append(
                Drift(
                    "DISK_MOVED",
                    f"{vm.name} disk {vdi[:8]} is on SR "
                    f"{live.label(now)}, the plan expects "
                    f"{live.label(sr)}",
                    m.id,
                )
            )
    if base is not None and vm.uuid in base.vm_by_uuid:
        old = base.vm_by_uuid[vm.uuid]
        if vm.memory_bytes != old.memory_bytes or vm.memory_min_bytes != old.memory_min_bytes:
            out.append(
                Drift(
                    "VM_MEMORY",
                    f"{vm.name} memory {gib(vm.memory_bytes)} (was {gib(old.memory_bytes)})",
                    m.id,
                )
            )
    return out


def _rule_drift(at: Inventory, m: Migration, vm_uuid: str, options: PlanOptions) -> list[Drift]:
    """The static rules for `m` on `at` (the hosts as the plan's steps leave them by
    then), or the targets it names that are gone."""
    disk_targets = {d.vdi: d.to_sr for d in m.disks if d.from_sr != d.to_sr}
    vifs = m.vifs if m.to_pool != m.from_pool else None
    gone = _missing_targets(at, m, disk_targets)
    if gone:
        return gone  # the rules need every object the migration names
    return [
        Drift(r.code, r.message, m.id)
        for r in target_reasons(
            at, at.vm_by_uuid[vm_uuid], m.kind, m.to_host, m.to_pool, disk_targets, options, vifs
        )
    ]


def _missing_targets(live: Inventory, m: Migration, disk_targets: dict[str, str]) -> list[Drift]:
    """Drift for a target pool, host or SR the live pools no longer have."""
    out = []
    if m.to_pool not in live.pool_by_uuid:
        out.append(Drift("POOL_GONE", f"target pool {m.to_pool} is not among the live pools", m.id))
    if m.to_host is not None and m.to_host not in live.host_by_uuid:
        out.append(Drift("HOST_GONE", f"target host {m.to_host} is in no pool", m.id))
    for sr in sorted(set(disk_targets.values()) - set(live.sr_by_uuid)):
        out.append(Drift("SR_GONE", f"target SR {sr} is in no pool", m.id))
    return out


def _apply_steps(inv: Inventory, steps: list[Step]) -> Inventory:
    """`inv` with each step's host as the step leaves it (enabled flag, version)."""
    if not steps:
        return inv
    hosts = {h.uuid: h for h in inv.hosts}
    for st in steps:
        h = hosts.get(st.host)
        if h is None:
            continue
        if st.kind == "host-upgrade":
            if st.to_version and not version_at_least(h.version, st.to_version):
                hosts[st.host] = replace(h, version=st.to_version)
        else:
            hosts[st.host] = replace(h, enabled=st.kind == "host-enable")
    return replace(inv, hosts=tuple(hosts[h.uuid] for h in inv.hosts))


def hosts_by_wave(plan: Plan, live: Inventory) -> dict[int, Inventory]:
    """Wave index -> `live` with the plan's host steps that run before that wave's
    migrations applied. The executor runs each step before anything planned after it
    (docs/executor.md "Host steps"), so the rules of a later migration must see the
    host disabled, enabled or upgraded as the plan says, whatever the live state is
    now (on a resume, a host may be disabled and awaiting its upgrade)."""
    out: dict[int, Inventory] = {}
    inv = live
    for w in plan.waves:
        inv = _apply_steps(inv, [s for s in w.steps if s.when == "before"])
        out[w.index] = inv
        inv = _apply_steps(inv, [s for s in w.steps if s.when != "before"])
    return out


def _step_hosts(plan: Plan) -> set[str]:
    return {s.host for w in plan.waves for s in w.steps}


def _capacity_drift(
    plan: Plan,
    base: Inventory,
    live: Inventory,
    states: dict[str, str],
    options: PlanOptions,
    nxt: dict[str, Migration],
    step_hosts: frozenset[str] | set[str] = frozenset(),
) -> list[Drift]:
    """Target hosts and SRs with less room than the plan counted on, and disabled hosts."""
    out: list[Drift] = []
    want = Room.of(base, options)
    have = Room.of(live, options)
    for m in plan.migrations():
        state = states.get(m.id, J.PENDING)
        if state == J.DONE:
            want.start(m)
            want.done(m)
        elif state in J.IN_FLIGHT:
            # in flight now: count it as arrived if the live inventory already shows it
            # there, else as under way, on both sides alike
            want.start(m)
            if _arrived(m, live):
                want.done(m)
            else:
                have.start(m)
    hosts = {
        m.to_host for m in plan.migrations() if m.to_host is not None and states.get(m.id) != J.DONE
    }
    srs = {d.to_sr for m in plan.migrations() if states.get(m.id) != J.DONE for d in m.disks}
    for h in sorted(hosts):
        host = live.host_by_uuid.get(h)
        if host is None:
            out.append(Drift("HOST_GONE", f"target host {base.label(h)} is in no pool"))
            continue
        old = base.host_by_uuid.get(h)
        # a host the plan's own steps disable and enable is not drift
        if old is not None and old.enabled and not host.enabled and h not in step_hosts:
            out.append(Drift("HOST_DISABLED", f"target host {host.name} has been disabled"))
        if have.host_free.get(h, 0) < want.host_free.get(h, 0):
            out.append(
                Drift(
                    "HOST_MEMORY",
                    f"{host.name} has {gib(have.host_free[h])} free, "
                    f"the plan counted on "
                    f"{gib(want.host_free.get(h, 0))}",
                )
            )
    for s in sorted(srs):
        sr = live.sr_by_uuid.get(s)
        if sr is None:
            out.append(Drift("SR_GONE", f"target SR {base.label(s)} is in no pool"))
            continue
        if have.sr_free.get(s, 0) < want.sr_free.get(s, 0):
            out.append(
                Drift(
                    "SR_FREE",
                    f"SR {sr.name} has {gib(have.sr_free[s])} free, "
                    f"the plan counted on {gib(want.sr_free.get(s, 0))}",
                )
            )
    return out


def _arrived(m: Migration, live: Inventory) -> bool:
    vm = live.vm_by_uuid.get(m.vm)
    if vm is None or vm.pool != m.to_pool:
        return False
    return not (vm.is_running and m.to_host is not None and vm.host != m.to_host)


def _state_class(power_state: str) -> str:
    """Running and Paused migrate alike (live); Suspended and Halted each differently."""
    return "up" if power_state in RESIDENT_STATES else power_state


def _dedupe(items: list[Drift]) -> list[Drift]:
    seen: set[Drift] = set()
    out = []
    for d in items:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out
