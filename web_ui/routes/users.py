"""Staff accounts, for administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from web_ui.deps import Principal, ServicesDep, audit_staff, require_roles
from web_ui.identity.roles import Role

router = APIRouter(prefix="/api/users", tags=["users"])
audit_router = APIRouter(prefix="/api/audit", tags=["audit"])
AdminDep = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


class NewUser(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Role
    display_name: str | None = Field(default=None, max_length=64)


@router.get("", summary="List staff accounts")
async def list_users(admin: AdminDep, services: ServicesDep) -> list[dict[str, object]]:
    return [u.public() for u in await services.users.list()]


@router.post("", status_code=201, summary="Add a staff account")
async def add_user(body: NewUser, request: Request, admin: AdminDep, services: ServicesDep) -> dict[str, object]:
    user = await services.users.add(body.username, body.password, body.role, body.display_name)
    await audit_staff(services, request, admin, "user_added", user.username, {"role": user.role.value})
    return user.public()


@router.post("/{username}/disable", summary="Disable an account; its sign-ins stop working at once")
async def disable_user(username: str, request: Request, admin: AdminDep, services: ServicesDep) -> dict[str, object]:
    user = await services.users.set_active(username, False)
    await audit_staff(services, request, admin, "user_disabled", username)
    return user.public()


@audit_router.get("", summary="The newest audit-log entries")
async def audit_log(admin: AdminDep, services: ServicesDep, limit: int = 100) -> list[dict[str, object]]:
    return await services.audit.recent(min(max(limit, 1), 1000))
