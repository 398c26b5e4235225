"""Per-caller limits: token buckets in the fleet state, so a limit holds fleet-wide.

A limit is written ``"30/minute"`` (also ``/second``, ``/hour``, ``/day``, or
``"30/90s"``): up to that many requests in a burst, refilled evenly over the period.
"""

from __future__ import annotations

from dataclasses import dataclass

PERIODS = {
    "s": 1.0,
    "second": 1.0,
    "m": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` requests per ``seconds``: the bucket's capacity and its refill rate."""

    count: int
    seconds: float
    text: str

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


def parse_rate(text: str) -> Rate:
    """``"30/minute"`` → ``Rate(30, 60.0)``; ``ValueError`` naming what is wrong."""
    count_text, sep, period = text.strip().partition("/")
    if not sep:
        raise ValueError(f"expected COUNT/PERIOD such as 30/minute, got {text!r}")
    try:
        count = int(count_text)
    except ValueError:
        raise ValueError(f"the count in {text!r} is not a whole number") from None
    if count < 1:
        raise ValueError(f"the count in {text!r} must be at least 1")
    period = period.strip().lower()
    seconds = PERIODS.get(period)
    if seconds is None:
        digits = period.rstrip("smhd")
        unit = period[len(digits) :]
        try:
            seconds = float(digits) * PERIODS[unit] if digits and unit else None
        except (ValueError, KeyError):
            seconds = None
    if seconds is None or seconds <= 0:
        raise ValueError(
            f"unknown period in {text!r}: use second, minute, hour, day or a number with "
            "s, m, h or d"
        )
    return Rate(count, seconds, f"{count}/{period}")
