"""xen-planner: placement and planning for XenServer / Citrix Hypervisor migration campaigns.

The public Python API (names resolve lazily, so importing `planner` stays cheap):

    import planner
    inv = planner.load_inventory(planner.sample_path())
    plan = planner.solve(inv, planner.Evacuate((inv.find("host", "xs-02"),)))
    report = planner.check(inv, plan)
    planner.explain(inv, "db-01")
    bigger = planner.add_hosts(inv, like="xs-01", count=2)
    planner.whatif.n_minus_1(bigger)
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute); None attribute means the module itself
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "load_inventory": ("planner.inventory.io", "load"),
    "save_inventory": ("planner.inventory.io", "save"),
    "inventory_digest": ("planner.inventory.io", "digest"),
    "sample_path": ("planner.inventory.samples", "sample_path"),
    "Inventory": ("planner.inventory.model", "Inventory"),
    "Builder": ("planner.inventory.builder", "Builder"),
    "load_plan": ("planner.plan", "load"),
    "save_plan": ("planner.plan", "save"),
    "Plan": ("planner.plan", "Plan"),
    "PlanOptions": ("planner.options", "PlanOptions"),
    "DurationModel": ("planner.durations", "DurationModel"),
    "Evacuate": ("planner.goals", "Evacuate"),
    "MovePool": ("planner.goals", "MovePool"),
    "RetireSR": ("planner.goals", "RetireSR"),
    "Rebalance": ("planner.goals", "Rebalance"),
    "Target": ("planner.goals", "Target"),
    "solve": ("planner.solve", "solve"),
    "check": ("planner.check", "check_plan"),
    "explain": ("planner.explain", "explain"),
    "remove_hosts": ("planner.scenarios", "remove_hosts"),
    "add_hosts": ("planner.scenarios", "add_hosts"),
    "disable_hosts": ("planner.scenarios", "disable_hosts"),
    "grow_memory": ("planner.scenarios", "grow_memory"),
    "whatif": ("planner.whatif", None),
    "plots": ("planner.plots", None),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'planner' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


# `planner.solve`, `planner.check` and `planner.explain` are functions, but submodules of
# the same names exist: importing one (the CLI does, and `from planner.solve import ...`)
# makes the import system set the package attribute to the *module*, and
# `planner.solve(inv, goal)` then failed with "'module' object is not callable". A
# property on the package's class wins over that attribute and ignores the assignment.
_SHADOWED = ("solve", "check", "explain")


class _Package(types.ModuleType):
    pass


def _function_property(name: str) -> property:
    def get(self: types.ModuleType) -> Any:
        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(module), str(attr))

    def set_(self: types.ModuleType, value: Any) -> None:
        pass  # the submodule stays reachable as sys.modules["planner.<name>"]

    return property(get, set_)


for _name in _SHADOWED:
    setattr(_Package, _name, _function_property(_name))
    globals().pop(_name, None)
sys.modules[__name__].__class__ = _Package
