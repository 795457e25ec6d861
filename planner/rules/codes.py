"""Every reason code a rule, the checker or the solver can give, with a short meaning.

docs/rules.md documents each with its source in the XenServer documentation.
"""

from __future__ import annotations

# Exclusions (FORMATS.md rule 8): the VM cannot migrate at all (for the given kind).
HA_PROTECTED = "HA_PROTECTED"
SRIOV = "SRIOV"
PCI = "PCI"
VGPU = "VGPU"
ON_BOOT_RESET = "ON_BOOT_RESET"
NO_TOOLS = "NO_TOOLS"
CBT = "CBT"
MCS = "MCS"
PAUSED = "PAUSED"  # (v2) a Paused VM cannot migrate at all
# Target rules (FORMATS.md rules 5-7, 9).
CPU_VENDOR = "CPU_VENDOR"
CPU_FEATURES = "CPU_FEATURES"
VERSION = "VERSION"
HOST_DISABLED = "HOST_DISABLED"
SR_NOT_ATTACHED = "SR_NOT_ATTACHED"
SR_WRONG_POOL = "SR_WRONG_POOL"
NETWORK_UNMAPPED = "NETWORK_UNMAPPED"
NETWORK_NOT_ATTACHED = "NETWORK_NOT_ATTACHED"
PORT80 = "PORT80"
MIGRATION_NETWORK_NO_IP = "MIGRATION_NETWORK_NO_IP"  # issue 17
WRONG_KIND = "WRONG_KIND"
# Capacity at a moment of the replay (FORMATS.md rules 1-4).
MEMORY = "MEMORY"
SR_SPACE = "SR_SPACE"
HALTED_MEMORY = "HALTED_MEMORY"
CONCURRENCY = "CONCURRENCY"
# Plan-level rules of the checker (FORMATS.md rules 10-12 and file integrity).
CONTINUITY = "CONTINUITY"
GOAL = "GOAL"
ESTIMATE = "ESTIMATE"
UNKNOWN_OBJECT = "UNKNOWN_OBJECT"
DEPENDENCY = "DEPENDENCY"
HOME_HOST = "HOME_HOST"  # issue 17
# Solver outcomes for a VM that must move but cannot be placed.
NO_CAPACITY = "NO_CAPACITY"
NO_TARGET = "NO_TARGET"
# Warnings
MANAGEMENT_NETWORK = "MANAGEMENT_NETWORK"
# (v2) two members of an anti-affinity VM group on one host (a violation in strict
# mode, a warning in soft mode)
ANTI_AFFINITY = "ANTI_AFFINITY"
# (v2) an unplaced reason code the checker does not know
UNKNOWN_REASON = "UNKNOWN_REASON"
# Campaigns of issue 9 (docs/plan-extensions.md)
CYCLE = "CYCLE"
NOTHING_TO_DO = "NOTHING_TO_DO"
HOST_NOT_EMPTY = "HOST_NOT_EMPTY"
UPGRADE_ORDER = "UPGRADE_ORDER"
REBALANCE_INCOMPLETE = "REBALANCE_INCOMPLETE"

