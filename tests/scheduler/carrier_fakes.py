"""Fake SMS carriers (Alibaba Cloud, Tencent Cloud, our webhook gateway) over real HTTP on 127.0.0.1.

Each stands where the carrier would: the backend under test signs and posts to it exactly as to the
carrier, and the fake checks the request the way the carrier documents it checks. The signature checks
are written here again from the carriers' documents, not imported from scheduler.sms, so a mistake in
the backend's signing is caught rather than repeated:
- Alibaba Cloud, "V3 request structure and signature" (ACS3-HMAC-SHA256): an unknown AccessKey ID is
  InvalidAccessKeyId.NotFound; an x-acs-date more than 15 minutes from the fake's clock is
  InvalidTimeStamp.Expired; a signature that does not match is SignatureDoesNotMatch; a nonce seen before
  is SignatureNonceUsed. SendSms errors (isv.*) come with HTTP 200, gateway errors with 4xx/5xx.
- Tencent Cloud, "签名方法 v3" (TC3-HMAC-SHA256): an unknown SecretId is AuthFailure.SecretIdNotFound; an
  X-TC-Timestamp more than 5 minutes off is AuthFailure.SignatureExpire; a wrong signature is
  AuthFailure.SignatureFailure. Errors come as {"Response": {"Error": ...}} with HTTP 200; a refused
  number comes as its entry in SendStatusSet.
- The webhook: X-Hall-Signature is sha256=HMAC-SHA256(secret, "<X-Hall-Timestamp>.<body>").

Each fake knows its sign names and templates (with their variables) and checks the phone number as the
carrier would; it records every message it took (`accepted`), and can be told to fail the next requests
with a throttling or internal error (`fail_next`) or with a bare HTTP error page (`break_next`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_MAINLAND_MOBILE = re.compile(r"^(?:\+86|0086|86)?(1[3-9]\d{9})$")


@dataclasses.dataclass(frozen=True)
class AcceptedSms:
    """A message a fake carrier took, as the carrier saw it."""

    phone: str
    sign_name: str
    template: str
    params: dict[str, str] | list[str]
    reference: str


@dataclasses.dataclass(frozen=True)
class WebhookDelivery:
    reference: str
    to: str
    template: str
    params: dict[str, str]
    text: str


@contextlib.asynccontextmanager
async def _serving(app: Starlette) -> AsyncIterator[str]:
    """Run `app` on 127.0.0.1 at a free port in this event loop; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class _Failures:
    """The next requests' scripted failures, in order."""

    def __init__(self) -> None:
        self._queue: list[tuple[str, Any]] = []

    def add(self, count: int, kind: str, value: Any) -> None:
        self._queue.extend([(kind, value)] * count)

    def pop(self) -> tuple[str, Any] | None:
        return self._queue.pop(0) if self._queue else None


def _hex_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hex_hmac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------------------------ Alibaba Cloud

