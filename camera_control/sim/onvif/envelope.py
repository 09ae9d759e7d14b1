"""SOAP on the wire: the envelope the camera answers in, its faults, and a request as a handler sees it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Awaitable, Callable
from xml.sax.saxutils import escape

from lxml import etree

# ------------------------------------------------------------------ namespaces

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TT = "http://www.onvif.org/ver10/schema"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS = {"tt": TT, "tds": TDS, "trt": TRT, "tptz": TPTZ, "tev": TEV, "wsnt": WSNT, "wsse": WSSE, "wsu": WSU}

# The envelope of the Hikvision captures, less the vendor's own extension namespaces.
_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
    ' xmlns:soapenc="http://www.w3.org/2003/05/soap-encoding"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:xs="http://www.w3.org/2001/XMLSchema"'
    ' xmlns:tt="http://www.onvif.org/ver10/schema"'
    ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl"'
    ' xmlns:trt="http://www.onvif.org/ver10/media/wsdl"'
    ' xmlns:timg="http://www.onvif.org/ver20/imaging/wsdl"'
    ' xmlns:tev="http://www.onvif.org/ver10/events/wsdl"'
    ' xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"'
    ' xmlns:tan="http://www.onvif.org/ver20/analytics/wsdl"'
    ' xmlns:ter="http://www.onvif.org/ver10/error"'
    ' xmlns:dn="http://www.onvif.org/ver10/network/wsdl"'
    ' xmlns:tns1="http://www.onvif.org/ver10/topics"'
    ' xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"'
    ' xmlns:wsa="http://www.w3.org/2005/08/addressing"'
    ' xmlns:wstop="http://docs.oasis-open.org/wsn/t-1"'
    ' xmlns:wsrf-bf="http://docs.oasis-open.org/wsrf/bf-2"'
    ' xmlns:wsrf-r="http://docs.oasis-open.org/wsrf/r-2">'
)

BROKEN_AT = len(_ENVELOPE_OPEN) // 2


class SoapFault(Exception):
    """An answer that is a SOAP fault. HTTP status per the SOAP 1.2 HTTP binding: 400 for env:Sender,
    500 for env:Receiver."""

    def __init__(self, reason: str, *subcodes: str, code: str = "env:Sender", detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.subcodes = subcodes
        self.code = code
        self.detail = detail
        self.status = 400 if code == "env:Sender" else 500


def not_supported(what: str = "Optional Action Not Implemented") -> SoapFault:
    return SoapFault(what, "ter:ActionNotSupported", code="env:Receiver")


def invalid(reason: str, subcode: str | None = None) -> SoapFault:
    """ONVIF's "Argument Value Invalid" fault, with the operation's own subcode when it has one."""
    return SoapFault(reason, "ter:InvalidArgVal", *([subcode] if subcode else []))


def escaped(value: object) -> str:
    """Text or attribute value, escaped."""
    return escape(str(value), {'"': "&quot;"})


def soap_envelope(body: str, action: str | None = None) -> bytes:
    header = f"<env:Header><wsa:Action>{action}</wsa:Action></env:Header>" if action else ""
    return f"{_ENVELOPE_OPEN}{header}<env:Body>{body}</env:Body></env:Envelope>\n".encode()


def fault_body(fault: SoapFault) -> str:
    subcodes = ""
    for subcode in reversed(fault.subcodes):
        subcodes = f"<env:Subcode><env:Value>{subcode}</env:Value>{subcodes}</env:Subcode>"
    detail = f"<env:Detail>{fault.detail}</env:Detail>" if fault.detail else ""
    return (
        f"<env:Fault><env:Code><env:Value>{fault.code}</env:Value>{subcodes}</env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{escaped(fault.reason)}</env:Text></env:Reason>'
        "<env:Node>http://www.w3.org/2003/05/soap-envelope/node/ultimateReceiver</env:Node>"
        "<env:Role>http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver</env:Role>"
        f"{detail}</env:Fault>"
    )


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)


def parse_request(payload: bytes) -> tuple[etree._Element | None, etree._Element]:
    """The SOAP Header (or None) and the operation element of a request."""
    try:
        root = etree.fromstring(payload, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault(f"Well-formed Error: {exc}", "ter:WellFormed") from None
    if root.getroottree().docinfo.doctype:
        raise SoapFault("Well-formed Error: a DTD is not allowed", "ter:WellFormed")
    qname = etree.QName(root)
    if qname.localname != "Envelope" or qname.namespace not in (SOAP_ENV, SOAP11_ENV):
        raise SoapFault("Well-formed Error: not a SOAP envelope", "ter:WellFormed")
    header = root.find(f"{{{qname.namespace}}}Header")
    body = root.find(f"{{{qname.namespace}}}Body")
    operation = None if body is None else next((child for child in body if isinstance(child.tag, str)), None)
    if operation is None:
        raise SoapFault("Well-formed Error: the Body holds no operation", "ter:WellFormed")
    return header, operation


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """One SOAP request as a handler sees it."""

    operation: etree._Element
    base_url: str  # http://HOST:PORT as the camera advertises itself to this client
    host: str
    pullpoint_id: str | None = None

    def text(self, path: str) -> str | None:
        element = self.operation.find(path, NS)
        return None if element is None or element.text is None else element.text.strip()

    def required(self, path: str) -> str:
        value = self.text(path)
        if not value:
            raise invalid(f"{path} is required")
        return value

    def number(self, path: str, attribute: str) -> float | None:
        element = self.operation.find(path, NS)
        if element is None or element.get(attribute) is None:
            return None
        try:
            value = float(element.get(attribute, ""))
        except ValueError:
            raise invalid(f"{path}@{attribute} is not a number") from None
        if not math.isfinite(value):
            raise invalid(f"{path}@{attribute} is not a number")
        return value

    def space(self, path: str) -> str | None:
        element = self.operation.find(path, NS)
        return None if element is None else element.get("space")

    def flag(self, path: str, default: bool) -> bool:
        value = self.text(path)
        return default if value is None else value.lower() in ("true", "1")


Handler = Callable[[Call], Awaitable[str]]
