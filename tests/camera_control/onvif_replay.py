"""A fake ONVIF camera that replays one vendor's captured answers over real HTTP on 127.0.0.1.

It stands where a real camera would: the adapter under test talks SOAP to it through the ONVIF library
and aiohttp, exactly as to a camera on the hall's network. What it answers is what the vendor's camera
answered (tests/fixtures/onvif/<vendor>/, see SOURCES.md), chosen by the operation in the request's
SOAP body and the namespace it is in (the Media2 namespace picks "Media2-<Operation>.xml", the device,
media, PTZ and event namespaces the plain "<Operation>.xml" or their "Device-", "Media-", "PTZ-"
file). Several directories can be layered: the first that captured an operation answers it.

The camera-specific parts of an answer that cannot be replayed verbatim are brought up to date, as the
real camera would have them now:
- every captured http(s)/rtsp URL with an IP address points at this fake (http at its port, rtsp at
  127.0.0.1 with the captured port), so the library follows XAddrs and subscription addresses here;
- GetSystemDateAndTime tells this fake's clock (now, shifted by `clock_shift`);
- CreatePullPointSubscription's CurrentTime/TerminationTime are now and now + the asked duration.

What was never captured is synthesised, in ONVIF's standard shapes, and said so here:
- an operation without a capture gets the vendor's own "not implemented" fault when one was captured
  (Device-Fault.xml with ter:ActionNotSupported or "not implemented"), else a standard
  ter:ActionNotSupported fault;
- a wrong WS-UsernameToken (user, digest, or Created outside ±5 minutes of the fake's clock) gets a
  standard ter:NotAuthorized fault with HTTP 400; GetSystemDateAndTime is answered without one, as
  ONVIF Core requires;
- PullMessages answers the scripted `pull_messages` documents in turn, then holds each pull for
  its Timeout (at most `hold_pulls` seconds) and answers an empty PullMessagesResponse;
- `missing` operations are answered as if never captured; `refuse` maps an operation to a ter: subcode
  answered as a standard Sender fault (e.g. NoToken for a preset the camera does not have);
- snapshots (any GET) are a JPEG drawn by Pillow, behind HTTP Digest, Basic or no authentication.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import re
import secrets
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import uvicorn
from lxml import etree
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "onvif"

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
TT = "http://www.onvif.org/ver10/schema"

# The file-name prefixes each service namespace may use, most specific first.
PREFIXES: dict[str, tuple[str, ...]] = {
    "http://www.onvif.org/ver10/device/wsdl": ("Device-", ""),
    "http://www.onvif.org/ver10/media/wsdl": ("Media-", ""),
    "http://www.onvif.org/ver20/media/wsdl": ("Media2-",),
    "http://www.onvif.org/ver20/ptz/wsdl": ("PTZ-", ""),
    "http://www.onvif.org/ver10/events/wsdl": ("Events-", ""),
    WSNT: ("",),
    "http://www.onvif.org/ver20/imaging/wsdl": ("Imaging-", ""),
}
SERVICE_NAMES = {
    "http://www.onvif.org/ver20/media/wsdl": "Media2",
    "http://www.onvif.org/ver10/media/wsdl": "Media",
    "http://www.onvif.org/ver20/ptz/wsdl": "PTZ",
}
PRE_AUTH = {"GetSystemDateAndTime"}
CREATED_WINDOW = dt.timedelta(minutes=5)
CAPTURED_URL = re.compile(rb"(https?|rtsp)://(\d{1,3}(?:\.\d{1,3}){3})(:\d+)?")
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)

NOT_AUTHORIZED = f"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="{SOAP12}" xmlns:ter="http://www.onvif.org/ver10/error">
  <env:Body><env:Fault>
    <env:Code><env:Value>env:Sender</env:Value>
      <env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>
    <env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason>
  </env:Fault></env:Body>
</env:Envelope>""".encode()

