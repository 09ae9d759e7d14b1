"""The room's program over the public contract: WHIP publishers in, one WHEP program viewer out."""

from __future__ import annotations

import itertools
import json

import pytest
import websockets
from hall_tools import running_hall
from media_tools import Publisher, Subscriber, eventually, luma, read_tile_stamp
from test_whip_whep import whep, whip

ROOM = "hall-p"
SIZE = (640, 360)
SITES = ["县信访局", "乡镇一", "乡镇二", "市局"]


def quadrant_counters(subscriber: Subscriber) -> list[int]:
    y = luma(subscriber.frames[-1])
    return [read_tile_stamp(y, "2x2", index, SIZE) for index in range(4)]


def speaker_counter(subscriber: Subscriber) -> int:
    return read_tile_stamp(luma(subscriber.frames[-1]), "speaker", 0, SIZE)


@pytest.mark.slow
async def test_four_publishers_one_program_viewer_and_a_layout_change(tmp_path):
    # No clock in the corner: it would sit on the top right tile's stamp. Labels sit at the bottom.
    program = {"width": SIZE[0], "height": SIZE[1], "clock": False}
    async with running_hall(tmp_path, media={"program": program}) as hall:
        hall.services.media.open_room(ROOM, opened_by="王局长")
        publishers, participant_ids = [], []
        for index, site in enumerate(SITES):
            publisher = Publisher(start=1000 * (index + 1), fps=15)
            response = await whip(hall, publisher, ROOM, hall.token(ROOM, "staff", site))
            assert response.status_code == 201, response.text
            await publisher.accept(response.text)
            publishers.append(publisher)
            participant_ids.append(response.headers["x-participant-id"])
        viewer = Subscriber()
        viewer.keep_frames = 100_000
        try:
            response = await whep(hall, viewer, ROOM, hall.token(ROOM, "observer", "大屏"), None)
            assert response.status_code == 201, response.text
            assert response.headers["location"].startswith(f"/whep/{ROOM}/")
            await viewer.accept(response.text)

            # Each quadrant shows its own publisher: the counter read back after scaling is that publisher's.
            def all_quadrants_live() -> bool:
                return bool(viewer.frames) and [c // 1000 for c in quadrant_counters(viewer)] == [1, 2, 3, 4]

            await eventually(all_quadrants_live, what="four publishers in four quadrants")
            first = quadrant_counters(viewer)
            first_frame = len(viewer.frames)
            await eventually(lambda: len(viewer.frames) >= first_frame + 50, what="50 more program frames")
            later = quadrant_counters(viewer)
            for index, (before, after) in enumerate(zip(first, later, strict=True)):
                assert after // 1000 == index + 1
                assert after > before, f"quadrant {index} kept moving"
                assert after - 1000 * (index + 1) <= publishers[index].video.count

            # 25 frames a second on the program's own timeline (RTP timestamps at 90 kHz): the usual step
            # between pictures is 1/25 s. (A busy machine makes the program skip a frame now and then.)
            window = viewer.frames[first_frame:]
            steps = sorted(float((b.pts - a.pts) * a.time_base) for a, b in itertools.pairwise(window))
            assert 0.036 <= steps[len(steps) // 2] <= 0.044, steps
            assert viewer.audio_frames > 50 and viewer.audio_peak > 2000  # the mixed tones

            leader = await hall.bearer("boss", "leader")
            info = await hall.client.get(f"/api/rooms/{ROOM}/program", headers=leader)
            assert info.json()["layout_in_use"] == "2x2" and info.json()["viewers"] == 2

            # The leader puts one site on the whole picture: the decoded picture changes to it.
            directed = await hall.client.put(
                f"/api/rooms/{ROOM}/program", json={"layout": "speaker", "shown": [participant_ids[2]]}, headers=leader
            )
            assert directed.status_code == 200, directed.text
            assert directed.json()["layout"] == "speaker" and directed.json()["shown"] == [participant_ids[2]]
            await eventually(lambda: speaker_counter(viewer) // 1000 == 3, what="site 3 on the whole picture")

            # Back to everyone, automatically laid out.
            await hall.client.put(f"/api/rooms/{ROOM}/program", json={"layout": "auto", "shown": None}, headers=leader)
            await eventually(all_quadrants_live, what="the 2x2 picture again")
        finally:
            await viewer.close()
            for publisher in publishers:
                await publisher.close()


async def test_directing_the_program_is_checked(hall):
    hall.services.media.open_room("r3", opened_by="王局长")
    url = "/api/rooms/r3/program"
    observer = await hall.bearer("watcher", "observer")
    security = await hall.bearer("guard", "security")
    staff = await hall.bearer("clerk", "staff")
    before = (await hall.client.get(url, headers=observer)).json()
    assert before["layout"] == "auto" and before["running"] is False

    assert (await hall.client.put(url, json={"layout": "2x2"}, headers=observer)).status_code == 403
    assert (await hall.client.put(url, json={"layout": "2x2"}, headers=security)).status_code == 403
    unknown = await hall.client.put(url, json={"layout": "5x5"}, headers=staff)
    assert unknown.status_code == 422 and unknown.json()["error"] == "invalid_program"
    assert "5x5" in unknown.json()["message"]
    absent = await hall.client.put(url, json={"shown": ["PA_nobody"]}, headers=staff)
    assert absent.status_code == 404 and absent.json()["error"] == "participant_not_found"
    too_long = await hall.client.put(url, json={"caption": "长" * 49}, headers=staff)
    assert too_long.status_code == 422
    assert (await hall.client.get(url, headers=observer)).json() == before  # nothing changed

    ok = await hall.client.put(url, json={"layout": "1+5", "caption": "信访件 2026-0815"}, headers=staff)
    assert ok.status_code == 200
    assert ok.json()["layout"] == "1+5" and ok.json()["caption"] == "信访件 2026-0815"
    audit = (await hall.client.get("/api/audit", headers=await hall.bearer("root", "admin"))).json()
    assert any(entry["action"] == "program_directed" and entry["actor"] == "clerk" for entry in audit)


async def test_directing_over_the_socket_tells_everyone(hall):
    base = hall.base_url.replace("http", "ws")
    leader_url = f"{base}/ws/rooms/r4?token={hall.token('r4', 'leader', '王局长')}"
    async with websockets.connect(leader_url) as leader:
        assert json.loads(await leader.recv())["type"] == "welcome"
        petitioner_url = f"{base}/ws/rooms/r4?token={hall.token('r4', 'petitioner', '张三')}"
        async with websockets.connect(petitioner_url) as petitioner:
            welcome = json.loads(await petitioner.recv())
            assert welcome["permissions"]["direct"] is False
            await petitioner.send(json.dumps({"type": "program", "layout": "speaker", "request_id": 1}))
            refused = json.loads(await petitioner.recv())
            assert refused["type"] == "error" and refused["code"] == "forbidden" and refused["request_id"] == 1

            await leader.send(json.dumps({"type": "program", "layout": "side_by_side", "caption": "接访"}))
            for socket in (leader, petitioner):
                while (event := json.loads(await socket.recv()))["type"] != "program_updated":
                    pass
                assert event["program"]["layout"] == "side_by_side" and event["program"]["caption"] == "接访"
            await leader.send(json.dumps({"type": "program", "layout": "7x7", "request_id": 2}))
            while (reply := json.loads(await leader.recv()))["type"] != "error":
                pass
            assert reply["code"] == "invalid_program" and reply["request_id"] == 2

            # A big-screen link carries a watch-only token of its own; only directors may make one.
            await petitioner.send(json.dumps({"type": "screen_link", "request_id": 3}))
            while (refused := json.loads(await petitioner.recv())).get("request_id") != 3:
                pass
            assert refused["type"] == "error" and refused["code"] == "forbidden"
            await leader.send(json.dumps({"type": "screen_link", "request_id": 4}))
            while (link := json.loads(await leader.recv())).get("request_id") != 4:
                pass
            claims = hall.services.tokens.verify_join(link["token"])
            assert claims.role.value == "observer" and claims.room_id == "r4"
