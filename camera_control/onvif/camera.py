"""The ONVIF adapter: one camera's device, media, PTZ and motion events, behind small frozen dataclasses.

The SOAP library (onvif-zeep-async, on zeep and aiohttp) stays inside this module: callers get
`CameraInfo`, `Profile`, `PtzPreset`, `MotionEvent`... and `camera_control.errors` exceptions, never a
zeep object or a zeep/aiohttp/lxml exception. Every library call goes through `OnvifCamera._soap`,
which bounds it with the camera's timeout and translates what can go wrong, and every answer is
checked to be whole XML before zeep reads it (`_checked_soap`: zeep's recover mode would otherwise
turn a truncated answer into a silently partial one).

Two things are not done through the library:
- Media2 (ver20) calls: the library ships no Media2 WSDL, and some cameras give stream URIs only there.
- The PullPoint event subscription: the topic of a notification is a QName whose prefix only the raw
  XML can resolve, WS-Addressing reference parameters must be echoed back, and the subscription's
  life (state, renewal, recovery) is ours to own. Both go through `_RawSoap`, which signs requests with
  the library's own WS-UsernameToken (so the camera-clock correction lives in one place).

Vendor quirks are handled where the data is read, each with a comment that names the vendor; the
regression tests replay captured answers from those cameras (tests/fixtures/onvif/).

Credentials: the password is sent only as a WS-UsernameToken digest, an HTTP digest (Basic only when
the camera asks for it), and inside the stream URI returned by `stream_uri()`, which is for the ingest
alone. Logs name the camera by host:port and pass URIs through `redact()`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import datetime as dt
import enum
import logging
import os
import re
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal

import aiohttp
from lxml import etree
from lxml.builder import ElementMaker

from camera_control.errors import (
    CameraAuthFailed,
    CameraError,
    CameraOperationFailed,
    CameraProtocolError,
    CameraTimeout,
    CameraUnreachable,
    PresetNotFound,
    PtzNotSupported,
    StreamNotAvailable,
)

# Library quirk: onvif/client.py calls logging.basicConfig(level=INFO) when it is imported, which
# installs a root handler before the hall's own logging setup and turns that setup into a no-op.
# Import it with the root logger's state saved, and put that state back.
_root_handlers_before = list(logging.root.handlers)
_root_level_before = logging.root.level
import zeep.exceptions  # noqa: E402
from onvif.client import ONVIFCamera, UsernameDigestTokenDtDiff  # noqa: E402
from onvif.exceptions import ONVIFError  # noqa: E402
from onvif.util import normalize_url  # noqa: E402

for _handler in logging.root.handlers[:]:
    if _handler not in _root_handlers_before:
        logging.root.removeHandler(_handler)
logging.root.setLevel(_root_level_before)
# Library quirk: onvif/zeep_aiohttp.py logs every request and answer at DEBUG, WS-Security header
# (digest, nonce) and stream URIs included. Keep that logger quiet even when the hall debugs.
logging.getLogger("onvif.zeep_aiohttp").setLevel(logging.INFO)

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------ what callers see

NormalizedTopic = Literal["motion", "person", "vehicle", "animal", "intrusion"]


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceInfo:
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class Resolution:
    width: int
    height: int


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    token: str
    name: str
    encoding: str | None  # "H264", "H265", "JPEG", "MPEG4"...; None when the camera does not say
    resolution: Resolution | None
    fps: float | None
    bitrate_kbps: int | None  # None when unlimited or not said
    video_source_token: str | None
    ptz: bool  # the profile has a PTZ configuration: PTZ calls can use its token


@dataclasses.dataclass(frozen=True, slots=True)
class PtzCapabilities:
    continuous: bool
    absolute: bool
    relative: bool
    presets: bool
    home: bool
    zoom: bool


@dataclasses.dataclass(frozen=True, slots=True)
class PtzPreset:
    token: str
    name: str
    pan: float | None
    tilt: float | None
    zoom: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class PtzStatus:
    pan: float | None
    tilt: float | None
    zoom: float | None
    moving: bool | None  # None when the camera does not report its move status


@dataclasses.dataclass(frozen=True, slots=True)
class MotionEvent:
    topic: NormalizedTopic
    raw_topic: str  # the topic as the camera wrote it
    source: str  # video source (configuration) token, or the rule's name when the camera gives no source
    active: bool
    at: dt.datetime  # UTC, corrected for the camera's clock offset
    rule: str | None = None  # the analytics rule that fired, when the camera names one


@dataclasses.dataclass(frozen=True, slots=True)
class CameraInfo:
    device: DeviceInfo
    profiles: tuple[Profile, ...]
    ptz: PtzCapabilities | None
    events: bool  # the camera offers an event service (PullPoint is tried: see `MotionSubscription`)
    clock_offset: float  # seconds the camera's clock is ahead of ours (negative: behind)


class SubscriptionState(enum.Enum):
    IDLE = "idle"
    SUBSCRIBING = "subscribing"
    PULLING = "pulling"
    RECOVERING = "recovering"  # the subscription was lost; waiting before subscribing again
    STOPPING = "stopping"
    STOPPED = "stopped"


# ------------------------------------------------------------------------------ namespaces

_NS_DEVICE: Final = "http://www.onvif.org/ver10/device/wsdl"
_NS_MEDIA: Final = "http://www.onvif.org/ver10/media/wsdl"
_NS_MEDIA2: Final = "http://www.onvif.org/ver20/media/wsdl"
_NS_PTZ: Final = "http://www.onvif.org/ver20/ptz/wsdl"
_NS_EVENTS: Final = "http://www.onvif.org/ver10/events/wsdl"
_NS_IMAGING: Final = "http://www.onvif.org/ver20/imaging/wsdl"
_NS_SCHEMA: Final = "http://www.onvif.org/ver10/schema"
_NS_SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
_NS_SOAP11: Final = "http://schemas.xmlsoap.org/soap/envelope/"
_NS_WSA: Final = "http://www.w3.org/2005/08/addressing"
_NS_WSNT: Final = "http://docs.oasis-open.org/wsn/b-2"

# GetCapabilities' categories and the service namespaces they stand for.
_CAPABILITY_NAMESPACES: Final = {
    "Device": _NS_DEVICE,
    "Media": _NS_MEDIA,
    "PTZ": _NS_PTZ,
    "Events": _NS_EVENTS,
    "Imaging": _NS_IMAGING,
    "Analytics": "http://www.onvif.org/ver20/analytics/wsdl",
}
_CAPABILITY_EXTENSION_NAMESPACES: Final = {
    "DeviceIO": "http://www.onvif.org/ver10/deviceIO/wsdl",
    "Recording": "http://www.onvif.org/ver10/recording/wsdl",
    "Search": "http://www.onvif.org/ver10/search/wsdl",
    "Replay": "http://www.onvif.org/ver10/replay/wsdl",
}

# ------------------------------------------------------------------------------ errors at the edge

_LIBRARY_ERRORS: Final = (
    TimeoutError,
    aiohttp.ClientError,
    OSError,
    zeep.exceptions.Error,
    etree.XMLSyntaxError,
    ONVIFError,
)


class _ActionNotSupported(CameraOperationFailed):
    """The camera says it does not implement the operation (ter:ActionNotSupported and look-alikes)."""


class _NoSuchToken(CameraOperationFailed):
    """The camera says the token (preset, profile, configuration) does not exist."""


@dataclasses.dataclass(frozen=True, slots=True)
class _FaultInfo:
    codes: tuple[str, ...]  # local names of the code and every subcode
    reason: str


_AUTH_WORDS: Final = re.compile(r"not ?authori[sz]ed|unauthori[sz]ed|authenticat|authority|wrong password", re.I)
_UNSUPPORTED_WORDS: Final = re.compile(
    r"not (?:be )?(?:implemented|supported|recogni[sz]ed)|unsupported|action ?not ?supported|unknown (?:action|method)",
    re.I,
)


def _fault_error(fault: _FaultInfo, label: str, what: str) -> CameraError:
    codes = set(fault.codes)
    reason = fault.reason or "no reason given"
    # Dahua and XiongMai firmwares answer a bad password with a plain Sender fault and only say it in
    # words; most others use the ter:NotAuthorized subcode.
    if "NotAuthorized" in codes or _AUTH_WORDS.search(reason):
        return CameraAuthFailed(f"camera {label} refused the user name or password ({reason})", host=label)
    if codes & {"ActionNotSupported", "OptionalActionNotSupported", "NoSuchService"} or _UNSUPPORTED_WORDS.search(
        reason
    ):
        return _ActionNotSupported(f"camera {label} does not support {what}", host=label, reason=reason)
    if codes & {"NoToken", "NoEntity", "NoProfile"}:
        return _NoSuchToken(f"camera {label} knows no such item for {what} ({reason})", host=label, reason=reason)
    return CameraOperationFailed(f"camera {label} refused {what}: {reason}", host=label, reason=reason)


def _zeep_fault_info(fault: zeep.exceptions.Fault) -> _FaultInfo:
    codes = [_local(str(fault.code or ""))]
    for subcode in fault.subcodes or []:
        codes.append(_local(getattr(subcode, "localname", None) or str(subcode)))
    return _FaultInfo(tuple(code for code in codes if code), str(fault.message or "").strip())


def _translate(exc: BaseException, label: str, what: str, timeout: float) -> CameraError:
    """The hall's error for a library, network or parsing failure during `what`."""
    if isinstance(exc, CameraError):
        return exc
    if isinstance(exc, TimeoutError):
        return CameraTimeout(f"camera {label} did not answer {what} within {timeout:g} s", host=label)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return CameraUnreachable(f"the camera's name {label} cannot be resolved: check the address", host=label)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CameraUnreachable(
            f"nothing answers at {label}: check that the camera is on and the address and port are right",
            host=label,
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return CameraProtocolError(f"camera {label} hung up in the middle of {what}", host=label)
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return CameraUnreachable(f"the connection to camera {label} failed during {what}: {exc}", host=label)
    if isinstance(exc, aiohttp.ClientError):
        return CameraProtocolError(f"camera {label} answered {what} with something unusable: {exc}", host=label)
    if isinstance(exc, zeep.exceptions.Fault):
        return _fault_error(_zeep_fault_info(exc), label, what)
    if isinstance(exc, zeep.exceptions.TransportError):
        if exc.status_code in (401, 403):
            return CameraAuthFailed(
                f"camera {label} refused the user name or password (HTTP {exc.status_code})", host=label
            )
        return CameraProtocolError(
            f"camera {label} answered {what} with HTTP {exc.status_code} and no usable SOAP answer", host=label
        )
    if isinstance(exc, zeep.exceptions.Error | etree.XMLSyntaxError):
        return CameraProtocolError(f"camera {label} sent a broken answer to {what}: {exc}", host=label)
    return CameraProtocolError(f"camera {label} failed {what}: {exc}", host=label)


# ------------------------------------------------------------------------------ broken answers

_STRICT_PARSER: Final = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
_RECOVERING_PARSER: Final = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, recover=True)
_BODY_START: Final = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Body[\s>/]")


