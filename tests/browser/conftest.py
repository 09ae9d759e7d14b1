"""Debian's Chromium, driven by Playwright, with fake camera and microphone."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--use-fake-ui-for-media-stream",  # grant camera and microphone without a prompt
    "--use-fake-device-for-media-stream",  # a synthetic camera picture and a beeping microphone
    "--allow-loopback-in-peer-connection",  # the server's candidates are on 127.0.0.1 in tests
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps dialling Google's hosts, which this closed network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium when run as root")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()
