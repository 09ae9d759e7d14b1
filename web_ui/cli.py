"""The `hall` command: serve, demo, token, user."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn

from media_server import AiortcInternalsMoved, check_internals
from web_ui.app import create_app
from web_ui.db import Database
from web_ui.demo import DemoVisit, seed_schedule
from web_ui.identity.roles import Role, parse_role
from web_ui.identity.tokens import TokenService
from web_ui.identity.users import IdentityError, UserExists, UserStore
from web_ui.redaction import redact
from web_ui.services import Services, secret_key
from web_ui.settings import HallSettings, load_settings
from web_ui.tls import self_signed

logger = logging.getLogger("hall")

DEMO_PASSWORD = "hall-demo-2026"
DEMO_USERS = [
    ("admin", Role.ADMIN, "系统管理员"),
    ("leader", Role.LEADER, "王局长"),
    ("staff", Role.STAFF, "接待员小李"),
    ("security", Role.SECURITY, "安保值班"),
    ("observer", Role.OBSERVER, "督查观察员"),
]
DEMO_ROOM = "reception-1"
DEMO_CAMERA_USER, DEMO_CAMERA_PASSWORD = "admin", "sim-demo-2026"
DEMO_DESK = "接待室1号台"
# name, location, PTZ, the camera's own ONVIF events (else the hall detects motion), ONVIF port, RTSP port,
# seconds between figures crossing
DEMO_CAMERAS = (
    ("大厅全景", "接待大厅", True, True, 18081, 18554, 45.0),
    ("接待室1号台", DEMO_DESK, True, False, 18082, 18555, 60.0),
    ("大厅入口", "大厅入口", False, False, 18083, 18556, 75.0),
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        result: int = args.run(args)
        return result
    except (IdentityError, ValueError, AiortcInternalsMoved) as exc:
        print(f"hall: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hall", description="reception-hall: video for a petition bureau's hall")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    for name, run, text in (
        ("serve", run_serve, "run the hall server"),
        ("demo", run_demo, "run the server with demo accounts and a room, printing links"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        _common(command)
        command.add_argument("--host", help="listen address (default 127.0.0.1)")
        command.add_argument("--port", type=int, help="listen port (default 8080)")
        command.add_argument("--tls-cert", type=Path, help="PEM certificate chain for HTTPS")
        command.add_argument("--tls-key", type=Path, help="PEM private key for HTTPS")
        command.add_argument(
            "--self-signed", action="store_true", help="HTTPS with a generated certificate (LAN trial)"
        )
        command.set_defaults(run=run)

    sim = commands.add_parser(
        "camera-sim",
        help="run one simulated ONVIF camera with an RTSP stream",
        description="a simulated ONVIF camera (device, media, PTZ, events; digest auth) streaming H.264 over RTSP:"
        " a synthetic hall whose view follows PTZ, with a figure crossing now and then and a clock in the picture",
    )
    sim.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    sim.add_argument("--onvif-port", type=int, default=8000, help="ONVIF (HTTP) port (default 8000)")
    sim.add_argument("--rtsp-port", type=int, default=8554, help="RTSP port (default 8554)")
    sim.add_argument("--user", default="admin", help="user name (default admin)")
    sim.add_argument("--password", default="hall-sim-1", help="password (default hall-sim-1)")
    sim.add_argument("--name", default="模拟摄像机", help="the camera's name")
    sim.add_argument("--size", default="1920x1080", help="main stream size (default 1920x1080)")
    sim.add_argument("--fps", type=int, default=25, help="main stream frame rate (default 25)")
    sim.add_argument("--codec", default="h264", choices=["h264", "h265"], help="main stream codec")
    sim.add_argument("--no-ptz", action="store_true", help="a fixed camera")
    sim.add_argument("--no-events", action="store_true", help="no ONVIF events (the hall detects motion itself)")
    sim.add_argument("--clock-offset", type=float, default=0.0, help="seconds the camera's clock is off")
    sim.add_argument("--figure-every", type=float, default=30.0, help="seconds between figures crossing the hall")
    sim.add_argument("--discovery-port", type=int, default=None, help="answer WS-Discovery probes on this UDP port")
    sim.set_defaults(run=run_camera_sim)

    token = commands.add_parser(
        "token",
        help="print a join token for a room",
        description="print a signed join token that a server on the same data dir accepts",
    )
    _common(token)
    token.add_argument("--room", required=True, help="room id")
    token.add_argument("--role", required=True, help="admin, leader, staff, observer or petitioner")
    token.add_argument("--name", default=None, help="display name (default: the role)")
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    token.set_defaults(run=run_token)

    user = commands.add_parser("user", help="manage staff accounts")
    user_commands = user.add_subparsers(required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="add a staff account (password from the prompt or stdin)")
    _common(add)
    add.add_argument("username")
    add.add_argument("--role", required=True, help="admin, leader, staff, security or observer")
    add.add_argument("--display-name", default=None, help="name shown in rooms (e.g. 王局长)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(run=run_user_add)
    listing = user_commands.add_parser("list", help="list staff accounts")
    _common(listing)
    listing.set_defaults(run=run_user_list)
    return parser


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--data-dir", type=Path, help="data directory (default ./data)")
    command.add_argument("--config", type=Path, help="TOML settings file (default $HALL_CONFIG)")


def settings_from(args: argparse.Namespace) -> HallSettings:
    server: dict[str, Any] = {}
    for key in ("data_dir", "host", "port", "tls_cert", "tls_key"):
        value = getattr(args, key, None)
        if value is not None:
            server[key] = value
    if getattr(args, "self_signed", False):
        server["self_signed"] = True
    return load_settings(args.config, **({"server": server} if server else {}))


# ------------------------------------------------------------------------------------ serve


def run_serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    serve(settings)
    return 0


class RedactTokens(logging.Filter):
    """Join tokens ride in the socket URL's query (browsers cannot set headers on a WebSocket), and the key of
    a petitioner's link in its path: keep them out of uvicorn's access and error logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message or "/v/" in message or "/api/visits/" in message:
            if isinstance(record.args, tuple) and record.args:
                # Redacted in place: uvicorn's access formatter unpacks the arguments themselves.
                record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
            else:
                record.msg, record.args = redact(message), ()
        return True


