"""The simulated camera's RTSP server (RFC 2326): RTP interleaved over the RTSP connection, Digest auth.

As an IP camera does: OPTIONS, DESCRIBE (SDP with the encoder's parameter sets), SETUP, PLAY,
GET_PARAMETER as keep-alive and TEARDOWN, with HTTP Digest authentication (RFC 2617, MD5) on every
request but OPTIONS. Only RTP over TCP: a SETUP asking for UDP alone gets 461 Unsupported Transport,
on which FFmpeg retries over TCP. Each path has one shared encoder (see encoder.py); each client gets
its own bounded queue of access units, and a client that falls a second behind loses frames up to the
next keyframe instead of holding the others back.

Test controls for a camera whose stream drops: `drop_clients()` and `set_available()`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import re
import secrets
import time
import urllib.parse
from email.utils import formatdate

from camera_control.sim import rtp
from camera_control.sim.encoder import StreamEncoder, StreamSpec
from camera_control.sim.scene import HallScene, shared_scene
from camera_control.sim.state import CameraState

__all__ = ["RtspServer", "StreamSpec"]

logger = logging.getLogger(__name__)

SERVER_NAME = "hall camera-sim RTSP"
METHODS = ("OPTIONS", "DESCRIBE", "SETUP", "PLAY", "PAUSE", "GET_PARAMETER", "SET_PARAMETER", "TEARDOWN")
MAX_HEADER_BYTES = 16384
MAX_BODY_BYTES = 65536
REQUEST_TIMEOUT = 10.0  # seconds for the rest of a request once its first byte came
SESSION_TIMEOUT = 60  # advertised: clients send a keep-alive within this
SENDER_REPORT_INTERVAL = 5.0
TRACK = "trackID=1"
STATUS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "RTSP Version Not Supported",
}
_REQUEST_LINE = re.compile(r"^([A-Z_]{1,32}) (\S{1,4096}) RTSP/(\d)\.(\d)$")
_AUTH_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


class _RtspError(Exception):
    """A request this server answers with an error status."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(reason or STATUS[status])
        self.status = status


@dataclasses.dataclass
class _Request:
    method: str
    uri: str
    headers: dict[str, str]  # names lower-cased

    @property
    def cseq(self) -> str | None:
        return self.headers.get("cseq")


