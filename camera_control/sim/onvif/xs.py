"""XML Schema values as the camera writes and reads them: xs:boolean, xs:dateTime, xs:duration."""

from __future__ import annotations

import datetime
import re
import time


def xs_boolean(value: bool) -> str:
    return "true" if value else "false"


def xs_datetime(timestamp: float) -> str:
    """xs:dateTime in UTC to the second, as the captures write it: 2025-04-18T20:34:05Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float:
    """Seconds in an xs:duration of days, hours, minutes and seconds (PT1M, PT0.5S, P0D)."""
    match = _DURATION.match(text.strip())
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"not an xs:duration: {text!r}")
    parts = {key: float(value or 0) for key, value in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def parse_datetime(text: str) -> float:
    """An xs:dateTime as UTC seconds; no zone means UTC."""
    moment = datetime.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()
