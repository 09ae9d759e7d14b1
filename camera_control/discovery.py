"""WS-Discovery: find ONVIF cameras on the hall's network with a Probe, as ONVIF Core §7 describes.

One Probe (Types dn:NetworkVideoTransmitter) goes out by multicast to 239.255.255.250:3702, or by
unicast to one address; cameras answer ProbeMatches by unicast to our socket. We keep the answers that
relate to our Probe, one per endpoint reference, until the timeout.

Datagrams come from anyone on the LAN: every one is parsed defensively and a bad one is dropped with a
debug line, never an exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import socket
import urllib.parse
import uuid

from lxml import etree

logger = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702

_SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
_ONVIF_SCOPE = "onvif://www.onvif.org/"
_MAX_DATAGRAM = 65_535

# SOAP-over-UDP §3.4: a multicast message is repeated twice, a unicast one once, after a random delay
# between 50 and 250 ms that doubles each time (UDP gives no delivery guarantee).
_MULTICAST_REPEAT = 2
_UNICAST_REPEAT = 1
_UDP_MIN_DELAY = 0.050
_UDP_MAX_DELAY = 0.250

# Loud enough to cross one router between the security office and the cameras' VLAN, no further.
_MULTICAST_TTL = 2

_PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" \
xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" \
xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" \
xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
  <s:Header>
    <a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>
    <a:MessageID>{message_id}</a:MessageID>
    <a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
    <a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>
  </s:Header>
  <s:Body>
    <d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>
  </s:Body>
</s:Envelope>
"""

# A hostile or broken sender cannot make us fetch anything, expand entities or build a huge tree.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclasses.dataclass(frozen=True, slots=True)
class DiscoveredCamera:
    endpoint: str  # the endpoint reference address, stable across reboots and address changes
    xaddrs: tuple[str, ...]  # device service URLs, as announced
    host: str
    port: int
    name: str | None
    hardware: str | None
    location: str | None
    scopes: tuple[str, ...]


def build_probe(message_id: str) -> bytes:
    return _PROBE.format(message_id=message_id).encode()


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def parse_probe_matches(datagram: bytes, message_id: str) -> list[DiscoveredCamera]:
    """The cameras in a ProbeMatches answering `message_id`; [] for anything else or anything broken."""
    if b"<!DOCTYPE" in datagram or b"<!ENTITY" in datagram:
        logger.debug("discovery: dropped a datagram with a DTD")
        return []
    try:
        root = etree.fromstring(datagram, _PARSER)
    except etree.XMLSyntaxError as exc:
        logger.debug("discovery: dropped a datagram that is not XML: %s", exc)
        return []
    if root is None or root.tag != f"{{{_SOAP_ENV}}}Envelope":
        logger.debug("discovery: dropped a datagram that is not a SOAP 1.2 envelope")
        return []
    relates_to = _first_text(root, "Header", "RelatesTo")
    if relates_to is None or _uuid_of(relates_to) != _uuid_of(message_id):
        logger.debug("discovery: dropped an answer to another message (%s)", relates_to)
        return []
    cameras = []
    for match in root.iter(f"{{{_WSD}}}ProbeMatch"):
        camera = _camera_from(match)
        if camera is not None:
            cameras.append(camera)
    return cameras


async def probe(
    *, timeout: float = 2.0, address: str | None = None, port: int = DISCOVERY_PORT
) -> list[DiscoveredCamera]:
    """Probe for ONVIF cameras: by multicast when `address` is None, else by unicast to that address.

    Waits the whole `timeout` (cameras answer after a random delay of up to a few hundred ms), then
    returns the cameras found, one per endpoint reference, in the order they answered.
    """
    message_id = new_message_id()
    loop = asyncio.get_running_loop()
    collector = _Collector(message_id)
    sock = _socket(multicast=address is None)
    transport, _ = await loop.create_datagram_endpoint(lambda: collector, sock=sock)
    target = (MULTICAST_GROUP if address is None else address, port)
    repeats = _MULTICAST_REPEAT if address is None else _UNICAST_REPEAT
    sender = asyncio.create_task(_send_with_repeats(transport, build_probe(message_id), target, repeats))
    try:
        await asyncio.sleep(timeout)
    finally:
        sender.cancel()
        try:
            await sender
        except asyncio.CancelledError:
            pass
        transport.close()
    logger.info("discovery: %d camera(s) answered a probe to %s:%d", len(collector.cameras), *target)
    return list(collector.cameras.values())


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.cameras: dict[str, DiscoveredCamera] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        for camera in parse_probe_matches(data[:_MAX_DATAGRAM], self.message_id):
            if camera.endpoint not in self.cameras:
                logger.debug("%s: discovered (%s)", camera.host, camera.endpoint)
                self.cameras[camera.endpoint] = camera

    def error_received(self, exc: Exception) -> None:
        # An ICMP port-unreachable from a unicast target lands here; the probe just finds nothing.
        logger.debug("discovery: socket error %s", exc)