_ACS3_AUTHORIZATION = re.compile(
    r"^ACS3-HMAC-SHA256 Credential=(?P<key_id>[^,\s]+),SignedHeaders=(?P<signed>[a-z0-9;-]+),"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_ALIYUN_DATE_WINDOW = dt.timedelta(minutes=15)
# The answers Alibaba Cloud gives for the failures a test can ask for: HTTP status and Message.
_ALIYUN_FAILURES = {
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "isv.BUSINESS_LIMIT_CONTROL": (200, "触发分钟级流控Permits:1"),
    "InternalError": (500, "The request processing has failed due to some unknown error."),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
}


def _acs3_encode(value: str) -> str:
    """RFC 3986 as the V3 document spells it: unreserved characters stay, every other UTF-8 byte is %XX."""
    return "".join(chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in value.encode("utf-8"))


class AliyunFake:
    """dysmsapi's SendSms, 2017-05-25, behind the V3 signature check."""

    def __init__(
        self,
        *,
        keys: Mapping[str, str],
        sign_names: Iterable[str],
        templates: Mapping[str, Sequence[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = dict(keys)
        self.sign_names = set(sign_names)
        self.templates = {code: tuple(variables) for code, variables in templates.items()}
        self.clock = clock
        self.endpoint = ""
        self.accepted: list[AcceptedSms] = []
        self.requests = 0
        self._nonces: set[str] = set()
        self._failures = _Failures()
        self.app = Starlette(routes=[Route("/", self._handle, methods=["GET", "POST"])])

    def fail_next(self, count: int = 1, code: str = "Throttling.User") -> None:
        """Answer the next `count` well-signed requests with `code` (see _ALIYUN_FAILURES)."""
        self._failures.add(count, "code", code)

    def break_next(self, count: int = 1, status: int = 502) -> None:
        """Answer the next `count` requests with a bare HTTP error page, as a load balancer would."""
        self._failures.add(count, "status", status)

    async def _handle(self, request: Request) -> Response:
        self.requests += 1
        body = await request.body()
        refusal = self._authenticate(request, body)
        if refusal is not None:
            return refusal
        if request.headers.get("x-acs-action") != "SendSms":
            return self._error(404, "InvalidAction.NotFound", "Specified api is not found, please check your url.")
        if request.headers.get("x-acs-version") != "2017-05-25":
            return self._error(400, "InvalidVersion", "Specified parameter Version is not valid.")
        failure = self._failures.pop()
        if failure is not None:
            kind, value = failure
            if kind == "status":
                return Response(f"<html><body>{value} Bad Gateway</body></html>", status_code=value)
            status, text = _ALIYUN_FAILURES.get(value, (400, f"injected {value}"))
            return self._error(status, value, text)
        return self._send_sms(dict(request.query_params))

    def _authenticate(self, request: Request, body: bytes) -> Response | None:
        match = _ACS3_AUTHORIZATION.match(request.headers.get("authorization", ""))
        if match is None:
            return self._error(
                400, "IncompleteSignature", "The request signature does not conform to Aliyun standards."
            )
        secret = self.keys.get(match["key_id"])
        if secret is None:
            return self._error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        try:
            date = dt.datetime.strptime(request.headers.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return self._error(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not valid.")
        now = dt.datetime.fromtimestamp(self.clock(), tz=dt.UTC).replace(tzinfo=None)
        if abs(now - date) > _ALIYUN_DATE_WINDOW:
            return self._error(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        signed = match["signed"].split(";")
        must_sign = {
            name.lower()
            for name in request.headers
            if name.lower() in ("host", "content-type") or name.lower().startswith("x-acs-")
        }
        required = {"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce"}
        if signed != sorted(signed) or set(signed) != must_sign or not required <= must_sign:
            return self._error(400, "IncompleteSignature", "Every common request header must be signed.")
        if request.headers["x-acs-content-sha256"] != _hex_sha256(body):
            return self._error(400, "SignatureDoesNotMatch", "x-acs-content-sha256 is not the body's SHA-256.")
        query = request.query_params.multi_items()
        canonical_query = "&".join(f"{_acs3_encode(k)}={_acs3_encode(v)}" for k, v in sorted(query))
        canonical_headers = "".join(f"{name}:{request.headers[name].strip()}\n" for name in signed)
        canonical_request = (
            f"{request.method}\n{request.url.path}\n{canonical_query}\n{canonical_headers}\n"
            f"{';'.join(signed)}\n{request.headers['x-acs-content-sha256']}"
        )
        string_to_sign = f"ACS3-HMAC-SHA256\n{_hex_sha256(canonical_request.encode('utf-8'))}"
        if not hmac.compare_digest(_hex_hmac(secret.encode("utf-8"), string_to_sign), match["signature"]):
            return self._error(
                400, "SignatureDoesNotMatch", f"Specified signature does not match our calculation. {string_to_sign}"
            )
        nonce = request.headers["x-acs-signature-nonce"]
        if nonce in self._nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces.add(nonce)
        return None

    def _send_sms(self, params: dict[str, str]) -> Response:
        phones = params.get("PhoneNumbers", "").split(",")
        numbers = [_MAINLAND_MOBILE.match(phone) for phone in phones]
        if not all(numbers):
            return self._business("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        sign_name = params.get("SignName", "")
        if sign_name not in self.sign_names:
            return self._business("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        template = params.get("TemplateCode", "")
        if template not in self.templates:
            return self._business("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            variables = json.loads(params.get("TemplateParam", "{}"))
        except json.JSONDecodeError:
            variables = None
        if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
            return self._business("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if set(self.templates[template]) - set(variables):
            return self._business("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
        for number in numbers:
            assert number is not None
            self.accepted.append(AcceptedSms(number[1], sign_name, template, dict(variables), params.get("OutId", "")))
        biz_id = f"{len(self.accepted):06d}{uuid.uuid4().int % 10**12:012d}^0"
        return JSONResponse({"RequestId": str(uuid.uuid4()).upper(), "Code": "OK", "Message": "OK", "BizId": biz_id})

    @staticmethod
    def _error(status: int, code: str, message: str) -> Response:
        request_id = str(uuid.uuid4()).upper()
        answer = {"RequestId": request_id, "HostId": "dysmsapi.aliyuncs.com", "Code": code, "Message": message}
        return JSONResponse(answer, status_code=status)

    @staticmethod
    def _business(code: str, message: str) -> Response:
        return JSONResponse({"RequestId": str(uuid.uuid4()).upper(), "Code": code, "Message": message})


@contextlib.asynccontextmanager
async def running_aliyun_fake(
    *,
    keys: Mapping[str, str],
    sign_names: Iterable[str],
    templates: Mapping[str, Sequence[str]],
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[AliyunFake]:
    """An AliyunFake serving on 127.0.0.1; its `endpoint` is the base URL to give AliyunSms."""
    fake = AliyunFake(keys=keys, sign_names=sign_names, templates=templates, clock=clock)
    async with _serving(fake.app) as base_url:
        fake.endpoint = base_url
        yield fake


# ------------------------------------------------------------------------------------------ Tencent Cloud

_TC3_AUTHORIZATION = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)/tc3_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)
_TC3_WINDOW_SECONDS = 300
# Which failures come as the whole request's Error and which as the number's entry in SendStatusSet.
_TENCENT_REQUEST_FAILURES = {
    "RequestLimitExceeded": "请求的次数超过了频率限制。",
    "InternalError": "内部错误。",
    "InternalError.Timeout": "请求下发短信超时。",
}
_TENCENT_NUMBER_FAILURES = {
    "LimitExceeded.DeliveryFrequencyLimit": "下发短信命中了频率限制策略",
    "LimitExceeded.PhoneNumberDailyLimit": "单个手机号日下发短信条数超过设定的上限",
}


class TencentFake:
    """sms.tencentcloudapi.com's SendSms, 2021-01-11, behind the TC3-HMAC-SHA256 check."""

    def __init__(
        self,
        *,
        keys: Mapping[str, str],
        sms_sdk_app_ids: Iterable[str],
        sign_names: Iterable[str],
        templates: Mapping[str, int],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = dict(keys)
        self.sms_sdk_app_ids = set(sms_sdk_app_ids)
        self.sign_names = set(sign_names)
        self.templates = dict(templates)  # TemplateId -> number of variables
        self.clock = clock
        self.endpoint = ""
        self.accepted: list[AcceptedSms] = []
        self.requests = 0
        self._failures = _Failures()
        self.app = Starlette(routes=[Route("/", self._handle, methods=["POST"])])

    def fail_next(self, count: int = 1, code: str = "RequestLimitExceeded") -> None:
        self._failures.add(count, "code", code)

    def break_next(self, count: int = 1, status: int = 502) -> None:
        self._failures.add(count, "status", status)

    async def _handle(self, request: Request) -> Response:
        self.requests += 1
        body = await request.body()
        refusal = self._authenticate(request, body)
        if refusal is not None:
            return refusal
        if request.headers.get("x-tc-action") != "SendSms":
            return self._error("InvalidAction", "接口不存在。")
        if request.headers.get("x-tc-version") != "2021-01-11":
            return self._error("NoSuchVersion", "接口版本不存在。")
        if not request.headers.get("x-tc-region"):
            return self._error("MissingParameter", "缺少参数 Region。")
        try:
            params = json.loads(body)
        except json.JSONDecodeError:
            return self._error("FailedOperation.FailResolvePacket", "请求包解析失败。")
        failure = self._failures.pop()
        if failure is not None:
            kind, value = failure
            if kind == "status":
                return Response(f"<html><body>{value} Bad Gateway</body></html>", status_code=value)
            if value not in _TENCENT_NUMBER_FAILURES:
                return self._error(value, _TENCENT_REQUEST_FAILURES.get(value, f"injected {value}"))
            statuses = [
                self._status(phone, params, value, _TENCENT_NUMBER_FAILURES[value]) for phone in _phones(params)
            ]
            return self._answer({"SendStatusSet": statuses})
        return self._send_sms(params)

    def _authenticate(self, request: Request, body: bytes) -> Response | None:
        match = _TC3_AUTHORIZATION.match(request.headers.get("authorization", ""))
        if match is None:
            return self._error("AuthFailure.InvalidAuthorization", "请求头部的 Authorization 不符合腾讯云标准。")
        secret_key = self.keys.get(match["secret_id"])
        if secret_key is None:
            return self._error("AuthFailure.SecretIdNotFound", "密钥不存在。")
        try:
            timestamp = int(request.headers.get("x-tc-timestamp", ""))
        except ValueError:
            return self._error("InvalidParameter", "X-TC-Timestamp 不是整数。")
        if abs(self.clock() - timestamp) > _TC3_WINDOW_SECONDS:
            return self._error("AuthFailure.SignatureExpire", "签名过期。Timestamp 和服务器时间相差不得超过五分钟。")
        signed = match["signed"].split(";")
        date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
        if match["date"] != date or match["service"] != "sms" or not {"content-type", "host"} <= set(signed):
            return self._error("AuthFailure.SignatureFailure", "签名错误。凭证范围或参与签名的头部不对。")
        if any(name not in request.headers for name in signed) or signed != sorted(signed):
            return self._error("AuthFailure.SignatureFailure", "签名错误。参与签名的头部不在请求里。")
        canonical_headers = "".join(f"{name}:{request.headers[name].strip().lower()}\n" for name in signed)
        canonical_request = "\n".join(("POST", "/", "", canonical_headers, match["signed"], _hex_sha256(body)))
        scope = f"{date}/sms/tc3_request"
        string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_hex_sha256(canonical_request.encode('utf-8'))}"
        key = ("TC3" + secret_key).encode("utf-8")
        for part in (date, "sms", "tc3_request"):
            key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
        if not hmac.compare_digest(_hex_hmac(key, string_to_sign), match["signature"]):
            return self._error("AuthFailure.SignatureFailure", "签名错误。签名计算错误。")
        return None

    def _send_sms(self, params: dict[str, Any]) -> Response:
        if params.get("SmsSdkAppId") not in self.sms_sdk_app_ids:
            return self._error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId 不存在。")
        if params.get("SignName") not in self.sign_names:
            return self._error("FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批或格式错误。")
        template = params.get("TemplateId")
        if template not in self.templates:
            return self._error("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批或内容不匹配。")
        variables = params.get("TemplateParamSet", [])
        if not isinstance(variables, list) or len(variables) != self.templates[template]:
            return self._error(
                "FailedOperation.TemplateParamSetNotMatchApprovedTemplate", "请求内容与审核通过的模板内容不匹配。"
            )
        statuses = []
        for phone in _phones(params):
            number = _MAINLAND_MOBILE.match(phone)
            if number is None:
                statuses.append(
                    self._status(phone, params, "InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误。")
                )
                continue
            self.accepted.append(
                AcceptedSms(number[1], params["SignName"], template, list(variables), params.get("SessionContext", ""))
            )
            status = self._status(phone, params, "Ok", "send success")
            status.update(SerialNo=f"5000:{uuid.uuid4().int % 10**28:028d}", Fee=1)
            statuses.append(status)
        return self._answer({"SendStatusSet": statuses})

    @staticmethod
    def _status(phone: str, params: Mapping[str, Any], code: str, message: str) -> dict[str, Any]:
        return {
            "SerialNo": "",
            "PhoneNumber": phone,
            "Fee": 0,
            "SessionContext": params.get("SessionContext", ""),
            "Code": code,
            "Message": message,
            "IsoCode": "CN",
        }

    @staticmethod
    def _answer(response: dict[str, Any]) -> Response:
        return JSONResponse({"Response": {**response, "RequestId": str(uuid.uuid4())}})

    @classmethod
    def _error(cls, code: str, message: str) -> Response:
        return cls._answer({"Error": {"Code": code, "Message": message}})


def _phones(params: Mapping[str, Any]) -> list[str]:
    phones = params.get("PhoneNumberSet", [])
    return [str(phone) for phone in phones] if isinstance(phones, list) else []


@contextlib.asynccontextmanager
async def running_tencent_fake(
    *,
    keys: Mapping[str, str],
    sms_sdk_app_ids: Iterable[str],
    sign_names: Iterable[str],
    templates: Mapping[str, int],
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[TencentFake]:
    """A TencentFake serving on 127.0.0.1; its `endpoint` is the base URL to give TencentSms."""
    fake = TencentFake(
        keys=keys, sms_sdk_app_ids=sms_sdk_app_ids, sign_names=sign_names, templates=templates, clock=clock
    )
    async with _serving(fake.app) as base_url:
        fake.endpoint = base_url
        yield fake


# ------------------------------------------------------------------------------------------ webhook


class WebhookFake:
    """Our SMS gateway's receiving end: checks X-Hall-Signature and X-Hall-Timestamp, answers {"id": ...}."""

    def __init__(self, *, secret: str, clock: Callable[[], float] = time.time, max_skew_seconds: float = 300) -> None:
        self.secret = secret
        self.clock = clock
        self.max_skew_seconds = max_skew_seconds
        self.url = ""
        self.accepted: list[WebhookDelivery] = []
        self.requests = 0
        self._failures = _Failures()
        self.app = Starlette(routes=[Route("/sms", self._handle, methods=["POST"])])

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        self._failures.add(count, "status", status)

    async def _handle(self, request: Request) -> Response:
        self.requests += 1
        body = await request.body()
        timestamp = request.headers.get("x-hall-timestamp", "")
        expected = "sha256=" + hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, "sha256").hexdigest()
        if not hmac.compare_digest(request.headers.get("x-hall-signature", ""), expected):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > self.max_skew_seconds:
            return JSONResponse({"error": "stale timestamp"}, status_code=401)
        failure = self._failures.pop()
        if failure is not None:
            return JSONResponse({"error": "unavailable"}, status_code=failure[1])
        try:
            payload = json.loads(body)
            delivery = WebhookDelivery(
                **{field.name: payload[field.name] for field in dataclasses.fields(WebhookDelivery)}
            )
        except (json.JSONDecodeError, KeyError, TypeError):
            return JSONResponse({"error": "not a message"}, status_code=422)
        self.accepted.append(delivery)
        return JSONResponse({"id": f"wh-{len(self.accepted)}"})


@contextlib.asynccontextmanager
async def running_webhook_fake(*, secret: str, clock: Callable[[], float] = time.time) -> AsyncIterator[WebhookFake]:
    """A WebhookFake serving on 127.0.0.1; its `url` is the one to give WebhookSms."""
    fake = WebhookFake(secret=secret, clock=clock)
    async with _serving(fake.app) as base_url:
        fake.url = f"{base_url}/sms"
        yield fake