class _DigestAuth:
    """HTTP Digest (RFC 2617, MD5, qop optional) as Hikvision and Dahua cameras do it; Basic is accepted too."""

    def __init__(self, realm: str, username: str, password: str) -> None:
        self.realm = realm
        self._username = username
        self._password = password
        self._secret = secrets.token_bytes(16)

    def challenge(self) -> str:
        """A WWW-Authenticate header with a fresh nonce (signed, so any nonce of ours is recognised later)."""
        issued = f"{int(time.time()):08x}{secrets.token_hex(4)}"
        nonce = issued + hmac.new(self._secret, issued.encode(), hashlib.sha256).hexdigest()[:16]
        return f'Digest realm="{self.realm}", nonce="{nonce}", stale="FALSE"'

    def accepts(self, method: str, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(rest.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            # `&`, not `and`: both compared every time, so timing tells nothing about which was wrong
            return self._matches(user, self._username) & self._matches(password, self._password)
        if scheme.lower() != "digest":
            return False
        params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _AUTH_PARAM.finditer(rest)}
        nonce, uri, response = params.get("nonce", ""), params.get("uri", ""), params.get("response", "")
        if not self._ours(nonce) or not uri or params.get("realm") != self.realm:
            return False
        ha1 = _md5(f"{self._username}:{self.realm}:{self._password}")
        ha2 = _md5(f"{method}:{uri}")
        if params.get("qop"):
            expected = _md5(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:{params['qop']}:{ha2}")
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        return self._matches(params.get("username", ""), self._username) & self._matches(response.lower(), expected)

    def _ours(self, nonce: str) -> bool:
        issued, signature = nonce[:16], nonce[16:]
        expected = hmac.new(self._secret, issued.encode(), hashlib.sha256).hexdigest()[:16]
        return len(nonce) == 32 and hmac.compare_digest(signature, expected)

    @staticmethod
    def _matches(given: str, expected: str) -> bool:
        return hmac.compare_digest(given.encode(), expected.encode())


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class RtspServer:
    """The camera's RTSP service. `start()` binds; `stop()` closes every client and waits for the encoders."""

    def __init__(
        self,
        state: CameraState,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        password: str | None = None,
        streams: list[StreamSpec],
        scene: HallScene | None = None,
        realm: str = "IP Camera(hall-sim)",
    ) -> None:
        if not streams:
            raise ValueError("an RTSP server needs at least one stream")
        if len({spec.path for spec in streams}) != len(streams):
            raise ValueError("stream paths must differ")
        if (username is None) != (password is None):
            raise ValueError("give both a username and a password, or neither")
        self.state = state
        self.host = host
        self._requested_port = port
        self._streams = streams
        self._scene = scene
        self._auth = _DigestAuth(realm, username, password) if username is not None and password is not None else None
        self._credentials = (username, password)
        self._encoders: dict[str, StreamEncoder] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._available = True

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the RTSP server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, path: str, with_credentials: bool = False) -> str:
        userinfo = ""
        username, password = self._credentials
        if with_credentials and username is not None and password is not None:
            userinfo = f"{urllib.parse.quote(username, safe='')}:{urllib.parse.quote(password, safe='')}@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"rtsp://{userinfo}{host}:{self.port}{path}"

    def encoder(self, path: str) -> StreamEncoder:
        return self._encoders[path]

    @property
    def clients(self) -> int:
        return len(self._connections)

    @property
    def units_dropped(self) -> int:
        """Access units the current clients lost to falling behind (each skipped to the next keyframe)."""
        return sum(c.session.units_dropped for c in self._connections if c.session is not None)

    async def start(self) -> None:
        if self._scene is None:
            self._scene = await asyncio.to_thread(shared_scene)
        self._encoders = {spec.path: StreamEncoder(spec, self.state, self._scene) for spec in self._streams}
        self._server = await asyncio.start_server(self._accept, self.host, self._requested_port, limit=MAX_HEADER_BYTES)
        logger.info("rtsp %s:%d: serving %s", self.host, self.port, ", ".join(self._encoders))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        connections = list(self._connections)
        for connection in connections:
            connection.abort()
        await asyncio.gather(*(connection.finished() for connection in connections))
        await asyncio.gather(*(encoder.close() for encoder in self._encoders.values()))
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def drop_clients(self) -> None:
        """Close every client connection abruptly, as a camera that reboots or loses its network does."""
        for connection in list(self._connections):
            connection.abort()

    def set_available(self, available: bool) -> None:
        """While unavailable, new connections are closed at once and current ones are dropped."""
        self._available = available
        if not available:
            self.drop_clients()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._available:
            writer.transport.abort()
            return
        connection = _Connection(self, reader, writer)
        self._connections.add(connection)
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)


class _Session:
    """One client's RTP stream of one path: the queue between the shared encoder and this client's socket."""

    def __init__(self, encoder: StreamEncoder, rtp_channel: int, rtcp_channel: int) -> None:
        self.id = secrets.token_hex(8).upper()
        self.encoder = encoder
        self.sender = rtp.RtpSender(rtp_channel, rtcp_channel)
        self.queue: asyncio.Queue[rtp.AccessUnit | None] = asyncio.Queue(maxsize=encoder.spec.fps)
        self.playing = False
        self.awaiting_keyframe = True
        self.units_dropped = 0

    def deliver(self, unit: rtp.AccessUnit | None) -> None:
        """Called by the encoder for each access unit, in the event loop; never blocks."""
        if unit is None:
            _clear(self.queue)
            self.queue.put_nowait(None)
            return
        if self.awaiting_keyframe and not unit.keyframe:
            return
        if self.queue.full():  # this client is a second behind: skip to the next keyframe rather than stall
            self.units_dropped += self.queue.qsize() + (0 if unit.keyframe else 1)
            _clear(self.queue)
            if not unit.keyframe:
                self.awaiting_keyframe = True
                self.encoder.request_keyframe()
                return
        self.awaiting_keyframe = False
        self.queue.put_nowait(unit)


def _clear(queue: asyncio.Queue[rtp.AccessUnit | None]) -> None:
    while not queue.empty():
        queue.get_nowait()


