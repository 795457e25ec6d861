"""Rich tables for `planner inventory show` (imported only by that command)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from planner.inventory.model import Inventory
from planner.rules import codes
from planner.rules.exclusions import exclusion_reasons
from planner.rules.memory import host_capacity

EXCLUSION_CODES = (codes.HA_PROTECTED, codes.SRIOV, codes.PCI, codes.VGPU,
                   codes.ON_BOOT_RESET, codes.NO_TOOLS, codes.CBT, codes.MCS)  # fmt: skip


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f}"


def _table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
           limit: int | None, right: Iterable[int] = ()) -> Table:  # fmt: skip
    """A table of at most `limit` rows, saying how many were left out."""
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    right = set(right)
    last = len(columns) - 1
    for i, c in enumerate(columns):
        # only a last, free-text column may wrap: numbers and names stay whole
        t.add_column(c, justify="right" if i in right else "left",
                     no_wrap=i != last or i in right)  # fmt: skip
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


def render(console: Console, inv: Inventory, warnings: list[str], limit: int | None) -> None:
    """Print the summary of `inv` (`limit` rows per table; None for all)."""
    committed: dict[str, int] = {}
    for vm in inv.vms:
        if vm.is_running and vm.host is not None:
            committed[vm.host] = committed.get(vm.host, 0) + vm.memory_bytes
    console.print(f"[bold]inventory[/bold] {inv.source or '-'} (taken {inv.taken_at or '?'}): "
                  f"{len(inv.pools)} pools, {len(inv.hosts)} hosts, {len(inv.srs)} SRs, "
                  f"{len(inv.networks)} networks, {len(inv.vms)} VMs")  # fmt: skip

    pool_rows = []
    for p in inv.pools:
        hosts = inv.hosts_in_pool.get(p.uuid, [])
        versions = sorted({h.version for h in hosts})
        master = inv.host_by_uuid.get(p.master)
        hotfix = ",".join(master.hotfixes) if master and master.hotfixes else "-"
        pool_rows.append((
            p.name, f"{sum(h.enabled for h in hosts)}/{len(hosts)}", inv.label(p.master),
            "/".join(versions), hotfix, "yes" if p.ha_enabled else "no",
            "yes" if p.https_only else "no", len(inv.vms_in_pool.get(p.uuid, [])),
        ))  # fmt: skip
    console.print(_table("Pools", ("pool", "hosts", "master", "version", "master hotfixes",
                                   "HA", "https-only", "VMs"), pool_rows, limit, [1, 7]))

    host_rows = []
    for h in inv.hosts:
        cap = host_capacity(h, 0.0)
        used = committed.get(h.uuid, 0)
        host_rows.append((
            inv.label(h.pool), h.name + ("" if h.enabled else " (disabled)"), h.version,
            len(inv.vms_on_host.get(h.uuid, [])), _gib(cap), _gib(used), _gib(cap - used),
            f"{100 * used / cap:.0f}%" if cap > 0 else "-",
        ))  # fmt: skip
    console.print(_table("Hosts (GiB; capacity = memory total - overhead)",
                         ("pool", "host", "version", "VMs", "capacity", "committed", "free",
                          "fill"), host_rows, limit, range(3, 8)))  # fmt: skip

    disks: Counter[str] = Counter(d.sr for v in inv.vms for d in v.disks)
    sr_rows = [(inv.label(s.pool), s.name, s.type, "shared" if s.shared else
                f"local ({inv.label(s.hosts[0]) if s.hosts else '-'})", disks[s.uuid],
                _gib(s.size_bytes), _gib(s.used_bytes), _gib(s.size_bytes - s.used_bytes))
               for s in inv.srs]  # fmt: skip
    console.print(_table("SRs (GiB)", ("pool", "SR", "type", "attached", "disks", "size",
                                       "used", "free"), sr_rows, limit, range(4, 8)))

    net_rows = [(inv.label(n.pool), n.name,
                 ", ".join(x for x, on in (("management", n.management), ("SR-IOV", n.sriov))
                           if on) or "-", f"{len(n.hosts)}")
                for n in inv.networks]  # fmt: skip
    console.print(_table("Networks", ("pool", "network", "kind", "hosts with a PIF"),
                         net_rows, limit, [3]))

    states = Counter(v.power_state for v in inv.vms)
    state_rows = [(s, states.get(s, 0)) for s in ("Running", "Paused", "Suspended", "Halted")]
    console.print(_table("Power states", ("state", "VMs"), state_rows, None, [1]))
    excl = exclusion_counts(inv)
    excl_rows = [(c, excl.get(c, 0), codes.MEANING[c]) for c in EXCLUSION_CODES]
    console.print(_table("Exclusions (VMs; a VM may have several)", ("code", "VMs", "meaning"),
                         excl_rows, None, [1]))
    if warnings:
        console.print(f"[yellow]{len(warnings)} warning{'s' if len(warnings) != 1 else ''}:"
                      "[/yellow]")  # fmt: skip
        for w in warnings if limit is None else warnings[:limit]:
            console.print(f"  {w}", markup=False, highlight=False)
        if limit is not None and len(warnings) > limit:
            console.print(f"  ... and {len(warnings) - limit} more (use --all)")
