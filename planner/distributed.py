"""Solving independent components on a Dask cluster (`solve(..., client=...)`,
`planner solve --dask ADDRESS`).

Only the problem parts travel: the client builds the `Problem`, splits it into
components (`solvers.decompose.components`), and sends each component's sub-problem
(numpy arrays, typically a few hundred KiB per pool) with its task. The inventory never
leaves the client; combining the parts and the plan assembly run there too, so the plan
is the same object the local solve builds from the same per-part solutions. A worker
runs `solvers.decompose.solve_component`, the very function the local solve runs.

Why the parts go inside the tasks rather than through `client.scatter`: scattered data
lives only on the worker that holds it, and when that worker dies Dask cannot recompute
it, so the tasks that need it fail instead of being retried. Data embedded in a task is
kept by the scheduler and re-sent with the retried task, which is what makes a worker
lost mid-solve harmless (its tasks run again elsewhere; the plan does not change).

Determinism: every task runs CP-SAT single-threaded (`workers=1`) with the given seed,
so a part's solution depends only on the part, the seed and the time budget; for the
same seed, a local solve with `workers=1` gives the same plan whenever CP-SAT finishes
(proves optimality or meets the bound) within its budget.

Time budget: locally the components share `time_limit` one after another. On a cluster
they run side by side on `threads` task slots, so a part gets `time_limit x threads x
its jobs / all jobs`, capped at `time_limit`: the whole campaign still takes about
`time_limit` seconds of solving when the parts are spread evenly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from planner.errors import ConnectionFailed, InputError
from solvers.decompose import solve_component

if TYPE_CHECKING:
    from planner.problem import Problem
    from solvers.decompose import PartResult

RETRIES = 3  # task retries on an exception; a lost worker is retried by the scheduler


def connect(address: str, timeout: float = 10.0) -> Any:
    """A `distributed.Client` for the scheduler at `address` (tcp://host:port).

    Raises InputError when dask.distributed is not installed or the address is empty,
    ConnectionFailed when no scheduler answers within `timeout` seconds."""
    if not address.strip():
        raise InputError("--dask: give a scheduler address, e.g. tcp://127.0.0.1:8786")
    try:
        from distributed import Client
    except ImportError as e:  # pragma: no cover - dask is an optional extra
        raise InputError(
            "--dask: dask.distributed is not installed (pip install 'dask[distributed]')"
        ) from e
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as e:
        raise ConnectionFailed(f"--dask: no Dask scheduler at {address}: {e}") from e
    except (ValueError, TypeError) as e:  # an unknown scheme, a malformed address
        raise InputError(f"--dask: bad scheduler address {address!r}: {e}") from None


def task_slots(client: Any) -> int:
    """Threads the cluster's workers run tasks on (at least 1)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # a cluster that cannot say runs one task at a time
        return 1


def budgets(time_limit: float, sizes: list[int], slots: int) -> list[float]:
    """Seconds of CP-SAT per part (see the module docstring), at least 0.05 s each."""
    total = sum(sizes) or 1
    return [max(0.05, min(time_limit, time_limit * slots * n / total)) for n in sizes]


def _quiet(_msg: str) -> None:
    """Progress sink on the workers: their messages would only clutter worker logs."""


def run_part(
    sub: Problem,
    solver: str,
    budget: float,
    seed: int,
    good_enough: int = 0,
) -> tuple[PartResult, float]:
    """One component, on a worker: its `PartResult` (not its sub-problem: the client
    has it) and the seconds spent solving it. CP-SAT runs single-threaded there."""
    t0 = time.perf_counter()
    result = solve_component(sub, solver, budget, 1, seed, _quiet, good_enough)
    return result, time.perf_counter() - t0


def solve_parts(
    client: Any,
    p: Problem,
    parts_idx: list[np.ndarray],
    solver: str,
    time_limit: float,
    seed: int,
    say: Callable[[str], None],
    stats: dict[str, float] | None = None,
    good_enough: int = 0,
) -> list[PartResult]:
    """Every component solved on the cluster, in `parts_idx` order.

    Results stream back as they finish (`say` gets one line per part). `stats`, when
    given, receives `submit_seconds` (building and sending the tasks), `wall_seconds`
    (submit to last result), `task_seconds` (sum of the solving time on the workers) and
    `slots`: wall x slots - task seconds is the scheduling and serialisation overhead."""
    from distributed import as_completed

    t0 = time.perf_counter()
    sizes = [len(a) for a in parts_idx]
    slots = task_slots(client)
    secs = budgets(time_limit, sizes, slots)
    run = f"{time.time_ns():x}"  # unique task keys per solve
    futures = {}
    for i, idx in enumerate(parts_idx):
        f = client.submit(
            run_part,
            p.subset(idx),
            solver,
            secs[i],
            seed,
            good_enough,
            pure=False,
            retries=RETRIES,
            key=f"planner-part-{run}-{i}",
        )
        futures[f] = i
    t1 = time.perf_counter()
    out: list[PartResult | None] = [None] * len(parts_idx)
    task_s = 0.0
    for n, f in enumerate(as_completed(list(futures)), start=1):
        i = futures[f]
        try:
            part, s = f.result()
        except Exception as e:
            if type(e).__name__ != "KilledWorker":
                raise
            # the scheduler gave up after the task's workers died again and again
            raise ConnectionFailed(
                f"--dask: workers kept dying while solving component "
                f"{i + 1} ({sizes[i]} migrations): {e}"
            ) from e
        out[i] = part
        task_s += s
        say(
            f"component {i + 1}/{len(parts_idx)}: {sizes[i]} migrations, "
            f"{part.status.value} ({n} of {len(parts_idx)} done)"
        )
    wall = time.perf_counter() - t0
    if stats is not None:
        stats.update(
            submit_seconds=t1 - t0, wall_seconds=wall, task_seconds=task_s, slots=float(slots)
        )
    # the benchmark reads this line: wall x slots - task seconds is Dask's overhead
    say(
        f"dask: {len(parts_idx)} parts on {slots} slots: submit {t1 - t0:.2f} s, "
        f"wall {wall:.2f} s, solving {task_s:.2f} s of worker time"
    )
    return [x for x in out if x is not None]
