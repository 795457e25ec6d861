"""JSON Schemas (draft 2020-12) of the two FORMATS.md documents: `planner schema inventory|plan`.

They state the contract's shape: required keys, types, enums and simple formats. Extra
keys are allowed everywhere, since readers ignore unknown keys. What a schema cannot say
(references between objects, duplicate uuids, sums) is checked by
`planner.inventory.validate` and, for plans, `planner check`.
"""

from __future__ import annotations

from typing import Any

from planner.inventory.model import (
    CPU_VENDORS,
    FORMAT_NAME,
    FORMAT_VERSION,
    GROUP_PLACEMENTS,
    ON_BOOT,
    OS_KINDS,
    POWER_STATES,
    READ_VERSIONS,
)
from planner.plan import FORMAT_NAME as PLAN_FORMAT
from planner.plan import FORMAT_VERSION as PLAN_VERSION
from planner.plan import KINDS
from planner.plan import READ_VERSIONS as PLAN_READ_VERSIONS

DRAFT = "https://json-schema.org/draft/2020-12/schema"
UUID_REF = {"type": "string", "minLength": 1}
NULLABLE_REF = {"type": ["string", "null"]}
SIZE = {"type": "integer", "minimum": 0}
POSITIVE = {"type": "integer", "minimum": 1}
BOOL = {"type": "boolean"}
STRING = {"type": "string"}
FEATURES = {"type": "string", "pattern": "^[0-9a-fA-F]{1,8}(-[0-9a-fA-F]{1,8})*$"}
VERSION = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)*$"}

# Keys a version 1 document already had: required. The (v2) keys are optional, since
# readers accept version 1 files and apply the v2 defaults.
V1_NETWORK = ["uuid", "name", "pool", "management", "sriov", "hosts"]
V1_DISK = ["uuid", "sr", "size_bytes", "used_bytes", "cbt", "on_boot"]
V1_VM = [
    "uuid",
    "name",
    "pool",
    "power_state",
    "host",
    "affinity",
    "memory_bytes",
    "memory_min_bytes",
    "vcpus",
    "cpu_vendor",
    "cpu_features",
    "ha_protected",
    "os",
    "tools",
    "mcs",
    "pci",
    "vgpu",
    "tags",
    "disks",
    "vifs",
]
V1_INVENTORY = [
    "format",
    "version",
    "taken_at",
    "source",
    "pools",
    "hosts",
    "srs",
    "networks",
    "vms",
]
V1_MIGRATION = [
    "id",
    "vm",
    "kind",
    "from_host",
    "to_host",
    "from_pool",
    "to_pool",
    "disks",
    "vifs",
    "est_seconds",
    "depends_on",
]


def _obj(
    props: dict[str, Any], required: list[str] | None = None, description: str | None = None
) -> dict[str, Any]:
    """An object schema requiring every listed property (all of them by default)."""
    out: dict[str, Any] = {
        "type": "object",
        "required": list(props) if required is None else required,
        "properties": props,
    }
    if description:
        out["description"] = description
    return out


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def inventory_schema() -> dict[str, Any]:
    """The inventory snapshot (FORMATS.md "Inventory snapshot")."""
    pool = _obj(
        {
            "uuid": UUID_REF,
            "name": STRING,
            "master": UUID_REF,
            "ha_enabled": BOOL,
            "migration_compression": BOOL,
            "https_only": BOOL,
            "default_sr": NULLABLE_REF,
        }
    )
    cpu = _obj(
        {
            "vendor": {"enum": list(CPU_VENDORS)},
            "features": FEATURES,
            "model": STRING,
            "count": POSITIVE,
        }
    )
    host = _obj(
        {
            "uuid": UUID_REF,
            "name": STRING,
            "pool": UUID_REF,
            "enabled": BOOL,
            "version": VERSION,
            "hotfixes": _array(STRING),
            "cpu": cpu,
            "memory_total_bytes": POSITIVE,
            "memory_overhead_bytes": SIZE,
        },
        description="memory_overhead_bytes must be less than memory_total_bytes",
    )
    sr = _obj(
        {
            "uuid": UUID_REF,
            "name": STRING,
            "pool": UUID_REF,
            "type": STRING,
            "shared": BOOL,
            "size_bytes": SIZE,
            "used_bytes": SIZE,
            "hosts": _array(UUID_REF),
        },
        description="used_bytes must not exceed size_bytes",
    )
    network = _obj(
        {
            "uuid": UUID_REF,
            "name": STRING,
            "pool": UUID_REF,
            "management": BOOL,
            "sriov": BOOL,
            "hosts": _array(UUID_REF),
            "ip_hosts": _array(UUID_REF),
        },
        required=V1_NETWORK,
    )
    disk = _obj(
        {
            "uuid": UUID_REF,
            "sr": UUID_REF,
            "size_bytes": SIZE,
            "used_bytes": SIZE,
            "cbt": BOOL,
            "on_boot": {"enum": list(ON_BOOT)},
            "snapshot_used_bytes": SIZE,
        },
        required=V1_DISK,
    )
    suspend_vdi = _obj({"uuid": UUID_REF, "sr": UUID_REF, "size_bytes": SIZE, "used_bytes": SIZE})
    vm_group = _obj(
        {
            "uuid": UUID_REF,
            "name": STRING,
            "pool": UUID_REF,
            "placement": {"enum": list(GROUP_PLACEMENTS)},
        }
    )
    vif = _obj({"device": STRING, "network": UUID_REF})
    vm = _obj(
        {
            "uuid": UUID_REF,
            "name": STRING,
            "pool": UUID_REF,
            "power_state": {"enum": list(POWER_STATES)},
            "host": NULLABLE_REF,
            "affinity": NULLABLE_REF,
            "memory_bytes": SIZE,
            "memory_min_bytes": SIZE,
            "vcpus": POSITIVE,
            "cpu_vendor": {"enum": [*CPU_VENDORS, None]},
            "cpu_features": {"anyOf": [FEATURES, {"type": "null"}]},
            "ha_protected": BOOL,
            "os": {"enum": list(OS_KINDS)},
            "tools": BOOL,
            "mcs": BOOL,
            "pci": BOOL,
            "vgpu": BOOL,
            "tags": _array(STRING),
            "disks": _array(disk),
            "vifs": _array(vif),
            "suspend_vdi": {"anyOf": [suspend_vdi, {"type": "null"}]},
            "groups": _array(UUID_REF),
        },
        required=V1_VM,
        description="host is set exactly when power_state is Running or "
        "Paused; memory_min_bytes <= memory_bytes",
    )
    return {
        "$schema": DRAFT,
        "$id": f"https://xen-planner.invalid/schema/inventory-{FORMAT_VERSION}.json",
        "title": f"xen-planner inventory snapshot, version {FORMAT_VERSION} (reads 1)",
        **_obj(
            {
                "format": {"const": FORMAT_NAME},
                "version": {"enum": list(READ_VERSIONS)},
                "taken_at": {"type": "string", "description": "RFC 3339 UTC time"},
                "source": STRING,
                "pools": _array(pool),
                "hosts": _array(host),
                "srs": _array(sr),
                "networks": _array(network),
                "vms": _array(vm),
                "vm_groups": _array(vm_group),
            },
            required=V1_INVENTORY,
        ),
    }


