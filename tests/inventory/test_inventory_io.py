"""Inventory files: round trips, digests, documents from other tools, unusable files."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from planner.errors import InputError
from planner.inventory import digest, from_dict, load, sample_path, save, to_dict
from planner.inventory.generate import generate
from planner.inventory.io import read_json


@pytest.mark.parametrize("name", ["sample", "two-pools"])
def test_samples_round_trip_unchanged(name: str, tmp_path: Path):
    first = load(sample_path(name))
    out = tmp_path / "a.json"
    save(first, out)
    second = load(out)
    assert second == first  # every field of every object
    assert digest(second) == digest(first)
    # saving again gives the same bytes: the file is a fixed point
    out2 = tmp_path / "b.json"
    save(second, out2)
    assert out2.read_bytes() == out.read_bytes()
    # the bundled file has no unknown keys, so the model keeps all of it
    assert to_dict(first) == read_json(sample_path(name), "inventory")


@pytest.mark.parametrize("pools, hosts, vms, seed", [(1, 3, 20, 0), (3, 5, 80, 7)])
def test_generated_fleets_round_trip(pools, hosts, vms, seed, tmp_path: Path):
    doc = generate(pools, hosts, vms, seed)
    inv = from_dict(doc)
    assert to_dict(inv) == doc
    out = tmp_path / "fleet.json"
    save(inv, out)
    again = load(out)
    assert again == inv
    assert digest(again) == digest(inv)


def test_digest_is_the_formats_md_definition(sample_inv):
    # FORMATS.md: sha256 of the document with sorted keys, "," and ":" separators, UTF-8,
    # (v2) without taken_at and source
    doc = read_json(sample_path("sample"), "inventory")
    del doc["taken_at"], doc["source"]
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert digest(sample_inv) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_digest_changes_with_any_value(sample_inv):
    doc = to_dict(sample_inv)
    doc["vms"][0]["memory_bytes"] += 1
    assert digest(from_dict(doc)) != digest(sample_inv)


def _foreign(doc: dict) -> dict:
    """The same inventory as another tool might write it: extra keys everywhere,
    non-ASCII names, keys in another order."""
    d = copy.deepcopy(doc)
    d["collector"] = {"tool": "xo-export", "version": "5.1"}
    d["pools"][0]["name"] = "laboratoire-é"
    for kind in ("pools", "hosts", "srs", "networks", "vms"):
        for obj in d[kind]:
            obj["x_vendor_field"] = [1, {"a": None}]
    d["vms"][0]["disks"][0]["vdi_type"] = "user"
    d["vms"][0]["vifs"][0]["mac"] = "aa:bb:cc:dd:ee:ff"
    d["hosts"][0]["cpu"]["stepping"] = "7"
    return {k: d[k] for k in reversed(list(d))}


def test_document_from_another_tool_loads(tmp_path: Path):
    doc = _foreign(read_json(sample_path("sample"), "inventory"))
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(doc, indent=4, ensure_ascii=False), encoding="utf-8")
    inv = load(path)
    assert inv.pools[0].name == "laboratoire-é"
    assert len(inv.vms) == len(doc["vms"])
    # the digest is that of the document as read, unknown keys included, so a plan made
    # by the other tool from this very file matches it
    doc = {k: v for k, v in doc.items() if k not in ("taken_at", "source")}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert digest(inv) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert digest(inv) != digest(from_dict(to_dict(inv)))


def _one_line(e: InputError) -> str:
    lines = e.lines()
    assert len(lines) == 1, lines
    return lines[0]


def test_missing_file_is_one_line(tmp_path: Path):
    with pytest.raises(InputError) as e:
        load(tmp_path / "nope.json")
    assert _one_line(e.value) == f"{tmp_path / 'nope.json'}: no such file"


def test_directory_is_one_line(tmp_path: Path):
    with pytest.raises(InputError) as e:
        load(tmp_path)
    assert "is a directory" in _one_line(e.value)


def test_malformed_json_names_line_and_column(tmp_path: Path):
    p = tmp_path / "bad.json"
    p.write_text('{"format": "xen-planner/inventory",\n  "version": 1,,\n}')
    with pytest.raises(InputError) as e:
        load(p)
    assert _one_line(e.value).startswith(f"{p}:2:")
    assert "malformed JSON" in e.value.message


def test_not_utf8_is_one_line(tmp_path: Path):
    p = tmp_path / "bin.json"
    p.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(InputError) as e:
        load(p)
    assert "cannot read inventory" in _one_line(e.value)


@pytest.mark.parametrize(
    "doc, expected",
    [
        ({"format": "xen-planner/plan", "version": 1}, "format: must be 'xen-planner/inventory'"),
        (
            {"format": "xen-planner/inventory", "version": 3},
            "version: unsupported inventory version 3",
        ),
        ([1, 2], "document: must be a JSON object"),
    ],
)
def test_wrong_format_or_version_is_one_problem(doc, expected, tmp_path: Path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(InputError) as e:
        load(p)
    assert len(e.value.problems) == 1
    assert e.value.problems[0].startswith(expected)
    assert e.value.message == f"{p}: 1 problem"


def test_invalid_document_lists_every_problem(tmp_path: Path):
    doc = read_json(sample_path("sample"), "inventory")
    doc["vms"][3]["disks"][0]["sr"] = "3f2a"
    doc["hosts"][1]["memory_total_bytes"] = -5
    p = tmp_path / "x.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(InputError) as e:
        load(p)
    assert e.value.problems == [
        "hosts[1].memory_total_bytes: must be a positive integer, got -5",
        "vms[3].disks[0].sr: no SR with uuid '3f2a'",
    ]
    assert e.value.exit_code == 2


def test_digest_ignores_taken_at_and_source(sample_inv):
    # (v2) two collections of an unchanged fleet have the same digest
    doc = to_dict(sample_inv)
    doc["taken_at"], doc["source"] = "2030-01-01T00:00:00Z", "another collector"
    assert digest(from_dict(doc)) == digest(sample_inv)


def test_version_1_inventory_still_loads_with_v2_defaults(sample_inv):
    doc = to_dict(sample_inv)
    doc["version"] = 1
    del doc["vm_groups"]
    for n in doc["networks"]:
        del n["ip_hosts"]
    for v in doc["vms"]:
        del v["suspend_vdi"], v["groups"]
        for d in v["disks"]:
            del d["snapshot_used_bytes"]
    inv = from_dict(doc)
    assert inv.vm_groups == () and all(v.groups == () for v in inv.vms)
    for n in inv.networks:
        assert n.ip_hosts == (n.hosts if n.management else ())
