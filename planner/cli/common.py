"""Helpers shared by CLI commands: inventory arguments, output, option parsing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.inventory.model import Inventory

INVENTORY_HELP = "Inventory JSON file (default: the bundled sample inventory)."


def load_inventory(path: Path | None) -> Inventory:
    """Load `path`, or the bundled sample when it is None; errors raise InputError."""
    from planner.inventory import load, sample_path

    return load(path if path is not None else sample_path())


def split_refs(values: list[str] | None) -> list[str]:
    """`--opt a,b --opt c` -> ["a", "b", "c"] (blank items dropped)."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out
