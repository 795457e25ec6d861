"""The executor's texts for people: how a migration or step reads, the end-of-run summary,
the run's drift against the plan's estimate, the schedule's progress and ETA, the goal
re-check, the dry run's "would" lines and the pre-flight verdict.

Pure functions of the plan, the journal's rows and an inventory (for names); the CLI
prints what they return. Times are wall seconds.
"""

from __future__ import annotations

import re

from planner.advice import advice_lines
from planner.execute import journal as J
from planner.execute.config import Summary
from planner.execute.journal import Entry
from planner.execute.preflight import PreflightReport
from planner.execute.reconcile import _live_location, arrived
from planner.inventory.model import Inventory
from planner.plan import Migration, Plan, Step


def label(inv: Inventory | None, uuid: str | None) -> str:
    if uuid is None:
        return "-"
    return inv.label(uuid) if inv is not None else uuid


def describe(m: Migration, inv: Inventory | None) -> str:
    dest = label(inv, m.to_host) if m.to_host else f"pool {label(inv, m.to_pool)}"
    src = label(inv, m.from_host) if m.from_host else f"pool {label(inv, m.from_pool)}"
    disks = f", {len(m.disks)} disk(s)" if m.disks else ""
    return f"{m.kind} {label(inv, m.vm)}: {src} -> {dest}{disks}"


def drift_line(summary: Summary, plan: Plan, mode: str, resumed: bool) -> str:
    """How long the run took against the plan's estimate (flow: the schedule's length,
    waves: the lock-step figure), in the runner's (wall) seconds."""
    scheduled = mode == "flow" and plan.has_schedule
    want = (
        plan.schedule_seconds
        if scheduled
        else (
            plan.estimate.wave_seconds
            if plan.estimate.wave_seconds is not None
            else plan.estimate.seconds or 0
        )
    )
    what = "schedule" if scheduled else "wave estimate"
    took = f"this run took {summary.seconds:,.0f}s"
    if resumed or not summary.complete or want <= 0:
        why = "resumed" if resumed else "not complete"
        return f"time: {took} ({why}: not compared with the plan's {what} of {want:,}s)"
    d = summary.seconds - want
    return (
        f"time: {took}; the plan's {what} is {want:,}s: drift {d:+,.0f}s ({100 * d / want:+.1f}%)"
    )


