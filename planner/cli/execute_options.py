"""Options of `planner execute`, as shared typer bundles (one `Annotated` alias per
option, grouped by what they set), and the small helpers its modules share (the
journal's default path, the `--inventory` loader)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import DEFAULT_PASSWORD_ENV
from planner.errors import InputError
from planner.inventory.model import Inventory
from planner.plan import Plan

# ---------------------------------------------------------------- plan and journal

PlanArgument = Annotated[Path | None, typer.Argument(metavar="PLAN", help="Plan JSON file.")]
JournalOption = Annotated[
    Path | None,
    typer.Option("--journal", help="Journal file (default: PLAN.journal next to the plan)."),
]
InventoryOption = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        help="The inventory the plan was made from: enables the precise drift check "
        "of memory, free space and enabled hosts.",
    ),
]
StatusOption = Annotated[
    bool, typer.Option("--status", help="Show where the run recorded in --journal stands.")
]

# -------------------------------------------- connection (+ common's PoolOption, TLS)

UrlOption = Annotated[
    list[str] | None,
    typer.Option("--url", help="URL of a pool master (one per pool; repeat).", metavar="URL"),
]
UserOption = Annotated[str, typer.Option("-u", "--user", help="XAPI user name.")]
PasswordEnvOption = Annotated[
    str | None,
    typer.Option(
        "--password-env",
        help="Environment variable holding the password "
        f"(default {DEFAULT_PASSWORD_ENV}; else a prompt).",
    ),
]

# ---------------------------------------------------------------- the run (RunConfig)

ModeOption = Annotated[str, typer.Option("--mode", help="waves (lock-step) or flow.")]
MaxPerPoolOption = Annotated[
    int | None,
    typer.Option(
        "--max-per-pool",
        help="Migrations in flight per source pool (1..3); "
        "default: the plan's max_per_pool (this may only lower it).",
        show_default=False,
    ),
]
RetriesOption = Annotated[int, typer.Option("--retries", help="Retries of a transient fault.")]
BackoffOption = Annotated[
    float,
    typer.Option("--backoff", help="Seconds before the first retry (doubles each time)."),
]
PollOption = Annotated[
    float, typer.Option("--poll", help="Longest wait between task checks (seconds).")
]
StepPollOption = Annotated[
    float,
    typer.Option("--step-poll", help="Seconds between two looks at a host being upgraded."),
]
StepTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--step-timeout",
        help="Give up waiting for a host upgrade after this many seconds (exit 1; "
        "re-run to resume). Default: wait as long as it takes.",
    ),
]
SettleOption = Annotated[
    float,
    typer.Option(
        "--settle",
        help="On resume, how long after its intent a start call that may still be "
        "in transit is waited for before it is sent again (docs/reliability.md).",
    ),
]

# ---------------------------------------------------------------- what the run may do

DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Pre-flight and print what would happen; change nothing."),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
ReplanOption = Annotated[
    bool,
    typer.Option(
        "--replan",
        help="On drift, solve again from the live state (keeping what is done) and "
        "run the new plan (written next to PLAN, with its own journal).",
    ),
]
ReplanSolverOption = Annotated[
    str, typer.Option("--solver", help="Solver for --replan: cpsat or greedy.")
]
TimeLimitOption = Annotated[
    float, typer.Option("--time-limit", help="Seconds for --replan's solver.")
]


def _journal_path(plan_path: Path, journal: Path | None) -> Path:
    """--journal, else PLAN.journal next to the plan."""
    return journal if journal is not None else plan_path.with_name(plan_path.name + ".journal")


def _load_base(path: Path | None, plan: Plan | None = None) -> Inventory | None:
    """The `--inventory` file, if given; with `plan`, it must be the plan's inventory
    (names from another one would label the wrong VMs, or none at all)."""
    if path is None:
        return None
    from planner.inventory import digest, load

    inv = load(path)
    if plan is not None and digest(inv) != plan.inventory_digest:
        raise InputError(
            f"--inventory {path}: not the inventory the plan was made for "
            f"(digest {digest(inv)[:12]}, plan {plan.inventory_digest[:12]})"
        )
    return inv
