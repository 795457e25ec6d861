"""The plan file's per-migration JSON (FORMATS.md "Plan"): the writer of one migration
and the fault-collecting reader of migrations, reasons and unplaced VMs.

planner.plan builds whole plans, waves and steps from these; this module knows only the
records of planner.moves, so it sits below planner.plan and imports nothing of it.
"""

from __future__ import annotations

from typing import Any

from planner.limits import MAX_SECONDS, bad_number
from planner.moves import KINDS, DiskMove, Migration, Reason, Unplaced, VifMap


def _migration_json(m: Migration) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.id,
        "vm": m.vm,
        "kind": m.kind,
        "from_host": m.from_host,
        "to_host": m.to_host,
        "from_pool": m.from_pool,
        "to_pool": m.to_pool,
        "disks": [{"vdi": d.vdi, "from_sr": d.from_sr, "to_sr": d.to_sr} for d in m.disks],
        "vifs": [{"device": v.device, "to_network": v.to_network} for v in m.vifs],
        "est_seconds": m.est_seconds,
        "depends_on": list(m.depends_on),
        "start_s": m.start_s,
    }
    if m.reason is not None:
        out["reason"] = m.reason
    if m.home_host is not None:
        out["home_host"] = m.home_host
    return out


class _Reader:
    """Reads a plan document, collecting every fault with its JSON path."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def get(
        self,
        d: Any,
        key: str,
        path: str,
        types: type | tuple[type, ...],
        *,
        nullable: bool = False,
        default: Any = ...,
    ) -> Any:
        if not isinstance(d, dict):
            self.errors.append(f"{path}: must be an object")
            return None
        if key not in d:
            if default is not ...:
                return default
            self.errors.append(f"{path}.{key}: missing")
            return None
        v = d[key]
        if v is None and nullable:
            return None
        ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in _tuple(types))
        if not ok:
            names = "/".join(t.__name__ for t in _tuple(types))
            self.errors.append(f"{path}.{key}: must be {names}, got {type(v).__name__}")
            return None
        return v

    def seconds(self, d: Any, key: str, path: str) -> int:
        """An optional whole, finite, non-negative number of seconds (default 0)."""
        v = self.get(d, key, path, (int, float), default=0)
        if v is None:
            return 0
        if not (v == v and 0 <= v <= MAX_SECONDS):  # v == v: not NaN
            self.errors.append(f"{path}.{key}: must be 0..{MAX_SECONDS} seconds, got {v}")
            return 0
        return int(v)


def _tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def _reasons(r: _Reader, items: Any, path: str) -> tuple[Reason, ...]:
    if not isinstance(items, list):
        return ()
    out = []
    for i, x in enumerate(items):
        if not isinstance(x, dict):
            r.errors.append(f"{path}[{i}]: must be an object")
            continue
        code = r.get(x, "code", f"{path}[{i}]", str)
        msg = r.get(x, "message", f"{path}[{i}]", str, default="")
        if code is not None:
            out.append(Reason(code, msg or ""))
    return tuple(out)


def _migration(r: _Reader, d: Any, path: str) -> Migration | None:
    if not isinstance(d, dict):
        r.errors.append(f"{path}: must be an object")  # once, not once per key
        return None
    n_before = len(r.errors)
    mid = r.get(d, "id", path, str)
    kind = r.get(d, "kind", path, str)
    if kind is not None and kind not in KINDS:
        r.errors.append(f"{path}.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    est = r.get(d, "est_seconds", path, (int, float))
    why = None if est is None else bad_number(est, 0, MAX_SECONDS)
    if est is not None and why is not None and est < 0:
        why = f"must not be negative, got {est}"
    if why is not None:
        r.errors.append(f"{path}.est_seconds: {why}")
        est = None
    disks = []
    for j, x in enumerate(r.get(d, "disks", path, list, default=[]) or []):
        p = f"{path}.disks[{j}]"
        if not isinstance(x, dict):
            r.errors.append(f"{p}: must be an object")
            continue
        disks.append(
            DiskMove(
                r.get(x, "vdi", p, str), r.get(x, "from_sr", p, str), r.get(x, "to_sr", p, str)
            )
        )
    vifs = []
    for j, x in enumerate(r.get(d, "vifs", path, list, default=[]) or []):
        p = f"{path}.vifs[{j}]"
        if not isinstance(x, dict):
            r.errors.append(f"{p}: must be an object")
            continue
        vifs.append(VifMap(r.get(x, "device", p, str), r.get(x, "to_network", p, str)))
    deps = r.get(d, "depends_on", path, list, default=[]) or []
    for j, x in enumerate(deps):
        if not isinstance(x, str):
            r.errors.append(f"{path}.depends_on[{j}]: must be a migration id string")
    m = Migration(
        id=mid,
        vm=r.get(d, "vm", path, str),
        kind=kind,
        from_host=r.get(d, "from_host", path, str, nullable=True),
        to_host=r.get(d, "to_host", path, str, nullable=True),
        from_pool=r.get(d, "from_pool", path, str),
        to_pool=r.get(d, "to_pool", path, str),
        disks=tuple(disks),
        vifs=tuple(vifs),
        est_seconds=est if est is not None else 0,
        depends_on=tuple(x for x in deps if isinstance(x, str)),
        reason=r.get(d, "reason", path, str, nullable=True, default=None),
        start_s=r.seconds(d, "start_s", path),
        home_host=r.get(d, "home_host", path, str, nullable=True, default=None),
    )
    return m if len(r.errors) == n_before else None


def _unplaced(r: _Reader, doc: dict[str, Any]) -> list[Unplaced]:
    """The document's unplaced VMs (a faulty entry is reported and left out)."""
    unplaced = []
    for i, u in enumerate(r.get(doc, "unplaced", "plan", list, default=[]) or []):
        if not isinstance(u, dict):
            r.errors.append(f"unplaced[{i}]: must be an object")
            continue
        vm = r.get(u, "vm", f"unplaced[{i}]", str)
        reasons = _reasons(
            r, r.get(u, "reasons", f"unplaced[{i}]", list, default=[]), f"unplaced[{i}].reasons"
        )
        if vm is not None:
            unplaced.append(Unplaced(vm, reasons))
    return unplaced
