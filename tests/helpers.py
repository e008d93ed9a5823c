"""What every test folder shares: `eventually()` (wait for a condition), the `broker` fixture (a real
Mosquitto), `required_tool()` (a tool scripts/setup installs) and `with_entities()` (a contract document
as this collector announces it).

`eventually` waits for something real peers do (a broker, a simulator, another process); the deadline
only bounds a wait, no test asserts how long anything took (move time with the freezer or an injected clock
instead). Imported by tests/conftest.py, so every folder below tests/ has the `broker` fixture.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pv_collector.entity_model import resolve
from tests.mosquitto import Mosquitto

WAIT = 30.0  # seconds any awaited condition may take before the test fails (a loaded 2-core CI machine)


async def eventually[T](
    probe: Callable[[], T | None], what: str = "the condition", *, within: float = WAIT
) -> T:
    """The first truthy result of `probe()`, which is called every 20 ms while the event loop runs.

    Raises `AssertionError` naming `what` when `within` seconds pass first.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = probe()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(0.02)


def required_tool(name: str) -> str:
    """The path of a program scripts/setup installs (socat, apparmor_parser, mosquitto): a test that needs
    it fails when it is missing, it never skips (a skip would hide a broken set-up in CI)."""
    path = shutil.which(name) or next(
        (str(folder / name) for folder in (Path("/usr/sbin"), Path("/sbin")) if (folder / name).exists()),
        None,
    )
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/setup, which installs it")
    return path


@pytest.fixture
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto on a free 127.0.0.1 port, persisting into the test's folder.

    Extra configuration lines: `@pytest.mark.broker_config("sys_interval 1")`. Under Home Assistant's test
    harness (which blocks sockets) the test may open sockets to 127.0.0.1; request `broker` before `hass`
    so the broker is torn down after Home Assistant.
    """
    if request.config.pluginmanager.has_plugin("homeassistant"):
        request.getfixturevalue("socket_enabled")
    marker = request.node.get_closest_marker("broker_config")
    server = Mosquitto(tmp_path / "mosquitto", extra_config=marker.args[0] if marker else "")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def point_with_entity(point: dict[str, Any]) -> dict[str, Any]:
    """An announced point with the `entity` the collector's entity model resolves for its fields."""
    entity = resolve(
        point["kind"],
        writable="writable" in point,
        unit=point.get("unit"),
        device_class=point.get("device_class"),
        state_class=point.get("state_class"),
        precision=point.get("precision"),
    )
    return {**point, "entity": entity.to_payload()}


def with_entities(announcement: dict[str, Any]) -> dict[str, Any]:
    """A copy of an announcement (e.g. the integration's fixture, written as a collector before the entity
    model announced `entity`) with every point as this collector announces it."""
    document = copy.deepcopy(announcement)
    for device in document.get("devices", ()):
        device["points"] = [point_with_entity(point) for point in device["points"]]
    return document
