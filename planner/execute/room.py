"""The executor's running account of the live state ("does the live state have room?"):
the capacity ledger (`planner.ledger_migration.Account`) built from the live inventory.

A live or storage migration of a running VM commits the VM's memory on `to_host` when it
starts and frees it on `from_host` when it ends; a moved disk (and a suspend image)
reserves 3x its size on the target SR and 2x on the source while it moves and then
holds its used bytes (and its snapshots') on the target only; a halted VM's move needs
room for it on some enabled host of its pool; members of an anti-affinity group do not
meet on a host (strict plans); at most `max_per_pool` migrations per source pool and,
when the plan sets it, `max_per_host` per host are in flight. A failed migration gives
its reservations back. Units are bytes and counts.

This is a thin adapter keyed by `Migration`, so the runner reads as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.inventory.model import Inventory
from planner.ledger_migration import Account, Demand
from planner.options import PlanOptions
from planner.plan import Migration, Reason


@dataclass
class Room:
    """The live account: `reasons(m)` before a start, then `start`, `done` or `failed`."""

    account: Account
    flying: dict[str, Demand] = field(default_factory=dict)  # id -> what its start took

    @classmethod
    def of(
        cls,
        inv: Inventory,
        options: PlanOptions,
        *,
        max_per_pool: int | None = None,
    ) -> Room:
        """The account of the live inventory `inv`; `max_per_pool` lowers the plan's."""
        return cls(Account.of(inv, options, max_per_pool=max_per_pool))

    @property
    def inv(self) -> Inventory:
        return self.account.inv

    @property
    def host_free(self) -> dict[str, int]:
        """Bytes of memory free on each host now (negative: overcommitted)."""
        led = self.account.ledger
        return {
            h.uuid: led.cap[("mem", h.uuid)] - led.used.get(("mem", h.uuid), 0)
            for h in self.inv.hosts
        }

    @property
    def sr_free(self) -> dict[str, int]:
        """Bytes free on each SR now."""
        led = self.account.ledger
        return {
            s.uuid: led.cap[("sr", s.uuid)] - led.used.get(("sr", s.uuid), 0) for s in self.inv.srs
        }

    def _demand(self, m: Migration) -> Demand | None:
        if m.id in self.flying:
            return self.flying[m.id]
        if m.vm not in self.account.inv.vm_by_uuid:
            return None  # a VM the live pools lack: the pre-flight reports it
        return self.account.demand(m)

    def reasons(self, m: Migration) -> list[Reason]:
        """Why `m` cannot start now (empty when there is room)."""
        d = self._demand(m)
        return [] if d is None else self.account.reasons(d)

    def start(self, m: Migration) -> None:
        d = self._demand(m)
        if d is not None and m.id not in self.flying:
            self.account.start(d)
            self.flying[m.id] = d

    def failed(self, m: Migration) -> None:
        """Give back what `start` took."""
        d = self.flying.pop(m.id, None)
        if d is not None:
            self.account.failed(d)

    def done(self, m: Migration) -> None:
        d = self.flying.pop(m.id, None)
        if d is not None:
            self.account.end(d)
