"""Plans for executors that are not ours: a POSIX shell script of `xe vm-migrate`, or a CSV.

The script runs wave by wave: each wave starts its migrations in the background, waits
for all of them and stops at the first wave with a failure (exit 1). It names pools by a
variable per pool (``POOL_1_MASTER`` ...) holding the address of that pool's master, and
reads the user and password from ``XE_USER`` / ``XE_PASSWORD`` (names configurable): the
password is never written into the script.

`xe vm-migrate` syntax (xapi-project/xen-api, ocaml/xapi-cli-server/cli_frontend.ml,
the "vm-migrate" command): ``uuid=<vm> [live=true] [host-uuid=<host>]
[remote-master=<address> remote-username=<u> remote-password=<p>]
[remote-network=<network>] [vdi:<vdi uuid>=<sr uuid>]... [vif:<vif uuid>=<network
uuid>]...`` (remote-network: cli_operations.ml `vm_migrate`, by bridge, name or uuid).
The home server: ``vm-param-set uuid=<vm> affinity=<host uuid>`` (records.ml). VIF maps
take the *VIF's* uuid, which the plan does not hold (it names VIFs by device), so the
script looks it up with ``xe vif-list vm-uuid=<vm> device=<n> params=uuid --minimal`` at run time.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from planner.errors import InputError
from planner.goals import RollingUpgrade
from planner.plan import Migration, Plan
from planner.rows import PLAN_COLUMNS, csv_text, plan_rows
from planner.rules.storage import suspend_target

if TYPE_CHECKING:
    from planner.inventory.model import Inventory

_SAFE = re.compile(r"^[A-Za-z0-9._:-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


REMOTE_PASSWORD_MODES = ("env", "prompt")


def has_control(text: str) -> bool:
    """Whether `text` holds a character a terminal or a shell treats specially as a
    control: C0/C1 controls (newline, ESC, ...), line/paragraph separators, and lone
    surrogates (which no UTF-8 file can hold)."""
    return any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in text)


def quote(value: str, what: str) -> str:
    """The one way a word reaches the script: a single shell word (``shlex.quote``:
    single quotes, nothing inside is expanded), in commands and comments alike.

    A newline cannot be made safe in a ``#`` comment (it ends the comment and the rest
    runs), and control characters can rewrite what a terminal shows, so values holding
    any are refused (InputError naming `what`). Names from XAPI go through `_label`,
    which never hands this function such a value.
    """
    if has_control(value):
        raise InputError(
            f"plan: {what} {value!r} contains a control character; "
            "refusing to put it in a shell script"
        )
    return shlex.quote(value)


def _word(value: str, what: str) -> str:
    """A uuid or id that goes into the script unquoted; anything else is refused."""
    if not _SAFE.match(value):
        raise InputError(
            f"plan: {what} {value!r} is not a plain identifier; refusing to "
            "put it in a shell script"
        )
    return value


def pool_variables(plan: Plan) -> dict[str, str]:
    """Pool uuid -> the script variable holding its master's address, in order of use."""
    out: dict[str, str] = {}
    for m in plan.migrations():
        for p in (m.from_pool, m.to_pool):
            if p not in out:
                out[p] = f"POOL_{len(out) + 1}_MASTER"
    return out


