"""What the camera tells subscribers: motion notifications and the topics it announces, as the
Hikvision captures write them (hikvision/PullMessages.xml, hikvision/GetEventProperties.xml)."""

from __future__ import annotations

from collections.abc import Sequence

from camera_control.sim.onvif.envelope import escaped
from camera_control.sim.onvif.profiles import (
    ANALYTICS_CONFIG_TOKEN,
    MOTION_RULE,
    VIDEO_SOURCE_CONFIG_TOKEN,
    VIDEO_SOURCE_TOKEN,
)
from camera_control.sim.onvif.xs import xs_boolean, xs_datetime

_TOPIC_DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"


def _notification(topic: str, stamp: str, operation: str, source: str, data: str) -> str:
    return (
        "<wsnt:NotificationMessage>"
        f'<wsnt:Topic Dialect="{_TOPIC_DIALECT}">{topic}</wsnt:Topic>'
        f'<wsnt:Message><tt:Message UtcTime="{stamp}" PropertyOperation="{operation}">'
        f"<tt:Source>{source}</tt:Source><tt:Data>{data}</tt:Data>"
        "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
    )


def _item(name: str, value: str) -> str:
    return f'<tt:SimpleItem Name="{name}" Value="{escaped(value)}"/>'


def motion_notifications(motion: bool, operation: str, camera_time: float) -> list[str]:
    """The two messages a Hikvision camera sends when its motion alarm changes (hikvision/PullMessages.xml)."""
    stamp = xs_datetime(camera_time)
    value = xs_boolean(motion)
    rule_source = (
        _item("VideoSourceConfigurationToken", VIDEO_SOURCE_CONFIG_TOKEN)
        + _item("VideoAnalyticsConfigurationToken", ANALYTICS_CONFIG_TOKEN)
        + _item("Rule", MOTION_RULE)
    )
    return [
        _notification(
            "tns1:VideoSource/MotionAlarm", stamp, operation, _item("Source", VIDEO_SOURCE_TOKEN), _item("State", value)
        ),
        _notification(
            "tns1:RuleEngine/CellMotionDetector/Motion", stamp, operation, rule_source, _item("IsMotion", value)
        ),
    ]


def _message_description(source: Sequence[tuple[str, str]], data: Sequence[tuple[str, str]]) -> str:
    source_items = "".join(f'<tt:SimpleItemDescription Name="{name}" Type="{kind}"/>' for name, kind in source)
    data_items = "".join(f'<tt:SimpleItemDescription Name="{name}" Type="{kind}"/>' for name, kind in data)
    return (
        f'<tt:MessageDescription IsProperty="true"><tt:Source>{source_items}</tt:Source>'
        f"<tt:Data>{data_items}</tt:Data></tt:MessageDescription>"
    )


# hikvision/GetEventProperties.xml, keeping the two topics the simulator raises.
EVENT_PROPERTIES = (
    "<tev:GetEventPropertiesResponse>"
    "<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>"
    "<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet>"
    '<tns1:VideoSource wstop:topic="false"><MotionAlarm wstop:topic="true">'
    f"{_message_description([('Source', 'tt:ReferenceToken')], [('State', 'xs:boolean')])}"
    "</MotionAlarm></tns1:VideoSource>"
    '<tns1:RuleEngine wstop:topic="false"><CellMotionDetector wstop:topic="false"><Motion wstop:topic="true">'
    + _message_description(
        [
            ("VideoSourceConfigurationToken", "tt:ReferenceToken"),
            ("VideoAnalyticsConfigurationToken", "tt:ReferenceToken"),
            ("Rule", "xs:string"),
        ],
        [("IsMotion", "xs:boolean")],
    )
    + "</Motion></CellMotionDetector></tns1:RuleEngine></wstop:TopicSet>"
    f"<wsnt:TopicExpressionDialect>{_TOPIC_DIALECT}</wsnt:TopicExpressionDialect>"
    "<wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete</wsnt:TopicExpressionDialect>"
    "<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter</tev:MessageContentFilterDialect>"
    "<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd</tev:MessageContentSchemaLocation>"
    "</tev:GetEventPropertiesResponse>"
)