def _checked_soap(content: bytes, label: str, what: str) -> bytes:
    """The answer, strictly well-formed, or CameraProtocolError.

    zeep parses in lxml's recover mode (the library sets strict=False for its schema leniency), which
    silently turns a truncated answer into a partial one. We check the bytes first.
    """
    try:
        etree.fromstring(content, _STRICT_PARSER)
        return content
    except etree.XMLSyntaxError as exc:
        error = exc
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        # Some cameras put invalid UTF-8 in their device information (Home Assistant's onvif device.py):
        # the odd bytes become U+FFFD rather than the whole answer being lost.
        return _checked_soap(content.decode("utf-8", "replace").encode("utf-8"), label, what)
    # XiongMai XM530 (SUNBA.405) answers GetPresets with an unclosed <wsse:Security> in its Header; the
    # Body is whole. A break before the Body starts is forgiven: the Body is kept, the Header dropped.
    body = _BODY_START.search(content)
    if body is not None and _byte_offset(content, error.position) < body.start():
        repaired = _without_header(content)
        if repaired is not None:
            logger.debug("%s: dropped a broken SOAP header from the answer to %s", label, what)
            return repaired
    raise CameraProtocolError(f"camera {label} sent a broken answer to {what} ({error.msg})", host=label)


def _byte_offset(content: bytes, position: tuple[int, int]) -> int:
    line, column = position
    lines = content.split(b"\n")
    return sum(len(text) + 1 for text in lines[: max(line - 1, 0)]) + max(column - 1, 0)


def _without_header(content: bytes) -> bytes | None:
    try:
        root = etree.fromstring(content, _RECOVERING_PARSER)
    except etree.XMLSyntaxError:
        return None
    if root is None:
        return None
    body = next(root.iter(f"{{{_NS_SOAP12}}}Body", f"{{{_NS_SOAP11}}}Body"), None)
    if body is None:
        return None
    # Keep every namespace declaration: QName values in text (topics, xsi:type) use them too.
    envelope = etree.Element(root.tag, nsmap=root.nsmap)
    envelope.append(copy.deepcopy(body))
    result: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return result


def _guard_answers(service: Any, label: str) -> None:
    """Check every answer of a library service before zeep parses it (see `_checked_soap`).

    The library gives no hook for this, so the service's transport is wrapped, once.
    """
    transport = service.transport
    if getattr(transport, "_hall_guarded", False):
        return
    post_xml = transport.post_xml

    async def checked_post_xml(address: str, envelope: Any, headers: dict[str, str]) -> Any:
        response = await post_xml(address, envelope, headers)
        # Error statuses are left to zeep: a 401 with an HTML page must stay an authentication failure.
        if 200 <= response.status_code < 300:
            response._content = _checked_soap(response.content, label, _operation_of(envelope))
        return response

    transport.post_xml = checked_post_xml
    transport._hall_guarded = True


# ------------------------------------------------------------------------------ small helpers


def _operation_of(envelope: Any) -> str:
    body = next((child for child in envelope if _local(str(child.tag)) == "Body"), None)
    operation = next(iter(body), None) if body is not None else None
    return _local(str(operation.tag)) if operation is not None else "a request"


def _mended_address(xaddr: str) -> str:
    # Some firmwares double the port ("http://192.168.1.106:8106:8106/onvif/...", Home Assistant
    # issue 92603); the library's normalize_url mends it.
    address = str(xaddr).strip()
    return normalize_url(address) or address


def _local(name: object) -> str:
    """`ter:NotAuthorized`, `{ns}NotAuthorized` -> `NotAuthorized`; "" for a comment's or PI's tag."""
    if not isinstance(name, str):
        return ""
    return name.rpartition("}")[2].rpartition(":")[2]


def _get(obj: Any, *path: str) -> Any:
    """Walk attributes of a zeep object; None as soon as one is missing (non-strict parsing leaves gaps)."""
    for name in path:
        if obj is None:
            return None
        try:
            obj = obj[name] if isinstance(obj, Mapping) else getattr(obj, name, None)
        except (KeyError, IndexError):
            return None
    return obj


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _parse_xs_datetime(text: str | None) -> dt.datetime | None:
    """An xs:dateTime as an aware UTC datetime, or None when it is absent or nonsense.

    Hikvision writes dates with a dash where the T belongs ("2010-01-01-00:00:00Z", see the library's
    onvif/types.py FastDateTime) and sometimes sends "0000-00-00T00:00:00Z"; no zone means UTC.
    """
    if not text:
        return None
    value = text.strip()
    if len(value) > 10 and value[10] in "- ":
        value = f"{value[:10]}T{value[11:]}"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _xs_duration(seconds: float) -> str:
    return f"PT{max(round(seconds), 1)}S"


_POSIX_TZ: Final = re.compile(r"^[A-Za-z]{3,}(?P<sign>[+-]?)(?P<hours>\d{1,2})(?::(?P<minutes>\d{2}))?")


def _camera_clock(answer: Any) -> dt.datetime | None:
    """The camera's UTC time from a GetSystemDateAndTime answer, or None when it cannot be read."""
    if answer is None:
        return None
    moment = _get(answer, "UTCDateTime")
    utc_offset = dt.timedelta(0)
    if moment is None:
        # Some cameras give only LocalDateTime; their TZ is a POSIX string ("CST-08:00", "EST+5:00:00EDT...",
        # "UTC5:0"), whose sign is the opposite of ISO's. Daylight saving is not taken into account.
        moment = _get(answer, "LocalDateTime")
        match = _POSIX_TZ.match(_text(_get(answer, "TimeZone", "TZ")))
        if match is not None:
            minutes = int(match["hours"]) * 60 + int(match["minutes"] or 0)
            utc_offset = dt.timedelta(minutes=minutes if match["sign"] != "-" else -minutes)
    try:
        local = dt.datetime(
            int(_get(moment, "Date", "Year")),
            int(_get(moment, "Date", "Month")),
            int(_get(moment, "Date", "Day")),
            int(_get(moment, "Time", "Hour")),
            int(_get(moment, "Time", "Minute")),
            int(_get(moment, "Time", "Second")),
            tzinfo=dt.UTC,
        )
    except (TypeError, ValueError):
        return None
    return local + utc_offset


_SECRET_QUERY: Final = re.compile(
    r"(?i)(^|[&;?])(password|passwd|pwd|pass|user|username|usr|loginuse|loginpas|auth|token)=([^&;#]*)"
)
# XiongMai's RTSP paths carry the credentials: /user=admin_password=secret_channel=1_stream=0.sdp
_XM_PATH_CREDENTIALS: Final = re.compile(r"(?i)user=([^_&/?]*)_password=([^_&/?]*)")


