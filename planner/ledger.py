"""One capacity ledger: "does this fit at this instant", and the accounting of starts and
ends (FORMATS.md replay rules 1-4 and 14).

The CORE here is numbers only. A `Ledger` holds, per hashable key, a capacity and a
usage; a change to it is a `Delta`, a tuple of `(key, amount)` pairs (amounts may be
negative: an end frees memory on the source host). The caller chooses the keys and the
units: the inventory adapter below uses `("mem", host_uuid)`, `("sr", sr_uuid)`,
`("pool", pool_uuid)`, ... in bytes and counts; the solvers may use plain integer
indexes in their MiB units (use two ledgers, or disjoint ranges, so a host index and an
SR index do not collide).

A migration is two deltas: `start` (what it takes when it starts: memory on the target
host, 3x/2x SR reservations, a slot) and `end` (what changes when it ends: the
reservations go back, the memory leaves the source host, the disks' used bytes move,
the slot is free again). A ledger answers:

- `fits(delta)` -> bool: every key the delta *raises* stays within its capacity
  (a key the delta lowers, or leaves at 0, never blocks);
- `shortfalls(delta)` -> the keys that would go over, with need and free (empty tuple
  when it fits; no allocation on that path);
- `apply(delta)` / `undo(delta)`: book the change / take it back (a failed migration
  gives back its start);
- `best_free(keys)`: the most free amount over some keys (rule 4: some enabled host of
  the pool has room for a halted VM while its disks move).

Slots are keys too: a pool's slot key has capacity `max_per_pool`, a migration's start
delta adds 1 and its end delta takes it away (`slot_capacities` fills those keys).

Conventions, chosen for speed (the solvers call `fits` ~10^6 times):
- Deltas carry each key at most once: build them with `merge()`, once per migration,
  and reuse them. `fits` then is one dict lookup or two per pair, no allocation.
- A key without a capacity is not limited (its usage is still kept, so a capacity set
  later sees it). Capacities may be lowered below usage (an overcommitted host): such a
  key then refuses any raise, and accepts lowering.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

Key = Hashable
Delta = tuple[tuple[Key, int], ...]

NO_SHORTFALL: tuple[Shortfall, ...] = ()


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A key a delta would push over its capacity: `need` is the raise asked for,
    `free` what was free before it (capacity - usage, may be negative)."""

    key: Key
    need: int
    free: int


def merge(pairs: Iterable[tuple[Key, int]]) -> Delta:
    """A delta from `(key, amount)` pairs, each key once (amounts summed, zeros
    dropped), keys in first-seen order so messages come out in a stable order."""
    acc: dict[Key, int] = {}
    for k, n in pairs:
        acc[k] = acc.get(k, 0) + n
    return tuple((k, n) for k, n in acc.items() if n)


def negate(delta: Delta) -> Delta:
    """The delta that takes `delta` back."""
    return tuple((k, -n) for k, n in delta)


class Ledger:
    """Capacities and usage per key (see the module docstring). Mutable on purpose: it is
    the moving state of a replay, a scheduler or a live run. Not thread-safe."""

    __slots__ = ("cap", "used")

    def __init__(
        self, capacity: Mapping[Key, int] | None = None, used: Mapping[Key, int] | None = None
    ) -> None:
        self.cap: dict[Key, int] = dict(capacity or {})
        self.used: dict[Key, int] = dict(used or {})

    # ---------------------------------------------------------------- setup
    def set_capacity(self, key: Key, capacity: int | None) -> None:
        """Limit `key` to `capacity` (None: no limit)."""
        if capacity is None:
            self.cap.pop(key, None)
        else:
            self.cap[key] = capacity

    def copy(self) -> Ledger:
        """An independent ledger with the same capacities and usage (a what-if)."""
        out = Ledger.__new__(Ledger)
        out.cap = dict(self.cap)
        out.used = dict(self.used)
        return out

    # ---------------------------------------------------------------- queries
    def free(self, key: Key) -> int | None:
        """Capacity - usage of `key`, or None when it is not limited."""
        c = self.cap.get(key)
        return None if c is None else c - self.used.get(key, 0)

    def fits(self, delta: Delta) -> bool:
        """True when every raise in `delta` stays within its key's capacity."""
        cap = self.cap
        used = self.used
        for k, n in delta:
            if n > 0:
                c = cap.get(k)
                if c is not None and used.get(k, 0) + n > c:
                    return False
        return True

    def shortfalls(self, delta: Delta) -> tuple[Shortfall, ...]:
        """Every key `delta` would push over its capacity (empty when it fits)."""
        if self.fits(delta):
            return NO_SHORTFALL
        cap = self.cap
        used = self.used
        out = []
        for k, n in delta:
            if n > 0:
                c = cap.get(k)
                if c is not None and used.get(k, 0) + n > c:
                    out.append(Shortfall(k, n, c - used.get(k, 0)))
        return tuple(out)

    def best_free(self, keys: Iterable[Key]) -> int | None:
        """The most free (capacity - usage) over `keys`; None when one of them is not
        limited (there is always room) or `keys` is empty (the caller decides)."""
        cap = self.cap
        used = self.used
        best: int | None = None
        for k in keys:
            c = cap.get(k)
            if c is None:
                return None
            f = c - used.get(k, 0)
            if best is None or f > best:
                best = f
        return best

    # ---------------------------------------------------------------- changes
    def apply(self, delta: Delta) -> None:
        """Book `delta` (a start or an end). It is not checked: call `fits` first."""
        used = self.used
        for k, n in delta:
            used[k] = used.get(k, 0) + n

    def undo(self, delta: Delta) -> None:
        """Take back an applied `delta` (a failed start gives back what it took)."""
        used = self.used
        for k, n in delta:
            used[k] = used.get(k, 0) - n


def slot_capacities(ledger: Ledger, keys: Iterable[Key], limit: int | None) -> None:
    """Give every key of `keys` (pools, or hosts) the slot capacity `limit` (None: none)."""
    for k in keys:
        ledger.set_capacity(k, limit)
