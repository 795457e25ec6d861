"""What-if sweeps: N-1, N-k, growth; identical results serially, in processes, on Dask."""

from __future__ import annotations

import pandas as pd
import pytest

from planner import whatif
from planner.errors import InputError
from planner.inventory.builder import Builder


def _fleet():
    """Two pools. 'lab': four 32 GiB hosts (30 usable), three 6 GiB VMs each, plus a 2 GiB VM on
    xs-01's local SR. 'tight': two hosts, each 80% full, so no single failure is survivable."""
    b = Builder()
    p = b.pool("lab")
    hs = [b.host(p, f"xs-0{i}", memory_gib=32) for i in range(1, 5)]
    sr = b.sr(p, "nfs")
    net = b.network(p, "vm-net")
    local = b.sr(p, "local", shared=False, host=hs[0])
    for i in range(12):
        b.vm(p, f"vm{i:02}", host=hs[i % 4], memory_gib=6, disks=[(sr, 10)], networks=[net])
    b.vm(p, "local-vm", host=hs[0], memory_gib=2, disks=[(local, 10)], networks=[net])
    q = b.pool("tight")
    t = [b.host(q, f"t-0{i}", memory_gib=32) for i in range(1, 3)]
    tsr = b.sr(q, "t-nfs")
    for i, h in enumerate(t):
        b.vm(q, f"t-vm{i}", host=h, memory_gib=24, disks=[(tsr, 10)])
    return b.build()


def test_n_minus_1_rows_are_right():
    inv = _fleet()
    df = whatif.n_minus_1(inv, processes=1)
    assert list(df.columns) == whatif.COLUMNS
    rows = df.set_index("scenario")
    assert len(df) == 6
    # xs-01: the local-disk VM cannot restart elsewhere; its 3 shared VMs can (18 GiB into
    # the 3 x (30 - 18) = 36 GiB free)
    assert not rows.loc["fail xs-01", "feasible"]
    assert rows.loc["fail xs-01", "unplaced_vms"] == "local-vm"
    assert rows.loc["fail xs-01", "reasons"] == "SR_NOT_ATTACHED:1"
    assert rows.loc["fail xs-02", "feasible"] and rows.loc["fail xs-02", "vms"] == 3
    # tight pool: 24 GiB never fits next to 24 GiB on a 30 GiB host
    assert not rows.loc["fail t-01", "feasible"]
    assert rows.loc["fail t-01", "reasons"] == "NO_CAPACITY:1"
    assert (df["max_utilisation"] <= 1.0).all()


def test_n_minus_k_and_pool_check():
    inv = _fleet()
    df = whatif.n_minus_k(inv, [["xs-02", "xs-03"]], processes=1)
    # 6 x 6 GiB onto xs-01 (30 - 20 = 10 free: one fits) and xs-04 (30 - 18 = 12: two fit)
    assert df.loc[0, "unplaced"] == 3 and df.loc[0, "vms"] == 6
    with pytest.raises(InputError, match="not all in one pool"):
        whatif.n_minus_k(inv, [["xs-02", "t-01"]])


def test_growth_stops_at_first_failure():
    inv = _fleet()
    df = whatif.growth(inv, step=0.25)
    assert df["feasible"].tolist()[:-1] == [True] * (len(df) - 1)
    assert not df["feasible"].iloc[-1]
    # the tight pool: 24 GiB x 1.25 = 30 GiB fills a 30 GiB host exactly, which fits;
    # x 1.5 does not
    assert df["factor"].tolist() == [1.0, 1.25, 1.5]
    assert df["unplaced_vms"].iloc[-1] == "t-vm0, t-vm1"
    with pytest.raises(InputError):
        whatif.growth(inv, step=0)


def test_process_pool_matches_serial():
    inv = _fleet()
    serial = whatif.n_minus_1(inv, processes=1)
    parallel = whatif.n_minus_1(inv, processes=2)
    pd.testing.assert_frame_equal(serial, parallel)


def test_dask_local_cluster_matches_local():
    distributed = pytest.importorskip("distributed")
    inv = _fleet()
    local = whatif.n_minus_1(inv, processes=1)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        seen: list[tuple[int, int]] = []
        remote = whatif.n_minus_1(inv, client=client, progress=lambda d, n: seen.append((d, n)))
    pd.testing.assert_frame_equal(local, remote)
    assert seen[-1] == (6, 6)
