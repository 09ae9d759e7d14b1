"""WS-Discovery against a UDP responder on 127.0.0.1 that answers with captured ProbeMatches.

Unicast only: the responder answers our Probe as the Axis M2025-LE and the Amcrest IP5M-B1186E
answered theirs (tests/fixtures/onvif/{axis,amcrest}/ProbeMatches.xml), with RelatesTo pointed at our
Probe's MessageID, the way a camera does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import cast

import pytest
from lxml import etree
from onvif_replay import FIXTURES

from camera_control.discovery import DiscoveredCamera, build_probe, parse_probe_matches, probe

AXIS = (FIXTURES / "axis" / "ProbeMatches.xml").read_bytes()
AMCREST = (FIXTURES / "amcrest" / "ProbeMatches.xml").read_bytes()
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"

Answer = Callable[[str], list[bytes]]  # the probe's MessageID -> datagrams to send back


def relating_to(capture: bytes, message_id: str) -> bytes:
    """The captured ProbeMatches with its RelatesTo rewritten to `message_id`."""
    root = etree.fromstring(capture)
    relates_to = root.find(f".//{{{WSA}}}RelatesTo")
    assert relates_to is not None
    relates_to.text = message_id
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return data


class Responder(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.probes: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.probes.append(data)
        message_id = etree.fromstring(data).findtext(f".//{{{WSA}}}MessageID") or ""
        assert self.transport is not None
        for datagram in self.answer(message_id):
            self.transport.sendto(datagram, addr)


@contextlib.asynccontextmanager
async def responder(answer: Answer) -> AsyncIterator[tuple[Responder, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: Responder(answer), local_addr=("127.0.0.1", 0))
    try:
        yield protocol, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


@pytest.fixture
async def cameras_on_the_lan() -> AsyncIterator[tuple[Responder, int]]:
    def answer(message_id: str) -> list[bytes]:
        return [
            b"\x00\xff garbage from a printer",
            b"<?xml version='1.0'?><not-soap/>",
            b'<!DOCTYPE x [<!ENTITY a "aaaaaaaa">]><x>&a;</x>',
            AXIS,  # still relating to the MessageID of someone else's probe
            # Axis answers "uuid:..." to our "urn:uuid:..."
            relating_to(AXIS, message_id.removeprefix("urn:")),
            relating_to(AMCREST, message_id),
        ]

    async with responder(answer) as running:
        yield running


async def test_probe_finds_the_cameras_that_answer(cameras_on_the_lan: tuple[Responder, int]) -> None:
    sender, port = cameras_on_the_lan
    found = await probe(timeout=1.0, address="127.0.0.1", port=port)
    assert found == [
        DiscoveredCamera(
            endpoint="urn:uuid:3ea96f68-b845-4c0b-87cf-eee904c4be65",
            xaddrs=(
                "http://192.168.0.209/onvif/device_service",
                "https://192.168.0.209/onvif/device_service",
                "http://169.254.251.249/onvif/device_service",
                "https://169.254.251.249/onvif/device_service",
            ),
            host="192.168.0.209",
            port=80,
            name="AXIS M2025-LE",
            hardware="M2025-LE",
            location=None,  # "onvif://www.onvif.org/location/" says nothing
            scopes=(
                "onvif://www.onvif.org/Profile/Streaming",
                "onvif://www.onvif.org/Profile/G",
                "onvif://www.onvif.org/Profile/T",
                "onvif://www.onvif.org/hardware/M2025-LE",
                "onvif://www.onvif.org/name/AXIS%20M2025-LE",
                "onvif://www.onvif.org/location/",
            ),
        ),
        DiscoveredCamera(
            endpoint="uuid:2a46daf1-86f6-91ad-5458-3d184eb186f6",
            xaddrs=("http://192.168.0.205/onvif/device_service",),
            host="192.168.0.205",
            port=80,
            name="Amcrest",
            hardware="IP5M-B1186E",
            location="country/china",
            scopes=(
                "onvif://www.onvif.org/location/country/china",
                "onvif://www.onvif.org/name/Amcrest",
                "onvif://www.onvif.org/hardware/IP5M-B1186E",
                "onvif://www.onvif.org/Profile/Streaming",
                "onvif://www.onvif.org/type/Network_Video_Transmitter",
                "onvif://www.onvif.org/extension/unique_identifier",
                "onvif://www.onvif.org/Profile/T",
            ),
        ),
    ]
    # The probe went out twice (SOAP-over-UDP repeats unicast once); the answers were counted once
    assert len(sender.probes) == 2
    probe_message = etree.fromstring(sender.probes[0])
    assert probe_message.findtext(".//{http://schemas.xmlsoap.org/ws/2005/04/discovery}Types") == (
        "dn:NetworkVideoTransmitter"
    )
    assert (probe_message.findtext(f".//{{{WSA}}}MessageID") or "").startswith("urn:uuid:")


async def test_no_answer_finds_nothing() -> None:
    async with responder(lambda message_id: []) as (sender, port):
        assert await probe(timeout=0.5, address="127.0.0.1", port=port) == []
        assert sender.probes


def test_only_answers_to_our_probe_count() -> None:
    ours = "urn:uuid:0b9c7d0e-1111-4aaa-8bbb-123456789abc"
    assert parse_probe_matches(relating_to(AMCREST, ours), ours)[0].name == "Amcrest"
    assert parse_probe_matches(relating_to(AMCREST, "urn:uuid:someone-else"), ours) == []
    assert parse_probe_matches(AMCREST[: len(AMCREST) // 2], ours) == []  # cut short
    assert parse_probe_matches(b"", ours) == []
    assert parse_probe_matches(build_probe(ours), ours) == []  # our own probe, looped back