MEANING: dict[str, str] = {
    HA_PROTECTED: "VM is HA-protected (restart) in a pool with HA enabled",
    SRIOV: "VM has a VIF on an SR-IOV network",
    PCI: "VM has a PCI passthrough device",
    VGPU: "VM has a vGPU",
    ON_BOOT_RESET: "VM has a disk with on-boot=reset",
    NO_TOOLS: "Windows VM without VM tools",
    CBT: "VM has a disk with changed block tracking (storage moves only)",
    MCS: "VM was created by Machine Creation Services (storage moves only)",
    PAUSED: "VM is Paused: XAPI migrates only Running, Suspended or Halted VMs",
    CPU_VENDOR: "target host CPU vendor differs from the VM's",
    CPU_FEATURES: "VM CPU features are not a subset of the target host's",
    VERSION: "target host runs an older version than the source",
    HOST_DISABLED: "target host is disabled",
    SR_NOT_ATTACHED: "a disk's SR is not attached to the target host",
    SR_WRONG_POOL: "a target SR is not in the target pool",
    NETWORK_UNMAPPED: "a VIF's network has no counterpart in the target pool",
    NETWORK_NOT_ATTACHED: "a VIF's network has no PIF on the target host",
    PORT80: "source pool needs port 80, target pool is HTTPS-only",
    MIGRATION_NETWORK_NO_IP: "the migration network has no IP on the host receiving the stream",
    WRONG_KIND: "migration kind does not fit the VM's state or the move",
    MEMORY: "target host lacks free memory",
    SR_SPACE: "an SR lacks the space a storage migration reserves",
    HALTED_MEMORY: "no enabled host of the pool could start the halted VM",
    CONCURRENCY: "more than max_per_pool migrations from one pool in a wave",
    CONTINUITY: "migration does not start where the VM is, or moves a VM twice in a wave",
    GOAL: "the goal does not hold after the last wave",
    ESTIMATE: "the plan's estimate does not match its waves",
    UNKNOWN_OBJECT: "the plan names an object the inventory lacks",
    DEPENDENCY: "depends_on names a migration that is not in an earlier wave",
    HOME_HOST: "a migration's home_host is not a host of its to_pool",
    NO_CAPACITY: "eligible targets exist but none has room",
    NO_TARGET: "no host or SR passes the rules",
    MANAGEMENT_NETWORK: "migration traffic uses the management network",
    ANTI_AFFINITY: "another VM of the same anti-affinity group runs on the target host",
    UNKNOWN_REASON: "an unplaced VM names a reason code the checker does not know",
    CYCLE: "target moves wait on each other in a cycle and no spare host can break it",
    NOTHING_TO_DO: "the pool is already within the rebalance tolerance",
    HOST_NOT_EMPTY: "a host is upgraded while running VMs are still on it",
    UPGRADE_ORDER: "a pool member is upgraded before its master",
    REBALANCE_INCOMPLETE: "a pool stays outside the rebalance tolerance",
}

# What the operator can do about a code (shown by `planner explain` and in docs/rules.md).
REMEDY: dict[str, str] = {
    HA_PROTECTED: "set the VM's HA restart priority to best-effort (or disable HA on the "
    "pool) for the campaign, then restore it",
    SRIOV: "move the VIF to a non-SR-IOV network, or shut the VM down and move it cold",
    PCI: "detach the PCI device (or shut down and re-create the assignment on the target)",
    VGPU: "shut the VM down, move it, then re-attach a vGPU on the target",
    ON_BOOT_RESET: "set on-boot=persist on the disk (xe vdi-param-set on-boot=persist)",
    NO_TOOLS: "install the XenServer VM Tools for Windows in the guest, or shut it down",
    CBT: "disable changed block tracking on the disk (xe vdi-disable-cbt) before the move",
    MCS: "let Citrix Virtual Apps and Desktops re-provision the VM in the target pool",
    PAUSED: "unpause it (xe vm-unpause), or shut it down and move it cold",
    CPU_VENDOR: "pick a host with the same CPU vendor, or shut the VM down first",
    CPU_FEATURES: "pick a host whose CPU has the VM's features, or reboot the VM on the "
    "pool's common feature set first",
    VERSION: "upgrade the target host first, or pick a host at the same version or newer",
    HOST_DISABLED: "enable the host (xe host-enable) or pick another",
    SR_NOT_ATTACHED: "plug the SR into the host, or move the disks with a storage migration",
    SR_WRONG_POOL: "choose an SR of the target pool for every disk",
    NETWORK_UNMAPPED: "create a network of the same name in the target pool, or map it with "
    "--network-map SRC=DST",
    NETWORK_NOT_ATTACHED: "add a PIF on the network to the host, or pick another host",
    PORT80: "apply hotfix XS82ECU1033 to the source pool, or open port 80 on the target",
    HOME_HOST: "re-plan with --set-home same-host (or none), or name a host of the VM's new pool",
    MIGRATION_NETWORK_NO_IP: "give the host's PIF on that network an IP (xe "
    "pif-reconfigure-ip), pick another --migration-network, or another host",
    WRONG_KIND: "use the migration kind that fits the VM's power state",
    MEMORY: "free memory on the host first (move or shut down VMs), or pick another host",
    SR_SPACE: "free space on the SR, or pick another SR",
    HALTED_MEMORY: "free memory on an enabled host of the source pool",
    CYCLE: "free the memory the message names on one host of the cycle, or add a spare "
    "host with that much free, so one VM can step aside",
    HOST_NOT_EMPTY: "evacuate the host (host-disable, migrate its VMs) before upgrading it",
    UPGRADE_ORDER: "upgrade the pool master first",
    ANTI_AFFINITY: "pick a host no other member of the group runs on, move that member "
    "first, or plan with --anti-affinity soft to accept the overlap as a warning",
    UNKNOWN_REASON: "use a reason code of docs/rules.md",
}
