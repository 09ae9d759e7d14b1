"""Text messages to petitioners: one `SmsBackend` interface and its carriers.

The notifier builds an `SmsMessage` (our kind of message, its variables, the rendered text, our
reference) and hands it to a backend built from its settings: `AliyunSms` (Alibaba Cloud SMS, V3
signature), `TencentSms` (Tencent Cloud SMS, TC3 signature) or `WebhookSms` (our own gateway, HMAC).
A backend answers with a `SendReceipt` or raises `DeliveryFailed`, whose `retryable` tells the notifier
whether to try again later.
"""

from scheduler.sms.aliyun import AliyunSms, aliyun_v3_signature
from scheduler.sms.message import (
    MESSAGE_KINDS,
    DeliveryFailed,
    MessageKind,
    SendReceipt,
    SmsBackend,
    SmsMessage,
    mask_phone,
)
from scheduler.sms.settings import AliyunSmsSettings, TencentSmsSettings, WebhookSettings
from scheduler.sms.tencent import TencentSms, tc3_signature
from scheduler.sms.webhook import WebhookSms, webhook_signature

__all__ = [
    "MESSAGE_KINDS",
    "AliyunSms",
    "AliyunSmsSettings",
    "DeliveryFailed",
    "MessageKind",
    "SendReceipt",
    "SmsBackend",
    "SmsMessage",
    "TencentSms",
    "TencentSmsSettings",
    "WebhookSettings",
    "WebhookSms",
    "aliyun_v3_signature",
    "mask_phone",
    "tc3_signature",
    "webhook_signature",
]