def summary_lines(
    summary: Summary, plan: Plan, inv: Inventory | None, drift: str | None = None
) -> list[str]:
    by_id = {m.id: m for m in plan.migrations()}
    counts = {
        "done": summary.count(J.DONE),
        "failed": summary.count(J.FAILED),
        "held": summary.count(J.HELD),
        "not started": sum(1 for e in summary.entries if e.state in (J.PENDING, J.INTENT)),
        "in flight": summary.count(J.STARTED),
    }
    out = ["", "summary: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v or k == "done")]
    if drift:
        out.append(drift)
    out += step_lines(summary.steps, inv)
    rows = [e for e in summary.entries if e.state != J.DONE]
    if rows:
        out.append(f"{'id':<14} {'state':<11} {'tries':>5}  migration / why")
        for e in rows:
            m = by_id.get(e.id)
            state = "not started" if e.state in (J.PENDING, J.INTENT) else e.state
            what = describe(m, inv) if m is not None else e.vm
            out.append(f"{e.id:<14} {state:<11} {e.attempts:>5}  {what}")
            if e.error:
                out.append(f"{'':<14} {'':<11} {'':>5}  {readable(e.error)}")
    if inv is not None:
        out += advice(summary, plan, inv)
    return out


def step_lines(steps: tuple[J.StepEntry, ...], inv: Inventory | None) -> list[str]:
    """The summary's host steps: how many are done, then a row for each that is not."""
    if not steps:
        return []
    left = [se for se in steps if se.state != J.DONE]
    out = [f"host steps: done {len(steps) - len(left)} of {len(steps)}"]
    for se in left:
        state = "pending" if se.state in (J.PENDING, J.INTENT) else se.state
        ver = f" to {se.to_version}" if se.to_version else ""
        out.append(
            f"{se.id:<14} {state:<11} {se.attempts:>5}  wave {se.wave}: {se.kind} "
            f"{label(inv, se.host)}{ver}"
        )
        if se.error:
            out.append(f"{'':<14} {'':<11} {'':>5}  {readable(se.error)}")
    return out


def advice(summary: Summary, plan: Plan, inv: Inventory) -> list[str]:
    """(issue 17) The restart advice for the VMs whose every migration is done."""
    state = {e.id: e.state for e in summary.entries}
    vms: dict[str, bool] = {}
    for m in plan.migrations():
        vms[m.vm] = vms.get(m.vm, True) and state.get(m.id) == J.DONE
    return advice_lines(inv, plan, {vm for vm, done in vms.items() if done})


def readable(error: str) -> str:
    """A journaled XAPI error without its opaque refs (they stay in the journal)."""
    return re.sub(r"OpaqueRef:[0-9A-Za-z-]+(,\s*)?", "", error).strip().rstrip(",")


def schedule_origin(
    entries: list[Entry], by_id: dict[str, Migration], plan: Plan | None
) -> float | None:
    """The journal's Unix time of the plan's t=0: the first start, less its planned start
    (None for a plan without a schedule, or before anything started)."""
    if plan is None or not plan.has_schedule:
        return None
    firsts = [
        (e.started_at, by_id[e.id].start_s)
        for e in entries
        if e.started_at is not None and e.id in by_id
    ]
    if not firsts:
        return None
    at, planned = min(firsts)
    return at - planned


def schedule_status(
    entries: list[Entry], by_id: dict[str, Migration], plan: Plan, origin: float
) -> list[str]:
    """Planned against actual: the schedule's length, how far the run is, its drift."""
    ended = [
        (e.ended_at, by_id[e.id])
        for e in entries
        if e.state == J.DONE and e.ended_at is not None and e.id in by_id
    ]
    n_done = sum(1 for e in entries if e.state == J.DONE)
    out = [
        f"schedule: {plan.schedule_seconds:,}s planned; {n_done} of {len(entries)} migrations done"
    ]
    if ended:
        at, m = max(ended, key=lambda x: x[0])
        late = (at - origin) - m.end_s
        out.append(
            f"latest end: {m.id} planned t+{m.end_s}s, ended t+{at - origin:.0f}s "
            f"(drift {late:+.0f}s)"
        )
        if n_done < len(entries):
            left = max(0.0, plan.schedule_seconds - m.end_s)
            out.append(
                f"ETA: about {left:,.0f}s after the latest end, if the rest keeps to the schedule"
            )
        else:
            span = at - origin
            d = span - plan.schedule_seconds
            pct = 100 * d / plan.schedule_seconds if plan.schedule_seconds else 0.0
            out.append(
                f"finished: span {span:,.0f}s against {plan.schedule_seconds:,}s "
                f"planned (drift {d:+,.0f}s, {pct:+.1f}%)"
            )
    return out


def goal_lines(plan: Plan, live: Inventory) -> list[str]:
    """Where the live pools differ from the plan's end state (each VM where its last
    migration takes it): one line per VM, empty when the goal holds."""
    last: dict[str, Migration] = {}
    for m in plan.migrations():
        last[m.vm] = m
    out = []
    for vm, m in last.items():
        if not arrived(m, _live_location(live, vm)):
            out.append(
                f"goal: {label(live, vm)} is not where {m.id} takes it ({describe(m, live)})"
            )
    return out


def would_lines(plan: Plan, states: dict[str, str], live: Inventory) -> list[str]:
    """The dry run's account: per wave, the host steps and migrations that would run
    (those not done in `states`, the journal's), then the totals."""
    out = []
    n = 0
    sids = {id(st): sid for sid, _, st in J.step_ids(plan)}
    for w in plan.waves:
        todo = [m for m in w.migrations if states.get(m.id, J.PENDING) != J.DONE]
        steps = [
            (sids[id(st)], st) for st in w.steps if states.get(sids[id(st)], J.PENDING) != J.DONE
        ]
        if not todo and not steps:
            continue
        out.append(f"wave {w.index}:")
        for sid, st in steps:
            if st.when == "before":
                out.append(f"  would run   {sid}: {step_line(st, live)} (before the moves)")
        for m in todo:
            n += 1
            out.append(f"  would start {m.id}: {describe(m, live)} (~{m.est_seconds}s)")
        for sid, st in steps:
            if st.when != "before":
                out.append(f"  would run   {sid}: {step_line(st, live)} (after the moves)")
    n_steps = sum(1 for sid, _, _ in J.step_ids(plan) if states.get(sid, J.PENDING) != J.DONE)
    more = f" and {n_steps} host step(s)" if n_steps else ""
    out.append(f"dry run: {n} migration(s){more} would run; nothing was changed")
    return out


def step_line(st: Step, inv: Inventory | None) -> str:
    """How a host step reads in the dry run."""
    if st.kind == "host-upgrade":
        return (
            f"host-upgrade {label(inv, st.host)} to {st.to_version}: wait for the "
            "operator to upgrade and reboot it"
        )
    return f"{st.kind} {label(inv, st.host)}"


def preflight_lines(report: PreflightReport) -> tuple[list[str], list[str]]:
    """The pre-flight verdict as (lines for stdout, lines for stderr): a refusal lists
    every change since the plan was made."""
    if report.same_digest and report.ok:
        return ["pre-flight: the live inventory matches the plan's (same digest)"], []
    if report.ok:
        n = len(report.pending)
        return [f"pre-flight: {n} migration(s) to run still fit the live state"], []
    err = [f"pre-flight: {len(report.drift)} change(s) since the plan was made:"]
    err += [f"  {d.line()}" for d in report.drift]
    return [], err


REFUSAL = (
    "refusing to execute: the pools changed since the plan was made (use --replan, "
    "or make a new plan from a fresh inventory)"
)


def in_flight_text(n: int) -> str:
    """Why a re-plan waits: migrations of the old plan still run."""
    return f"cannot re-plan while {n} migration(s) are in flight; re-run when they have ended"
