"""Signed, short-lived tokens: join tokens (room, role, name) and staff session tokens.

JWT (HS256) with the hall's secret key. A join token is bound to one room and one role and carries the
participant's display name; a session token is bound to one staff account. Each names its purpose in
`typ`, so one kind can never be used as the other.
"""

from __future__ import annotations

import dataclasses
import secrets
import time

import jwt

from web_ui.identity.roles import Role, parse_role

ALGORITHM = "HS256"
LEEWAY_SECONDS = 5


class TokenError(Exception):
    """A token was refused. The message is safe to show to the client."""


class TokenExpired(TokenError):
    pass


class TokenInvalid(TokenError):
    pass


@dataclasses.dataclass(frozen=True)
class JoinClaims:
    room_id: str
    role: Role
    name: str
    expires_at: int
    token_id: str
    # A petitioner's reception ticket: joins only through the room socket, into the waiting room, once.
    ticket: bool = False


@dataclasses.dataclass(frozen=True)
class SessionClaims:
    user_id: int
    username: str
    role: Role
    expires_at: int
    token_id: str


class TokenService:
    def __init__(self, secret_key: str, *, max_join_ttl: int) -> None:
        if len(secret_key) < 32:
            raise ValueError("the secret key must be at least 32 characters")
        self._key = secret_key
        self._max_join_ttl = max_join_ttl

    def issue_join(
        self,
        room_id: str,
        role: Role | str,
        name: str,
        ttl_seconds: int,
        *,
        token_id: str | None = None,
        ticket: bool = False,
    ) -> str:
        """A join token; `ticket` marks a petitioner's single-use reception ticket whose id is `token_id`."""
        role = parse_role(str(role))
        if not room_id or len(room_id) > 128:
            raise ValueError("a room id has 1 to 128 characters")
        if not 0 < ttl_seconds <= self._max_join_ttl:
            raise ValueError(f"a join token lives 1 to {self._max_join_ttl} seconds")
        now = int(time.time())
        claims = {
            "typ": "join",
            "room": room_id,
            "role": role.value,
            "name": name[:64],
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": token_id or secrets.token_urlsafe(12),
        }
        if ticket:
            claims["ticket"] = True
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify_join(self, token: str) -> JoinClaims:
        claims = self._decode(token, "join", ("room", "role", "name"))
        try:
            role = parse_role(str(claims["role"]))
        except ValueError:
            raise TokenInvalid("the token names an unknown role") from None
        return JoinClaims(
            str(claims["room"]),
            role,
            str(claims["name"]),
            int(str(claims["exp"])),
            str(claims["jti"]),
            ticket=claims.get("ticket") is True,
        )

    def issue_session(self, user_id: int, username: str, role: Role | str, ttl_seconds: int) -> str:
        role = parse_role(str(role))
        now = int(time.time())
        claims = {
            "typ": "session",
            "sub": str(user_id),
            "name": username,
            "role": role.value,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify_session(self, token: str) -> SessionClaims:
        claims = self._decode(token, "session", ("sub", "name", "role"))
        try:
            role = parse_role(str(claims["role"]))
            user_id = int(str(claims["sub"]))
        except ValueError:
            raise TokenInvalid("the sign-in token is malformed") from None
        return SessionClaims(user_id, str(claims["name"]), role, int(str(claims["exp"])), str(claims["jti"]))

    def _decode(self, token: str, purpose: str, required: tuple[str, ...]) -> dict[str, object]:
        if not token or len(token) > 4096:
            raise TokenInvalid("no usable token was given")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "typ", "jti", *required]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("the token has expired") from None
        except jwt.PyJWTError:
            raise TokenInvalid("the token is not valid") from None
        if claims.get("typ") != purpose:
            raise TokenInvalid(f"this is not a {purpose} token")
        return claims
