"""Tencent Cloud SMS: SendSms (sms.tencentcloudapi.com, Version 2021-01-11) signed with TC3-HMAC-SHA256.

The signing follows Tencent Cloud's "签名方法 v3" (Signature v3) document, published alike under every
product's API documentation on cloud.tencent.com: a canonical request of POST, "/", an empty query, the signed headers
(key and value lowercased and trimmed, sorted by key: content-type, host and, as the current document's
example does, x-tc-action), their names, and the hex SHA-256 of the JSON body; the string to sign is the
algorithm, the X-TC-Timestamp, the credential scope "<UTC date>/sms/tc3_request" and the hex SHA-256 of
the canonical request; the key is derived HMAC by HMAC from "TC3" + SecretKey through the date, the
service and "tc3_request".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

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
from scheduler.sms.settings import TencentSmsSettings, required

logger = logging.getLogger(__name__)

ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "sms"
ACTION = "SendSms"
API_VERSION = "2021-01-11"
DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com"
CONTENT_TYPE = "application/json; charset=utf-8"

# Codes after which the same message may go through later (Tencent's common and SMS error code lists).
# Everything else -- AuthFailure.*, a wrong number, a template or sign not approved, a daily quota spent,
# a number on the do-not-disturb list -- fails the same way every time.
_RETRYABLE_PREFIXES = ("InternalError", "RequestLimitExceeded")
_RETRYABLE_CODES = {
    # "下发短信命中了频率限制策略": the per-number frequency policy, by default one message of the same
    # content per 30 seconds. The window passes, so a later attempt can go through. The daily limits
    # (LimitExceeded.PhoneNumberDailyLimit and the like) stay failed until tomorrow and are not retried.
    "LimitExceeded.DeliveryFrequencyLimit",
    "LimitExceeded.PhoneNumberThirtySecondLimit",
    "LimitExceeded.PhoneNumberOneHourLimit",
    "ResourceUnavailable",
}


def utc_date(timestamp: int) -> str:
    """The credential scope's date: UTC, never local time (1551113065 is 2019-02-26 in Beijing, 02-25 UTC)."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d")


def tc3_canonical_request(
    *, headers: Mapping[str, str], payload: bytes, method: str = "POST", canonical_uri: str = "/", query: str = ""
) -> tuple[str, str]:
    """The canonical request over all of `headers`, and its SignedHeaders."""
    signed = {name.strip().lower(): value.strip().lower() for name, value in headers.items()}
    names = sorted(signed)
    canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        (method, canonical_uri, query, canonical_headers, signed_headers, hashlib.sha256(payload).hexdigest())
    )
    return canonical_request, signed_headers


def tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """SecretSigning = HMAC(HMAC(HMAC("TC3" + SecretKey, date), service), "tc3_request")."""
    secret_date = hmac.new(f"TC3{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    secret_service = hmac.new(secret_date, service.encode(), hashlib.sha256).digest()
    return hmac.new(secret_service, b"tc3_request", hashlib.sha256).digest()


def tc3_string_to_sign(*, timestamp: int, service: str, canonical_request: str) -> str:
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    hashed_request = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashed_request}"


