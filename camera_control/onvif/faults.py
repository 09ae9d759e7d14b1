"""What went wrong, in the hall's terms: library, network and SOAP failures as `camera_control.errors`."""

from __future__ import annotations

import dataclasses
import re
from typing import Final

import aiohttp
import zeep.exceptions
from lxml import etree

from camera_control.errors import (
    CameraAuthFailed,
    CameraError,
    CameraOperationFailed,
    CameraProtocolError,
    CameraTimeout,
    CameraUnreachable,
)
from camera_control.onvif.library import ONVIFError
from camera_control.onvif.reading import local_name
from camera_control.onvif.uris import redact

LIBRARY_ERRORS: Final = (
    TimeoutError,
    aiohttp.ClientError,
    OSError,
    zeep.exceptions.Error,
    etree.XMLSyntaxError,
    ONVIFError,
)


class ActionNotSupported(CameraOperationFailed):
    """The camera says it does not implement the operation (ter:ActionNotSupported and look-alikes)."""


class NoSuchToken(CameraOperationFailed):
    """The camera says the token (preset, profile, configuration) does not exist."""


@dataclasses.dataclass(frozen=True, slots=True)
class FaultInfo:
    codes: tuple[str, ...]  # local names of the code and every subcode
    reason: str


_AUTH_WORDS: Final = re.compile(r"not ?authori[sz]ed|unauthori[sz]ed|authenticat|authority|wrong password", re.I)
_UNSUPPORTED_WORDS: Final = re.compile(
    r"not (?:be )?(?:implemented|supported|recogni[sz]ed)|unsupported|action ?not ?supported|unknown (?:action|method)",
    re.I,
)


def fault_error(fault: FaultInfo, label: str, what: str) -> CameraError:
    codes = set(fault.codes)
    reason = fault.reason or "no reason given"
    # Dahua and XiongMai firmwares answer a bad password with a plain Sender fault and only say it in
    # words; most others use the ter:NotAuthorized subcode.
    if "NotAuthorized" in codes or _AUTH_WORDS.search(reason):
        return CameraAuthFailed(f"camera {label} refused the user name or password ({reason})", host=label)
    if codes & {"ActionNotSupported", "OptionalActionNotSupported", "NoSuchService"} or _UNSUPPORTED_WORDS.search(
        reason
    ):
        return ActionNotSupported(f"camera {label} does not support {what}", host=label, reason=reason)
    if codes & {"NoToken", "NoEntity", "NoProfile"}:
        return NoSuchToken(f"camera {label} knows no such item for {what} ({reason})", host=label, reason=reason)
    return CameraOperationFailed(f"camera {label} refused {what}: {reason}", host=label, reason=reason)


def _zeep_fault_info(fault: zeep.exceptions.Fault) -> FaultInfo:
    codes = [local_name(str(fault.code or ""))]
    for subcode in fault.subcodes or []:
        codes.append(local_name(getattr(subcode, "localname", None) or str(subcode)))
    return FaultInfo(tuple(code for code in codes if code), str(fault.message or "").strip())


def translate(exc: BaseException, label: str, what: str, timeout: float) -> CameraError:
    """The hall's error for a library, network or parsing failure during `what`."""
    if isinstance(exc, CameraError):
        return exc
    if isinstance(exc, TimeoutError):
        return CameraTimeout(f"camera {label} did not answer {what} within {timeout:g} s", host=label)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return CameraUnreachable(f"the camera's name {label} cannot be resolved: check the address", host=label)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CameraUnreachable(
            f"nothing answers at {label}: check that the camera is on and the address and port are right",
            host=label,
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return CameraProtocolError(f"camera {label} hung up in the middle of {what}", host=label)
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return CameraUnreachable(f"the connection to camera {label} failed during {what}: {_safe(exc)}", host=label)
    if isinstance(exc, aiohttp.ClientError):
        return CameraProtocolError(f"camera {label} answered {what} with something unusable: {_safe(exc)}", host=label)
    if isinstance(exc, zeep.exceptions.Fault):
        return fault_error(_zeep_fault_info(exc), label, what)
    if isinstance(exc, zeep.exceptions.TransportError):
        if exc.status_code in (401, 403):
            return CameraAuthFailed(
                f"camera {label} refused the user name or password (HTTP {exc.status_code})", host=label
            )
        return CameraProtocolError(
            f"camera {label} answered {what} with HTTP {exc.status_code} and no usable SOAP answer", host=label
        )
    if isinstance(exc, zeep.exceptions.Error | etree.XMLSyntaxError):
        return CameraProtocolError(f"camera {label} sent a broken answer to {what}: {_safe(exc)}", host=label)
    return CameraProtocolError(f"camera {label} failed {what}: {_safe(exc)}", host=label)


_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\",)]+")


def _safe(exc: BaseException) -> str:
    """The library's words with every URL in them redacted: aiohttp puts the request URL (and a camera's
    query credentials, XiongMai's snapshot) into its messages."""
    return _URL.sub(lambda match: redact(match.group(0)), str(exc))


def raw_fault_info(fault: etree._Element) -> FaultInfo:
    codes = [local_name(value.text or "") for value in fault.iter() if local_name(value.tag) in ("Value", "faultcode")]
    reason = " ".join(
        (text.text or "").strip() for text in fault.iter() if local_name(text.tag) in ("Text", "faultstring")
    ).strip()
    return FaultInfo(tuple(code for code in codes if code), reason)