def serve(
    settings: HallSettings,
    open_rooms: Sequence[str] = (),
    on_ready: Callable[[Services], Awaitable[None]] | None = None,
) -> None:
    check_internals()  # stop now, with a clear message, if an aiortc upgrade moved our hook points
    server = settings.server
    ssl: dict[str, Any] = {}
    if server.tls_cert is not None and server.tls_key is not None:
        ssl = {"ssl_certfile": str(server.tls_cert), "ssl_keyfile": str(server.tls_key)}
    elif server.self_signed:
        cert, key = self_signed(server.data_dir / "tls")
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}

    async def ready(services: Services) -> None:
        if on_ready is not None:
            await on_ready(services)
        # What start-up made (modules, codec tables, the app's routes and schemas) lives as long as the process:
        # out of the collector's sight, a full collection scans only what came after. Scanning it all paused
        # the event loop, and with it every forwarded stream, for up to 90 ms.
        gc.collect()
        gc.freeze()

    # The plain asyncio loop: the one the media path is tested and measured on.
    config = uvicorn.Config(
        create_app(settings, open_rooms=open_rooms, on_ready=ready),
        host=server.host,
        port=server.port,
        log_level="info",
        loop="asyncio",
        proxy_headers=False,
        server_header=False,
        **ssl,
    )
    http_server = uvicorn.Server(config)  # uvicorn.Config set up its loggers: the filters go on after
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(RedactTokens())
    try:
        http_server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass


# ------------------------------------------------------------------------------------ demo


def run_demo(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    settings.scheduler.public_booking = True  # the demo shows booking from the phone too
    settings.scheduler.sms.backend = "log"  # its petitioners are made up: whatever the settings say, no SMS leaves
    visits = asyncio.run(seed_demo(settings))
    start_demo_cameras()
    tokens = TokenService(secret_key(settings), max_join_ttl=settings.auth.join_token_max_ttl_seconds)
    url = settings.public_url
    leader = tokens.issue_join(DEMO_ROOM, Role.LEADER, "王局长", 12 * 3600)
    petitioner = tokens.issue_join(DEMO_ROOM, Role.PETITIONER, "来访群众", 12 * 3600)
    big_screen = tokens.issue_join(DEMO_ROOM, Role.OBSERVER, "大屏", 12 * 3600)
    zone = ZoneInfo(settings.server.time_zone)
    petitioner_links = "".join(
        f"  petitioner {v.starts_at.astimezone(zone):%H:%M} / 来访人 {v.name}: {v.link}\n" for v in visits
    )
    print(
        f"""
reception-hall demo  ·  信访接待大厅演示
  sign in / 登录:        {url}/
  accounts / 账号:       {", ".join(u for u, _, _ in DEMO_USERS)}   password / 密码: {DEMO_PASSWORD}
                         (demo only: change them before real use / 仅供演示)
  room / 接访室:         {DEMO_ROOM}
    leader / 领导:       {url}/rooms/{DEMO_ROOM}#token={leader}
    petitioner / 群众:   {url}/rooms/{DEMO_ROOM}#token={petitioner}
    big screen / 大屏:   {url}/rooms/{DEMO_ROOM}/program#token={big_screen}
  schedule / 接访排期:   {url}/schedule   (staff / admin)    console / 接访台: {url}/console   (leader)
  reports / 统计:        {url}/reports     phone booking / 网上预约: {url}/book
  SMS outbox / 短信:     {url}/schedule#outbox   (the log backend: what would be sent)
{petitioner_links}  camera wall / 监控墙:  {url}/cameras   (security / staff / admin; simulated cameras on ONVIF ports \
{", ".join(str(c[4]) for c in DEMO_CAMERAS)}, user {DEMO_CAMERA_USER} / {DEMO_CAMERA_PASSWORD})
  WHIP publish:          POST {url}/whip/{DEMO_ROOM}  (Authorization: Bearer <token from `hall token`>)
  WHEP program / 节目:   POST {url}/whep/{DEMO_ROOM}  (the same token; ?participant=ID for one person)
  API docs / 接口文档:   {url}/docs
""",
        flush=True,
    )
    serve(settings, open_rooms=[DEMO_ROOM], on_ready=register_demo_cameras)
    return 0


def start_demo_cameras() -> None:
    """The demo's simulated cameras, on their own event loop in a background thread (as if on the network)."""
    from camera_control.sim.camera import SimulatedCamera

    ready = threading.Event()
    failure: list[BaseException] = []

    async def run() -> None:
        cameras = [
            SimulatedCamera(
                "127.0.0.1",
                onvif_port,
                rtsp_port,
                DEMO_CAMERA_USER,
                DEMO_CAMERA_PASSWORD,
                ptz=ptz,
                events=events,
                main_size=(1280, 720),
                name=name,
                figure_every=figure_every,
            )
            for name, _, ptz, events, onvif_port, rtsp_port, figure_every in DEMO_CAMERAS
        ]
        try:
            for camera in cameras:
                await camera.start()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(run(),), name="demo-cameras", daemon=True).start()
    ready.wait(30)
    if failure:  # the hall is still worth showing without them
        logger.warning("the demo's simulated cameras could not start (ports in use?): %s", failure[0])


