"""The media node: rooms, and the peer connections that publish into them and subscribe from them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from media_server import aiortc_adapter, sdp
from media_server.aiortc_adapter import CodecInfo, EncodedFrameTap
from media_server.codecs import PROGRAM_VIDEO_CODECS, VIDEO_CLOCK
from media_server.errors import (
    CodecMismatch,
    FeedNotFound,
    InvalidProgram,
    NegotiationFailed,
    NotAdmitted,
    NothingToSubscribe,
    ParticipantNotFound,
    ProgramNotAvailable,
    RoomClosed,
    RoomFull,
    RoomNotFound,
    SessionLimit,
    SessionNotFound,
)
from media_server.feeds import FEED_H264, Feed
from media_server.forwarding import TrackForwarder
from media_server.frames import FontNotFound, TextRenderer
from media_server.program import ProgramSource, check_layout
from media_server.renditions import RENDITION_VP8
from media_server.rooms import Participant, Publication, Room, RoomEvent, Subscription, new_id
from media_server.settings import MediaSettings
from media_server.stats import MediaStats

logger = logging.getLogger(__name__)

SessionPurpose = Literal["publish", "subscribe", "program", "watch"]


class Unset:
    """Marks an argument left out, where None is a value (show everyone, no caption)."""


UNSET = Unset()


@dataclasses.dataclass(eq=False)
class PeerSession:
    """One peer connection: a participant publishing or subscribing in a room, or a viewer watching a feed."""

    id: str
    purpose: SessionPurpose
    participant: Participant | None  # None when watching a feed
    pc: RTCPeerConnection
    answer_sdp: str = ""
    source: Participant | None = None  # for subscriptions: whose media (None: the room's program)
    taps: list[EncodedFrameTap] = dataclasses.field(default_factory=list)
    closed: bool = False
    connect_deadline: asyncio.TimerHandle | None = None
    owner: str | None = None  # who may end it besides the room's hosts (the web edge's token id)
    feed: Feed | None = None  # for watching: the feed
    viewer: str = ""  # for watching: who watches (for the log)
    on_closed: Callable[[], None] | None = None  # told once when the session ends, however it ends

    @property
    def scope(self) -> str:
        """The room or the feed this session belongs to."""
        if self.participant is not None:
            return self.participant.room.id
        return self.feed.id if self.feed is not None else "-"


class MediaNode:
    """Owns rooms and peer sessions. One per process; `close()` releases every socket and task."""

    def __init__(self, settings: MediaSettings) -> None:
        self.settings = settings
        self.stats = MediaStats()
        self.rooms: dict[str, Room] = {}
        self.sessions: dict[str, PeerSession] = {}
        self.programs: dict[str, ProgramSource] = {}
        self.feeds: dict[str, Feed] = {}
        self._text: TextRenderer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        aiortc_adapter.check_internals()
        aiortc_adapter.configure_ice(
            interfaces=settings.interfaces,
            port_range=settings.port_range,
            advertised_addresses=settings.advertised_addresses,
            consent_interval=settings.ice_consent_interval,
            consent_failures=settings.ice_consent_failures,
        )

    # ------------------------------------------------------------------ rooms and participants

    def open_room(self, room_id: str, *, opened_by: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            room = Room(room_id, opened_by=opened_by, max_participants=self.settings.max_participants_per_room)
            self.rooms[room_id] = room
            logger.info("%s: room opened by %s", room_id, opened_by)
        return room

    def room(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            raise RoomNotFound(f"room {room_id} does not exist")
        return room

    async def close_room(self, room_id: str) -> None:
        room = self.room(room_id)
        room.closed = True
        for participant in list(room.participants.values()):
            await self.leave(participant)
        program = self.programs.pop(room_id, None)
        if program is not None:
            await program.close()
        room.emit(RoomEvent("room_closed", room_id))
        self.rooms.pop(room_id, None)
        logger.info("%s: room closed", room_id)

    def join(
        self,
        room_id: str,
        *,
        name: str,
        role: str,
        may_open: bool,
        transient: bool = False,
        waiting: bool = False,
        attributes: dict[str, str] | None = None,
    ) -> Participant:
        """Join a room; a `waiting` participant stays in its waiting room until `admit`."""
        room = self.rooms.get(room_id)
        if room is None:
            if not may_open:
                raise RoomNotFound(f"room {room_id} is not open")
            room = self.open_room(room_id, opened_by=name)
        if room.closed:
            raise RoomClosed(f"room {room_id} is closed")
        if len(room.participants) >= room.max_participants:
            raise RoomFull(f"room {room_id} is full ({room.max_participants} participants)")
        participant = Participant(
            new_id("PA"),
            room,
            name=name,
            role=role,
            transient=transient,
            waiting=waiting,
            attributes=dict(attributes or {}),
        )
        room.participants[participant.id] = participant
        room.emit(RoomEvent("participant_joined", room_id, participant=participant.info()))
        logger.info("%s: participant %s joined as %s%s", room_id, participant.id, role, " (waiting)" if waiting else "")
        return participant

    def admit(self, participant: Participant) -> None:
        """Let a waiting participant in: from now on they may publish and subscribe."""
        if not participant.waiting:
            return
        participant.waiting = False
        participant.room.emit(RoomEvent("participant_updated", participant.room.id, participant=participant.info()))
        logger.info("%s: participant %s admitted", participant.room.id, participant.id)

    async def remove(self, participant: Participant) -> None:
        """Take a participant out of the room; their own connection hears `participant_removed` first."""
        if participant.id not in participant.room.participants:
            return
        participant.room.emit(RoomEvent("participant_removed", participant.room.id, participant=participant.info()))
        await self.leave(participant)

    def participant(self, room_id: str, participant_id: str) -> Participant:
        participant = self.room(room_id).participants.get(participant_id)
        if participant is None:
            raise ParticipantNotFound(f"participant {participant_id} is not in room {room_id}")
        return participant

    async def leave(self, participant: Participant) -> None:
        room = participant.room
        if room.participants.pop(participant.id, None) is None:
            return
        for session in [s for s in self.sessions.values() if s.participant is participant]:
            await self._close_session(session, leave_if_transient=False)
        room.emit(RoomEvent("participant_left", room.id, participant=participant.info()))
        logger.info("%s: participant %s left", room.id, participant.id)

    def set_muted(self, participant: Participant, *, audio: bool | None, video: bool | None) -> None:
        before = (participant.audio_muted, participant.video_muted)
        if audio is not None:
            participant.audio_muted = audio
        if video is not None:
            participant.video_muted = video
        if (participant.audio_muted, participant.video_muted) == before:
            return  # nothing to tell anyone
        participant.room.emit(RoomEvent("participant_updated", participant.room.id, participant=participant.info()))

    # ------------------------------------------------------------------ publishing

    async def publish(self, participant: Participant, offer_sdp: str) -> PeerSession:
        """Answer a publisher's offer; its tracks become publications forwarded to subscribers."""
        _check_admitted(participant)
        offer = sdp.check_offer(offer_sdp, "publish", max_bytes=self.settings.max_sdp_bytes)
        if participant.publications:
            raise NegotiationFailed(f"participant {participant.id} already publishes; end that session first")
        self._check_session_limit(participant)
        plan = []
        codecs: dict[str, CodecInfo] = {}
        for media in offer.media:
            # check_offer made sure every section has a codec we forward
            preferences = sdp.publish_preferences(media.codecs, media.kind, self.settings.preferred_video_codec)
            capability = preferences[0]
            kind, name = capability.mimeType.split("/", 1)
            codecs[kind] = CodecInfo(kind, name, capability.clockRate, capability.channels, dict(capability.parameters))
            plan.append((media.kind, preferences))
        pc = self._new_pc()
        session = PeerSession(new_id("PS"), "publish", participant, pc)
        for kind, preferences in plan:
            pc.addTransceiver(kind, direction="recvonly").setCodecPreferences(preferences)

        @pc.on("track")
        def on_track(track: object) -> None:
            transceiver = _transceiver_of(pc, track)
            self._add_publication(session, transceiver, codecs[transceiver.kind])

        await self._negotiate(session, offer.sdp)
        logger.info(
            "%s: participant %s publishes %s",
            participant.room.id,
            participant.id,
            ", ".join(p.forwarder.codec.name for p in participant.publications.values() if p.forwarder.codec),
        )
        return session

    def _add_publication(self, session: PeerSession, transceiver: RTCRtpTransceiver, codec: CodecInfo) -> None:
        participant = session.participant
        assert participant is not None  # a publishing session belongs to a participant
        tap: EncodedFrameTap | None = None

        def request_keyframe() -> bool:
            return tap.request_keyframe() if tap is not None else False

        forwarder = TrackForwarder(
            transceiver.kind,
            request_keyframe,
            self.stats,
            keyframe_interval=self.settings.keyframe_request_interval,
        )
        forwarder.set_codec(codec)
        tap = EncodedFrameTap(transceiver.receiver, forwarder.push, forwarder.end)
        session.taps.append(tap)
        publication = Publication(new_id("TR"), participant, transceiver.kind, forwarder)
        participant.publications[transceiver.kind] = publication
        participant.room.emit(
            RoomEvent(
                "track_published", participant.room.id, participant=participant.info(), publication=publication.info()
            )
        )

    # ------------------------------------------------------------------ subscribing

    async def subscribe(self, subscriber: Participant, source_id: str, offer_sdp: str) -> PeerSession:
        """Answer a subscriber's offer with the source participant's media, forwarded as encoded."""
        _check_admitted(subscriber)
        offer = sdp.check_offer(offer_sdp, "subscribe", max_bytes=self.settings.max_sdp_bytes)
        source = self.participant(subscriber.room.id, source_id)
        if not source.publications:
            raise NothingToSubscribe(f"participant {source_id} publishes nothing yet")
        for earlier in [s for s in self.sessions.values() if s.participant is subscriber and s.source is source]:
            await self._close_session(earlier, leave_if_transient=False)  # a fresh subscription replaces it
        self._check_session_limit(subscriber)
        plan: list[tuple[str, Publication | None, list]] = []
        for media in offer.media:
            publication = source.publications.get(media.kind)
            if publication is None or publication.forwarder.codec is None:
                plan.append((media.kind, None, []))
                continue
            plan.append((media.kind, publication, sdp.subscribe_preferences(media.codecs, publication.forwarder.codec)))
        pc = self._new_pc()
        session = PeerSession(new_id("SS"), "subscribe", subscriber, pc, source=source)
        for kind, publication, preferences in plan:
            if publication is None:
                pc.addTransceiver(kind, direction="inactive")
                continue
            self._add_forwarded_track(pc, publication.forwarder, preferences)
            subscription = Subscription(new_id("SU"), subscriber, publication)
            subscriber.subscriptions[subscription.id] = subscription
        await self._negotiate(session, offer.sdp)
        logger.info("%s: participant %s subscribes to %s", subscriber.room.id, subscriber.id, source.id)
        return session

    def _add_forwarded_track(self, pc: RTCPeerConnection, forwarder: TrackForwarder, preferences: list) -> None:
        track = forwarder.subscribe()
        transceiver = pc.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences(preferences)
        aiortc_adapter.install_forwarding_sender(transceiver.sender, self.settings.subscriber_send_buffer_bytes)
        aiortc_adapter.route_keyframe_requests(transceiver.sender, forwarder.keyframes.request)

    # ------------------------------------------------------------------ the program feed

    def program(self, room_id: str) -> ProgramSource:
        """The room's program, made on first use (it runs only while somebody uses it)."""
        room = self.room(room_id)
        program = self.programs.get(room_id)
        if program is None:
            if self._text is None:
                font_path = self.settings.program.font_path
                try:
                    self._text = TextRenderer(Path(font_path) if font_path else None)
                except FontNotFound as exc:
                    raise ProgramNotAvailable(f"the program cannot draw its labels: {exc}") from None
            program = ProgramSource(
                room,
                self.settings.program,
                self.stats,
                keyframe_interval=self.settings.keyframe_request_interval,
                text=self._text,
            )
            self.programs[room_id] = program
        return program

    async def subscribe_program(self, subscriber: Participant, offer_sdp: str) -> PeerSession:
        """Answer a viewer's offer with the room's program: the composed picture and the mixed sound."""
        _check_admitted(subscriber)
        offer = sdp.check_offer(offer_sdp, "subscribe", max_bytes=self.settings.max_sdp_bytes)
        room = subscriber.room
        for earlier in [s for s in self.sessions.values() if s.participant is subscriber and s.purpose == "program"]:
            await self._close_session(earlier, leave_if_transient=False)
        self._check_session_limit(subscriber)
        program = self.program(room.id)
        plan: list[tuple[str, TrackForwarder | None, list]] = []
        for media in offer.media:
            if media.kind == "audio":
                audio = program.audio_forwarder
                assert audio.codec is not None
                plan.append(("audio", audio, sdp.subscribe_preferences(media.codecs, audio.codec)))
            else:
                name, preferences = self._program_video_codec(media.codecs)
                plan.append(("video", program.video_forwarder(name), preferences))
        pc = self._new_pc()
        session = PeerSession(new_id("SS"), "program", subscriber, pc)
        for _kind, forwarder, preferences in plan:
            assert forwarder is not None
            self._add_forwarded_track(pc, forwarder, preferences)
        await self._negotiate(session, offer.sdp)
        logger.info("%s: participant %s watches the program", room.id, subscriber.id)
        return session

    def _program_video_codec(self, offered: list) -> tuple[str, list]:
        preferred = self.settings.program.video_codec
        names = sorted(PROGRAM_VIDEO_CODECS, key=lambda name: name != preferred)
        for name in names:
            codec = CodecInfo("video", name, VIDEO_CLOCK, None, dict(PROGRAM_VIDEO_CODECS[name]))
            try:
                return name, sdp.subscribe_preferences(offered, codec)
            except CodecMismatch:
                continue
        raise CodecMismatch("the program is sent as VP8 or H.264 (Constrained Baseline), and neither was offered")

    def direct_program(
        self,
        room_id: str,
        *,
        layout: str | None = None,
        shown: list[str] | Unset | None = UNSET,
        caption: str | Unset | None = UNSET,
    ) -> dict[str, Any]:
        """Change the program's layout, who is shown (None: everyone) or its caption; all checked first."""
        room = self.room(room_id)
        state = room.program
        new_layout = check_layout(layout) if layout is not None else state.layout
        if not isinstance(shown, Unset) and shown is not None:
            missing = [pid for pid in shown if pid not in room.participants]
            if missing:
                raise ParticipantNotFound(f"not in room {room_id}: {', '.join(missing)}")
            if len(set(shown)) != len(shown):
                raise InvalidProgram("a participant may be shown only once")
        state.layout = new_layout
        if not isinstance(shown, Unset):
            state.shown = list(shown) if shown is not None else None
        if not isinstance(caption, Unset):
            state.caption = caption or None
        self._program_changed(room)
        return self.program_info(room_id)

    def set_recording(self, room_id: str, recording: bool) -> None:
        room = self.room(room_id)
        if room.program.recording != recording:
            room.program.recording = recording
            self._program_changed(room)

    def program_info(self, room_id: str) -> dict[str, Any]:
        room = self.room(room_id)
        program = self.programs.get(room_id)
        return program.info() if program is not None else {**room.program.info(), "running": False, "viewers": 0}

    def _program_changed(self, room: Room) -> None:
        program = self.programs.get(room.id)
        if program is not None:
            program.refresh()
        room.emit(RoomEvent("program_updated", room.id, program=self.program_info(room.id)))

    # ------------------------------------------------------------------ feeds

    def add_feed(
        self,
        feed_id: str,
        *,
        codec: CodecInfo = FEED_H264,
        request_keyframe: Callable[[], bool] | None = None,
        on_viewers_changed: Callable[[int], None] | None = None,
    ) -> Feed:
        """A source from outside WebRTC (a camera stream) that viewers watch over WHEP."""
        if feed_id in self.feeds:
            raise ValueError(f"feed {feed_id} exists already")
        feed = Feed(
            feed_id,
            self.stats,
            codec=codec,
            request_keyframe=request_keyframe,
            on_viewers_changed=on_viewers_changed,
            keyframe_interval=self.settings.keyframe_request_interval,
        )
        self.feeds[feed_id] = feed
        return feed

    def feed(self, feed_id: str) -> Feed:
        feed = self.feeds.get(feed_id)
        if feed is None:
            raise FeedNotFound(f"feed {feed_id} does not exist")
        return feed

    async def remove_feed(self, feed_id: str) -> None:
        """End the feed and every viewer's session on it."""
        feed = self.feeds.pop(feed_id, None)
        if feed is None:
            return
        for session in [s for s in self.sessions.values() if s.feed is feed]:
            await self._close_session(session, leave_if_transient=False)
        feed.end()
        for rendition in feed.renditions.values():  # their threads end at once; wait for them here
            await asyncio.to_thread(rendition.join)

    async def watch_feed(self, feed_id: str, offer_sdp: str, *, viewer: str) -> PeerSession:
        """Answer a viewer's offer with the feed's video, forwarded as it comes."""
        offer = sdp.check_offer(offer_sdp, "subscribe", max_bytes=self.settings.max_sdp_bytes)
        feed = self.feed(feed_id)
        held = sum(1 for s in self.sessions.values() if s.feed is feed)
        if held >= self.settings.max_viewers_per_feed:
            raise SessionLimit(f"feed {feed_id} already has {held} viewers")
        plan: list[tuple[str, TrackForwarder | None, list]] = []
        for media in offer.media:
            if media.kind != "video":
                plan.append((media.kind, None, []))
                continue
            try:
                plan.append(("video", feed.forwarder, sdp.subscribe_preferences(media.codecs, feed.codec)))
                continue
            except CodecMismatch as mismatch:
                if feed.codec.name.upper() == RENDITION_VP8.name:
                    raise
                refused = mismatch
            # A browser without the feed's codec (H.264): the feed re-encoded once, for all such viewers.
            try:
                preferences = sdp.subscribe_preferences(media.codecs, RENDITION_VP8)
            except CodecMismatch:
                raise refused from None
            plan.append(("video", feed.rendition(RENDITION_VP8).forwarder, preferences))
        pc = self._new_pc()
        session = PeerSession(new_id("SW"), "watch", None, pc, feed=feed, viewer=viewer)
        for kind, forwarder, preferences in plan:
            if forwarder is None:
                pc.addTransceiver(kind, direction="inactive")
            else:
                self._add_forwarded_track(pc, forwarder, preferences)
        await self._negotiate(session, offer.sdp)
        logger.info("%s: %s watches (session %s)", feed_id, viewer, session.id)
        return session

    # ------------------------------------------------------------------ sessions

    def session(self, session_id: str) -> PeerSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise SessionNotFound(f"session {session_id} does not exist")
        return session

    async def end_session(self, session_id: str) -> None:
        await self._close_session(self.session(session_id), leave_if_transient=True)

    def _check_session_limit(self, participant: Participant) -> None:
        held = sum(1 for s in self.sessions.values() if s.participant is participant)
        if held >= self.settings.max_sessions_per_participant:
            raise SessionLimit(f"participant {participant.id} already holds {held} connections")

    def _new_pc(self) -> RTCPeerConnection:
        ice_servers = []
        if self.settings.server_uses_ice_servers:
            ice_servers = [
                RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
                for s in self.settings.ice_servers
            ]
        self.stats.peer_connections += 1
        return RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))

    async def _negotiate(self, session: PeerSession, offer_sdp: str) -> None:
        pc = session.pc
        self.sessions[session.id] = session

        @pc.on("connectionstatechange")
        def on_state() -> None:
            logger.debug("%s: session %s is %s", session.scope, session.id, pc.connectionState)
            if pc.connectionState in ("failed", "closed") and not session.closed:
                self._spawn(self._close_session(session, leave_if_transient=True))

        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises ValueError, OperationError and more on a bad offer
            logger.warning("%s: session %s negotiation failed: %s", session.scope, session.id, exc)
            await self._close_session(session, leave_if_transient=True)
            raise NegotiationFailed(f"the offer could not be negotiated: {exc}") from None
        session.answer_sdp = pc.localDescription.sdp
        # A peer that never completes ICE and DTLS (gone after its POST, no route, no TURN) must not
        # hold its place in the room, its ports and its forwarded copies for ever.
        session.connect_deadline = asyncio.get_running_loop().call_later(
            self.settings.connect_timeout, self._drop_if_unconnected, session
        )

    def _drop_if_unconnected(self, session: PeerSession) -> None:
        session.connect_deadline = None
        if not session.closed and session.pc.connectionState != "connected":
            logger.info("%s: session %s did not connect in time", session.scope, session.id)
            self._spawn(self._close_session(session, leave_if_transient=True))

    async def _close_session(self, session: PeerSession, *, leave_if_transient: bool) -> None:
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        if session.connect_deadline is not None:
            session.connect_deadline.cancel()
        # Senders that never started are not stopped by pc.close(): end their forwarded copies here.
        for sender in session.pc.getSenders():
            if sender.track is not None:
                sender.track.stop()
        participant = session.participant
        if participant is None:
            await session.pc.close()
            self.stats.peer_connections -= 1
            logger.info("%s: %s stopped watching (session %s)", session.scope, session.viewer, session.id)
            if session.on_closed is not None:
                session.on_closed()
            return
        room = participant.room
        if session.purpose == "publish":
            for publication in list(participant.publications.values()):
                participant.publications.pop(publication.kind, None)
                publication.forwarder.end()
                room.emit(
                    RoomEvent(
                        "track_unpublished", room.id, participant=participant.info(), publication=publication.info()
                    )
                )
            # Subscribers of this publisher have nothing left to receive.
            for other in [s for s in self.sessions.values() if s.source is participant]:
                await self._close_session(other, leave_if_transient=True)
        else:
            for sub_id in [
                k
                for k, s in participant.subscriptions.items()
                if session.source is not None and s.publication.participant is session.source
            ]:
                participant.subscriptions.pop(sub_id, None)
        await session.pc.close()
        self.stats.peer_connections -= 1
        logger.info("%s: session %s (%s) of %s ended", room.id, session.id, session.purpose, participant.id)
        if leave_if_transient and participant.transient and participant.id in room.participants:
            await self.leave(participant)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("session clean-up failed", exc_info=task.exception())

    async def close(self) -> None:
        for room_id in list(self.rooms):
            await self.close_room(room_id)
        for feed_id in list(self.feeds):
            await self.remove_feed(feed_id)
        for session in list(self.sessions.values()):
            await self._close_session(session, leave_if_transient=False)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _check_admitted(participant: Participant) -> None:
    if participant.waiting:
        raise NotAdmitted(f"participant {participant.id} is in the waiting room: wait until you are admitted")


def _transceiver_of(pc: RTCPeerConnection, track: object) -> RTCRtpTransceiver:
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.track is track:
            return transceiver
    raise NegotiationFailed("a track arrived without its transceiver")
