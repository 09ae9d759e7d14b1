"""The public contract: WHIP publish and WHEP subscribe over HTTP, with real aiortc peers."""

from __future__ import annotations

import asyncio

import httpx
from media_tools import Publisher, Subscriber, luma, psnr


async def whip(hall, publisher: Publisher, room: str, token: str) -> httpx.Response:
    return await hall.client.post(
        f"/whip/{room}",
        content=await publisher.offer(),
        headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
    )


async def whep(hall, subscriber: Subscriber, room: str, token: str, participant: str | None) -> httpx.Response:
    return await hall.client.post(
        f"/whep/{room}",
        params={"participant": participant} if participant else None,
        content=await subscriber.offer(),
        headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
    )


async def test_whip_publisher_and_whep_subscribers(hall):
    publisher = Publisher()
    publisher_token = hall.token("hall-a", "petitioner", "来访人")
    hall.services.media.open_room("hall-a", opened_by="王局长")
    response = await whip(hall, publisher, "hall-a", publisher_token)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/sdp")
    location = response.headers["location"]
    participant = response.headers["x-participant-id"]
    assert location.startswith("/whip/hall-a/")
    await publisher.accept(response.text)

    subscribers = []
    for index in range(3):
        subscriber = Subscriber()
        subscriber.keep_frames = 30
        answer = await whep(hall, subscriber, "hall-a", hall.token("hall-a", "observer", f"观察{index}"), participant)
        assert answer.status_code == 201, answer.text
        assert answer.headers["location"].startswith("/whep/hall-a/")
        await subscriber.accept(answer.text)
        subscribers.append(subscriber)
    try:
        for subscriber in subscribers:
            await subscriber.wait_frames(30)
            counter = subscriber.counters[len(subscriber.frames) - 1]
            assert psnr(luma(subscriber.frames[-1]), publisher.video.reference(counter)) > 30
            assert subscriber.audio_frames > 10 and subscriber.audio_peak > 2000

        roster = (await hall.client.get("/api/rooms/hall-a", headers=await hall.bearer("boss", "leader"))).json()
        names = sorted(p["name"] for p in roster["roster"])
        assert names == ["来访人", "观察0", "观察1", "观察2"]
        metrics = (await hall.client.get("/metrics")).text
        assert "hall_participants 4.0" in metrics
        assert "hall_forwarded_frames_total" in metrics

        # DELETE ends the publisher: its subscribers are ended too, and the room empties.
        deleted = await hall.client.delete(
            location, headers={"Authorization": f"Bearer {hall.token('hall-a', 'leader')}"}
        )
        assert deleted.status_code == 200
        for _ in range(50):
            if not hall.services.media.rooms["hall-a"].participants:
                break
            await asyncio.sleep(0.1)
        assert hall.services.media.rooms["hall-a"].participants == {}
        again = await hall.client.delete(
            location, headers={"Authorization": f"Bearer {hall.token('hall-a', 'leader')}"}
        )
        assert again.status_code == 404
    finally:
        for subscriber in subscribers:
            await subscriber.close()
        await publisher.close()


async def test_ice_servers_in_link_headers_and_cors(tmp_path):
    from hall_tools import running_hall

    ice = [
        {"urls": ["stun:stun.hall.example:3478"]},
        {"urls": ["turn:turn.hall.example:3478?transport=udp"], "username": "hall", "credential": "s3cret"},
    ]
    async with running_hall(tmp_path, media={"ice_servers": ice}) as hall:
        options = await hall.client.options(
            "/whip/r9", headers={"Origin": "https://obs.example", "Access-Control-Request-Method": "POST"}
        )
        assert options.status_code == 204
        assert options.headers["accept-post"] == "application/sdp"
        assert "POST" in options.headers["access-control-allow-methods"]
        assert "Authorization" in options.headers["access-control-allow-headers"]
        publisher = Publisher(audio=False)
        try:
            response = await hall.client.post(
                "/whip/r9",
                content=await publisher.offer(),
                headers={
                    "Content-Type": "application/sdp",
                    "Authorization": f"Bearer {hall.token('r9')}",
                    "Origin": "https://obs.example",
                },
            )
            assert response.status_code == 201
            links = response.headers.get_list("link")
            assert '<stun:stun.hall.example:3478>; rel="ice-server"' in links
            assert any('rel="ice-server"; username="hall"; credential="s3cret"' in link for link in links)
            assert "Location" in response.headers["access-control-expose-headers"]
            patched = await hall.client.patch(
                response.headers["location"],
                content="a=end-of-candidates",
                headers={"Content-Type": "application/trickle-ice-sdpfrag"},
            )
            assert patched.status_code == 405
        finally:
            await publisher.close()
