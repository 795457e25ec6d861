"""The inventories bundled with the package (installed with it, found from any directory)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLES = ("sample", "two-pools")


def sample_path(name: str = "sample") -> Path:
    """Path of a bundled inventory: "sample" (one pool) or "two-pools"."""
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; choose from {', '.join(SAMPLES)}")
    return Path(str(resources.files("planner") / "data" / f"{name}.json"))
