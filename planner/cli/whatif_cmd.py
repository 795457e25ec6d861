"""`planner whatif`: scenario sweeps (N-1, N-k, rolling maintenance, growth)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import INVENTORY_HELP, load_inventory, split_refs
from planner.cli.options import (
    DMC_DEFAULT,
    HEADROOM_DEFAULT,
    check_headroom,
    dmc_option,
    headroom_option,
)
from planner.cli.output import FormatOption, Output, OutputOption, hms, plural
from planner.cli.progress import CountProgress, ProgressOption, enabled
from planner.errors import InputError


class Sweep(StrEnum):
    n_1 = "n-1"
    n_k = "n-k"
    maintenance = "maintenance"
    growth = "growth"


def register(app: typer.Typer) -> None:
    app.command("whatif")(whatif)


def whatif(
    inventory: Annotated[Path | None, typer.Argument(help=INVENTORY_HELP)] = None,
    scenario: Annotated[
        Sweep,
        typer.Option(
            "--scenario",
            "-s",
            help=(
                "n-1: every host fails in turn (can HA restart its VMs?); n-k: the --hosts fail "
                "together; maintenance: every host (or each of --hosts) is evacuated in turn; "
                "growth: VM memory grows by --step until a pool no longer fits."
            ),
        ),
    ] = Sweep.n_1,
    hosts: Annotated[
        list[str] | None,
        typer.Option(
            "--hosts",
            help=(
                "Hosts (names or uuids, comma-separated or repeated) to limit n-1/maintenance "
                "to, or the set that fails together for n-k."
            ),
            metavar="HOST[,HOST]",
        ),
    ] = None,
    step: Annotated[float, typer.Option(help="growth: memory growth per step (0.05 = 5%).")] = 0.05,
    max_factor: Annotated[float, typer.Option(help="growth: stop at this factor.")] = 3.0,
    headroom: Annotated[
        float, headroom_option("Share of each host's memory kept free.")
    ] = HEADROOM_DEFAULT,
    dmc: Annotated[bool, dmc_option("Count VMs at their dynamic minimum.")] = DMC_DEFAULT,
    solver: Annotated[str, typer.Option(help="maintenance: greedy or cpsat.")] = "greedy",
    time_limit: Annotated[float, typer.Option(help="maintenance: seconds per plan.")] = 10.0,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help=("Run the scenarios on this Dask scheduler (e.g. tcp://127.0.0.1:8786)."),
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            help=(
                "Local worker processes (default: one per CPU for CP-SAT maintenance sweeps and "
                "fleets over 20,000 VMs, else 1)."
            )
        ),
    ] = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    show_progress: ProgressOption = None,
) -> None:
    """Sweep what-if scenarios over an inventory; one row per scenario.

    Examples:

      planner whatif --scenario n-1

      planner whatif fleet.json -s maintenance --hosts xs-01,xs-02

      planner whatif fleet.json -s n-1 --dask tcp://127.0.0.1:8786 --format csv
    """
    from planner import whatif as wi
    from planner.options import PlanOptions

    out = Output.of(fmt, output)
    if processes is not None and processes < 1:
        raise InputError(f"--processes: must be at least 1, got {processes}")
    inv = load_inventory(inventory)
    check_headroom(headroom)
    opts = PlanOptions(headroom_fraction=headroom, dmc=dmc)
    host_refs = split_refs(hosts) or None
    bar = CountProgress("scenarios", enabled(show_progress))
    fanout: dict = {"processes": processes, "progress": bar}
    client = None
    if dask:
        client = _connect(dask)
        fanout = {"client": client, "progress": bar}
    try:
        with bar:
            if scenario is Sweep.n_1:
                df = wi.n_minus_1(inv, opts, hosts=host_refs, **fanout)
            elif scenario is Sweep.n_k:
                if not host_refs:
                    raise InputError("--scenario n-k needs --hosts (the hosts that fail together)")
                df = wi.n_minus_k(inv, [host_refs], opts, **fanout)
            elif scenario is Sweep.maintenance:
                if solver not in ("greedy", "cpsat"):
                    raise InputError(f"--solver: must be greedy or cpsat, got {solver!r}")
                df = wi.maintenance(
                    inv, opts, hosts=host_refs, solver=solver, time_limit=time_limit, **fanout
                )
            else:
                df = wi.growth(inv, opts, step=step, max_factor=max_factor)
    finally:
        if client is not None:
            client.close()
    _print(df, out)
    if not df.empty and not df["feasible"].all():
        raise typer.Exit(1)


def _connect(address: str):  # -> distributed.Client
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--dask needs the dask extra: pip install 'xen-planner[dask]'") from None
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError) as e:
        raise InputError(f"--dask {address}: cannot reach the scheduler ({e})") from None


def _print(df, out: Output) -> None:
    bad = int((~df["feasible"].astype(bool)).sum()) if not df.empty else 0
    verdict = f"{plural(len(df), 'scenario')}, {bad} infeasible"
    if out.fmt == "csv":
        out.write(df.to_csv(index=False))
        out.status(verdict)
        return
    if out.fmt == "json":
        out.write(df.to_json(orient="records", indent=1))
        out.status(verdict)
        return
    from rich.table import Table

    hidden = {"kind", "exact", "hosts", "factor", "vms" if "growth" in set(df["kind"]) else ""}
    shown = [c for c in df.columns if df[c].notna().any() and c not in hidden]
    from rich import box

    # at 80 columns a boxed table of ten columns folds every cell letter by letter: no
    # vertical rules, short headers, figures never wrap, only the free text does
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_lines=False, collapse_padding=True)
    headers = {
        "feasible": "ok",
        "unplaced": "unpl",
        "unplaced_vms": "unplaced VMs",
        "max_utilisation": "max util",
        "seconds": "length",
    }
    wrap = {"scenario": 8, "reasons": 9, "unplaced_vms": 9}  # min widths of free text
    for c in shown:
        table.add_column(
            headers.get(c, c),
            overflow="fold",
            no_wrap=c not in wrap,
            min_width=wrap.get(c),
            justify="right" if c in ("vms", "unplaced", "waves", "seconds") else "left",
        )
    for _, row in df.iterrows():
        cells = []
        for c in shown:
            v = row[c]
            if c == "feasible":
                cells.append("[green]yes[/]" if v else "[red]no[/]")
            elif c == "max_utilisation" and v == v:
                cells.append(f"{v:.0%}")
            elif c == "seconds" and v == v and v is not None:
                cells.append(hms(v))  # a campaign's length reads as h:mm:ss
            else:
                cells.append("" if v is None or v != v else str(v))
        table.add_row(*cells)

    def render(console) -> None:
        console.print(table)
        console.print(verdict)

    out.table(render)
