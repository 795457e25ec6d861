"""How the collector reads XAPI record fields (XAPI.md's table): the record types, the
MCS rule, XAPI ints and refs, a VM's OS, SR-IOV networks, a PIF's address, and which
SRs and VMs are not inventory objects. Pure functions over records; planner.inventory.convert
uses them in its per-class converters.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NULL_REF = "OpaqueRef:NULL"
# XAPI's placement_policy enum -> the inventory's spelling (FORMATS.md vm_group)
PLACEMENTS = {"anti_affinity": "anti-affinity", "normal": "normal"}

LINUX_WORDS = (
    "linux",
    "ubuntu",
    "debian",
    "centos",
    "rhel",
    "red hat",
    "redhat",
    "oracle",
    "sles",
    "suse",
    "rocky",
    "alma",
    "fedora",
    "amazon",
    "gentoo",
    "arch",
    "coreos",
    "mint",
)

Record = dict[str, Any]
Tables = Mapping[str, Mapping[str, Record]]


@dataclass(frozen=True)
class McsRule:
    """How the collector recognises a VM created by Machine Creation Services.

    XAPI has no field for it. A VM counts as MCS when its `other_config` has one of
    `other_config_keys` with a value other than "false"/"0"/"" or when it carries one
    of `tags`. The default (`other_config:mcs`) is the key the simulator writes; set
    your provisioning tool's key or tag with `planner collect --mcs-key/--mcs-tag`.
    """

    other_config_keys: tuple[str, ...] = ("mcs",)
    tags: tuple[str, ...] = ()

    def matches(self, rec: Mapping[str, Any]) -> bool:
        other = rec.get("other_config") or {}
        for key in self.other_config_keys:
            value = str(other.get(key, "")).strip().lower()
            if value not in ("", "false", "0", "no"):
                return True
        return bool(set(self.tags) & set(rec.get("tags") or []))


DEFAULT_MCS = McsRule()


def _int(value: Any, default: int = 0) -> int:
    """XAPI ints travel as decimal strings."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _ref(value: Any) -> str | None:
    return None if not value or value == NULL_REF else str(value)


def _os_of(vm: Mapping[str, Any], gm: Mapping[str, Any] | None) -> str:
    """ "windows" | "linux" | "other" from guest metrics, else viridian, else the template."""
    osv = (gm or {}).get("os_version") or {}
    if osv:
        text = f"{osv.get('name', '')} {osv.get('distro', '')}".lower()
        if "windows" in text or "microsoft" in text:
            return "windows"
        return "linux" if any(w in text for w in LINUX_WORDS) else "other"
    if str((vm.get("platform") or {}).get("viridian", "")).lower() == "true":
        return "windows"
    base = str((vm.get("other_config") or {}).get("base_template_name", "")).lower()
    if "windows" in base:
        return "windows"
    if any(w in base for w in LINUX_WORDS):
        return "linux"
    return "other"


def _is_sriov_network(net: Mapping[str, Any], t: Tables) -> bool:
    """XAPI's is_sriov_network: the first PIF is an SR-IOV logical PIF, or a VLAN on one."""
    pifs = [t["PIF"][p] for p in net.get("PIFs", []) if p in t["PIF"]]
    if not pifs:
        return False
    pif = pifs[0]
    if pif.get("sriov_logical_PIF_of"):
        return True
    vlan = t.get("VLAN", {}).get(pif.get("VLAN_master_of") or NULL_REF)
    if vlan is not None:
        tagged = t["PIF"].get(vlan.get("tagged_PIF") or NULL_REF)
        return bool(tagged and tagged.get("sriov_logical_PIF_of"))
    return False


def pif_has_ip(pif: Mapping[str, Any]) -> bool:
    """Whether `host.migrate_receive` can take a migration stream on this PIF.

    XAPI (xapi_host.ml `migrate_receive`) reads the PIF's primary address: for
    `primary_address_type` "IPv6" (absent on old hosts: IPv4) a non-link-local address
    in `IPv6` ("addr/prefix" items), else `IP`; an empty one is refused
    (PIF_HAS_NO_NETWORK_CONFIGURATION when `ip_configuration_mode` is "None",
    INTERFACE_HAS_NO_IP otherwise). A DHCP PIF still waiting for its lease therefore
    does not count.
    """
    if pif.get("primary_address_type") == "IPv6":
        for item in pif.get("IPv6") or ():
            try:
                addr = ipaddress.ip_address(str(item).split("/", 1)[0].strip())
            except ValueError:
                continue
            if not addr.is_link_local:
                return True
        return False
    return bool(str(pif.get("IP") or "").strip())


def _skipped_sr(sr: Mapping[str, Any]) -> bool:
    return (
        sr.get("content_type") == "iso"
        or sr.get("type") in ("iso", "udev")
        or bool(sr.get("is_tools_sr"))
    )


def _skipped_vm(vm: Mapping[str, Any]) -> bool:
    return bool(vm.get("is_a_template") or vm.get("is_a_snapshot") or vm.get("is_control_domain"))
