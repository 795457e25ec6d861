"""Restart advice (issue 17): the VMs a plan moves onto a newer XenServer version.

XenServer's Migrate VM wizard warns that after migrating VMs from an older version "you
might need to restart all VMs ... to ensure that new virtualization features are picked
up": a running guest keeps the virtual hardware platform and CPU feature set it booted
with until it is shut down and started again.

`restart_advice(inv, plan)` lists each VM that is up (Running, Paused or Suspended) and
whose last migration lands it on a host running a newer version than the one it runs
under now (its host's; for a Suspended VM, its pool master's, as rule 6 counts it). Host
upgrade steps are replayed, so a rolling upgrade that moves a VM onto an
already-upgraded host counts. Halted VMs boot afresh and need no advice. `planner solve`
prints it under the plan (table) and as the top-level key `restart_advice` (JSON),
`planner execute` repeats it for the VMs that arrived, and `planner report` can call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.inventory.model import Inventory
from planner.plan import Plan
from planner.rules.version import source_version, version_at_least

ADVICE = "restart to pick up new virtualisation features"


@dataclass(frozen=True, slots=True)
class RestartAdvice:
    """One VM that moves to a newer version: its uuid, name and the two versions."""

    vm: str
    name: str
    from_version: str
    to_version: str

    def to_json(self) -> dict[str, Any]:
        return {
            "vm": self.vm,
            "name": self.name,
            "from_version": self.from_version,
            "to_version": self.to_version,
        }


def restart_advice(inv: Inventory, plan: Plan) -> list[RestartAdvice]:
    """The VMs of `plan` to restart after it, in the order of their last migration."""
    version = {h.uuid: h.version for h in inv.hosts}

    def upgrade(steps: Any, when: str) -> None:
        for s in steps:
            if (
                (s.when == "before") == (when == "before")
                and s.kind == "host-upgrade"
                and s.to_version
                and s.host in version
            ):
                version[s.host] = s.to_version

    arrival: dict[str, str] = {}  # vm uuid -> version of the host it lands on
    for w in plan.waves:
        upgrade(w.steps, "before")
        for m in w.migrations:
            vm = inv.vm_by_uuid.get(m.vm)
            if vm is None or vm.power_state == "Halted":
                continue
            if m.to_host in version:
                arrival.pop(m.vm, None)  # keep dict order = order of last arrival
                arrival[m.vm] = version[m.to_host]
        upgrade(w.steps, "after")
    out = []
    for uuid, to in arrival.items():
        vm = inv.vm_by_uuid[uuid]
        was = source_version(inv, vm)
        if not version_at_least(was, to):
            out.append(RestartAdvice(uuid, vm.name, was, to))
    return out


def advice_lines(inv: Inventory, plan: Plan, only: set[str] | None = None) -> list[str]:
    """Human lines for the advice (empty when there is none); `only`: these VM uuids."""
    items = [a for a in restart_advice(inv, plan) if only is None or a.vm in only]
    if not items:
        return []
    n = len(items)
    out = [f"Restart advice: {n} VM{'s' if n != 1 else ''} moved to a newer version; {ADVICE}:"]
    out += [f"  {a.name}: {a.from_version} -> {a.to_version}" for a in items]
    return out
