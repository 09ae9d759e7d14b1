"""Staff accounts: add, authenticate (with a pause after repeated failures), list, disable."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import time
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from web_ui.db import Database
from web_ui.identity.passwords import hash_password, needs_rehash, verify_password
from web_ui.identity.roles import STAFF_ROLES, Role, parse_role
from web_ui.models import UserRow

RECHECK_SECONDS = 5.0
_BY_ID = select(UserRow.id, UserRow.username, UserRow.display_name, UserRow.role, UserRow.active).where(
    UserRow.id == bindparam("id")
)
USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")


class IdentityError(Exception):
    """Root of identity errors; messages are safe to show."""


class InvalidCredentials(IdentityError):
    pass


class AccountLocked(IdentityError):
    pass


class UserExists(IdentityError):
    pass


class UserNotFound(IdentityError):
    pass


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    active: bool

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role.value,
            "active": self.active,
        }


def _user(row: Any) -> User:  # an ORM row or a Core row with the same names
    return User(row.id, row.username, row.display_name, Role(row.role), row.active)


class UserStore:
    def __init__(self, db: Database, *, max_failed_logins: int = 5, lockout_seconds: int = 300) -> None:
        self._db = db
        self._max_failed = max_failed_logins
        self._lockout = dt.timedelta(seconds=lockout_seconds)
        self._recent: dict[int, tuple[float, User | None]] = {}  # user id: (when read, account); staff only

    async def add(self, username: str, password: str, role: Role | str, display_name: str | None = None) -> User:
        if not USERNAME.match(username):
            raise IdentityError("a username has 2 to 64 letters, digits, '.', '_' or '-'")
        role = parse_role(str(role))
        if role not in STAFF_ROLES:
            raise IdentityError(f"role '{role.value}' cannot have an account; petitioners join with a link")
        # Argon2 takes ~0.1 s of CPU by design: never on the event loop that forwards media.
        password_hash = await asyncio.to_thread(hash_password, password)
        row = UserRow(
            username=username,
            display_name=(display_name or username)[:64],
            role=role.value,
            password_hash=password_hash,
            active=True,
            failed_logins=0,
        )
        async with self._db.session() as session:
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                raise UserExists(f"user '{username}' already exists") from None
            return _user(row)

    async def authenticate(self, username: str, password: str) -> User:
        now = dt.datetime.now(dt.UTC)
        async with self._db.session() as session:
            row = (await session.execute(select(UserRow).where(UserRow.username == username))).scalar_one_or_none()
            if row is not None and row.locked_until is not None and _aware(row.locked_until) > now:
                raise AccountLocked("too many failed sign-ins; try again in a few minutes")
            matches = await asyncio.to_thread(verify_password, row.password_hash if row else None, password)
            if not matches or row is None or not row.active:
                if row is not None:
                    row.failed_logins += 1
                    if row.failed_logins >= self._max_failed:
                        row.locked_until = now + self._lockout
                        row.failed_logins = 0
                    await session.commit()
                raise InvalidCredentials("wrong username or password")
            row.failed_logins = 0
            row.locked_until = None
            if needs_rehash(row.password_hash):
                row.password_hash = await asyncio.to_thread(hash_password, password)
            await session.commit()
            return _user(row)

    async def get(self, user_id: int) -> User | None:
        async with self._db.read() as connection:
            row = (await connection.execute(_BY_ID, {"id": user_id})).first()
        user = _user(row) if row is not None else None
        self._recent[user_id] = (time.monotonic(), user)
        return user

    async def signed_in(self, user_id: int) -> User | None:
        """The account behind a signed-in request (a verified token's subject), as it was at most
        RECHECK_SECONDS ago. Every request checks it; a change made through this store (disabling an account) is
        seen by the next request, one made elsewhere (another process) within those seconds."""
        recent = self._recent.get(user_id)
        if recent is not None and time.monotonic() - recent[0] < RECHECK_SECONDS:
            return recent[1]
        return await self.get(user_id)

    async def list(self) -> list[User]:
        async with self._db.session() as session:
            rows = (await session.execute(select(UserRow).order_by(UserRow.username))).scalars()
            return [_user(r) for r in rows]

    async def set_active(self, username: str, active: bool) -> User:
        async with self._db.session() as session:
            row = (await session.execute(select(UserRow).where(UserRow.username == username))).scalar_one_or_none()
            if row is None:
                raise UserNotFound(f"no user '{username}'")
            row.active = active
            await session.commit()
            self._recent.pop(row.id, None)
            return _user(row)

    async def set_password(self, username: str, password: str) -> None:
        async with self._db.session() as session:
            row = (await session.execute(select(UserRow).where(UserRow.username == username))).scalar_one_or_none()
            if row is None:
                raise UserNotFound(f"no user '{username}'")
            row.password_hash = await asyncio.to_thread(hash_password, password)
            await session.commit()


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
