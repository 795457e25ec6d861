"""The event log behind `event.from`: numbered add/mod/del events per pool.

A token is the decimal id of the last event a client has seen; "" means "from the
beginning", answered with an `add` event for every existing object of the requested
classes. Waiting uses the simulator's condition variable, so `event.from` blocks a server
thread (the server is threaded) until an event arrives or the timeout passes.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from planner.sim.wire import XapiError

KEEP = 200_000  # events kept for late readers; older tokens simply see the retained tail


@dataclass(frozen=True)
class Event:
    id: int
    pool: str
    cls: str
    op: str  # add | mod | del
    ref: str
    snapshot: dict[str, Any]
    timestamp: float


class EventLog:
    def __init__(self) -> None:
        self.events: deque[Event] = deque(maxlen=KEEP)
        self.last_id = 0

    def emit(self, pool: str, cls: str, op: str, ref: str, snapshot: dict[str, Any]) -> None:
        self.last_id += 1
        self.events.append(Event(self.last_id, pool, cls, op, ref, dict(snapshot), time.time()))

    def since(self, pool: str, subs: list[tuple[str, str | None]], after: int) -> list[Event]:
        out = []
        for e in reversed(self.events):
            if e.id <= after:
                break
            if e.pool == pool and matches(subs, e.cls, e.ref):
                out.append(e)
        out.reverse()
        return out


def parse_classes(classes: Any) -> list[tuple[str, str | None]]:
    """["*"], ["vm", "task/OpaqueRef:..."] -> [(class lowercased, ref or None)]."""
    if not isinstance(classes, list):
        raise XapiError("EVENT_SUBSCRIPTION_PARSE_FAILURE", str(classes))
    out: list[tuple[str, str | None]] = []
    for c in classes:
        if not isinstance(c, str) or not c:
            raise XapiError("EVENT_SUBSCRIPTION_PARSE_FAILURE", str(c))
        cls, _, ref = c.partition("/")
        out.append((cls.lower(), ref or None))
    return out


def parse_token(token: Any) -> int | None:
    """None for "" (from the beginning), else the event id."""
    if token == "":
        return None
    try:
        return int(str(token))
    except ValueError:
        raise XapiError("EVENT_FROM_TOKEN_PARSE_FAILURE", str(token)) from None


def matches(subs: list[tuple[str, str | None]], cls: str, ref: str) -> bool:
    lc = cls.lower()
    return any((c == "*" or c == lc) and (r is None or r == ref) for c, r in subs)


def to_wire(e: Event) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "timestamp": f"{e.timestamp:.6f}",
        "class": e.cls.lower(),
        "operation": e.op,
        "ref": e.ref,
        "snapshot": e.snapshot,
    }
