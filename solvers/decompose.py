"""Split a problem into independent parts: pools that share no migration.

Two pools are coupled when a job of one may land in the other (a candidate target in
it). Within a component every host and SR a job touches belongs to a pool of that
component, and concurrency is counted per source pool, so components share nothing: each
is solved alone and their waves run side by side (see planner/solve.py for the merge).
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from planner.problem import Problem


def components(p: Problem) -> list[np.ndarray]:
    """Job indexes of each component, largest first (ties: first job first)."""
    g = nx.Graph()
    for j in range(p.n_jobs):
        src = int(p.job_pool[j])
        g.add_node(src)
        for c in p.cands(j):
            dst = int(p.cand_pool[c])
            if dst != src:
                g.add_edge(src, dst)
    comp_of: dict[int, int] = {}
    for i, pools in enumerate(nx.connected_components(g)):
        for pool in pools:
            comp_of[pool] = i
    members: dict[int, list[int]] = {}
    for j in range(p.n_jobs):
        members.setdefault(comp_of[int(p.job_pool[j])], []).append(j)
    parts = [np.array(js, dtype=np.int64) for js in members.values()]
    parts.sort(key=lambda a: (-len(a), int(a[0])))
    return parts


def split_time(total: float, sizes: list[int], done: int) -> float:
    """Seconds for part `done` out of the `total` still available: its share by size of
    the parts not yet solved, so time a quick part leaves over goes to the later ones."""
    rest = sum(sizes[done:])
    return total * sizes[done] / rest if rest else 0.0
