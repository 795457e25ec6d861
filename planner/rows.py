"""A plan as rows: the one migrations table behind `solve --format csv|json`, `export
--to csv` and the report (one column set everywhere, docs/cli.md "Output").

A row is a migration, or a host step of a rolling upgrade (kind `host-disable`,
`host-upgrade`, `host-enable`) in the order the wave runs them: its `before` steps,
its migrations, its `after` steps. Objects appear twice: the uuid column (`vm`,
`from_host`, ...) and the name column (`vm_name`, `from_host_name`, ...; empty without
an inventory). A step's host is in `from_host`/`from_host_name`; its id (`s1`, `s2`,
...) is the executor's journal id. Sizes are bytes, times whole seconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from planner.execute.journal import step_ids

if TYPE_CHECKING:
    from planner.inventory.model import Inventory
    from planner.plan import Plan

PLAN_COLUMNS = (
    "wave",
    "id",
    "vm",
    "vm_name",
    "kind",
    "from_host",
    "from_host_name",
    "to_host",
    "to_host_name",
    "from_pool",
    "from_pool_name",
    "to_pool",
    "to_pool_name",
    "disks",
    "vifs",
    "memory_bytes",
    "disk_bytes",
    "start_s",
    "est_seconds",
    "depends_on",
    "reason",
    "when",
    "to_version",
)


def plan_rows(plan: Plan, inv: Inventory | None = None) -> list[dict[str, Any]]:
    """One dict per migration and per host step, keys `PLAN_COLUMNS` (see the module)."""

    def name(uuid: str | None) -> str | None:
        if uuid is None or inv is None:
            return None
        return inv.label(uuid)

    sid = {id(st): s for s, _, st in step_ids(plan)}
    pool_of_host = {h.uuid: h.pool for h in inv.hosts} if inv is not None else {}
    out: list[dict[str, Any]] = []

    def step_row(w_index: int, st: Any) -> dict[str, Any]:
        pool = pool_of_host.get(st.host)
        return {
            "wave": w_index,
            "id": sid[id(st)],
            "kind": st.kind,
            "from_host": st.host,
            "from_host_name": name(st.host),
            "from_pool": pool,
            "from_pool_name": name(pool),
            "start_s": st.start_s,
            "est_seconds": st.est_seconds,
            "when": st.when,
            "to_version": st.to_version,
        }

    for w in plan.waves:
        out += [step_row(w.index, st) for st in w.steps if st.when == "before"]
        for m in w.migrations:
            vm = inv.vm_by_uuid.get(m.vm) if inv is not None else None
            moved = {d.vdi for d in m.disks}
            disk_bytes = (
                sum(d.size_bytes for d in vm.disks if d.uuid in moved) if vm is not None else None
            )
            out.append(
                {
                    "wave": w.index,
                    "id": m.id,
                    "kind": m.kind,
                    "vm": m.vm,
                    "vm_name": name(m.vm),
                    "from_host": m.from_host,
                    "from_host_name": name(m.from_host),
                    "to_host": m.to_host,
                    "to_host_name": name(m.to_host),
                    "from_pool": m.from_pool,
                    "from_pool_name": name(m.from_pool),
                    "to_pool": m.to_pool,
                    "to_pool_name": name(m.to_pool),
                    "disks": ";".join(f"{d.vdi}>{d.to_sr}" for d in m.disks),
                    "vifs": ";".join(f"{v.device}>{v.to_network}" for v in m.vifs),
                    "memory_bytes": vm.memory_bytes if vm is not None else None,
                    "disk_bytes": disk_bytes,
                    "start_s": m.start_s,
                    "est_seconds": m.est_seconds,
                    "depends_on": ";".join(m.depends_on),
                    "reason": m.reason,
                }
            )
        out += [step_row(w.index, st) for st in w.steps if st.when != "before"]
    return out


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV text: a header of `columns`, then one line per row (missing/None -> empty,
    booleans true/false, lists joined by `;`, a text that a spreadsheet would take for a
    formula prefixed with `'`)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        v = ";".join(str(x) for x in v)
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        # a name from XAPI starting so is a formula to Excel and LibreOffice (CSV
        # injection): a leading apostrophe keeps it text
        return "'" + v
    return v
