"""Staff sign-in: a bearer token for API clients and an HttpOnly cookie (with CSRF token) for pages."""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from web_ui.deps import CSRF_COOKIE, SESSION_COOKIE, ServicesDep, StaffDep, audit_staff, client_address
from web_ui.identity.users import IdentityError

router = APIRouter(prefix="/api/auth", tags=["auth"])


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
    services.login_throttle.check(client)
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


@router.post("/logout", status_code=204, summary="Sign out: this session token is refused from now on")
async def logout(request: Request, principal: StaffDep, services: ServicesDep) -> Response:
    # The token is refused from now on, wherever it was copied to, not only dropped by this browser.
    await services.revocations.revoke(principal.token_id, principal.expires_at)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    await audit_staff(services, request, principal, "sign_out")
    return response


@router.get("/me", summary="The signed-in account")
async def me(principal: StaffDep) -> dict[str, object]:
    return {
        "id": principal.user_id,
        "username": principal.username,
        "display_name": principal.display_name,
        "role": principal.role.value,
    }
