"""The simulated camera's ONVIF services: device, media (ver10), PTZ (ver20) and events (PullPoint), over SOAP/HTTP.

Answers are generated from the live CameraState but shaped like real cameras' answers: the element order,
prefixes and envelope of the Hikvision-platform captures in /work/shared/onvif-captures
(hikvision-platform-ptz/ for device, media and PTZ; hikvision/ for GetEventProperties,
CreatePullPointSubscription and PullMessages), so a client that accepts the simulator has been exercised
on the shapes it will meet on site.

Authentication is WS-Security UsernameToken (PasswordDigest or PasswordText) checked against the camera's
own clock, which may be wrong (`CameraState.clock_offset`): a client must read GetSystemDateAndTime and
correct its Created stamps, as it must with a real camera whose clock was never set. The snapshot URI
uses HTTP Digest, as real cameras' snapshot pages do.

For a client's tests, `fault_mode` makes every SOAP answer a truncated XML document ("broken_xml") or
never come ("hang", until stop()).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import dataclasses
import datetime
import hashlib
import hmac
import logging
import math
import re
import secrets
import socket
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Literal, NamedTuple
from xml.sax.saxutils import escape

import uvicorn
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from camera_control.sim.state import CameraState, PtzPosition

logger = logging.getLogger(__name__)

FaultMode = Literal["broken_xml", "hang"]

# ------------------------------------------------------------------ namespaces

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TT = "http://www.onvif.org/ver10/schema"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_NS = {"tt": TT, "tds": TDS, "trt": TRT, "tptz": TPTZ, "tev": TEV, "wsnt": WSNT, "wsse": WSSE, "wsu": WSU}

# The envelope of the Hikvision captures, less the vendor's own extension namespaces.
_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
    ' xmlns:soapenc="http://www.w3.org/2003/05/soap-encoding"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:xs="http://www.w3.org/2001/XMLSchema"'
    ' xmlns:tt="http://www.onvif.org/ver10/schema"'
    ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl"'
    ' xmlns:trt="http://www.onvif.org/ver10/media/wsdl"'
    ' xmlns:timg="http://www.onvif.org/ver20/imaging/wsdl"'
    ' xmlns:tev="http://www.onvif.org/ver10/events/wsdl"'
    ' xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"'
    ' xmlns:tan="http://www.onvif.org/ver20/analytics/wsdl"'
    ' xmlns:ter="http://www.onvif.org/ver10/error"'
    ' xmlns:dn="http://www.onvif.org/ver10/network/wsdl"'
    ' xmlns:tns1="http://www.onvif.org/ver10/topics"'
    ' xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"'
    ' xmlns:wsa="http://www.w3.org/2005/08/addressing"'
    ' xmlns:wstop="http://docs.oasis-open.org/wsn/t-1"'
    ' xmlns:wsrf-bf="http://docs.oasis-open.org/wsrf/bf-2"'
    ' xmlns:wsrf-r="http://docs.oasis-open.org/wsrf/r-2">'
)

_BROKEN_AT = len(_ENVELOPE_OPEN) // 2

# ------------------------------------------------------------------ the camera's fixed tokens (Hikvision's names)

VIDEO_SOURCE_TOKEN = "VideoSource_1"
VIDEO_SOURCE_CONFIG_TOKEN = "VideoSourceToken"
ANALYTICS_CONFIG_TOKEN = "VideoAnalyticsToken"
MOTION_RULE = "MyMotionDetectorRule"
PTZ_CONFIG_TOKEN = "PTZToken"
PTZ_NODE_TOKEN = "PTZNODETOKEN"
MAX_PRESETS = 300
DEFAULT_PTZ_TIMEOUT = 300.0  # DefaultPTZTimeout PT300S, as the Hikvision-platform PTZ advertises
CLOCK_TOLERANCE = 300.0  # seconds a UsernameToken's Created may stray from the camera's clock
PULLPOINT_QUEUE = 200  # notifications a pull point keeps for a client that stopped pulling
MAX_PULL_TIMEOUT = 60.0
DEFAULT_SUBSCRIPTION = 60.0  # Hikvision grants one minute when InitialTerminationTime is absent
MAX_SUBSCRIPTION = 3600.0
MOTION_POLL = 0.1
MAX_REQUEST_BYTES = 1 << 20
WILDCARD_HOSTS = ("", "0.0.0.0", "::")

_PT_POSITION = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"
_ZOOM_POSITION = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"
_PT_TRANSLATION = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationGenericSpace"
_ZOOM_TRANSLATION = "http://www.onvif.org/ver10/tptz/ZoomSpaces/TranslationGenericSpace"
_PT_VELOCITY = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace"
_ZOOM_VELOCITY = "http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace"
_PT_SPEED = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace"
_ZOOM_SPEED = "http://www.onvif.org/ver10/tptz/ZoomSpaces/ZoomGenericSpeedSpace"
_TOPIC_DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"


class StreamProfile(NamedTuple):
    """One media profile and the RTSP stream behind it."""

    token: str
    name: str
    path: str
    width: int
    height: int
    fps: int
    encoding: Literal["H264", "H265"]
    bitrate_kbps: int

    @property
    def gov_length(self) -> int:
        return 2 * self.fps  # a key frame every two seconds, the usual factory setting


DEFAULT_STREAMS = (
    StreamProfile("Profile_1", "MainStream", "main", 1920, 1080, 25, "H264", 4096),
    StreamProfile("Profile_2", "SubStream", "sub", 640, 360, 10, "H264", 512),
)


class _SoapFault(Exception):
    """An answer that is a SOAP fault. HTTP status per the SOAP 1.2 HTTP binding: 400 for env:Sender,
    500 for env:Receiver."""

    def __init__(self, reason: str, *subcodes: str, code: str = "env:Sender", detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.subcodes = subcodes
        self.code = code
        self.detail = detail
        self.status = 400 if code == "env:Sender" else 500


def _not_supported(what: str = "Optional Action Not Implemented") -> _SoapFault:
    return _SoapFault(what, "ter:ActionNotSupported", code="env:Receiver")


def _invalid(reason: str, subcode: str | None = None) -> _SoapFault:
    """ONVIF's "Argument Value Invalid" fault, with the operation's own subcode when it has one."""
    return _SoapFault(reason, "ter:InvalidArgVal", *([subcode] if subcode else []))


# Hikvision's words (home-assistant/home-assistant.io#28662); HTTP 400 as the SOAP 1.2 binding has it for
# env:Sender, which is what node-onvif#60 saw with the same text ("400 Bad Request - The action requested...").
_NOT_AUTHORIZED = "The action requested requires authorization and the sender is not authorized"

# ONVIF Core's PRE_AUTH access class: answered without credentials.
_PRE_AUTH = frozenset(
    {
        (TDS, "GetSystemDateAndTime"),
        (TDS, "GetServices"),
        (TDS, "GetCapabilities"),
        (TDS, "GetWsdlUrl"),
        (TDS, "GetEndpointReference"),
        (TDS, "GetServiceCapabilities"),
        (TRT, "GetServiceCapabilities"),
        (TPTZ, "GetServiceCapabilities"),
        (TEV, "GetServiceCapabilities"),
    }
)

# wsa:Action of event answers, as the Hikvision captures carry them in the header.
_EVENT_ACTIONS = {
    "GetServiceCapabilities": "http://www.onvif.org/ver10/events/wsdl/EventPortType/GetServiceCapabilitiesResponse",
    "GetEventProperties": "http://www.onvif.org/ver10/events/wsdl/EventPortType/GetEventPropertiesResponse",
    "CreatePullPointSubscription": (
        "http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionResponse"
    ),
    "PullMessages": "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesResponse",
    "SetSynchronizationPoint": (
        "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/SetSynchronizationPointResponse"
    ),
    "Renew": "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewResponse",
    "Unsubscribe": "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeResponse",
}

# ------------------------------------------------------------------ wire helpers


def _x(value: object) -> str:
    """Text or attribute value, escaped."""
    return escape(str(value), {'"': "&quot;"})


def _bool(value: bool) -> str:
    return "true" if value else "false"


def xs_datetime(timestamp: float) -> str:
    """xs:dateTime in UTC to the second, as the captures write it: 2025-04-18T20:34:05Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float:
    """Seconds in an xs:duration of days, hours, minutes and seconds (PT1M, PT0.5S, P0D)."""
    match = _DURATION.match(text.strip())
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"not an xs:duration: {text!r}")
    parts = {key: float(value or 0) for key, value in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def parse_datetime(text: str) -> float:
    """An xs:dateTime as UTC seconds; no zone means UTC."""
    moment = datetime.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _envelope(body: str, action: str | None = None) -> bytes:
    header = f"<env:Header><wsa:Action>{action}</wsa:Action></env:Header>" if action else ""
    return f"{_ENVELOPE_OPEN}{header}<env:Body>{body}</env:Body></env:Envelope>\n".encode()


def _fault_body(fault: _SoapFault) -> str:
    subcodes = ""
    for subcode in reversed(fault.subcodes):
        subcodes = f"<env:Subcode><env:Value>{subcode}</env:Value>{subcodes}</env:Subcode>"
    detail = f"<env:Detail>{fault.detail}</env:Detail>" if fault.detail else ""
    return (
        f"<env:Fault><env:Code><env:Value>{fault.code}</env:Value>{subcodes}</env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{_x(fault.reason)}</env:Text></env:Reason>'
        "<env:Node>http://www.w3.org/2003/05/soap-envelope/node/ultimateReceiver</env:Node>"
        "<env:Role>http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver</env:Role>"
        f"{detail}</env:Fault>"
    )


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)


