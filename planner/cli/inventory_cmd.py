"""`planner inventory show|validate`, `planner generate` and `planner schema`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cli.common import INVENTORY_HELP
from planner.cli.output import FormatOption, Output, OutputOption, is_stdout
from planner.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

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
    fmt: FormatOption = "table",
    output: OutputOption = None,
) -> None:
    """Check INV against the inventory format: types, enums, references, power states.

    Prints "ok: N pools, N hosts, N VMs" and any warnings (exit 0), or one line per
    fault with its JSON path (exit 2), e.g. "vms[12].disks[0].sr: no SR with uuid ...".

    Example: planner inventory validate fleet.json
    """
    out = Output.of(fmt, output)
    # counting needs no model: skipping it halves the time on a 100,000-VM file
    _, doc, report = _read_checked(inventory)
    counts = {k: len(doc[k]) for k in ("pools", "hosts", "srs", "networks", "vms")}
    line = f"ok: {counts['pools']} pools, {counts['hosts']} hosts, {counts['vms']} VMs"

    def table(con: Console) -> None:
        con.print(line, markup=False, highlight=False)
        for w in report.warnings:
            con.print(f"warning: {w}", markup=False, highlight=False, soft_wrap=True)

    out.emit(
        doc=lambda: {"ok": True, **counts, "warnings": list(report.warnings)},
        rows=lambda: [{"warning": w} for w in report.warnings],
        columns=("warning",),
        table=table,
    )
    if out.is_data:
        out.status(line)


@inventory_app.command("show")
def show(
    inventory: Annotated[
        Path | None, typer.Argument(help=INVENTORY_HELP, show_default=False)
    ] = None,
    show_all: Annotated[
        bool,
        typer.Option("--all", help=f"Print every row (default: the first {ROWS} of each table)."),
    ] = False,
    table: Annotated[
        str,
        typer.Option(
            "--table",
            metavar="pools|hosts|srs|networks|vms",
            help="--format csv: which table to print (json has them all).",
        ),
    ] = "hosts",
    fmt: FormatOption = "table",
    output: OutputOption = None,
) -> None:
    """A summary of INV: pools, hosts (memory committed / free), SRs, networks, VMs.

    VMs are counted by power state and by exclusion code (what stops a live or a
    storage migration: HA_PROTECTED, SRIOV, PCI, VGPU, ON_BOOT_RESET, NO_TOOLS, CBT,
    MCS). Validation warnings come last.

    Examples: planner inventory show;  planner inventory show fleet.json --all;
    planner inventory show fleet.json --format csv --table vms -o vms.csv
    """
    from planner.cli import inventory_view as view

    out = Output.of(fmt, output)
    if table not in view.TABLES:
        raise InputError(f"--table: must be one of {', '.join(view.TABLES)}, got {table!r}")
    inv, report = _load_checked(inventory)
    # piped output (files, tests) gets a fixed width wide enough for the host table
    out.emit(
        doc=lambda: view.document(inv, report.warnings),
        rows=lambda: view.rows(inv, table),
        columns=view.COLUMNS[table],
        table=lambda con: view.render(con, inv, report.warnings, None if show_all else ROWS),
    )
    if out.is_data:
        out.status(
            f"{len(inv.pools)} pools, {len(inv.hosts)} hosts, {len(inv.vms)} VMs"
            + (f", {len(report.warnings)} warning(s)" if report.warnings else "")
        )


GENERATE_MAX_HOSTS = 100_000  # 2.5 times the largest benchmark fleet
GENERATE_MAX_VMS = 1_000_000


def generate(
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help="File to write (required; '-': stdout).",
            show_default=False,
        ),
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

    problems = [
        f"--{name}: must be a positive integer, got {n}"
        for name, n in (("pools", pools), ("hosts", hosts), ("vms", vms))
        if n < 1
    ]
    if pools * hosts > GENERATE_MAX_HOSTS or pools * vms > GENERATE_MAX_VMS:
        problems.append(
            f"--pools x --hosts / --vms: at most {GENERATE_MAX_HOSTS:,} hosts and "
            f"{GENERATE_MAX_VMS:,} VMs in all, asked {pools * hosts:,} hosts and "
            f"{pools * vms:,} VMs"
        )
    if output is None:
        problems.append("-o/--output: required (the file to write)")
    if problems:
        raise (
            InputError(problems[0]) if len(problems) == 1 else InputError("bad arguments", problems)
        )
    assert output is not None
    t0 = time.perf_counter()
    doc = make(pools, hosts, vms, seed)
    # big fleets are written compactly; small ones indented for people to read
    indent = None if len(doc["vms"]) > 5000 else 1
    if is_stdout(output):
        import json

        typer.echo(json.dumps(doc, indent=indent, ensure_ascii=False))
    else:
        write_json(output, doc, indent=indent)
    took = time.perf_counter() - t0
    where = "stdout" if is_stdout(output) else output
    typer.echo(
        f"wrote {where}: {len(doc['pools'])} pools, {len(doc['hosts'])} hosts, "
        f"{len(doc['vms'])} VMs in {took:.1f} s (seed {seed})",
        err=is_stdout(output),
    )


def schema(
    which: Annotated[
        str, typer.Argument(help="inventory or plan", metavar="inventory|plan", show_default=False)
    ],
    fmt: Annotated[
        str, typer.Option("--format", metavar="json", help="Output format (a schema is JSON).")
    ] = "json",
    output: OutputOption = None,
) -> None:
    """Print the JSON Schema (draft 2020-12) of an inventory or a plan file.

    The schema states shapes and types; references between objects are checked by
    `planner inventory validate` and `planner check`.

    Example: planner schema inventory -o inventory.schema.json
    """
    import json

    from planner.schema import SCHEMAS

    out = Output.of(fmt, output, allowed=("json",))
    make = SCHEMAS.get(which)
    if make is None:
        raise InputError(f"schema: choose one of {', '.join(SCHEMAS)}, got {which!r}")
    out.write(json.dumps(make(), indent=2))


def register(app: typer.Typer) -> None:
    """Add `inventory show|validate`, `generate` and `schema` to `app`."""
    app.add_typer(inventory_app)
    app.command("generate")(generate)
    app.command("schema")(schema)
