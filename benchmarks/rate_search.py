"""The bisection both ramps end with: lightsheet's (``throughput.ramp``) and the sashimi-style
baseline's (``sashimi_ramp``), so the two figures they compare are found the same way."""

from __future__ import annotations

from collections.abc import Callable


def bisect_rates(attempt: Callable[[float], bool], passed: float, failed: float | None,
                 refine: int) -> tuple[float, float | None]:  # fmt: skip
    """``refine`` bisections between a rate that passed and one above it that failed (whole
    frames a second; none when either is missing or they are adjacent): the two narrowed."""
    for _ in range(refine if failed is not None and passed else 0):
        assert failed is not None
        middle = float(round((passed + failed) / 2))
        if middle <= passed or middle >= failed:
            break
        if attempt(middle):
            passed = middle
        else:
            failed = middle
    return passed, failed