def migrate_command(
    m: Migration,
    pools: dict[str, str],
    user_var: str = "XE_USER",
    password_var: str = "XE_PASSWORD",
    network: str | None = None,
    vdi_map: Mapping[str, str] | None = None,
) -> list[str]:
    """The shell lines that carry out one migration (`xe vm-migrate`, then for a
    `home_host` ``xe vm-param-set uuid= affinity=`` on the VM's new pool).

    Live: ``vm-migrate uuid= host-uuid= live=true`` on the pool master. Storage and halted
    moves go through `migrate_send`, which `xe` uses when given ``remote-master`` (also
    for the VM's own pool), with a ``vdi:`` entry per VDI and, across pools, a ``vif:``
    entry per VIF; `network` (the plan's migration network of the target pool)
    becomes ``remote-network=`` (xe passes it to host.migrate_receive; without it xe
    uses the destination host's management network). `vdi_map` ({vdi uuid: sr uuid})
    names every VDI of the VM, those that stay too: `xe vm-migrate` sends every VDI it is
    not given to the destination pool's default SR (cli_operations.ml `vm_migrate`;
    xapi_vm_migrate.ml resolves unmapped VDIs so), which would copy disks the plan leaves
    in place. Without it the plan's `disks` are used (a v2 plan lists every disk).
    """
    vm = _word(m.vm, "vm")
    src = pools[m.from_pool]
    lines: list[str] = []
    args = [f"uuid={vm}"]
    if m.kind == "live":
        if m.to_host is None:
            raise InputError(f"plan: live migration {m.id} has no to_host")
        args += [f"host-uuid={_word(m.to_host, 'host')}", "live=true"]
    else:
        if m.kind == "storage":
            args.append("live=true")
        if m.to_host is not None:
            args.append(f"host-uuid={_word(m.to_host, 'host')}")
        args += [
            f'remote-master="${pools[m.to_pool]}"',
            f'remote-username="${user_var}"',
            f'remote-password="${password_var}"',
        ]
        if network is not None:
            args.append(f"remote-network={_word(network, 'network')}")
        full = vdi_map if vdi_map is not None else {d.vdi: d.to_sr for d in m.disks}
        for vdi, sr in full.items():
            args.append(f"vdi:{_word(vdi, 'vdi')}={_word(sr, 'sr')}")
        if m.from_pool != m.to_pool:
            for i, v in enumerate(m.vifs):
                dev = _word(v.device, "vif device")
                lines.append(
                    f'vif{i}=$(xe_at "${src}" vif-list vm-uuid={vm} device={dev} '
                    "params=uuid --minimal) || return 1"
                )
                lines.append(
                    f'[ -n "$vif{i}" ] || {{ echo "{m.id}: VM {vm} has no VIF '
                    f'{dev}" >&2; return 1; }}'
                )
                args.append(f"vif:$vif{i}={_word(v.to_network, 'network')}")
    lines.append(f'xe_at "${src}" vm-migrate ' + " ".join(args))
    if m.home_host is not None:
        # the home server is set once the VM is in its new pool (issue 17)
        lines[-1] += " || return 1"
        lines.append(
            f'xe_at "${pools[m.to_pool]}" vm-param-set uuid={vm} '
            f"affinity={_word(m.home_host, 'host')}"
        )
    return lines


