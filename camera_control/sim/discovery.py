"""WS-Discovery for the simulated camera: answers a Probe with a ProbeMatches, as an ONVIF camera does.

SOAP-over-UDP on port 3702. Tests probe it by unicast on an ephemeral port; with `multicast=True` it also
joins 239.255.255.250 so that `hall demo` finds it on a LAN like any camera (best effort: a host that
cannot join still answers unicast probes). The answer is modelled on axis/ProbeMatches.xml and
amcrest/ProbeMatches.xml in /work/shared/onvif-captures.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import socket
import struct
import time
import uuid
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

logger = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
APP_MAX_DELAY = 0.5  # WS-Discovery: answer a multicast probe after a random delay up to this, in seconds
MAX_DATAGRAM = 65_507

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
DN = "http://www.onvif.org/ver10/network/wsdl"
TDS = "http://www.onvif.org/ver10/device/wsdl"
_RFC3986 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986"
_STRCMP0 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0"
_SUPPORTED_TYPES = frozenset({(DN, "NetworkVideoTransmitter"), (TDS, "Device")})

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)


class DiscoveryResponder:
    """Answers WS-Discovery probes for one device service address."""

    def __init__(
        self,
        xaddr: str | Sequence[str],
        scopes: Sequence[str],
        *,
        host: str = "127.0.0.1",
        port: int = DISCOVERY_PORT,
        multicast: bool = False,
        endpoint: str | None = None,
    ) -> None:
        self.xaddrs = [xaddr] if isinstance(xaddr, str) else list(xaddr)
        self.scopes = list(scopes)
        self.host = host
        self.multicast = multicast
        # A camera's endpoint reference stays the same across restarts: derive it from what it announces.
        self.endpoint = endpoint or f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, ' '.join(self.xaddrs))}"
        self._requested_port = port
        self._port = port
        self._transport: asyncio.DatagramTransport | None = None
        self._instance_id = int(time.time())
        self._message_number = 0
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        if self._transport is not None:
            raise RuntimeError("the discovery responder is already running")
        sock = self._socket()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _ProbeProtocol(self), sock=sock)
        self._transport = transport
        self._port = sock.getsockname()[1]
        logger.info("%s: WS-Discovery on udp %s:%d%s", self.endpoint, self.host, self._port, self._multicast_note())

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _multicast_note(self) -> str:
        return f" and {MULTICAST_GROUP}" if self.multicast else ""

    def _socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.multicast:
                if hasattr(socket, "SO_REUSEPORT"):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind(("", self._requested_port))  # multicast datagrams arrive on the wildcard address
                self._join(sock)
            else:
                sock.bind((self.host, self._requested_port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def _join(self, sock: socket.socket) -> None:
        # Join on the camera's own interface when it has one; a wildcard or loopback host joins on the default.
        specific = self.host not in ("", "0.0.0.0", "localhost") and not self.host.startswith("127.")
        interface = self.host if specific else "0.0.0.0"
        membership = struct.pack("4s4s", socket.inet_aton(MULTICAST_GROUP), socket.inet_aton(interface))
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        except OSError as exc:
            logger.warning(
                "%s: could not join %s (%s); answering unicast probes only", self.endpoint, MULTICAST_GROUP, exc
            )
            self.multicast = False

    # ------------------------------------------------------------------ probes

    def answer(self, datagram: bytes) -> bytes | None:
        """The ProbeMatches for a datagram, or None when it is not a probe this device matches."""
        try:
            root = etree.fromstring(datagram, _PARSER)
        except etree.XMLSyntaxError:
            return None
        if root.getroottree().docinfo.doctype:
            return None
        probe = root.find(f"{{{SOAP_ENV}}}Body/{{{WSD}}}Probe")
        message_id = (root.findtext(f"{{{SOAP_ENV}}}Header/{{{WSA}}}MessageID") or "").strip()
        if probe is None or not message_id or self._duplicate(message_id):
            return None
        if not _types_match(probe.find(f"{{{WSD}}}Types")) or not _scopes_match(
            probe.find(f"{{{WSD}}}Scopes"), self.scopes
        ):
            return None
        return self._probe_matches(message_id)

    def _duplicate(self, message_id: str) -> bool:
        """SOAP-over-UDP repeats each message; a receiver answers it once."""
        if message_id in self._seen:
            return True
        self._seen[message_id] = None
        if len(self._seen) > 256:
            self._seen.popitem(last=False)
        return False

    def _probe_matches(self, relates_to: str) -> bytes:
        self._message_number += 1
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:SOAP-ENC="http://www.w3.org/2003/05/soap-encoding"'
            f' xmlns:wsa="{WSA}" xmlns:d="{WSD}" xmlns:dn="{DN}" xmlns:tds="{TDS}">'
            "<SOAP-ENV:Header>"
            f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
            f"<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo>"
            '<wsa:To SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>'
            '<wsa:Action SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>'
            f'<d:AppSequence SOAP-ENV:mustUnderstand="true" MessageNumber="{self._message_number}"'
            f' InstanceId="{self._instance_id}"/>'
            "</SOAP-ENV:Header>"
            "<SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>"
            f"<wsa:EndpointReference><wsa:Address>{escape(self.endpoint)}</wsa:Address></wsa:EndpointReference>"
            "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
            f"<d:Scopes>{escape(' '.join(self.scopes))}</d:Scopes>"
            f"<d:XAddrs>{escape(' '.join(self.xaddrs))}</d:XAddrs>"
            "<d:MetadataVersion>1</d:MetadataVersion>"
            "</d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        ).encode()

    def _send(self, payload: bytes, address: tuple[str, int]) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(payload, address)


class _ProbeProtocol(asyncio.DatagramProtocol):
    def __init__(self, responder: DiscoveryResponder) -> None:
        self._responder = responder

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) > MAX_DATAGRAM:
            return
        reply = self._responder.answer(data)
        if reply is None:
            return
        address = (str(addr[0]), int(addr[1]))
        if self._responder.multicast:
            delay = random.uniform(0, APP_MAX_DELAY)
            asyncio.get_running_loop().call_later(delay, self._responder._send, reply, address)
        else:
            self._responder._send(reply, address)

    def error_received(self, exc: Exception) -> None:
        logger.debug("%s: WS-Discovery socket error: %s", self._responder.endpoint, exc)


def _types_match(types: etree._Element | None) -> bool:
    """A probe for no type, or only for types this device implements, matches."""
    if types is None or not (types.text or "").strip():
        return True
    for qname in (types.text or "").split():
        prefix, _, local = qname.rpartition(":")
        namespace = types.nsmap.get(prefix or None)
        if (namespace, local) not in _SUPPORTED_TYPES:
            return False
    return True


def _scopes_match(scopes: etree._Element | None, ours: Sequence[str]) -> bool:
    """Every probed scope must match one of ours: by RFC 3986 path prefix (the default) or exactly (strcmp0)."""
    if scopes is None or not (scopes.text or "").strip():
        return True
    rule = scopes.get("MatchBy", _RFC3986)
    for wanted in (scopes.text or "").split():
        if rule == _STRCMP0:
            matched = wanted in ours
        else:
            stem = wanted.rstrip("/").lower()
            matched = any(scope.lower() == stem or scope.lower().startswith(stem + "/") for scope in ours)
        if not matched:
            return False
    return True
