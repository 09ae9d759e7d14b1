"""Alibaba Cloud SMS: SendSms (dysmsapi, API version 2017-05-25) signed with the V3 signature, ACS3-HMAC-SHA256.

The signing follows Alibaba Cloud's "V3 request structure and signature" document (help.aliyun.com,
sdk/product-overview/v3-request-structure-and-signature): a canonical request of the method, the URI,
the sorted and RFC 3986-encoded query, the lowercased and sorted host/x-acs-*/content-type headers, the
signed header names and the hex SHA-256 of the body; the string to sign is the algorithm name and the
hex SHA-256 of that canonical request; the signature is the hex HMAC-SHA256 of it with the AccessKey
secret. SendSms is an RPC-style API, so its URI is "/" and, as in Alibaba's own SDK
(alibabacloud_dysmsapi20170525), its parameters travel in the query string of a POST with an empty body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard
from urllib.parse import quote

import httpx

from scheduler.sms.message import (
    DeliveryFailed,
    HttpBackend,
    SendReceipt,
    SmsMessage,
    mask_phone,
    require_mobile,
    safe_detail,
    template_not_configured,
    transport_failure,
)
from scheduler.sms.settings import AliyunSmsSettings, required

logger = logging.getLogger(__name__)

ALGORITHM = "ACS3-HMAC-SHA256"
ACTION = "SendSms"
API_VERSION = "2017-05-25"
DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com"
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()

# Codes after which the same message may go through later. Everything else (a bad number, a template or
# sign name the account does not have, a key or signature the gateway refuses, a clock 15 minutes off)
# fails the same way every time.
_RETRYABLE_CODES = {
    # Per-number flow control (default 1/minute, 5/hour, 10/day for the same sign and number): the
    # minute and hour windows pass; a day-level hit keeps failing until the next day.
    "isv.BUSINESS_LIMIT_CONTROL",
    "ServiceUnavailable",
    "InternalError",
    "isp.SYSTEM_ERROR",
    "ServiceTimeout",
    # A nonce the gateway has seen: every attempt signs with a new one.
    "SignatureNonceUsed",
}
_RETRYABLE_PREFIXES = ("Throttling", "ServiceUnavailable", "InternalError")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8: A-Z a-z 0-9 - _ . ~ stay, everything else (space too) is %XX."""
    return quote(value, safe="-_.~")


def canonical_query_string(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(name)}={percent_encode(params[name])}" for name in sorted(params))


def aliyun_v3_canonical_request(
    *, method: str, canonical_uri: str, query: Mapping[str, str], headers: Mapping[str, str], hashed_payload: str
) -> tuple[str, str]:
    """The canonical request and its SignedHeaders. Of `headers`, host, content-type and x-acs-* are signed."""
    signed = {
        name.lower(): value.strip()
        for name, value in headers.items()
        if name.lower() in ("host", "content-type") or name.lower().startswith("x-acs-")
    }
    names = sorted(signed)
    canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        (
            method.upper(),
            canonical_uri,
            canonical_query_string(query),
            canonical_headers,
            signed_headers,
            hashed_payload,
        )
    )
    return canonical_request, signed_headers


