"""CPU compatibility (FORMATS.md rule 5): same vendor, VM features a subset of the host's."""

from __future__ import annotations

from functools import lru_cache

from planner.inventory.model import VM, Host
from planner.moves import Reason
from planner.rules import codes


@lru_cache(maxsize=4096)
def parse_features(features: str) -> tuple[int, ...]:
    """XAPI's feature string ("hex words joined by '-'") as 32-bit integers."""
    if not features:
        return ()
    return tuple(int(word, 16) for word in features.split("-"))


def features_subset(vm_features: str, host_features: str) -> bool:
    """True when every feature bit the VM booted with is present on the host."""
    vm_words = parse_features(vm_features)
    host_words = parse_features(host_features)
    for i, w in enumerate(vm_words):
        have = host_words[i] if i < len(host_words) else 0
        if w & ~have:
            return False
    return True


def cpu_reasons(vm: VM, host: Host) -> list[Reason]:
    """Why `vm` cannot move onto `host`'s CPU. XAPI checks every power state but Halted
    (`cpuid_helpers.ml`, `assert_vm_is_compatible`); a Halted VM has no CPU constraint."""
    if vm.power_state == "Halted" or vm.cpu_vendor is None:
        return []
    if vm.cpu_vendor != host.cpu.vendor:
        return [
            Reason(
                codes.CPU_VENDOR,
                f"{vm.name} runs on {vm.cpu_vendor}, {host.name} is {host.cpu.vendor}",
            )
        ]
    if vm.cpu_features and not features_subset(vm.cpu_features, host.cpu.features):
        return [
            Reason(
                codes.CPU_FEATURES,
                f"{vm.name} booted with CPU features {host.name} lacks ({host.cpu.model})",
            )
        ]
    return []
