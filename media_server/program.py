"""Each room's program feed: one composed picture and one mixed sound, encoded once.

The program runs only while somebody uses it (a viewer, or a consumer such as a recording). Then:
- each shown participant's video is decoded once, in its own thread (codecs.VideoDecoder), from the
  encoded frames its publication's forwarder already has;
- a video thread composes the newest pictures at the program frame rate and encodes the result once
  per codec that viewers negotiated;
- an audio thread decodes every participant's sound 20 ms at a time, mixes it, follows the active
  speaker, and encodes the mix once as Opus;
- the encoded frames go out through ordinary `TrackForwarder`s, so a thousand viewers cost what one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any
from zoneinfo import ZoneInfo

from media_server.aiortc_adapter import CodecInfo, EncodedFrame
from media_server.codecs import (
    AUDIO_RATE,
    PROGRAM_VIDEO_CODECS,
    VIDEO_CLOCK,
    AudioDecoder,
    AudioEncoder,
    VideoDecoder,
    VideoEncoder,
)
from media_server.forwarding import TrackForwarder
from media_server.frames import ActiveSpeaker, AudioMixer, Compositor, TextRenderer, layout_name, tile_count
from media_server.rooms import AUTO_LAYOUT, Participant, ProgramState, Room
from media_server.settings import ProgramSettings
from media_server.stats import MediaStats

logger = logging.getLogger(__name__)

AUTO = AUTO_LAYOUT
# Layouts whose first tile is larger than the rest: the active speaker takes it unless pinned.
MAIN_TILE_LAYOUTS = frozenset({"speaker", "pip", "1+5", "1+7"})
AUDIO_FRAME = 960  # samples per 20 ms at 48 kHz
SWITCH_GRACE = 2.0  # seconds a layout change waits for a newly shown participant's first picture


def auto_layout(count: int) -> str:
    if count <= 1:
        return "speaker"
    if count == 2:
        return "side_by_side"
    if count <= 4:
        return "2x2"
    if count <= 9:
        return "3x3"
    return "4x4"


def check_layout(layout: str) -> str:
    return AUTO if layout == AUTO else layout_name(layout)


@dataclasses.dataclass(frozen=True)
class _Tile:
    participant_id: str
    label: str
    decoder: VideoDecoder | None  # None: no video, or muted: a placeholder with the name


class ProgramSource:
    """The program of one room. Created by the MediaNode; `close()` stops its threads."""

    def __init__(
        self,
        room: Room,
        settings: ProgramSettings,
        stats: MediaStats,
        *,
        keyframe_interval: float,
        text: TextRenderer | None = None,
    ) -> None:
        self.room = room
        self.settings = settings
        self.stats = stats
        self._keyframe_interval = keyframe_interval
        self._loop = asyncio.get_running_loop()
        self.video_forwarders: dict[str, TrackForwarder] = {}
        self.audio_forwarder = TrackForwarder(
            "audio", lambda: True, stats, keyframe_interval=keyframe_interval, on_subscribers_changed=self.refresh
        )
        self.audio_forwarder.set_codec(CodecInfo("audio", "opus", AUDIO_RATE, 2, {}))
        self._encoders: dict[str, VideoEncoder] = {}
        self._video_decoders: dict[str, VideoDecoder] = {}  # participant id -> decoder
        self._audio_decoders: dict[str, AudioDecoder] = {}
        self._listeners: dict[tuple[str, str], tuple[TrackForwarder, Callable[[CodecInfo, EncodedFrame], None]]] = {}
        self._tiles: list[_Tile] = []
        self._previous_tiles: list[_Tile] = []
        self._tiles_changed_at = 0.0
        self._consumers = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._idle_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.compositor = Compositor("speaker", settings.width, settings.height, text=text)
        if settings.clock:
            self.compositor.overlays.clock_zone = ZoneInfo(settings.time_zone)
        # The threads use the compositor and the mixer; the event loop changes them under these locks.
        self._picture_lock = threading.Lock()
        self._sound_lock = threading.Lock()
        self.mixer = AudioMixer()
        self.speaker = ActiveSpeaker()
        self.active_speaker: str | None = None
        self.frames_composed = 0
        self.frames_late = 0
        self.tick_errors = 0
        room.add_listener(self._on_room_event)

    # ------------------------------------------------------------------ viewers and consumers

    def video_forwarder(self, codec_name: str) -> TrackForwarder:
        """The forwarder of the program encoded in `codec_name` (VP8 or H264), made on first use."""
        name = codec_name.upper()
        forwarder = self.video_forwarders.get(name)
        if forwarder is None:
            if name not in PROGRAM_VIDEO_CODECS:
                raise ValueError(f"the program is not encoded as {codec_name}")

            def request_keyframe(codec: str = name) -> bool:
                encoder = self._encoders.get(codec)
                if encoder is not None:
                    encoder.keyframe_requested = True
                return True

            forwarder = TrackForwarder(
                "video",
                request_keyframe,
                self.stats,
                keyframe_interval=self._keyframe_interval,
                on_subscribers_changed=self.refresh,
            )
            forwarder.set_codec(CodecInfo("video", name, VIDEO_CLOCK, None, dict(PROGRAM_VIDEO_CODECS[name])))
            self.video_forwarders[name] = forwarder
        return forwarder

    def add_consumer(self) -> None:
        """Something in this process reads the program (a recording): keep it running."""
        self._consumers += 1
        self.refresh()

    def remove_consumer(self) -> None:
        self._consumers = max(0, self._consumers - 1)
        self.refresh()

    @property
    def viewers(self) -> int:
        return sum(len(f.tracks) for f in self.video_forwarders.values()) + len(self.audio_forwarder.tracks)

    @property
    def in_use(self) -> bool:
        return not self._closed and (self._consumers > 0 or self.viewers > 0)

    @property
    def running(self) -> bool:
        return bool(self._threads)

    # ------------------------------------------------------------------ direction

    @property
    def state(self) -> ProgramState:
        return self.room.program

    def refresh(self) -> None:
        """Bring threads, decoders and tiles in line with the room, the state and the viewers."""
        if self._closed:
            return
        if not self.in_use:
            if self.running and self._idle_timer is None:
                self._idle_timer = self._loop.call_later(self.settings.idle_timeout, self._stop_if_idle)
            return
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        # One encoder per codec that somebody watches; the video thread reads the dict, so it is replaced whole.
        encoders = {name: e for name, e in self._encoders.items() if self.video_forwarders[name].tracks}
        for name, forwarder in self.video_forwarders.items():
            if forwarder.tracks and name not in encoders:
                encoders[name] = VideoEncoder(
                    name, self.settings.width, self.settings.height, self.settings.fps, self.settings.video_bitrate
                )
        self._encoders = encoders
        self._update_sources()
        overlays = self.compositor.overlays
        with self._picture_lock:
            overlays.caption = self.state.caption
            overlays.recording = self.state.recording
        if not self.running:
            self._start()

    def _stop_if_idle(self) -> None:
        self._idle_timer = None
        if not self.in_use:
            self._spawn(self._stop_all())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop_all(self) -> None:
        if self.in_use:  # a viewer came back before this task ran
            return
        self._detach_all()
        # Signalled here, on the loop: a viewer arriving while the threads wind down starts fresh ones.
        await asyncio.to_thread(self._halt())
        logger.info("%s: program stopped", self.room.id)

    def _shown(self) -> list[Participant]:
        present = self.room.participants
        if self.state.shown is not None:
            return [present[pid] for pid in self.state.shown if pid in present]
        return [p for p in present.values() if p.publications]

    def _update_sources(self) -> None:
        shown = self._shown()
        layout = self.state.layout if self.state.layout != AUTO else auto_layout(len(shown))
        if layout != self.compositor.layout:
            with self._picture_lock:
                self.compositor.set_layout(layout)
        speaker = self.active_speaker
        if layout in MAIN_TILE_LAYOUTS and self.state.shown is None and speaker is not None:
            # The active speaker takes the big tile (decoded only once they are in a tile at all).
            shown.sort(key=lambda participant: participant.id != speaker)
        shown = shown[: tile_count(layout)]
        video_wanted = {p.id: p for p in shown if "video" in p.publications and not p.video_muted}
        audio_wanted = {p.id: p for p in self.room.participants.values() if "audio" in p.publications}
        for kind, wanted in (("video", video_wanted), ("audio", audio_wanted)):
            for (listened_kind, pid), (forwarder, _) in list(self._listeners.items()):
                # Gone, hidden, or published again (a new forwarder): let go of the old one.
                if listened_kind == kind and (
                    pid not in wanted or wanted[pid].publications[kind].forwarder is not forwarder
                ):
                    self._detach(kind, pid)
        for pid, participant in video_wanted.items():
            if pid not in self._video_decoders:
                forwarder = participant.publications["video"].forwarder
                request = forwarder.keyframes.request

                def request_keyframe(request: Callable[[], None] = request) -> None:
                    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to ask
                        self._loop.call_soon_threadsafe(request)

                decoder = VideoDecoder(f"{self.room.id}/{pid}", request_keyframe)
                self._video_decoders[pid] = decoder
                self._listen("video", pid, forwarder, decoder.feed)
        # Sound is decoded even for viewers of the picture alone: it tells who is speaking. (Opus
        # decodes 20 ms in about 20 us.)
        for pid, participant in audio_wanted.items():
            if pid not in self._audio_decoders:
                audio_decoder = AudioDecoder(f"{self.room.id}/{pid}")
                with self._sound_lock:
                    self._audio_decoders = {**self._audio_decoders, pid: audio_decoder}
                self._listen("audio", pid, participant.publications["audio"].forwarder, audio_decoder.feed)
        with self._sound_lock:
            for participant in self.room.participants.values():
                self.mixer.set_muted(participant.id, participant.audio_muted)
        tiles = [_Tile(p.id, p.name, self._video_decoders.get(p.id)) for p in shown]
        if tiles != self._tiles:
            # Until a newly shown participant's first picture is decoded (a keyframe away), keep showing
            # the picture as it was rather than a placeholder.
            self._previous_tiles, self._tiles_changed_at = self._tiles, time.monotonic()
            self._tiles = tiles

    def _listen(
        self, kind: str, pid: str, forwarder: TrackForwarder, listener: Callable[[CodecInfo, EncodedFrame], None]
    ) -> None:
        forwarder.listeners.append(listener)
        self._listeners[(kind, pid)] = (forwarder, listener)

    def _detach(self, kind: str, pid: str) -> None:
        forwarder, listener = self._listeners.pop((kind, pid), (None, None))
        if forwarder is not None and listener in forwarder.listeners:
            forwarder.listeners.remove(listener)
        if kind == "video":
            decoder = self._video_decoders.pop(pid, None)
            if decoder is not None:
                decoder.close()
                self._spawn(asyncio.to_thread(decoder.join))  # its thread ends after the frame in hand
        else:
            with self._sound_lock:
                self._audio_decoders = {k: v for k, v in self._audio_decoders.items() if k != pid}
                self.speaker.remove(pid)
                self.mixer.remove(pid)

    def _detach_all(self) -> None:
        for kind, pid in list(self._listeners):
            self._detach(kind, pid)
        self._encoders = {}
        self._tiles = self._previous_tiles = []

    def _on_room_event(self, event: Any) -> None:
        if event.type == "room_closed":
            return
        if self.running or self.in_use:
            self.refresh()

    # ------------------------------------------------------------------ threads

    def _start(self) -> None:
        self._stop = stop = threading.Event()  # one per run, so stopping one run never touches the next
        self._threads = [
            threading.Thread(target=self._video_loop, args=(stop,), name=f"program-video-{self.room.id}", daemon=True),
            threading.Thread(target=self._audio_loop, args=(stop,), name=f"program-audio-{self.room.id}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        settings = self.settings
        logger.info(
            "%s: program started (%dx%d at %d fps)", self.room.id, settings.width, settings.height, settings.fps
        )

    def _halt(self) -> Callable[[], None]:
        """Tell this run's threads to stop (on the loop); returns the blocking wait, for a worker thread."""
        self._stop.set()
        threads, self._threads = self._threads, []

        def wait() -> None:
            for thread in threads:
                thread.join(timeout=5)

        return wait

    def _push(self, forwarder: TrackForwarder, frame: EncodedFrame) -> None:
        assert forwarder.codec is not None
        self._loop.call_soon_threadsafe(forwarder.push, forwarder.codec, frame)

    def _video_loop(self, stop: threading.Event) -> None:
        period = 1 / self.settings.fps
        started = time.monotonic()
        next_tick = started
        while not stop.wait(max(0.0, next_tick - time.monotonic())):
            now = time.monotonic()
            next_tick += period
            if now - next_tick > 2 * period:  # fell behind (the machine is busy): skip, do not burst
                self.frames_late += int((now - next_tick) / period)
                next_tick = now + period
            try:
                self._video_tick(int((now - started) * VIDEO_CLOCK))
            except Exception:  # a failed frame must not end the program; the next one may succeed
                self.tick_errors += 1
                if self.tick_errors == 1 or self.tick_errors % 1000 == 0:
                    logger.exception("%s: program video frame failed (%d so far)", self.room.id, self.tick_errors)

    def _video_tick(self, timestamp: int) -> None:
        tiles = self._tiles
        if time.monotonic() - self._tiles_changed_at < SWITCH_GRACE and any(
            tile.decoder is not None and tile.decoder.latest is None for tile in tiles
        ):
            tiles = self._previous_tiles or tiles
        with self._picture_lock:
            picture = self.compositor.compose(
                [tile.decoder.latest if tile.decoder is not None else None for tile in tiles],
                [tile.label for tile in tiles],
            )
        self.frames_composed += 1
        for name, encoder in self._encoders.items():
            data, keyframe = encoder.encode(picture)
            if data:
                self._push(self.video_forwarders[name], EncodedFrame(data, timestamp, keyframe))

    def _audio_loop(self, stop: threading.Event) -> None:
        encoder = AudioEncoder(self.settings.audio_bitrate)
        period = AUDIO_FRAME / AUDIO_RATE
        next_tick = time.monotonic()
        samples = 0
        while not stop.wait(max(0.0, next_tick - time.monotonic())):
            next_tick += period
            if time.monotonic() - next_tick > 5 * period:
                next_tick = time.monotonic() + period
            try:
                self._audio_tick(encoder, samples)
            except Exception:  # as above: one bad packet must not silence the room
                self.tick_errors += 1
                if self.tick_errors == 1 or self.tick_errors % 1000 == 0:
                    logger.exception("%s: program audio frame failed (%d so far)", self.room.id, self.tick_errors)
            samples += AUDIO_FRAME

    def _audio_tick(self, encoder: AudioEncoder, samples: int) -> None:
        with self._sound_lock:
            pulled = {pid: decoder.pull() for pid, decoder in self._audio_decoders.items()}
            mixed = self.mixer.mix_frames(pulled, samples)
            speaker = self.speaker.update(self.mixer.levels(), int(time.monotonic() * 1000))
        if speaker != self.active_speaker:
            self.active_speaker = speaker
            self._loop.call_soon_threadsafe(self.refresh)  # the speaker may take the big tile
        if self.audio_forwarder.tracks:
            for data in encoder.encode(mixed):
                self._push(self.audio_forwarder, EncodedFrame(data, samples, True))

    # ------------------------------------------------------------------ life

    def info(self) -> dict[str, Any]:
        return {
            **self.state.info(),
            "layout_in_use": self.compositor.layout,
            "shown_now": [tile.participant_id for tile in self._tiles],
            "active_speaker": self.active_speaker,
            "running": self.running,
            "viewers": self.viewers,
            "width": self.settings.width,
            "height": self.settings.height,
            "fps": self.settings.fps,
        }

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self.room.remove_listener(self._on_room_event)
        self._detach_all()
        await asyncio.to_thread(self._halt())
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for forwarder in [*self.video_forwarders.values(), self.audio_forwarder]:
            forwarder.end()
