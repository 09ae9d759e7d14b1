"""The XML namespaces of the ONVIF services and of the SOAP standards under them."""

from __future__ import annotations

from typing import Final

NS_DEVICE: Final = "http://www.onvif.org/ver10/device/wsdl"
NS_MEDIA: Final = "http://www.onvif.org/ver10/media/wsdl"
NS_MEDIA2: Final = "http://www.onvif.org/ver20/media/wsdl"
NS_PTZ: Final = "http://www.onvif.org/ver20/ptz/wsdl"
NS_EVENTS: Final = "http://www.onvif.org/ver10/events/wsdl"
NS_IMAGING: Final = "http://www.onvif.org/ver20/imaging/wsdl"
NS_SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11: Final = "http://schemas.xmlsoap.org/soap/envelope/"
NS_WSA: Final = "http://www.w3.org/2005/08/addressing"
NS_WSNT: Final = "http://docs.oasis-open.org/wsn/b-2"
