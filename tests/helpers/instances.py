"""The named instances of tests/data/instances/: small fleets whose best plan is known.

Each `<name>.json` there is a v2 inventory file (what `planner solve --inventory` reads,
written by `planner.inventory.save`); `index.json` gives, per name, the plan's goal and
options (FORMATS.md JSON; options at their defaults are left out) and the known answer,
derived by hand in its `why`:

- `seconds`: the optimal schedule length (`estimate.seconds`, flow mode) of a plan that
  leaves `unplaced` VMs unplaced, with the default duration model (docs/durations.md);
- `waves`: the fewest lock-step waves such a plan can have;
- `unplaced`: how many VMs no plan can place;
- `status`: what CP-SAT's plan reports (OPTIMAL unless the lower bounds cannot prove the
  optimum, or a VM is unplaced: the `why` says which).

`instance(name)` loads one; `python -m tests.helpers.instances` lists them. How to add
one: tests/README.md "Named instances".
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.goals import Goal, goal_from_json
from planner.inventory import load
from planner.inventory.model import Inventory
from planner.options import PlanOptions
from planner.plan import Plan
from planner.status import Status

DIR = Path(__file__).resolve().parents[1] / "data" / "instances"
INDEX = DIR / "index.json"
KEYS = ("goal", "options", "seconds", "waves", "unplaced", "status", "why")


@dataclass(frozen=True)
class NamedInstance:
    """One named instance and its known answer (module docstring). `seconds` in whole
    seconds of the default duration model."""

    name: str
    inv: Inventory
    goal: Goal
    options: PlanOptions
    seconds: int
    waves: int
    unplaced: int
    status: Status
    why: str

    @property
    def path(self) -> Path:
        """The inventory file, for tests that run the command line on it."""
        return DIR / f"{self.name}.json"


@functools.cache
def manifest() -> dict[str, dict[str, Any]]:
    """index.json: name -> goal, options, seconds, waves, unplaced, status, why."""
    doc: dict[str, dict[str, Any]] = json.loads(INDEX.read_text(encoding="utf-8"))
    return doc


def names() -> list[str]:
    """Every name in the manifest, sorted."""
    return sorted(manifest())


@functools.cache
def instance(name: str) -> NamedInstance:
    """The named instance `name` (a key of index.json; its file is `<name>.json`)."""
    entry = manifest()[name]
    inv = load(DIR / f"{name}.json")
    return NamedInstance(
        name=name,
        inv=inv,
        goal=goal_from_json(entry["goal"], inv, f"{INDEX.name}: {name}.goal"),
        options=PlanOptions.from_json(entry["options"]),
        seconds=int(entry["seconds"]),
        waves=int(entry["waves"]),
        unplaced=int(entry["unplaced"]),
        status=Status(entry["status"]),
        why=str(entry["why"]),
    )


def bound_seconds(plan: Plan) -> int:
    """The plan's proven lower bound on its schedule length (`bounds.seconds`). The one
    place the tests of the named instances read the plan's bounds."""
    assert plan.bounds.seconds is not None, "the plan states no bound"
    return plan.bounds.seconds


def bound_waves(plan: Plan) -> int:
    """The plan's proven lower bound on its number of waves (`bounds.waves`)."""
    assert plan.bounds.waves is not None, "the plan states no bound"
    return plan.bounds.waves


def main(out: Any = sys.stdout) -> None:
    """Print one line per named instance: name, VMs, goal kind, the known answer."""
    for name in names():
        x = instance(name)
        n = len(x.inv.vms)
        print(
            f"{name:24} {n:2} VM{'' if n == 1 else 's'}  {x.goal.to_json()['kind']:10} "
            f"{x.seconds:4} s  {x.waves} wave{'' if x.waves == 1 else 's'}  "
            f"{x.unplaced} unplaced  {x.status}",
            file=out,
        )


if __name__ == "__main__":
    main()
