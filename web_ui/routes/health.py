"""Liveness and Prometheus metrics. Counts only: no personal data, so no sign-in."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from media_server import MediaNode
from web_ui.deps import ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the server answers and its database is reachable")
async def healthz(services: ServicesDep) -> dict[str, object]:
    async with services.db.engine.connect() as connection:
        await connection.exec_driver_sql("SELECT 1")
    return {"status": "ok", "rooms": len(services.media.rooms)}


class MediaCollector(Collector):
    def __init__(self, node: MediaNode) -> None:
        self._node = node

    def collect(self) -> Iterator[Metric]:
        node = self._node
        rooms = list(node.rooms.values())
        participants = [p for r in rooms for p in r.participants.values()]
        publications = sum(len(p.publications) for p in participants)
        stats = node.stats
        yield GaugeMetricFamily("hall_rooms", "Open rooms", value=len(rooms))
        yield GaugeMetricFamily("hall_participants", "Participants in all rooms", value=len(participants))
        yield GaugeMetricFamily("hall_publications", "Published tracks", value=publications)
        yield GaugeMetricFamily("hall_subscriptions", "Forwarded track subscriptions", value=stats.subscriptions)
        yield GaugeMetricFamily("hall_peer_connections", "Open WebRTC peer connections", value=stats.peer_connections)
        yield CounterMetricFamily(
            "hall_forwarded_frames", "Encoded frames forwarded to subscribers", value=stats.forwarded_frames
        )
        yield CounterMetricFamily(
            "hall_forwarded_bytes", "Encoded bytes forwarded to subscribers", value=stats.forwarded_bytes
        )
        yield CounterMetricFamily(
            "hall_keyframe_requests", "Keyframe requests (PLI) sent to publishers", value=stats.keyframe_requests
        )
        yield CounterMetricFamily(
            "hall_dropped_frames", "Frames dropped for slow subscribers", value=stats.dropped_frames
        )


def metrics_registry(node: MediaNode) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(MediaCollector(node))
    return registry


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(metrics_registry(services.media)), media_type="text/plain; version=0.0.4")
