"""The SMS backends against fake carriers that check signatures the way Alibaba Cloud and Tencent Cloud do."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pydantic
import pytest
from carrier_fakes import (
    AcceptedSms,
    AliyunFake,
    TencentFake,
    WebhookDelivery,
    WebhookFake,
    running_aliyun_fake,
    running_tencent_fake,
    running_webhook_fake,
)

from scheduler.sms import (
    AliyunSms,
    AliyunSmsSettings,
    DeliveryFailed,
    SendReceipt,
    SmsBackend,
    SmsMessage,
    TencentSms,
    TencentSmsSettings,
    WebhookSettings,
    WebhookSms,
    mask_phone,
)
from scheduler.sms.aliyun import aliyun_v3_authorization, aliyun_v3_canonical_request, aliyun_v3_signature
from scheduler.sms.tencent import tc3_canonical_request, tc3_signature, tc3_signing_key, utc_date

PHONE = "13812345678"
MASKED = "138****5678"
LINK = "https://hall.example.cn/j/Zq8vK2mN4pT7"
SIGN_NAME = "市信访局"

ALIYUN_KEY_ID = "LTAI5tHallTest0001"
ALIYUN_SECRET = "aliyun-secret-Kx93hQ2vLm7Rt4Wz"
ALIYUN_TEMPLATES = {"SMS_468190001": ("name", "time", "room", "link"), "SMS_468190002": ("name", "time")}

TENCENT_SECRET_ID = "AKIDhallTest0000000000000000000000001"
TENCENT_SECRET_KEY = "tencent-secret-Pq4nB8xZc2Vy6Hs1"
TENCENT_APP_ID = "1400812345"
TENCENT_TEMPLATES = {"2061001": 4, "2061002": 2}

WEBHOOK_SECRET = "webhook-secret-Jm5tR9wE3uY7"

SECRETS = (ALIYUN_SECRET, TENCENT_SECRET_KEY, WEBHOOK_SECRET)


def booked(to: str = PHONE, template: str = "booked") -> SmsMessage:
    return SmsMessage(
        to=to,
        template=template,
        params={"name": "张三", "time": "3月5日 09:30", "room": "第二接待室", "link": LINK},
        text=f"【{SIGN_NAME}】张三您好，您已预约3月5日 09:30在第二接待室视频接待，届时请打开 {LINK}",
        reference="n-123",
    )


def aliyun_settings(fake: AliyunFake, **overrides: Any) -> AliyunSmsSettings:
    values: dict[str, Any] = {
        "access_key_id": ALIYUN_KEY_ID,
        "access_key_secret": ALIYUN_SECRET,
        "sign_name": SIGN_NAME,
        "endpoint": fake.endpoint,
        "templates": {"booked": "SMS_468190001", "reminder_day": "SMS_468190002"},
        "timeout_seconds": 2,
    }
    return AliyunSmsSettings(**{**values, **overrides})


def tencent_settings(fake: TencentFake, **overrides: Any) -> TencentSmsSettings:
    values: dict[str, Any] = {
        "secret_id": TENCENT_SECRET_ID,
        "secret_key": TENCENT_SECRET_KEY,
        "sms_sdk_app_id": TENCENT_APP_ID,
        "sign_name": SIGN_NAME,
        "endpoint": fake.endpoint,
        "templates": {"booked": "2061001", "reminder_day": "2061002"},
        "timeout_seconds": 2,
    }
    return TencentSmsSettings(**{**values, **overrides})


@dataclasses.dataclass
class Carrier:
    """A running fake carrier and a way to make a backend for it (keyword overrides of its settings)."""

    name: str
    fake: Any
    make: Callable[..., SmsBackend]


@contextlib.asynccontextmanager
async def running(name: str) -> AsyncIterator[Carrier]:
    if name == "aliyun":
        async with running_aliyun_fake(
            keys={ALIYUN_KEY_ID: ALIYUN_SECRET}, sign_names=[SIGN_NAME], templates=ALIYUN_TEMPLATES
        ) as aliyun_fake:
            yield Carrier(name, aliyun_fake, lambda **kw: AliyunSms.from_settings(aliyun_settings(aliyun_fake, **kw)))
    elif name == "tencent":
        async with running_tencent_fake(
            keys={TENCENT_SECRET_ID: TENCENT_SECRET_KEY},
            sms_sdk_app_ids=[TENCENT_APP_ID],
            sign_names=[SIGN_NAME],
            templates=TENCENT_TEMPLATES,
        ) as tencent_fake:
            yield Carrier(
                name, tencent_fake, lambda **kw: TencentSms.from_settings(tencent_settings(tencent_fake, **kw))
            )
    else:
        async with running_webhook_fake(secret=WEBHOOK_SECRET) as webhook_fake:

            def make(**overrides: Any) -> SmsBackend:
                values = {"url": webhook_fake.url, "secret": WEBHOOK_SECRET, "timeout_seconds": 2, **overrides}
                return WebhookSms.from_settings(WebhookSettings(**values))

            yield Carrier(name, webhook_fake, make)


@pytest.fixture(params=["aliyun", "tencent", "webhook"])
async def carrier(request: pytest.FixtureRequest) -> AsyncIterator[Carrier]:
    async with running(request.param) as running_carrier:
        yield running_carrier


@pytest.fixture(params=["aliyun", "tencent"])
async def cloud(request: pytest.FixtureRequest) -> AsyncIterator[Carrier]:
    """The two carriers with templates, sign names and error codes of their own."""
    async with running(request.param) as running_carrier:
        yield running_carrier


@pytest.fixture
async def aliyun() -> AsyncIterator[AliyunFake]:
    async with running("aliyun") as running_carrier:
        yield running_carrier.fake


@pytest.fixture
async def tencent() -> AsyncIterator[TencentFake]:
    async with running("tencent") as running_carrier:
        yield running_carrier.fake


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookFake]:
    async with running("webhook") as running_carrier:
        yield running_carrier.fake


async def refused(backend: SmsBackend, message: SmsMessage) -> DeliveryFailed:
    """Send, expecting a DeliveryFailed whose message is safe to log; close the backend."""
    try:
        with pytest.raises(DeliveryFailed) as caught:
            await backend.send(message)
    finally:
        await backend.close()
    text = str(caught.value)
    assert message.to not in text and LINK not in text
    assert not any(secret in text for secret in SECRETS)
    return caught.value


async def delivered(backend: SmsBackend, message: SmsMessage) -> SendReceipt:
    try:
        return await backend.send(message)
    finally:
        await backend.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------- known answers


def test_aliyun_v3_signature_reproduces_the_documents_worked_example() -> None:
    # Alibaba Cloud, "V3 request structure and signature", signature example: RunInstances on
    # ecs.cn-shanghai with AccessKey YourAccessKeyId / YourAccessKeySecret.
    empty = hashlib.sha256(b"").hexdigest()
    canonical_request, signed_headers = aliyun_v3_canonical_request(
        method="POST",
        canonical_uri="/",
        query={"RegionId": "cn-shanghai", "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"},
        headers={
            "host": "ecs.cn-shanghai.aliyuncs.com",
            "x-acs-action": "RunInstances",
            "x-acs-version": "2014-05-26",
            "x-acs-date": "2023-10-26T10:22:32Z",
            "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
            "x-acs-content-sha256": empty,
        },
        hashed_payload=empty,
    )
    assert hashlib.sha256(canonical_request.encode()).hexdigest() == (
        "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    signature = aliyun_v3_signature("YourAccessKeySecret", canonical_request)
    assert aliyun_v3_authorization("YourAccessKeyId", signed_headers, signature) == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
        "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )


TC3_EXAMPLE_PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'


def test_tc3_signature_reproduces_the_current_documents_worked_example() -> None:
    # Tencent Cloud, "签名方法 v3": DescribeInstances on cvm at 1551113065, signing x-tc-action too.
    # The document prints the SecretKey as 32 asterisks and the key chain and signature derived from that.
    canonical_request, signed_headers = tc3_canonical_request(
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Host": "cvm.tencentcloudapi.com",
            "X-TC-Action": "DescribeInstances",
        },
        payload=TC3_EXAMPLE_PAYLOAD,
    )
    assert signed_headers == "content-type;host;x-tc-action"
    assert hashlib.sha256(TC3_EXAMPLE_PAYLOAD).hexdigest() == (
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    assert hashlib.sha256(canonical_request.encode()).hexdigest() == (
        "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
    )
    assert tc3_signing_key("*" * 32, "2019-02-25", "cvm").hex() == (
        "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af"
    )
    signature = tc3_signature(
        secret_key="*" * 32, service="cvm", timestamp=1551113065, canonical_request=canonical_request
    )
    assert signature == "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"


def test_tc3_signature_reproduces_the_earlier_documents_worked_example() -> None:
    # The English "Signature v3" page's example, signing content-type and host only, with the
    # SecretKey it printed in full, Gu5t9xGARNpq86cd98joQYCN3EXAMPLE.
    canonical_request, signed_headers = tc3_canonical_request(
        headers={"Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com"},
        payload=TC3_EXAMPLE_PAYLOAD,
    )
    assert hashlib.sha256(canonical_request.encode()).hexdigest() == (
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert signed_headers == "content-type;host"
    signature = tc3_signature(
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        service="cvm",
        timestamp=1551113065,
        canonical_request=canonical_request,
    )
    assert signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    # 1551113065 is 2019-02-26 00:44 in Beijing: the scope's date is the UTC one.
    assert utc_date(1551113065) == "2019-02-25"


def test_mask_phone_keeps_the_ends_only() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("123") == "***"


# ------------------------------------------------------------------------------- delivery


async def test_aliyun_delivers_a_chinese_message_with_exactly_its_params(aliyun: AliyunFake) -> None:
    async with AliyunSms.from_settings(aliyun_settings(aliyun)) as sms:
        receipt = await sms.send(booked())
    assert aliyun.accepted == [
        AcceptedSms(
            phone=PHONE,
            sign_name=SIGN_NAME,
            template="SMS_468190001",
            params={"name": "张三", "time": "3月5日 09:30", "room": "第二接待室", "link": LINK},
            reference="n-123",
        )
    ]
    assert list(aliyun.accepted[0].params) == ["name", "time", "room", "link"]
    assert receipt.backend == "aliyun" and receipt.provider_id and receipt.provider_id.endswith("^0")


async def test_tencent_delivers_a_chinese_message_with_exactly_its_params(tencent: TencentFake) -> None:
    async with TencentSms.from_settings(tencent_settings(tencent)) as sms:
        receipt = await sms.send(booked())
    assert tencent.accepted == [
        AcceptedSms(
            phone=PHONE,
            sign_name=SIGN_NAME,
            template="2061001",
            params=["张三", "3月5日 09:30", "第二接待室", LINK],
            reference="n-123",
        )
    ]
    assert receipt.backend == "tencent" and receipt.provider_id and receipt.provider_id.startswith("5000:")


async def test_webhook_delivers_the_rendered_message(webhook: WebhookFake) -> None:
    message = booked()
    async with WebhookSms.from_settings(WebhookSettings(url=webhook.url, secret=WEBHOOK_SECRET)) as sms:
        receipt = await sms.send(message)
    assert webhook.accepted == [WebhookDelivery("n-123", PHONE, "booked", message.params, message.text)]
    assert receipt.provider_id == "wh-1" and receipt.backend == "webhook"


# ------------------------------------------------------------------------------- refusals


WRONG_SECRET = {"aliyun": "access_key_secret", "tencent": "secret_key", "webhook": "secret"}
WRONG_SECRET_CODE = {
    "aliyun": "SignatureDoesNotMatch",
    "tencent": "AuthFailure.SignatureFailure",
    "webhook": "http_401",
}


async def test_a_wrong_secret_is_refused_for_good(carrier: Carrier) -> None:
    failure = await refused(carrier.make(**{WRONG_SECRET[carrier.name]: "not-the-secret-0000"}), booked())
    assert failure.code == WRONG_SECRET_CODE[carrier.name] and not failure.retryable
    assert "not-the-secret-0000" not in str(failure) and MASKED in str(failure)
    assert carrier.fake.accepted == []


async def test_an_unknown_key_is_refused_for_good(cloud: Carrier) -> None:
    if cloud.name == "aliyun":
        failure = await refused(cloud.make(access_key_id="LTAI5tNobody"), booked())
        assert failure.code == "InvalidAccessKeyId.NotFound"
    else:
        failure = await refused(cloud.make(secret_id="AKIDnobody"), booked())
        assert failure.code == "AuthFailure.SecretIdNotFound"
    assert not failure.retryable


RETRYABLE = {
    "aliyun": ["Throttling.User", "isv.BUSINESS_LIMIT_CONTROL", "InternalError", "ServiceUnavailable"],
    "tencent": ["RequestLimitExceeded", "InternalError", "LimitExceeded.DeliveryFrequencyLimit"],
}


async def test_throttling_and_internal_errors_are_retryable_and_a_retry_goes_through(cloud: Carrier) -> None:
    for code in RETRYABLE[cloud.name]:
        cloud.fake.fail_next(1, code)
        failure = await refused(cloud.make(), booked())
        assert (failure.code, failure.retryable) == (code, True)
        await delivered(cloud.make(), booked())
    assert len(cloud.fake.accepted) == len(RETRYABLE[cloud.name])


async def test_a_bare_gateway_error_page_is_retryable(carrier: Carrier) -> None:
    if carrier.name == "webhook":
        carrier.fake.fail_next(1, status=502)
    else:
        carrier.fake.break_next(1, status=502)
    failure = await refused(carrier.make(), booked())
    assert failure.code == "http_502" and failure.retryable


async def test_a_daily_limit_is_not_retried(tencent: TencentFake) -> None:
    tencent.fail_next(1, "LimitExceeded.PhoneNumberDailyLimit")
    failure = await refused(TencentSms.from_settings(tencent_settings(tencent)), booked())
    assert failure.code == "LimitExceeded.PhoneNumberDailyLimit" and not failure.retryable


async def test_webhook_statuses_decide_retrying(webhook: WebhookFake) -> None:
    settings = WebhookSettings(url=webhook.url, secret=WEBHOOK_SECRET)
    for status, retryable in ((503, True), (429, True), (400, False)):
        webhook.fail_next(1, status=status)
        failure = await refused(WebhookSms.from_settings(settings), booked())
        assert (failure.code, failure.retryable) == (f"http_{status}", retryable)


async def test_a_number_the_carrier_rejects_is_not_retried(cloud: Carrier) -> None:
    failure = await refused(cloud.make(), booked(to="12012345678"))
    code = {"aliyun": "isv.MOBILE_NUMBER_ILLEGAL", "tencent": "InvalidParameterValue.IncorrectPhoneNumber"}
    assert failure.code == code[cloud.name] and not failure.retryable
    assert "120****5678" in str(failure)
    assert cloud.fake.requests == 1 and cloud.fake.accepted == []


async def test_a_malformed_number_never_reaches_the_carrier(carrier: Carrier) -> None:
    failure = await refused(carrier.make(), booked(to="1381234567x"))
    assert failure.code == "invalid_phone" and not failure.retryable
    assert carrier.fake.requests == 0


async def test_a_kind_without_a_carrier_template_is_not_sent(cloud: Carrier) -> None:
    failure = await refused(cloud.make(), booked(template="room_open"))
    assert failure.code == "template_not_configured" and not failure.retryable
    assert "room_open" in str(failure)
    assert cloud.fake.requests == 0


async def test_a_template_the_carrier_does_not_have_is_not_retried(cloud: Carrier) -> None:
    if cloud.name == "aliyun":
        failure = await refused(cloud.make(templates={"booked": "SMS_000000"}), booked())
        assert failure.code == "isv.SMS_TEMPLATE_ILLEGAL"
    else:
        failure = await refused(cloud.make(templates={"booked": "999"}), booked())
        assert failure.code == "FailedOperation.TemplateIncorrectOrUnapproved"
    assert not failure.retryable


async def test_a_carrier_that_is_not_there_is_retryable(carrier: Carrier) -> None:
    address = f"http://127.0.0.1:{closed_port()}"
    backend = carrier.make(url=f"{address}/sms") if carrier.name == "webhook" else carrier.make(endpoint=address)
    failure = await refused(backend, booked())
    assert failure.code == "unreachable" and failure.retryable


# ------------------------------------------------------------------------------- what the fakes enforce


async def test_aliyun_refuses_a_reused_nonce_and_a_fresh_one_goes_through(aliyun: AliyunFake) -> None:
    settings = aliyun_settings(aliyun)

    def backend(nonce: Callable[[], str]) -> AliyunSms:
        return AliyunSms(
            access_key_id=ALIYUN_KEY_ID,
            access_key_secret=ALIYUN_SECRET,
            sign_name=SIGN_NAME,
            templates={"booked": "SMS_468190001"},
            endpoint=settings.endpoint,
            nonce=nonce,
        )

    async with backend(lambda: "5f0c1a2b3c4d5e6f") as sms:
        await sms.send(booked())
    failure = await refused(backend(lambda: "5f0c1a2b3c4d5e6f"), booked())
    assert failure.code == "SignatureNonceUsed" and failure.retryable
    async with AliyunSms.from_settings(settings) as sms:
        await sms.send(booked())
    assert len(aliyun.accepted) == 2


@pytest.mark.parametrize(("skew_minutes", "accepted"), [(-16, False), (16, False), (-14, True)])
async def test_aliyun_allows_a_clock_14_minutes_off_and_refuses_16(
    aliyun: AliyunFake, skew_minutes: int, accepted: bool
) -> None:
    sms = AliyunSms(
        access_key_id=ALIYUN_KEY_ID,
        access_key_secret=ALIYUN_SECRET,
        sign_name=SIGN_NAME,
        templates={"booked": "SMS_468190001"},
        endpoint=aliyun.endpoint,
        clock=lambda: time.time() + skew_minutes * 60,
    )
    if accepted:
        await sms.send(booked())
        await sms.close()
        assert len(aliyun.accepted) == 1
    else:
        failure = await refused(sms, booked())
        assert failure.code == "InvalidTimeStamp.Expired" and not failure.retryable


@pytest.mark.parametrize(("skew_seconds", "accepted"), [(-360, False), (360, False), (240, True)])
async def test_tencent_allows_a_clock_4_minutes_off_and_refuses_6(
    tencent: TencentFake, skew_seconds: int, accepted: bool
) -> None:
    sms = TencentSms(
        secret_id=TENCENT_SECRET_ID,
        secret_key=TENCENT_SECRET_KEY,
        sms_sdk_app_id=TENCENT_APP_ID,
        sign_name=SIGN_NAME,
        templates={"booked": "2061001"},
        endpoint=tencent.endpoint,
        clock=lambda: time.time() + skew_seconds,
    )
    if accepted:
        await sms.send(booked())
        await sms.close()
        assert len(tencent.accepted) == 1
    else:
        failure = await refused(sms, booked())
        assert failure.code == "AuthFailure.SignatureExpire" and not failure.retryable


async def test_aliyun_signature_covers_the_number(aliyun: AliyunFake) -> None:
    async def redirect_to_another_number(request: httpx.Request) -> None:
        request.url = httpx.URL(str(request.url).replace(PHONE, "13900001111"))

    async with httpx.AsyncClient(event_hooks={"request": [redirect_to_another_number]}) as client:
        failure = await refused(AliyunSms.from_settings(aliyun_settings(aliyun), client=client), booked())
    assert failure.code == "SignatureDoesNotMatch" and not failure.retryable
    assert aliyun.accepted == []


async def test_tencent_signature_covers_the_body(tencent: TencentFake) -> None:
    async def redirect_to_another_number(request: httpx.Request) -> None:
        request.stream = httpx.ByteStream(request.content.replace(PHONE.encode(), b"13900001111"))

    async with httpx.AsyncClient(event_hooks={"request": [redirect_to_another_number]}) as client:
        failure = await refused(TencentSms.from_settings(tencent_settings(tencent), client=client), booked())
    assert failure.code == "AuthFailure.SignatureFailure" and not failure.retryable
    assert tencent.accepted == []


# ------------------------------------------------------------------------------- logs, settings, clients


async def test_no_log_line_holds_a_whole_number_a_link_or_a_secret(
    carrier: Carrier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await delivered(carrier.make(), booked())
    if carrier.name == "webhook":
        carrier.fake.fail_next(1, status=503)
    else:
        carrier.fake.fail_next(1, "InternalError")
    await refused(carrier.make(), booked())
    await refused(carrier.make(**{WRONG_SECRET[carrier.name]: "not-the-secret-0000"}), booked())
    address = f"http://127.0.0.1:{closed_port()}"
    unreachable = carrier.make(url=f"{address}/sms") if carrier.name == "webhook" else carrier.make(endpoint=address)
    await refused(unreachable, booked())

    lines = [record.getMessage() for record in caplog.records]
    assert any(MASKED in line for line in lines)
    assert any(line.startswith("HTTP Request: POST") for line in lines)  # httpx's own line is there too
    for line in lines:
        assert PHONE not in line and LINK not in line, line
        assert not any(secret in line for secret in (*SECRETS, "not-the-secret-0000")), line


async def test_an_injected_client_is_left_open_and_an_owned_one_closed(aliyun: AliyunFake) -> None:
    async with httpx.AsyncClient() as client:
        sms = AliyunSms.from_settings(aliyun_settings(aliyun), client=client)
        await sms.send(booked())
        await sms.close()
        assert not client.is_closed
    owned = AliyunSms.from_settings(aliyun_settings(aliyun))
    await owned.close()
    assert owned._client.is_closed


@pytest.mark.parametrize(
    ("make", "missing"),
    [
        (lambda: AliyunSms.from_settings(AliyunSmsSettings(access_key_id="x", sign_name="s")), "access_key_secret"),
        (lambda: AliyunSms.from_settings(AliyunSmsSettings(access_key_secret="x", sign_name="s")), "access_key_id"),
        (
            lambda: TencentSms.from_settings(TencentSmsSettings(secret_id="x", secret_key="y", sign_name="s")),
            "sms_sdk_app_id",
        ),
        (lambda: WebhookSms.from_settings(WebhookSettings(url="https://gateway.example.cn/sms")), "secret"),
    ],
)
def test_a_missing_credential_is_named(make: Callable[[], object], missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        make()


def test_settings_refuse_unknown_kinds_and_fields_and_hide_secrets() -> None:
    with pytest.raises(pydantic.ValidationError):
        AliyunSmsSettings(templates={"bookd": "SMS_1"})
    with pytest.raises(pydantic.ValidationError):
        TencentSmsSettings(secretkey="x")
    with pytest.raises(pydantic.ValidationError):
        WebhookSettings(url="ftp://gateway.example.cn")
    settings = AliyunSmsSettings(access_key_id="LTAI", access_key_secret=ALIYUN_SECRET, sign_name=SIGN_NAME)
    assert ALIYUN_SECRET not in repr(settings)
    assert ALIYUN_SECRET not in repr(AliyunSms.from_settings(settings))