async def _send_with_repeats(
    transport: asyncio.DatagramTransport, message: bytes, target: tuple[str, int], repeats: int
) -> None:
    delay = random.uniform(_UDP_MIN_DELAY, _UDP_MAX_DELAY)
    for attempt in range(repeats + 1):
        if attempt:
            await asyncio.sleep(delay)
            delay *= 2
        try:
            transport.sendto(message, target)
        except OSError as exc:  # no route to the target: nothing will answer
            logger.warning("discovery: cannot send a probe to %s:%d: %s", *target, exc)
            return


def _socket(*, multicast: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setblocking(False)
    if multicast:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, _MULTICAST_TTL)
        # A camera simulator on this very host must hear the probe too.
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.bind(("0.0.0.0", 0))
    return sock


def _camera_from(match: etree._Element) -> DiscoveredCamera | None:
    endpoint = _first_text(match, "EndpointReference", "Address")
    xaddrs = tuple((_first_text(match, "XAddrs") or "").split())
    if not endpoint:
        logger.debug("discovery: dropped a ProbeMatch without an endpoint reference")
        return None
    located = _host_port(xaddrs)
    if located is None:
        # Without an XAddr we would need a Resolve round trip; cameras always send one in practice.
        logger.debug("discovery: dropped %s: no usable XAddr", endpoint)
        return None
    host, port = located
    scopes = tuple((_first_text(match, "Scopes") or "").split())
    return DiscoveredCamera(
        endpoint=endpoint,
        xaddrs=xaddrs,
        host=host,
        port=port,
        name=_scope_value(scopes, "name"),
        hardware=_scope_value(scopes, "hardware"),
        location=_scope_value(scopes, "location"),
        scopes=scopes,
    )


def _host_port(xaddrs: tuple[str, ...]) -> tuple[str, int] | None:
    """Host and port of the first http XAddr (the first of any kind if none is plain http)."""
    ordered = sorted(xaddrs, key=lambda xaddr: not xaddr.lower().startswith("http://"))
    for xaddr in ordered:
        try:
            parts = urllib.parse.urlsplit(xaddr)
            port = parts.port
        except ValueError:
            continue
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        return parts.hostname, port or (443 if parts.scheme == "https" else 80)
    return None


def _scope_value(scopes: tuple[str, ...], kind: str) -> str | None:
    """The decoded value of the first onvif://www.onvif.org/<kind>/... scope; None when absent or empty."""
    prefix = f"{_ONVIF_SCOPE}{kind}/"
    for scope in scopes:
        if scope.lower().startswith(prefix):
            value = urllib.parse.unquote(scope[len(prefix) :]).strip()
            return value or None
    return None


def _uuid_of(message_id: str) -> str:
    # Cameras echo the MessageID with or without its "urn:" prefix (Axis M2025-LE answers "uuid:...").
    value = message_id.strip().lower()
    value = value.removeprefix("urn:")
    return value.removeprefix("uuid:")


def _first_text(element: etree._Element, *path: str) -> str | None:
    """Text of the first element down `path`, matched by local name in any namespace.

    Cameras disagree on the WS-Addressing namespace they answer in (2004/08 or 2005/08), so names,
    not namespaces, decide.
    """
    current: etree._Element | None = element
    for name in path:
        if current is None:
            return None
        current = next((child for child in current if _local_name(child) == name), None)
    if current is None or current.text is None:
        return None
    return current.text.strip()


def _local_name(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):  # comments, processing instructions
        return ""
    return tag.rpartition("}")[2]
