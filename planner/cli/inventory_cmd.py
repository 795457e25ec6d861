"""`planner inventory show|validate`, `planner generate` and `planner schema`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cli.common import INVENTORY_HELP
from planner.errors import InputError

if TYPE_CHECKING:
    from planner.inventory.model import Inventory
    from planner.inventory.validate import ValidationReport

inventory_app = typer.Typer(
    name="inventory",
    help="Look at and check an inventory snapshot.\n\n"
    "Examples: planner inventory show;  planner inventory validate fleet.json",
    no_args_is_help=True,
)

ROWS = 40  # rows per table that `show` prints unless --all


def _read_checked(path: Path | None) -> tuple[Path, dict[str, Any], ValidationReport]:
    """Read and validate `path` (None: the bundled sample); errors raise InputError."""
    from planner.inventory.io import read_json
    from planner.inventory.samples import sample_path
    from planner.inventory.validate import validate_document

    p = path if path is not None else sample_path()
    doc = read_json(p, "inventory")
    report = validate_document(doc)
    if report.errors:
        n = len(report.errors)
        raise InputError(f"{p}: {n} problem{'s' if n != 1 else ''}", report.errors)
    return p, doc, report


def _load_checked(path: Path | None) -> tuple[Inventory, ValidationReport]:
    from planner.inventory.io import from_dict

    p, doc, report = _read_checked(path)
    return from_dict(doc, validate=False, where=str(p)), report


@inventory_app.command("validate")
def validate(
    inventory: Annotated[
        Path | None, typer.Argument(help=INVENTORY_HELP, show_default=False)
    ] = None,
) -> None:
    """Check INV against the inventory format: types, enums, references, power states.

    Prints "ok: N pools, N hosts, N VMs" and any warnings (exit 0), or one line per
    fault with its JSON path (exit 2), e.g. "vms[12].disks[0].sr: no SR with uuid ...".

    Example: planner inventory validate fleet.json
    """
    # counting needs no model: skipping it halves the time on a 100,000-VM file
    _, doc, report = _read_checked(inventory)
    typer.echo(f"ok: {len(doc['pools'])} pools, {len(doc['hosts'])} hosts, "
               f"{len(doc['vms'])} VMs")  # fmt: skip
    for w in report.warnings:
        typer.echo(f"warning: {w}")


@inventory_app.command("show")
def show(
    inventory: Annotated[
        Path | None, typer.Argument(help=INVENTORY_HELP, show_default=False)
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help=f"Print every row (default: the first {ROWS} "
                           "of each table).")
    ] = False,
) -> None:
    """A summary of INV: pools, hosts (memory committed / free), SRs, networks, VMs.

    VMs are counted by power state and by exclusion code (what stops a live or a
    storage migration: HA_PROTECTED, SRIOV, PCI, VGPU, ON_BOOT_RESET, NO_TOOLS, CBT,
    MCS). Validation warnings come last.

    Examples: planner inventory show;  planner inventory show fleet.json --all
    """
    import sys

    from planner.cli.inventory_view import render
    from planner.terminal import SafeConsole as Console  # names from XAPI: no markup or ESC

    inv, report = _load_checked(inventory)
    # piped output (files, tests) gets a fixed width wide enough for the host table
    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 120)
    render(console, inv, report.warnings, None if show_all else ROWS)


GENERATE_MAX_HOSTS = 100_000  # 2.5 times the largest benchmark fleet
GENERATE_MAX_VMS = 1_000_000


def generate(
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="File to write (required).", show_default=False),
    ] = None,
    pools: Annotated[int, typer.Option("--pools", help="Number of pools.")] = 3,
    hosts: Annotated[int, typer.Option("--hosts", help="Hosts in each pool.")] = 8,
    vms: Annotated[int, typer.Option("--vms", help="VMs in each pool.")] = 150,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same file.")] = 0,
) -> None:
    """Write a realistic synthetic fleet (an inventory file) for trying things out.

    Counts are per pool: --pools 100 --hosts 16 --vms 400 makes 1,600 hosts and 40,000
    VMs. Pools differ in age (8.2.1 with and without XS82ECU1033, 8.4.0), CPU
    generation (Intel and AMD), HA, SR-IOV and HTTPS-only; a few % of VMs carry each
    exclusion; hosts are 55-80% full. docs/inventory.md lists the distributions.

    Example: planner generate --pools 10 --hosts 16 --vms 400 --seed 1 -o fleet.json
    """
    import time

    from planner.inventory.generate import generate as make
    from planner.inventory.io import write_json

    problems = [f"--{name}: must be a positive integer, got {n}"
                for name, n in (("pools", pools), ("hosts", hosts), ("vms", vms)) if n < 1]
    if pools * hosts > GENERATE_MAX_HOSTS or pools * vms > GENERATE_MAX_VMS:
        problems.append(f"--pools x --hosts / --vms: at most {GENERATE_MAX_HOSTS:,} hosts and "
                        f"{GENERATE_MAX_VMS:,} VMs in all, asked {pools * hosts:,} hosts and "
                        f"{pools * vms:,} VMs")  # fmt: skip
    if output is None:
        problems.append("-o/--output: required (the file to write)")
    if problems:
        raise InputError(problems[0]) if len(problems) == 1 else InputError(
            "bad arguments", problems)  # fmt: skip
    assert output is not None
    t0 = time.perf_counter()
    doc = make(pools, hosts, vms, seed)
    # big fleets are written compactly; small ones indented for people to read
    write_json(output, doc, indent=None if len(doc["vms"]) > 5000 else 1)
    took = time.perf_counter() - t0
    typer.echo(f"wrote {output}: {len(doc['pools'])} pools, {len(doc['hosts'])} hosts, "
               f"{len(doc['vms'])} VMs in {took:.1f} s (seed {seed})")  # fmt: skip


def schema(
    which: Annotated[str, typer.Argument(help="inventory or plan", metavar="inventory|plan",
                                         show_default=False)],
) -> None:
    """Print the JSON Schema (draft 2020-12) of an inventory or a plan file.

    The schema states shapes and types; references between objects are checked by
    `planner inventory validate` and `planner check`.

    Example: planner schema inventory > inventory.schema.json
    """
    import json

    from planner.schema import SCHEMAS

    make = SCHEMAS.get(which)
    if make is None:
        raise InputError(f"schema: choose one of {', '.join(SCHEMAS)}, got {which!r}")
    typer.echo(json.dumps(make(), indent=2))


def register(app: typer.Typer) -> None:
    """Add `inventory show|validate`, `generate` and `schema` to `app`."""
    app.add_typer(inventory_app)
    app.command("generate")(generate)
    app.command("schema")(schema)
