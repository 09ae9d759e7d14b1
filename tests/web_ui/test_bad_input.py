"""Bad input gets a clear error, changes nothing, and the server stays up with nothing left behind."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import jwt
import pytest
import websockets
from hall_tools import running_hall
from media_tools import Publisher, Subscriber

SDP = {"Content-Type": "application/sdp"}


def auth(token: str) -> dict[str, str]:
    return {**SDP, "Authorization": f"Bearer {token}"}


async def assert_nothing_changed(hall) -> None:
    assert hall.services.media.sessions == {}
    assert all(not room.participants for room in hall.services.media.rooms.values())
    assert (await hall.client.get("/healthz")).status_code == 200


@pytest.fixture
async def offer():
    publisher = Publisher()
    sdp = await publisher.offer()
    yield sdp
    await publisher.close()


@pytest.mark.parametrize(
    "body, code",
    [
        ("hello", "invalid_sdp"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "invalid_sdp"),  # no media
        ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", "invalid_sdp"),  # no ICE/DTLS
        ("v=0\r\nm=video x y z\r\n" + "a=" + "\u0000" * 100 + "\r\n", "invalid_sdp"),
        ("v=0\r\n" + "a=x\r\n" * 20000, "payload_too_large"),
    ],
)
async def test_malformed_sdp(hall, body, code):
    response = await hall.client.post("/whip/r1", content=body, headers=auth(hall.token("r1", "staff")))
    assert response.json()["error"] == code, response.text
    assert response.status_code == (413 if code == "payload_too_large" else 400)
    await assert_nothing_changed(hall)


async def test_only_unknown_codecs(hall, offer):
    unknown = re.sub(r"a=rtpmap:(\d+) (VP8|H264|rtx)/90000", r"a=rtpmap:\1 AV1X/90000", offer)
    unknown = re.sub(r"a=rtpmap:(\d+) (opus|PCMU|PCMA|G722)/", r"a=rtpmap:\1 iLBC/", unknown)
    response = await hall.client.post("/whip/r1", content=unknown, headers=auth(hall.token("r1", "staff")))
    assert response.status_code == 422
    message = response.json()["message"]
    assert ("AV1X" in message or "iLBC" in message) and "VP8" in message
    await assert_nothing_changed(hall)


async def test_one_kind_with_no_forwardable_codec_is_refused_by_name(hall, offer):
    # e.g. OBS sending AV1 video with Opus: say which kind cannot be forwarded, leave nothing behind.
    audio_unknown = re.sub(r"a=rtpmap:(\d+) (opus|PCMU|PCMA|G722)/", r"a=rtpmap:\1 iLBC/", offer)
    response = await hall.client.post("/whip/r1", content=audio_unknown, headers=auth(hall.token("r1", "staff")))
    assert response.status_code == 422
    assert "audio codecs (iLBC)" in response.json()["message"]
    await assert_nothing_changed(hall)
    assert hall.services.media.stats.peer_connections == 0
    assert hall.services.media.stats.subscriptions == 0  # no forwarded copy left feeding nobody


async def test_wrong_content_type(hall, offer):
    response = await hall.client.post(
        "/whip/r1", content=offer, headers={"Content-Type": "text/plain", "Authorization": f"Bearer {hall.token('r1')}"}
    )
    assert response.status_code == 415
    await assert_nothing_changed(hall)


async def test_missing_expired_forged_and_misused_tokens(hall, offer):
    key = (hall.data_dir / "secret_key").read_text().strip()
    now = int(time.time())
    claims = {"typ": "join", "room": "r1", "role": "staff", "name": "x", "iat": now - 100, "jti": "j"}
    expired = jwt.encode({**claims, "exp": now - 60}, key, algorithm="HS256")
    forged = jwt.encode({**claims, "exp": now + 600}, "another-key-another-key-another-key", algorithm="HS256")
    unsigned = jwt.encode({**claims, "exp": now + 600}, None, algorithm="none")
    session = hall.services.tokens.issue_session(1, "x", "staff", 600)
    cases = [
        ({**SDP}, "not_authenticated"),  # no token at all
        (auth(expired), "invalid_token"),
        (auth(forged), "invalid_token"),
        (auth(unsigned), "invalid_token"),
        (auth(session), "invalid_token"),  # a sign-in token is not a join token
        (auth("garbage"), "invalid_token"),
    ]
    for headers, code in cases:
        response = await hall.client.post("/whip/r1", content=offer, headers=headers)
        assert response.status_code == 401, (code, response.text)
        assert response.json()["error"] == code
        assert response.headers["www-authenticate"].startswith("Bearer")
    expired_message = (await hall.client.post("/whip/r1", content=offer, headers=auth(expired))).json()["message"]
    assert "expired" in expired_message
    # A token for another room.
    response = await hall.client.post("/whip/r1", content=offer, headers=auth(hall.token("r2", "staff")))
    assert response.status_code == 403
    await assert_nothing_changed(hall)
    assert "r1" not in hall.services.media.rooms


async def test_wrong_role(hall, offer):
    observer = await hall.client.post("/whip/r1", content=offer, headers=auth(hall.token("r1", "observer")))
    assert observer.status_code == 403 and "observer" in observer.json()["message"]
    security = await hall.client.post(
        "/whep/r1", params={"participant": "x"}, content=offer, headers=auth(hall.token("r1", "security"))
    )
    assert security.status_code == 403
    await assert_nothing_changed(hall)


async def test_a_petitioner_never_opens_a_room(hall, offer):
    response = await hall.client.post("/whip/r5", content=offer, headers=auth(hall.token("r5", "petitioner")))
    assert response.status_code == 404 and response.json()["error"] == "room_not_found"
    assert "r5" not in hall.services.media.rooms
    hall.services.media.open_room("r5", opened_by="leader")
    publisher = Publisher()
    try:
        response = await hall.client.post(
            "/whip/r5", content=await publisher.offer(), headers=auth(hall.token("r5", "petitioner", "来访人"))
        )
        assert response.status_code == 201
    finally:
        await publisher.close()


async def test_full_room(tmp_path):
    async with running_hall(tmp_path, media={"max_participants_per_room": 2}) as hall:
        peers = [Publisher(audio=False) for _ in range(3)]
        try:
            statuses = []
            for peer in peers:
                response = await hall.client.post(
                    "/whip/small", content=await peer.offer(), headers=auth(hall.token("small", "staff"))
                )
                statuses.append(response.status_code)
                if response.status_code == 201:
                    await peer.accept(response.text)
                else:
                    assert response.json()["error"] == "room_full"
                    assert "2 participants" in response.json()["message"]
            assert statuses == [201, 201, 409]
            assert len(hall.services.media.rooms["small"].participants) == 2
        finally:
            for peer in peers:
                await peer.close()


async def test_subscriber_must_accept_the_publishers_codec(hall):
    publisher = Publisher(video_codec="video/H264", audio=False)
    response = await hall.client.post("/whip/r1", content=await publisher.offer(), headers=auth(hall.token("r1")))
    await publisher.accept(response.text)
    subscriber = Subscriber(kinds=("video",), video_codec="video/VP8")
    try:
        answer = await hall.client.post(
            "/whep/r1",
            params={"participant": response.headers["x-participant-id"]},
            content=await subscriber.offer(),
            headers=auth(hall.token("r1", "observer")),
        )
        assert answer.status_code == 422
        assert "H264" in answer.json()["message"]
        assert len(hall.services.media.rooms["r1"].participants) == 1  # the refused viewer is not left behind
    finally:
        await subscriber.close()
        await publisher.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def own_threads() -> int:
    """Threads other than the event loop's executor, a pool that grows with load up to its bound (the
    scheduler's passes run beside the requests): that is not a leak."""
    return sum(1 for thread in threading.enumerate() if not thread.name.startswith("asyncio_"))


