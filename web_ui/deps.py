"""Who is calling, and may they: the dependencies every route and socket goes through."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, Request

from web_ui.identity.roles import Role
from web_ui.identity.tokens import JoinClaims
from web_ui.services import Services

SESSION_COOKIE = "hall_session"
CSRF_COOKIE = "hall_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotAuthenticated(Exception):
    """No usable credentials (401)."""


class Forbidden(Exception):
    """Authenticated, but this role may not do this (403)."""


@dataclasses.dataclass(frozen=True)
class Principal:
    """A signed-in staff member (session cookie or bearer token)."""

    user_id: int
    username: str
    display_name: str
    role: Role
    via: Literal["cookie", "bearer"]
    token_id: str = ""  # the session token's id and expiry (Unix seconds): what signing out revokes
    expires_at: int = 0


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def current_staff(request: Request, services: ServicesDep) -> Principal:
    token = bearer_token(request)
    via: Literal["cookie", "bearer"] = "bearer"
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
        via = "cookie"
        if token is None:
            raise NotAuthenticated("sign in first")
        if request.method not in SAFE_METHODS:
            expected = request.cookies.get(CSRF_COOKIE, "")
            given = request.headers.get(CSRF_HEADER, "")
            if not expected or not hmac.compare_digest(expected, given):
                raise Forbidden("missing or wrong CSRF token (send the hall_csrf cookie's value as X-CSRF-Token)")
    return await staff_session(services, token, via)


async def staff_session(services: Services, token: str, via: Literal["cookie", "bearer"]) -> Principal:
    """The staff member a session token belongs to, if it is genuine, unexpired, not signed out, and the
    account is still active in the same role."""
    claims = services.tokens.verify_session(token)  # TokenError: 401 invalid_token
    if await services.revocations.is_revoked(claims.token_id):
        raise NotAuthenticated("this sign-in has ended (signed out); sign in again")
    user = await services.users.signed_in(claims.user_id)
    if user is None or not user.active or user.role != claims.role:
        raise NotAuthenticated("this account is disabled or has changed; sign in again")
    return Principal(user.id, user.username, user.display_name, user.role, via, claims.token_id, claims.expires_at)


StaffDep = Annotated[Principal, Depends(current_staff)]


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    allowed = frozenset(roles)

    async def check(principal: StaffDep) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"role '{principal.role.value}' may not do this")
        return principal

    return check


def join_claims(
    services: Services, token: str | None, room_id: str, allowed: frozenset[Role], *, tickets: bool = False
) -> JoinClaims:
    """Check a join token for this room and one of `allowed` roles. A petitioner's reception ticket is good only
    where `tickets` says so (the room socket, which puts them in the waiting room)."""
    if not token:
        raise NotAuthenticated("a join token is required (Authorization: Bearer <token>)")
    claims = services.tokens.verify_join(token)  # TokenError: 401 invalid_token
    if claims.room_id != room_id:
        raise Forbidden("this token is for another room")
    if claims.role not in allowed:
        raise Forbidden(f"role '{claims.role.value}' may not do this in a room")
    if claims.ticket and not tickets:
        raise Forbidden("a reception link joins through its page, by way of the waiting room")
    return claims


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def audit_staff(
    services: Services,
    request: Request,
    principal: Principal,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record what a signed-in staff member did, from where."""
    await services.audit.record(
        actor=principal.username,
        role=principal.role.value,
        action=action,
        target=target,
        client=client_address(request),
        detail=detail,
    )
