"""Helpers shared by CLI commands: inventory arguments, output, option parsing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from planner.errors import InputError

if TYPE_CHECKING:
    from planner.config import Config
    from planner.inventory.model import Inventory
    from planner.plan import Plan
    from planner.tls import Tls

CONFIG_KEY = "planner.config"  # where the --config callback keeps the loaded file (ctx.meta)

INVENTORY_HELP = "Inventory JSON file (default: the bundled sample inventory)."


def load_inventory(path: Path | None) -> Inventory:
    """Load `path`, or the bundled sample when it is None; errors raise InputError."""
    from planner.inventory import load, sample_path

    return load(path if path is not None else sample_path())


DEFAULT_PASSWORD_ENV = "XAPI_PASSWORD"


def read_password(var: str | None) -> str:
    """The XAPI password: from environment variable `var` (default XAPI_PASSWORD), else
    a hidden prompt on stderr. Never from an argument, so it stays out of argv."""
    import os

    import click
    import typer

    name = var or DEFAULT_PASSWORD_ENV
    value = os.environ.get(name)
    if value:
        return value
    if var is not None:
        raise InputError(f"--password-env: environment variable {name} is not set")
    # prompt (hidden on a terminal; a pipe works too); no input at all is an error
    import sys

    if not sys.stdin.isatty():
        # getpass on a pipe warns "Can not control echo" over three lines of stderr:
        # nothing is echoed from a pipe, so read the line directly
        line = sys.stdin.readline().rstrip("\r\n")
        if line:
            return line
        raise InputError(
            f"no password: set {name}, name a variable with --password-env, or pipe it on stdin"
        )
    try:
        return str(typer.prompt("XAPI password", hide_input=True, err=True))
    except (typer.Abort, click.exceptions.Abort, EOFError):
        raise InputError(
            f"no password: set {name}, name a variable with --password-env, or type it "
            "at the prompt"
        ) from None


def split_refs(values: list[str] | None) -> list[str]:
    """`--opt a,b --opt c` -> ["a", "b", "c"] (blank items dropped)."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def plan_status(plan: Plan) -> str:
    """The one-line status of a plan: solver, status, size, length, bound, unplaced."""
    from planner.cli.output import hms, plural

    s, est, b = plan.solver, plan.estimate, plan.bounds
    n = sum(len(w.migrations) for w in plan.waves)
    bound = f", lower bound {hms(b.seconds)}" if b.seconds is not None else ""
    return (
        f"plan: {plural(n, 'migration')}, schedule {hms(est.seconds or 0)} "
        f"({plural(est.waves or 0, 'wave')}){bound}; "
        f"{plural(len(plan.unplaced), 'VM')} "
        f"unplaced; {s.name or '?'} {s.status_label} in "
        f"{s.wall_seconds or 0:.2f} s"
    )


def emit_plan(
    inv: Inventory,
    plan: Plan,
    fmt: str,
    output: Path | None,
    table: Callable[[Inventory, Plan, Path | None], None],
) -> NoReturn:
    """Save `plan` to `output` (if given; `-`: the plan on stdout, as csv with --format
    csv, else as its JSON document), print it
    as `fmt` (json: the plan document, csv: `planner.rows`, or `table`), and exit 1 when
    VMs are unplaced, else 0. With data on stdout the status line goes to stderr."""
    import typer

    from planner.cli.output import Output, is_stdout
    from planner.plan import save, to_dict
    from planner.rows import PLAN_COLUMNS, plan_rows

    if output is not None and is_stdout(output):
        # `-o -`: the plan is stdout's data: its JSON document, or the csv rows
        fmt, output = ("csv" if fmt == "csv" else "json"), None
    if output is not None:
        save(plan, output)
    out = Output(fmt)
    if fmt == "table":
        table(inv, plan, output)
    else:

        def doc() -> dict[str, Any]:
            from planner.advice import restart_advice

            # added key (docs/plan-extensions.md): derived from the plan, not saved with it
            return {
                **to_dict(plan),
                "restart_advice": [a.to_json() for a in restart_advice(inv, plan)],
            }

        out.emit(
            doc=doc, rows=lambda: plan_rows(plan, inv), columns=PLAN_COLUMNS, table=lambda _c: None
        )
        out.status(plan_status(plan))
        if output is not None:
            out.status(f"plan written to {output}")
    raise typer.Exit(1 if plan.unplaced else 0)


# ---------------------------------------------------------------- pools and credentials


