"""Calendar text for capture timestamps, total over every float a capture can hold.

A pcapng timestamp is a 64-bit count of units plus a signed 64-bit offset, so it can name
year 10000, year -29719 or year 586524: outside what :mod:`datetime` (years 1-9999) and
``time.gmtime`` can represent.  These helpers give the same text as
``datetime.fromtimestamp(ts, UTC).strftime(...)`` inside that range (same rounding to the
microsecond), and outside it continue the proleptic Gregorian calendar, with ISO 8601's
expanded years (``10000-01-01``, ``-0001-12-31``).  A non-finite value has no date at all:
it is shown as ``?``.
"""

from __future__ import annotations

import math
import time

__all__ = ["clock_text", "utc_parts", "utc_text"]

def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of ``days`` after 1970-01-01 in the proleptic Gregorian calendar
    (H. Hinnant's ``civil_from_days``; exact for any integer)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def utc_parts(ts: float) -> tuple[int, int, int, int, int, int, int] | None:
    """(year, month, day, hour, minute, second, microsecond) of ``ts`` seconds since the
    epoch, in UTC; None when ``ts`` is not finite."""
    if not math.isfinite(ts):
        return None
    # datetime.fromtimestamp's rounding: the fraction to the nearest microsecond, half even
    frac, whole = math.modf(ts)
    us = round(frac * 1e6)
    secs = int(whole)
    if us >= 1_000_000:
        secs, us = secs + 1, us - 1_000_000
    elif us < 0:
        secs, us = secs - 1, us + 1_000_000
    days, rem = divmod(secs, 86400)
    year, month, day = _civil_from_days(days)
    hour, rem = divmod(rem, 3600)
    minute, second = divmod(rem, 60)
    return year, month, day, hour, minute, second, us


def _year(year: int) -> str:
    return f"{year:04d}" if 0 <= year <= 9999 else f"{'-' if year < 0 else ''}{abs(year):04d}"


def utc_text(ts: float, sep: str = " ", micro: bool = True) -> str:
    """``YYYY-MM-DD HH:MM:SS[.ffffff]`` in UTC (``sep`` between date and time); ``?`` for a
    non-finite value."""
    parts = utc_parts(ts)
    if parts is None:
        return "?"
    year, month, day, hour, minute, second, us = parts
    text = f"{_year(year)}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}"
    return f"{text}.{us:06d}" if micro else text


def clock_text(ts: float) -> str:
    """``HH:MM:SS.ffffff`` in local time (the live view's clock), UTC where the platform
    cannot convert ``ts``; ``?`` for a non-finite value."""
    if not math.isfinite(ts):
        return "?"
    try:
        hms = time.strftime("%H:%M:%S", time.localtime(ts))
    except (OverflowError, OSError, ValueError):
        hms = utc_text(ts)[-15:-7]
    return hms + f".{int(ts % 1 * 1e6):06d}"
