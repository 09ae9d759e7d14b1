"""Credentials in and out of the URIs cameras hand out, and URIs safe to log."""

from __future__ import annotations

import re
import urllib.parse
from typing import Final

_SECRET_QUERY: Final = re.compile(
    r"(?i)(^|[&;?])(password|passwd|pwd|pass|user|username|usr|loginuse|loginpas|auth|token)=([^&;#]*)"
)
# XiongMai's RTSP paths carry the credentials: /user=admin_password=secret_channel=1_stream=0.sdp
_XM_PATH_CREDENTIALS: Final = re.compile(r"(?i)user=([^_&/?]*)_password=([^_&/?]*)")


def redact(uri: str) -> str:
    """The URI with user names, passwords and tokens replaced by ***, safe to log or show."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return "<unreadable URI>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    path = _XM_PATH_CREDENTIALS.sub("user=***_password=***", parts.path)
    query = _SECRET_QUERY.sub(lambda m: f"{m[1]}{m[2]}=***", parts.query)
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def without_credentials(uri: str) -> str:
    """The URI without userinfo nor credential query parameters (XiongMai puts user= and password= there)."""
    parts = urllib.parse.urlsplit(uri)
    query = "&".join(pair for pair in parts.query.split("&") if pair and not _SECRET_QUERY.match("&" + pair))
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=query))


def storable(uri: str) -> str:
    """The URI as it may be stored: no userinfo, no credential query, XiongMai's in-path credentials emptied.
    `with_credentials` fills it in again for the ingest."""
    blank = without_credentials(uri)
    parts = urllib.parse.urlsplit(blank)
    path = _XM_PATH_CREDENTIALS.sub("user=_password=", parts.path)
    return urllib.parse.urlunsplit(parts._replace(path=path))


def with_credentials(uri: str, username: str, password: str) -> str:
    """The URI with percent-encoded credentials as its userinfo (replacing any the camera put there)."""
    parts = urllib.parse.urlsplit(uri)
    hostport = parts.netloc.rpartition("@")[2]
    user = urllib.parse.quote(username, safe="")
    secret = urllib.parse.quote(password, safe="")
    path = parts.path
    # XiongMai (XM530) hands out RTSP paths with empty in-path credentials ("user=admin_password=_channel=1")
    # and authenticates with them rather than with the RTSP userinfo: fill them in too.
    if _XM_PATH_CREDENTIALS.search(path):
        path = _XM_PATH_CREDENTIALS.sub(lambda _: f"user={user}_password={secret}", path, count=1)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{secret}@{hostport}", path=path))
