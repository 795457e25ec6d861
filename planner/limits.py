"""Bounds on every number and text the planner takes from a file or an option.

One place for them, so a hostile or mistaken input (NaN, Infinity, 1e300, a 5,000-digit
integer, an option of 99999999999 workers) is refused with one line naming it before it
reaches the solver, the journal (SQLite keeps 64-bit integers) or a sleep. The figures
are documented in docs/reliability.md ("What is refused").
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from planner.errors import InputError

MAX_FILE_BYTES = 1 << 30  # 1 GiB: a 100,000-VM inventory is about 150 MB
MAX_JSON_DEPTH = 64  # planner documents nest at most 6 deep
# a campaign longer than a year is a data error, not a plan: it bounds every duration
MAX_SECONDS = 366 * 24 * 3600
MAX_INDEX = 10**6  # wave indexes
MAX_BYTES = 1 << 62  # memory, disk and SR sizes (SQLite and NumPy keep int64)
MAX_COUNT = 1 << 31  # vCPUs, CPU counts
MAX_TEXT = 4096  # characters in one name, uuid or version string

# option name (the Python parameter) -> (lowest, highest) accepted value. Options not
# named here need only be finite; `generate` bounds its counts itself (their product)
OPTION_RANGES: dict[str, tuple[float, float]] = {
    "time_limit": (0.01, 7 * 86400),
    "workers": (1, 1024),
    "processes": (1, 1024),
    "seed": (0, 2**31 - 1),  # CP-SAT's random_seed is a 32-bit integer
    "max_moves": (0, 10**7),
    "tolerance": (0.0, 1.0),
    "timeout": (0.1, 86400),
    "retries": (0, 1000),
    "backoff": (0.0, 86400),
    "poll": (0.01, 3600),
    "step_poll": (0.01, 86400),
    "step_timeout": (0.01, 365 * 86400),
    "step": (0.0001, 10.0),
    "max_factor": (1.0, 1000.0),
    "port": (0, 65535),
    "speed": (0.001, 10**6),
    "fail_rate": (0.0, 1.0),
    "settle": (0.0, 86400),
}


def finite(
    value: Any,
    what: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    integer: bool = False,
) -> float:
    """`value` as a number when it is a finite int/float within [lo, hi] (bools are not
    numbers here); otherwise InputError naming `what`. `integer`: floats are refused."""
    ok_types = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        kind = "an integer" if integer else "a number"
        raise InputError(f"{what}: must be {kind}, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{what}: must be a finite number, got {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InputError(f"{what}: must be {_range(lo, hi)}, got {_short(value)}")
    return value


def bad_number(value: Any, lo: float, hi: float, *, integer: bool = False) -> str | None:
    """Why `value` is not a fit number (for collectors of many problems), or None."""
    try:
        finite(value, "", lo, hi, integer=integer)
    except InputError as e:
        return e.message.removeprefix(": ")
    return None


def bad_text(text: str, *, controls: bool = True) -> str | None:
    """Why `text` cannot be a name: a lone surrogate (no file or terminal can hold it),
    a control character (when `controls`), or more than MAX_TEXT characters; None when
    it is fine."""
    if len(text) > MAX_TEXT:
        return f"longer than {MAX_TEXT} characters"
    for c in text:
        cat = unicodedata.category(c)
        if cat == "Cs":
            return f"holds a lone surrogate (U+{ord(c):04X})"
        if controls and cat == "Cc" and c not in "\t":
            return f"holds a control character (U+{ord(c):04X})"
    return None


def check_option(name: str, flag: str, value: Any) -> None:
    """Refuse an option value out of its range (OPTION_RANGES), a non-finite float, or
    an empty or unprintable text. Lists are checked item by item."""
    if isinstance(value, (list, tuple)):
        for v in value:
            check_option(name, flag, v)
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        lo, hi = OPTION_RANGES.get(name, (None, None))
        finite(value, flag, lo, hi)
    elif isinstance(value, str):
        if not value.strip():
            raise InputError(f"{flag}: must not be empty")
        why = bad_text(value)
        if why is not None:
            raise InputError(f"{flag}: {why}")


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"between {_short(lo)} and {_short(hi)}"
    return f"at least {_short(lo)}" if lo is not None else f"at most {_short(hi)}"


def _short(v: float | None) -> str:
    """A number as people read it; a huge integer is not printed in full."""
    if isinstance(v, int) and abs(v) >= 10**15:
        # str() of a 5,000-digit integer raises: say its size in bits instead
        return f"{'-' if v < 0 else ''}about 2**{abs(v).bit_length() - 1}"
    return f"{v:g}" if isinstance(v, float) else str(v)