def to_xe_script(
    plan: Plan,
    inv: Inventory | None = None,
    *,
    user_var: str = "XE_USER",
    password_var: str = "XE_PASSWORD",
    remote_password: str = "env",
) -> str:
    """The POSIX sh script for `plan` (see the module docstring).

    remote_password: where `xe vm-migrate`'s ``remote-password=`` comes from for storage
    and halted moves (xe has no file form for it; docs/security.md): "env" (the
    password variable, like the rest) or "prompt" (asked once on the terminal, without
    echo, into a variable the script does not export).
    """
    for name in (user_var, password_var):
        if not _ENV_NAME.match(name):
            raise InputError(f"{name!r} is not a valid environment variable name")
    if remote_password not in REMOTE_PASSWORD_MODES:
        raise InputError(f"--remote-password: must be env or prompt, got {remote_password!r}")
    pools = pool_variables(plan)
    networks = plan.options.migration_network
    label = _labeller(inv)
    step_pool = _step_pools(plan, inv)
    for p in step_pool.values():
        if p not in pools:
            pools[p] = f"POOL_{len(pools) + 1}_MASTER"
    out = [
        "#!/bin/sh",
        "# Generated by `planner export --to xe`: carries out a xen-planner plan with xe.",
        f"# Plan: {len(plan.waves)} waves, "
        f"{sum(len(w.migrations) for w in plan.waves)} migrations, "
        f"inventory digest {quote(plan.inventory_digest, 'inventory digest')}.",
        "# Each wave starts its migrations in the background and waits for them; the",
        "# script stops at the first wave with a failure (exit status 1).",
        "# Set before running:",
        f"#   {password_var}  password of the pools (read from the environment, never stored)"
        + ("; remote-password= is asked on the terminal" if remote_password == "prompt" else ""),
        f"#   {user_var}      user name (default root)",
    ]
    for p, var in pools.items():
        out.append(f"#   {var}  address of the master of pool {label(p)} ({_word(p, 'pool')})")
    out += [
        "",
        "set -u",
        f': "${{{user_var}:=root}}"',
        f': "${{{password_var}:?set {password_var} to the pools\' password}}"',
    ]
    for p, var in pools.items():
        out.append(
            f': "${{{var}:?set {var} to the address of the master of pool {_word(p, "pool")}}}"'
        )
    out += [
        "",
        "# xe reads the user and password from a private file (-pwf), so they stay out of",
        "# the process list; printf is a shell builtin and puts them in no argv either",
        "umask 077",
        "_pwf=$(mktemp) || exit 2",
        "trap 'rm -f \"$_pwf\"' EXIT",
        "trap 'exit 130' INT TERM",
        f'printf \'%s\\n%s\\n\' "${user_var}" "${password_var}" > "$_pwf"',
        "",
        *_remote_password_lines(plan, remote_password, password_var),
        "xe_at() {",
        "    _addr=$1; shift",
        '    xe -s "$_addr" -pwf "$_pwf" "$@"',
        "}",
        "",
    ]
    # functions are numbered in plan order: ids like "m-1" and "m_1" must not collide
    fn_of = {m.id: f"m_{k + 1}" for k, m in enumerate(plan.migrations())}
    maps = _vdi_maps(plan, inv)
    for w in plan.waves:
        for m in w.migrations:
            fn = fn_of[_word(m.id, "migration id")]
            what = (
                f"{_word(m.kind, 'kind')} {label(m.vm)}: "
                f"{label(m.from_host) if m.from_host else '-'}"
                f" -> {label(m.to_host) if m.to_host else label(m.to_pool)}"
            )
            out.append(f"# {m.id}: {what}")
            out.append(f"{fn}() {{")
            lines = migrate_command(
                m,
                pools,
                user_var,
                _remote_var(remote_password, password_var),
                networks.get(m.to_pool),
                maps.get(m.id),
            )
            lines[-1] += f' && echo "  {m.id}: done"'
            out += ["    " + line for line in lines]
            out.append("}")
            out.append("")
    out += [
        "run_wave() {",
        "    # $1: wave index; the rest: migration functions. Stops the script on failure.",
        "    _wave=$1; shift",
        '    echo "wave $_wave: $# migration(s)"',
        '    _pids=""',
        '    for _m in "$@"; do',
        '        "$_m" &',
        '        _pids="$_pids $!"',
        "    done",
        "    _failed=0",
        "    for _p in $_pids; do",
        '        wait "$_p" || _failed=1',
        "    done",
        '    if [ "$_failed" -ne 0 ]; then',
        '        echo "wave $_wave: a migration failed; stopping" >&2',
        "        exit 1",
        "    fi",
        "}",
        "",
    ]
    for w in plan.waves:
        fns = [fn_of[m.id] for m in w.migrations]
        out += _step_lines(w, "before", pools, step_pool, label)
        if fns:
            out.append(f"run_wave {w.index} " + " ".join(fns))
        out += _step_lines(w, "after", pools, step_pool, label)
    out += ['echo "all waves done"', ""]
    return "\n".join(out)


def _vdi_maps(plan: Plan, inv: Inventory | None) -> dict[str, dict[str, str]]:
    """{migration id: {vdi uuid: sr uuid}} naming every VDI of each storage or move
    migration: its disks (where the plan has them at that point, moved or not) and a
    Suspended VM's memory image (`planner.rules.storage.suspend_target`). Empty without
    an inventory (the plan's own `disks` are then used)."""
    if inv is None:
        return {}

    where = {d.uuid: d.sr for v in inv.vms for d in v.disks}
    for v in inv.vms:
        if v.suspend_vdi is not None:
            where[v.suspend_vdi.uuid] = v.suspend_vdi.sr
    out: dict[str, dict[str, str]] = {}
    for m in plan.migrations():
        vm = inv.vm_by_uuid.get(m.vm)
        if vm is None:
            continue
        moved = {d.vdi: d.to_sr for d in m.disks}
        full = {d.uuid: moved.get(d.uuid, where.get(d.uuid, d.sr)) for d in vm.disks}
        sv = vm.suspend_vdi
        if sv is not None:
            at = where.get(sv.uuid, sv.sr)
            full[sv.uuid] = suspend_target(inv, vm, at, m.to_host, m.to_pool, full) or at
        if m.kind != "live":
            out[m.id] = full
        where.update(full)
    return out


