"""Staff sign-in, page cookies with CSRF protection, roles on every route and socket, and the audit log."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
import websockets
from media_tools import Publisher

ALL_STAFF = ["admin", "leader", "staff", "security", "observer"]
READERS = {"admin", "leader", "staff", "observer"}
OPENERS = {"admin", "leader", "staff"}
MEMBERS = {"admin", "leader", "staff", "observer"}
CAMERA_VIEWERS = {"admin", "staff", "security"}
CAMERA_KEEPERS = {"admin", "security"}
KEEPERS = {"admin", "staff"}
HOSTS = {"admin", "leader", "staff"}
FIGURES = {"admin", "leader", "staff", "observer"}

# Every /api route and the staff roles allowed on it. A new route must be added here.
ROUTES = [
    ("GET", "/api/auth/me", set(ALL_STAFF)),
    ("POST", "/api/auth/logout", set(ALL_STAFF)),
    ("GET", "/api/rooms", READERS),
    ("POST", "/api/rooms", OPENERS),
    ("GET", "/api/rooms/{room_id}", READERS),
    ("DELETE", "/api/rooms/{room_id}", OPENERS),
    ("POST", "/api/rooms/{room_id}/tokens", OPENERS),
    ("POST", "/api/rooms/{room_id}/join", MEMBERS),
    ("GET", "/api/rooms/{room_id}/program", READERS),
    ("PUT", "/api/rooms/{room_id}/program", OPENERS),
    ("GET", "/api/users", {"admin"}),
    ("POST", "/api/users", {"admin"}),
    ("POST", "/api/users/{username}/disable", {"admin"}),
    ("GET", "/api/audit", {"admin"}),
    ("GET", "/api/cameras", CAMERA_VIEWERS),
    ("POST", "/api/cameras", CAMERA_KEEPERS),
    ("GET", "/api/cameras/events", CAMERA_VIEWERS),
    ("POST", "/api/cameras/discover", CAMERA_KEEPERS),
    ("GET", "/api/cameras/{camera_id}", CAMERA_VIEWERS),
    ("PATCH", "/api/cameras/{camera_id}", CAMERA_KEEPERS),
    ("DELETE", "/api/cameras/{camera_id}", CAMERA_KEEPERS),
    ("POST", "/api/cameras/{camera_id}/ptz/move", CAMERA_VIEWERS),
    ("POST", "/api/cameras/{camera_id}/ptz/stop", CAMERA_VIEWERS),
    ("POST", "/api/cameras/{camera_id}/ptz/home", CAMERA_VIEWERS),
    ("GET", "/api/cameras/{camera_id}/presets", CAMERA_VIEWERS),
    ("POST", "/api/cameras/{camera_id}/presets", CAMERA_VIEWERS),
    ("PUT", "/api/cameras/{camera_id}/presets/{token}", CAMERA_VIEWERS),
    ("DELETE", "/api/cameras/{camera_id}/presets/{token}", CAMERA_VIEWERS),
    ("POST", "/api/cameras/{camera_id}/presets/{token}/goto", CAMERA_VIEWERS),
    ("GET", "/api/cameras/{camera_id}/snapshot", CAMERA_VIEWERS),
    ("GET", "/api/leaders", HOSTS),
    ("POST", "/api/leaders", KEEPERS),
    ("GET", "/api/reception-days", HOSTS),
    ("POST", "/api/reception-days", KEEPERS),
    ("POST", "/api/reception-days/{day_id}/cancel", KEEPERS),
    ("GET", "/api/appointments", HOSTS),
    ("POST", "/api/appointments", KEEPERS),
    ("GET", "/api/appointments/{appointment_id}", HOSTS),
    ("GET", "/api/appointments/{appointment_id}/link", KEEPERS),
    ("POST", "/api/appointments/{appointment_id}/release-link", KEEPERS),
    ("POST", "/api/appointments/{appointment_id}/confirm", KEEPERS),
    ("POST", "/api/appointments/{appointment_id}/cancel", KEEPERS),
    ("POST", "/api/appointments/{appointment_id}/reschedule", KEEPERS),
    ("GET", "/api/reception/today", HOSTS),
    ("POST", "/api/appointments/{appointment_id}/join", HOSTS),
    ("POST", "/api/appointments/{appointment_id}/admit", HOSTS),
    ("POST", "/api/appointments/{appointment_id}/end", HOSTS),
    ("GET", "/api/notifications", KEEPERS),
    ("GET", "/api/figures", FIGURES),
]
IN_TWO_DAYS = (dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(days=2)).date().isoformat()
BODIES = {
    ("POST", "/api/rooms"): {"id": "matrix"},
    ("POST", "/api/rooms/{room_id}/tokens"): {"role": "petitioner", "name": "来访人"},
    ("PUT", "/api/rooms/{room_id}/program"): {"layout": "2x2"},
    ("POST", "/api/users"): {"username": "newbie", "password": "long-enough-1", "role": "staff"},
    # Nothing answers on port 9 of loopback: the camera is refused (422), after the role check.
    ("POST", "/api/cameras"): {"name": "x", "host": "127.0.0.1", "port": 9, "username": "a", "password": "b"},
    ("POST", "/api/cameras/discover"): {"address": "127.0.0.1", "port": 9, "timeout": 0.2},
    ("POST", "/api/cameras/{camera_id}/ptz/move"): {"pan": 0.5},
    ("POST", "/api/cameras/{camera_id}/presets"): {"name": "1号台"},
    ("PUT", "/api/cameras/{camera_id}/presets/{token}"): {"name": "1号台"},
    ("PATCH", "/api/cameras/{camera_id}"): {"name": "大厅"},
    ("POST", "/api/leaders"): {"name": "新领导"},
    ("POST", "/api/reception-days"): {"leader_id": 1, "day": IN_TWO_DAYS, "start": "09:00", "end": "10:00"},
    ("POST", "/api/reception-days/{day_id}/cancel"): {"reason": "公出"},
    ("POST", "/api/appointments"): {
        "slot_id": 1,
        "name": "张三",
        "phone": "13812345678",
        "id_number": "11010519491231002X",
    },
    ("POST", "/api/appointments/{appointment_id}/cancel"): {"reason": "改期"},
    ("POST", "/api/appointments/{appointment_id}/reschedule"): {"slot_id": 2},
    ("POST", "/api/appointments/{appointment_id}/end"): {"result": "answered"},
}
# The petitioner's side has no accounts: the SMS link's key (or nothing, for booking by phone) is the credential.
PUBLIC = {
    "/api/auth/login",
    "/api/visits/{link_key}",
    "/api/visits/{link_key}/ticket",
    "/api/visits/{link_key}/rating",
    "/api/public/reception-days",
    "/api/public/appointments",
}
SCHEDULE_PATHS = ("/api/leaders", "/api/reception", "/api/appointments", "/api/notifications", "/api/figures")


async def test_every_api_route_is_in_the_role_table(hall):
    schema = (await hall.client.get("/openapi.json")).json()
    app_routes = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if path.startswith("/api/") and path not in PUBLIC
    }
    assert app_routes == {(method, path) for method, path, _ in ROUTES}


async def test_roles_are_checked_on_every_route(hall):
    headers = {role: await hall.bearer(f"u-{role}", role) for role in ALL_STAFF}
    await hall.services.scheduler.bookings.add_leader("测试领导", username="u-leader")  # the leader's own receptions
    for method, path, allowed in ROUTES:
        for role in ALL_STAFF:
            hall.services.media.open_room("matrix-room", opened_by="test")
            url = path.replace("{room_id}", "matrix-room").replace("{username}", "u-observer")
            url = url.replace("{camera_id}", "1").replace("{token}", "1")
            url = url.replace("{appointment_id}", "1").replace("{day_id}", "1")
            body = BODIES.get((method, path))
            response = await hall.client.request(method, url, json=body, headers=headers[role])
            if role in allowed and path.startswith("/api/cameras"):
                # No camera is registered here: past the role check, a camera route says what is missing.
                assert response.status_code in (200, 404, 422), (method, path, role, response.text)
            elif role in allowed and path.startswith(SCHEDULE_PATHS):
                # Past the role check, the schedule's rules answer (nothing to admit, a slot taken, ...).
                assert response.status_code in (200, 201, 404, 409, 410, 422), (method, path, role, response.text)
            elif role in allowed:
                assert response.status_code < 400 or response.status_code == 409, (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.status_code)
            if path.endswith("/disable") and response.status_code < 400:
                # put the account back for the next rows
                await hall.services.users.set_active("u-observer", True)
            if path.endswith("/logout") and response.status_code < 400:  # that token is spent: sign in again
                headers[role] = await hall.bearer(f"u-{role}", role, new_account=False)
        anonymous_url = path.replace("{room_id}", "x").replace("{username}", "x")
        anonymous_url = anonymous_url.replace("{camera_id}", "1").replace("{token}", "1")
        anonymous_url = anonymous_url.replace("{appointment_id}", "1").replace("{day_id}", "1")
        anonymous = await hall.client.request(method, anonymous_url, json=BODIES.get((method, path)))
        assert anonymous.status_code == 401, (method, path)


async def test_login_gives_a_bearer_token_and_httponly_cookies(hall):
    await hall.add_user("wang", "leader")
    wrong = await hall.client.post("/api/auth/login", json={"username": "wang", "password": "nope-nope-nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
    unknown = await hall.client.post("/api/auth/login", json={"username": "nobody", "password": "nope-nope-nope"})
    assert unknown.status_code == 401 and unknown.json()["message"] == wrong.json()["message"]
    response = await hall.client.post("/api/auth/login", json={"username": "wang", "password": "correct-horse-9"})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["role"] == "leader" and "password" not in json.dumps(body)
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("hall_session="))
    csrf_cookie = next(c for c in cookies if c.startswith("hall_csrf="))
    assert "HttpOnly" in session_cookie and "samesite=strict" in session_cookie.lower()
    assert "HttpOnly" not in csrf_cookie
    me = await hall.client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["username"] == "wang"
    audit = await hall.services.audit.recent(10, "sign_in")
    assert [entry["outcome"] for entry in audit[:3]] == ["ok", "refused", "refused"]


async def test_cookie_requests_that_change_things_need_the_csrf_token(hall):
    await hall.add_user("li", "staff")
    await hall.login("li")  # the client keeps the cookies
    assert (await hall.client.get("/api/rooms")).status_code == 200  # reading needs no CSRF token
    refused = await hall.client.post("/api/rooms", json={"id": "csrf-room"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    assert "csrf-room" not in hall.services.media.rooms
    forged = await hall.client.post("/api/rooms", json={"id": "csrf-room"}, headers={"X-CSRF-Token": "guess"})
    assert forged.status_code == 403
    accepted = await hall.client.post(
        "/api/rooms", json={"id": "csrf-room"}, headers={"X-CSRF-Token": hall.client.cookies["hall_csrf"]}
    )
    assert accepted.status_code == 201
    logout = await hall.client.post("/api/auth/logout", headers={"X-CSRF-Token": hall.client.cookies["hall_csrf"]})
    assert logout.status_code == 204
    assert (await hall.client.get("/api/rooms")).status_code == 401


async def test_repeated_failures_pause_the_account(hall):
    await hall.add_user("zhao", "staff")
    for _ in range(hall.services.settings.auth.max_failed_logins):
        await hall.client.post("/api/auth/login", json={"username": "zhao", "password": "wrong-password"})
    locked = await hall.client.post("/api/auth/login", json={"username": "zhao", "password": "correct-horse-9"})
    assert locked.status_code == 429 and locked.json()["error"] == "account_locked"


async def test_a_disabled_account_stops_at_once(hall):
    admin = await hall.bearer("boss", "admin")
    staff = await hall.bearer("temp", "staff")
    assert (await hall.client.get("/api/rooms", headers=staff)).status_code == 200
    assert (await hall.client.post("/api/users/temp/disable", headers=admin)).status_code == 200
    assert (await hall.client.get("/api/rooms", headers=staff)).status_code == 401


async def test_signing_out_ends_that_sign_in_everywhere_and_only_that_one(hall, tmp_path):
    office = await hall.bearer("sun", "security")
    phone = await hall.bearer("sun", "security", new_account=False)
    copied = dict(office)  # the same token, copied elsewhere (a script, a stolen laptop)
    assert (await hall.client.post("/api/auth/logout", headers=office)).status_code == 204
    for headers in (office, copied):
        refused = await hall.client.get("/api/auth/me", headers=headers)
        assert refused.status_code == 401 and "signed out" in refused.json()["message"]
    assert (await hall.client.get("/api/auth/me", headers=phone)).status_code == 200  # the other sign-in goes on
    assert (await hall.client.post("/api/auth/logout", headers=office)).status_code == 401  # nothing left to end

    # The camera wall's socket refuses the signed-out cookie too.
    base = hall.base_url.replace("http", "ws")
    cookie = "hall_session=" + office["Authorization"].removeprefix("Bearer ")
    async with websockets.connect(f"{base}/ws/cameras", additional_headers={"Cookie": cookie}) as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd.code == 4401 and "signed out" in closed.value.rcvd.reason

    # Another process of the hall, on the same database, refuses it as well.
    from web_ui.identity.sessions import SessionRevocations

    other = SessionRevocations(hall.services.db)
    token_id = hall.services.tokens.verify_session(office["Authorization"].removeprefix("Bearer ")).token_id
    assert await other.is_revoked(token_id)
    phone_id = hall.services.tokens.verify_session(phone["Authorization"].removeprefix("Bearer ")).token_id
    assert not await other.is_revoked(phone_id)
    audit = await hall.services.audit.recent(5, "sign_out")
    assert [entry["actor"] for entry in audit] == ["sun"]


async def test_signed_out_tokens_are_forgotten_once_they_would_have_expired(hall):
    from web_ui.identity.sessions import SessionRevocations

    now = int(dt.datetime.now(dt.UTC).timestamp())
    await hall.services.revocations.revoke("expired-anyway", now - 10)
    await hall.services.revocations.revoke("still-valid", now + 3600)
    other = SessionRevocations(hall.services.db)  # another process reads the list
    assert await other.is_revoked("still-valid") and not await other.is_revoked("expired-anyway")
    async with hall.services.db.engine.connect() as connection:
        listed = (await connection.execute(sqlalchemy.text("SELECT token_id FROM revoked_sessions"))).scalars().all()
    assert listed == ["still-valid"]


async def test_nobody_invites_above_their_own_role(hall):
    staff = await hall.bearer("clerk", "staff")
    hall.services.media.open_room("r1", opened_by="test")
    up = await hall.client.post("/api/rooms/r1/tokens", json={"role": "leader", "name": "x"}, headers=staff)
    assert up.status_code == 403
    down = await hall.client.post("/api/rooms/r1/tokens", json={"role": "petitioner", "name": "来访人"}, headers=staff)
    assert down.status_code == 201
    assert down.json()["url"].endswith("/rooms/r1#token=" + down.json()["token"])
    claims = hall.services.tokens.verify_join(down.json()["token"])
    assert (claims.room_id, claims.role.value, claims.name) == ("r1", "petitioner", "来访人")


async def test_the_audit_log_is_append_only(hall):
    await hall.services.audit.record(actor="x", role="staff", action="test")
    async with hall.services.db.engine.begin() as connection:
        with pytest.raises(sqlalchemy.exc.DatabaseError, match="append-only"):
            await connection.execute(sqlalchemy.text("UPDATE audit_log SET actor = 'y'"))
    async with hall.services.db.engine.begin() as connection:
        with pytest.raises(sqlalchemy.exc.DatabaseError, match="append-only"):
            await connection.execute(sqlalchemy.text("DELETE FROM audit_log"))
    assert (await hall.services.audit.recent(1))[0]["actor"] == "x"


async def test_socket_refusals_say_why(hall):
    base = hall.base_url.replace("http", "ws")
    cases = [
        ("r1", "garbage", 4401, "invalid_token"),
        ("r1", hall.token("r1", "security"), 4403, "forbidden"),
        ("r1", hall.token("r2", "staff"), 4403, "forbidden"),
        ("closed-room", hall.token("closed-room", "petitioner"), 4404, "room_not_found"),
    ]
    for room, token, close_code, error in cases:
        async with websockets.connect(f"{base}/ws/rooms/{room}?token={token}") as socket:
            message = json.loads(await socket.recv())
            assert message["type"] == "error" and message["code"] == error
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
            assert closed.value.rcvd.code == close_code
    assert "closed-room" not in hall.services.media.rooms


async def test_socket_messages_are_checked(hall):
    base = hall.base_url.replace("http", "ws")
    async with websockets.connect(f"{base}/ws/rooms/r3?token={hall.token('r3', 'observer')}") as socket:
        assert json.loads(await socket.recv())["type"] == "error"  # observers cannot open rooms
    hall.services.media.open_room("r3", opened_by="test")
    async with websockets.connect(f"{base}/ws/rooms/r3?token={hall.token('r3', 'observer', '观察员')}") as socket:
        welcome = json.loads(await socket.recv())
        assert welcome["permissions"] == {"publish": False, "open": False, "direct": False}
        publisher = Publisher()
        try:
            await socket.send(json.dumps({"type": "publish", "sdp": await publisher.offer(), "request_id": 1}))
            reply = json.loads(await socket.recv())
            assert reply == {
                "type": "error",
                "code": "forbidden",
                "message": "role 'observer' may not publish",
                "request_id": 1,
            }
        finally:
            await publisher.close()
        await socket.send("not json")
        assert json.loads(await socket.recv())["code"] == "bad_request"
        await socket.send(
            json.dumps({"type": "subscribe", "participant_id": "PA_nobody", "sdp": "v=0", "request_id": 2})
        )
        assert json.loads(await socket.recv())["code"] == "invalid_sdp"
        await socket.send(json.dumps({"type": "fly", "request_id": 3}))
        assert json.loads(await socket.recv())["code"] == "bad_request"
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await socket.recv()) == {"type": "pong"}
    assert (await hall.client.get("/healthz")).status_code == 200


def test_cli_token_is_accepted_by_a_server_on_the_same_data_dir(tmp_path):
    data = tmp_path / "data"
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "web_ui.cli",
            "token",
            "--data-dir",
            str(data),
            "--room",
            "cli-room",
            "--role",
            "leader",
            "--name",
            "王局长",
            "--ttl",
            "300",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    refused = subprocess.run(
        [sys.executable, "-m", "web_ui.cli", "token", "--data-dir", str(data), "--room", "x", "--role", "king"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "unknown role" in refused.stderr

    import asyncio

    from hall_tools import running_hall

    async def publish() -> int:
        async with running_hall(tmp_path) as hall:
            publisher = Publisher(audio=False)
            try:
                response = await hall.client.post(
                    "/whip/cli-room",
                    content=await publisher.offer(),
                    headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {printed}"},
                )
                roster = hall.services.media.rooms["cli-room"].roster()
                assert roster[0]["name"] == "王局长" and roster[0]["role"] == "leader"
                return response.status_code
            finally:
                await publisher.close()

    assert asyncio.run(publish()) == 201


def test_cli_user_add(tmp_path):
    data = tmp_path / "data"
    run = [
        sys.executable,
        "-m",
        "web_ui.cli",
        "user",
        "add",
        "chen",
        "--role",
        "security",
        "--data-dir",
        str(data),
        "--display-name",
        "陈队长",
        "--password-stdin",
    ]
    added = subprocess.run(run, input="a-strong-secret\n", capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    again = subprocess.run(run, input="a-strong-secret\n", capture_output=True, text=True)
    assert again.returncode == 2 and "already exists" in again.stderr
    short = subprocess.run([*run[:5], "zhou", *run[6:]], input="short\n", capture_output=True, text=True)
    assert short.returncode == 2 and "at least 8" in short.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "web_ui.cli", "user", "list", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "chen\tsecurity\t陈队长\tactive" in listed
    assert "a-strong-secret" not in added.stdout + added.stderr


async def test_sign_in_attempts_from_one_address_are_throttled(hall):
    from web_ui.identity.throttle import LOGIN_ATTEMPTS_PER_WINDOW

    await hall.add_user("sun", "staff")
    for _ in range(LOGIN_ATTEMPTS_PER_WINDOW):
        await hall.client.post("/api/auth/login", json={"username": "nobody", "password": "guess-guess"})
    blocked = await hall.client.post("/api/auth/login", json={"username": "sun", "password": "correct-horse-9"})
    assert blocked.status_code == 429 and blocked.json()["error"] == "too_many_attempts"


async def test_a_runaway_socket_client_is_slowed_not_served(hall):
    hall.services.media.open_room("r4", opened_by="test")
    base = hall.base_url.replace("http", "ws")
    async with websockets.connect(f"{base}/ws/rooms/r4?token={hall.token('r4', 'staff')}") as socket:
        assert json.loads(await socket.recv())["type"] == "welcome"
        for _ in range(100):
            await socket.send(json.dumps({"type": "ping"}))
        replies = [json.loads(await socket.recv()) for _ in range(100)]
        assert {"type": "pong"} in replies
        assert any(r.get("code") == "too_many_messages" for r in replies)
    async with websockets.connect(f"{base}/ws/rooms/{'x' * 200}?token={hall.token('r4', 'staff')}") as socket:
        assert json.loads(await socket.recv())["code"] == "room_not_found"  # checked before anything is made