def aliyun_v3_signature(access_key_secret: str, canonical_request: str) -> str:
    hashed_request = hashlib.sha256(canonical_request.encode()).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{hashed_request}"
    return hmac.new(access_key_secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def aliyun_v3_authorization(access_key_id: str, signed_headers: str, signature: str) -> str:
    return f"{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}"


def aliyun_code_is_retryable(code: str) -> bool:
    return code in _RETRYABLE_CODES or code.startswith(_RETRYABLE_PREFIXES)


def _random_nonce() -> str:
    return uuid.uuid4().hex


class _QueryRedactingFilter(logging.Filter):
    """Library quirk: httpx logs every request's full URL at INFO (httpx/_client.py, _send_single_request),
    and SendSms carries the phone number and the template's variables (a petitioner's link among them)
    in the query string. Leave that query out of what httpx logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_is_send_sms_url(arg) for arg in record.args):
            record.args = tuple(
                f"{arg.copy_with(query=None)}?<SendSms parameters>" if _is_send_sms_url(arg) else arg
                for arg in record.args
            )
        return True


def _is_send_sms_url(value: object) -> TypeGuard[httpx.URL]:
    return isinstance(value, httpx.URL) and b"PhoneNumbers=" in value.query


def _redact_httpx_request_log() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _QueryRedactingFilter) for existing in httpx_logger.filters):
        httpx_logger.addFilter(_QueryRedactingFilter())


class AliyunSms(HttpBackend):
    """Sends through Alibaba Cloud SMS. Owns (and closes) its HTTP client unless one is given."""

    name = "aliyun"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        templates: Mapping[str, str],
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_seconds: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = _random_nonce,
    ) -> None:
        super().__init__(endpoint, client=client, timeout_seconds=timeout_seconds, clock=clock)
        self._access_key_id = access_key_id
        self._access_key_secret = access_key_secret
        self._sign_name = sign_name
        self._templates = dict(templates)
        self._nonce = nonce
        _redact_httpx_request_log()

    @classmethod
    def from_settings(cls, settings: AliyunSmsSettings, *, client: httpx.AsyncClient | None = None) -> AliyunSms:
        return cls(
            access_key_id=required(settings, "access_key_id"),
            access_key_secret=required(settings, "access_key_secret"),
            sign_name=required(settings, "sign_name"),
            templates={kind: code for kind, code in settings.templates.items()},
            endpoint=settings.endpoint,
            timeout_seconds=settings.timeout_seconds,
            client=client,
        )

    def __repr__(self) -> str:
        return f"AliyunSms(endpoint={str(self._url)!r}, sign_name={self._sign_name!r})"

    async def send(self, message: SmsMessage) -> SendReceipt:
        template_code = self._templates.get(message.template)
        if template_code is None:
            raise template_not_configured(self.name, message)
        query = {
            "PhoneNumbers": require_mobile(self.name, message),
            "SignName": self._sign_name,
            "TemplateCode": template_code,
        }
        if message.params:
            query["TemplateParam"] = json.dumps(message.params, ensure_ascii=False, separators=(",", ":"))
        if message.reference:
            query["OutId"] = message.reference
        url, headers = self._signed(query)
        try:
            response = await self._client.post(url, headers=headers, content=b"", timeout=self._timeout)
        except httpx.HTTPError as exc:
            # Not chained: an httpx error holds the request, whose URL holds the phone number.
            failure = transport_failure(self.name, message, exc)
            logger.warning("%s: %s", message.reference, failure)
            raise failure from None
        receipt = self._receipt(message, response)
        logger.info(
            "%s: aliyun took the message to %s (BizId %s)",
            message.reference,
            mask_phone(message.to),
            receipt.provider_id,
        )
        return receipt

    def _signed(self, query: Mapping[str, str]) -> tuple[httpx.URL, dict[str, str]]:
        host = self._url.netloc.decode("ascii")
        headers = {
            "host": host,
            "x-acs-action": ACTION,
            "x-acs-version": API_VERSION,
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._clock())),
            "x-acs-signature-nonce": self._nonce(),
            "x-acs-content-sha256": EMPTY_PAYLOAD_SHA256,
        }
        canonical_request, signed_headers = aliyun_v3_canonical_request(
            method="POST", canonical_uri="/", query=query, headers=headers, hashed_payload=EMPTY_PAYLOAD_SHA256
        )
        signature = aliyun_v3_signature(self._access_key_secret, canonical_request)
        headers["Authorization"] = aliyun_v3_authorization(self._access_key_id, signed_headers, signature)
        # The query goes out exactly as it was signed, already encoded.
        url = self._url.copy_with(raw_path=b"/?" + canonical_query_string(query).encode("ascii"))
        return url, headers

    def _receipt(self, message: SmsMessage, response: httpx.Response) -> SendReceipt:
        answer = _json_object(response) or {}
        code = str(answer.get("Code") or "")
        if response.is_success and code == "OK":
            biz_id = answer.get("BizId")
            return SendReceipt(provider_id=str(biz_id) if biz_id else None, backend=self.name)
        if code:
            retryable = aliyun_code_is_retryable(code) or response.status_code >= 500
            detail = str(answer.get("Message") or "")
        else:
            # No answer in Alibaba's shape: judge by the HTTP status alone. A 2xx we cannot read may
            # still have sent the message, so it is not tried again.
            code = "bad_response" if response.is_success else f"http_{response.status_code}"
            retryable = response.status_code >= 500
            detail = response.text
        failure = DeliveryFailed(
            f"aliyun refused {message.reference} to {mask_phone(message.to)}: {code} "
            f"({safe_detail(detail, self._access_key_secret)})",
            code=code,
            retryable=retryable,
            backend=self.name,
        )
        logger.warning("%s: %s", message.reference, failure)
        raise failure


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None
