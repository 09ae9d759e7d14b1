"""What the notifier hands a backend (`SmsMessage`), what it gets back (`SendReceipt`), and how it fails.

Every backend turns the carrier's own answer into one of these at its edge: a `SendReceipt` when the
carrier took the message, a `DeliveryFailed` with the carrier's error code and whether trying again later
can help. Messages of errors and log lines name a phone number only masked (`mask_phone`), never whole,
and never carry a secret.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Literal, Protocol, Self, get_args

import httpx

MessageKind = Literal["booked", "reminder_day", "reminder_hour", "moved", "cancelled", "room_open"]
MESSAGE_KINDS: tuple[str, ...] = get_args(MessageKind)

# The shape of SmsMessage.to: 11 digits; which prefixes are real mobile numbers is the carrier's call.
_MOBILE = re.compile(r"^1\d{10}$")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86|0086)?(1\d{10})(?!\d)")
# A message's link is a petitioner's credential: a carrier echoing one back must not get it into a log.
_URL_IN_TEXT = re.compile(r"https?://\S+")
# Carriers' error messages are free text; keep what we repeat of them short.
_DETAIL_LIMIT = 200


@dataclasses.dataclass(frozen=True)
class SmsMessage:
    """One text message to one person.

    `template` is our kind of message (one of MESSAGE_KINDS); each backend looks up the carrier's template
    for it in its settings. `params` are the template's variables, in the template's order. `text` is the
    message rendered in full, for backends without carrier templates. `reference` is our id of the
    notification, passed to the carrier where its API has a field for it.
    """

    to: str
    template: str
    params: dict[str, str]
    text: str
    reference: str


@dataclasses.dataclass(frozen=True)
class SendReceipt:
    provider_id: str | None
    backend: str


class DeliveryFailed(Exception):
    """The message was not handed to the carrier. `code` is the carrier's error code or one of ours
    (`unreachable`, `timeout`, `network_error`, `http_error`, `http_<status>`, `bad_response`,
    `invalid_phone`, `template_not_configured`); `retryable` says whether the same message may go through later."""

    def __init__(self, message: str, *, code: str, retryable: bool, backend: str) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.backend = backend


class SmsBackend(Protocol):
    name: str

    async def send(self, message: SmsMessage) -> SendReceipt: ...

    async def close(self) -> None: ...


def mask_phone(phone: str) -> str:
    """ "13812345678" -> "138****5678": enough to tell numbers apart in a log, not enough to call one."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def redact_phones(text: str) -> str:
    """Mask every mainland mobile number in free text (a carrier's message, a URL)."""
    return _PHONE_IN_TEXT.sub(lambda match: mask_phone(match.group(1)), text)


def safe_detail(text: str, *secrets: str) -> str:
    """A carrier's free-text message, shortened, with phone numbers masked, links and our secrets cut out."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = redact_phones(_URL_IN_TEXT.sub("<link>", " ".join(text.split())))
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def require_mobile(backend: str, message: SmsMessage) -> str:
    """The message's number when it has the shape of a mainland mobile number; carriers judge the rest."""
    if not _MOBILE.match(message.to):
        raise DeliveryFailed(
            f"{backend}: {mask_phone(message.to)} is not an 11-digit mainland mobile number ({message.reference})",
            code="invalid_phone",
            retryable=False,
            backend=backend,
        )
    return message.to


def template_not_configured(backend: str, message: SmsMessage) -> DeliveryFailed:
    return DeliveryFailed(
        f"{backend}: no carrier template is configured for {message.template!r} messages ({message.reference})",
        code="template_not_configured",
        retryable=False,
        backend=backend,
    )


def transport_failure(backend: str, message: SmsMessage, exc: httpx.HTTPError) -> DeliveryFailed:
    """An httpx error on the way to the carrier, as a DeliveryFailed.

    A timeout or a broken connection may pass; a request httpx cannot even make (bad scheme, bad URL in
    the settings) will not. The carrier may have taken a message whose answer timed out: the reference
    we sent along (Aliyun OutId, Tencent SessionContext) lets an operator match a duplicate.
    """
    # Retried only when the request cannot have reached the carrier: after it was sent, a timeout or a broken
    # answer may hide a message the carrier took, and the hall never sends one twice.
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        code, retryable = "timeout", True
    elif isinstance(exc, httpx.TimeoutException):
        code, retryable = "timeout", False
    elif isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        code, retryable = "unreachable", True
    elif isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        code, retryable = "network_error", False
    else:
        code, retryable = "http_error", False
    detail = safe_detail(str(exc)) or type(exc).__name__
    return DeliveryFailed(
        f"{backend}: could not deliver {message.reference} to {mask_phone(message.to)}: {code} ({detail})",
        code=code,
        retryable=retryable,
        backend=backend,
    )


class HttpBackend:
    """What the carriers' backends share: the endpoint (checked), the clock, and an httpx client, theirs to close
    unless one was handed in (tests)."""

    name = "http"

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None,
        timeout_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        try:
            self._url = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"{self.name} SMS endpoint is not a URL: {url!r}") from exc
        if self._url.scheme not in ("http", "https") or not self._url.host:
            raise ValueError(f"{self.name} SMS endpoint must be an http(s) URL, not {url!r}")
        self._timeout = timeout_seconds
        self._clock = clock
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout_seconds)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