async def test_nothing_is_left_behind(hall):
    """A full publish/subscribe/end cycle returns threads, sockets and tasks to where they were."""

    async def cycle() -> None:
        publisher = Publisher()
        response = await hall.client.post(
            "/whip/leak", content=await publisher.offer(), headers=auth(hall.token("leak"))
        )
        await publisher.accept(response.text)
        subscriber = Subscriber()
        answer = await hall.client.post(
            "/whep/leak",
            params={"participant": response.headers["x-participant-id"]},
            content=await subscriber.offer(),
            headers=auth(hall.token("leak", "observer")),
        )
        await subscriber.accept(answer.text)
        await subscriber.wait_frames(10)
        await hall.client.delete(answer.headers["location"], headers=auth(hall.token("leak")))
        await hall.client.delete(response.headers["location"], headers=auth(hall.token("leak")))
        await subscriber.close()
        await publisher.close()

    await cycle()  # warm up lazily created pools and caches
    # The database pool too, to its size: each SQLite connection is a thread and three files, and the
    # scheduler's passes beside the requests may need another one at any time.
    engine = hall.services.db.engine
    connections = [await engine.connect() for _ in range(engine.pool.size())]  # type: ignore[attr-defined]
    for connection in connections:
        await connection.close()
    await asyncio.sleep(0.5)
    threads, fds, tasks = own_threads(), open_fds(), len(asyncio.all_tasks())
    for _ in range(2):
        await cycle()
    for _ in range(40):
        await asyncio.sleep(0.1)
        if own_threads() <= threads and open_fds() <= fds and len(asyncio.all_tasks()) <= tasks:
            break
    assert hall.services.media.sessions == {}
    assert own_threads() <= threads, [t.name for t in threading.enumerate()]
    assert open_fds() <= fds
    assert len(asyncio.all_tasks()) <= tasks
    assert hall.services.media.stats.peer_connections == 0
    assert hall.services.media.stats.subscriptions == 0


