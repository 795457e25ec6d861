"""Inventory validation: one test per fault kind, both sides of each threshold, and a
hypothesis test that mutates valid documents and never sees an exception."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.inventory.builder import GIB, Builder
from planner.inventory.generate import generate
from planner.inventory.io import from_dict
from planner.inventory.validate import validate_document

Doc = dict[str, Any]


def small_doc() -> Doc:
    """Two pools, three hosts, a local and a shared SR, four VMs of every power state."""
    b = Builder()
    p = b.pool("a", ha=True)
    h1 = b.host(p, "a-1", memory_gib=64, overhead_gib=2)
    h2 = b.host(p, "a-2", memory_gib=64, overhead_gib=2)
    q = b.pool("b")
    g1 = b.host(q, "b-1")
    sr = b.sr(p, "nfs", size_gib=1000, default=True)
    b.sr(p, "local", shared=False, host=h2)
    b.sr(q, "b-nfs")
    net = b.network(p, "vm-net")
    b.network(q, "vm-net")
    b.vm(p, "run", host=h1, memory_gib=8, memory_min_gib=4, disks=[(sr, 20)], networks=[net])
    b.vm(p, "paused", host=h2, power_state="Paused", disks=[(sr, 10)], networks=[net])
    b.vm(p, "halted", disks=[(sr, 10), (sr, 5)], networks=[net])
    b.vm(q, "b-vm", host=g1, networks=[])
    doc = b.document()
    susp = copy.deepcopy(doc["vms"][2])
    susp.update(
        uuid="00000000-0000-0000-0000-0000000000aa", name="susp", power_state="Suspended", disks=[]
    )
    doc["vms"].append(susp)
    return doc


def errors_of(doc: Any) -> list[str]:
    return validate_document(doc).errors


def test_valid_document_has_no_faults():
    report = validate_document(small_doc())
    assert report.errors == [] and report.warnings == []


def test_bundled_samples_are_valid(sample_inv, two_pools_inv):
    # loading them validated already; a warning would mean an overcommitted host
    from planner.inventory import sample_path
    from planner.inventory.io import read_json

    for name in ("sample", "two-pools"):
        report = validate_document(read_json(sample_path(name), "inventory"))
        assert report.errors == [] and report.warnings == []


# ---------------------------------------------------------------- document level


@pytest.mark.parametrize(
    "doc, expected",
    [
        ([], "document: must be a JSON object"),
        ("x", "document: must be a JSON object"),
        (None, "document: must be a JSON object"),
        ({}, "format: missing"),
        ({"format": "xen-planner/plan", "version": 1}, "format: must be 'xen-planner/inventory'"),
        ({"format": "xen-planner/inventory"}, "version: missing"),
        (
            {"format": "xen-planner/inventory", "version": 3},
            "version: unsupported inventory version 3",
        ),
        ({"format": "xen-planner/inventory", "version": True}, "version: unsupported"),
        ({"format": "xen-planner/inventory", "version": "1"}, "version: unsupported"),
    ],
)
def test_wrong_document_is_one_line(doc, expected):
    errs = errors_of(doc)
    assert len(errs) == 1
    assert errs[0].startswith(expected)


def test_missing_lists_and_top_keys_are_reported_each():
    errs = errors_of({"format": "xen-planner/inventory", "version": 1})
    for key in ("taken_at", "source", "pools", "hosts", "srs", "networks", "vms"):
        assert any(e.startswith(f"{key}: missing") for e in errs), key
    assert len(errs) == 7


def test_bad_taken_at_is_a_warning_not_an_error():
    doc = small_doc()
    doc["taken_at"] = "yesterday"
    report = validate_document(doc)
    assert report.errors == []
    assert report.warnings == ["taken_at: not an RFC 3339 time: 'yesterday'"]


# ---------------------------------------------------------------- one fault each

B1 = "00000000-0000-0000-0000-000000000005"  # host b-1, of pool b


def _set(path: list[Any], value: Any) -> Callable[[Doc], None]:
    def f(doc: Doc) -> None:
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value

    return f


def _del(path: list[Any]) -> Callable[[Doc], None]:
    def f(doc: Doc) -> None:
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]

    return f


FAULTS: list[tuple[str, Callable[[Doc], None], str]] = [
    # types
    (
        "bool is not an int",
        _set(["hosts", 0, "memory_total_bytes"], True),
        "hosts[0].memory_total_bytes: must be a positive integer, got true",
    ),
    (
        "int is not a bool",
        _set(["pools", 0, "ha_enabled"], 1),
        "pools[0].ha_enabled: must be true or false, got 1",
    ),
    (
        "float is not an int",
        _set(["vms", 0, "memory_bytes"], 8.0),
        "vms[0].memory_bytes: must be a non-negative integer, got 8.0",
    ),
    (
        "negative size",
        _set(["srs", 0, "size_bytes"], -1),
        "srs[0].size_bytes: must be a non-negative integer, got -1",
    ),
    (
        "negative disk size",
        _set(["vms", 0, "disks", 0, "used_bytes"], -5),
        "vms[0].disks[0].used_bytes: must be a non-negative integer, got -5",
    ),
    (
        "memory total zero",
        _set(["hosts", 1, "memory_total_bytes"], 0),
        "hosts[1].memory_total_bytes: must be a positive integer, got 0",
    ),
    (
        "memory total negative",
        _set(["hosts", 1, "memory_total_bytes"], -5),
        "hosts[1].memory_total_bytes: must be a positive integer, got -5",
    ),
    ("vcpus zero", _set(["vms", 1, "vcpus"], 0), "vms[1].vcpus: must be a positive integer, got 0"),
    (
        "cpu count zero",
        _set(["hosts", 0, "cpu", "count"], 0),
        "hosts[0].cpu.count: must be a positive integer, got 0",
    ),
    (
        "name not a string",
        _set(["networks", 0, "name"], 5),
        "networks[0].name: must be a string, got 5",
    ),
    (
        "host null for a string",
        _set(["hosts", 0, "pool"], None),
        "hosts[0].pool: must be a string, got null",
    ),
    (
        "hotfixes not a list",
        _set(["hosts", 0, "hotfixes"], "XS82ECU1033"),
        "hosts[0].hotfixes: must be a list, got 'XS82ECU1033'",
    ),
    (
        "hotfix item not a string",
        _set(["hosts", 0, "hotfixes"], ["ok", 3]),
        "hosts[0].hotfixes[1]: must be a string, got 3",
    ),
    ("tags item", _set(["vms", 0, "tags"], [None]), "vms[0].tags[0]: must be a string, got null"),
    (
        "cpu not an object",
        _set(["hosts", 0, "cpu"], "Xeon"),
        "hosts[0].cpu: must be an object, got 'Xeon'",
    ),
    ("host not an object", _set(["hosts", 2], [1]), "hosts[2]: must be an object, got a list"),
    (
        "disk not an object",
        _set(["vms", 0, "disks", 0], 7),
        "vms[0].disks[0]: must be an object, got 7",
    ),
    (
        "vif not an object",
        _set(["vms", 0, "vifs", 0], None),
        "vms[0].vifs[0]: must be an object, got null",
    ),
    ("vms not a list", _set(["vms"], {}), "vms: must be a list, got an object"),
    ("empty uuid", _set(["srs", 1, "uuid"], ""), "srs[1].uuid: must not be empty"),
    # missing keys
    ("missing key", _del(["vms", 0, "os"]), "vms[0].os: missing"),
    ("missing nested key", _del(["hosts", 0, "cpu", "vendor"]), "hosts[0].cpu.vendor: missing"),
    ("missing disk key", _del(["vms", 2, "disks", 1, "cbt"]), "vms[2].disks[1].cbt: missing"),
    ("missing nullable key", _del(["vms", 2, "affinity"]), "vms[2].affinity: missing"),
    # enums and formats
    (
        "power state",
        _set(["vms", 0, "power_state"], "running"),
        "vms[0].power_state: must be one of 'Running', 'Paused', 'Suspended', 'Halted', got "
        "'running'",
    ),
    (
        "os",
        _set(["vms", 0, "os"], "bsd"),
        "vms[0].os: must be one of 'windows', 'linux', 'other', got 'bsd'",
    ),
    (
        "on_boot",
        _set(["vms", 0, "disks", 0, "on_boot"], "keep"),
        "vms[0].disks[0].on_boot: must be one of 'persist', 'reset', got 'keep'",
    ),
    (
        "cpu vendor",
        _set(["hosts", 0, "cpu", "vendor"], "Intel"),
        "hosts[0].cpu.vendor: must be one of 'GenuineIntel', 'AuthenticAMD', got 'Intel'",
    ),
    (
        "vm cpu vendor",
        _set(["vms", 0, "cpu_vendor"], "ARM"),
        "vms[0].cpu_vendor: must be one of 'GenuineIntel', 'AuthenticAMD' or null, got 'ARM'",
    ),
    (
        "version letters",
        _set(["hosts", 0, "version"], "8.4.0-beta"),
        "hosts[0].version: must be dotted integers like '8.4.0', got '8.4.0-beta'",
    ),
    ("version empty part", _set(["hosts", 0, "version"], "8..4"), "hosts[0].version: must be "),
    (
        "features not hex",
        _set(["hosts", 0, "cpu", "features"], "1fcbfbff-zz"),
        "hosts[0].cpu.features: must be hex words joined by '-'",
    ),
    (
        "features word too long",
        _set(["hosts", 0, "cpu", "features"], "1fcbfbff0"),
        "hosts[0].cpu.features: must be hex words",
    ),
    (
        "features empty",
        _set(["hosts", 0, "cpu", "features"], ""),
        "hosts[0].cpu.features: must be hex words",
    ),
    ("vm features", _set(["vms", 0, "cpu_features"], "abc-"), "vms[0].cpu_features: must be hex"),
    # duplicate uuids, across kinds and including disks
    (
        "duplicate host uuid",
        lambda d: d["hosts"][1].update(uuid=d["hosts"][0]["uuid"]),
        "hosts[1].uuid: duplicate uuid '00000000-0000-0000-0000-000000000002' (also hosts[0])",
    ),
    (
        "vm uuid = pool uuid",
        lambda d: d["vms"][3].update(uuid=d["pools"][0]["uuid"]),
        "vms[3].uuid: duplicate uuid '00000000-0000-0000-0000-000000000001' (also pools[0])",
    ),
    (
        "disk uuid = network uuid",
        lambda d: d["vms"][2]["disks"][1].update(uuid=d["networks"][0]["uuid"]),
        "vms[2].disks[1].uuid: duplicate uuid",
    ),
    (
        "duplicate vif device",
        lambda d: d["vms"][0]["vifs"].append(dict(d["vms"][0]["vifs"][0])),
        "vms[0].vifs[1].device: duplicate VIF device '0' in this VM",
    ),
    # dangling references
    (
        "pool master",
        _set(["pools", 0, "master"], "nope"),
        "pools[0].master: no host with uuid 'nope'",
    ),
    (
        "default sr",
        _set(["pools", 0, "default_sr"], "nope"),
        "pools[0].default_sr: no SR with uuid 'nope'",
    ),
    ("host pool", _set(["hosts", 1, "pool"], "nope"), "hosts[1].pool: no pool with uuid 'nope'"),
    ("sr pool", _set(["srs", 0, "pool"], "nope"), "srs[0].pool: no pool with uuid 'nope'"),
    ("sr hosts", _set(["srs", 0, "hosts"], ["nope"]), "srs[0].hosts[0]: no host with uuid 'nope'"),
    (
        "network pool",
        _set(["networks", 0, "pool"], "nope"),
        "networks[0].pool: no pool with uuid 'nope'",
    ),
    (
        "network hosts",
        _set(["networks", 1, "hosts"], ["x"]),
        "networks[1].hosts[0]: no host with uuid 'x'",
    ),
    ("vm pool", _set(["vms", 2, "pool"], "nope"), "vms[2].pool: no pool with uuid 'nope'"),
    ("vm host", _set(["vms", 0, "host"], "nope"), "vms[0].host: no host with uuid 'nope'"),
    (
        "vm affinity",
        _set(["vms", 2, "affinity"], "nope"),
        "vms[2].affinity: no host with uuid 'nope'",
    ),
    (
        "disk sr",
        _set(["vms", 0, "disks", 0, "sr"], "3f2a"),
        "vms[0].disks[0].sr: no SR with uuid '3f2a'",
    ),
    (
        "vif network",
        _set(["vms", 0, "vifs", 0, "network"], "n"),
        "vms[0].vifs[0].network: no network with uuid 'n'",
    ),
    # pool membership
    (
        "master of another pool",
        lambda d: d["pools"][0].update(master=d["hosts"][2]["uuid"]),
        "pools[0].master: host '00000000-0000-0000-0000-000000000005' (hosts[2]) "
        "is not in this pool",
    ),
    (
        "default sr of another pool",
        lambda d: d["pools"][0].update(default_sr=d["srs"][2]["uuid"]),
        "pools[0].default_sr: SR ",
    ),
    (
        "sr attached to another pool's host",
        lambda d: d["srs"][0]["hosts"].append(d["hosts"][2]["uuid"]),
        f"srs[0].hosts[2]: host '{B1}' (hosts[2]) is in another pool",
    ),
    (
        "network on another pool's host",
        lambda d: d["networks"][0]["hosts"].append(d["hosts"][2]["uuid"]),
        "networks[0].hosts[2]: host ",
    ),
    (
        "vm resident in another pool",
        lambda d: d["vms"][0].update(host=d["hosts"][2]["uuid"]),
        f"vms[0].host: resident on host '{B1}' (hosts[2]) of another pool",
    ),
    (
        "affinity in another pool",
        lambda d: d["vms"][0].update(affinity=d["hosts"][2]["uuid"]),
        "vms[0].affinity: host '00000000-0000-0000-0000-000000000005' is in another pool",
    ),
    (
        "disk on another pool's SR",
        lambda d: d["vms"][0]["disks"][0].update(sr=d["srs"][2]["uuid"]),
        "vms[0].disks[0].sr: SR '00000000-0000-0000-0000-000000000008' is in another pool",
    ),
    (
        "vif on another pool's network",
        lambda d: d["vms"][0]["vifs"][0].update(network=d["networks"][1]["uuid"]),
        "vms[0].vifs[0].network: network ",
    ),
    # power state consistency
    (
        "running without host",
        _set(["vms", 0, "host"], None),
        "vms[0].host: a Running VM needs its resident host, got null",
    ),
    (
        "paused without host",
        _set(["vms", 1, "host"], None),
        "vms[1].host: a Paused VM needs its resident host, got null",
    ),
    (
        "halted with host",
        lambda d: d["vms"][2].update(host=d["hosts"][0]["uuid"]),
        "vms[2].host: must be null for a Halted VM, got '00000000-0000-0000-0000-000000000002'",
    ),
    (
        "suspended with host",
        lambda d: d["vms"][4].update(host=d["hosts"][0]["uuid"]),
        "vms[4].host: must be null for a Suspended VM",
    ),
]


CASCADES = {"host not an object", "duplicate host uuid"}


@pytest.mark.parametrize("name, mutate, expected", FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_is_reported_once_with_its_path(name, mutate, expected):
    doc = small_doc()
    mutate(doc)
    errs = errors_of(doc)
    hits = [e for e in errs if e.startswith(expected)]
    assert len(hits) == 1, errs
    if name in CASCADES:
        # the object is gone (or lost its uuid): references to it now dangle, each said once
        assert errs[0] == hits[0] and all("no host with uuid" in e for e in errs[1:]), errs
    else:
        assert len(errs) == 1, f"one fault should give one line: {errs}"


def test_all_faults_are_reported_not_only_the_first():
    chosen = {
        "int is not a bool",
        "float is not an int",
        "negative size",
        "vcpus zero",
        "missing key",
        "power state",
        "disk sr",
        "pool master",
        "version letters",
        "empty uuid",
        "cpu vendor",
        "halted with host",
    }  # independent faults
    doc = small_doc()
    for name, mutate, _ in FAULTS:
        if name in chosen:
            mutate(doc)
    errs = errors_of(doc)
    for name, _, expected in FAULTS:
        if name in chosen:
            assert any(e.startswith(expected) for e in errs), name
    assert len(errs) == len(chosen)


def test_unknown_keys_are_ignored():
    doc = small_doc()
    doc["collector"] = {"anything": [1, 2]}
    doc["pools"][0]["x_custom"] = None
    doc["vms"][0]["disks"][0]["vdi_type"] = "user"
    doc["hosts"][0]["cpu"]["flags"] = ["sse"]
    assert validate_document(doc).errors == []


# ---------------------------------------------------------------- thresholds, both sides


def _threshold(edit: Callable[[Doc, int], None], ok: int, bad: int) -> tuple[list[str], list[str]]:
    good, wrong = small_doc(), small_doc()
    edit(good, ok)
    edit(wrong, bad)
    return errors_of(good), errors_of(wrong)


def test_memory_min_may_equal_but_not_exceed_memory():
    def edit(d: Doc, n: int) -> None:
        d["vms"][0]["memory_min_bytes"] = d["vms"][0]["memory_bytes"] + n

    good, bad = _threshold(edit, 0, 1)
    assert good == []
    assert bad == [
        f"vms[0].memory_min_bytes: must not exceed memory_bytes ({8 * GIB}), got {8 * GIB + 1}"
    ]


def test_sr_used_may_equal_but_not_exceed_size():
    def edit(d: Doc, n: int) -> None:
        d["srs"][0]["used_bytes"] = d["srs"][0]["size_bytes"] + n

    good, bad = _threshold(edit, 0, 1)
    assert good == []
    assert len(bad) == 1 and bad[0].startswith("srs[0].used_bytes: must not exceed size_bytes")


def test_overhead_must_stay_below_total():
    def edit(d: Doc, n: int) -> None:
        d["hosts"][2]["memory_overhead_bytes"] = d["hosts"][2]["memory_total_bytes"] + n

    good, bad = _threshold(edit, -1, 0)
    assert good == []
    assert len(bad) == 1 and bad[0].startswith("hosts[2].memory_overhead_bytes: must be less")


@pytest.mark.parametrize(
    "path, low",
    [
        (["vms", 0, "vcpus"], 1),
        (["hosts", 0, "cpu", "count"], 1),
        (["srs", 0, "size_bytes"], 0),
        (["vms", 0, "disks", 0, "size_bytes"], 0),
        (["hosts", 0, "memory_overhead_bytes"], 0),
    ],
)
def test_lowest_allowed_value_passes_and_one_below_fails(path, low):
    good, bad = small_doc(), small_doc()
    _set(path, low)(good)
    _set(path, low - 1)(bad)
    # (an SR of size 0 holding disks is over-full: that error is expected, nothing else)
    assert all("used_bytes: must not exceed" in e for e in errors_of(good))
    assert any(e.startswith(".".join(_fmt(path))) for e in errors_of(bad))


def test_memory_total_of_one_byte_is_valid_but_zero_is_not():
    good, bad = small_doc(), small_doc()
    for d, n in ((good, 1), (bad, 0)):
        d["hosts"][2].update(memory_total_bytes=n, memory_overhead_bytes=0)
        d["vms"][3]["memory_bytes"] = d["vms"][3]["memory_min_bytes"] = 0
    assert validate_document(good).errors == []
    assert errors_of(bad) == ["hosts[2].memory_total_bytes: must be a positive integer, got 0"]


def _fmt(path: list[Any]) -> list[str]:
    out: list[str] = []
    for k in path:
        if isinstance(k, int):
            out[-1] += f"[{k}]"
        else:
            out.append(k)
    return out


def test_committed_memory_at_capacity_is_fine_and_above_is_a_warning():
    # a-1: 64 GiB total, 2 GiB overhead: 62 GiB for guests; "run" commits 8 GiB
    def with_run_memory(n: int) -> Doc:
        d = small_doc()
        d["vms"][0]["memory_bytes"] = n
        d["vms"][0]["memory_min_bytes"] = 0
        return d

    at = validate_document(with_run_memory(62 * GIB))
    over = validate_document(with_run_memory(62 * GIB + 1))
    assert at.errors == [] and at.warnings == []
    assert over.errors == []
    assert len(over.warnings) == 1 and over.warnings[0].startswith(
        f"hosts[0]: running VMs commit {62 * GIB + 1} bytes, more than the {62 * GIB} bytes"
    )


def test_halted_vms_commit_no_memory():
    d = small_doc()
    d["vms"][2]["memory_bytes"] = 10**15  # halted: never counted on a host
    assert validate_document(d).warnings == []


# ---------------------------------------------------------------- never raise


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


BASE = small_doc()
PATHS = [p for p in _paths(BASE) if p]


def _get(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


UUIDS = sorted({x["uuid"] for k in ("pools", "hosts", "srs", "networks", "vms") for x in BASE[k]})

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(UUIDS),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated(draw: st.DrawFn) -> Doc:
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 6))):
        path = draw(st.sampled_from(PATHS))
        try:
            parent = _get(doc, path[:-1])
            key = path[-1]
            parent[key]  # the path may have been removed by an earlier mutation
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(parent, dict | list):  # an earlier mutation made it a scalar
            continue
        op = draw(st.sampled_from(("delete", "value", "reference", "duplicate")))
        if op == "delete":
            del parent[key]
        elif op == "value":
            parent[key] = draw(json_values)
        elif op == "reference":
            parent[key] = draw(st.sampled_from([*UUIDS, "dangling"]))
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_never_raise_and_valid_means_loadable(doc):
    report = validate_document(doc)
    for line in report.errors + report.warnings:
        assert isinstance(line, str) and ": " in line
    if report.errors:
        with pytest.raises(InputError) as e:
            from_dict(doc)
        assert e.value.problems == report.errors
    else:
        # the validator's promise: a clean report means the model can be built and used
        inv = from_dict(doc)
        for p in inv.pools:
            assert inv.master_of(p.uuid).pool == p.uuid
        for v in inv.vms:
            if v.is_running:
                assert inv.host_by_uuid[v.host].pool == v.pool
            for d in v.disks:
                assert inv.sr_by_uuid[d.sr].pool == v.pool


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_value_as_document_is_a_clean_report(value):
    report = validate_document(value)
    assert len(report.errors) == 1


# ---------------------------------------------------------------- speed


def test_validation_is_fast_on_a_mid_size_fleet():
    doc = generate(4, 16, 1000, seed=3)  # 4,000 VMs
    t0 = time.perf_counter()
    report = validate_document(doc)
    took = time.perf_counter() - t0
    assert report.errors == []
    assert took < 2.0, took  # ~0.1 s here; 100,000 VMs in a few seconds (slow test)


@pytest.mark.slow
def test_validation_of_100k_vms_takes_a_few_seconds():
    doc = generate(100, 16, 1000, seed=1)
    t0 = time.perf_counter()
    report = validate_document(doc)
    took = time.perf_counter() - t0
    assert report.errors == []
    assert took < 10.0, took
