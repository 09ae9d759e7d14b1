"""The app factory: one FastAPI app with its services built in the lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduler import Clock
from web_ui import errors
from web_ui.routes import appointments, auth, cameras, health, pages, rooms, users, visits, whip, ws
from web_ui.routes.pages import STATIC
from web_ui.services import Services, build_services
from web_ui.settings import HallSettings

logger = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_app(
    settings: HallSettings,
    *,
    open_rooms: Sequence[str] = (),
    on_ready: Callable[[Services], Awaitable[None]] | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The hall's app. `open_rooms` are opened at start-up (the demo's reception room); `on_ready` runs once the
    services are up (the demo registers its simulated cameras there). `clock` drives the scheduler (tests)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services: Services = await build_services(settings, clock=clock)
        app.state.services = services
        for room_id in open_rooms:
            services.media.open_room(room_id, opened_by="hall")
        if on_ready is not None:
            await on_ready(services)
        # After on_ready: the demo's cameras (and their desk presets) are there before the first room opens.
        await services.scheduler.start()
        logger.info("reception-hall ready (data in %s)", settings.server.data_dir)
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="reception-hall",
        summary="Video for a petition bureau's reception hall: receptions, conferences, cameras",
        version="0.1.0",
        lifespan=lifespan,
    )
    errors.install(app)
    # The cameras' WHEP routes go before the rooms': /whep/cameras/{id}/{session} must not be read as a room.
    app.include_router(cameras.whep_router)
    app.include_router(cameras.socket_router)
    for module in (health, auth, users, rooms, appointments, visits, cameras, whip, ws, pages):
        app.include_router(module.router)
    app.include_router(users.audit_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(SecurityHeaders)
    return app


class SecurityHeaders:
    """Headers every answer carries. Plain ASGI: Starlette's BaseHTTPMiddleware costs more than a day's list."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        documentation = scope["path"].startswith(("/docs", "/redoc"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if not documentation:
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                # Pages use camera and microphone; nothing else.
                headers.setdefault("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
            await send(message)

        await self.app(scope, receive, send_with_headers)
