"""Fault injection specs (`--fault`), parsed once and validated with one line per bad item.

Grammar (docs/simulator.md has examples):

- `<vm name or uuid>:<CODE>`  the VM's next migration fails mid-way with CODE
  (e.g. VM_MIGRATE_FAILED, MIRROR_FAILED, HOST_OFFLINE).
- `<vm name or uuid>:STALL`   the VM's next migration task stalls at 50% until cancelled.
- `offline:<host>[@<sim s>]`  the host goes offline at that simulated second (default 0):
  its metrics say not live, migrations touching it fail with HOST_OFFLINE, and its URL
  drops connections without answering.
- `sessions:<wall s>`         every session expires that many wall-clock seconds after
  login (SESSION_INVALID; the XenAPI client logs in again by itself).
- `expire@<sim s>`            every session open at that simulated second is invalidated.
- `delay:<method>:<wall s>[:<count>]`  the method (e.g. VM.get_all_records, or `*`)
  answers only after that many seconds, `count` times (default: always), so a client
  with a shorter timeout times out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from planner.errors import InputError
from planner.inventory.model import Inventory

CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass
class Delay:
    method: str
    seconds: float
    remaining: int | None  # None: every call


@dataclass
class Faults:
    """Parsed faults. VM faults are consumed by the VM's next migration."""

    vm_codes: dict[str, list[str]] = field(default_factory=dict)  # vm uuid -> codes ("STALL")
    offline: list[tuple[str, float]] = field(default_factory=list)  # (host uuid, sim s)
    session_ttl: float | None = None  # wall seconds
    expire_at: list[float] = field(default_factory=list)  # sim seconds
    delays: list[Delay] = field(default_factory=list)

    def take_vm_fault(self, vm_uuid: str) -> str | None:
        codes = self.vm_codes.get(vm_uuid)
        return codes.pop(0) if codes else None

    def delay_for(self, method: str) -> float:
        """Seconds to hold this call (consumes a counted delay)."""
        for d in self.delays:
            if d.method in (method, "*") and (d.remaining is None or d.remaining > 0):
                if d.remaining is not None:
                    d.remaining -= 1
                return d.seconds
        return 0.0


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value) or value > 10**9:
        raise ValueError(f"{what} must be a finite number of at most 1e9, got {text}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {text}")
    return value


def parse_faults(specs: list[str] | tuple[str, ...], inv: Inventory) -> Faults:
    """Parse every spec; raise one InputError listing each bad one."""
    out = Faults()
    problems: list[str] = []
    for spec in specs:
        try:
            _parse_one(spec.strip(), inv, out)
        except ValueError as e:
            problems.append(f"--fault {spec!r}: {e}")
        except InputError as e:  # LookupFailed for unknown VM or host names
            problems.append(f"--fault {spec!r}: {e.message}")
    if problems:
        raise InputError(
            f"{len(problems)} bad fault spec{'s' if len(problems) > 1 else ''}", problems
        )
    return out


def _parse_one(spec: str, inv: Inventory, out: Faults) -> None:
    head, _, rest = spec.partition(":")
    if spec.startswith("expire@"):
        out.expire_at.append(_number(spec[len("expire@") :], "time"))
    elif head == "offline" and rest:
        host, _, at = rest.partition("@")
        out.offline.append((inv.find("host", host), _number(at, "time") if at else 0.0))
    elif head == "sessions" and rest:
        out.session_ttl = _number(rest, "session lifetime")
    elif head == "delay" and rest:
        parts = rest.split(":")
        if len(parts) not in (2, 3) or not parts[0]:
            raise ValueError("expected delay:<method>:<seconds>[:<count>]")
        count = int(_number(parts[2], "count")) if len(parts) == 3 else None
        out.delays.append(Delay(parts[0], _number(parts[1], "delay"), count))
    elif ":" in spec:
        vm, _, code = spec.rpartition(":")
        if not CODE_RE.match(code):
            raise ValueError(f"{code!r} is not a XAPI error code (e.g. VM_MIGRATE_FAILED) or STALL")
        out.vm_codes.setdefault(inv.find("vm", vm), []).append(code)
    else:
        raise ValueError(
            "expected <vm>:<CODE>, <vm>:STALL, offline:<host>[@s], "
            "sessions:<s>, expire@<s> or delay:<method>:<s>[:<n>]"
        )