def _labeller(inv: Inventory | None) -> Any:
    """uuid -> a name fit for the script: the object's name as one quoted shell word
    (`quote`), or its uuid when the name holds control characters (a newline in a pool
    name would end a comment and run the rest; any pool admin can set names)."""

    def label(u: str) -> str:
        name = inv.label(u) if inv is not None else u
        if has_control(name):
            return f"{_word(u, 'uuid')} (its name has control characters)"
        return quote(name, "name")

    return label


def _remote_var(mode: str, password_var: str) -> str:
    return "_remote_pw" if mode == "prompt" else password_var


def _remote_password_lines(plan: Plan, mode: str, password_var: str) -> list[str]:
    """Prompt mode: ask for remote-password once, without echo, into a variable that is
    not exported (so no child's environment has it). Only when a command needs it."""
    if mode != "prompt" or all(m.kind == "live" for m in plan.migrations()):
        return []
    return [
        "# xe vm-migrate has no file form for remote-password= (docs/security.md): ask it",
        "trap 'rm -f \"$_pwf\"; if [ -t 0 ]; then stty echo; fi' EXIT",
        "if [ -t 0 ]; then stty -echo; fi",
        "printf 'password for remote-password= of the storage and halted moves: ' >&2",
        "IFS= read -r _remote_pw || exit 2",
        "if [ -t 0 ]; then stty echo; fi",
        "echo >&2",
        "",
    ]


def _step_pools(plan: Plan, inv: Inventory | None) -> dict[str, str]:
    """Host uuid -> its pool, for every host a step names (docs/plan-extensions.md)."""
    out: dict[str, str] = {}
    for w in plan.waves:
        for st in w.steps:
            if inv is not None and st.host in inv.host_by_uuid:
                out[st.host] = inv.host_by_uuid[st.host].pool
            elif isinstance(plan.goal, RollingUpgrade):
                out[st.host] = plan.goal.pool
            else:
                raise InputError(
                    f"wave {w.index}: step {st.kind} names host {st.host}, whose "
                    "pool is unknown: export with the inventory"
                )
    return out


def _step_lines(
    w: Any, when: str, pools: dict[str, str], step_pool: dict[str, str], label: Any
) -> list[str]:
    """xe lines for a wave's host steps: host-disable/host-enable run; a host-upgrade
    cannot be scripted through xe, so the script pauses for the operator."""
    out: list[str] = []
    for st in w.steps:
        if (st.when == "before") != (when == "before"):
            continue
        host = _word(st.host, "host uuid")
        var = pools[step_pool[st.host]]
        name = label(st.host)
        if st.kind in ("host-disable", "host-enable"):
            out.append(f"# wave {w.index}: {st.kind} {name}")
            out.append(f'xe_at "${var}" {st.kind} uuid={host} || exit 1')
        else:
            ver = _word(st.to_version or "", "version")
            msg = quote(
                f"upgrade host {name} ({host}) to {ver}, reboot it, then press Enter", "message"
            )
            out += [
                f"# wave {w.index}: host-upgrade {name} to {ver}: done by the operator",
                f"printf '%s\\n' {msg}",
                "read _answer",
            ]
    return out


def to_csv(plan: Plan, inv: Inventory | None = None) -> str:
    """A runbook table, one row per migration and per host step in plan order: the
    columns of `planner.rows.PLAN_COLUMNS` (uuids and names both; `disks` is
    ``vdi>sr`` items joined by ``;``, `vifs` ``device>network``, `depends_on` ids)."""

    return csv_text(plan_rows(plan, inv), PLAN_COLUMNS)
