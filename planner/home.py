"""Home servers (issue 17): the `home_host` a plan sets on each migrated VM.

A VM's home server is XAPI's `VM.affinity`: the host `VM.start` prefers. XenServer's
Migrate VM wizard asks for one per migration. After a cross-pool migration XAPI leaves
the VM without one: the migrated record names a host of the old pool, which the import
on the destination cannot resolve, so it sets NULL (xen-api `import.ml`, `Host`
handler). Within a pool the affinity survives a migration unchanged.

`assign_homes(inv, plan, mode)` writes `home_host` on the *last* migration of every VM
(an earlier one may be a step aside; the VM's home is where it ends up):

- "same-host": the host the VM lands on (its last `to_host`; for a halted VM moved
  without one, the host that receives it: the target pool's master, or the first
  enabled host that sees every target SR), for every migrated VM;
- "keep" (the default): a VM that had a home keeps one: within its pool the old home is
  still valid and XAPI keeps it, so nothing is written; across pools the old home is in
  the other pool, so the new home is the host it lands on (as "same-host"). A VM without
  a home gets none;
- "none": no `home_host` at all (the affinity stays as XAPI leaves it: unchanged within
  a pool, NULL after a cross-pool move).

The executor sets `VM.affinity` once the migration has arrived; `planner export --to xe`
writes `xe vm-param-set uuid=<vm> affinity=<host>` after it. `home_violations` is the
checker's part: a `home_host` must be a host of the migration's `to_pool`.
"""

from __future__ import annotations

from dataclasses import replace

from planner.errors import InputError
from planner.inventory.model import Inventory
from planner.plan import Migration, Plan
from planner.rules.migration_network import receiving_host

HOME_MODES: tuple[str, ...] = ("keep", "same-host", "none")


def home_for(inv: Inventory, m: Migration, mode: str) -> str | None:
    """The home server `mode` gives the VM of `m`, its last migration (None: leave the
    affinity as XAPI leaves it)."""
    vm = inv.vm_by_uuid.get(m.vm)
    if mode == "none" or vm is None:
        return None
    # keep: only a VM that had a home, and only where XAPI drops it (another pool)
    if mode == "keep" and (vm.affinity is None or m.to_pool == vm.pool):
        return None
    # the host it lands on; a halted VM moved without a to_host: the host that receives
    # it (the target pool's master if it sees every target SR; see
    # planner.rules.migration_network.receiving_host)
    return receiving_host(inv, m.to_host, m.to_pool, [d.to_sr for d in m.disks])


def assign_homes(inv: Inventory, plan: Plan, mode: str = "keep") -> Plan:
    """`plan` with `home_host` set on each VM's last migration as `mode` says (and
    cleared on every other migration). Raises InputError for an unknown mode."""
    if mode not in HOME_MODES:
        raise InputError(f"--set-home: must be one of {', '.join(HOME_MODES)}, got {mode!r}")
    last: dict[str, str] = {}
    for m in plan.migrations():
        last[m.vm] = m.id
    waves = []
    for w in plan.waves:
        migs = tuple(
            replace(m, home_host=home_for(inv, m, mode) if last[m.vm] == m.id else None)
            for m in w.migrations
        )
        waves.append(replace(w, migrations=migs) if migs != w.migrations else w)
    return replace(plan, waves=tuple(waves))


def home_violations(inv: Inventory, plan: Plan) -> list[tuple[Migration, str]]:
    """(migration, message) for every `home_host` that is not a host of the migration's
    `to_pool` (XAPI would refuse it or, worse, start the VM elsewhere)."""
    out = []
    for m in plan.migrations():
        if m.home_host is None:
            continue
        host = inv.host_by_uuid.get(m.home_host)
        if host is None:
            out.append((m, f"home_host {m.home_host} is no host of the inventory"))
        elif host.pool != m.to_pool:
            out.append(
                (
                    m,
                    f"home_host {host.name} is in pool {inv.label(host.pool)}, not "
                    f"in the VM's new pool {inv.label(m.to_pool)}",
                )
            )
    return out
