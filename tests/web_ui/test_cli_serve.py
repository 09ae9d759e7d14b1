"""`hall demo` and `hall serve --self-signed` as someone would run them."""

from __future__ import annotations

import json
import re
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets.sync.client
from hall_tools import free_port

pytestmark = pytest.mark.slow


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "web_ui.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_healthy(url: str, verify: object = True, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, verify=verify, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def test_demo_prints_working_sign_in_and_room_links(tmp_path: Path):
    port = free_port()
    process = start(["demo", "--data-dir", str(tmp_path / "data"), "--port", str(port)])
    try:
        lines = []
        while not any("API docs" in line for line in lines):
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        banner = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in banner
        password = re.search(r"密码: (\S+)", banner).group(1)
        leader_link = re.search(r"leader / 领导:\s+(\S+)", banner).group(1)
        health = wait_healthy(f"http://127.0.0.1:{port}/healthz").json()
        # The demo room is open (the petitioner's link works first), and so is today's first reception room.
        assert health["status"] == "ok" and health["rooms"] >= 1
        visits = re.findall(r"来访人 \S+: (\S+/v/\S+)", banner)
        if visits:  # none late at night (hall time): the demo's day of receptions starts tomorrow then
            visit = httpx.get(visits[0].replace("/v/", "/api/visits/")).json()
            assert visit["state"] == "confirmed" and visit["leader"]["name"] == "王局长"
            ticket = httpx.post(visits[0].replace("/v/", "/api/visits/") + "/ticket", json={"consent": True})
            assert ticket.status_code == 200, ticket.text  # its room is open: the petitioner can go in now
        login = httpx.post(f"http://127.0.0.1:{port}/api/auth/login", json={"username": "leader", "password": password})
        assert login.status_code == 200 and login.json()["user"]["display_name"] == "王局长"
        page = httpx.get(leader_link.split("#")[0])
        assert page.status_code == 200 and "信访接待大厅" in page.text
        token = leader_link.split("#token=")[1]
        with websockets.sync.client.connect(f"ws://127.0.0.1:{port}/ws/rooms/reception-1?token={token}") as socket:
            assert json.loads(socket.recv())["type"] == "welcome"

        # The simulated cameras are on the wall, online, with the reception desk's preset.
        assert f"http://127.0.0.1:{port}/cameras" in banner
        sign_in = {"username": "security", "password": password}
        guard = httpx.post(f"http://127.0.0.1:{port}/api/auth/login", json=sign_in)
        headers = {"Authorization": "Bearer " + guard.json()["token"]}
        deadline = time.monotonic() + 30
        while True:
            cameras = httpx.get(f"http://127.0.0.1:{port}/api/cameras", headers=headers).json()
            ready = len(cameras) == 3 and all(c["status"] == "online" for c in cameras)
            if ready or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert [c["name"] for c in cameras] == ["大厅全景", "接待室1号台", "大厅入口"]
        assert all(c["status"] == "online" for c in cameras), cameras
        desk = cameras[1]["presets"]
        assert {"name": "1号台", "desk": "接待室1号台"}.items() <= desk[0].items()
    finally:
        output = stop(process)
    assert "Traceback" not in output
    for link in visits:  # the petitioners' link keys are credentials: the access log shows them redacted
        assert link.split("/v/")[1] not in output
    assert "/ws/rooms/reception-1?token=[redacted]" in output  # the socket was logged, its token was not
    assert token not in output  # (the banner, read above, is the only place it is printed)


def test_serve_with_a_self_signed_certificate(tmp_path: Path):
    port = free_port()
    data = tmp_path / "data"
    process = start(["serve", "--self-signed", "--data-dir", str(data), "--port", str(port)])
    try:
        certificate = data / "tls" / "self-signed.crt"
        deadline = time.monotonic() + 30
        while not certificate.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        response = wait_healthy(
            f"https://127.0.0.1:{port}/healthz", verify=ssl.create_default_context(cafile=certificate)
        )
        assert response.status_code == 200
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)  # plain HTTP is not served
        assert oct((data / "tls" / "self-signed.key").stat().st_mode & 0o777) == "0o600"
    finally:
        output = stop(process)
    assert "Traceback" not in output
