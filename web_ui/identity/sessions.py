"""Signing out: a staff session token is refused from then on, not only forgotten by the browser.

Tokens are signed, not stored, so a signed-out token stays valid until it expires unless it is listed
here. The list lives in the database, so every process of the hall refuses it. Each process keeps a
copy and reads the list again at most every RECHECK_SECONDS: a sign-out through this process is seen
by its next request, one through another process within those seconds. Entries go once their token
would have expired anyway.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from web_ui.db import Database
from web_ui.identity.users import RECHECK_SECONDS
from web_ui.models import RevokedSessionRow


class SessionRevocations:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._revoked: dict[str, float] = {}  # token id -> expiry (Unix seconds)
        self._read_at = -float("inf")
        self._lock = asyncio.Lock()

    async def revoke(self, token_id: str, expires_at: int) -> None:
        """End one sign-in (the token with this id) for every process of the hall."""
        self._revoked[token_id] = expires_at
        expiry = dt.datetime.fromtimestamp(expires_at, dt.UTC)
        try:
            async with self._db.session() as session:
                await session.execute(insert(RevokedSessionRow).values(token_id=token_id, expires_at=expiry))
                await session.commit()
        except IntegrityError:
            pass  # signed out twice: it is listed already

    async def is_revoked(self, token_id: str) -> bool:
        if time.monotonic() - self._read_at >= RECHECK_SECONDS:
            await self._read()
        return token_id in self._revoked

    async def _read(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at < RECHECK_SECONDS:
                return  # another request read it meanwhile
            async with self._db.session() as session:
                rows = await session.execute(select(RevokedSessionRow.token_id, RevokedSessionRow.expires_at))
                listed = {token_id: _utc(expires_at).timestamp() for token_id, expires_at in rows}
                now = time.time()
                if any(expiry <= now for expiry in listed.values()):  # tokens that have expired anyway
                    cutoff = dt.datetime.fromtimestamp(now, dt.UTC)
                    await session.execute(delete(RevokedSessionRow).where(RevokedSessionRow.expires_at <= cutoff))
                    await session.commit()
            # A sign-out through this process that was committed after the read above still counts.
            listed.update((token_id, expiry) for token_id, expiry in self._revoked.items() if expiry > now)
            self._revoked = {token_id: expiry for token_id, expiry in listed.items() if expiry > now}
            self._read_at = time.monotonic()


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment  # SQLite keeps no zone: UTC
