"""Our own SMS gateway behind a webhook: the rendered message as JSON, signed with a shared secret.

The POST carries `X-Hall-Timestamp` (Unix seconds) and `X-Hall-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<raw body>" with the secret>`, so the receiver can refuse forged and replayed calls.
A 2xx answer means the gateway took the message; its JSON `id`, if any, is the provider id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable

import httpx

from scheduler.sms.message import (
    DeliveryFailed,
    HttpBackend,
    SendReceipt,
    SmsMessage,
    mask_phone,
    require_mobile,
    safe_detail,
    transport_failure,
)
from scheduler.sms.settings import WebhookSettings, required

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hall-Signature"
TIMESTAMP_HEADER = "X-Hall-Timestamp"
# Statuses in 4xx that still say "try again later" (RFC 9110 408, RFC 6585 429).
_RETRYABLE_4XX = {408, 429}


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSms(HttpBackend):
    """Posts messages to a configured URL. Owns (and closes) its HTTP client unless one is given."""

    name = "webhook"

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        timeout_seconds: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(url, client=client, timeout_seconds=timeout_seconds, clock=clock)
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: WebhookSettings, *, client: httpx.AsyncClient | None = None) -> WebhookSms:
        return cls(
            url=required(settings, "url"),
            secret=required(settings, "secret"),
            timeout_seconds=settings.timeout_seconds,
            client=client,
        )

    def __repr__(self) -> str:
        return f"WebhookSms(url={str(self._url)!r})"

    async def send(self, message: SmsMessage) -> SendReceipt:
        body = json.dumps(
            {
                "reference": message.reference,
                "to": require_mobile(self.name, message),
                "template": message.template,
                "params": message.params,
                "text": message.text,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: webhook_signature(self._secret, timestamp, body),
        }
        try:
            response = await self._client.post(self._url, headers=headers, content=body, timeout=self._timeout)
        except httpx.HTTPError as exc:
            failure = transport_failure(self.name, message, exc)
            logger.warning("%s: %s", message.reference, failure)
            raise failure from None
        if not response.is_success:
            status = response.status_code
            failure = DeliveryFailed(
                f"webhook refused {message.reference} to {mask_phone(message.to)}: HTTP {status} "
                f"({safe_detail(response.text, self._secret)})",
                code=f"http_{status}",
                retryable=status >= 500 or status in _RETRYABLE_4XX,
                backend=self.name,
            )
            logger.warning("%s: %s", message.reference, failure)
            raise failure
        receipt = SendReceipt(provider_id=_answer_id(response), backend=self.name)
        logger.info(
            "%s: the webhook took the message to %s (id %s)",
            message.reference,
            mask_phone(message.to),
            receipt.provider_id,
        )
        return receipt


def _answer_id(response: httpx.Response) -> str | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    provider_id = answer.get("id") if isinstance(answer, dict) else None
    return str(provider_id) if provider_id is not None else None
