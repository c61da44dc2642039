"""Headless Chromium through Playwright's sync API, isolated from pytest.

Debian's `/usr/bin/chromium` (`make install-chromium`), not Playwright's own browser download.
`in_own_thread` runs a whole browser session in a fresh thread: Playwright's sync API drives its
own asyncio loop and greenlets, and a fresh thread has no running loop to collide with and
leaves nothing behind on pytest's thread. Each pytest-xdist worker is its own process with its
own Playwright driver, so workers never share a browser.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 2200}  # tall enough for the whole port_sync graph

T = TypeVar("T")


def in_own_thread(function: Callable[[], T]) -> T:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright") as pool:
        return pool.submit(function).result()


@contextmanager
def chromium_page() -> Iterator[Page]:
    """A page of a fresh headless Chromium with an empty profile; closed whatever happens."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install-chromium` installs Debian's chromium")
    with (
        tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=VIEWPORT,
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
