"""The ONVIF adapter: one camera's device, media, PTZ and motion events, behind small frozen dataclasses.

The SOAP library (onvif-zeep-async, on zeep and aiohttp) stays inside this package: callers get
`CameraInfo`, `Profile`, `PtzPreset`, `MotionEvent`... and `camera_control.errors` exceptions, never a
zeep object or a zeep/aiohttp/lxml exception. Every library call goes through `OnvifCamera._soap`,
which bounds it with the camera's timeout and translates what can go wrong (`faults`), and every answer
is checked to be whole XML before zeep reads it (`soap.checked_soap`: zeep's recover mode would
otherwise turn a truncated answer into a silently partial one).

Two things are not done through the library:
- Media2 (ver20) calls: the library ships no Media2 WSDL, and some cameras give stream URIs only there.
- The PullPoint event subscription: the topic of a notification is a QName whose prefix only the raw
  XML can resolve, WS-Addressing reference parameters must be echoed back, and the subscription's
  life (state, renewal, recovery) is ours to own. Both go through `soap.RawSoap`, which signs requests
  with the library's own WS-UsernameToken (so the camera-clock correction lives in one place).

Vendor quirks are handled where the data is read, each with a comment that names the vendor; the
regression tests replay captured answers from those cameras (tests/fixtures/onvif/).

Credentials: the password is sent only as a WS-UsernameToken digest, an HTTP digest (Basic only when
the camera asks for it), and inside the stream URI returned by `stream_uri()`, which is for the ingest
alone. Logs name the camera by host:port and pass URIs through `redact()`.

The modules: `camera` (OnvifCamera), `subscription` (MotionSubscription), `topics` (event topics and
their parsers), `ptz`, `clock`, `uris`, `soap` (checked answers, raw calls), `faults` (errors at the
edge), `reading` (lenient field access), `models`, `namespaces`, and `library`, which imports
onvif-zeep-async with its side effects undone and must stay the only module that imports it.
"""

from __future__ import annotations

from camera_control.onvif.camera import OnvifCamera
from camera_control.onvif.models import (
    CameraInfo,
    DeviceInfo,
    MotionEvent,
    NormalizedTopic,
    Profile,
    PtzCapabilities,
    PtzPreset,
    PtzStatus,
    Resolution,
    SubscriptionState,
)
from camera_control.onvif.subscription import MotionSubscription
from camera_control.onvif.topics import motion_events_from_pull
from camera_control.onvif.uris import redact

__all__ = [
    "CameraInfo",
    "DeviceInfo",
    "MotionEvent",
    "MotionSubscription",
    "NormalizedTopic",
    "OnvifCamera",
    "Profile",
    "PtzCapabilities",
    "PtzPreset",
    "PtzStatus",
    "Resolution",
    "SubscriptionState",
    "motion_events_from_pull",
    "redact",
]
