"""The SMS backends' settings: one section per carrier. Secrets are SecretStr and come from the environment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from scheduler.sms.message import MessageKind

_URL = r"^https?://\S+$"


class AliyunSmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_key_id: str | None = Field(default=None, description="AccessKey ID of a RAM user allowed dysms:SendSms")
    access_key_secret: SecretStr | None = Field(default=None, description="that AccessKey's secret")
    sign_name: str | None = Field(default=None, description="approved SMS sign name (签名), e.g. the bureau's name")
    endpoint: str = Field(
        default="https://dysmsapi.aliyuncs.com", pattern=_URL, description="SendSms endpoint (scheme and host)"
    )
    templates: dict[MessageKind, str] = Field(
        default_factory=dict, description="our message kind -> approved TemplateCode, e.g. booked = 'SMS_15305****'"
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="seconds one SendSms call may take")


class TencentSmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret_id: str | None = Field(default=None, description="SecretId of a CAM key allowed sms:SendSms")
    secret_key: SecretStr | None = Field(default=None, description="that key's SecretKey")
    sms_sdk_app_id: str | None = Field(default=None, description="SmsSdkAppId of the SMS application, e.g. 1400006666")
    sign_name: str | None = Field(default=None, description="approved SMS sign name (签名)")
    region: str = Field(default="ap-guangzhou", min_length=1, description="X-TC-Region of the calls")
    endpoint: str = Field(
        default="https://sms.tencentcloudapi.com", pattern=_URL, description="SendSms endpoint (scheme and host)"
    )
    templates: dict[MessageKind, str] = Field(
        default_factory=dict, description="our message kind -> approved TemplateId, e.g. booked = '1110'"
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="seconds one SendSms call may take")


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, pattern=_URL, description="URL our own SMS gateway takes messages at")
    secret: SecretStr | None = Field(default=None, description="shared secret of the X-Hall-Signature HMAC")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="seconds one POST may take")


def required(settings: BaseModel, field: str) -> str:
    """A setting a backend cannot work without, or a ValueError naming it."""
    value = getattr(settings, field)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not value:
        raise ValueError(f"{type(settings).__name__}.{field} is not set; the SMS backend needs it")
    return str(value)
