"""Port 80 (FORMATS.md rule 9): old 8.2.1 masters need port 80 for cross-pool moves."""

from __future__ import annotations

from planner.inventory.model import Inventory
from planner.moves import Reason
from planner.rules import codes
from planner.rules.version import parse_version

HOTFIX = "XS82ECU1033"
NEEDS_HOTFIX = (8, 2, 1)


def port80_reasons(inv: Inventory, from_pool: str, to_pool: str) -> list[Reason]:
    """Why a cross-pool migration from `from_pool` into `to_pool` is refused."""
    if from_pool == to_pool:
        return []
    dst = inv.pool_by_uuid[to_pool]
    if not dst.https_only:
        return []
    master = inv.master_of(from_pool)
    if parse_version(master.version) == NEEDS_HOTFIX and HOTFIX not in master.hotfixes:
        src = inv.pool_by_uuid[from_pool]
        return [
            Reason(
                codes.PORT80,
                f"pool {src.name}'s master {master.name} runs 8.2.1 without "
                f"{HOTFIX} and pool {dst.name} is HTTPS-only: apply {HOTFIX} "
                "or open port 80",
            )
        ]
    return []
