"""`planner execute` (carry a plan out through XenAPI) and `planner export` (xe / CSV).

A thin layer over `planner.execute.execute_plan`, which does the work (pre-flight,
journal, run, goal re-check) and returns a typed outcome; this module checks the
options, resolves the pools and the password, and prints. `--status` is
`planner.cli.execute_view`, `export` is `planner.cli.export_cmd`, the options are the
bundles of `planner.cli.execute_options`, the progress display
`planner.cli.execute_progress`.

Heavy modules (XenAPI, rich, the executor) are imported inside the commands.
Credentials: the password comes from the environment variable named by --password-env
(default XAPI_PASSWORD) or a hidden prompt; it is never echoed, logged or journaled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from planner.cli import export_cmd, logs
from planner.cli.common import (
    CaFileOption,
    FingerprintOption,
    InsecureOption,
    LogFileOption,
    PoolOption,
    current_config,
    pool_access,
    tls_option_value,
)
from planner.cli.execute_options import (
    BackoffOption,
    DryRunOption,
    InventoryOption,
    JournalOption,
    MaxPerPoolOption,
    ModeOption,
    PasswordEnvOption,
    PlanArgument,
    PollOption,
    ReplanOption,
    ReplanSolverOption,
    RetriesOption,
    SettleOption,
    StatusOption,
    StepPollOption,
    StepTimeoutOption,
    TimeLimitOption,
    UrlOption,
    UserOption,
    YesOption,
    _journal_path,
    _load_base,
)
from planner.cli.output import FormatOption, OutputOption
from planner.cli.progress import ProgressOption, enabled
from planner.errors import InputError
from planner.execute.summary import readable as _readable  # noqa: F401 - its old home
from planner.options import slots_error

if TYPE_CHECKING:
    from planner.cli.execute_progress import _Progress
    from planner.execute.config import RunConfig
    from planner.inventory.model import Inventory
    from planner.plan import Plan


@dataclass
class _CliUI:
    """`ExecuteUI` for the terminal: stdout for the report, stderr for refusals, a
    confirmation prompt (refused without a terminal), per-pool progress bars."""

    progress_flag: bool | None = None  # --progress / --no-progress; None: a terminal

    def say(self, line: str) -> None:
        typer.echo(line)

    def warn(self, line: str) -> None:
        typer.echo(line, err=True)

    def confirm(self, question: str) -> bool:
        if not sys.stdin.isatty():
            raise InputError("confirm with --yes (no terminal to ask on)")
        return typer.confirm(question)

    @contextmanager
    def progress(
        self, plan: Plan, inv: Inventory, slots: int, scheduled: bool, config: RunConfig
    ) -> Iterator[_Progress]:
        from planner.cli.execute_progress import _Progress

        tty = sys.stderr.isatty() if self.progress_flag is None else self.progress_flag
        with _Progress(plan, inv, slots, tty, scheduled, config) as bars:
            yield bars

    def step_wait(self) -> Callable[[float], bool] | None:
        from planner.cli.execute_progress import _enter_waiter

        return _enter_waiter() if sys.stdin.isatty() else None


def _option_problems(
    *,
    fmt: str,
    output: object,
    url: list[str] | None,
    pool: list[str] | None,
    mode: str,
    max_per_pool: int | None,
    retries: int,
    replan_solver: str,
    backoff: float,
    poll: float,
    step_poll: float,
    step_timeout: float | None,
) -> list[str]:
    """Every bad option of a run (not --status), one line each."""
    problems = []
    if fmt != "table" or output is not None:
        problems.append("--format and -o go with --status (a run reports to people)")
    if not url and not pool and not current_config().pools:
        problems.append(
            "--url: give the URL of each pool master (repeat --url), or "
            "--pool NAME from the config file"
        )
    if mode not in ("waves", "flow"):
        problems.append(f"--mode: must be waves or flow, got {mode!r}")
    if max_per_pool is not None and (why := slots_error("--max-per-pool", max_per_pool)):
        problems.append(why)
    if retries < 0:
        problems.append(f"--retries: must be >= 0, got {retries}")
    if replan_solver not in ("cpsat", "greedy"):
        problems.append(f"--solver: must be cpsat or greedy, got {replan_solver!r}")
    if backoff < 0 or poll <= 0:
        problems.append("--backoff must be >= 0 and --poll > 0")
    if not step_poll > 0:
        problems.append(f"--step-poll: must be > 0, got {step_poll}")
    if step_timeout is not None and not step_timeout > 0:
        problems.append(f"--step-timeout: must be > 0, got {step_timeout}")
    return problems


def register(app: typer.Typer) -> None:
    """Add `execute` and `export` to `app`."""
    app.command("execute")(execute)
    export_cmd.register(app)


def execute(
    plan_path: PlanArgument = None,
    url: UrlOption = None,
    user: UserOption = "root",
    password_env: PasswordEnvOption = None,
    pool: PoolOption = None,
    insecure: InsecureOption = False,
    ca_file: CaFileOption = None,
    fingerprint: FingerprintOption = None,
    dry_run: DryRunOption = False,
    mode: ModeOption = "flow",
    journal: JournalOption = None,
    max_per_pool: MaxPerPoolOption = None,
    retries: RetriesOption = 3,
    backoff: BackoffOption = 5.0,
    poll: PollOption = 1.0,
    inventory: InventoryOption = None,
    yes: YesOption = False,
    replan: ReplanOption = False,
    replan_solver: ReplanSolverOption = "cpsat",
    time_limit: TimeLimitOption = 30.0,
    status: StatusOption = False,
    step_poll: StepPollOption = 10.0,
    step_timeout: StepTimeoutOption = None,
    settle: SettleOption = 90.0,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    log_file: LogFileOption = None,
    show_progress: ProgressOption = None,
) -> None:
    """Carry out PLAN through XenAPI, journaled and resumable.

    Re-running the same command resumes: tasks left in flight are looked up in XAPI and no migration is started twice. Ctrl-C once stops starting new migrations and waits for those in flight; twice cancels them.

    Exit status: 0 all done, 1 something is left (see the summary) or the pre-flight refused, 2 bad input or unreachable pools.

    Example: planner execute plan.json --url https://pool-a --url https://pool-b --password-env XAPI_PASSWORD --mode flow
    """  # noqa: E501
    if status:
        from planner.cli.execute_view import show_status

        raise typer.Exit(show_status(plan_path, journal, inventory, fmt, output))
    if plan_path is None:
        raise InputError("missing PLAN (the plan JSON file)")
    problems = _option_problems(
        fmt=fmt,
        output=output,
        url=url,
        pool=pool,
        mode=mode,
        max_per_pool=max_per_pool,
        retries=retries,
        replan_solver=replan_solver,
        backoff=backoff,
        poll=poll,
        step_poll=step_poll,
        step_timeout=step_timeout,
    )
    if problems:
        raise InputError("cannot execute", problems)
    from planner.execute.config import RunConfig
    from planner.execute.steps import refuse_steps
    from planner.plan import load as load_plan

    plan = load_plan(plan_path)
    refuse_steps(plan)  # before anything is opened or written
    base = _load_base(inventory, plan)
    jpath = _journal_path(plan_path, journal)
    cli_tls = tls_option_value(insecure, ca_file, fingerprint)
    urls, user, password, tls = pool_access(
        list(url or []), list(pool or []), user, password_env, cli_tls, url_option="--url"
    )
    log = logs.configure(log_file, secrets=[password])
    log.info(
        "execute %s: %s, %d pool(s), journal %s",
        plan_path,
        "dry run" if dry_run else f"mode {mode}",
        len(urls),
        jpath,
    )
    config = RunConfig(
        mode=mode,
        max_per_pool=max_per_pool,
        retries=retries,
        backoff_seconds=backoff,
        poll_seconds=poll,
        step_poll_seconds=step_poll,
        step_timeout_seconds=step_timeout,
    )
    try:
        from planner.execute.session import execute_plan

        outcome = execute_plan(
            plan,
            plan_path,
            base,
            jpath,
            urls,
            user,
            password,
            ui=_CliUI(enabled(show_progress)),
            insecure=tls,
            dry_run=dry_run,
            config=config,
            yes=yes,
            replan=(replan_solver, time_limit) if replan else None,
            settle=settle,
        )
    except Exception as e:
        log.error("execute failed: %s", e)
        raise
    finally:
        log.info("execute ended")
        logs.close()
    raise typer.Exit(outcome.exit_code)
