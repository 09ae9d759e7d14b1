"""Event topics: a registry of parsers from a camera's notifications to `MotionEvent`s.

Each vendor's topic gets its parser here, with a comment naming the vendor; the regression tests
replay captured PullMessages answers (tests/fixtures/onvif/).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from lxml import etree

from camera_control.onvif.clock import parse_xs_datetime, utcnow
from camera_control.onvif.models import MotionEvent, NormalizedTopic
from camera_control.onvif.namespaces import NS_WSNT
from camera_control.onvif.reading import child, local_name
from camera_control.onvif.soap import STRICT_PARSER, checked_soap

logger = logging.getLogger(__name__)

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
class Notification:
    topic: str  # canonical: known namespaces under their usual prefix, trailing "/" and "//." removed
    raw_topic: str
    at: dt.datetime  # UTC, corrected
    source: Mapping[str, str]
    data: Mapping[str, str]


_TopicParser = Callable[[Notification], MotionEvent | None]
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


def _state_event(notification: Notification, topic: NormalizedTopic, data_names: Sequence[str]) -> MotionEvent | None:
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
def _video_source_motion_alarm(notification: Notification) -> MotionEvent | None:
    return _state_event(notification, "motion", ("State",))


@_parses("tns1:RuleEngine/CellMotionDetector/Motion")
def _cell_motion(notification: Notification) -> MotionEvent | None:
    return _state_event(notification, "motion", ("IsMotion",))


# Axis names the data "State" and writes "0"/"1"; Home Assistant's parsers accept both spellings.
@_parses("tns1:RuleEngine/MotionRegionDetector/Motion")
def _motion_region(notification: Notification) -> MotionEvent | None:
    return _state_event(notification, "motion", ("State", "IsMotion"))


# Hikvision and Dahua intrusion detection: IsInside while an object is in the field.
@_parses("tns1:RuleEngine/FieldDetector/ObjectsInside")
def _field_detector(notification: Notification) -> MotionEvent | None:
    return _state_event(notification, "intrusion", ("IsInside",))


# Axis video motion detection: VMD 3 under tns1:RuleEngine, VMD 4 and Motion Guard as ACAP applications,
# one topic per profile ("Camera1Profile1", "Camera1ProfileANY"), data "active" as "0"/"1".
@_parses(
    "tns1:RuleEngine/tnsaxis:VMD3/*",
    "tnsaxis:CameraApplicationPlatform/VMD/*",
    "tnsaxis:CameraApplicationPlatform/MotionGuard/*",
)
def _axis_vmd(notification: Notification) -> MotionEvent | None:
    return _state_event(notification, "motion", ("active",))


# Reolink's AI detections, under a rule called MyRuleDetector, data "State".
@_parses("tns1:RuleEngine/MyRuleDetector/PeopleDetect")
def _reolink_people(notification: Notification) -> MotionEvent | None:
    return _state_event(notification, "person", ("State",))


@_parses("tns1:RuleEngine/MyRuleDetector/VehicleDetect")
def _reolink_vehicle(notification: Notification) -> MotionEvent | None:
    return _state_event(notification, "vehicle", ("State",))


@_parses("tns1:RuleEngine/MyRuleDetector/DogCatDetect")
def _reolink_animal(notification: Notification) -> MotionEvent | None:
    return _state_event(notification, "animal", ("State",))


# Dahua-platform human detection (Home Assistant's event.py lists the topic).
@_parses("tns1:UserAlarm/IVA/HumanShapeDetect")
def _human_shape(notification: Notification) -> MotionEvent | None:
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
        if isinstance(item.tag, str) and local_name(item.tag) == "SimpleItem"
    }


def read_notifications(container: etree._Element, clock_offset: float, received_at: dt.datetime) -> list[Notification]:
    found = []
    for message in container.iter(f"{{{NS_WSNT}}}NotificationMessage"):
        topic_element = child(message, "Topic")
        body = child(message, "Message", "Message")
        if topic_element is None or not topic_element.text or body is None:
            continue
        camera_time = parse_xs_datetime(body.get("UtcTime"))
        at = camera_time - dt.timedelta(seconds=clock_offset) if camera_time is not None else received_at
        found.append(
            Notification(
                topic=_canonical_topic(topic_element.text, topic_element.nsmap),
                raw_topic=topic_element.text.strip(),
                at=at,
                source=_simple_items(child(body, "Source")),
                data=_simple_items(child(body, "Data")),
            )
        )
    return found


def parse_motion_events(
    notifications: Iterable[Notification], *, label: str = "camera", ignored: set[str] | None = None
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
    root = etree.fromstring(checked_soap(xml, "(unknown)", "PullMessages"), STRICT_PARSER)
    return parse_motion_events(read_notifications(root, clock_offset, received_at or utcnow()))
