"""Staff sign-in: a bearer token for API clients and an HttpOnly cookie (with CSRF token) for pages."""

from __future__ import annotations

import collections
import secrets
import time

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from web_ui.deps import CSRF_COOKIE, SESSION_COOKIE, ServicesDep, StaffDep, client_address
from web_ui.identity.users import IdentityError

router = APIRouter(prefix="/api/auth", tags=["auth"])

LOGIN_WINDOW_SECONDS = 60.0
LOGIN_ATTEMPTS_PER_WINDOW = 20  # per client address; each attempt costs ~0.1 s of Argon2


class TooManyAttempts(Exception):
    """Too many sign-in attempts from one address (429)."""


class LoginThrottle:
    """A sliding window of sign-in attempts per client address, kept small."""

    def __init__(self) -> None:
        self._attempts: dict[str, collections.deque[float]] = {}

    def check(self, client: str | None) -> None:
        now = time.monotonic()
        key = client or "-"
        attempts = self._attempts.setdefault(key, collections.deque())
        while attempts and now - attempts[0] > LOGIN_WINDOW_SECONDS:
            attempts.popleft()
        if len(attempts) >= LOGIN_ATTEMPTS_PER_WINDOW:
            raise TooManyAttempts("too many sign-in attempts from this address; wait a minute")
        attempts.append(now)
        if len(self._attempts) > 10_000:  # forget idle addresses
            for stale in [k for k, v in self._attempts.items() if not v or now - v[-1] > LOGIN_WINDOW_SECONDS]:
                del self._attempts[stale]


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: int
    csrf_token: str
    user: dict[str, object]


@router.post("/login", response_model=LoginResponse, summary="Sign in with username and password")
async def login(body: LoginRequest, request: Request, response: Response, services: ServicesDep) -> LoginResponse:
    client = client_address(request)
    request.app.state.login_throttle.check(client)
    try:
        user = await services.users.authenticate(body.username, body.password)
    except IdentityError as exc:
        await services.audit.record(
            actor=body.username,
            role="-",
            action="sign_in",
            outcome="refused",
            client=client,
            detail={"reason": type(exc).__name__},
        )
        raise
    ttl = services.settings.auth.session_ttl_seconds
    token = services.tokens.issue_session(user.id, user.username, user.role, ttl)
    csrf = secrets.token_urlsafe(24)
    server = services.settings.server
    secure = server.tls or (server.public_url or "").startswith("https://")  # also behind a TLS proxy
    response.set_cookie(SESSION_COOKIE, token, max_age=ttl, httponly=True, samesite="strict", secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=ttl, httponly=False, samesite="strict", secure=secure, path="/")
    await services.audit.record(actor=user.username, role=user.role.value, action="sign_in", client=client)
    return LoginResponse(token=token, expires_at=int(time.time()) + ttl, csrf_token=csrf, user=user.public())


@router.post("/logout", status_code=204, summary="Sign out (clears the page cookies)")
async def logout(request: Request, principal: StaffDep, services: ServicesDep) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    await services.audit.record(
        actor=principal.username, role=principal.role.value, action="sign_out", client=client_address(request)
    )
    return response


@router.get("/me", summary="The signed-in account")
async def me(principal: StaffDep) -> dict[str, object]:
    return {
        "id": principal.user_id,
        "username": principal.username,
        "display_name": principal.display_name,
        "role": principal.role.value,
    }
