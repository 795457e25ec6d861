"""Option bundles that several commands share: one definition of each option's name,
metavar and default, and of its range check.

The commands word an option's help for their own context (docs/cli.md records each), so
a bundle takes the help text; what must not drift between commands (the flag, metavar,
default, the repeatable list type, the range) is defined here once.
"""

from __future__ import annotations

from typing import Any

import typer

from planner.errors import InputError
from planner.options import headroom_error

HEADROOM_DEFAULT = 0.0  # share of a host's memory kept free: none unless asked
DMC_DEFAULT = False


def headroom_option(help: str) -> Any:
    """`--headroom F`: the share of each host's memory kept free, 0 <= F < 1."""
    return typer.Option("--headroom", help=help)


def dmc_option(help: str) -> Any:
    """`--dmc`: count running VMs at their dynamic minimum memory."""
    return typer.Option("--dmc", help=help)


def network_map_option(help: str) -> Any:
    """`--network-map SRC=DST` (repeatable): a source network's target-pool network."""
    return typer.Option("--network-map", metavar="SRC=DST", help=help, show_default=False)


def migration_network_option(help: str) -> Any:
    """`--migration-network POOL=NETWORK` (repeatable): the storage-migration network."""
    return typer.Option(
        "--migration-network", metavar="POOL=NETWORK", help=help, show_default=False
    )


def check_headroom(headroom: float) -> float:
    """`headroom`, or InputError naming --headroom when it is outside 0 <= F < 1."""
    if why := headroom_error("--headroom", headroom):
        raise InputError(why)
    return headroom