@pytest.mark.slow
async def test_vanished_publisher_is_cleaned_up_and_others_are_told(tmp_path):
    media = {"ice_consent_interval": 0.5, "ice_consent_failures": 3}
    async with running_hall(tmp_path, media=media) as hall:
        hall.services.media.open_room("gone", opened_by="test")
        script = Path(__file__).parent.parent / "whip_publisher.py"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            f"{hall.base_url}/whip/gone",
            hall.token("gone", "petitioner", "来访人"),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(script.parent)},
        )
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            publisher_id = line.decode().strip()
            assert publisher_id.startswith("PA_")
            url = hall.base_url.replace("http", "ws") + f"/ws/rooms/gone?token={hall.token('gone', 'staff', '接待员')}"
            async with websockets.connect(url) as socket:
                welcome = json.loads(await socket.recv())
                assert publisher_id in [p["id"] for p in welcome["roster"]]
                assert welcome["participant"]["name"] == "接待员"
                subscriber = Subscriber()
                answer = await hall.client.post(
                    "/whep/gone",
                    params={"participant": publisher_id},
                    content=await subscriber.offer(),
                    headers=auth(hall.token("gone", "observer")),
                )
                await subscriber.accept(answer.text)
                await subscriber.wait_frames(5)
                process.send_signal(signal.SIGKILL)  # gone without DELETE, without DTLS close
                await process.wait()
                left = None
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    event = json.loads(await asyncio.wait_for(socket.recv(), 20))
                    if event["type"] == "participant_left" and event["participant"]["id"] == publisher_id:
                        left = event
                        break
                assert left is not None
                await subscriber.close()
            for _ in range(50):
                if not hall.services.media.sessions:
                    break
                await asyncio.sleep(0.1)
            assert hall.services.media.sessions == {}
            assert hall.services.media.rooms["gone"].participants == {}
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
