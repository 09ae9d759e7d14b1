"""The browser pages: plain HTML, CSS and ES modules served as they are, no build step."""

from __future__ import annotations

import functools
import html
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from web_ui.deps import ServicesDep
from web_ui.routes.rooms import ROOM_ID

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"


@functools.cache
def page(name: str, language: str) -> str:
    # The hall's default language is the page's; a visitor's own choice (stored in the browser) wins.
    return (STATIC / name).read_text(encoding="utf-8").replace('<html lang="zh-CN">', f'<html lang="{language}">', 1)


@router.get("/")
async def index(services: ServicesDep) -> HTMLResponse:
    return HTMLResponse(page("index.html", services.settings.server.default_language))


@router.get("/rooms/{room_id}")
async def room_page(room_id: Annotated[str, PathParam(pattern=ROOM_ID)], services: ServicesDep) -> HTMLResponse:
    # The join token travels in the URL fragment (#token=...), so it never reaches the server.
    return HTMLResponse(page("room.html", services.settings.server.default_language))


@router.get("/rooms/{room_id}/program")
async def program_page(room_id: Annotated[str, PathParam(pattern=ROOM_ID)], services: ServicesDep) -> HTMLResponse:
    # The hall's big screen: the room's program over WHEP. The token travels in the fragment here too.
    return HTMLResponse(page("program.html", services.settings.server.default_language))


@router.get("/cameras")
async def camera_wall_page(services: ServicesDep) -> HTMLResponse:
    # The wall signs in with the session cookie; the page itself is public and says what a visitor may see.
    server = services.settings.server
    zone = html.escape(server.time_zone, quote=True)
    text = page("cameras.html", server.default_language)
    return HTMLResponse(text.replace('content="Asia/Shanghai"', f'content="{zone}"', 1))
