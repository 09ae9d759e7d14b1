"""A WHIP publisher in its own process, for tests that kill it without a goodbye.

usage: python whip_publisher.py URL TOKEN   (prints the participant id, then publishes until killed)
"""

from __future__ import annotations

import asyncio
import sys

import httpx
from media_tools import Publisher

from media_server import aiortc_adapter


async def main(url: str, token: str) -> None:
    aiortc_adapter.configure_ice(
        interfaces=["127.0.0.1"], port_range=None, advertised_addresses=[], consent_interval=5.0, consent_failures=6
    )
    publisher = Publisher()
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url,
            content=await publisher.offer(),
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
        )
    response.raise_for_status()
    await publisher.accept(response.text)
    print(response.headers["x-participant-id"], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
