"""`planner export`: a plan for other executors, as an `xe vm-migrate` script or a
runbook table (one row per migration and per host step)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from planner.cli.execute_options import _load_base
from planner.cli.output import FormatOption, Output
from planner.errors import InputError


def register(app: typer.Typer) -> None:
    """Add `export` to `app`."""
    app.command("export")(export)


def export(
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="Plan JSON file.")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="xe|csv|json",
            help="xe: a POSIX shell script of xe commands; csv or json: the runbook "
            "(same as --format).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", metavar="FILE", help="Output file (default or '-': stdout)."
        ),
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option("--inventory", help="The plan's inventory, for names in comments and CSV."),
    ] = None,
    password_env: Annotated[
        str,
        typer.Option("--password-env", help="Variable the script reads the password from."),
    ] = "XE_PASSWORD",
    user_env: Annotated[
        str, typer.Option("--user-env", help="Variable the script reads the user name from.")
    ] = "XE_USER",
    remote_password: Annotated[
        str,
        typer.Option(
            "--remote-password",
            help="env or prompt: where remote-password= of storage and halted moves comes "
            "from (xe has no file form for it, so it is in xe's argv; docs/security.md).",
        ),
    ] = "env",
    fmt: FormatOption = "table",
) -> None:
    """Write PLAN for other executors: an `xe vm-migrate` script or a runbook table.

    The script runs wave by wave (each wave's migrations in the background, then waits) and stops at the first failed wave. Set XE_PASSWORD and POOL_n_MASTER (listed at the top of the script) before running it; the password is never written to the file. The runbook (--format table|json|csv) has one row per migration and per host step, with uuids and names: the columns of `planner solve --format csv`.

    Example: planner export plan.json --to xe -o campaign.sh
    """  # noqa: E501
    from planner.cli.output import is_stdout
    from planner.execute.export import to_xe_script
    from planner.plan import load as load_plan
    from planner.rows import PLAN_COLUMNS, plan_rows

    if to is not None and to not in ("xe", "csv", "json"):
        raise InputError(f"--to: must be xe, csv or json, got {to!r}")
    if to in ("csv", "json"):
        fmt = to
    out = Output.of(fmt, output)
    plan = load_plan(plan_path)
    inv = _load_base(inventory, plan)
    if to != "xe":
        rows = plan_rows(plan, inv)

        def table(con: Any) -> None:
            from rich.table import Table

            from planner.cli.output import hms

            t = Table(header_style="bold")
            for col in ("wave", "id", "kind", "VM / host", "from", "to", "est"):
                t.add_column(col, justify="right" if col in ("wave", "est") else "left")
            for r in rows:
                what = r["vm_name"] or r["vm"] or r["from_host_name"] or r["from_host"]
                src = (
                    (r["from_host_name"] or r["from_host"] or r["from_pool_name"] or r["from_pool"])
                    if r["vm"]
                    else r["when"]
                )
                dst = (
                    r["to_host_name"]
                    or r["to_host"]
                    or r["to_pool_name"]
                    or r["to_pool"]
                    or r["to_version"]
                    or ""
                )
                t.add_row(
                    str(r["wave"]),
                    r["id"],
                    r["kind"],
                    what,
                    src,
                    dst,
                    hms(r["est_seconds"]) if r["est_seconds"] else "",
                )
            con.print(t)

        out.emit(doc=lambda: rows, rows=lambda: rows, columns=PLAN_COLUMNS, table=table)
        return
    text = to_xe_script(
        plan, inv, user_var=user_env, password_var=password_env, remote_password=remote_password
    )
    if is_stdout(output):
        typer.echo(text, nl=False)
        return
    assert output is not None
    output.write_text(text)
    output.chmod(0o755)
    typer.echo(f"wrote {output}", err=True)
