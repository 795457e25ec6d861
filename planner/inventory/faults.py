"""How inventory validation collects faults: the report, a checker with typed getters that
turn every bad value into one line naming its JSON path, and what pass 1 learns.

Shared by the two passes of `planner.inventory.validate` (shapes) and
`planner.inventory.validate_refs` (references and consistency).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from planner.limits import MAX_BYTES, bad_text

FEATURES_RE = re.compile(r"[0-9a-fA-F]{1,8}(-[0-9a-fA-F]{1,8})*")


@dataclass
class ValidationReport:
    """Faults of a document: `errors` make it unusable, `warnings` do not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def show(value: Any) -> str:
    """A short rendering of a bad value for a message."""
    text = repr(value) if isinstance(value, str) else _json_text(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


class Checker:
    """Collects faults; each `need_*` returns the value when it is valid, else None."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    # ---- typed getters: `d` is a dict, `path` the object's path

    def get(self, d: dict[str, Any], key: str, path: str) -> Any:
        if key not in d:
            self.err(f"{path}.{key}", "missing")
            return MISSING
        return d[key]

    def string(
        self,
        d: dict[str, Any],
        key: str,
        path: str,
        *,
        nullable: bool = False,
        nonempty: bool = False,
    ) -> str | None:
        v = self.get(d, key, path)
        if v is MISSING:
            return None
        if type(v) is str:
            if nonempty and not v:
                self.err(f"{path}.{key}", "must not be empty")
                return None
            why = bad_text(v, controls=False)
            if why is not None:
                # (a name XAPI gave may hold a newline; exports quote it, see export.py)
                self.err(f"{path}.{key}", why)
                return None
            return v
        if v is None and nullable:
            return None
        what = "a string or null" if nullable else "a string"
        self.err(f"{path}.{key}", f"must be {what}, got {show(v)}")
        return None

    def boolean(self, d: dict[str, Any], key: str, path: str) -> bool | None:
        v = self.get(d, key, path)
        if v is MISSING:
            return None
        if type(v) is bool:
            return v
        self.err(f"{path}.{key}", f"must be true or false, got {show(v)}")
        return None

    def integer(
        self, d: dict[str, Any], key: str, path: str, *, positive: bool = False
    ) -> int | None:
        """A non-negative (or positive) integer; bools and floats are refused."""
        v = self.get(d, key, path)
        if v is MISSING:
            return None
        if type(v) is int and (v > 0 if positive else v >= 0) and v <= MAX_BYTES:
            return v
        what = "a positive integer" if positive else "a non-negative integer"
        if type(v) is int and v > MAX_BYTES:
            what += " of at most 2**62"
        self.err(f"{path}.{key}", f"must be {what}, got {show(v)}")
        return None

    def enum(
        self,
        d: dict[str, Any],
        key: str,
        path: str,
        choices: tuple[str, ...],
        *,
        nullable: bool = False,
    ) -> str | None:
        v = self.get(d, key, path)
        if v is MISSING:
            return None
        if type(v) is str and v in choices:
            return v
        if v is None and nullable:
            return None
        opts = ", ".join(repr(c) for c in choices) + (" or null" if nullable else "")
        self.err(f"{path}.{key}", f"must be one of {opts}, got {show(v)}")
        return None

    def features(
        self, d: dict[str, Any], key: str, path: str, *, nullable: bool = False
    ) -> str | None:
        v = self.string(d, key, path, nullable=nullable)
        if v is not None and not FEATURES_RE.fullmatch(v):
            self.err(
                f"{path}.{key}",
                f"must be hex words joined by '-' (e.g. '1fcbfbff-f7fa3223'), got {show(v)}",
            )
            return None
        return v

    def list_of(self, d: dict[str, Any], key: str, path: str) -> list[Any] | None:
        v = self.get(d, key, path)
        if v is MISSING:
            return None
        if type(v) is list:
            return v
        self.err(f"{path}.{key}", f"must be a list, got {show(v)}")
        return None

    def strings(self, d: dict[str, Any], key: str, path: str) -> list[str]:
        """A list of strings; bad items are reported and dropped."""
        items = self.list_of(d, key, path)
        if items is None:
            return []
        out = []
        for i, x in enumerate(items):
            if type(x) is str:
                out.append(x)
            else:
                self.err(f"{path}.{key}[{i}]", f"must be a string, got {show(x)}")
        return out


class _Missing:
    pass


MISSING: Any = _Missing()


@dataclass
class Refs:
    """What pass 1 learned, for pass 2: uuid -> pool of each object kind."""

    pools: dict[str, int] = field(default_factory=dict)  # uuid -> index
    host_pool: dict[str, str | None] = field(default_factory=dict)
    sr_pool: dict[str, str | None] = field(default_factory=dict)
    net_pool: dict[str, str | None] = field(default_factory=dict)
    host_capacity: dict[str, int] = field(default_factory=dict)
    host_path: dict[str, str] = field(default_factory=dict)
    group_pool: dict[str, str | None] = field(default_factory=dict)  # (v2) VM groups
    seen: dict[str, str] = field(default_factory=dict)  # every uuid -> path of first owner
