"""The event service: PullPoint subscriptions that hear the camera's motion alarm rise and fall."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from camera_control.sim.onvif.envelope import TEV, WSNT, Call, Handler, SoapFault, invalid, not_supported
from camera_control.sim.onvif.notifications import EVENT_PROPERTIES, motion_notifications
from camera_control.sim.onvif.xs import parse_datetime, parse_duration, xs_datetime

if TYPE_CHECKING:
    from camera_control.sim.onvif.service import OnvifService

logger = logging.getLogger(__name__)

PULLPOINT_QUEUE = 200  # notifications a pull point keeps for a client that stopped pulling
MAX_PULL_TIMEOUT = 60.0
DEFAULT_SUBSCRIPTION = 60.0  # Hikvision grants one minute when InitialTerminationTime is absent
MAX_SUBSCRIPTION = 3600.0
MOTION_POLL = 0.1

# wsa:Action of event answers, as the Hikvision captures carry them in the header.
EVENT_ACTIONS = {
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
# GetServiceCapabilities' answer (uniview-platform-ptz/GetServices.xml).
EVENT_CAPABILITIES = (
    '<tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true"'
    ' WSPausableSubscriptionManagerInterfaceSupport="false" MaxNotificationProducers="0" MaxPullPoints="10"'
    ' PersistentNotificationStorage="false"/>'
)


@dataclasses.dataclass(slots=True)
class PullPoint:
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


class EventService:
    """The event endpoint's operations, and the pull points' own endpoint."""

    def __init__(self, camera: OnvifService) -> None:
        self._camera = camera
        self.pullpoints: dict[str, PullPoint] = {}
        self._motion_watch: asyncio.Task[None] | None = None

    async def close(self) -> None:
        """Close every pull point (their pending PullMessages return) and stop watching the motion alarm."""
        for pullpoint in self.pullpoints.values():
            pullpoint.close()
        self.pullpoints.clear()
        if self._motion_watch is not None:
            self._motion_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._motion_watch
            self._motion_watch = None

    def operations(self) -> dict[tuple[str, str], Handler]:
        operations: dict[str, Handler] = {
            "GetServiceCapabilities": self._get_event_service_capabilities,
            "GetEventProperties": self._get_event_properties,
            "CreatePullPointSubscription": self._create_pull_point_subscription,
        }
        return {(TEV, name): self._needs_events(handler) for name, handler in operations.items()}

    def pullpoint_operations(self) -> dict[tuple[str, str], Handler]:
        return {
            (TEV, "PullMessages"): self._needs_events(self._pull_messages),
            (TEV, "SetSynchronizationPoint"): self._needs_events(self._set_synchronization_point),
            (WSNT, "Renew"): self._needs_events(self._renew),
            (WSNT, "Unsubscribe"): self._needs_events(self._unsubscribe),
        }

    def _needs_events(self, handler: Handler) -> Handler:
        async def guarded(call: Call) -> str:
            if not self._camera.events_supported:
                raise not_supported()
            return await handler(call)

        return guarded

    async def _get_event_service_capabilities(self, call: Call) -> str:
        return f"<tev:GetServiceCapabilitiesResponse>{EVENT_CAPABILITIES}</tev:GetServiceCapabilitiesResponse>"

    async def _get_event_properties(self, call: Call) -> str:
        return EVENT_PROPERTIES

    async def _create_pull_point_subscription(self, call: Call) -> str:
        now = time.time()
        camera_now = self._camera.state.camera_time(now)
        lifetime = self._lifetime(call.text("tev:InitialTerminationTime"), camera_now, DEFAULT_SUBSCRIPTION)
        pullpoint = PullPoint(secrets.token_hex(8), now + lifetime, self._camera.state.motion(now))
        # A new subscriber first hears the current state of every property as "Initialized"
        # (hikvision/PullMessages.xml).
        pullpoint.push(motion_notifications(pullpoint.motion, "Initialized", camera_now))
        self.pullpoints[pullpoint.pullpoint_id] = pullpoint
        if self._motion_watch is None or self._motion_watch.done():
            self._motion_watch = asyncio.create_task(self._watch_motion(), name=f"onvif-sim-motion:{self._camera.port}")
        logger.debug("%s: pull point %s for %.0f s", self._camera.state.name, pullpoint.pullpoint_id, lifetime)
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
            raise SoapFault(
                "The termination time is not valid", "ter:InvalidArgVal", "ter:InvalidTerminationTime"
            ) from None
        if seconds <= 0:
            raise SoapFault("The termination time is in the past", "ter:InvalidArgVal", "ter:InvalidTerminationTime")
        return min(seconds, MAX_SUBSCRIPTION)

    def _pullpoint(self, call: Call) -> PullPoint:
        pullpoint = self.pullpoints.get(call.pullpoint_id or "")
        if pullpoint is None or pullpoint.termination < time.time():
            # Hikvision answers an unknown or expired pull point with wsrf-r:ResourceUnknownFault (spupuz/VibeNVR#290).
            raise SoapFault(
                "The subscription is unknown or has expired",
                "wsrf-r:ResourceUnknownFault",
                detail=(
                    "<wsrf-r:ResourceUnknownFault>"
                    f"<wsrf-bf:Timestamp>{xs_datetime(self._camera.state.camera_time())}</wsrf-bf:Timestamp>"
                    "</wsrf-r:ResourceUnknownFault>"
                ),
            )
        return pullpoint

    async def _pull_messages(self, call: Call) -> str:
        pullpoint = self._pullpoint(call)
        try:
            timeout = min(parse_duration(call.required("tev:Timeout")), MAX_PULL_TIMEOUT)
            limit = int(call.required("tev:MessageLimit"))
        except ValueError:
            raise invalid("Timeout or MessageLimit is not valid") from None
        if not pullpoint.messages and not pullpoint.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pullpoint.arrived.wait(), timeout)
        notifications = pullpoint.take(max(limit, 0))
        camera_now = self._camera.state.camera_time()
        termination = self._camera.state.camera_time(pullpoint.termination)
        return (
            f"<tev:PullMessagesResponse><tev:CurrentTime>{xs_datetime(camera_now)}</tev:CurrentTime>"
            f"<tev:TerminationTime>{xs_datetime(termination)}</tev:TerminationTime>"
            f"{''.join(notifications)}</tev:PullMessagesResponse>"
        )

    async def _set_synchronization_point(self, call: Call) -> str:
        pullpoint = self._pullpoint(call)
        now = time.time()
        pullpoint.motion = self._camera.state.motion(now)
        pullpoint.push(motion_notifications(pullpoint.motion, "Initialized", self._camera.state.camera_time(now)))
        return "<tev:SetSynchronizationPointResponse/>"

    async def _renew(self, call: Call) -> str:
        pullpoint = self._pullpoint(call)
        now = time.time()
        camera_now = self._camera.state.camera_time(now)
        lifetime = self._lifetime(call.text("wsnt:TerminationTime"), camera_now, DEFAULT_SUBSCRIPTION)
        pullpoint.termination = now + lifetime
        return (
            f"<wsnt:RenewResponse><wsnt:TerminationTime>{xs_datetime(camera_now + lifetime)}</wsnt:TerminationTime>"
            f"<wsnt:CurrentTime>{xs_datetime(camera_now)}</wsnt:CurrentTime></wsnt:RenewResponse>"
        )

    async def _unsubscribe(self, call: Call) -> str:
        pullpoint = self._pullpoint(call)
        self.pullpoints.pop(pullpoint.pullpoint_id, None)
        pullpoint.close()
        return "<wsnt:UnsubscribeResponse/>"

    async def _watch_motion(self) -> None:
        """Tell every pull point when the motion alarm changes; ends when no pull point is left."""
        while self.pullpoints:
            now = time.time()
            for pullpoint_id, pullpoint in list(self.pullpoints.items()):
                if pullpoint.termination < now:
                    logger.debug("%s: pull point %s expired", self._camera.state.name, pullpoint_id)
                    del self.pullpoints[pullpoint_id]
                    pullpoint.close()
            motion = self._camera.state.motion(now)
            for pullpoint in self.pullpoints.values():
                if pullpoint.motion != motion:
                    pullpoint.motion = motion
                    pullpoint.push(motion_notifications(motion, "Changed", self._camera.state.camera_time(now)))
            await asyncio.sleep(MOTION_POLL)
