"""INTERIM stand-in for sched-core's ledger core (same interface, numbers only): replaced
by their planner/ledger.py when it lands on main."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

Key = Hashable
Delta = tuple[tuple[Key, int], ...]


def merge(pairs: Iterable[tuple[Key, int]]) -> Delta:
    acc: dict[Key, int] = {}
    for k, n in pairs:
        acc[k] = acc.get(k, 0) + n
    return tuple((k, n) for k, n in acc.items() if n)


class Ledger:
    __slots__ = ("cap", "used")

    def __init__(self, capacity: Mapping[Key, int] | None = None,
                 used: Mapping[Key, int] | None = None) -> None:  # fmt: skip
        self.cap: dict[Key, int] = dict(capacity or {})
        self.used: dict[Key, int] = dict(used or {})

    def set_capacity(self, key: Key, capacity: int | None) -> None:
        if capacity is None:
            self.cap.pop(key, None)
        else:
            self.cap[key] = capacity

    def free(self, key: Key) -> int | None:
        c = self.cap.get(key)
        return None if c is None else c - self.used.get(key, 0)

    def fits(self, delta: Delta) -> bool:
        for k, n in delta:
            if n > 0:
                c = self.cap.get(k)
                if c is not None and self.used.get(k, 0) + n > c:
                    return False
        return True

    def apply(self, delta: Delta) -> None:
        for k, n in delta:
            self.used[k] = self.used.get(k, 0) + n
