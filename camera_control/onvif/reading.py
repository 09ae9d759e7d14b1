"""Lenient reading of camera answers: zeep objects and lxml elements in which any field may be missing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from camera_control.onvif.library import normalize_url


def mended_address(xaddr: str) -> str:
    # Some firmwares double the port ("http://192.168.1.106:8106:8106/onvif/...", Home Assistant
    # issue 92603); the library's normalize_url mends it.
    address = str(xaddr).strip()
    return normalize_url(address) or address


def local_name(name: object) -> str:
    """`ter:NotAuthorized`, `{ns}NotAuthorized` -> `NotAuthorized`; "" for a comment's or PI's tag."""
    if not isinstance(name, str):
        return ""
    return name.rpartition("}")[2].rpartition(":")[2]


def field(obj: Any, *path: str) -> Any:
    """Walk attributes of a zeep object; None as soon as one is missing (non-strict parsing leaves gaps)."""
    for name in path:
        if obj is None:
            return None
        try:
            obj = obj[name] if isinstance(obj, Mapping) else getattr(obj, name, None)
        except (KeyError, IndexError):
            return None
    return obj


def as_text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def as_float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def child(element: etree._Element | None, *path: str) -> etree._Element | None:
    """The first descendant down `path`, by local name (cameras vary in prefixes and even namespaces)."""
    for name in path:
        if element is None:
            return None
        element = next((sub for sub in element if isinstance(sub.tag, str) and local_name(sub.tag) == name), None)
    return element


def child_text(element: etree._Element | None, *path: str) -> str | None:
    found = child(element, *path)
    return found.text.strip() if found is not None and found.text else None
