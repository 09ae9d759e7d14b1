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

The modules: `service` (OnvifService: the HTTP app, authentication and dispatch, start and stop), one per
ONVIF service (`device`, `media`, `ptz`, `events`) holding its operations, `notifications` (what the
motion alarm sends), `profiles` (the media profiles and fixed tokens), `auth`, `envelope` (SOAP envelope,
faults, request parsing), `xs` (xs: values) and `network`.
"""

from __future__ import annotations

from camera_control.sim.onvif.network import primary_address
from camera_control.sim.onvif.profiles import DEFAULT_STREAMS, StreamProfile
from camera_control.sim.onvif.service import FaultMode, OnvifService

__all__ = ["DEFAULT_STREAMS", "FaultMode", "OnvifService", "StreamProfile", "primary_address"]
