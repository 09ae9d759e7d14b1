"""Sign-in attempts per client address: Argon2 costs ~0.1 s of CPU each, so they are rationed."""

from __future__ import annotations

import collections
import time

from web_ui.identity.users import IdentityError

LOGIN_WINDOW_SECONDS = 60.0
LOGIN_ATTEMPTS_PER_WINDOW = 20  # per client address; each attempt costs ~0.1 s of Argon2


class TooManyAttempts(IdentityError):
    """Too many sign-in attempts from one address (429)."""


class LoginThrottle:
    """A sliding window of attempts per client address, kept small: sign-ins, or bookings from the phone page."""

    def __init__(self, what: str = "sign-in attempts") -> None:
        self._attempts: dict[str, collections.deque[float]] = {}
        self._what = what

    def check(self, client: str | None) -> None:
        now = time.monotonic()
        key = client or "-"
        attempts = self._attempts.setdefault(key, collections.deque())
        while attempts and now - attempts[0] > LOGIN_WINDOW_SECONDS:
            attempts.popleft()
        if len(attempts) >= LOGIN_ATTEMPTS_PER_WINDOW:
            raise TooManyAttempts(f"too many {self._what} from this address; wait a minute")
        attempts.append(now)
        if len(self._attempts) > 10_000:  # forget idle addresses
            for stale in [k for k, v in self._attempts.items() if not v or now - v[-1] > LOGIN_WINDOW_SECONDS]:
                del self._attempts[stale]