def _parse_request(payload: bytes) -> tuple[etree._Element | None, etree._Element]:
    """The SOAP Header (or None) and the operation element of a request."""
    try:
        root = etree.fromstring(payload, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise _SoapFault(f"Well-formed Error: {exc}", "ter:WellFormed") from None
    if root.getroottree().docinfo.doctype:
        raise _SoapFault("Well-formed Error: a DTD is not allowed", "ter:WellFormed")
    qname = etree.QName(root)
    if qname.localname != "Envelope" or qname.namespace not in (SOAP_ENV, SOAP11_ENV):
        raise _SoapFault("Well-formed Error: not a SOAP envelope", "ter:WellFormed")
    header = root.find(f"{{{qname.namespace}}}Header")
    body = root.find(f"{{{qname.namespace}}}Body")
    operation = None if body is None else next((child for child in body if isinstance(child.tag, str)), None)
    if operation is None:
        raise _SoapFault("Well-formed Error: the Body holds no operation", "ter:WellFormed")
    return header, operation


@dataclasses.dataclass(frozen=True, slots=True)
class _Call:
    """One SOAP request as a handler sees it."""

    operation: etree._Element
    base_url: str  # http://HOST:PORT as the camera advertises itself to this client
    host: str
    pullpoint_id: str | None = None

    def text(self, path: str) -> str | None:
        element = self.operation.find(path, _NS)
        return None if element is None or element.text is None else element.text.strip()

    def required(self, path: str) -> str:
        value = self.text(path)
        if not value:
            raise _invalid(f"{path} is required")
        return value

    def number(self, path: str, attribute: str) -> float | None:
        element = self.operation.find(path, _NS)
        if element is None or element.get(attribute) is None:
            return None
        try:
            value = float(element.get(attribute, ""))
        except ValueError:
            raise _invalid(f"{path}@{attribute} is not a number") from None
        if not math.isfinite(value):
            raise _invalid(f"{path}@{attribute} is not a number")
        return value

    def space(self, path: str) -> str | None:
        element = self.operation.find(path, _NS)
        return None if element is None else element.get("space")

    def flag(self, path: str, default: bool) -> bool:
        value = self.text(path)
        return default if value is None else value.lower() in ("true", "1")


# ------------------------------------------------------------------ authentication


class _UsernameTokenCheck:
    """WS-Security UsernameToken as ONVIF Core requires it: PasswordDigest = Base64(SHA1(nonce + created +
    password)) with Created near the camera's clock and a nonce seen once, or PasswordText."""

    def __init__(self, username: str, password: str, clock: Callable[[], float], label: str = "camera") -> None:
        self._label = label
        self._username = username.encode()
        self._password = password.encode()
        self._clock = clock
        self._nonces: dict[bytes, float] = {}

    def verify(self, header: etree._Element | None) -> None:
        """Raise the NotAuthorized fault unless the header carries a valid token."""
        token = None if header is None else header.find("wsse:Security/wsse:UsernameToken", _NS)
        if token is None:
            raise self._refuse("no UsernameToken")
        username = (token.findtext("wsse:Username", "", _NS) or "").strip().encode()
        password = token.find("wsse:Password", _NS)
        if password is None or not hmac.compare_digest(username, self._username):
            raise self._refuse("unknown user")
        created = (token.findtext("wsu:Created", "", _NS) or "").strip()
        if created:
            self._check_fresh(created)
        if password.get("Type", "").endswith("#PasswordDigest"):
            self._check_digest(token, (password.text or "").strip(), created)
        elif not hmac.compare_digest((password.text or "").encode(), self._password):
            raise self._refuse("wrong password")

    def _check_fresh(self, created: str) -> None:
        try:
            stamp = parse_datetime(created)
        except ValueError:
            raise self._refuse("unreadable Created") from None
        skew = stamp - self._clock()
        if abs(skew) > CLOCK_TOLERANCE:
            raise self._refuse(f"Created is {skew:+.0f} s from the camera's clock")

    def _check_digest(self, token: etree._Element, digest: str, created: str) -> None:
        nonce_text = (token.findtext("wsse:Nonce", "", _NS) or "").strip()
        if not nonce_text or not created:
            raise self._refuse("a digest needs Nonce and Created")
        try:
            nonce = base64.b64decode(nonce_text)
        except ValueError:
            raise self._refuse("unreadable Nonce") from None
        expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + self._password).digest())
        if not hmac.compare_digest(expected, digest.encode()):
            raise self._refuse("wrong password")
        now = self._clock()
        self._nonces = {seen: until for seen, until in self._nonces.items() if until > now}
        if nonce in self._nonces:
            raise self._refuse("replayed nonce")
        self._nonces[nonce] = now + 2 * CLOCK_TOLERANCE

    def _refuse(self, why: str) -> _SoapFault:
        logger.info("%s: ONVIF request refused: %s", self._label, why)
        return _SoapFault(_NOT_AUTHORIZED, "ter:NotAuthorized")


class _HttpDigest:
    """HTTP Digest (RFC 7616, MD5, qop=auth) for the snapshot URI, as cameras' web servers ask for it."""

    NONCE_LIFETIME = 300.0

    def __init__(self, username: str, password: str, realm: str) -> None:
        self._username = username
        self._password = password
        self.realm = realm
        self._nonces: dict[str, float] = {}
        self._counts: set[tuple[str, str]] = set()

    def challenge(self, stale: bool = False) -> str:
        now = time.monotonic()
        self._nonces = {nonce: issued for nonce, issued in self._nonces.items() if now - issued < self.NONCE_LIFETIME}
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = now
        return f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", algorithm=MD5, stale={_bool(stale).upper()}'

    def check(self, method: str, path: str, authorization: str | None) -> Literal["ok", "stale", "refused"]:
        if not authorization or not authorization.lower().startswith("digest "):
            return "refused"
        fields = {
            key.lower(): quoted or bare
            for key, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', authorization[7:])
        }
        nonce = fields.get("nonce", "")
        uri = fields.get("uri", "")
        if fields.get("username") != self._username or fields.get("realm") != self.realm:
            return "refused"
        if urllib.parse.urlsplit(uri).path != path or fields.get("algorithm", "MD5").upper() != "MD5":
            return "refused"
        issued = self._nonces.get(nonce)
        if issued is None or time.monotonic() - issued > self.NONCE_LIFETIME:
            return "stale"
        ha1 = _md5(f"{self._username}:{self.realm}:{self._password}")
        ha2 = _md5(f"{method}:{uri}")
        qop = fields.get("qop")
        if qop == "auth":
            expected = _md5(f"{ha1}:{nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}")
        elif qop is None:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        else:
            return "refused"
        if not hmac.compare_digest(expected, fields.get("response", "")):
            return "refused"
        count = (nonce, f"{fields.get('nc', '')}:{fields.get('cnonce', '')}")
        if count in self._counts:
            return "refused"
        self._counts.add(count)
        if len(self._counts) > 10_000:
            self._counts.clear()
        return "ok"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


# ------------------------------------------------------------------ events


@dataclasses.dataclass(slots=True)
class _PullPoint:
    """One PullPoint subscription: its queue of rendered NotificationMessages and its lifetime."""

    pullpoint_id: str
    termination: float  # host time.time()
    motion: bool  # the motion state last told to this subscriber
    messages: collections.deque[str] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=PULLPOINT_QUEUE)
    )
    arrived: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    closed: bool = False

    def push(self, notifications: Sequence[str]) -> None:
        self.messages.extend(notifications)
        self.arrived.set()

    def take(self, limit: int) -> list[str]:
        taken = [self.messages.popleft() for _ in range(min(limit, len(self.messages)))]
        if not self.messages:
            self.arrived.clear()
        return taken

    def close(self) -> None:
        self.closed = True
        self.arrived.set()


