"""CPU generations with XAPI-style feature masks, for the samples and the fleet generator.

XAPI reports a host's CPU features as 32-bit hex words joined by "-". Within one vendor
each newer generation's mask is a bitwise superset of the previous one's (the CPUID
leaves only gain bits), so a VM that booted on an older generation can live-migrate to a
newer one but not back. The words below are illustrative, not copied from real hosts:
what matters to the planner is the subset relation, which is built in by OR-ing each
generation's new bits into its predecessor's mask.
"""

from __future__ import annotations

from dataclasses import dataclass

INTEL = "GenuineIntel"
AMD = "AuthenticAMD"
WORDS = 8


@dataclass(frozen=True, slots=True)
class CpuGeneration:
    vendor: str
    model: str  # the host's CPU model string
    features: str  # XAPI form: WORDS hex words of 8 digits joined by "-"
    rank: int  # 0 = oldest of its vendor


def _words(mask: tuple[int, ...]) -> str:
    return "-".join(f"{w:08x}" for w in mask)


def _ladder(
    vendor: str, base: tuple[int, ...], steps: list[tuple[str, tuple[int, ...]]]
) -> tuple[CpuGeneration, ...]:
    """Generations whose masks accumulate each step's new bits (supersets by construction)."""
    out = []
    mask = base
    for rank, (model, extra) in enumerate(steps):
        mask = tuple(a | b for a, b in zip(mask, extra, strict=True))
        out.append(CpuGeneration(vendor, model, _words(mask), rank))
    return tuple(out)


INTEL_GENERATIONS: tuple[CpuGeneration, ...] = _ladder(
    INTEL,
    (0x1FCBFBFF, 0xF7FA3203, 0x2C100800, 0x00000021, 0x00000001, 0x00000000, 0, 0),
    [
        (
            "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",  # Broadwell
            (0, 0, 0, 0, 0, 0x001C0FBB, 0, 0),
        ),
        (
            "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",  # Skylake
            (0, 0x00000020, 0, 0x00000100, 0, 0xD19F4000, 0x00000008, 0),
        ),
        (
            "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",  # Cascade Lake
            (0, 0, 0, 0, 0, 0, 0x00000808, 0x0C000400),
        ),
        (
            "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",  # Ice Lake
            (0, 0, 0, 0, 0x00000004, 0x20200000, 0x00405F4E, 0x00000010),
        ),
        (
            "Intel(R) Xeon(R) Gold 6430 CPU @ 2.10GHz",  # Sapphire Rapids
            (0, 0, 0x00000100, 0, 0x00000010, 0x02000000, 0x1B000000, 0x01000000),
        ),
    ],
)

AMD_GENERATIONS: tuple[CpuGeneration, ...] = _ladder(
    AMD,
    (0x178BFBFF, 0xF6D83203, 0x2FD3FBFF, 0x000035FF, 0x00000001, 0, 0, 0),
    [
        (
            "AMD EPYC 7351 16-Core Processor",  # Naples
            (0, 0, 0, 0, 0, 0x209C01A9, 0, 0),
        ),
        (
            "AMD EPYC 7402 24-Core Processor",  # Rome
            (0, 0, 0x00000200, 0, 0, 0x01400000, 0x00000004, 0),
        ),
        (
            "AMD EPYC 7443 24-Core Processor",  # Milan
            (0, 0, 0, 0x00000800, 0, 0x00000200, 0x00000600, 0x00000010),
        ),
        (
            "AMD EPYC 9354 32-Core Processor",  # Genoa
            (0, 0, 0, 0, 0x00000020, 0xD0030000, 0x00405F4E, 0x00000100),
        ),
    ],
)