def plan_schema() -> dict[str, Any]:
    """The plan (FORMATS.md "Plan")."""
    refs = _array(UUID_REF)
    goal = {
        "oneOf": [
            _obj({"kind": {"const": "evacuate"}, "hosts": refs}),
            _obj({"kind": {"const": "move-pool"}, "from": refs, "to": refs}),
            _obj({"kind": {"const": "retire-sr"}, "srs": refs}),
            _obj(
                {
                    "kind": {"const": "rebalance"},
                    "max_moves": {"type": ["integer", "null"], "minimum": 0},
                }
            ),
            _obj(
                {
                    "kind": {"const": "target"},
                    "placements": {"type": "object", "additionalProperties": UUID_REF},
                }
            ),
            _obj(
                {"kind": {"const": "rolling-upgrade"}, "pool": UUID_REF, "to_version": STRING}
            ),  # docs/plan-extensions.md
        ]
    }
    options = _obj(
        {
            "headroom_fraction": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
            "dmc": BOOL,
            "max_per_pool": {"type": "integer", "minimum": 1, "maximum": 3},
            "max_per_host": {"type": ["integer", "null"], "minimum": 1, "maximum": 3},
            "anti_affinity": {"enum": ["strict", "soft"]},
            "migration_network": {"type": "object", "additionalProperties": UUID_REF},
        },
        required=["headroom_fraction", "dmc", "max_per_pool"],
    )
    seconds = {"type": "number", "minimum": 0}
    count = {"type": "integer", "minimum": 0}
    migration = _obj(
        {
            "id": STRING,
            "vm": UUID_REF,
            "kind": {"enum": list(KINDS)},
            "from_host": NULLABLE_REF,
            "to_host": NULLABLE_REF,
            "from_pool": UUID_REF,
            "to_pool": UUID_REF,
            "disks": _array(_obj({"vdi": UUID_REF, "from_sr": UUID_REF, "to_sr": UUID_REF})),
            "vifs": _array(_obj({"device": STRING, "to_network": UUID_REF})),
            "est_seconds": seconds,
            "depends_on": _array(STRING),
            "start_s": seconds,
            "reason": {"enum": ["temporary", "return-home", None]},
            "home_host": NULLABLE_REF,
        },
        required=V1_MIGRATION,
    )
    reason = _obj({"code": STRING, "message": STRING})
    return {
        "$schema": DRAFT,
        "$id": f"https://xen-planner.invalid/schema/plan-{PLAN_VERSION}.json",
        "title": f"xen-planner plan, version {PLAN_VERSION} (reads 1)",
        **_obj(
            {
                "format": {"const": PLAN_FORMAT},
                "version": {"enum": list(PLAN_READ_VERSIONS)},
                "inventory_digest": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "goal": goal,
                "options": options,
                "solver": _obj({"name": STRING, "status": STRING, "wall_seconds": seconds}),
                "bounds": _obj(
                    {"waves": count, "seconds": seconds, "wave_seconds": seconds},
                    required=["waves", "seconds"],
                ),
                "waves": _array(
                    _obj(
                        {
                            "index": count,
                            "migrations": _array(migration),
                            # added key (docs/plan-extensions.md), optional
                            "steps": _array(
                                _obj(
                                    {
                                        "kind": {
                                            "enum": ["host-disable", "host-upgrade", "host-enable"]
                                        },
                                        "host": UUID_REF,
                                        "when": {"enum": ["before", "after"]},
                                        "to_version": STRING,
                                        "start_s": seconds,
                                        "est_seconds": seconds,
                                    },
                                    required=["kind", "host"],
                                )
                            ),
                        },
                        required=["index", "migrations"],
                    )
                ),
                "unplaced": _array(_obj({"vm": UUID_REF, "reasons": _array(reason)})),
                "warnings": _array(reason),
                "estimate": _obj(
                    {"waves": count, "seconds": seconds, "wave_seconds": seconds},
                    required=["waves", "seconds"],
                ),
            }
        ),
    }


SCHEMAS = {"inventory": inventory_schema, "plan": plan_schema}