def _notification(topic: str, stamp: str, operation: str, source: str, data: str) -> str:
    return (
        "<wsnt:NotificationMessage>"
        f'<wsnt:Topic Dialect="{_TOPIC_DIALECT}">{topic}</wsnt:Topic>'
        f'<wsnt:Message><tt:Message UtcTime="{stamp}" PropertyOperation="{operation}">'
        f"<tt:Source>{source}</tt:Source><tt:Data>{data}</tt:Data>"
        "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
    )


def _item(name: str, value: str) -> str:
    return f'<tt:SimpleItem Name="{name}" Value="{_x(value)}"/>'


def motion_notifications(motion: bool, operation: str, camera_time: float) -> list[str]:
    """The two messages a Hikvision camera sends when its motion alarm changes (hikvision/PullMessages.xml)."""
    stamp = xs_datetime(camera_time)
    value = _bool(motion)
    rule_source = (
        _item("VideoSourceConfigurationToken", VIDEO_SOURCE_CONFIG_TOKEN)
        + _item("VideoAnalyticsConfigurationToken", ANALYTICS_CONFIG_TOKEN)
        + _item("Rule", MOTION_RULE)
    )
    return [
        _notification(
            "tns1:VideoSource/MotionAlarm", stamp, operation, _item("Source", VIDEO_SOURCE_TOKEN), _item("State", value)
        ),
        _notification(
            "tns1:RuleEngine/CellMotionDetector/Motion", stamp, operation, rule_source, _item("IsMotion", value)
        ),
    ]