def redact(uri: str) -> str:
    """The URI with user names, passwords and tokens replaced by ***, safe to log or show."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return "<unreadable URI>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    path = _XM_PATH_CREDENTIALS.sub("user=***_password=***", parts.path)
    query = _SECRET_QUERY.sub(lambda m: f"{m[1]}{m[2]}=***", parts.query)
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def _without_credentials(uri: str) -> str:
    """The URI without userinfo nor credential query parameters (XiongMai puts user= and password= there)."""
    parts = urllib.parse.urlsplit(uri)
    query = "&".join(pair for pair in parts.query.split("&") if pair and not _SECRET_QUERY.match("&" + pair))
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=query))


def _with_credentials(uri: str, username: str, password: str) -> str:
    """The URI with percent-encoded credentials as its userinfo (replacing any the camera put there)."""
    parts = urllib.parse.urlsplit(uri)
    hostport = parts.netloc.rpartition("@")[2]
    user = urllib.parse.quote(username, safe="")
    secret = urllib.parse.quote(password, safe="")
    path = parts.path
    # XiongMai (XM530) hands out RTSP paths with empty in-path credentials ("user=admin_password=_channel=1")
    # and authenticates with them rather than with the RTSP userinfo: fill them in too.
    if _XM_PATH_CREDENTIALS.search(path):
        path = _XM_PATH_CREDENTIALS.sub(lambda _: f"user={user}_password={secret}", path, count=1)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{secret}@{hostport}", path=path))


# ------------------------------------------------------------------------------ raw SOAP (Media2, events)

_E_SOAP = ElementMaker(namespace=_NS_SOAP12, nsmap={"s": _NS_SOAP12})
_E_WSA = ElementMaker(namespace=_NS_WSA, nsmap={"wsa": _NS_WSA})
_E_TEV = ElementMaker(namespace=_NS_EVENTS, nsmap={"tev": _NS_EVENTS})
_E_WSNT = ElementMaker(namespace=_NS_WSNT, nsmap={"wsnt": _NS_WSNT})
_E_TR2 = ElementMaker(namespace=_NS_MEDIA2, nsmap={"tr2": _NS_MEDIA2})


class _RawSoap:
    """SOAP 1.2 calls built and read with lxml, signed with the library's WS-UsernameToken."""

    def __init__(self, owner: OnvifCamera) -> None:
        self._owner = owner

    async def call(
        self,
        url: str,
        body: etree._Element,
        *,
        what: str,
        action: str | None = None,
        reference_parameters: Sequence[etree._Element] = (),
        timeout: float | None = None,
    ) -> etree._Element:
        """POST `body` to `url`; the answer's Body content, or the camera's fault as a CameraError."""
        owner = self._owner
        limit = owner.timeout if timeout is None else timeout
        data = self._envelope(url, body, action, reference_parameters)
        content_type = "application/soap+xml; charset=utf-8"
        if action:
            content_type += f'; action="{action}"'
        try:
            async with asyncio.timeout(limit):
                async with owner._http.post(url, data=data, headers={"Content-Type": content_type}) as response:
                    status = response.status
                    content = await response.read()
        except _LIBRARY_ERRORS as exc:
            raise _translate(exc, owner.label, what, limit) from exc
        return _answer_body(content, status, owner.label, what)

    def _envelope(
        self, url: str, body: etree._Element, action: str | None, reference_parameters: Sequence[etree._Element]
    ) -> bytes:
        owner = self._owner
        header = _E_SOAP.Header()
        if action:
            header.append(_E_WSA.Action(action))
            header.append(_E_WSA.MessageID(f"urn:uuid:{uuid.uuid4()}"))
            header.append(_E_WSA.To(url))
            for parameter in reference_parameters:
                echoed = copy.deepcopy(parameter)
                echoed.set(f"{{{_NS_WSA}}}IsReferenceParameter", "true")
                header.append(echoed)
        envelope = _E_SOAP.Envelope(header, _E_SOAP.Body(body))
        token = UsernameDigestTokenDtDiff(owner.username, owner._password, dt_diff=owner._clock_delta, use_digest=True)
        token.apply(envelope, {})
        data: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        return data


def _answer_body(content: bytes, status: int, label: str, what: str) -> etree._Element:
    if not content.strip():
        if status in (401, 403):
            raise CameraAuthFailed(f"camera {label} refused the user name or password (HTTP {status})", host=label)
        raise CameraProtocolError(f"camera {label} answered {what} with HTTP {status} and nothing else", host=label)
    try:
        root = etree.fromstring(_checked_soap(content, label, what), _STRICT_PARSER)
    except CameraProtocolError:
        if status in (401, 403):
            raise CameraAuthFailed(
                f"camera {label} refused the user name or password (HTTP {status})", host=label
            ) from None
        raise
    body = next((child for child in root if _local(child.tag) == "Body"), None)
    content_element = next(iter(body), None) if body is not None else None
    if content_element is None:
        raise CameraProtocolError(f"camera {label} answered {what} with an empty SOAP body", host=label)
    if _local(content_element.tag) == "Fault":
        raise _fault_error(_raw_fault_info(content_element), label, what)
    if status >= 300:
        raise CameraProtocolError(f"camera {label} answered {what} with HTTP {status}", host=label)
    return content_element


def _raw_fault_info(fault: etree._Element) -> _FaultInfo:
    codes = [_local(value.text or "") for value in fault.iter() if _local(value.tag) in ("Value", "faultcode")]
    reason = " ".join(
        (text.text or "").strip() for text in fault.iter() if _local(text.tag) in ("Text", "faultstring")
    ).strip()
    return _FaultInfo(tuple(code for code in codes if code), reason)


def _child(element: etree._Element | None, *path: str) -> etree._Element | None:
    """The first descendant down `path`, by local name (cameras vary in prefixes and even namespaces)."""
    for name in path:
        if element is None:
            return None
        element = next((child for child in element if isinstance(child.tag, str) and _local(child.tag) == name), None)
    return element


def _child_text(element: etree._Element | None, *path: str) -> str | None:
    found = _child(element, *path)
    return found.text.strip() if found is not None and found.text else None


# ------------------------------------------------------------------------------ event topics

# Canonical prefixes for the topic namespaces we know: cameras may bind any prefix to them.
_TOPIC_PREFIXES: Final = {
    "http://www.onvif.org/ver10/topics": "tns1",
    "http://www.axis.com/2009/event/topics": "tnsaxis",
    "http://www.hikvision.com/2011/event/topics": "tnshik",
}

_SOURCE_NAMES: Final = ("VideoSourceConfigurationToken", "VideoSourceToken", "VideoSource", "Source", "channel")
_RULE_NAMES: Final = ("Rule", "RuleName", "areaid")
_TRUE_VALUES: Final = {"true", "1", "active", "on", "yes"}
_FALSE_VALUES: Final = {"false", "0", "inactive", "off", "no"}


@dataclasses.dataclass(frozen=True, slots=True)
class _Notification:
    topic: str  # canonical: known namespaces under their usual prefix, trailing "/" and "//." removed
    raw_topic: str
    at: dt.datetime  # UTC, corrected
    source: Mapping[str, str]
    data: Mapping[str, str]


_TopicParser = Callable[[_Notification], MotionEvent | None]
_PARSERS: dict[str, _TopicParser] = {}
_PARSER_PREFIXES: list[tuple[str, _TopicParser]] = []


def _parses(*topics: str) -> Callable[[_TopicParser], _TopicParser]:
    """Register a parser for canonical topics; "a/b/*" covers every topic under a/b/."""

    def register(parser: _TopicParser) -> _TopicParser:
        for topic in topics:
            if topic.endswith("/*"):
                _PARSER_PREFIXES.append((topic[:-1], parser))
            else:
                _PARSERS[topic] = parser
        return parser

    return register


def _parser_for(topic: str) -> _TopicParser | None:
    parser = _PARSERS.get(topic)
    if parser is not None:
        return parser
    return next((parser for prefix, parser in _PARSER_PREFIXES if topic.startswith(prefix)), None)


def _state_event(notification: _Notification, topic: NormalizedTopic, data_names: Sequence[str]) -> MotionEvent | None:
    value = next((notification.data[name] for name in data_names if name in notification.data), None)
    if value is None and len(notification.data) == 1:
        value = next(iter(notification.data.values()))
    if value is None or value.strip().lower() not in _TRUE_VALUES | _FALSE_VALUES:
        return None
    source = next((notification.source[name] for name in _SOURCE_NAMES if name in notification.source), None)
    rule = next((notification.source[name] for name in _RULE_NAMES if name in notification.source), None)
    return MotionEvent(
        topic=topic,
        raw_topic=notification.raw_topic,
        source=source or rule or "",
        active=value.strip().lower() in _TRUE_VALUES,
        at=notification.at,
        rule=rule,
    )


