"""Who may ask: WS-Security UsernameToken on SOAP requests, HTTP Digest on the snapshot URI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Literal

from lxml import etree

from camera_control.sim.onvif.envelope import NS, TDS, TEV, TPTZ, TRT, SoapFault
from camera_control.sim.onvif.xs import parse_datetime, xs_boolean

logger = logging.getLogger(__name__)

CLOCK_TOLERANCE = 300.0  # seconds a UsernameToken's Created may stray from the camera's clock


# Hikvision's words (home-assistant/home-assistant.io#28662); HTTP 400 as the SOAP 1.2 binding has it for
# env:Sender, which is what node-onvif#60 saw with the same text ("400 Bad Request - The action requested...").
_NOT_AUTHORIZED = "The action requested requires authorization and the sender is not authorized"

# ONVIF Core's PRE_AUTH access class: answered without credentials.
PRE_AUTH = frozenset(
    {
        (TDS, "GetSystemDateAndTime"),
        (TDS, "GetServices"),
        (TDS, "GetCapabilities"),
        (TDS, "GetWsdlUrl"),
        (TDS, "GetEndpointReference"),
        (TDS, "GetServiceCapabilities"),
        (TRT, "GetServiceCapabilities"),
        (TPTZ, "GetServiceCapabilities"),
        (TEV, "GetServiceCapabilities"),
    }
)


class UsernameTokenCheck:
    """WS-Security UsernameToken as ONVIF Core requires it: PasswordDigest = Base64(SHA1(nonce + created +
    password)) with Created near the camera's clock and a nonce seen once, or PasswordText."""

    def __init__(self, username: str, password: str, clock: Callable[[], float], label: str = "camera") -> None:
        self._label = label
        self._username = username.encode()
        self._password = password.encode()
        self._clock = clock
        self._nonces: dict[bytes, float] = {}

    def verify(self, header: etree._Element | None) -> None:
        """Raise the NotAuthorized fault unless the header carries a valid token."""
        token = None if header is None else header.find("wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            raise self._refuse("no UsernameToken")
        username = (token.findtext("wsse:Username", "", NS) or "").strip().encode()
        password = token.find("wsse:Password", NS)
        if password is None or not hmac.compare_digest(username, self._username):
            raise self._refuse("unknown user")
        created = (token.findtext("wsu:Created", "", NS) or "").strip()
        if created:
            self._check_fresh(created)
        if password.get("Type", "").endswith("#PasswordDigest"):
            self._check_digest(token, (password.text or "").strip(), created)
        elif not hmac.compare_digest((password.text or "").encode(), self._password):
            raise self._refuse("wrong password")

    def _check_fresh(self, created: str) -> None:
        try:
            stamp = parse_datetime(created)
        except ValueError:
            raise self._refuse("unreadable Created") from None
        skew = stamp - self._clock()
        if abs(skew) > CLOCK_TOLERANCE:
            raise self._refuse(f"Created is {skew:+.0f} s from the camera's clock")

    def _check_digest(self, token: etree._Element, digest: str, created: str) -> None:
        nonce_text = (token.findtext("wsse:Nonce", "", NS) or "").strip()
        if not nonce_text or not created:
            raise self._refuse("a digest needs Nonce and Created")
        try:
            nonce = base64.b64decode(nonce_text)
        except ValueError:
            raise self._refuse("unreadable Nonce") from None
        expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + self._password).digest())
        if not hmac.compare_digest(expected, digest.encode()):
            raise self._refuse("wrong password")
        now = self._clock()
        self._nonces = {seen: until for seen, until in self._nonces.items() if until > now}
        if nonce in self._nonces:
            raise self._refuse("replayed nonce")
        self._nonces[nonce] = now + 2 * CLOCK_TOLERANCE

    def _refuse(self, why: str) -> SoapFault:
        logger.info("%s: ONVIF request refused: %s", self._label, why)
        return SoapFault(_NOT_AUTHORIZED, "ter:NotAuthorized")


class HttpDigest:
    """HTTP Digest (RFC 7616, MD5, qop=auth) for the snapshot URI, as cameras' web servers ask for it."""

    NONCE_LIFETIME = 300.0

    def __init__(self, username: str, password: str, realm: str) -> None:
        self._username = username
        self._password = password
        self.realm = realm
        self._nonces: dict[str, float] = {}
        self._counts: set[tuple[str, str]] = set()

    def challenge(self, stale: bool = False) -> str:
        now = time.monotonic()
        self._nonces = {nonce: issued for nonce, issued in self._nonces.items() if now - issued < self.NONCE_LIFETIME}
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = now
        flag = xs_boolean(stale).upper()
        return f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", algorithm=MD5, stale={flag}'

    def check(self, method: str, path: str, authorization: str | None) -> Literal["ok", "stale", "refused"]:
        if not authorization or not authorization.lower().startswith("digest "):
            return "refused"
        fields = {
            key.lower(): quoted or bare
            for key, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', authorization[7:])
        }
        nonce = fields.get("nonce", "")
        uri = fields.get("uri", "")
        if fields.get("username") != self._username or fields.get("realm") != self.realm:
            return "refused"
        if urllib.parse.urlsplit(uri).path != path or fields.get("algorithm", "MD5").upper() != "MD5":
            return "refused"
        issued = self._nonces.get(nonce)
        if issued is None or time.monotonic() - issued > self.NONCE_LIFETIME:
            return "stale"
        ha1 = _md5(f"{self._username}:{self.realm}:{self._password}")
        ha2 = _md5(f"{method}:{uri}")
        qop = fields.get("qop")
        if qop == "auth":
            expected = _md5(f"{ha1}:{nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}")
        elif qop is None:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        else:
            return "refused"
        if not hmac.compare_digest(expected, fields.get("response", "")):
            return "refused"
        count = (nonce, f"{fields.get('nc', '')}:{fields.get('cnonce', '')}")
        if count in self._counts:
            return "refused"
        self._counts.add(count)
        if len(self._counts) > 10_000:
            self._counts.clear()
        return "ok"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
