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
from web_ui.services import Services

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


def hall_page(name: str, services: Services) -> HTMLResponse:
    """A page in the hall's language, told the hall's time zone (its times are shown in it)."""
    server = services.settings.server
    zone = html.escape(server.time_zone, quote=True)
    text = page(name, server.default_language)
    return HTMLResponse(text.replace('content="Asia/Shanghai"', f'content="{zone}"', 1))


@router.get("/cameras")
async def camera_wall_page(services: ServicesDep) -> HTMLResponse:
    # The wall signs in with the session cookie; the page itself is public and says what a visitor may see.
    return hall_page("cameras.html", services)


@router.get("/schedule")
async def schedule_page(services: ServicesDep) -> HTMLResponse:
    # Staff: reception days, booking, search, the SMS outbox. Signs in with the session cookie.
    return hall_page("schedule.html", services)


@router.get("/console")
async def console_page(services: ServicesDep) -> HTMLResponse:
    # The leader's reception console: today's list, the waiting room, the video, the outcome.
    return hall_page("console.html", services)


@router.get("/reports")
async def reports_page(services: ServicesDep) -> HTMLResponse:
    return hall_page("reports.html", services)


@router.get("/v/{link_key}")
async def visit_page(
    link_key: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_\-]{16,64}$")], services: ServicesDep
) -> HTMLResponse:
    # The petitioner's phone page, opened from the SMS link; the page reads the key from its own path.
    return hall_page("visit.html", services)


@router.get("/book")
async def booking_page(services: ServicesDep) -> HTMLResponse:
    # Booking from the phone, where the hall allows it (the page says so when it does not).
    return hall_page("book.html", services)
