"""The PullPoint subscription to a camera's motion events, and its life: subscribe, pull, renew, recover."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Final

from lxml import etree
from lxml.builder import ElementMaker

from camera_control.errors import CameraError, CameraOperationFailed, CameraProtocolError
from camera_control.onvif.clock import parse_xs_datetime, utcnow, xs_duration
from camera_control.onvif.models import MotionEvent, SubscriptionState
from camera_control.onvif.namespaces import NS_EVENTS, NS_WSNT
from camera_control.onvif.reading import child, child_text, mended_address
from camera_control.onvif.topics import parse_motion_events, read_notifications

if TYPE_CHECKING:
    from camera_control.onvif.camera import OnvifCamera

logger = logging.getLogger(__name__)

_E_TEV = ElementMaker(namespace=NS_EVENTS, nsmap={"tev": NS_EVENTS})
_E_WSNT = ElementMaker(namespace=NS_WSNT, nsmap={"wsnt": NS_WSNT})

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
            action=f"{NS_EVENTS}/EventPortType/CreatePullPointSubscriptionRequest",
        )
        reference = child(answer, "SubscriptionReference")
        address = child_text(reference, "Address")
        if not address:
            raise CameraProtocolError(f"camera {camera.label} gave no subscription address", host=camera.label)
        parameters = child(reference, "ReferenceParameters")
        pullpoint = _PullPoint(
            # A relative address is resolved against the event service; doubled ports are mended.
            address=mended_address(urllib.parse.urljoin(events_address, address)),
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
        body = _E_TEV.PullMessages(_E_TEV.Timeout(xs_duration(wait)), _E_TEV.MessageLimit("100"))
        answer = await camera._raw.call(
            pullpoint.address,
            body,
            what="PullMessages",
            action=f"{NS_EVENTS}/PullPointSubscription/PullMessagesRequest",
            reference_parameters=pullpoint.reference_parameters,
            timeout=wait + camera.timeout,
        )
        notifications = read_notifications(answer, camera.clock_offset, utcnow())
        return parse_motion_events(notifications, label=camera.label, ignored=self._ignored_topics)

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
            return xs_duration(self._subscription_time)
        moment = utcnow() + dt.timedelta(seconds=self._subscription_time + self._camera.clock_offset)
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")

    def _renew_at(self, answer: etree._Element) -> float:
        current = parse_xs_datetime(child_text(answer, "CurrentTime"))
        termination = parse_xs_datetime(child_text(answer, "TerminationTime"))
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