def tc3_signature(*, secret_key: str, service: str, timestamp: int, canonical_request: str) -> str:
    string_to_sign = tc3_string_to_sign(timestamp=timestamp, service=service, canonical_request=canonical_request)
    key = tc3_signing_key(secret_key, utc_date(timestamp), service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def tc3_authorization(*, secret_id: str, service: str, timestamp: int, signed_headers: str, signature: str) -> str:
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"


def tencent_code_is_retryable(code: str) -> bool:
    return code in _RETRYABLE_CODES or code.startswith(_RETRYABLE_PREFIXES)


class TencentSms(HttpBackend):
    """Sends through Tencent Cloud SMS. Owns (and closes) its HTTP client unless one is given."""

    name = "tencent"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        sms_sdk_app_id: str,
        sign_name: str,
        templates: Mapping[str, str],
        region: str = "ap-guangzhou",
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_seconds: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(endpoint, client=client, timeout_seconds=timeout_seconds, clock=clock)
        self._url = self._url.copy_with(raw_path=b"/")
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._sms_sdk_app_id = sms_sdk_app_id
        self._sign_name = sign_name
        self._templates = dict(templates)
        self._region = region

    @classmethod
    def from_settings(cls, settings: TencentSmsSettings, *, client: httpx.AsyncClient | None = None) -> TencentSms:
        return cls(
            secret_id=required(settings, "secret_id"),
            secret_key=required(settings, "secret_key"),
            sms_sdk_app_id=required(settings, "sms_sdk_app_id"),
            sign_name=required(settings, "sign_name"),
            templates={kind: code for kind, code in settings.templates.items()},
            region=settings.region,
            endpoint=settings.endpoint,
            timeout_seconds=settings.timeout_seconds,
            client=client,
        )

    def __repr__(self) -> str:
        return f"TencentSms(endpoint={str(self._url)!r}, sms_sdk_app_id={self._sms_sdk_app_id!r})"

    async def send(self, message: SmsMessage) -> SendReceipt:
        template_id = self._templates.get(message.template)
        if template_id is None:
            raise template_not_configured(self.name, message)
        phone = require_mobile(self.name, message)
        body: dict[str, Any] = {
            "PhoneNumberSet": [f"+86{phone}"],
            "SmsSdkAppId": self._sms_sdk_app_id,
            "SignName": self._sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": list(message.params.values()),
        }
        if message.reference:
            body["SessionContext"] = message.reference
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            response = await self._client.post(
                self._url, headers=self._signed_headers(payload), content=payload, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            failure = transport_failure(self.name, message, exc)
            logger.warning("%s: %s", message.reference, failure)
            raise failure from None
        receipt = self._receipt(message, response)
        logger.info(
            "%s: tencent took the message to %s (SerialNo %s)",
            message.reference,
            mask_phone(message.to),
            receipt.provider_id,
        )
        return receipt

    def _signed_headers(self, payload: bytes) -> dict[str, str]:
        timestamp = int(self._clock())
        headers = {"Content-Type": CONTENT_TYPE, "Host": self._url.netloc.decode("ascii"), "X-TC-Action": ACTION}
        canonical_request, signed_headers = tc3_canonical_request(headers=headers, payload=payload)
        signature = tc3_signature(
            secret_key=self._secret_key, service=SERVICE, timestamp=timestamp, canonical_request=canonical_request
        )
        headers["Authorization"] = tc3_authorization(
            secret_id=self._secret_id,
            service=SERVICE,
            timestamp=timestamp,
            signed_headers=signed_headers,
            signature=signature,
        )
        headers["X-TC-Timestamp"] = str(timestamp)
        headers["X-TC-Version"] = API_VERSION
        headers["X-TC-Region"] = self._region
        return headers

    def _receipt(self, message: SmsMessage, response: httpx.Response) -> SendReceipt:
        answer = _response_object(response)
        error = answer.get("Error") if answer is not None else None
        statuses = answer.get("SendStatusSet") if answer is not None else None
        if isinstance(error, dict):
            code, detail = str(error.get("Code") or "Error"), str(error.get("Message") or "")
            retryable = tencent_code_is_retryable(code) or response.status_code >= 500
        elif isinstance(statuses, list) and statuses and isinstance(statuses[0], dict):
            status = statuses[0]
            code, detail = str(status.get("Code") or ""), str(status.get("Message") or "")
            if code == "Ok":
                serial_no = status.get("SerialNo")
                return SendReceipt(provider_id=str(serial_no) if serial_no else None, backend=self.name)
            retryable = tencent_code_is_retryable(code)
        else:
            # No answer in Tencent's shape: judge by the HTTP status alone. A 2xx we cannot read may
            # still have sent the message, so it is not tried again.
            code = "bad_response" if response.is_success else f"http_{response.status_code}"
            detail, retryable = response.text, response.status_code >= 500
        failure = DeliveryFailed(
            f"tencent refused {message.reference} to {mask_phone(message.to)}: {code} "
            f"({safe_detail(detail, self._secret_key)})",
            code=code,
            retryable=retryable,
            backend=self.name,
        )
        logger.warning("%s: %s", message.reference, failure)
        raise failure


def _response_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    inner = answer.get("Response") if isinstance(answer, dict) else None
    return inner if isinstance(inner, dict) else None
