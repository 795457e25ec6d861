"""Inventory snapshot: domain model, JSON load/save, validation, digest, bundled samples."""

from planner.inventory.io import digest, from_dict, load, save, to_dict
from planner.inventory.model import (
    SR,
    VM,
    Cpu,
    Disk,
    Host,
    Inventory,
    Network,
    Pool,
    Vif,
)
from planner.inventory.samples import sample_path

__all__ = [
    "SR",
    "VM",
    "Cpu",
    "Disk",
    "Host",
    "Inventory",
    "Network",
    "Pool",
    "Vif",
    "digest",
    "from_dict",
    "load",
    "sample_path",
    "save",
    "to_dict",
]