# ------------------------------------------------------------------ the service


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the program that embeds the camera owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _UnloggedHttp(H11Protocol):
    """A camera's HTTP traffic is not the embedding program's: keep it out of the shared uvicorn.access log.
    (uvicorn's own access_log=False would empty that logger for every server in the process.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False


Handler = Callable[[_Call], Awaitable[str]]


class OnvifService:
    """The camera's SOAP endpoints on one HTTP port (port 0 picks a free one; read `.port` after start())."""

    def __init__(
        self,
        state: CameraState,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str,
        password: str,
        rtsp_port: int = 554,
        streams: Sequence[StreamProfile | tuple[str, str, str, int, int, int, str, int]] = DEFAULT_STREAMS,
        manufacturer: str = "ReceptionHall",
        model: str = "SIM-PTZ-2MP",
        firmware: str = "V1.0.0 build 240601",
        serial: str | None = None,
        hardware_id: str = "SIM-1",
        services: bool = True,
        events: bool = True,
        advertised_host: str | None = None,
        location: str = "reception-hall",
    ) -> None:
        if not streams:
            raise ValueError("a camera needs at least one stream")
        self.state = state
        self.host = host
        self.rtsp_port = rtsp_port
        self.streams = [StreamProfile(*stream) for stream in streams]
        self.manufacturer = manufacturer
        self.model = model
        self.firmware = firmware
        self.serial = serial or "SIM" + uuid.uuid5(uuid.NAMESPACE_URL, f"reception-hall:{state.name}").hex[:12].upper()
        self.hardware_id = hardware_id
        self.services_supported = services
        self.events_supported = events
        self.advertised_host = advertised_host
        self.location = location
        self.fault_mode: FaultMode | None = None
        self._requested_port = port
        self._port = port
        self._username_token = _UsernameTokenCheck(username, password, state.camera_time, label=state.name)
        self._http_digest = _HttpDigest(username, password, realm=f"IP Camera({self.serial[-8:]})")
        self._pullpoints: dict[str, _PullPoint] = {}
        self._motion_watch: asyncio.Task[None] | None = None
        self._moving_axes = (False, False)  # pan-tilt, zoom: what the last ContinuousMove set in motion
        self._stopping = asyncio.Event()
        self._server: _EmbeddedServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self._operations: dict[str, dict[tuple[str, str], Handler]] = {
            "device": self._device_operations(),
            "media": self._media_operations(),
            "ptz": self._ptz_operations(),
            "events": self._event_operations(),
            "pullpoint": self._pullpoint_operations(),
        }
        self.app = Starlette(
            routes=[
                Route("/onvif/device_service", self._endpoint("device"), methods=["POST"]),
                Route("/onvif/media_service", self._endpoint("media"), methods=["POST"]),
                Route("/onvif/ptz_service", self._endpoint("ptz"), methods=["POST"]),
                Route("/onvif/events_service", self._endpoint("events"), methods=["POST"]),
                Route("/onvif/pullpoint/{pullpoint_id}", self._endpoint("pullpoint"), methods=["POST"]),
                Route("/onvif/snapshot", self._snapshot, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return self._port

    @property
    def device_xaddr(self) -> str:
        """The device service address to announce (WS-Discovery), for clients that have not asked yet."""
        return f"{self._base_url(self._announced_host())}/onvif/device_service"

    @property
    def scopes(self) -> list[str]:
        """The camera's ONVIF scopes (GetScopes and WS-Discovery)."""
        quote = urllib.parse.quote
        return [
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/type/Network_Video_Transmitter",
            *(["onvif://www.onvif.org/type/ptz"] if self.state.ptz else []),
            "onvif://www.onvif.org/Profile/Streaming",
            f"onvif://www.onvif.org/hardware/{quote(self.model, safe='')}",
            f"onvif://www.onvif.org/name/{quote(self.state.name, safe='')}",
            f"onvif://www.onvif.org/location/{quote(self.location, safe='/')}",
        ]

    async def start(self) -> None:
        if self._serving is not None:
            raise RuntimeError("the ONVIF service is already running")
        self._stopping.clear()
        sock = _listening_socket(self.host, self._requested_port)
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            http=_UnloggedHttp,
            lifespan="off",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = _EmbeddedServer(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]), name=f"onvif-sim:{self._port}")
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
                raise RuntimeError("the ONVIF service stopped while starting")
            await asyncio.sleep(0.01)
        logger.info("%s: ONVIF services on http://%s:%d/onvif/device_service", self.state.name, self.host, self._port)

    async def stop(self) -> None:
        """Stop serving: hung answers and pending PullMessages return first, then the server closes."""
        self._stopping.set()
        for pullpoint in self._pullpoints.values():
            pullpoint.close()
        self._pullpoints.clear()
        if self._motion_watch is not None:
            self._motion_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._motion_watch
            self._motion_watch = None
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
        self._server = None
        self._serving = None

    # ------------------------------------------------------------------ the web edge

    def _endpoint(self, service: str) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            return await self._answer(service, request)

        return answer

    async def _answer(self, service: str, request: Request) -> Response:
        if self.fault_mode == "hang":
            await self._stopping.wait()
            return Response(status_code=503)
        payload = await request.body()
        status, content = await self._soap(service, request, payload)
        if self.fault_mode == "broken_xml":
            # Cut inside the Envelope's start tag, as a connection lost mid-answer: always broken, whatever the
            # operation. (Cut later, a lenient parser recovers a partial Body and the client sees partial data.)
            status, content = 200, content[:_BROKEN_AT]
        return Response(content, status_code=status, media_type="application/soap+xml; charset=utf-8")

    async def _soap(self, service: str, request: Request, payload: bytes) -> tuple[int, bytes]:
        try:
            if len(payload) > MAX_REQUEST_BYTES:
                raise _SoapFault("Well-formed Error: the request is too large", "ter:WellFormed")
            header, operation = _parse_request(payload)
            qname = etree.QName(operation)
            key = (qname.namespace or "", qname.localname)
            if key not in _PRE_AUTH:
                self._username_token.verify(header)
            handler = self._operations[service].get(key)
            if handler is None:
                raise _not_supported()
            host = self._request_host(request)
            call = _Call(operation, self._base_url(host), host, request.path_params.get("pullpoint_id"))
            body = await handler(call)
            action = _EVENT_ACTIONS.get(qname.localname) if service in ("events", "pullpoint") else None
            return 200, _envelope(body, action)
        except _SoapFault as fault:
            return fault.status, _envelope(_fault_body(fault))
        except Exception:  # the web edge: a bug in a handler answers a fault, never a dropped connection
            logger.exception("%s: ONVIF %s request failed", self.state.name, service)
            return 500, _envelope(_fault_body(_SoapFault("Internal error", "ter:Action", code="env:Receiver")))

    async def _snapshot(self, request: Request) -> Response:
        verdict = self._http_digest.check(request.method, request.url.path, request.headers.get("authorization"))
        if verdict != "ok":
            challenge = self._http_digest.challenge(stale=verdict == "stale")
            return Response("Unauthorized", status_code=401, headers={"WWW-Authenticate": challenge})
        token = request.query_params.get("profile", self.streams[0].token)
        stream = next((stream for stream in self.streams if stream.token == token), None)
        if stream is None:
            return Response("no such profile", status_code=404)
        try:
            from camera_control.sim.scene import snapshot_jpeg
        except ImportError:
            logger.warning("%s: no scene to take a snapshot of", self.state.name)
            return Response("snapshot unavailable", status_code=503)
        jpeg = await asyncio.to_thread(snapshot_jpeg, self.state, stream.width, stream.height)
        return Response(jpeg, media_type="image/jpeg")

    def _request_host(self, request: Request) -> str:
        if self.advertised_host:
            return self.advertised_host
        if self.host not in WILDCARD_HOSTS:
            return self.host
        return urllib.parse.urlsplit("//" + request.headers.get("host", "")).hostname or primary_address()

    def _announced_host(self) -> str:
        if self.advertised_host:
            return self.advertised_host
        return primary_address() if self.host in WILDCARD_HOSTS else self.host

    def _base_url(self, host: str) -> str:
        return f"http://{_bracket(host)}:{self._port}"

    def _stream(self, token: str | None) -> StreamProfile:
        stream = next((stream for stream in self.streams if stream.token == token), None)
        if stream is None:
            raise _invalid(f"no profile {token!r}", "ter:NoProfile")
        return stream

    # ------------------------------------------------------------------ device

    def _device_operations(self) -> dict[tuple[str, str], Handler]:
        return {
            (TDS, "GetSystemDateAndTime"): self._get_system_date_and_time,
            (TDS, "GetDeviceInformation"): self._get_device_information,
            (TDS, "GetServices"): self._get_services,
            (TDS, "GetCapabilities"): self._get_capabilities,
            (TDS, "GetServiceCapabilities"): self._get_device_service_capabilities,
            (TDS, "GetScopes"): self._get_scopes,
            (TDS, "GetHostname"): self._get_hostname,
            (TDS, "GetNetworkInterfaces"): self._get_network_interfaces,
            (TDS, "GetWsdlUrl"): self._get_wsdl_url,
        }

    async def _get_system_date_and_time(self, call: _Call) -> str:
        utc = datetime.datetime.fromtimestamp(int(self.state.camera_time()), datetime.UTC)
        local = utc + datetime.timedelta(hours=8)  # the hall is in China Standard Time, no daylight saving
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>CST-8:00:00</tt:TZ></tt:TimeZone>"
            f"<tt:UTCDateTime>{_date_time(utc)}</tt:UTCDateTime><tt:LocalDateTime>{_date_time(local)}</tt:LocalDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    async def _get_device_information(self, call: _Call) -> str:
        return (
            "<tds:GetDeviceInformationResponse>"
            f"<tds:Manufacturer>{_x(self.manufacturer)}</tds:Manufacturer><tds:Model>{_x(self.model)}</tds:Model>"
            f"<tds:FirmwareVersion>{_x(self.firmware)}</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{_x(self.serial)}</tds:SerialNumber><tds:HardwareId>{_x(self.hardware_id)}</tds:HardwareId>"
            "</tds:GetDeviceInformationResponse>"
        )

    def _service_list(self) -> list[tuple[str, str, tuple[int, int], str]]:
        """(namespace, path, version, capabilities element) of each service, in Hikvision's order."""
        services = [
            (TDS, "/onvif/device_service", (16, 12), self._device_capabilities_element()),
            (TRT, "/onvif/media_service", (2, 60), _MEDIA_CAPABILITIES.format(profiles=len(self.streams))),
        ]
        if self.events_supported:
            services.append((TEV, "/onvif/events_service", (2, 60), _EVENT_CAPABILITIES))
        if self.state.ptz:
            services.append((TPTZ, "/onvif/ptz_service", (16, 12), _PTZ_CAPABILITIES))
        return services

    async def _get_services(self, call: _Call) -> str:
        if not self.services_supported:
            raise _not_supported()  # like cameras older than ONVIF 2.0: clients fall back to GetCapabilities
        with_capabilities = call.flag("tds:IncludeCapability", False)
        entries = []
        for namespace, path, (major, minor), capabilities in self._service_list():
            wrapped = f"<tds:Capabilities>{capabilities}</tds:Capabilities>" if with_capabilities else ""
            entries.append(
                f"<tds:Service><tds:Namespace>{namespace}</tds:Namespace><tds:XAddr>{call.base_url}{path}</tds:XAddr>"
                f"{wrapped}<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version>"
                "</tds:Service>"
            )
        return f"<tds:GetServicesResponse>{''.join(entries)}</tds:GetServicesResponse>"

    async def _get_capabilities(self, call: _Call) -> str:
        asked = {element.text.strip() for element in call.operation.findall("tds:Category", _NS) if element.text}
        if not asked or "All" in asked:
            asked = {"Device", "Events", "Media", "PTZ"}
        sections = {
            "Device": _DEVICE_CAPABILITY.format(base=call.base_url),
            "Events": _EVENTS_CAPABILITY.format(base=call.base_url) if self.events_supported else "",
            "Media": _MEDIA_CAPABILITY.format(base=call.base_url, profiles=len(self.streams)),
            "PTZ": f"<tt:PTZ><tt:XAddr>{call.base_url}/onvif/ptz_service</tt:XAddr></tt:PTZ>" if self.state.ptz else "",
        }
        chosen = [sections.get(category, "") for category in ("Device", "Events", "Media", "PTZ") if category in asked]
        if not any(chosen) or asked - sections.keys():
            raise _SoapFault(
                "The requested service is not supported",
                "ter:ActionNotSupported",
                "ter:NoSuchService",
                code="env:Receiver",
            )
        capabilities = "".join(chosen)
        return (
            f"<tds:GetCapabilitiesResponse><tds:Capabilities>{capabilities}</tds:Capabilities>"
            "</tds:GetCapabilitiesResponse>"
        )

    def _device_capabilities_element(self) -> str:
        return (
            "<tds:Capabilities>"
            '<tds:Network IPFilter="false" ZeroConfiguration="false" IPVersion6="false" DynDNS="false"'
            ' Dot11Configuration="false" HostnameFromDHCP="false" NTP="0"/>'
            '<tds:Security TLS1.0="false" TLS1.1="false" TLS1.2="false" OnboardKeyGeneration="false"'
            ' AccessPolicyConfig="false" DefaultAccessPolicy="false" Dot1X="false" RemoteUserHandling="false"'
            ' X.509Token="false" SAMLToken="false" KerberosToken="false" UsernameToken="true" HttpDigest="false"'
            ' RELToken="false" MaxUsers="1"/>'
            '<tds:System DiscoveryResolve="false" DiscoveryBye="false" RemoteDiscovery="false" SystemBackup="false"'
            ' SystemLogging="false" FirmwareUpgrade="false" HttpFirmwareUpgrade="false" HttpSystemBackup="false"'
            ' HttpSystemLogging="false" HttpSupportInformation="false"/>'
            "</tds:Capabilities>"
        )

    async def _get_device_service_capabilities(self, call: _Call) -> str:
        capabilities = self._device_capabilities_element()
        return f"<tds:GetServiceCapabilitiesResponse>{capabilities}</tds:GetServiceCapabilitiesResponse>"

    async def _get_scopes(self, call: _Call) -> str:
        configurable = ("/name/", "/location/")
        entries = "".join(
            f"<tds:Scopes><tt:ScopeDef>{'Configurable' if any(part in scope for part in configurable) else 'Fixed'}"
            f"</tt:ScopeDef><tt:ScopeItem>{_x(scope)}</tt:ScopeItem></tds:Scopes>"
            for scope in self.scopes
        )
        return f"<tds:GetScopesResponse>{entries}</tds:GetScopesResponse>"

    async def _get_hostname(self, call: _Call) -> str:
        return (
            "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
            f"<tt:Name>{_x(self.serial.lower())}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>"
        )

    async def _get_network_interfaces(self, call: _Call) -> str:
        mac = ":".join(["02", *(self.serial.encode().hex()[-10:][i : i + 2] for i in range(0, 10, 2))])
        return (
            '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0"><tt:Enabled>true</tt:Enabled>'
            f"<tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>{mac}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>"
            "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config>"
            f"<tt:Manual><tt:Address>{_x(call.host)}</tt:Address><tt:PrefixLength>24</tt:PrefixLength></tt:Manual>"
            "<tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
            "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"
        )

    async def _get_wsdl_url(self, call: _Call) -> str:
        return "<tds:GetWsdlUrlResponse><tds:WsdlUrl>http://www.onvif.org/</tds:WsdlUrl></tds:GetWsdlUrlResponse>"

    # ------------------------------------------------------------------ media (ver10)

    def _media_operations(self) -> dict[tuple[str, str], Handler]:
        return {
            (TRT, "GetProfiles"): self._get_profiles,
            (TRT, "GetProfile"): self._get_profile,
            (TRT, "GetStreamUri"): self._get_stream_uri,
            (TRT, "GetSnapshotUri"): self._get_snapshot_uri,
            (TRT, "GetVideoSources"): self._get_video_sources,
            (TRT, "GetVideoSourceConfigurations"): self._get_video_source_configurations,
            (TRT, "GetVideoEncoderConfigurations"): self._get_video_encoder_configurations,
            (TRT, "GetVideoEncoderConfiguration"): self._get_video_encoder_configuration,
            (TRT, "GetServiceCapabilities"): self._get_media_service_capabilities,
        }

    def _profile(self, stream: StreamProfile, tag: str) -> str:
        ptz = _ptz_configuration("tt:PTZConfiguration", len(self.streams)) if self.state.ptz else ""
        return (
            f'<{tag} token="{_x(stream.token)}" fixed="true"><tt:Name>{_x(stream.name)}</tt:Name>'
            f"{self._video_source_configuration('tt:VideoSourceConfiguration')}"
            f"{self._video_encoder_configuration(stream, 'tt:VideoEncoderConfiguration')}"
            f"{_ANALYTICS_CONFIGURATION}{ptz}</{tag}>"
        )

    def _video_source_configuration(self, tag: str) -> str:
        main = self.streams[0]
        return (
            f'<{tag} token="{VIDEO_SOURCE_CONFIG_TOKEN}"><tt:Name>VideoSourceConfig</tt:Name>'
            f"<tt:UseCount>{len(self.streams)}</tt:UseCount><tt:SourceToken>{VIDEO_SOURCE_TOKEN}</tt:SourceToken>"
            f'<tt:Bounds x="0" y="0" width="{main.width}" height="{main.height}"/></{tag}>'
        )

    def _video_encoder_configuration(self, stream: StreamProfile, tag: str) -> str:
        index = self.streams.index(stream) + 1
        # Hikvision writes H265 into the ver10 Encoding and leaves out the H264 block
        # (hikvision-platform-ptz/GetProfiles.xml).
        h264 = (
            f"<tt:H264><tt:GovLength>{stream.gov_length}</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>"
            if stream.encoding == "H264"
            else ""
        )
        return (
            f'<{tag} token="VideoEncoderToken_{index}"><tt:Name>VideoEncoder_{index}</tt:Name>'
            "<tt:UseCount>1</tt:UseCount>"
            f"<tt:Encoding>{stream.encoding}</tt:Encoding>"
            f"<tt:Resolution><tt:Width>{stream.width}</tt:Width><tt:Height>{stream.height}</tt:Height></tt:Resolution>"
            "<tt:Quality>3.000000</tt:Quality>"
            f"<tt:RateControl><tt:FrameRateLimit>{stream.fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>"
            f"<tt:BitrateLimit>{stream.bitrate_kbps}</tt:BitrateLimit></tt:RateControl>{h264}"
            "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>"
            "<tt:Port>0</tt:Port><tt:TTL>128</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
            f"<tt:SessionTimeout>PT5S</tt:SessionTimeout></{tag}>"
        )

    async def _get_profiles(self, call: _Call) -> str:
        profiles = "".join(self._profile(stream, "trt:Profiles") for stream in self.streams)
        return f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>"

    async def _get_profile(self, call: _Call) -> str:
        stream = self._stream(call.text("trt:ProfileToken"))
        return f"<trt:GetProfileResponse>{self._profile(stream, 'trt:Profile')}</trt:GetProfileResponse>"

    async def _get_stream_uri(self, call: _Call) -> str:
        stream = self._stream(call.text("trt:ProfileToken"))
        # No credentials in the URI: real cameras leave them to RTSP's own Digest challenge.
        uri = f"rtsp://{_bracket(call.host)}:{self.rtsp_port}/{stream.path.lstrip('/')}"
        return f"<trt:GetStreamUriResponse>{_media_uri(uri, 'PT60S')}</trt:GetStreamUriResponse>"

    async def _get_snapshot_uri(self, call: _Call) -> str:
        stream = self._stream(call.text("trt:ProfileToken"))
        uri = f"{call.base_url}/onvif/snapshot?profile={urllib.parse.quote(stream.token)}"
        return f"<trt:GetSnapshotUriResponse>{_media_uri(uri, 'PT0S')}</trt:GetSnapshotUriResponse>"

    async def _get_video_sources(self, call: _Call) -> str:
        main = self.streams[0]
        return (
            f'<trt:GetVideoSourcesResponse><trt:VideoSources token="{VIDEO_SOURCE_TOKEN}">'
            f"<tt:Framerate>{max(stream.fps for stream in self.streams)}</tt:Framerate>"
            f"<tt:Resolution><tt:Width>{main.width}</tt:Width><tt:Height>{main.height}</tt:Height></tt:Resolution>"
            "</trt:VideoSources></trt:GetVideoSourcesResponse>"
        )

    async def _get_video_source_configurations(self, call: _Call) -> str:
        configuration = self._video_source_configuration("trt:Configurations")
        return f"<trt:GetVideoSourceConfigurationsResponse>{configuration}</trt:GetVideoSourceConfigurationsResponse>"

    async def _get_video_encoder_configurations(self, call: _Call) -> str:
        configurations = "".join(
            self._video_encoder_configuration(stream, "trt:Configurations") for stream in self.streams
        )
        return (
            f"<trt:GetVideoEncoderConfigurationsResponse>{configurations}</trt:GetVideoEncoderConfigurationsResponse>"
        )

    async def _get_video_encoder_configuration(self, call: _Call) -> str:
        token = call.text("trt:ConfigurationToken")
        for index, stream in enumerate(self.streams, start=1):
            if token == f"VideoEncoderToken_{index}":
                configuration = self._video_encoder_configuration(stream, "trt:Configuration")
                return (
                    "<trt:GetVideoEncoderConfigurationResponse>"
                    f"{configuration}</trt:GetVideoEncoderConfigurationResponse>"
                )
        raise _invalid(f"no video encoder configuration {token!r}", "ter:NoConfig")

    async def _get_media_service_capabilities(self, call: _Call) -> str:
        return (
            "<trt:GetServiceCapabilitiesResponse>"
            f"{_MEDIA_CAPABILITIES.format(profiles=len(self.streams))}</trt:GetServiceCapabilitiesResponse>"
        )

    # ------------------------------------------------------------------ PTZ (ver20)

    def _ptz_operations(self) -> dict[tuple[str, str], Handler]:
        operations: dict[str, Handler] = {
            "GetNodes": self._get_nodes,
            "GetNode": self._get_node,
            "GetConfigurations": self._get_configurations,
            "GetConfiguration": self._get_configuration,
            "GetConfigurationOptions": self._get_configuration_options,
            "GetServiceCapabilities": self._get_ptz_service_capabilities,
            "GetStatus": self._get_status,
            "ContinuousMove": self._continuous_move,
            "Stop": self._stop,
            "AbsoluteMove": self._absolute_move,
            "RelativeMove": self._relative_move,
            "GetPresets": self._get_presets,
            "SetPreset": self._set_preset,
            "GotoPreset": self._goto_preset,
            "RemovePreset": self._remove_preset,
            "GotoHomePosition": self._goto_home_position,
            "SetHomePosition": self._set_home_position,
        }
        return {(TPTZ, name): self._needs_ptz(handler) for name, handler in operations.items()}

    def _needs_ptz(self, handler: Handler) -> Handler:
        async def guarded(call: _Call) -> str:
            if not self.state.ptz:
                raise _SoapFault(
                    "PTZ is not supported", "ter:ActionNotSupported", "ter:PTZNotSupported", code="env:Receiver"
                )
            return await handler(call)

        return guarded

    def _ptz_profile(self, call: _Call) -> StreamProfile:
        return self._stream(call.text("tptz:ProfileToken"))

    async def _get_nodes(self, call: _Call) -> str:
        return f"<tptz:GetNodesResponse>{_ptz_node('tptz:PTZNode')}</tptz:GetNodesResponse>"

    async def _get_node(self, call: _Call) -> str:
        if call.text("tptz:NodeToken") != PTZ_NODE_TOKEN:
            raise _invalid("no such PTZ node", "ter:NoEntity")
        return f"<tptz:GetNodeResponse>{_ptz_node('tptz:PTZNode')}</tptz:GetNodeResponse>"

    async def _get_configurations(self, call: _Call) -> str:
        configuration = _ptz_configuration("tptz:PTZConfiguration", len(self.streams))
        return f"<tptz:GetConfigurationsResponse>{configuration}</tptz:GetConfigurationsResponse>"

    async def _get_configuration(self, call: _Call) -> str:
        if call.text("tptz:PTZConfigurationToken") != PTZ_CONFIG_TOKEN:
            raise _invalid("no such PTZ configuration", "ter:NoConfig")
        configuration = _ptz_configuration("tptz:PTZConfiguration", len(self.streams))
        return f"<tptz:GetConfigurationResponse>{configuration}</tptz:GetConfigurationResponse>"

    async def _get_configuration_options(self, call: _Call) -> str:
        if call.text("tptz:ConfigurationToken") != PTZ_CONFIG_TOKEN:
            raise _invalid("no such PTZ configuration", "ter:NoConfig")
        return (
            "<tptz:GetConfigurationOptionsResponse><tptz:PTZConfigurationOptions>"
            f"<tt:Spaces>{_PTZ_SPACES}</tt:Spaces><tt:PTZTimeout><tt:Min>PT1S</tt:Min><tt:Max>PT600S</tt:Max></tt:PTZTimeout>"
            "</tptz:PTZConfigurationOptions></tptz:GetConfigurationOptionsResponse>"
        )

    async def _get_ptz_service_capabilities(self, call: _Call) -> str:
        return f"<tptz:GetServiceCapabilitiesResponse>{_PTZ_CAPABILITIES}</tptz:GetServiceCapabilitiesResponse>"

    async def _get_status(self, call: _Call) -> str:
        self._ptz_profile(call)
        now = time.time()
        position = self.state.position(now)
        moving = self.state.moving(now)
        pan_tilt = "MOVING" if moving and self._moving_axes[0] else "IDLE"
        zoom = "MOVING" if moving and self._moving_axes[1] else "IDLE"
        return (
            "<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>"
            f'<tt:PanTilt x="{position.pan:.6f}" y="{position.tilt:.6f}" space="{_PT_POSITION}"/>'
            f'<tt:Zoom x="{position.zoom:.6f}" space="{_ZOOM_POSITION}"/></tt:Position>'
            f"<tt:MoveStatus><tt:PanTilt>{pan_tilt}</tt:PanTilt><tt:Zoom>{zoom}</tt:Zoom></tt:MoveStatus>"
            f"<tt:UtcTime>{xs_datetime(self.state.camera_time(now))}</tt:UtcTime>"
            "</tptz:PTZStatus></tptz:GetStatusResponse>"
        )

    async def _continuous_move(self, call: _Call) -> str:
        self._ptz_profile(call)
        _check_space(call, "tptz:Velocity/tt:PanTilt", _PT_VELOCITY)
        _check_space(call, "tptz:Velocity/tt:Zoom", _ZOOM_VELOCITY)
        pan = call.number("tptz:Velocity/tt:PanTilt", "x") or 0.0
        tilt = call.number("tptz:Velocity/tt:PanTilt", "y") or 0.0
        zoom = call.number("tptz:Velocity/tt:Zoom", "x") or 0.0
        if max(abs(pan), abs(tilt), abs(zoom)) > 1:
            raise _invalid("velocity outside the generic velocity space [-1, 1]", "ter:InvalidVelocity")
        timeout_text = call.text("tptz:Timeout")
        try:
            timeout = parse_duration(timeout_text) if timeout_text else DEFAULT_PTZ_TIMEOUT
        except ValueError:
            raise _invalid("Timeout is not an xs:duration", "ter:TimeoutNotSupported") from None
        if timeout <= 0:
            raise _invalid("Timeout must be positive", "ter:TimeoutNotSupported")
        self.state.continuous_move(pan, tilt, zoom, timeout=min(timeout, 600.0))
        self._moving_axes = (pan != 0 or tilt != 0, zoom != 0)
        return "<tptz:ContinuousMoveResponse/>"

    async def _stop(self, call: _Call) -> str:
        self._ptz_profile(call)
        pan_tilt = call.flag("tptz:PanTilt", True)
        zoom = call.flag("tptz:Zoom", True)
        self.state.stop(pan_tilt=pan_tilt, zoom=zoom)
        self._moving_axes = (self._moving_axes[0] and not pan_tilt, self._moving_axes[1] and not zoom)
        return "<tptz:StopResponse/>"

    async def _absolute_move(self, call: _Call) -> str:
        self._ptz_profile(call)
        _check_space(call, "tptz:Position/tt:PanTilt", _PT_POSITION)
        _check_space(call, "tptz:Position/tt:Zoom", _ZOOM_POSITION)
        current = self.state.position()
        pan = call.number("tptz:Position/tt:PanTilt", "x")
        tilt = call.number("tptz:Position/tt:PanTilt", "y")
        zoom = call.number("tptz:Position/tt:Zoom", "x")
        target = PtzPosition(
            current.pan if pan is None else pan,
            current.tilt if tilt is None else tilt,
            current.zoom if zoom is None else zoom,
        )
        if target.clamped() != target:
            raise _invalid("position outside the generic position space", "ter:InvalidPosition")
        self.state.absolute_move(target)
        self._moving_axes = (False, False)
        return "<tptz:AbsoluteMoveResponse/>"

    async def _relative_move(self, call: _Call) -> str:
        self._ptz_profile(call)
        _check_space(call, "tptz:Translation/tt:PanTilt", _PT_TRANSLATION)
        _check_space(call, "tptz:Translation/tt:Zoom", _ZOOM_TRANSLATION)
        pan = call.number("tptz:Translation/tt:PanTilt", "x") or 0.0
        tilt = call.number("tptz:Translation/tt:PanTilt", "y") or 0.0
        zoom = call.number("tptz:Translation/tt:Zoom", "x") or 0.0
        if max(abs(pan), abs(tilt), abs(zoom)) > 1:
            raise _invalid("translation outside the generic translation space [-1, 1]", "ter:InvalidTranslation")
        self.state.relative_move(pan, tilt, zoom)
        self._moving_axes = (False, False)
        return "<tptz:RelativeMoveResponse/>"

    async def _get_presets(self, call: _Call) -> str:
        self._ptz_profile(call)
        presets = "".join(
            f'<tptz:Preset token="{_x(preset.token)}"><tt:Name>{_x(preset.name)}</tt:Name><tt:PTZPosition>'
            f'<tt:PanTilt x="{preset.position.pan:.6f}" y="{preset.position.tilt:.6f}"/>'
            f'<tt:Zoom x="{preset.position.zoom:.6f}"/></tt:PTZPosition></tptz:Preset>'
            for preset in self.state.presets()
        )
        return f"<tptz:GetPresetsResponse>{presets}</tptz:GetPresetsResponse>"

    async def _set_preset(self, call: _Call) -> str:
        self._ptz_profile(call)
        name = call.text("tptz:PresetName")
        token = call.text("tptz:PresetToken") or None
        known = {preset.token for preset in self.state.presets()}
        if token is not None and token not in known:
            raise _invalid(f"no preset {token!r}", "ter:NoToken")
        if name is not None and len(name) > 64:
            raise _invalid("the preset name is longer than 64 characters", "ter:InvalidPresetName")
        if token is None and len(known) >= MAX_PRESETS:
            raise _SoapFault("Too many presets", "ter:Action", "ter:TooManyPresets", code="env:Receiver")
        preset = self.state.set_preset(name=name, token=token)
        return (
            f"<tptz:SetPresetResponse><tptz:PresetToken>{_x(preset.token)}</tptz:PresetToken></tptz:SetPresetResponse>"
        )

    async def _goto_preset(self, call: _Call) -> str:
        self._ptz_profile(call)
        token = call.text("tptz:PresetToken") or ""
        try:
            self.state.goto_preset(token)
        except KeyError:
            raise _invalid(f"no preset {token!r}", "ter:NoToken") from None
        self._moving_axes = (False, False)
        return "<tptz:GotoPresetResponse/>"

    async def _remove_preset(self, call: _Call) -> str:
        self._ptz_profile(call)
        token = call.text("tptz:PresetToken") or ""
        try:
            self.state.remove_preset(token)
        except KeyError:
            raise _invalid(f"no preset {token!r}", "ter:NoToken") from None
        return "<tptz:RemovePresetResponse/>"

    async def _goto_home_position(self, call: _Call) -> str:
        self._ptz_profile(call)
        self.state.go_home()
        self._moving_axes = (False, False)
        return "<tptz:GotoHomePositionResponse/>"

    async def _set_home_position(self, call: _Call) -> str:
        self._ptz_profile(call)
        self.state.set_home()
        return "<tptz:SetHomePositionResponse/>"

    # ------------------------------------------------------------------ events

    def _event_operations(self) -> dict[tuple[str, str], Handler]:
        operations: dict[str, Handler] = {
            "GetServiceCapabilities": self._get_event_service_capabilities,
            "GetEventProperties": self._get_event_properties,
            "CreatePullPointSubscription": self._create_pull_point_subscription,
        }
        return {(TEV, name): self._needs_events(handler) for name, handler in operations.items()}

    def _pullpoint_operations(self) -> dict[tuple[str, str], Handler]:
        return {
            (TEV, "PullMessages"): self._needs_events(self._pull_messages),
            (TEV, "SetSynchronizationPoint"): self._needs_events(self._set_synchronization_point),
            (WSNT, "Renew"): self._needs_events(self._renew),
            (WSNT, "Unsubscribe"): self._needs_events(self._unsubscribe),
        }

    def _needs_events(self, handler: Handler) -> Handler:
        async def guarded(call: _Call) -> str:
            if not self.events_supported:
                raise _not_supported()
            return await handler(call)

        return guarded

    async def _get_event_service_capabilities(self, call: _Call) -> str:
        return f"<tev:GetServiceCapabilitiesResponse>{_EVENT_CAPABILITIES}</tev:GetServiceCapabilitiesResponse>"

    async def _get_event_properties(self, call: _Call) -> str:
        return _EVENT_PROPERTIES

    async def _create_pull_point_subscription(self, call: _Call) -> str:
        now = time.time()
        camera_now = self.state.camera_time(now)
        lifetime = self._lifetime(call.text("tev:InitialTerminationTime"), camera_now, DEFAULT_SUBSCRIPTION)
        pullpoint = _PullPoint(secrets.token_hex(8), now + lifetime, self.state.motion(now))
        # A new subscriber first hears the current state of every property as "Initialized"
        # (hikvision/PullMessages.xml).
        pullpoint.push(motion_notifications(pullpoint.motion, "Initialized", camera_now))
        self._pullpoints[pullpoint.pullpoint_id] = pullpoint
        if self._motion_watch is None or self._motion_watch.done():
            self._motion_watch = asyncio.create_task(self._watch_motion(), name=f"onvif-sim-motion:{self._port}")
        logger.debug("%s: pull point %s for %.0f s", self.state.name, pullpoint.pullpoint_id, lifetime)
        return (
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa:Address>{call.base_url}/onvif/pullpoint/{pullpoint.pullpoint_id}</wsa:Address>"
            f"</tev:SubscriptionReference><wsnt:CurrentTime>{xs_datetime(camera_now)}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{xs_datetime(camera_now + lifetime)}</wsnt:TerminationTime>"
            "</tev:CreatePullPointSubscriptionResponse>"
        )

    def _lifetime(self, requested: str | None, camera_now: float, default: float) -> float:
        """Seconds until a requested termination time, relative (PT60S) or on the camera's clock."""
        if not requested:
            return default
        try:
            seconds = (
                parse_duration(requested)
                if requested.lstrip().startswith("P")
                else parse_datetime(requested) - camera_now
            )
        except ValueError:
            raise _SoapFault(
                "The termination time is not valid", "ter:InvalidArgVal", "ter:InvalidTerminationTime"
            ) from None
        if seconds <= 0:
            raise _SoapFault("The termination time is in the past", "ter:InvalidArgVal", "ter:InvalidTerminationTime")
        return min(seconds, MAX_SUBSCRIPTION)

    def _pullpoint(self, call: _Call) -> _PullPoint:
        pullpoint = self._pullpoints.get(call.pullpoint_id or "")
        if pullpoint is None or pullpoint.termination < time.time():
            # Hikvision answers an unknown or expired pull point with wsrf-r:ResourceUnknownFault (spupuz/VibeNVR#290).
            raise _SoapFault(
                "The subscription is unknown or has expired",
                "wsrf-r:ResourceUnknownFault",
                detail=(
                    "<wsrf-r:ResourceUnknownFault>"
                    f"<wsrf-bf:Timestamp>{xs_datetime(self.state.camera_time())}</wsrf-bf:Timestamp>"
                    "</wsrf-r:ResourceUnknownFault>"
                ),
            )
        return pullpoint

    async def _pull_messages(self, call: _Call) -> str:
        pullpoint = self._pullpoint(call)
        try:
            timeout = min(parse_duration(call.required("tev:Timeout")), MAX_PULL_TIMEOUT)
            limit = int(call.required("tev:MessageLimit"))
        except ValueError:
            raise _invalid("Timeout or MessageLimit is not valid") from None
        if not pullpoint.messages and not pullpoint.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pullpoint.arrived.wait(), timeout)
        notifications = pullpoint.take(max(limit, 0))
        camera_now = self.state.camera_time()
        termination = self.state.camera_time(pullpoint.termination)
        return (
            f"<tev:PullMessagesResponse><tev:CurrentTime>{xs_datetime(camera_now)}</tev:CurrentTime>"
            f"<tev:TerminationTime>{xs_datetime(termination)}</tev:TerminationTime>"
            f"{''.join(notifications)}</tev:PullMessagesResponse>"
        )

    async def _set_synchronization_point(self, call: _Call) -> str:
        pullpoint = self._pullpoint(call)
        now = time.time()
        pullpoint.motion = self.state.motion(now)
        pullpoint.push(motion_notifications(pullpoint.motion, "Initialized", self.state.camera_time(now)))
        return "<tev:SetSynchronizationPointResponse/>"

    async def _renew(self, call: _Call) -> str:
        pullpoint = self._pullpoint(call)
        now = time.time()
        camera_now = self.state.camera_time(now)
        lifetime = self._lifetime(call.text("wsnt:TerminationTime"), camera_now, DEFAULT_SUBSCRIPTION)
        pullpoint.termination = now + lifetime
        return (
            f"<wsnt:RenewResponse><wsnt:TerminationTime>{xs_datetime(camera_now + lifetime)}</wsnt:TerminationTime>"
            f"<wsnt:CurrentTime>{xs_datetime(camera_now)}</wsnt:CurrentTime></wsnt:RenewResponse>"
        )

    async def _unsubscribe(self, call: _Call) -> str:
        pullpoint = self._pullpoint(call)
        self._pullpoints.pop(pullpoint.pullpoint_id, None)
        pullpoint.close()
        return "<wsnt:UnsubscribeResponse/>"

    async def _watch_motion(self) -> None:
        """Tell every pull point when the motion alarm changes; ends when no pull point is left."""
        while self._pullpoints:
            now = time.time()
            for pullpoint_id, pullpoint in list(self._pullpoints.items()):
                if pullpoint.termination < now:
                    logger.debug("%s: pull point %s expired", self.state.name, pullpoint_id)
                    del self._pullpoints[pullpoint_id]
                    pullpoint.close()
            motion = self.state.motion(now)
            for pullpoint in self._pullpoints.values():
                if pullpoint.motion != motion:
                    pullpoint.motion = motion
                    pullpoint.push(motion_notifications(motion, "Changed", self.state.camera_time(now)))
            await asyncio.sleep(MOTION_POLL)