# ONVIF's own topics: Hikvision, Dahua, Axis, Reolink, Uniview and most others raise these.
@_parses("tns1:VideoSource/MotionAlarm")
def _video_source_motion_alarm(notification: _Notification) -> MotionEvent | None:
    return _state_event(notification, "motion", ("State",))


@_parses("tns1:RuleEngine/CellMotionDetector/Motion")
def _cell_motion(notification: _Notification) -> MotionEvent | None:
    return _state_event(notification, "motion", ("IsMotion",))


# Axis names the data "State" and writes "0"/"1"; Home Assistant's parsers accept both spellings.
@_parses("tns1:RuleEngine/MotionRegionDetector/Motion")
def _motion_region(notification: _Notification) -> MotionEvent | None:
    return _state_event(notification, "motion", ("State", "IsMotion"))


# Hikvision and Dahua intrusion detection: IsInside while an object is in the field.
@_parses("tns1:RuleEngine/FieldDetector/ObjectsInside")
def _field_detector(notification: _Notification) -> MotionEvent | None:
    return _state_event(notification, "intrusion", ("IsInside",))


# Axis video motion detection: VMD 3 under tns1:RuleEngine, VMD 4 and Motion Guard as ACAP applications,
# one topic per profile ("Camera1Profile1", "Camera1ProfileANY"), data "active" as "0"/"1".
@_parses(
    "tns1:RuleEngine/tnsaxis:VMD3/*",
    "tnsaxis:CameraApplicationPlatform/VMD/*",
    "tnsaxis:CameraApplicationPlatform/MotionGuard/*",
)
def _axis_vmd(notification: _Notification) -> MotionEvent | None:
    return _state_event(notification, "motion", ("active",))


# Reolink's AI detections, under a rule called MyRuleDetector, data "State".
@_parses("tns1:RuleEngine/MyRuleDetector/PeopleDetect")
def _reolink_people(notification: _Notification) -> MotionEvent | None:
    return _state_event(notification, "person", ("State",))


@_parses("tns1:RuleEngine/MyRuleDetector/VehicleDetect")
def _reolink_vehicle(notification: _Notification) -> MotionEvent | None:
    return _state_event(notification, "vehicle", ("State",))


@_parses("tns1:RuleEngine/MyRuleDetector/DogCatDetect")
def _reolink_animal(notification: _Notification) -> MotionEvent | None:
    return _state_event(notification, "animal", ("State",))


# Dahua-platform human detection (Home Assistant's event.py lists the topic).
@_parses("tns1:UserAlarm/IVA/HumanShapeDetect")
def _human_shape(notification: _Notification) -> MotionEvent | None:
    return _state_event(notification, "person", ("State",))


def _canonical_topic(text: str, nsmap: Mapping[str | None, str]) -> str:
    # Some cameras end topics with "/" or "//." ("tns1:RuleEngine/CellMotionDetector/Motion//.").
    segments = [segment for segment in text.strip().rstrip("/.").split("/") if segment]
    canonical = []
    for segment in segments:
        prefix, colon, name = segment.rpartition(":")
        if colon:
            namespace = nsmap.get(prefix)
            canonical.append(f"{_TOPIC_PREFIXES.get(namespace or '', prefix)}:{name}")
        else:
            canonical.append(name)
    return "/".join(canonical)


def _simple_items(element: etree._Element | None) -> dict[str, str]:
    if element is None:
        return {}
    return {
        item.get("Name", ""): item.get("Value", "")
        for item in element
        if isinstance(item.tag, str) and _local(item.tag) == "SimpleItem"
    }


def _notifications(container: etree._Element, clock_offset: float, received_at: dt.datetime) -> list[_Notification]:
    found = []
    for message in container.iter(f"{{{_NS_WSNT}}}NotificationMessage"):
        topic_element = _child(message, "Topic")
        body = _child(message, "Message", "Message")
        if topic_element is None or not topic_element.text or body is None:
            continue
        camera_time = _parse_xs_datetime(body.get("UtcTime"))
        at = camera_time - dt.timedelta(seconds=clock_offset) if camera_time is not None else received_at
        found.append(
            _Notification(
                topic=_canonical_topic(topic_element.text, topic_element.nsmap),
                raw_topic=topic_element.text.strip(),
                at=at,
                source=_simple_items(_child(body, "Source")),
                data=_simple_items(_child(body, "Data")),
            )
        )
    return found


def _motion_events(
    notifications: Iterable[_Notification], *, label: str = "camera", ignored: set[str] | None = None
) -> list[MotionEvent]:
    events = []
    for notification in notifications:
        parser = _parser_for(notification.topic)
        event = parser(notification) if parser is not None else None
        if event is not None:
            events.append(event)
        elif ignored is None or notification.topic not in ignored:
            logger.debug("%s: ignored an event on topic %s", label, notification.topic)
            if ignored is not None:
                ignored.add(notification.topic)
    return events


def motion_events_from_pull(
    xml: bytes, *, clock_offset: float = 0.0, received_at: dt.datetime | None = None
) -> list[MotionEvent]:
    """The motion events in a PullMessagesResponse (or any document holding NotificationMessages).

    `clock_offset` is the camera's clock minus ours, in seconds, as `CameraInfo.clock_offset` gives it.
    """
    root = etree.fromstring(_checked_soap(xml, "(unknown)", "PullMessages"), _STRICT_PARSER)
    return _motion_events(_notifications(root, clock_offset, received_at or _utcnow()))


# ------------------------------------------------------------------------------ the camera


@dataclasses.dataclass(frozen=True, slots=True)
class _PtzConfiguration:
    token: str
    node_token: str | None
    continuous: bool
    absolute: bool
    relative: bool
    zoom: bool


