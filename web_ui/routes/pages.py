"""The browser pages: plain HTML, CSS and ES modules served as they are, no build step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from web_ui.routes.rooms import ROOM_ID

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html")


@router.get("/rooms/{room_id}")
async def room_page(room_id: Annotated[str, PathParam(pattern=ROOM_ID)]) -> FileResponse:
    # The join token travels in the URL fragment (#token=...), so it never reaches server logs.
    return FileResponse(STATIC / "room.html")