# ------------------------------------------------------------------ small pieces


def _check_space(call: _Call, path: str, generic: str) -> None:
    space = call.space(path)
    if space is not None and space != generic:
        raise _invalid(f"space {space} is not supported", "ter:SpaceNotSupported")


def _date_time(moment: datetime.datetime) -> str:
    return (
        f"<tt:Time><tt:Hour>{moment.hour}</tt:Hour><tt:Minute>{moment.minute}</tt:Minute>"
        f"<tt:Second>{moment.second}</tt:Second></tt:Time>"
        f"<tt:Date><tt:Year>{moment.year}</tt:Year><tt:Month>{moment.month}</tt:Month><tt:Day>{moment.day}</tt:Day></tt:Date>"
    )


def _media_uri(uri: str, timeout: str) -> str:
    return (
        f"<trt:MediaUri><tt:Uri>{_x(uri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
        f"<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>{timeout}</tt:Timeout></trt:MediaUri>"
    )


def _ptz_node(tag: str) -> str:
    return (
        f'<{tag} token="{PTZ_NODE_TOKEN}" FixedHomePosition="false"><tt:Name>PTZ</tt:Name>'
        f"<tt:SupportedPTZSpaces>{_PTZ_SPACES}</tt:SupportedPTZSpaces>"
        f"<tt:MaximumNumberOfPresets>{MAX_PRESETS}</tt:MaximumNumberOfPresets><tt:HomeSupported>true</tt:HomeSupported>"
        f"</{tag}>"
    )


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def primary_address() -> str:
    """This machine's address on its default route (no packet is sent), for a camera bound to every interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: any routable address picks the outgoing interface
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _range(uri: str, low: float, high: float, with_y: bool = True) -> str:
    y = f"<tt:YRange><tt:Min>{low:.6f}</tt:Min><tt:Max>{high:.6f}</tt:Max></tt:YRange>" if with_y else ""
    return f"<tt:URI>{uri}</tt:URI><tt:XRange><tt:Min>{low:.6f}</tt:Min><tt:Max>{high:.6f}</tt:Max></tt:XRange>{y}"


# The generic spaces only, in the order of hikvision-platform-ptz/GetConfigurationOptions.xml.
_PTZ_SPACES = (
    f"<tt:AbsolutePanTiltPositionSpace>{_range(_PT_POSITION, -1, 1)}</tt:AbsolutePanTiltPositionSpace>"
    f"<tt:AbsoluteZoomPositionSpace>{_range(_ZOOM_POSITION, 0, 1, False)}</tt:AbsoluteZoomPositionSpace>"
    f"<tt:RelativePanTiltTranslationSpace>{_range(_PT_TRANSLATION, -1, 1)}</tt:RelativePanTiltTranslationSpace>"
    f"<tt:RelativeZoomTranslationSpace>{_range(_ZOOM_TRANSLATION, -1, 1, False)}</tt:RelativeZoomTranslationSpace>"
    f"<tt:ContinuousPanTiltVelocitySpace>{_range(_PT_VELOCITY, -1, 1)}</tt:ContinuousPanTiltVelocitySpace>"
    f"<tt:ContinuousZoomVelocitySpace>{_range(_ZOOM_VELOCITY, -1, 1, False)}</tt:ContinuousZoomVelocitySpace>"
    f"<tt:PanTiltSpeedSpace>{_range(_PT_SPEED, 0, 1, False)}</tt:PanTiltSpeedSpace>"
    f"<tt:ZoomSpeedSpace>{_range(_ZOOM_SPEED, 0, 1, False)}</tt:ZoomSpeedSpace>"
)


def _ptz_configuration(tag: str, use_count: int) -> str:
    return (
        f'<{tag} token="{PTZ_CONFIG_TOKEN}"><tt:Name>PTZ</tt:Name><tt:UseCount>{use_count}</tt:UseCount>'
        f"{_PTZ_CONFIGURATION_BODY}</{tag}>"
    )


# hikvision-platform-ptz/GetConfigurations.xml, with our node token and the generic spaces.
_PTZ_CONFIGURATION_BODY = (
    f"<tt:NodeToken>{PTZ_NODE_TOKEN}</tt:NodeToken>"
    f"<tt:DefaultAbsolutePantTiltPositionSpace>{_PT_POSITION}</tt:DefaultAbsolutePantTiltPositionSpace>"
    f"<tt:DefaultAbsoluteZoomPositionSpace>{_ZOOM_POSITION}</tt:DefaultAbsoluteZoomPositionSpace>"
    f"<tt:DefaultRelativePanTiltTranslationSpace>{_PT_TRANSLATION}</tt:DefaultRelativePanTiltTranslationSpace>"
    f"<tt:DefaultRelativeZoomTranslationSpace>{_ZOOM_TRANSLATION}</tt:DefaultRelativeZoomTranslationSpace>"
    f"<tt:DefaultContinuousPanTiltVelocitySpace>{_PT_VELOCITY}</tt:DefaultContinuousPanTiltVelocitySpace>"
    f"<tt:DefaultContinuousZoomVelocitySpace>{_ZOOM_VELOCITY}</tt:DefaultContinuousZoomVelocitySpace>"
    f'<tt:DefaultPTZSpeed><tt:PanTilt x="0.100000" y="0.100000" space="{_PT_SPEED}"/>'
    f'<tt:Zoom x="1.000000" space="{_ZOOM_SPEED}"/></tt:DefaultPTZSpeed>'
    f"<tt:DefaultPTZTimeout>PT{DEFAULT_PTZ_TIMEOUT:.0f}S</tt:DefaultPTZTimeout>"
    f"<tt:PanTiltLimits><tt:Range>{_range(_PT_POSITION, -1, 1)}</tt:Range></tt:PanTiltLimits>"
    f"<tt:ZoomLimits><tt:Range>{_range(_ZOOM_POSITION, 0, 1, False)}</tt:Range></tt:ZoomLimits>"
)

# The motion rule the CellMotionDetector events name (hikvision-platform-ptz/GetProfiles.xml, trimmed to it).
_ANALYTICS_CONFIGURATION = (
    f'<tt:VideoAnalyticsConfiguration token="{ANALYTICS_CONFIG_TOKEN}"><tt:Name>VideoAnalyticsName</tt:Name>'
    "<tt:UseCount>2</tt:UseCount><tt:AnalyticsEngineConfiguration>"
    '<tt:AnalyticsModule Name="MyCellMotionModule" Type="tt:CellMotionEngine"><tt:Parameters>'
    '<tt:SimpleItem Name="Sensitivity" Value="50"/></tt:Parameters></tt:AnalyticsModule>'
    "</tt:AnalyticsEngineConfiguration><tt:RuleEngineConfiguration>"
    f'<tt:Rule Name="{MOTION_RULE}" Type="tt:CellMotionDetector"><tt:Parameters>'
    '<tt:SimpleItem Name="MinCount" Value="5"/><tt:SimpleItem Name="AlarmOnDelay" Value="1000"/>'
    '<tt:SimpleItem Name="AlarmOffDelay" Value="1000"/></tt:Parameters></tt:Rule>'
    "</tt:RuleEngineConfiguration></tt:VideoAnalyticsConfiguration>"
)

# hikvision-platform-ptz/GetCapabilities.xml, with what the simulator really supports.
_DEVICE_CAPABILITY = (
    "<tt:Device><tt:XAddr>{base}/onvif/device_service</tt:XAddr>"
    "<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>"
    "<tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>"
    "<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>false</tt:DiscoveryBye>"
    "<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>"
    "<tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>"
    "<tt:SupportedVersions><tt:Major>16</tt:Major><tt:Minor>12</tt:Minor></tt:SupportedVersions>"
    "<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions></tt:System>"
    "<tt:IO><tt:InputConnectors>0</tt:InputConnectors><tt:RelayOutputs>0</tt:RelayOutputs></tt:IO>"
    "<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2>"
    "<tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false</tt:AccessPolicyConfig>"
    "<tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken>"
    "<tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security></tt:Device>"
)
_EVENTS_CAPABILITY = (
    "<tt:Events><tt:XAddr>{base}/onvif/events_service</tt:XAddr>"
    "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
    "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
    "<tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport>"
    "</tt:Events>"
)
_MEDIA_CAPABILITY = (
    "<tt:Media><tt:XAddr>{base}/onvif/media_service</tt:XAddr>"
    "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
    "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities>"
    "<tt:Extension><tt:ProfileCapabilities><tt:MaximumNumberOfProfiles>{profiles}</tt:MaximumNumberOfProfiles>"
    "</tt:ProfileCapabilities></tt:Extension></tt:Media>"
)

# GetServiceCapabilities answers (hikvision-platform-ptz/*-GetServiceCapabilities.xml,
# uniview-platform-ptz/GetServices.xml for the events one).
_MEDIA_CAPABILITIES = (
    '<trt:Capabilities SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false">'
    '<trt:ProfileCapabilities MaximumNumberOfProfiles="{profiles}"/>'
    '<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true" NonAggregateControl="false"/>'
    "</trt:Capabilities>"
)
_PTZ_CAPABILITIES = (
    '<tptz:Capabilities EFlip="false" Reverse="false" GetCompatibleConfigurations="false" MoveStatus="true"'
    ' StatusPosition="true"/>'
)
_EVENT_CAPABILITIES = (
    '<tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true"'
    ' WSPausableSubscriptionManagerInterfaceSupport="false" MaxNotificationProducers="0" MaxPullPoints="10"'
    ' PersistentNotificationStorage="false"/>'
)


def _message_description(source: Sequence[tuple[str, str]], data: Sequence[tuple[str, str]]) -> str:
    source_items = "".join(f'<tt:SimpleItemDescription Name="{name}" Type="{kind}"/>' for name, kind in source)
    data_items = "".join(f'<tt:SimpleItemDescription Name="{name}" Type="{kind}"/>' for name, kind in data)
    return (
        f'<tt:MessageDescription IsProperty="true"><tt:Source>{source_items}</tt:Source>'
        f"<tt:Data>{data_items}</tt:Data></tt:MessageDescription>"
    )


# hikvision/GetEventProperties.xml, keeping the two topics the simulator raises.
_EVENT_PROPERTIES = (
    "<tev:GetEventPropertiesResponse>"
    "<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>"
    "<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet>"
    '<tns1:VideoSource wstop:topic="false"><MotionAlarm wstop:topic="true">'
    f"{_message_description([('Source', 'tt:ReferenceToken')], [('State', 'xs:boolean')])}"
    "</MotionAlarm></tns1:VideoSource>"
    '<tns1:RuleEngine wstop:topic="false"><CellMotionDetector wstop:topic="false"><Motion wstop:topic="true">'
    + _message_description(
        [
            ("VideoSourceConfigurationToken", "tt:ReferenceToken"),
            ("VideoAnalyticsConfigurationToken", "tt:ReferenceToken"),
            ("Rule", "xs:string"),
        ],
        [("IsMotion", "xs:boolean")],
    )
    + "</Motion></CellMotionDetector></tns1:RuleEngine></wstop:TopicSet>"
    f"<wsnt:TopicExpressionDialect>{_TOPIC_DIALECT}</wsnt:TopicExpressionDialect>"
    "<wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete</wsnt:TopicExpressionDialect>"
    "<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter</tev:MessageContentFilterDialect>"
    "<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd</tev:MessageContentSchemaLocation>"
    "</tev:GetEventPropertiesResponse>"
)
