"""Media: Media2 requests, and snapshots fetched over HTTP with the camera's own authentication."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
from lxml import etree
from lxml.builder import ElementMaker

from camera_control.errors import CameraAuthFailed, CameraOperationFailed, CameraProtocolError
from camera_control.onvif.faults import LIBRARY_ERRORS, translate
from camera_control.onvif.namespaces import NS_MEDIA2

_E_TR2 = ElementMaker(namespace=NS_MEDIA2, nsmap={"tr2": NS_MEDIA2})


def media2_request(operation: str, profile_token: str) -> etree._Element:
    """The body of a Media2 GetStreamUri (RTSP) or GetSnapshotUri request."""
    element = getattr(_E_TR2, operation)
    if operation == "GetStreamUri":
        return element(_E_TR2.Protocol("RTSP"), _E_TR2.ProfileToken(profile_token))
    return element(_E_TR2.ProfileToken(profile_token))


async def fetch_snapshot(
    session: aiohttp.ClientSession, uri: str, username: str, password: str, *, label: str, timeout: float
) -> bytes:
    """One JPEG from `uri`: HTTP Digest first; Basic only if the camera asks for it."""
    try:
        async with asyncio.timeout(timeout):
            digest = aiohttp.DigestAuthMiddleware(username, password)
            async with session.get(uri, middlewares=(digest,)) as response:
                status, challenge = response.status, response.headers.get("WWW-Authenticate", "")
                content = await response.read() if status < 300 else b""
            if status == 401 and challenge.lower().startswith("basic"):
                basic = base64.b64encode(f"{username}:{password}".encode()).decode()
                async with session.get(uri, headers={"Authorization": f"Basic {basic}"}) as response:
                    status = response.status
                    content = await response.read() if status < 300 else b""
    except LIBRARY_ERRORS as exc:
        # from None: the library's exception may carry URLs with credentials
        raise translate(exc, label, "the snapshot", timeout) from None
    if status in (401, 403):
        message = f"camera {label} refused the user name or password for snapshots"
        raise CameraAuthFailed(message, host=label)
    if status >= 300:
        raise CameraOperationFailed(
            f"camera {label} answered the snapshot request with HTTP {status}", host=label, reason=f"HTTP {status}"
        )
    if not content:
        raise CameraProtocolError(f"camera {label} sent an empty snapshot", host=label)
    return content
