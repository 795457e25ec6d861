"""Rich tables for `planner inventory show` (imported only by that command)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from planner.inventory.model import POWER_STATES, Inventory
from planner.rules import codes
from planner.rules.exclusions import exclusion_reasons
from planner.rules.memory import host_capacity

EXCLUSION_CODES = (
    codes.HA_PROTECTED,
    codes.SRIOV,
    codes.PCI,
    codes.VGPU,
    codes.ON_BOOT_RESET,
    codes.NO_TOOLS,
    codes.CBT,
    codes.MCS,
)


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f}"


def _table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    limit: int | None,
    right: Iterable[int] = (),
) -> Table:
    """A table of at most `limit` rows, saying how many were left out."""
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    right = set(right)
    last = len(columns) - 1
    for i, c in enumerate(columns):
        # only a last, free-text column may wrap: numbers and names stay whole
        t.add_column(c, justify="right" if i in right else "left", no_wrap=i != last or i in right)
    rows = list(rows)
    shown = rows if limit is None else rows[:limit]
    for r in shown:
        t.add_row(*(str(x) for x in r))
    if len(shown) < len(rows):
        t.caption = f"... {len(rows) - len(shown)} more rows (use --all)"
        t.caption_justify = "left"
    return t


def exclusion_counts(inv: Inventory) -> Counter[str]:
    """VMs per exclusion code, counting the codes that stop a live or a storage move."""
    out: Counter[str] = Counter()
    for vm in inv.vms:
        found = {r.code for r in exclusion_reasons(inv, vm, "live")}
        found |= {r.code for r in exclusion_reasons(inv, vm, "storage")}
        out.update(found)
    return out


TABLES = ("pools", "hosts", "srs", "networks", "vms")
COLUMNS: dict[str, tuple[str, ...]] = {
    "pools": (
        "pool",
        "pool_name",
        "hosts",
        "hosts_enabled",
        "master",
        "master_name",
        "versions",
        "master_hotfixes",
        "ha_enabled",
        "https_only",
        "vms",
    ),
    "hosts": (
        "host",
        "host_name",
        "pool",
        "pool_name",
        "enabled",
        "version",
        "vms",
        "capacity_bytes",
        "committed_bytes",
        "free_bytes",
        "fill",
    ),
    "srs": (
        "sr",
        "sr_name",
        "pool",
        "pool_name",
        "type",
        "shared",
        "attached_to",
        "attached_to_name",
        "disks",
        "size_bytes",
        "used_bytes",
        "free_bytes",
    ),
    "networks": (
        "network",
        "network_name",
        "pool",
        "pool_name",
        "management",
        "sriov",
        "hosts_with_pif",
    ),
    "vms": (
        "vm",
        "vm_name",
        "pool",
        "pool_name",
        "power_state",
        "host",
        "host_name",
        "memory_bytes",
        "vcpus",
        "disks",
        "exclusions",
    ),
}


def rows(inv: Inventory, table: str) -> list[dict[str, Any]]:
    """The rows of one table of `planner inventory show` as data: uuids and names,
    bytes, fractions (`fill` 0..1)."""
    of = _ROWS.get(table)
    if of is None:
        raise ValueError(table)
    return of(inv)


def _pool_rows(inv: Inventory) -> list[dict[str, Any]]:
    L = inv.label
    out = []
    for p in inv.pools:
        hosts = inv.hosts_in_pool.get(p.uuid, [])
        master = inv.host_by_uuid.get(p.master)
        out.append(
            {
                "pool": p.uuid,
                "pool_name": p.name,
                "hosts": len(hosts),
                "hosts_enabled": sum(h.enabled for h in hosts),
                "master": p.master,
                "master_name": L(p.master),
                "versions": sorted({h.version for h in hosts}),
                "master_hotfixes": list(master.hotfixes) if master else [],
                "ha_enabled": p.ha_enabled,
                "https_only": p.https_only,
                "vms": len(inv.vms_in_pool.get(p.uuid, [])),
            }
        )
    return out


def _host_rows(inv: Inventory) -> list[dict[str, Any]]:
    committed: dict[str, int] = {}
    for vm in inv.vms:
        if vm.is_running and vm.host is not None:
            committed[vm.host] = committed.get(vm.host, 0) + vm.memory_bytes
    out = []
    for h in inv.hosts:
        cap = host_capacity(h, 0.0)
        used = committed.get(h.uuid, 0)
        out.append(
            {
                "host": h.uuid,
                "host_name": h.name,
                "pool": h.pool,
                "pool_name": inv.label(h.pool),
                "enabled": h.enabled,
                "version": h.version,
                "vms": len(inv.vms_on_host.get(h.uuid, [])),
                "capacity_bytes": cap,
                "committed_bytes": used,
                "free_bytes": cap - used,
                "fill": round(used / cap, 4) if cap > 0 else None,
            }
        )
    return out


def _sr_rows(inv: Inventory) -> list[dict[str, Any]]:
    L = inv.label
    disks: Counter[str] = Counter(d.sr for v in inv.vms for d in v.disks)
    return [
        {
            "sr": s.uuid,
            "sr_name": s.name,
            "pool": s.pool,
            "pool_name": L(s.pool),
            "type": s.type,
            "shared": s.shared,
            "attached_to": None if s.shared else list(s.hosts),
            "attached_to_name": None if s.shared else [L(h) for h in s.hosts],
            "disks": disks[s.uuid],
            "size_bytes": s.size_bytes,
            "used_bytes": s.used_bytes,
            "free_bytes": s.size_bytes - s.used_bytes,
        }
        for s in inv.srs
    ]


def _network_rows(inv: Inventory) -> list[dict[str, Any]]:
    return [
        {
            "network": n.uuid,
            "network_name": n.name,
            "pool": n.pool,
            "pool_name": inv.label(n.pool),
            "management": n.management,
            "sriov": n.sriov,
            "hosts_with_pif": len(n.hosts),
        }
        for n in inv.networks
    ]


def _vm_rows(inv: Inventory) -> list[dict[str, Any]]:
    L = inv.label
    out = []
    for v in inv.vms:
        found = {r.code for r in exclusion_reasons(inv, v, "live")}
        found |= {r.code for r in exclusion_reasons(inv, v, "storage")}
        out.append(
            {
                "vm": v.uuid,
                "vm_name": v.name,
                "pool": v.pool,
                "pool_name": L(v.pool),
                "power_state": v.power_state,
                "host": v.host,
                "host_name": L(v.host) if v.host else None,
                "memory_bytes": v.memory_bytes,
                "vcpus": v.vcpus,
                "disks": len(v.disks),
                "exclusions": [c for c in EXCLUSION_CODES if c in found],
            }
        )
    return out


_ROWS: dict[str, Callable[[Inventory], list[dict[str, Any]]]] = {
    "pools": _pool_rows,
    "hosts": _host_rows,
    "srs": _sr_rows,
    "networks": _network_rows,
    "vms": _vm_rows,
}


def document(inv: Inventory, warnings: list[str]) -> dict[str, Any]:
    """`planner inventory show --format json`: every table, the counts and warnings."""
    states = Counter(v.power_state for v in inv.vms)
    excl = exclusion_counts(inv)
    doc: dict[str, Any] = {"source": inv.source, "taken_at": inv.taken_at}
    doc.update({t: rows(inv, t) for t in TABLES})
    doc["power_states"] = {s: states.get(s, 0) for s in POWER_STATES}
    doc["exclusions"] = {c: excl.get(c, 0) for c in EXCLUSION_CODES}
    doc["warnings"] = list(warnings)
    return doc


def _pools_table(inv: Inventory, limit: int | None) -> Table:
    """The pools: hosts enabled, master, versions, HA, https-only, VMs."""
    pool_rows = [
        (
            r["pool_name"],
            f"{r['hosts_enabled']}/{r['hosts']}",
            r["master_name"],
            "/".join(r["versions"]),
            ",".join(r["master_hotfixes"]) or "-",
            "yes" if r["ha_enabled"] else "no",
            "yes" if r["https_only"] else "no",
            r["vms"],
        )
        for r in rows(inv, "pools")
    ]
    return _table(
        "Pools",
        ("pool", "hosts", "master", "version", "master hotfixes", "HA", "https-only", "VMs"),
        pool_rows,
        limit,
        [1, 7],
    )


def _hosts_table(inv: Inventory, limit: int | None) -> Table:
    """The hosts: VMs, capacity, committed and free memory (GiB), fill."""
    host_rows = [
        (
            r["pool_name"],
            r["host_name"] + ("" if r["enabled"] else " (disabled)"),
            r["version"],
            r["vms"],
            _gib(r["capacity_bytes"]),
            _gib(r["committed_bytes"]),
            _gib(r["free_bytes"]),
            f"{100 * r['fill']:.0f}%" if r["fill"] is not None else "-",
        )
        for r in rows(inv, "hosts")
    ]
    return _table(
        "Hosts (GiB; capacity = memory total - overhead)",
        ("pool", "host", "version", "VMs", "capacity", "committed", "free", "fill"),
        host_rows,
        limit,
        range(3, 8),
    )


def _srs_table(inv: Inventory, limit: int | None) -> Table:
    """The SRs: type, where attached, disks, size, used and free (GiB)."""
    sr_rows = [
        (
            r["pool_name"],
            r["sr_name"],
            r["type"],
            "shared"
            if r["shared"]
            else f"local ({r['attached_to_name'][0] if r['attached_to_name'] else '-'})",
            r["disks"],
            _gib(r["size_bytes"]),
            _gib(r["used_bytes"]),
            _gib(r["free_bytes"]),
        )
        for r in rows(inv, "srs")
    ]
    return _table(
        "SRs (GiB)",
        ("pool", "SR", "type", "attached", "disks", "size", "used", "free"),
        sr_rows,
        limit,
        range(4, 8),
    )


def _networks_table(inv: Inventory, limit: int | None) -> Table:
    """The networks: kind (management, SR-IOV) and hosts with a PIF."""
    net_rows = [
        (
            r["pool_name"],
            r["network_name"],
            ", ".join(
                x for x, on in (("management", r["management"]), ("SR-IOV", r["sriov"])) if on
            )
            or "-",
            f"{r['hosts_with_pif']}",
        )
        for r in rows(inv, "networks")
    ]
    return _table("Networks", ("pool", "network", "kind", "hosts with a PIF"), net_rows, limit, [3])


def render(console: Console, inv: Inventory, warnings: list[str], limit: int | None) -> None:
    """Print the summary of `inv` (`limit` rows per table; None for all)."""
    console.print(
        f"[bold]inventory[/bold] {inv.source or '-'} (taken {inv.taken_at or '?'}): "
        f"{len(inv.pools)} pools, {len(inv.hosts)} hosts, {len(inv.srs)} SRs, "
        f"{len(inv.networks)} networks, {len(inv.vms)} VMs"
    )

    for table in (_pools_table, _hosts_table, _srs_table, _networks_table):
        console.print(table(inv, limit))

    states = Counter(v.power_state for v in inv.vms)
    state_rows = [(s, states.get(s, 0)) for s in POWER_STATES]
    console.print(_table("Power states", ("state", "VMs"), state_rows, None, [1]))
    excl = exclusion_counts(inv)
    excl_rows = [(c, excl.get(c, 0), codes.MEANING[c]) for c in EXCLUSION_CODES]
    console.print(
        _table(
            "Exclusions (VMs; a VM may have several)",
            ("code", "VMs", "meaning"),
            excl_rows,
            None,
            [1],
        )
    )
    if warnings:
        console.print(
            f"[yellow]{len(warnings)} warning{'s' if len(warnings) != 1 else ''}:[/yellow]"
        )
        for w in warnings if limit is None else warnings[:limit]:
            console.print(f"  {w}", markup=False, highlight=False)
        if limit is not None and len(warnings) > limit:
            console.print(f"  ... and {len(warnings) - limit} more (use --all)")
