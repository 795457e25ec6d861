"""The executor's view of XAPI: a small protocol and the typed faults it raises.

The runner talks only to a `Backend`; `planner.execute.xapi_backend.XapiBackend` is the
real one over `XenAPI.Session`. Faults are classified once, here: a *transient* fault
(the migration may succeed if tried again: VM_MIGRATE_FAILED, timeouts, lost sessions,
connection trouble) is retried with backoff; any other XAPI error is a *permanent*
refusal (a rule broken in the live state) that holds the migration and its dependants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from planner.errors import PlannerError

if TYPE_CHECKING:
    from planner.inventory.model import Inventory
    from planner.plan import Migration

# XAPI error codes worth another try: the move itself broke, not a rule.
TRANSIENT_CODES = frozenset(
    {
        "VM_MIGRATE_FAILED",
        "VM_MIGRATE_CONTACT_REMOTE_SERVICE_FAILED",
        "MIRROR_FAILED",
        "TOO_MANY_STORAGE_MIGRATES",
        "OTHER_OPERATION_IN_PROGRESS",
        "SESSION_INVALID",
        "BALLOONING_TIMEOUT_BEFORE_MIGRATION",
        "TIMEOUT",  # ours: the task outlived its deadline and was cancelled
        "CONNECTION",  # ours: the master did not answer
    }
)

CANCELLED = "TASK_CANCELLED"


class ExecutorError(PlannerError):
    """The executor cannot go on (exit status 2): nothing more will be started."""


class MigrationFault(PlannerError):
    """XAPI refused or failed one migration. `details` is XAPI's [code, *params]."""

    exit_code = 1

    def __init__(self, details: Sequence[str], context: str = "") -> None:
        self.details = tuple(str(d) for d in details) or ("INTERNAL_ERROR",)
        text = " ".join(self.details)
        super().__init__(f"{context}: {text}" if context else text)

    @property
    def code(self) -> str:
        return self.details[0]

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES

    def describe(self, *, refs: bool = False) -> str:
        """XAPI's error as people read it: CODE param, param. Opaque refs mean nothing to
        an operator, so they are left out unless `refs` (the journal keeps them)."""
        shown = [d for d in self.details[1:] if refs or not d.startswith("OpaqueRef:")]
        return f"{self.code} {', '.join(shown)}".strip()


@dataclass(frozen=True, slots=True)
class TaskState:
    """What XAPI says of a task: status is pending | success | failure | cancelling |
    cancelled, or "gone" when the task no longer exists (destroyed, or XAPI restarted)."""

    status: str
    error: tuple[str, ...] = ()
    progress: float = 0.0

    @property
    def finished(self) -> bool:
        return self.status in ("success", "failure", "cancelled", "gone")


@dataclass(frozen=True, slots=True)
class Location:
    """Where XAPI shows a VM now: its pool, resident host (None unless Running/Paused),
    power state and each disk's SR (vdi uuid -> sr uuid)."""

    pool: str
    host: str | None
    power_state: str
    disks: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HostState:
    """What XAPI says of a host: its pool, `enabled`, whether the master sees it live
    (`host_metrics.live`) and its `software_version["product_version"]`."""

    pool: str
    enabled: bool
    live: bool
    version: str


class Backend(Protocol):
    """Everything the runner needs from the pools.

    Tasks live on the source pool's master (`m.from_pool`); a migration may need several
    tasks (one per disk for `VDI.pool_migrate`). Every method raises `MigrationFault` for
    an XAPI refusal and `ExecutorError` when a master cannot be reached at all.
    """

    def inventory(self) -> Inventory:
        """The live inventory of every pool (the collector's view)."""
        ...

    def check(self, m: Migration) -> None:
        """`VM.assert_can_migrate` (or the checks of its kind); raises MigrationFault."""
        ...

    def start(self, m: Migration, marker: str | None = None) -> list[str]:
        """Start the migration through `Async.` calls; returns the task refs. With
        `marker`: set it in the VM's other_config before the call and in the task's
        after it (docs/reliability.md)."""
        ...

    def marker_of(self, vm: str) -> str | None:
        """The marker in the VM's other_config (searched in every pool), or None."""
        ...

    def tasks_marked(self, pool: str, marker: str) -> list[str]:
        """Refs of the tasks on `pool`'s master whose other_config carries `marker`."""
        ...

    def task_state(self, pool: str, task: str) -> TaskState: ...

    def wait(self, tasks: Mapping[str, Sequence[str]], timeout: float) -> None:
        """Return when one of `tasks` (pool uuid -> refs) may have changed, or after
        `timeout` seconds (event.from where the pool offers it, else a short sleep)."""
        ...

    def cancel(self, pool: str, task: str) -> None: ...

    def migration_tasks(self, pool: str) -> set[str]:
        """Refs of the migration tasks XAPI shows pending on `pool`'s master, ours or
        anyone's (Async VM.pool_migrate, VM.migrate_send, VDI.pool_migrate)."""
        ...

    def busy(self, pool: str) -> dict[str, str]:
        """Migrations XAPI shows in flight from `pool`, ours or anyone's: vm uuid -> task
        ref (or the operation name when XAPI does not say which task)."""
        ...

    def locate(self, vm: str) -> Location | None:
        """Where the VM is now (searched in every pool), or None if no pool has it."""
        ...

    def host_state(self, host: str) -> HostState:
        """The host's state, asked of its pool's master (searched in every pool).
        MigrationFault UUID_INVALID when no pool has it; CONNECTION while the master
        does not answer (it may be rebooting for its upgrade)."""
        ...

    def set_host_enabled(self, host: str, enabled: bool) -> None:
        """`host.enable` / `host.disable` on the host's pool master."""
        ...

    def set_migration_networks(self, networks: Mapping[str, str]) -> None:
        """The plan's `options.migration_network` (target pool uuid -> network uuid):
        the network `host.migrate_receive` gets for moves into that pool (issue 17)."""
        ...

    def set_affinity(self, vm: str, pool: str, host: str | None) -> None:
        """`VM.set_affinity` (the home server) on `pool`'s master (issue 17)."""
        ...

    def close(self) -> None: ...
