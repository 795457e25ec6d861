"""Keys of a plan document this version does not know, kept so that load -> save keeps
them (FORMATS.md: readers ignore unknown keys). One definition for the typed parts of a
plan's header that carry them: every goal, `PlanOptions`, `SolverInfo` and `Figures`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import field
from typing import Any


def extra_field() -> Any:
    """The `extra` field of a dataclass read from a document: the unknown keys in the
    document's order (a plain dict, read-only by convention, so that it pickles). Left
    out of ==, hash and repr: two values that say the same thing are equal."""
    return field(default_factory=dict, kw_only=True, compare=False, repr=False)


def unknown_keys(d: Mapping[str, Any], known: Collection[str]) -> dict[str, Any]:
    """The items of document object `d` whose keys are not in `known`."""
    return {k: v for k, v in d.items() if k not in known}


def with_extra(out: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`out` (the known keys, as `to_json` writes them) followed by the unknown keys the
    value was read with; a known key always wins."""
    return {**out, **{k: v for k, v in extra.items() if k not in out}}