def current_config() -> Config:
    """The config file the `planner --config` callback loaded (an empty one outside)."""
    try:  # typer 0.2x runs commands under its vendored click, with its own context stack
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click import get_current_context  # type: ignore[no-redef]  # same API, other click

    from planner.config import Config

    ctx = get_current_context(silent=True)
    found = ctx.meta.get(CONFIG_KEY) if ctx is not None else None
    return found if isinstance(found, Config) else Config()


def tls_option_value(insecure: bool, ca_file: Path | None, fingerprint: str | None) -> Tls:
    """The `Tls` of the command line's --insecure / --ca-file / --fingerprint."""
    from planner.tls import Tls, normalize_fingerprint

    fp = normalize_fingerprint(fingerprint) if fingerprint is not None else None
    return Tls(insecure=insecure, ca_file=ca_file, fingerprint=fp)


PoolAccess = tuple[list[str], str, str, dict[str, "Tls"]]


def pool_access(
    urls: list[str],
    pools: list[str],
    user: str,
    password_env: str | None,
    cli_tls: Tls,
    *,
    url_option: str,
) -> PoolAccess:
    """URLs, user, password and per-URL TLS for `collect`/`execute`.

    URLs given on the command line use --user, --password-env and the TLS options; each
    `--pool NAME` (or, when neither is given, every pool of the config file) brings its
    own URL, user, password source and TLS. One run logs in to every pool with one user
    and password (cross-pool migrations need them on both ends), so pools that resolve
    to different ones are refused with one line.
    """
    from planner.config import password_for
    from planner.inventory.collect import normalize_url
    from planner.tls import url_key

    conf = current_config()
    entries = conf.select(pools) if pools or not urls else []
    if not urls and not entries:
        where = f"{conf.path}" if conf.path else "no config file found"
        raise InputError(f"no pool: give {url_option} or --pool NAME ({where} names no pools)")
    tls: dict[str, Tls] = {}
    all_urls: list[str] = []
    users: dict[str, str] = {}
    for u in urls:
        n = normalize_url(u)
        tls[url_key(n)] = cli_tls
        all_urls.append(n)
        users[u] = user
    sources: dict[str, str | None] = {}
    from planner.tls import Tls

    for e in entries:
        n = normalize_url(e.url)
        all_urls.append(n)
        tls[url_key(n)] = Tls(insecure=e.insecure, ca_file=e.ca_file, fingerprint=e.fingerprint)
        users[f"pool {e.name}"] = e.user
        sources[e.name] = password_for(e)
    if len(set(users.values())) > 1:
        raise InputError(
            "one run uses one user name, but "
            + ", ".join(f"{k} has {v!r}" for k, v in users.items())
        )
    found = {v for v in sources.values() if v is not None}
    if len(found) > 1:
        raise InputError(
            "pools " + ", ".join(sources) + " have different passwords; one "
            "run logs in to every pool with one password: run them separately"
        )
    if found and not urls and None not in sources.values():
        password = found.pop()  # every pool names its source
    else:  # the command line's source (--password-env, XAPI_PASSWORD, a prompt) for the rest
        password = read_password(password_env)
        if found and found.pop() != password:
            raise InputError(
                "the config pools' password differs from the one for the other "
                "pools; one run logs in to every pool with one password"
            )
    return all_urls, next(iter(users.values())), password, tls


# the options every command that talks to pools shares (collect, execute)
PoolOption = Annotated[
    list[str] | None,
    typer.Option(
        "--pool",
        metavar="NAME",
        help="A pool of the config file (URL, user, password source, TLS); repeatable. "
        "With neither URLs nor --pool: every pool of the config file.",
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Do not verify TLS certificates (self-signed hosts); prefer "
        "--ca-file or --fingerprint.",
    ),
]
CaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        metavar="PEM",
        show_default=False,
        help="Verify the pool masters' certificates with the CAs in this PEM file.",
    ),
]
FingerprintOption = Annotated[
    str | None,
    typer.Option(
        "--fingerprint",
        metavar="SHA256",
        show_default=False,
        help="Accept only a master certificate with this SHA-256 fingerprint (AB:CD:... as "
        "`openssl x509 -fingerprint -sha256` prints it).",
    ),
]
LogFileOption = Annotated[
    Path | None,
    typer.Option(
        "--log-file",
        metavar="FILE",
        show_default=False,
        help="Append a JSON-lines log here (ISO timestamps with time zone; never a password).",
    ),
]
