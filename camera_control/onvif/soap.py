"""SOAP answers checked before they are read, and the SOAP calls we make without the library.

zeep parses in recover mode, so every answer is first checked to be whole XML (`checked_soap`), and
the library's services are wired to do so (`guard_answers`). Media2 and the PullPoint subscription
go through `RawSoap` (see the package's docstring for why).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from lxml import etree
from lxml.builder import ElementMaker

from camera_control.errors import CameraAuthFailed, CameraProtocolError
from camera_control.onvif.faults import LIBRARY_ERRORS, fault_error, raw_fault_info, translate
from camera_control.onvif.library import UsernameDigestTokenDtDiff
from camera_control.onvif.namespaces import NS_SOAP11, NS_SOAP12, NS_WSA
from camera_control.onvif.reading import local_name

if TYPE_CHECKING:
    from camera_control.onvif.camera import OnvifCamera

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------ broken answers

STRICT_PARSER: Final = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
_RECOVERING_PARSER: Final = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, recover=True)
_BODY_START: Final = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Body[\s>/]")


def checked_soap(content: bytes, label: str, what: str) -> bytes:
    """The answer, strictly well-formed, or CameraProtocolError.

    zeep parses in lxml's recover mode (the library sets strict=False for its schema leniency), which
    silently turns a truncated answer into a partial one. We check the bytes first.
    """
    try:
        etree.fromstring(content, STRICT_PARSER)
        return content
    except etree.XMLSyntaxError as exc:
        error = exc
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        # Some cameras put invalid UTF-8 in their device information (Home Assistant's onvif device.py):
        # the odd bytes become U+FFFD rather than the whole answer being lost.
        return checked_soap(content.decode("utf-8", "replace").encode("utf-8"), label, what)
    # XiongMai XM530 (SUNBA.405) answers GetPresets with an unclosed <wsse:Security> in its Header; the
    # Body is whole. A break before the Body starts is forgiven: the Body is kept, the Header dropped.
    body = _BODY_START.search(content)
    if body is not None and _byte_offset(content, error.position) < body.start():
        repaired = _without_header(content)
        if repaired is not None:
            logger.debug("%s: dropped a broken SOAP header from the answer to %s", label, what)
            return repaired
    raise CameraProtocolError(f"camera {label} sent a broken answer to {what} ({error.msg})", host=label)


def _byte_offset(content: bytes, position: tuple[int, int]) -> int:
    line, column = position
    lines = content.split(b"\n")
    return sum(len(text) + 1 for text in lines[: max(line - 1, 0)]) + max(column - 1, 0)


def _without_header(content: bytes) -> bytes | None:
    try:
        root = etree.fromstring(content, _RECOVERING_PARSER)
    except etree.XMLSyntaxError:
        return None
    if root is None:
        return None
    body = next(root.iter(f"{{{NS_SOAP12}}}Body", f"{{{NS_SOAP11}}}Body"), None)
    if body is None:
        return None
    # Keep every namespace declaration: QName values in text (topics, xsi:type) use them too.
    envelope = etree.Element(root.tag, nsmap=root.nsmap)
    envelope.append(copy.deepcopy(body))
    result: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return result


def guard_answers(service: Any, label: str) -> None:
    """Check every answer of a library service before zeep parses it (see `checked_soap`).

    The library gives no hook for this, so the service's transport is wrapped, once.
    """
    transport = service.transport
    if getattr(transport, "_hall_guarded", False):
        return
    post_xml = transport.post_xml

    async def checked_post_xml(address: str, envelope: Any, headers: dict[str, str]) -> Any:
        response = await post_xml(address, envelope, headers)
        # Error statuses are left to zeep: a 401 with an HTML page must stay an authentication failure.
        if 200 <= response.status_code < 300:
            response._content = checked_soap(response.content, label, _operation_of(envelope))
        return response

    transport.post_xml = checked_post_xml
    transport._hall_guarded = True


def _operation_of(envelope: Any) -> str:
    body = next((child for child in envelope if local_name(str(child.tag)) == "Body"), None)
    operation = next(iter(body), None) if body is not None else None
    return local_name(str(operation.tag)) if operation is not None else "a request"


# ------------------------------------------------------------------------------ raw SOAP (Media2, events)

_E_SOAP = ElementMaker(namespace=NS_SOAP12, nsmap={"s": NS_SOAP12})
_E_WSA = ElementMaker(namespace=NS_WSA, nsmap={"wsa": NS_WSA})


class RawSoap:
    """SOAP 1.2 calls built and read with lxml, signed with the library's WS-UsernameToken."""

    def __init__(self, owner: OnvifCamera) -> None:
        self._owner = owner

    async def call(
        self,
        url: str,
        body: etree._Element,
        *,
        what: str,
        action: str | None = None,
        reference_parameters: Sequence[etree._Element] = (),
        timeout: float | None = None,
    ) -> etree._Element:
        """POST `body` to `url`; the answer's Body content, or the camera's fault as a CameraError."""
        owner = self._owner
        limit = owner.timeout if timeout is None else timeout
        data = self._envelope(url, body, action, reference_parameters)
        content_type = "application/soap+xml; charset=utf-8"
        if action:
            content_type += f'; action="{action}"'
        try:
            async with asyncio.timeout(limit):
                async with owner._http.post(url, data=data, headers={"Content-Type": content_type}) as response:
                    status = response.status
                    content = await response.read()
        except LIBRARY_ERRORS as exc:
            # from None: the library's exception may carry URLs with credentials
            raise translate(exc, owner.label, what, limit) from None
        return _answer_body(content, status, owner.label, what)

    def _envelope(
        self, url: str, body: etree._Element, action: str | None, reference_parameters: Sequence[etree._Element]
    ) -> bytes:
        owner = self._owner
        header = _E_SOAP.Header()
        if action:
            header.append(_E_WSA.Action(action))
            header.append(_E_WSA.MessageID(f"urn:uuid:{uuid.uuid4()}"))
            header.append(_E_WSA.To(url))
            for parameter in reference_parameters:
                echoed = copy.deepcopy(parameter)
                echoed.set(f"{{{NS_WSA}}}IsReferenceParameter", "true")
                header.append(echoed)
        envelope = _E_SOAP.Envelope(header, _E_SOAP.Body(body))
        token = UsernameDigestTokenDtDiff(owner.username, owner._password, dt_diff=owner._clock_delta, use_digest=True)
        token.apply(envelope, {})
        data: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        return data


def _answer_body(content: bytes, status: int, label: str, what: str) -> etree._Element:
    if not content.strip():
        if status in (401, 403):
            raise CameraAuthFailed(f"camera {label} refused the user name or password (HTTP {status})", host=label)
        raise CameraProtocolError(f"camera {label} answered {what} with HTTP {status} and nothing else", host=label)
    try:
        root = etree.fromstring(checked_soap(content, label, what), STRICT_PARSER)
    except CameraProtocolError:
        if status in (401, 403):
            raise CameraAuthFailed(
                f"camera {label} refused the user name or password (HTTP {status})", host=label
            ) from None
        raise
    body = next((child for child in root if local_name(child.tag) == "Body"), None)
    content_element = next(iter(body), None) if body is not None else None
    if content_element is None:
        raise CameraProtocolError(f"camera {label} answered {what} with an empty SOAP body", host=label)
    if local_name(content_element.tag) == "Fault":
        raise fault_error(raw_fault_info(content_element), label, what)
    if status >= 300:
        raise CameraProtocolError(f"camera {label} answered {what} with HTTP {status}", host=label)
    return content_element
