"""The simulated camera's state, shared by its ONVIF services and its picture: PTZ, presets, the figure, the clock.

Coordinates follow ONVIF's generic spaces: pan and tilt in [-1, 1] (positive pan turns right, positive
tilt looks up), zoom in [0, 1] (0 is widest). The scene is a panorama in normalised coordinates
[0, 1] x [0, 1] (x to the right, y down) whose real aspect ratio is PANORAMA_ASPECT; the PTZ position
picks a 16:9 window over it. A figure walks across the hall now and then; the camera "detects
motion" while the figure is inside its window, as a real camera's motion alarm would.

Thread-safe: the encoder threads read it while the ONVIF services change it.
"""

from __future__ import annotations

import dataclasses
import threading
import time

PANORAMA_ASPECT = 32 / 9  # the hall is twice as wide as one 16:9 view at zoom 0
VIEW_ASPECT = 16 / 9
WIDEST_HEIGHT = 0.75  # fraction of the panorama's height seen at zoom 0
MAX_ZOOM_FACTOR = 4.0  # zoom 1 narrows the window to a quarter of its widest size
FULL_SPEED = 0.5  # generic units per second at velocity 1 (pan crosses its whole range in 4 s)


@dataclasses.dataclass(frozen=True, slots=True)
class PtzPosition:
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0

    def clamped(self) -> PtzPosition:
        return PtzPosition(_clamp(self.pan, -1, 1), _clamp(self.tilt, -1, 1), _clamp(self.zoom, 0, 1))


@dataclasses.dataclass(frozen=True, slots=True)
class ViewWindow:
    """The part of the panorama in view, normalised: centre and size."""

    cx: float
    cy: float
    width: float
    height: float

    def contains(self, x: float, y: float) -> bool:
        return abs(x - self.cx) <= self.width / 2 and abs(y - self.cy) <= self.height / 2


def view_window(position: PtzPosition) -> ViewWindow:
    height = WIDEST_HEIGHT / (1 + position.zoom * (MAX_ZOOM_FACTOR - 1))
    width = height * VIEW_ASPECT / PANORAMA_ASPECT
    cx = width / 2 + (position.pan + 1) / 2 * (1 - width)
    cy = height / 2 + (1 - position.tilt) / 2 * (1 - height)
    return ViewWindow(cx, cy, width, height)


@dataclasses.dataclass(slots=True)
class Preset:
    token: str
    name: str
    position: PtzPosition


@dataclasses.dataclass(frozen=True, slots=True)
class FigureCrossing:
    """A figure walking across the hall, left to right, at desk height."""

    started: float  # time.time()
    duration: float

    def position(self, now: float) -> tuple[float, float] | None:
        progress = (now - self.started) / self.duration
        if not 0 <= progress <= 1:
            return None
        return 0.05 + 0.9 * progress, 0.62