class OnvifCamera:
    """One ONVIF camera. `connect()` first; `close()` (or `async with`) when done."""

    def __init__(self, host: str, port: int, username: str, password: str, *, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password  # never logged, never in an exception
        self.timeout = timeout
        self.label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._library: ONVIFCamera | None = None
        self._session: aiohttp.ClientSession | None = None
        self._info: CameraInfo | None = None
        self._xaddrs: dict[str, str] = {}
        self._clock_offset = 0.0
        self._ptz_configurations: dict[str, _PtzConfiguration] = {}
        self._backup_stops: dict[str, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._subscriptions: set[MotionSubscription] = set()
        self._raw = _RawSoap(self)

    def __repr__(self) -> str:
        return f"OnvifCamera({self.label})"

    async def __aenter__(self) -> OnvifCamera:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -------------------------------------------------------------------------- state

    @property
    def info(self) -> CameraInfo:
        return self.require_connected()

    def require_connected(self) -> CameraInfo:
        if self._info is None:
            raise RuntimeError(f"{self!r} is not connected: call connect() first")
        return self._info

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"{self!r} is not connected: call connect() first")
        return self._session

    @property
    def _clock_delta(self) -> dt.timedelta | None:
        return dt.timedelta(seconds=self._clock_offset) if self._clock_offset else None

    # -------------------------------------------------------------------------- connect

    async def connect(self) -> CameraInfo:
        """Learn the camera: its clock, services, identity, media profiles and PTZ abilities."""
        await self.close()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        self._library = self._new_library_camera()
        try:
            self._clock_offset = await self._read_clock_offset()
            self._library.dt_diff = self._clock_delta  # every service made from now on signs with it
            self._xaddrs = await self._service_addresses()
            self._library.xaddrs = dict(self._xaddrs)
            device = await self._device_info()
            profiles = await self._profiles()
            ptz = await self._ptz_capabilities(profiles)
            if ptz is None:
                # A PTZ configuration without a PTZ service (or the other way round) moves nothing.
                self._ptz_configurations = {}
                profiles = tuple(dataclasses.replace(profile, ptz=False) for profile in profiles)
        except BaseException:
            await self.close()
            raise
        self._info = CameraInfo(
            device=device,
            profiles=profiles,
            ptz=ptz,
            events=_NS_EVENTS in self._xaddrs,
            clock_offset=self._clock_offset,
        )
        logger.info(
            "%s: connected: %s %s, %d profile(s), PTZ %s, events %s",
            self.label,
            device.manufacturer or "?",
            device.model or "?",
            len(profiles),
            "yes" if ptz else "no",
            "yes" if self._info.events else "no",
        )
        return self._info

    async def close(self) -> None:
        """Stop the camera's event subscriptions and timed moves, and close its connections."""
        for subscription in list(self._subscriptions):
            await subscription.stop()
        for handle in self._backup_stops.values():
            handle.cancel()
        self._backup_stops.clear()
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        library, session = self._library, self._session
        self._library = self._session = self._info = None
        if library is not None:
            await library.close()
        if session is not None:
            await session.close()

    def _new_library_camera(self) -> ONVIFCamera:
        # Library quirk: ONVIFCamera.__init__ deletes http_proxy/https_proxy from the whole process's
        # environment (onvif/client.py, ONVIFCamera.__init__). Its aiohttp sessions ignore the
        # environment anyway, so put the variables back for everyone else.
        saved = {name: os.environ[name] for name in ("http_proxy", "https_proxy") if name in os.environ}
        try:
            # no_cache: the WSDLs are local files; the zeep SQLite cache would only write to $HOME.
            return ONVIFCamera(self.host, self.port, self.username, self._password, no_cache=True)
        finally:
            os.environ.update(saved)

    async def _service(self, name: str) -> Any:
        library = self._library
        if library is None:
            raise RuntimeError(f"{self!r} is not connected: call connect() first")
        try:
            service = await library.create_onvif_service(name)
        except ONVIFError as exc:
            message = f"camera {self.label} has no usable {name} service: {exc}"
            raise CameraProtocolError(message, host=self.label) from exc
        _guard_answers(service, self.label)
        return service

    async def _soap(self, service: Any, operation: str, params: Mapping[str, Any] | None = None) -> Any:
        """One library call, bounded by the timeout, its failures translated."""
        try:
            async with asyncio.timeout(self.timeout):
                return await getattr(service, operation)(dict(params) if params is not None else None)
        except _LIBRARY_ERRORS as exc:
            raise _translate(exc, self.label, operation.removeprefix("authless_"), self.timeout) from exc

    async def _read_clock_offset(self) -> float:
        """Seconds the camera's clock is ahead of ours, from GetSystemDateAndTime (0 when it cannot say).

        WS-UsernameToken digests carry a creation time that cameras check against their own clock, so
        a camera whose clock is hours off refuses every request unless we speak in its time.
        """
        devicemgmt = await self._service("devicemgmt")
        try:
            try:
                answer = await self._soap(devicemgmt, "authless_GetSystemDateAndTime")
            except CameraAuthFailed:
                # Axis authenticates every request, this one included.
                answer = await self._soap(devicemgmt, "GetSystemDateAndTime")
        except (CameraOperationFailed, CameraProtocolError) as exc:
            logger.warning("%s: cannot read the camera's clock (%s); assuming it is right", self.label, exc)
            return 0.0
        received = _utcnow()
        camera_now = _camera_clock(answer)
        if camera_now is None:
            logger.warning("%s: the camera's clock is unreadable; assuming it is right", self.label)
            return 0.0
        # The camera tells whole seconds, on average half a second behind the moment it answered.
        offset = float(round((camera_now - received).total_seconds() + 0.5))
        if abs(offset) >= 5:
            logger.warning(
                "%s: the camera's clock is %+.0f s off ours; requests and event times are corrected", self.label, offset
            )
        # The first device service signed without the offset: make a new one that signs with it.
        library = self._library
        assert library is not None
        await devicemgmt.close()
        library.services.pop(devicemgmt.binding_key, None)
        return offset

    async def _service_addresses(self) -> dict[str, str]:
        devicemgmt = await self._service("devicemgmt")
        addresses: dict[str, str] = {}
        try:
            services = await self._soap(devicemgmt, "GetServices", {"IncludeCapability": False})
        except (CameraOperationFailed, CameraProtocolError) as exc:
            # Bosch FLEXIDOME 5100i, Dahua and D-Link DCS-6511 answer GetServices with a fault: older
            # cameras only know GetCapabilities.
            logger.info("%s: GetServices unavailable (%s); using GetCapabilities", self.label, exc)
        else:
            for service in services or []:
                namespace, xaddr = _text(_get(service, "Namespace")), _get(service, "XAddr")
                if namespace and xaddr:
                    addresses[namespace] = _mended_address(xaddr)
        if not addresses:
            capabilities = await self._soap(devicemgmt, "GetCapabilities", {"Category": "All"})
            # D-Link DCS-6511 gives device_service as the XAddr of every service and dispatches on the
            # SOAP body, so one URL standing for several services is normal, not a mistake to correct.
            for category, namespace in _CAPABILITY_NAMESPACES.items():
                xaddr = _get(capabilities, category, "XAddr")
                if xaddr:
                    addresses[namespace] = _mended_address(xaddr)
            for category, namespace in _CAPABILITY_EXTENSION_NAMESPACES.items():
                xaddr = _get(capabilities, "Extension", category, "XAddr")
                if xaddr:
                    addresses[namespace] = _mended_address(xaddr)
        if not addresses:
            raise CameraProtocolError(f"camera {self.label} lists no ONVIF services", host=self.label)
        logger.debug("%s: services: %s", self.label, ", ".join(sorted(addresses)))
        return addresses

    async def _device_info(self) -> DeviceInfo:
        devicemgmt = await self._service("devicemgmt")
        try:
            answer = await self._soap(devicemgmt, "GetDeviceInformation")
        except _ActionNotSupported:
            logger.warning("%s: the camera does not say what it is (GetDeviceInformation unsupported)", self.label)
            answer = None
        # The IPD-H4K8M05-BS PTZ sends an empty Manufacturer, Uniview-platform OEMs "NONE", XiongMai XM530
        # its codec ("H264"): fields are shown as given, or "" when missing.
        return DeviceInfo(
            manufacturer=_text(_get(answer, "Manufacturer")),
            model=_text(_get(answer, "Model")),
            firmware=_text(_get(answer, "FirmwareVersion")),
            serial=_text(_get(answer, "SerialNumber")),
            hardware_id=_text(_get(answer, "HardwareId")),
        )

    async def _profiles(self) -> tuple[Profile, ...]:
        if _NS_MEDIA not in self._xaddrs:
            raise CameraProtocolError(
                f"camera {self.label} offers no ONVIF media (ver10) service; Media2-only cameras are not supported",
                host=self.label,
            )
        media = await self._service("media")
        answer = await self._soap(media, "GetProfiles")
        profiles = []
        self._ptz_configurations = {}
        for raw in answer or []:
            profile = self._profile(raw)
            if profile is not None:
                profiles.append(profile)
        if not profiles:
            logger.warning("%s: the camera lists no video profile", self.label)
        return tuple(profiles)

    def _profile(self, raw: Any) -> Profile | None:
        token = _text(_get(raw, "token"))
        encoder = _get(raw, "VideoEncoderConfiguration")
        if not token or encoder is None:
            # A profile without a video encoder has no video to show: the Dahua NVR's sub streams, the
            # Hikvision-platform PTZ's "thirdStream".
            logger.debug("%s: skipped profile %s: no video encoder", self.label, token or "?")
            return None
        # Dahua multi-channel NVRs (and a Lorex built on them) list main-stream encoders with only a
        # Name and UseCount: encoding and resolution stay unknown rather than the profile being dropped.
        width, height = _int(_get(encoder, "Resolution", "Width")), _int(_get(encoder, "Resolution", "Height"))
        bitrate = _int(_get(encoder, "RateControl", "BitrateLimit"))
        # Axis writes BitrateLimit 2147483647 (INT_MAX) for "no limit".
        if bitrate is not None and not 0 < bitrate < 2**31 - 1:
            bitrate = None
        ptz = _get(raw, "PTZConfiguration")
        if ptz is not None and _get(ptz, "token"):
            self._ptz_configurations[token] = _PtzConfiguration(
                token=_text(_get(ptz, "token")),
                node_token=_text(_get(ptz, "NodeToken")) or None,
                continuous=bool(_get(ptz, "DefaultContinuousPanTiltVelocitySpace")),
                absolute=bool(_get(ptz, "DefaultAbsolutePantTiltPositionSpace")),  # sic: the ONVIF schema's typo
                relative=bool(_get(ptz, "DefaultRelativePanTiltTranslationSpace")),
                zoom=bool(
                    _get(ptz, "DefaultContinuousZoomVelocitySpace") or _get(ptz, "DefaultAbsoluteZoomPositionSpace")
                ),
            )
        return Profile(
            token=token,
            name=_text(_get(raw, "Name")) or token,
            encoding=_text(_get(encoder, "Encoding")) or None,
            resolution=Resolution(width, height) if width and height else None,
            fps=_float(_get(encoder, "RateControl", "FrameRateLimit")) or None,
            bitrate_kbps=bitrate,
            video_source_token=_text(_get(raw, "VideoSourceConfiguration", "SourceToken")) or None,
            ptz=token in self._ptz_configurations,
        )

    async def _ptz_capabilities(self, profiles: Sequence[Profile]) -> PtzCapabilities | None:
        # Only a profile with a PTZ configuration can be moved, so the media (ver10) profiles decide.
        # Uniview-platform cameras list Media2, whose profiles show no PTZ configuration unless asked for
        # every configuration type; we never read PTZ from Media2.
        if _NS_PTZ not in self._xaddrs or not self._ptz_configurations:
            return None
        configuration = next(iter(self._ptz_configurations.values()))
        ptz = await self._service("ptz")
        continuous, absolute, relative, zoom = (
            configuration.continuous,
            configuration.absolute,
            configuration.relative,
            configuration.zoom,
        )
        try:
            options = await self._soap(ptz, "GetConfigurationOptions", {"ConfigurationToken": configuration.token})
        except (CameraOperationFailed, CameraProtocolError) as exc:
            logger.debug("%s: no PTZ configuration options (%s); using the defaults", self.label, exc)
        else:
            spaces = _get(options, "Spaces")
            if spaces is not None:
                continuous = bool(
                    _get(spaces, "ContinuousPanTiltVelocitySpace") or _get(spaces, "ContinuousZoomVelocitySpace")
                )
                absolute = bool(
                    _get(spaces, "AbsolutePanTiltPositionSpace") or _get(spaces, "AbsoluteZoomPositionSpace")
                )
                relative = bool(
                    _get(spaces, "RelativePanTiltTranslationSpace") or _get(spaces, "RelativeZoomTranslationSpace")
                )
                zoom = bool(
                    _get(spaces, "ContinuousZoomVelocitySpace")
                    or _get(spaces, "AbsoluteZoomPositionSpace")
                    or _get(spaces, "RelativeZoomTranslationSpace")
                )
        # Presets and home are assumed when the node cannot be read: every PTZ camera among the captures
        # answers GetPresets and most GotoHomePosition; a refusal later raises PtzNotSupported.
        presets, home = True, True
        if configuration.node_token:
            try:
                node = await self._soap(ptz, "GetNode", {"NodeToken": configuration.node_token})
            except (CameraOperationFailed, CameraProtocolError) as exc:
                logger.debug("%s: no PTZ node (%s)", self.label, exc)
            else:
                presets = (_int(_get(node, "MaximumNumberOfPresets")) or 1) > 0
                home = _get(node, "HomeSupported") is not False
        return PtzCapabilities(continuous, absolute, relative, presets, home, zoom)

    async def check(self) -> None:
        """Prove the camera still answers and still takes our credentials (one authenticated call)."""
        devicemgmt = await self._service("devicemgmt")
        try:
            await self._soap(devicemgmt, "GetDeviceInformation")
        except _ActionNotSupported:
            await self._soap(devicemgmt, "GetCapabilities", {"Category": "Device"})

    # -------------------------------------------------------------------------- media

    async def stream_uri(self, profile_token: str) -> str:
        """The profile's RTSP URI with our credentials in it. For the ingest alone: never log or show it."""
        uri = await self._media_uri("GetStreamUri", profile_token)
        logger.debug("%s: stream of %s at %s", self.label, profile_token, redact(uri))
        return _with_credentials(uri, self.username, self._password)

    async def snapshot_uri(self, profile_token: str) -> str:
        """The profile's JPEG snapshot URI, without credentials (fetch it with `snapshot()`)."""
        return _without_credentials(await self._media_uri("GetSnapshotUri", profile_token))

    async def snapshot(self, profile_token: str) -> bytes:
        """One JPEG from the camera: HTTP Digest first; Basic only if the camera asks for it."""
        # The URI as the camera gave it: XiongMai's carries its own user= and password= query.
        uri = await self._media_uri("GetSnapshotUri", profile_token)
        try:
            async with asyncio.timeout(self.timeout):
                digest = aiohttp.DigestAuthMiddleware(self.username, self._password)
                async with self._http.get(uri, middlewares=(digest,)) as response:
                    status, challenge = response.status, response.headers.get("WWW-Authenticate", "")
                    content = await response.read() if status < 300 else b""
                if status == 401 and challenge.lower().startswith("basic"):
                    basic = base64.b64encode(f"{self.username}:{self._password}".encode()).decode()
                    async with self._http.get(uri, headers={"Authorization": f"Basic {basic}"}) as response:
                        status = response.status
                        content = await response.read() if status < 300 else b""
        except _LIBRARY_ERRORS as exc:
            raise _translate(exc, self.label, "the snapshot", self.timeout) from exc
        if status in (401, 403):
            message = f"camera {self.label} refused the user name or password for snapshots"
            raise CameraAuthFailed(message, host=self.label)
        if status >= 300:
            raise CameraOperationFailed(
                f"camera {self.label} answered the snapshot request with HTTP {status}",
                host=self.label,
                reason=f"HTTP {status}",
            )
        if not content:
            raise CameraProtocolError(f"camera {self.label} sent an empty snapshot", host=self.label)
        return content

    async def _media_uri(self, operation: Literal["GetStreamUri", "GetSnapshotUri"], profile_token: str) -> str:
        self.require_connected()
        failure: CameraError | None = None
        if _NS_MEDIA in self._xaddrs:
            media = await self._service("media")
            params: dict[str, Any] = {"ProfileToken": profile_token}
            if operation == "GetStreamUri":
                params["StreamSetup"] = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
            try:
                answer = await self._soap(media, operation, params)
            except (CameraOperationFailed, CameraProtocolError) as exc:
                failure = exc
            else:
                uri = _text(_get(answer, "Uri"))
                if uri:
                    return uri
                # Some cameras answer without a Uri (Home Assistant issue 135494).
                failure = CameraProtocolError(f"camera {self.label} gave no URI for {operation}", host=self.label)
        # Axis M2025-LE, Uniview-platform and XiongMai cameras give URIs only through Media2 (their
        # media ver10 GetStreamUri fails or is missing), so Media2 is the second chance.
        if _NS_MEDIA2 in self._xaddrs:
            try:
                return await self._media2_uri(operation, profile_token)
            except (CameraOperationFailed, CameraProtocolError) as exc:
                failure = failure or exc
        if isinstance(failure, _NoSuchToken):
            raise CameraOperationFailed(
                f"camera {self.label} has no profile {profile_token!r}", host=self.label, reason=failure.reason
            )
        if operation == "GetStreamUri" and (failure is None or isinstance(failure, _ActionNotSupported)):
            raise StreamNotAvailable(f"camera {self.label} gives no stream URI over ONVIF", host=self.label)
        raise failure or CameraOperationFailed(
            f"camera {self.label} offers no media service for {operation}", host=self.label
        )

    async def _media2_uri(self, operation: str, profile_token: str) -> str:
        element = getattr(_E_TR2, operation)
        body = (
            element(_E_TR2.Protocol("RTSP"), _E_TR2.ProfileToken(profile_token))
            if operation == "GetStreamUri"
            else element(_E_TR2.ProfileToken(profile_token))
        )
        answer = await self._raw.call(self._xaddrs[_NS_MEDIA2], body, what=f"Media2 {operation}")
        uri = _child_text(answer, "Uri")
        if not uri:
            raise CameraProtocolError(f"camera {self.label} gave no URI for Media2 {operation}", host=self.label)
        return uri

    # -------------------------------------------------------------------------- PTZ

    async def continuous_move(
        self, profile_token: str, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0, timeout: float | None = None
    ) -> None:
        """Move at the given speeds (each -1..1) until `stop()`, or for `timeout` seconds."""
        _check_range(pan=pan, tilt=tilt, zoom=zoom)
        if timeout is not None and timeout <= 0:
            raise ValueError("a move's timeout must be positive")
        velocity: dict[str, Any] = {"PanTilt": {"x": pan, "y": tilt}}
        if self._zoom_supported():
            velocity["Zoom"] = {"x": zoom}
        params: dict[str, Any] = {"ProfileToken": profile_token, "Velocity": velocity}
        if timeout is not None:
            params["Timeout"] = dt.timedelta(seconds=timeout)
        self._cancel_backup_stop(profile_token)
        await self._ptz("ContinuousMove", profile_token, params)
        if timeout is not None:
            # Not every camera honours ContinuousMove's Timeout (Home Assistant stops explicitly for the
            # same reason): a camera left turning shows the wrong part of the hall, so we stop it too.
            loop = asyncio.get_running_loop()
            self._backup_stops[profile_token] = loop.call_later(timeout, self._start_backup_stop, profile_token)

    async def stop(self, profile_token: str) -> None:
        self._cancel_backup_stop(profile_token)
        try:
            await self._ptz("Stop", profile_token, {"ProfileToken": profile_token, "PanTilt": True, "Zoom": True})
        except PtzNotSupported:
            # Some cameras implement no Stop (Home Assistant's onvif device.py): a zero-speed move stops them.
            zero: dict[str, Any] = {"PanTilt": {"x": 0.0, "y": 0.0}}
            if self._zoom_supported():
                zero["Zoom"] = {"x": 0.0}
            await self._ptz("ContinuousMove", profile_token, {"ProfileToken": profile_token, "Velocity": zero})

    async def absolute_move(
        self, profile_token: str, pan: float, tilt: float, zoom: float | None = None, speed: float | None = None
    ) -> None:
        """Go to a position: pan and tilt in -1..1, zoom in 0..1 (ONVIF's generic spaces)."""
        _check_range(pan=pan, tilt=tilt)
        _check_unit(zoom=zoom, speed=speed)
        params: dict[str, Any] = {"ProfileToken": profile_token, "Position": _vector(pan, tilt, zoom)}
        if speed is not None:
            params["Speed"] = _vector(speed, speed, speed if zoom is not None else None)
        self._cancel_backup_stop(profile_token)
        await self._ptz("AbsoluteMove", profile_token, params)

    async def relative_move(
        self, profile_token: str, pan: float, tilt: float, zoom: float | None = None, speed: float | None = None
    ) -> None:
        """Move by a step: each of pan, tilt, zoom in -1..1 of the generic translation space."""
        _check_range(pan=pan, tilt=tilt, zoom=zoom or 0.0)
        _check_unit(speed=speed)
        params: dict[str, Any] = {"ProfileToken": profile_token, "Translation": _vector(pan, tilt, zoom)}
        if speed is not None:
            params["Speed"] = _vector(speed, speed, speed if zoom is not None else None)
        self._cancel_backup_stop(profile_token)
        await self._ptz("RelativeMove", profile_token, params)

    async def presets(self, profile_token: str) -> list[PtzPreset]:
        answer = await self._ptz("GetPresets", profile_token, {"ProfileToken": profile_token})
        presets = []
        for raw in answer or []:
            token = _text(_get(raw, "token"))
            if not token:
                continue
            position = _get(raw, "PTZPosition")
            presets.append(
                PtzPreset(
                    token=token,
                    name=_text(_get(raw, "Name")) or token,
                    pan=_float(_get(position, "PanTilt", "x")),
                    tilt=_float(_get(position, "PanTilt", "y")),
                    zoom=_float(_get(position, "Zoom", "x")),
                )
            )
        return presets

    async def goto_preset(self, profile_token: str, preset_token: str, speed: float | None = None) -> None:
        _check_unit(speed=speed)
        params: dict[str, Any] = {"ProfileToken": profile_token, "PresetToken": preset_token}
        if speed is not None:
            params["Speed"] = _vector(speed, speed, speed if self._zoom_supported() else None)
        self._cancel_backup_stop(profile_token)
        await self._preset_call("GotoPreset", profile_token, preset_token, params)

    async def set_preset(self, profile_token: str, name: str, preset_token: str | None = None) -> str:
        """Save the current position as a preset (a new one, or `preset_token` overwritten); its token."""
        if not name.strip():
            raise ValueError("a preset needs a name")
        params: dict[str, Any] = {"ProfileToken": profile_token, "PresetName": name}
        if preset_token is not None:
            params["PresetToken"] = preset_token
        answer = await self._preset_call("SetPreset", profile_token, preset_token, params)
        token = _text(answer if isinstance(answer, str) else _get(answer, "PresetToken"))
        if not token:
            raise CameraProtocolError(f"camera {self.label} saved the preset but gave no token", host=self.label)
        return token

    async def remove_preset(self, profile_token: str, preset_token: str) -> None:
        params = {"ProfileToken": profile_token, "PresetToken": preset_token}
        await self._preset_call("RemovePreset", profile_token, preset_token, params)

    async def goto_home(self, profile_token: str, speed: float | None = None) -> None:
        _check_unit(speed=speed)
        params: dict[str, Any] = {"ProfileToken": profile_token}
        if speed is not None:
            params["Speed"] = _vector(speed, speed, speed if self._zoom_supported() else None)
        self._cancel_backup_stop(profile_token)
        await self._ptz("GotoHomePosition", profile_token, params)

    async def status(self, profile_token: str) -> PtzStatus:
        answer = await self._ptz("GetStatus", profile_token, {"ProfileToken": profile_token})
        position = _get(answer, "Position")
        move = [_text(_get(answer, "MoveStatus", axis)).upper() for axis in ("PanTilt", "Zoom")]
        # Hikvision-platform PTZs (ENP1A14-IR/25X) report no MoveStatus at all.
        moving = None if not any(move) else "MOVING" in move
        # The IPD-H4K8M05-BS PTZ reports raw motor counts (32768) instead of the generic space: a value
        # outside the generic range means nothing to us, so it is None.
        return PtzStatus(
            pan=_generic(_float(_get(position, "PanTilt", "x")), -1.0),
            tilt=_generic(_float(_get(position, "PanTilt", "y")), -1.0),
            zoom=_generic(_float(_get(position, "Zoom", "x")), -1.0),
            moving=moving,
        )

    def _zoom_supported(self) -> bool:
        ptz = self._info.ptz if self._info is not None else None
        return ptz is not None and ptz.zoom

    def _require_ptz(self, profile_token: str) -> None:
        info = self.info
        if info.ptz is None:
            raise PtzNotSupported(f"camera {self.label} cannot pan, tilt or zoom", host=self.label)
        profile = next((p for p in info.profiles if p.token == profile_token), None)
        if profile is not None and not profile.ptz:
            raise PtzNotSupported(
                f"profile {profile_token!r} of camera {self.label} has no PTZ configuration", host=self.label
            )

    async def _ptz(self, operation: str, profile_token: str, params: Mapping[str, Any]) -> Any:
        self._require_ptz(profile_token)
        ptz = await self._service("ptz")
        try:
            return await self._soap(ptz, operation, params)
        except _ActionNotSupported as exc:
            raise PtzNotSupported(f"camera {self.label} does not support {operation}", host=self.label) from exc

    async def _preset_call(
        self, operation: str, profile_token: str, preset_token: str | None, params: Mapping[str, Any]
    ) -> Any:
        try:
            return await self._ptz(operation, profile_token, params)
        except _NoSuchToken as exc:
            if preset_token is None:
                raise
            raise PresetNotFound(f"camera {self.label} has no preset {preset_token!r}", host=self.label) from exc

    def _cancel_backup_stop(self, profile_token: str) -> None:
        handle = self._backup_stops.pop(profile_token, None)
        if handle is not None:
            handle.cancel()

    def _start_backup_stop(self, profile_token: str) -> None:
        self._backup_stops.pop(profile_token, None)
        task = asyncio.create_task(self._backup_stop(profile_token), name=f"onvif-stop {self.label}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _backup_stop(self, profile_token: str) -> None:
        try:
            await self.stop(profile_token)
        except CameraError as exc:
            logger.warning("%s: could not stop the timed move of %s: %s", self.label, profile_token, exc)

    # -------------------------------------------------------------------------- events

    def motion_events(
        self,
        on_event: Callable[[MotionEvent], None] | None = None,
        *,
        pull_timeout: float = 20.0,
        subscription_time: float = 600.0,
    ) -> MotionSubscription:
        """A PullPoint subscription to the camera's motion events; `start()` it (or `async with`)."""
        return MotionSubscription(self, on_event, pull_timeout=pull_timeout, subscription_time=subscription_time)

    @property
    def _events_address(self) -> str | None:
        return self._xaddrs.get(_NS_EVENTS)

    @property
    def clock_offset(self) -> float:
        return self._clock_offset


def _check_range(**values: float) -> None:
    for name, value in values.items():
        if not -1.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between -1 and 1, not {value}")


def _check_unit(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, not {value}")


def _vector(pan: float, tilt: float, zoom: float | None) -> dict[str, Any]:
    vector: dict[str, Any] = {"PanTilt": {"x": pan, "y": tilt}}
    if zoom is not None:
        vector["Zoom"] = {"x": zoom}
    return vector


def _generic(value: float | None, low: float) -> float | None:
    return value if value is not None and low <= value <= 1.0 else None


# ------------------------------------------------------------------------------ motion subscription

_RENEW_AT: Final = 0.8  # of the subscription's life, as the library's managers do
_EMPTY_PULL_PAUSE: Final = 1.0
_QUEUE_LIMIT: Final = 1000
_END: Final = object()


@dataclasses.dataclass(slots=True)
class _PullPoint:
    address: str
    reference_parameters: tuple[etree._Element, ...]
    renew_at: float  # event-loop time


class MotionSubscription:
    """A PullPoint subscription delivering `MotionEvent`s to a callback, or to `async for`.

    start() subscribes (and raises if the camera refuses); a task then long-polls PullMessages, renews
    the subscription before it ends, and subscribes again after errors, waiting longer each time.
    stop() ends the task, waits for it, and unsubscribes.
    """

    def __init__(
        self,
        camera: OnvifCamera,
        on_event: Callable[[MotionEvent], None] | None = None,
        *,
        pull_timeout: float = 20.0,
        subscription_time: float = 600.0,
        retry_min: float = 1.0,
        retry_max: float = 60.0,
    ) -> None:
        self._camera = camera
        self._on_event = on_event
        self._pull_timeout = pull_timeout
        self._subscription_time = subscription_time
        self._retry_min, self._retry_max = retry_min, retry_max
        self._state = SubscriptionState.IDLE
        self._pullpoint: _PullPoint | None = None
        self._task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_QUEUE_LIMIT)
        self._absolute_times = False
        self._ignored_topics: set[str] = set()
        self._stopped = asyncio.Event()

    @property
    def state(self) -> SubscriptionState:
        return self._state

    async def __aenter__(self) -> MotionSubscription:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __aiter__(self) -> AsyncIterator[MotionEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[MotionEvent]:
        if self._on_event is not None:
            raise RuntimeError("this subscription delivers to its callback; it cannot be iterated")
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            assert isinstance(item, MotionEvent)
            yield item

    async def start(self) -> None:
        if self._state is not SubscriptionState.IDLE:
            raise RuntimeError(f"the subscription is {self._state.value}; it starts once")
        self._camera.require_connected()
        if self._camera._events_address is None:
            self._state = SubscriptionState.STOPPED
            raise CameraOperationFailed(f"camera {self._camera.label} offers no event service", host=self._camera.label)
        self._state = SubscriptionState.SUBSCRIBING
        try:
            self._pullpoint = await self._subscribe()
        except BaseException:
            self._state = SubscriptionState.STOPPED
            raise
        self._state = SubscriptionState.PULLING
        self._camera._subscriptions.add(self)
        self._task = asyncio.create_task(self._run(), name=f"onvif-events {self._camera.label}")

    async def stop(self) -> None:
        """End the subscription: the pulling task is cancelled and waited for, then we unsubscribe."""
        if self._state in (SubscriptionState.IDLE, SubscriptionState.STOPPED):
            self._finished()
            return
        if self._state is SubscriptionState.STOPPING:
            await self._stopped.wait()
            return
        self._state = SubscriptionState.STOPPING
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        pullpoint, self._pullpoint = self._pullpoint, None
        if pullpoint is not None:
            await self._unsubscribe(pullpoint)
        self._finished()
        logger.info("%s: stopped listening for events", self._camera.label)

    def _finished(self) -> None:
        self._state = SubscriptionState.STOPPED
        self._stopped.set()
        self._camera._subscriptions.discard(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_END)  # ends the iterators

    # -------------------------------------------------------------------------- the loop

    async def _run(self) -> None:
        try:
            await self._pull_forever()
        except Exception:
            # A bug, not a camera problem: say so loudly, and stop rather than spin.
            logger.exception("%s: the event subscription failed", self._camera.label)
            self._finished()

    async def _pull_forever(self) -> None:
        label = self._camera.label
        backoff = self._retry_min
        loop = asyncio.get_running_loop()
        while True:
            try:
                if self._pullpoint is None:
                    self._state = SubscriptionState.SUBSCRIBING
                    self._pullpoint = await self._subscribe()
                    logger.info("%s: listening for events again", label)
                self._state = SubscriptionState.PULLING
                pullpoint = self._pullpoint
                if loop.time() >= pullpoint.renew_at and not await self._renewed(pullpoint):
                    continue
                started = loop.time()
                events = await self._pull(pullpoint)
                backoff = self._retry_min
                for event in events:
                    self._deliver(event)
                if not events and loop.time() - started < _EMPTY_PULL_PAUSE:
                    # Some cameras answer an empty PullMessages at once instead of holding it until the
                    # timeout (Home Assistant's event.py pauses for the same reason): don't spin.
                    await asyncio.sleep(_EMPTY_PULL_PAUSE)
            except CameraError as exc:
                self._state = SubscriptionState.RECOVERING
                logger.warning("%s: lost the event subscription (%s); subscribing again in %.0f s", label, exc, backoff)
                lost, self._pullpoint = self._pullpoint, None
                if lost is not None:
                    await self._unsubscribe(lost)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._retry_max)

    def _deliver(self, event: MotionEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                logger.exception("%s: the motion event callback failed", self._camera.label)
            return
        if self._queue.full():
            self._queue.get_nowait()
            logger.warning("%s: motion events are not being read; dropped the oldest", self._camera.label)
        self._queue.put_nowait(event)

    # -------------------------------------------------------------------------- the SOAP side

    async def _subscribe(self) -> _PullPoint:
        camera = self._camera
        events_address = camera._events_address
        assert events_address is not None
        body = _E_TEV.CreatePullPointSubscription(_E_TEV.InitialTerminationTime(self._termination_time()))
        answer = await camera._raw.call(
            events_address,
            body,
            what="CreatePullPointSubscription",
            action=f"{_NS_EVENTS}/EventPortType/CreatePullPointSubscriptionRequest",
        )
        reference = _child(answer, "SubscriptionReference")
        address = _child_text(reference, "Address")
        if not address:
            raise CameraProtocolError(f"camera {camera.label} gave no subscription address", host=camera.label)
        parameters = _child(reference, "ReferenceParameters")
        pullpoint = _PullPoint(
            # A relative address is resolved against the event service; doubled ports are mended.
            address=_mended_address(urllib.parse.urljoin(events_address, address)),
            reference_parameters=tuple(child for child in parameters if isinstance(child.tag, str))
            if parameters is not None
            else (),
            renew_at=0.0,
        )
        pullpoint.renew_at = self._renew_at(answer)
        logger.info("%s: listening for events", camera.label)
        return pullpoint

    async def _renewed(self, pullpoint: _PullPoint) -> bool:
        """Renew the subscription; False (and the subscription dropped) when the camera refuses."""
        body = _E_WSNT.Renew(_E_WSNT.TerminationTime(self._termination_time()))
        try:
            answer = await self._camera._raw.call(
                pullpoint.address,
                body,
                what="Renew",
                action="http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest",
                reference_parameters=pullpoint.reference_parameters,
            )
        except (CameraOperationFailed, CameraProtocolError) as exc:
            # Some cameras refuse Renew; a new subscription does the same job.
            logger.info("%s: renewal refused (%s); subscribing anew", self._camera.label, exc)
            self._pullpoint = None
            await self._unsubscribe(pullpoint)
            return False
        pullpoint.renew_at = self._renew_at(answer)
        return True

    async def _pull(self, pullpoint: _PullPoint) -> list[MotionEvent]:
        camera = self._camera
        loop = asyncio.get_running_loop()
        # Never hold a pull past the renewal time.
        wait = max(1.0, min(self._pull_timeout, pullpoint.renew_at - loop.time()))
        body = _E_TEV.PullMessages(_E_TEV.Timeout(_xs_duration(wait)), _E_TEV.MessageLimit("100"))
        answer = await camera._raw.call(
            pullpoint.address,
            body,
            what="PullMessages",
            action=f"{_NS_EVENTS}/PullPointSubscription/PullMessagesRequest",
            reference_parameters=pullpoint.reference_parameters,
            timeout=wait + camera.timeout,
        )
        notifications = _notifications(answer, camera.clock_offset, _utcnow())
        return _motion_events(notifications, label=camera.label, ignored=self._ignored_topics)

    async def _unsubscribe(self, pullpoint: _PullPoint) -> None:
        try:
            await self._camera._raw.call(
                pullpoint.address,
                _E_WSNT.Unsubscribe(),
                what="Unsubscribe",
                action="http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest",
                reference_parameters=pullpoint.reference_parameters,
            )
        except CameraError as exc:
            # The subscription ends by itself at its termination time anyway.
            logger.debug("%s: Unsubscribe failed: %s", self._camera.label, exc)

    def _termination_time(self) -> str:
        if not self._absolute_times:
            return _xs_duration(self._subscription_time)
        moment = _utcnow() + dt.timedelta(seconds=self._subscription_time + self._camera.clock_offset)
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")

    def _renew_at(self, answer: etree._Element) -> float:
        current = _parse_xs_datetime(_child_text(answer, "CurrentTime"))
        termination = _parse_xs_datetime(_child_text(answer, "TerminationTime"))
        life = self._subscription_time
        if current is not None and termination is not None:
            granted = (termination - current).total_seconds()
            if granted <= 0 and not self._absolute_times:
                # Cameras with broken relative times grant nothing for "PT600S" (the library's
                # has_broken_relative_time): ask in absolute camera time from now on.
                logger.info("%s: the camera mishandles relative times; using absolute ones", self._camera.label)
                self._absolute_times = True
            elif granted > 0:
                life = min(granted, self._subscription_time)
        return asyncio.get_running_loop().time() + max(life * _RENEW_AT, 1.0)
