"""Versions (FORMATS.md rule 6): a VM never moves to a host older than its source."""

from __future__ import annotations

from functools import lru_cache

from planner.inventory.model import VM, Host, Inventory
from planner.moves import Reason
from planner.rules import codes


@lru_cache(maxsize=1024)
def parse_version(version: str) -> tuple[int, ...]:
    """ "8.2.1" -> (8, 2, 1). Non-numeric parts (and ones of more than 18 digits, which
    int() may refuse) count as 0: validation rejects them."""
    out = []
    for part in version.split("."):
        ok = part.isascii() and part.isdigit() and len(part) <= 18
        out.append(int(part) if ok else 0)
    return tuple(out)


def version_at_least(have: str, need: str) -> bool:
    """Dotted comparison; missing trailing parts count as 0 ("8.4" == "8.4.0")."""
    a, b = list(parse_version(have)), list(parse_version(need))
    n = max(len(a), len(b))
    return a + [0] * (n - len(a)) >= b + [0] * (n - len(b))


def source_version(inv: Inventory, vm: VM) -> str:
    """The version a VM runs under: its host's when running, else its pool master's."""
    if vm.is_running and vm.host in inv.host_by_uuid:
        return inv.host_by_uuid[vm.host].version
    return inv.master_of(vm.pool).version


def version_reasons(vm: VM, from_version: str, host: Host) -> list[Reason]:
    """Why `host` is too old to receive `vm`, coming from a host of `from_version`."""
    if version_at_least(host.version, from_version):
        return []
    return [
        Reason(
            codes.VERSION,
            f"{host.name} runs {host.version}, older than {vm.name}'s source {from_version}",
        )
    ]
