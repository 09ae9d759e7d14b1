"""The camera's clock, and the times it writes (xs:dateTime, xs:duration)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final

from camera_control.onvif.reading import as_text, field


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_xs_datetime(text: str | None) -> dt.datetime | None:
    """An xs:dateTime as an aware UTC datetime, or None when it is absent or nonsense.

    Hikvision writes dates with a dash where the T belongs ("2010-01-01-00:00:00Z", see the library's
    onvif/types.py FastDateTime) and sometimes sends "0000-00-00T00:00:00Z"; no zone means UTC.
    """
    if not text:
        return None
    value = text.strip()
    if len(value) > 10 and value[10] in "- ":
        value = f"{value[:10]}T{value[11:]}"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def xs_duration(seconds: float) -> str:
    return f"PT{max(round(seconds), 1)}S"


_POSIX_TZ: Final = re.compile(r"^[A-Za-z]{3,}(?P<sign>[+-]?)(?P<hours>\d{1,2})(?::(?P<minutes>\d{2}))?")


def camera_clock(answer: Any) -> dt.datetime | None:
    """The camera's UTC time from a GetSystemDateAndTime answer, or None when it cannot be read."""
    if answer is None:
        return None
    moment = field(answer, "UTCDateTime")
    utc_offset = dt.timedelta(0)
    if moment is None:
        # Some cameras give only LocalDateTime; their TZ is a POSIX string ("CST-08:00", "EST+5:00:00EDT...",
        # "UTC5:0"), whose sign is the opposite of ISO's. Daylight saving is not taken into account.
        moment = field(answer, "LocalDateTime")
        match = _POSIX_TZ.match(as_text(field(answer, "TimeZone", "TZ")))
        if match is not None:
            minutes = int(match["hours"]) * 60 + int(match["minutes"] or 0)
            utc_offset = dt.timedelta(minutes=minutes if match["sign"] != "-" else -minutes)
    try:
        local = dt.datetime(
            int(field(moment, "Date", "Year")),
            int(field(moment, "Date", "Month")),
            int(field(moment, "Date", "Day")),
            int(field(moment, "Time", "Hour")),
            int(field(moment, "Time", "Minute")),
            int(field(moment, "Time", "Second")),
            tzinfo=dt.UTC,
        )
    except (TypeError, ValueError):
        return None
    return local + utc_offset


def clock_offset_between(camera_now: dt.datetime, received: dt.datetime) -> float:
    """Seconds the camera's clock is ahead of ours, from its time and the moment its answer arrived."""
    # The camera tells whole seconds, on average half a second behind the moment it answered.
    return float(round((camera_now - received).total_seconds() + 0.5))
