"""Credentials that ride in URLs, kept out of the logs: join tokens in a socket's query, and the key of a
petitioner's SMS link in the path of their page and its API."""

from __future__ import annotations

import re

CREDENTIALS = re.compile(r"(token=)[^&\s\"']+|(/v/|/api/visits/)[A-Za-z0-9_\-]+")


def redact(text: str) -> str:
    return CREDENTIALS.sub(lambda match: (match.group(1) or match.group(2)) + "[redacted]", text)