ACTION_NOT_SUPPORTED = f"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="{SOAP12}" xmlns:ter="http://www.onvif.org/ver10/error">
  <env:Body><env:Fault>
    <env:Code><env:Value>env:Receiver</env:Value>
      <env:Subcode><env:Value>ter:ActionNotSupported</env:Value></env:Subcode></env:Code>
    <env:Reason><env:Text xml:lang="en">Optional Action Not Implemented</env:Text></env:Reason>
  </env:Fault></env:Body>
</env:Envelope>""".encode()

SnapshotAuth = Literal["digest", "basic", "none"]


def sender_fault(subcode: str) -> bytes:
    return NOT_AUTHORIZED.replace(b"ter:NotAuthorized", f"ter:{subcode}".encode()).replace(
        b"Sender not Authorized", subcode.encode()
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Received:
    operation: str  # "GetProfiles", "Media2:GetStreamUri", "GET /snapshot"...
    path: str


class ReplayCamera:
    def __init__(
        self,
        *vendors: str | Path,
        username: str = "admin",
        password: str = "hall-secret",
        check_auth: bool = True,
        clock_shift: dt.timedelta = dt.timedelta(0),
        broken: Sequence[str] = (),
        silent: bool = False,
        missing: Sequence[str] = (),
        refuse: Mapping[str, str] | None = None,
        pull_messages: Sequence[bytes] = (),
        hold_pulls: float = 0.5,
        snapshot_auth: SnapshotAuth = "digest",
    ) -> None:
        self.directories = [vendor if isinstance(vendor, Path) else FIXTURES / vendor for vendor in vendors]
        for directory in self.directories:
            if not directory.is_dir():
                raise FileNotFoundError(directory)
        self.username = username
        self.password = password
        self.check_auth = check_auth
        self.clock_shift = clock_shift
        self.broken = set(broken)
        self.silent = silent
        self.missing = set(missing)
        self.refuse = dict(refuse or {})
        self.pull_messages = list(pull_messages)
        self.hold_pulls = hold_pulls
        self.snapshot_auth = snapshot_auth
        self.host = "127.0.0.1"
        self.port = 0
        self.requests: list[Received] = []
        self._closing = asyncio.Event()
        self._seen = asyncio.Condition()
        self._digest_nonce = secrets.token_hex(16)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    # -------------------------------------------------------------------------- life

    async def __aenter__(self) -> ReplayCamera:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing.set()
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task

    @property
    def operations(self) -> list[str]:
        return [request.operation for request in self.requests]

    async def wait_for(self, operation: str, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until `operation` was asked `count` times (a generous deadline, not a timing check)."""
        async with asyncio.timeout(timeout), self._seen:
            await self._seen.wait_for(lambda: self.operations.count(operation) >= count)

    # -------------------------------------------------------------------------- HTTP

    async def _handle(self, request: Request) -> Response:
        if request.method == "GET":
            await self._record(f"GET {request.url.path}", request.url.path)
            return self._snapshot(request)
        body = await request.body()
        try:
            envelope = etree.fromstring(body, PARSER)
            operation_element = envelope.find(f"{{{SOAP12}}}Body")[0]
        except (etree.XMLSyntaxError, TypeError, IndexError):
            return Response(b"not a SOAP request", status_code=400)
        namespace, operation = etree.QName(operation_element).namespace or "", etree.QName(operation_element).localname
        service = SERVICE_NAMES.get(namespace)
        await self._record(f"{service}:{operation}" if service == "Media2" else operation, request.url.path)
        if self.silent:
            await self._closing.wait()
            return Response(status_code=503)
        if self.check_auth and operation not in PRE_AUTH and not self._authorized(envelope):
            return self._soap(NOT_AUTHORIZED, status=400)
        if operation in self.refuse:
            return self._soap(sender_fault(self.refuse[operation]), status=400)
        if operation == "PullMessages":
            return await self._pull_messages(operation_element)
        captured = None if operation in self.missing else self._captured(namespace, operation)
        if captured is None:
            return self._soap(self._not_supported(operation), status=500)
        content = self._rewritten(captured.read_bytes())
        if operation == "GetSystemDateAndTime":
            content = self._clock_now(content)
        elif operation == "CreatePullPointSubscription":
            content = self._subscription_times(content, operation_element)
        if operation in self.broken:
            content = content[: len(content) * 3 // 5]  # the answer breaks off mid-way
        return self._soap(content)

    async def _record(self, operation: str, path: str) -> None:
        async with self._seen:
            self.requests.append(Received(operation, path))
            self._seen.notify_all()

    def _soap(self, content: bytes, status: int = 200) -> Response:
        return Response(content, status_code=status, media_type="application/soap+xml; charset=utf-8")

    # -------------------------------------------------------------------------- answers

    def _captured(self, namespace: str, operation: str) -> Path | None:
        for directory in self.directories:
            for prefix in PREFIXES.get(namespace, ("",)):
                path = directory / f"{prefix}{operation}.xml"
                if path.is_file():
                    return path
        return None

    def _not_supported(self, operation: str) -> bytes:
        for directory in self.directories:
            fault = directory / "Device-Fault.xml"
            if fault.is_file():
                content = fault.read_bytes()
                if b"ActionNotSupported" in content:
                    return content
                if b"not implemented" in content:
                    return re.sub(rb"Method '\w+'", f"Method '{operation}'".encode(), content)
        return ACTION_NOT_SUPPORTED

    def _rewritten(self, content: bytes) -> bytes:
        def here(match: re.Match[bytes]) -> bytes:
            if match[1] == b"rtsp":
                return b"rtsp://" + self.host.encode() + (match[3] or b"")
            return f"http://{self.host}:{self.port}".encode()

        return CAPTURED_URL.sub(here, content)

    def now(self) -> dt.datetime:
        """The fake camera's clock."""
        return dt.datetime.now(dt.UTC) + self.clock_shift

    def _clock_now(self, content: bytes) -> bytes:
        root = etree.fromstring(content, PARSER)
        utc = root.find(f".//{{{TT}}}UTCDateTime")
        captured = _read_date_time(utc) if utc is not None else None
        if captured is None:
            return content
        delta = self.now().replace(microsecond=0, tzinfo=None) - captured
        for moment in (utc, root.find(f".//{{{TT}}}LocalDateTime")):
            if moment is not None:
                _write_date_time(moment, _read_date_time(moment) + delta)
        result: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
        return result

    def _subscription_times(self, content: bytes, request: etree._Element) -> bytes:
        asked = request.findtext("{http://www.onvif.org/ver10/events/wsdl}InitialTerminationTime") or "PT60S"
        match = re.fullmatch(r"PT(\d+)S", asked.strip())
        life = dt.timedelta(seconds=int(match[1]) if match else 60)
        now = self.now().replace(microsecond=0)
        root = etree.fromstring(content, PARSER)
        for name, moment in (("CurrentTime", now), ("TerminationTime", now + life)):
            element = root.find(f".//{{http://www.onvif.org/ver10/events/wsdl}}{name}")
            if element is not None:
                element.text = moment.isoformat().replace("+00:00", "Z")
        result: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
        return result

    async def _pull_messages(self, request: etree._Element) -> Response:
        if self.pull_messages:
            return self._soap(self._rewritten(self.pull_messages.pop(0)))
        asked = request.findtext("{http://www.onvif.org/ver10/events/wsdl}Timeout") or "PT1S"
        match = re.fullmatch(r"PT(\d+)S", asked.strip())
        hold = min(float(match[1]) if match else 1.0, self.hold_pulls)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), hold)
        captured = self._captured("http://www.onvif.org/ver10/events/wsdl", "PullMessages")
        if captured is None:
            return self._soap(self._not_supported("PullMessages"), status=500)
        root = etree.fromstring(captured.read_bytes(), PARSER)
        for message in root.findall(f".//{{{WSNT}}}NotificationMessage"):
            message.getparent().remove(message)
        return self._soap(etree.tostring(root, xml_declaration=True, encoding="utf-8"))

    # -------------------------------------------------------------------------- authentication

    def _authorized(self, envelope: etree._Element) -> bool:
        token = envelope.find(f".//{{{WSSE}}}UsernameToken")
        if token is None:
            return False
        username = token.findtext(f"{{{WSSE}}}Username")
        password = token.find(f"{{{WSSE}}}Password")
        nonce = token.findtext(f"{{{WSSE}}}Nonce")
        created = token.findtext(f"{{{WSU}}}Created")
        if username != self.username or password is None or password.text is None:
            return False
        if not password.get("Type", "").endswith("#PasswordDigest"):
            return password.text == self.password
        if nonce is None or created is None:
            return False
        try:
            moment = dt.datetime.fromisoformat(created.strip())
        except ValueError:
            return False
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        if abs(moment - self.now()) > CREATED_WINDOW:
            return False
        expected = hashlib.sha1(base64.b64decode(nonce) + created.encode() + self.password.encode()).digest()
        return secrets.compare_digest(base64.b64encode(expected).decode(), password.text.strip())

    def _snapshot(self, request: Request) -> Response:
        authorization = request.headers.get("Authorization", "")
        if self.snapshot_auth == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if authorization != f"Basic {expected}":
                return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="onvif-replay"'})
        elif self.snapshot_auth == "digest" and not self._digest_ok(request, authorization):
            challenge = f'Digest realm="onvif-replay", nonce="{self._digest_nonce}", qop="auth", algorithm=MD5'
            return Response(status_code=401, headers={"WWW-Authenticate": challenge})
        return Response(jpeg(), media_type="image/jpeg")

    def _digest_ok(self, request: Request, authorization: str) -> bool:
        if not authorization.startswith("Digest "):
            return False
        fields = _digest_fields(authorization.removeprefix("Digest "))
        if fields.get("username") != self.username or fields.get("nonce") != self._digest_nonce:
            return False
        uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if fields.get("uri") != uri:
            return False
        realm = fields.get("realm", "")
        ha1 = _md5(f"{self.username}:{realm}:{self.password}")
        ha2 = _md5(f"GET:{uri}")
        nc, cnonce, qop = fields.get("nc"), fields.get("cnonce"), fields.get("qop")
        expected = _md5(f"{ha1}:{self._digest_nonce}:{nc}:{cnonce}:{qop}:{ha2}")
        return secrets.compare_digest(expected, fields.get("response", ""))


def _digest_fields(header: str) -> dict[str, str]:
    return {key: quoted or bare for key, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header)}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _in_tt(path: str) -> str:
    return "/".join(f"{{{TT}}}{part}" for part in path.split("/"))


def _read_date_time(moment: etree._Element) -> dt.datetime:
    def number(path: str) -> int:
        return int(moment.findtext(_in_tt(path)) or 0)

    return dt.datetime(
        number("Date/Year"),
        number("Date/Month"),
        number("Date/Day"),
        number("Time/Hour"),
        number("Time/Minute"),
        number("Time/Second"),
    )


def _write_date_time(moment: etree._Element, value: dt.datetime) -> None:
    for path, number in (
        ("Date/Year", value.year),
        ("Date/Month", value.month),
        ("Date/Day", value.day),
        ("Time/Hour", value.hour),
        ("Time/Minute", value.minute),
        ("Time/Second", value.second),
    ):
        element = moment.find(_in_tt(path))
        if element is not None:
            element.text = str(number)


def jpeg() -> bytes:
    """A small real JPEG, as a snapshot URI would give."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (40, 90, 160)).save(buffer, format="JPEG")
    return buffer.getvalue()