class _Connection:
    """One client's RTSP connection: requests in, responses and interleaved RTP out."""

    def __init__(self, server: RtspServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"
        self.session: _Session | None = None
        self._sending: asyncio.Task[None] | None = None
        self._done = asyncio.Event()

    def abort(self) -> None:
        self.writer.transport.abort()

    async def finished(self) -> None:
        await self._done.wait()

    async def serve(self) -> None:
        try:
            while True:
                request = await self._read_request()
                if request is None:
                    return
                try:
                    await self._respond(request)
                except _RtspError as error:
                    self._reply(request.cseq, error.status, body=f"{error}\r\n".encode())
                if request.method == "TEARDOWN":
                    return
        except _RtspError as error:  # the request could not even be parsed: answer and hang up
            logger.info("rtsp %s: bad request: %s", self.peer, error)
            self._reply(None, error.status)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            logger.exception("rtsp %s: connection failed", self.peer)
        finally:
            await self._close()

    async def _close(self) -> None:
        if self.session is not None and self.session.playing:
            self.session.encoder.unwatch(self.session.deliver)
        if self._sending is not None:
            self._sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sending
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
        self._done.set()

    # ------------------------------------------------------------------ reading

    async def _read_request(self) -> _Request | None:
        """The next request, skipping RTCP the client interleaves ($-framed); None when the client hung up."""
        while True:
            first = await self.reader.read(1)
            if not first:
                return None
            if first == b"$":
                header = await self.reader.readexactly(3)
                await self.reader.readexactly(int.from_bytes(header[1:3], "big"))
                continue
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    return await self._read_rest(first)
            except asyncio.LimitOverrunError as exc:
                raise _RtspError(400, "request too long") from exc
            except TimeoutError as exc:
                raise _RtspError(400, "incomplete request") from exc

    async def _read_rest(self, first: bytes) -> _Request:
        line = (first + await self.reader.readuntil(b"\n")).decode("utf-8", "replace").strip()
        match = _REQUEST_LINE.match(line)
        if match is None:
            raise _RtspError(400, "not an RTSP request line")
        method, uri, major, minor = match.groups()
        headers: dict[str, str] = {}
        size = len(line)
        while header := (await self.reader.readuntil(b"\n")).decode("utf-8", "replace").strip():
            size += len(header)
            name, colon, value = header.partition(":")
            if not colon or size > MAX_HEADER_BYTES:
                raise _RtspError(400, "malformed header")
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise _RtspError(400, "bad Content-Length")
        await self.reader.readexactly(int(length))  # bodies (SET_PARAMETER's) are read and ignored
        if (major, minor) != ("1", "0"):
            raise _RtspError(505)
        if "cseq" not in headers:
            raise _RtspError(400, "no CSeq")
        return _Request(method, uri, headers)

    # ------------------------------------------------------------------ answering

    def _reply(self, cseq: str | None, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        lines = [f"RTSP/1.0 {status} {STATUS[status]}"]
        if cseq is not None:
            lines.append(f"CSeq: {cseq}")
        lines += [f"Server: {SERVER_NAME}", f"Date: {formatdate(usegmt=True)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        if not self.writer.is_closing():
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def _respond(self, request: _Request) -> None:
        if request.method not in METHODS:
            raise _RtspError(501)
        if request.method == "OPTIONS":
            self._reply(request.cseq, 200, {"Public": ", ".join(METHODS)})
            return
        auth = self.server._auth
        if auth is not None and not auth.accepts(request.method, request.headers.get("authorization")):
            if "authorization" in request.headers:
                logger.info("rtsp %s: refused credentials for %s", self.peer, request.method)
            self._reply(request.cseq, 401, {"WWW-Authenticate": auth.challenge()})
            return
        if request.method == "DESCRIBE":
            await self._describe(request)
        elif request.method == "SETUP":
            self._setup(request)
        else:
            session = self._session_of(request)
            if request.method == "PLAY":
                self._play(request, session)
            elif request.method == "PAUSE":
                self._pause(session)
                self._reply(request.cseq, 200, {"Session": session.id})
            else:  # GET_PARAMETER and SET_PARAMETER keep the session alive; TEARDOWN ends it after this reply
                self._reply(request.cseq, 200, {"Session": session.id})

    def _encoder_of(self, uri: str) -> StreamEncoder:
        path = re.sub("/+", "/", urllib.parse.urlsplit(uri).path).rstrip("/")
        for stream_path, encoder in self.server._encoders.items():
            if path == stream_path or path == f"{stream_path}/{TRACK}":
                return encoder
        raise _RtspError(404)

    async def _describe(self, request: _Request) -> None:
        encoder = self._encoder_of(request.uri)
        spec = encoder.spec
        sets = await encoder.parameter_sets()
        session_id = secrets.randbits(48)
        encoding = "H264" if spec.codec == "h264" else "H265"
        sdp = "\r\n".join(
            [
                "v=0",
                f"o=- {session_id} 1 IN IP4 {self.server.host}",
                f"s={self.server.state.name}",
                "c=IN IP4 0.0.0.0",
                "t=0 0",
                "a=control:*",
                "a=range:npt=0-",
                f"m=video 0 RTP/AVP {rtp.PAYLOAD_TYPE}",
                f"a=rtpmap:{rtp.PAYLOAD_TYPE} {encoding}/{rtp.CLOCK_RATE}",
                f"a=fmtp:{rtp.PAYLOAD_TYPE} {rtp.fmtp(spec.codec, sets)}",
                f"a=framerate:{spec.fps}",
                f"a=control:{TRACK}",
                "",
            ]
        )
        base = request.uri.split("?", 1)[0].rstrip("/") + "/"
        self._reply(
            request.cseq, 200, {"Content-Type": "application/sdp", "Content-Base": base}, body=sdp.encode("utf-8")
        )

    def _setup(self, request: _Request) -> None:
        encoder = self._encoder_of(request.uri)
        if self.session is not None:
            if request.headers.get("session", "").split(";")[0] != self.session.id:
                raise _RtspError(459, "one stream per connection")
            raise _RtspError(455, "already set up")
        channels = _interleaved_channels(request.headers.get("transport", ""))
        if channels is None:
            raise _RtspError(461, "only RTP/AVP/TCP (interleaved) is offered")
        self.session = _Session(encoder, *channels)
        transport = (
            f"RTP/AVP/TCP;unicast;interleaved={channels[0]}-{channels[1]};ssrc={self.session.sender.ssrc:08X};mode=play"
        )
        self._reply(
            request.cseq, 200, {"Transport": transport, "Session": f"{self.session.id};timeout={SESSION_TIMEOUT}"}
        )

    def _session_of(self, request: _Request) -> _Session:
        given = request.headers.get("session", "").split(";")[0].strip()
        if self.session is None or given != self.session.id:
            raise _RtspError(454)
        return self.session

    def _play(self, request: _Request, session: _Session) -> None:
        spec = session.encoder.spec
        base = request.uri.split("?", 1)[0].rstrip("/").removesuffix(f"/{TRACK}")
        track = f"{base}/{TRACK}"
        rtp_info = f"url={track};seq={session.sender.sequence};rtptime={session.sender.timestamp(time.time())}"
        self._reply(request.cseq, 200, {"Session": session.id, "Range": "npt=0.000-", "RTP-Info": rtp_info})
        if session.playing:
            return
        session.playing = True
        session.awaiting_keyframe = True
        if self._sending is None:
            self._sending = asyncio.create_task(self._send(session), name=f"rtsp-send {self.peer}")
        session.encoder.watch(session.deliver)
        logger.info("rtsp %s: playing %s", self.peer, spec.path)

    def _pause(self, session: _Session) -> None:
        if session.playing:
            session.playing = False
            session.encoder.unwatch(session.deliver)
            _clear(session.queue)

    async def _send(self, session: _Session) -> None:
        """Write the session's access units as they come; the end of the stream hangs up."""
        last_report = 0.0
        while (unit := await session.queue.get()) is not None:
            if self.writer.is_closing():
                break
            data = session.sender.packets(unit)
            if time.monotonic() - last_report > SENDER_REPORT_INTERVAL:
                # the camera's own clock, skew and all, as a camera's RTCP reports it
                data += session.sender.sender_report(
                    unit.capture_time, self.server.state.camera_time(unit.capture_time)
                )
                last_report = time.monotonic()
            self.writer.write(data)
            try:
                await self.writer.drain()
            except ConnectionError:
                break
        self.abort()


def _interleaved_channels(transport: str) -> tuple[int, int] | None:
    """The channels of the first TCP option in a Transport header (a client may list several)."""
    for option in transport.split(","):
        fields = [field.strip() for field in option.split(";")]
        if not fields[0].upper().startswith("RTP/AVP/TCP"):
            continue
        for field in fields[1:]:
            name, _, value = field.partition("=")
            if name.lower() == "interleaved":
                low, _, high = value.partition("-")
                if low.isdigit() and int(low) < 255 and (not high or (high.isdigit() and int(high) < 256)):
                    return int(low), int(high) if high else int(low) + 1
                return None
        return 0, 1
    return None