class CameraState:
    """One simulated camera. Times are host `time.time()` seconds; `clock_offset` skews only what the
    camera reports as its own clock (GetSystemDateAndTime, event times, the clock drawn in the picture),
    as a camera whose clock was never set would."""

    def __init__(
        self,
        *,
        ptz: bool = True,
        clock_offset: float = 0.0,
        figure_every: float | None = 30.0,
        figure_duration: float = 6.0,
        name: str = "模拟摄像机",
    ) -> None:
        self.ptz = ptz
        self.clock_offset = clock_offset
        self.figure_every = figure_every
        self.figure_duration = figure_duration
        self.name = name
        self._lock = threading.Lock()
        self._position = PtzPosition()
        self._velocity = (0.0, 0.0, 0.0)
        self._moving_since = 0.0
        self._move_until: float | None = None
        self._home = PtzPosition()
        self._presets: dict[str, Preset] = {}
        self._next_preset = 1
        self._started = time.time()
        self._triggered: FigureCrossing | None = None

    # ------------------------------------------------------------------ clock

    def camera_time(self, now: float | None = None) -> float:
        """The camera's own idea of the time (UTC seconds), `clock_offset` away from the truth."""
        return (time.time() if now is None else now) + self.clock_offset

    # ------------------------------------------------------------------ PTZ

    def position(self, now: float | None = None) -> PtzPosition:
        with self._lock:
            return self._settle(time.time() if now is None else now)

    def window(self, now: float | None = None) -> ViewWindow:
        return view_window(self.position(now))

    def moving(self, now: float | None = None) -> bool:
        with self._lock:
            self._settle(time.time() if now is None else now)
            return self._velocity != (0.0, 0.0, 0.0)

    def continuous_move(self, pan: float, tilt: float, zoom: float, timeout: float | None = None) -> None:
        """Move at the given velocities (each in [-1, 1]) until stop(), or for `timeout` seconds."""
        now = time.time()
        with self._lock:
            self._settle(now)
            self._velocity = (_clamp(pan, -1, 1), _clamp(tilt, -1, 1), _clamp(zoom, -1, 1))
            self._moving_since = now
            self._move_until = now + timeout if timeout is not None else None

    def stop(self, pan_tilt: bool = True, zoom: bool = True) -> None:
        now = time.time()
        with self._lock:
            self._settle(now)
            vp, vt, vz = self._velocity
            self._velocity = (0.0 if pan_tilt else vp, 0.0 if pan_tilt else vt, 0.0 if zoom else vz)
            self._moving_since = now

    def absolute_move(self, position: PtzPosition) -> None:
        with self._lock:
            self._velocity = (0.0, 0.0, 0.0)
            self._position = position.clamped()

    def relative_move(self, pan: float, tilt: float, zoom: float) -> None:
        now = time.time()
        with self._lock:
            current = self._settle(now)
            self._velocity = (0.0, 0.0, 0.0)
            self._position = PtzPosition(current.pan + pan, current.tilt + tilt, current.zoom + zoom).clamped()

    def go_home(self) -> None:
        self.absolute_move(self._home)

    def set_home(self) -> None:
        self._home = self.position()

    # ------------------------------------------------------------------ presets

    def presets(self) -> list[Preset]:
        with self._lock:
            return list(self._presets.values())

    def set_preset(self, name: str | None = None, token: str | None = None) -> Preset:
        """Store the current position; a known token overwrites that preset. Returns the preset."""
        position = self.position()
        with self._lock:
            if token is None:
                token = str(self._next_preset)
                self._next_preset += 1
            preset = Preset(token, name or f"Preset{token}", position)
            self._presets[token] = preset
            return preset

    def goto_preset(self, token: str) -> None:
        with self._lock:
            preset = self._presets.get(token)
        if preset is None:
            raise KeyError(token)
        self.absolute_move(preset.position)

    def remove_preset(self, token: str) -> None:
        with self._lock:
            if self._presets.pop(token, None) is None:
                raise KeyError(token)

    # ------------------------------------------------------------------ the figure and motion

    def trigger_figure(self, duration: float | None = None) -> None:
        """Send a figure across the hall now (tests and the demo need not wait for the schedule)."""
        with self._lock:
            self._triggered = FigureCrossing(time.time(), duration or self.figure_duration)

    def figure(self, now: float | None = None) -> tuple[float, float] | None:
        """Where the figure is in the panorama (normalised), or None when nobody is crossing."""
        now = time.time() if now is None else now
        with self._lock:
            triggered = self._triggered
        if triggered is not None:
            spot = triggered.position(now)
            if spot is not None:
                return spot
        if self.figure_every is None:
            return None
        elapsed = now - self._started
        cycle = int(elapsed // self.figure_every)
        if cycle == 0:
            return None  # the first crossing comes one period after start
        return FigureCrossing(self._started + cycle * self.figure_every, self.figure_duration).position(now)

    def motion(self, now: float | None = None) -> bool:
        """The camera's motion alarm: the figure is in view."""
        now = time.time() if now is None else now
        spot = self.figure(now)
        return spot is not None and self.window(now).contains(*spot)

    # ------------------------------------------------------------------ internals

    def _settle(self, now: float) -> PtzPosition:
        """Advance the continuous move to `now` (caller holds the lock)."""
        if self._velocity == (0.0, 0.0, 0.0):
            return self._position
        end = now if self._move_until is None else min(now, self._move_until)
        elapsed = max(0.0, end - self._moving_since)
        vp, vt, vz = self._velocity
        step = FULL_SPEED * elapsed
        self._position = PtzPosition(
            self._position.pan + vp * step, self._position.tilt + vt * step, self._position.zoom + vz * step
        ).clamped()
        self._moving_since = end
        if self._move_until is not None and now >= self._move_until:
            self._velocity = (0.0, 0.0, 0.0)
            self._move_until = None
        return self._position


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
