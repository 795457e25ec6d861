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


class _Package(types.ModuleType):
    """Keeps `planner.solve`, `planner.check` and `planner.explain` the functions.

    Those public functions share their names with the submodules that define them
    (`planner/solve.py`, ...). When any code imports such a submodule (`from
    planner.check import check_plan`, as `planner.stepaside` does), the import system
    binds the submodule as an attribute of this package (`setattr(planner, "check",
    module)`), and `planner.check(inv, plan)` would then fail or not depending on what
    was imported first. A module `__getattr__` alone cannot help: it runs only for
    names that are *not* bound. So the package's class intercepts that one binding and
    stores the function instead. Renaming the modules would avoid this, at the price of
    every import path that names them. The modules themselves stay reachable by
    `from planner.check import ...`, `sys.modules` or `importlib.import_module`.
    (tests/test_api.py checks the functions survive the imports.)"""

    def __setattr__(self, name: str, value: Any) -> None:
        attr = _EXPORTS.get(name, ("", None))[1]
        if attr is not None and isinstance(value, types.ModuleType):
            value = getattr(value, attr)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
