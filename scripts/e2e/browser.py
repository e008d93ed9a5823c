"""Headless Debian Chromium driven by Playwright: log in to hass with tokens, open pages, take screenshots.

Never downloads a browser: Playwright only drives the system's /usr/bin/chromium (`executable_path`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from .hass_client import Tokens
from .processes import StackError

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium_path() -> str:
    """The system Chromium (PV_CHROMIUM overrides); StackError naming the fix when it is missing."""
    for candidate in (os.environ.get("PV_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise StackError("Chromium not found: install Debian's package (PV_SETUP_BROWSER=1 scripts/setup)")


@contextmanager
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield instance
        finally:
            instance.close()


def hass_tokens_script(base_url: str, tokens: Tokens) -> str:
    """An init script that stores the frontend's `hassTokens`, so the page opens logged in."""
    value = {
        "hassUrl": base_url,
        "clientId": tokens.client_id,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "expires": int(time.time() * 1000) + tokens.expires_in * 1000,
    }
    return f"window.localStorage.setItem('hassTokens', {json.dumps(json.dumps(value))});"


@contextmanager
def hass_page(
    instance: Browser, base_url: str, tokens: Tokens, width: int = 1400, height: int = 1000
) -> Iterator[Page]:
    context = instance.new_context(
        viewport={"width": width, "height": height},
        locale="en-GB",
        color_scheme="light",
        service_workers="block",
    )
    context.add_init_script(hass_tokens_script(base_url, tokens))
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
