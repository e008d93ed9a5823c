"""Home Assistant shows PV Monitor's own brand images: served by a real `hass`, seen in Debian's chromium.

Since 2026.3 Home Assistant serves a custom integration's `custom_components/<domain>/brand/` images at
`/api/brands/integration/<domain>/<image>` (homeassistant/components/brands in 2026.10.4: local files first,
then the brands CDN, then a placeholder), and the frontend's integration cards load `icon.png`, or
`dark_icon.png` in a dark theme, from there with a `token` query parameter. This stack has no internet, so
without our images a card would show no icon at all (the CDN and its placeholder are unreachable): the
check below can only pass with the images the integration ships.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page

from scripts.e2e.browser import browser, hass_tokens_script
from scripts.e2e.hass_client import Tokens
from scripts.e2e.processes import wait_until
from scripts.e2e.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
BRAND = ROOT / "custom_components" / "pv_monitor" / "brand"
BRAND_URL = "/api/brands/integration/pv_monitor/"


def _get(stack: Stack, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(stack.url + path, headers={"Authorization": f"Bearer {stack.token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_home_assistant_serves_every_brand_image_from_the_integration(stack: Stack) -> None:
    shipped = sorted(p.name for p in BRAND.iterdir())
    assert "icon.png" in shipped
    for name in shipped:
        # placeholder=no: a 404 instead of the generic placeholder when Home Assistant has no such image.
        status, body = _get(stack, f"{BRAND_URL}{name}?placeholder=no")
        assert status == 200, name
        assert body == (BRAND / name).read_bytes(), f"{name} is not the integration's own file"
    # The same endpoint for an integration without brand images (MQTT's come from the unreachable CDN).
    assert _get(stack, "/api/brands/integration/mqtt/icon.png?placeholder=no")[0] == 404


type Scheme = Literal["light", "dark"]


def _integrations_page(instance: Browser, stack: Stack, tokens: Tokens, scheme: Scheme) -> Page:
    """A logged-in page whose browser prefers `scheme` (the frontend's default theme follows it)."""
    context = instance.new_context(
        viewport={"width": 1400, "height": 1000}, locale="en-GB", color_scheme=scheme, service_workers="block"
    )
    context.add_init_script(hass_tokens_script(stack.url, tokens))
    return context.new_page()


@pytest.mark.parametrize(("scheme", "image"), [("light", "icon.png"), ("dark", "dark_icon.png")])
def test_integration_card_shows_the_pv_monitor_icon(
    stack: Stack, tmp_path: Path, scheme: Scheme, image: str
) -> None:
    tokens = stack.client.login(stack.settings.username, stack.settings.password)
    with browser() as instance:
        page = _integrations_page(instance, stack, tokens, scheme)
        try:
            with page.expect_response(lambda r: BRAND_URL in r.url, timeout=60_000) as loaded:
                page.goto(f"{stack.url}/config/integrations/dashboard")
            response = loaded.value
            assert urlparse(response.url).path == BRAND_URL + image
            assert response.status == 200
            assert response.body() == (BRAND / image).read_bytes()

            card = page.locator("ha-integration-card").filter(has_text="PV Monitor")
            # The card's image from the brands endpoint (the frontend of 2026.10 puts it in
            # ha-integration-card-header, 2026.11's in ha-row-item).
            icon = card.locator(f'img[src*="{BRAND_URL}"]')

            def shown() -> dict[str, object] | None:
                state: dict[str, object] = icon.evaluate(
                    "img => ({src: img.src, complete: img.complete, width: img.naturalWidth,"
                    " visibility: getComputedStyle(img).visibility,"
                    " box: img.getBoundingClientRect().width})"
                )
                return state if state["complete"] and state["visibility"] != "hidden" else None

            state = wait_until(shown, 60, f"the PV Monitor card's icon ({scheme} theme)", 0.5)
            assert urlparse(str(state["src"])).path == BRAND_URL + image
            assert state["width"] == 256  # decoded: our 256 x 256 icon, not a broken image
            box = state["box"]
            assert isinstance(box, int | float)
            assert box > 0  # laid out, not collapsed
            screenshot = tmp_path / f"integration-card-{scheme}.png"
            card.screenshot(path=screenshot)
            assert screenshot.stat().st_size > 2_000
        finally:
            page.context.close()
