"""How `planner check` judges an unplaced VM's reason codes (FORMATS.md rule 11, v2).

- **Exclusions** are properties of the VM (rule 8): the checker verifies the VM has them.
- **Target rules** (rules 5-7, 9 and NO_TARGET) are static too: the claim holds only when
  no target the goal allows passes the rules, and the code is among the reasons.
- **Capacity** codes ("no room in any state of this plan") and the campaigns' plan-level
  codes cannot be verified without solving again: they are accepted as the solver's
  claim and counted apart in the report.
- Any other code is unknown: a violation (UNKNOWN_REASON).
"""

from __future__ import annotations

from planner.rules import codes

EXCLUSION_CODES: frozenset[str] = frozenset(
    {
        codes.HA_PROTECTED,
        codes.SRIOV,
        codes.PCI,
        codes.VGPU,
        codes.ON_BOOT_RESET,
        codes.NO_TOOLS,
        codes.CBT,
        codes.MCS,
        codes.PAUSED,
    }
)
TARGET_CODES: frozenset[str] = frozenset(
    {
        codes.CPU_VENDOR,
        codes.CPU_FEATURES,
        codes.VERSION,
        codes.HOST_DISABLED,
        codes.SR_NOT_ATTACHED,
        codes.SR_WRONG_POOL,
        codes.NETWORK_UNMAPPED,
        codes.NETWORK_NOT_ATTACHED,
        codes.PORT80,
        codes.WRONG_KIND,
        codes.NO_TARGET,
    }
)
CAPACITY_CODES: frozenset[str] = frozenset(
    {
        codes.NO_CAPACITY,
        codes.MEMORY,
        codes.SR_SPACE,
        codes.HALTED_MEMORY,
        codes.CONCURRENCY,
        codes.ANTI_AFFINITY,
        # plan-level outcomes of the campaigns (docs/plan-extensions.md)
        codes.CYCLE,
        codes.HOST_NOT_EMPTY,
        codes.UPGRADE_ORDER,
        codes.REBALANCE_INCOMPLETE,
        codes.NOTHING_TO_DO,
    }
)


def reason_class(code: str) -> str:
    """ "exclusion", "target", "capacity" or "unknown" for an unplaced reason code."""
    if code in EXCLUSION_CODES:
        return "exclusion"
    if code in TARGET_CODES:
        return "target"
    if code in CAPACITY_CODES:
        return "capacity"
    return "unknown"
