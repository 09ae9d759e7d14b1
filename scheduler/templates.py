"""The messages a petitioner receives, in Chinese. Carriers get the kind's template code and the variables;
the log backend and the outbox page show the rendered text."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

KINDS = ("booked", "reminder_day", "reminder_hour", "moved", "cancelled")

TEMPLATES = {
    "booked": "{name}您好，您已预约{leader}{time}的视频接访，预约号{number}。"
    "届时请用手机打开 {link} 进入，无需下载软件。",
    "reminder_day": "{name}您好，提醒您：明天{time}与{leader}视频接访，预约号{number}。请提前用手机打开 {link}。",
    "reminder_hour": "{name}您好，您与{leader}的视频接访将于{time}开始，请用手机打开 {link} 进入等候室。",
    "moved": "{name}您好，您的视频接访已改到{time}（{leader}），新预约号{number}，请用新链接 {link} 进入。",
    "cancelled": "{name}您好，您{time}的视频接访（预约号{number}）已取消：{reason}。如需接访请重新预约。",
}


def render(kind: str, params: dict[str, str]) -> str:
    return TEMPLATES[kind].format(**{"reason": "", **params})


def hall_time(moment: dt.datetime, zone: ZoneInfo) -> str:
    """11月23日 14:30 — how a time reads in a message, in the hall's time zone."""
    local = moment.astimezone(zone)
    return f"{local.month}月{local.day}日 {local:%H:%M}"