async def register_demo_cameras(services: Services) -> None:
    """Add the simulated cameras the first time, with the reception desk's preset."""
    from camera_control.errors import CameraError
    from camera_control.service import CameraDraft
    from camera_control.sim.scene import OSD_MASKS

    known = {(record.host, record.port) for record in await services.cameras.registry.cameras()}
    masks = [[list(point) for point in polygon] for polygon in OSD_MASKS]  # the simulator's clock and stamp
    for name, location, ptz, _, onvif_port, _, _ in DEMO_CAMERAS:
        if ("127.0.0.1", onvif_port) in known:
            continue
        draft = CameraDraft(
            name, location, "127.0.0.1", onvif_port, DEMO_CAMERA_USER, DEMO_CAMERA_PASSWORD, motion_masks=masks
        )
        try:
            record = await services.cameras.add(draft)
            if ptz and location == DEMO_DESK:
                await services.cameras.set_preset(record.id, "1号台", desk=DEMO_DESK)
        except CameraError as exc:
            logger.warning("demo camera %s could not be added: %s", name, exc)


async def seed_demo(settings: HallSettings) -> list[DemoVisit]:
    settings.server.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    try:
        await db.upgrade()
        users = UserStore(db)
        for username, role, display in DEMO_USERS:
            try:
                await users.add(username, DEMO_PASSWORD, role, display)
            except UserExists:
                pass
        return await seed_schedule(settings, db)
    finally:
        await db.dispose()


# ------------------------------------------------------------------------------------ camera-sim


def run_camera_sim(args: argparse.Namespace) -> int:
    from camera_control.sim.camera import SimulatedCamera

    width, _, height = args.size.partition("x")
    if not (width.isdigit() and height.isdigit()) or int(width) % 2 or int(height) % 2:
        raise ValueError(f"--size is WIDTHxHEIGHT in even numbers, e.g. 1920x1080, not {args.size!r}")
    camera = SimulatedCamera(
        args.host,
        args.onvif_port,
        args.rtsp_port,
        args.user,
        args.password,
        ptz=not args.no_ptz,
        events=not args.no_events,
        clock_offset=args.clock_offset,
        main_size=(int(width), int(height)),
        main_fps=args.fps,
        codec=args.codec,
        discovery_port=args.discovery_port,
        name=args.name,
        figure_every=args.figure_every or None,
    )

    async def run() -> None:
        async with camera:
            print(
                f"simulated camera {args.name}: ONVIF {camera.device_xaddr}  RTSP rtsp://{args.host}:{camera.rtsp_port}"
                f"/main and /sub  (user {args.user})",
                flush=True,
            )
            await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


# ------------------------------------------------------------------------------------ token, user


def run_token(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    role = parse_role(args.role)
    ttl = args.ttl if args.ttl is not None else settings.auth.join_token_ttl_seconds
    tokens = TokenService(secret_key(settings), max_join_ttl=settings.auth.join_token_max_ttl_seconds)
    print(tokens.issue_join(args.room, role, args.name or role.value, ttl))
    return 0


def run_user_add(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("hall: the passwords differ", file=sys.stderr)
            return 2
    user = asyncio.run(_add_user(settings, args.username, password, args.role, args.display_name))
    print(f"added {user.username} ({user.role.value})")
    return 0


async def _add_user(settings: HallSettings, username: str, password: str, role: str, display: str | None) -> Any:
    settings.server.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    try:
        await db.upgrade()
        return await UserStore(db).add(username, password, role, display)
    finally:
        await db.dispose()


def run_user_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def listing() -> list[Any]:
        db = Database(settings.database_url)
        try:
            await db.upgrade()
            return await UserStore(db).list()
        finally:
            await db.dispose()

    for user in asyncio.run(listing()):
        print(f"{user.username}\t{user.role.value}\t{user.display_name}\t{'active' if user.active else 'disabled'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
