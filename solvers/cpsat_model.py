"""The CP-SAT model of a problem (solvers/cpsat.py's module docstring says what it
holds): `Builder` writes it, adds a hint and maps a solution back.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from planner.problem import Problem
from solvers.base import Solution


class Builder:
    """Builds the model for problem `p` over horizon `H` and maps solutions back."""

    def __init__(self, p: Problem, H: int, hint: Solution | None) -> None:
        self.p, self.H, self.hint = p, H, hint
        self.m = cp_model.CpModel()
        J = p.n_jobs
        ch = p.cand_host.tolist()
        fh = p.job_from_host.tolist()
        # host -> candidates landing there from elsewhere; SR -> (candidate, reserve, used)
        self.to_host: dict[int, list[int]] = defaultdict(list)
        self.to_sr: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
        for j in range(J):
            for c in p.cands(j):
                if ch[c] >= 0 and ch[c] != fh[j]:
                    self.to_host[ch[c]].append(c)
                for s, res, used in p.targets(j, c):
                    self.to_sr[s].append((j, c, res, used))
        self.job_of = np.repeat(np.arange(J), np.diff(p.cand_start)) if J else np.zeros(0)
        self.from_host: dict[int, list[int]] = defaultdict(list)
        for j in range(J):
            if fh[j] >= 0 and any(ch[c] != fh[j] for c in p.cands(j)):
                self.from_host[fh[j]].append(j)
        self.from_sr: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for j in range(J):
            for k in p.srcs(j):
                self.from_sr[int(p.src_sr[k])].append(
                    (j, int(p.src_reserve[k]), int(p.src_used_down[k]))
                )
        self._witness_options(hint)
        self.witness_on: dict[int, list[int]] = defaultdict(list)
        for j, opts in self.witness_opts.items():
            for h in opts:
                self.witness_on[h].append(j)
        self.hosts = [h for h in set(self.to_host) | set(self.witness_on) if self._host_binds(h)]
        self.srs = [s for s in set(self.to_sr) | set(self.from_sr) if self._sr_binds(s)]

    def _witness_options(self, hint: Solution | None) -> None:
        """`witness_opts` (and `witness`, the first option) per halted job.

        A halted job books its memory on one host of its pool while it moves (rule 4).
        Which one is CP-SAT's choice among a few: the hint's witness, the host with the
        most room now, and the one with the most room once the moving VMs have left. A
        single fixed witness (the hint's) made the model stricter than the rules and left
        VMs unplaced that a plan with another witness places (oracle seed 1244)."""
        p = self.p
        J = p.n_jobs
        fh = p.job_from_host.tolist()
        leaving: dict[int, int] = defaultdict(int)
        for j in range(J):
            if fh[j] >= 0:
                leaving[fh[j]] += int(p.job_mem_down[j])
        self.witness: dict[int, int] = {}  # the first option; the chosen one after extract
        self.witness_opts: dict[int, list[int]] = {}
        self.no_witness: list[int] = []
        for j in range(J):
            if not p.job_halted_mem[j]:
                continue
            opts: list[int] = []
            if hint is not None and hint.witness is not None and hint.witness[j] >= 0:
                opts.append(int(hint.witness[j]))
            pool = int(p.job_pool[j])
            hosts = np.flatnonzero((p.host_pool == pool) & p.host_enabled).tolist()
            if hosts:
                now = max(hosts, key=lambda x: (int(p.host_cap[x] - p.host_init[x]), -x))
                later = max(
                    hosts, key=lambda x: (int(p.host_cap[x] - p.host_init[x]) + leaving[x], -x)
                )
                opts += [h for h in (now, later) if h not in opts]
            if not opts:  # no enabled host in its pool: rule 4 can never hold
                self.no_witness.append(j)
                continue
            self.witness_opts[j] = opts
            self.witness[j] = opts[0]

    def _host_binds(self, h: int) -> bool:
        p = self.p
        worst = sum(int(p.job_mem_up[self.job_of[c]]) for c in self.to_host.get(h, ()))
        worst += sum(int(p.job_halted_mem[j]) for j in self.witness_on.get(h, ()))
        return bool(p.host_init[h] + worst > p.host_cap[h])

    def _sr_binds(self, s: int) -> bool:
        p = self.p
        worst = sum(max(res, used) for _, _, res, used in self.to_sr.get(s, ()))
        worst += sum(res for _, res, _ in self.from_sr.get(s, ()))
        return bool(p.sr_used[s] + worst > p.sr_size[s])

    def estimate_size(self) -> int:
        p = self.p
        n = len(p.cand_host) + 4 * p.n_jobs
        for h in self.hosts:
            n += 2 * (len(self.to_host.get(h, ())) + len(self.from_host.get(h, ())))
        for s in self.srs:
            n += 2 * (len(self.to_sr.get(s, ())) + len(self.from_sr.get(s, ())))
        if p.max_per_host is not None:
            n += sum(len(v) for v in self.to_host.values()) + p.n_jobs
        return n

    # ------------------------------------------------------------ model
    def build(self) -> None:
        """Write the model (module docstring of solvers/cpsat.py), in a fixed order: the
        variables, the slots, host memory, SR space, anti-affinity, the objective."""
        self._variables()
        self._slots()
        self._host_memory()
        self._sr_space()
        self._anti_affinity()
        self.weight = self.H + 1
        self.m.minimize(self.weight * (self.p.n_jobs - sum(self.placed)) + self.makespan)

    def _variables(self) -> None:
        """x per candidate; placed, start, end and the optional interval per job; the
        makespan."""
        p, H, m = self.p, self.H, self.m
        J = p.n_jobs
        secs = p.job_seconds.tolist()
        self.x = [m.new_bool_var(f"x{c}") for c in range(len(p.cand_host))]
        self.placed = [m.new_bool_var(f"placed{j}") for j in range(J)]
        self.start = [m.new_int_var(0, max(0, H - secs[j]), f"s{j}") for j in range(J)]
        self.end = [self.start[j] + secs[j] for j in range(J)]
        self.iv = [
            m.new_optional_fixed_size_interval_var(self.start[j], secs[j], self.placed[j], f"iv{j}")
            for j in range(J)
        ]
        self.makespan = m.new_int_var(0, H, "makespan")
        # the witness options of halted jobs: one chosen when the job is placed
        self.wsel: dict[tuple[int, int], tuple[Any, Any]] = {}
        for j, opts in self.witness_opts.items():
            if len(opts) < 2:
                continue
            ys = [m.new_bool_var(f"w{j}_{h}") for h in opts]
            m.add(sum(ys) == self.placed[j])
            for h, y in zip(opts, ys, strict=True):
                self.wsel[(j, h)] = (
                    y,
                    m.new_optional_fixed_size_interval_var(
                        self.start[j], secs[j], y, f"wiv{j}_{h}"
                    ),
                )
        for j in self.no_witness:
            m.add(self.placed[j] == 0)
        for j in range(J):
            m.add_exactly_one([self.placed[j].Not(), *(self.x[c] for c in p.cands(j))])
            m.add(self.makespan >= self.end[j]).OnlyEnforceIf(self.placed[j])
            # an unplaced job's start means nothing: pin it (less symmetry)
            m.add(self.start[j] == 0).OnlyEnforceIf(self.placed[j].Not())

    def _slots(self) -> None:
        """Slots per source pool (and per host with max_per_host)."""
        p, m = self.p, self.m
        J = p.n_jobs
        secs = p.job_seconds.tolist()
        fh = p.job_from_host.tolist()
        by_pool: dict[int, list[int]] = defaultdict(list)
        for j in range(J):
            by_pool[int(p.job_pool[j])].append(j)
        for jobs in by_pool.values():
            if len(jobs) > p.max_per_pool:
                m.add_cumulative([self.iv[j] for j in jobs], [1] * len(jobs), p.max_per_pool)
        if p.max_per_host is not None:
            touch: dict[int, list[Any]] = defaultdict(list)
            for j in range(J):
                if fh[j] >= 0:
                    touch[fh[j]].append(self.iv[j])
            for h, cs in self.to_host.items():
                for c in cs:
                    j = int(self.job_of[c])
                    touch[h].append(
                        m.new_optional_fixed_size_interval_var(
                            self.start[j], secs[j], self.x[c], f"in{c}"
                        )
                    )
            for ivs in touch.values():
                if len(ivs) > p.max_per_host:
                    m.add_cumulative(ivs, [1] * len(ivs), p.max_per_host)

    def _host_memory(self) -> None:
        """Host memory, per host that could ever run out."""
        p, H, m = self.p, self.H, self.m
        self.hold: dict[int, Any] = {}
        for h in self.hosts:
            ivs: list[Any] = []
            dem: list[int] = []
            base = int(p.host_init[h])
            for j in self.from_host.get(h, ()):
                mem = int(p.job_mem_down[j])
                base -= mem
                ivs.append(self._hold_interval(j))
                dem.append(mem)
            cap = int(p.host_cap[h]) - base
            for c in self.to_host.get(h, ()):
                j = int(self.job_of[c])
                if cap < 0:  # overcommitted even once all has left: nothing may arrive
                    m.add(self.x[c] == 0)
                    continue
                ivs.append(
                    m.new_optional_interval_var(
                        self.start[j], H - self.start[j], H, self.x[c], f"arr{c}"
                    )
                )
                dem.append(int(p.job_mem_up[j]))
            for j in self.witness_on.get(h, ()):
                sel = self.wsel.get((j, h))
                ivs.append(self.iv[j] if sel is None else sel[1])
                dem.append(int(p.job_halted_mem[j]))
            if cap < 0:
                for j in self.witness_on.get(h, ()):
                    sel = self.wsel.get((j, h))
                    m.add((self.placed[j] if sel is None else sel[0]) == 0)
                continue
            if ivs:
                m.add_cumulative(ivs, dem, cap)

    def _sr_space(self) -> None:
        """SR space, per SR that could ever run out."""
        p, H, m = self.p, self.H, self.m
        secs = p.job_seconds.tolist()
        for s in self.srs:
            ivs: list[Any] = []
            dem: list[int] = []
            base = int(p.sr_used[s])
            for j, res, down in self.from_sr.get(s, ()):
                base -= down
                ivs.append(self._src_hold(j))
                dem.append(down)
                ivs.append(self.iv[j])
                dem.append(res)
            cap = int(p.sr_size[s]) - base
            for j, c, res, used in self.to_sr.get(s, ()):
                if cap < 0:
                    m.add(self.x[c] == 0)
                    continue
                ivs.append(
                    m.new_optional_fixed_size_interval_var(
                        self.start[j], secs[j], self.x[c], f"res{c}_{s}"
                    )
                )
                dem.append(res)
                if used:
                    ivs.append(
                        m.new_optional_interval_var(
                            self.end[j], H - self.end[j], H, self.x[c], f"after{c}_{s}"
                        )
                    )
                    dem.append(used)
            if cap < 0:
                continue
            if ivs:
                m.add_cumulative(ivs, dem, cap)

    def _anti_affinity(self) -> None:
        """Anti-affinity among moving members (strict): never a mate's source host, and
        at most one member per target host (as greedy: stricter than rule 8's timing)."""
        p, m = self.p, self.m
        if p.anti_affinity != "strict" or not p.job_groups:
            return
        avoid = p.group_conflicts()
        for j, hosts in avoid.items():
            for c in p.cands(j):
                if int(p.cand_host[c]) in hosts:
                    m.add(self.x[c] == 0)
        for g in p.job_groups:
            on: dict[int, list[Any]] = defaultdict(list)
            for j in g:
                for c in p.cands(j):
                    if int(p.cand_host[c]) >= 0:
                        on[int(p.cand_host[c])].append(self.x[c])
            for xs in on.values():
                if len(xs) > 1:
                    m.add_at_most_one(xs)

    def _hold_interval(self, j: int) -> Any:
        """[0, end) while the VM of job j is still on its source host: its end when it
        moves away, H when it stays (unplaced, or a candidate on its own host)."""
        got = self.hold.get(j)
        if got is not None:
            return got[0]
        p, m = self.p, self.m
        f = int(p.job_from_host[j])
        away = [self.x[c] for c in p.cands(j) if int(p.cand_host[c]) != f]
        if len(away) == len(p.cands(j)):
            moved = self.placed[j]
        else:
            moved = m.new_bool_var(f"away{j}")
            m.add(sum(away) == moved)
        iv, e = self._until(j, moved, f"hold{j}")
        self.hold[j] = (iv, e, moved)
        return iv

    def _src_hold(self, j: int) -> Any:
        """[0, end) while job j's disks still hold their used bytes on their source SRs
        (to H when the job is unplaced)."""
        key = -1 - j  # its own slot in `hold`, apart from the host hold
        got = self.hold.get(key)
        if got is not None:
            return got[0]
        iv, e = self._until(j, self.placed[j], f"srchold{j}")
        self.hold[key] = (iv, e, self.placed[j])
        return iv

    def _until(self, j: int, moved: Any, name: str) -> tuple[Any, Any]:
        m, H = self.m, self.H
        e = m.new_int_var(0, H, f"{name}_end")
        m.add(e == self.end[j]).OnlyEnforceIf(moved)
        m.add(e == H).OnlyEnforceIf(moved.Not())
        return m.new_interval_var(0, e, e, name), e

    # hints, solutions ------------------------------------------
    def add_hint(self, hint: Solution) -> None:
        p, m, H = self.p, self.m, self.H
        secs = p.job_seconds.tolist()
        chosen = {int(c) for c in hint.choice.tolist() if c >= 0}
        for c in range(len(self.x)):
            m.add_hint(self.x[c], 1 if c in chosen else 0)
        longest = 0
        for j in range(p.n_jobs):
            c, s = int(hint.choice[j]), int(hint.start[j])
            ok = c >= 0 and s >= 0 and s + secs[j] <= H
            m.add_hint(self.placed[j], 1 if ok else 0)
            m.add_hint(self.start[j], s if ok else 0)
            if ok:
                longest = max(longest, s + secs[j])
        m.add_hint(self.makespan, longest)
        for (j, h), (y, _) in self.wsel.items():
            ok = int(hint.choice[j]) >= 0 and int(hint.start[j]) >= 0
            m.add_hint(y, 1 if ok and h == self.witness_opts[j][0] else 0)
        for key, (_, e, _) in self.hold.items():
            j = key if key >= 0 else -1 - key
            c, s = int(hint.choice[j]), int(hint.start[j])
            if c < 0 or (key >= 0 and int(p.cand_host[c]) == int(p.job_from_host[j])):
                m.add_hint(e, H)
            else:
                m.add_hint(e, s + secs[j])

    def extract(self, solver: cp_model.CpSolver) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        choice = np.full(p.n_jobs, -1, dtype=np.int64)
        start = np.full(p.n_jobs, -1, dtype=np.int64)
        for j in range(p.n_jobs):
            if not solver.Value(self.placed[j]):
                continue
            choice[j] = next(c for c in p.cands(j) if solver.Value(self.x[c]))
            start[j] = solver.Value(self.start[j])
            for h in self.witness_opts.get(j, ()):
                sel = self.wsel.get((j, h))
                if sel is not None and solver.Value(sel[0]):
                    self.witness[j] = h
        return choice, start

    def witness_array(self) -> np.ndarray:
        out = np.full(self.p.n_jobs, -1, dtype=np.int64)
        for j, h in self.witness.items():
            out[j] = h
        return out

    def seconds_bound(self, objective_bound: float) -> int | None:
        """A bound on the makespan of plans that place every job, from CP-SAT's
        objective bound (valid within this model: its horizon and candidate targets)."""
        if objective_bound >= self.weight:
            return None
        return max(0, int(objective_bound + 0.999999))
