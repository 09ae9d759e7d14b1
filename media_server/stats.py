"""Counters of the media node, read by the web edge's /metrics."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class MediaStats:
    forwarded_frames: int = 0
    forwarded_bytes: int = 0
    keyframe_requests: int = 0
    dropped_frames: int = 0
    subscriptions: int = 0
    peer_connections: int = 0
