"""The end-to-end stack: Mosquitto, simulated devices, the collector and a real Home Assistant.

Run without the Home Assistant pytest plugin (it blocks sockets): `pytest -p no:homeassistant tests/e2e`;
`PV_HASS_VENV=.venv-ha-next` runs the same tests on the newest Home Assistant release.
One stack per module; every process is stopped at teardown, also when a test or the start-up fails, and
the logs of all processes are attached to every failure report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from scripts.e2e.stack import HASS_VENV, HOST, Stack, StackSettings

from .modbus_probe import ModbusProbe

_RUNNING: list[Stack] = []


def pytest_report_header() -> str:
    """Which Home Assistant the stack runs (PV_HASS_VENV)."""
    return f"end to end with hass from {HASS_VENV}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = StackSettings(
        workdir=tmp_path_factory.mktemp("stack"),
        poll_interval=2,
        # Long enough that a collector paused (SIGSTOP) during a hass restart keeps its session;
        # a SIGKILL still triggers the Last Will at once (the socket closes).
        mqtt_keepalive=120,
    )
    stack = Stack(settings)
    _RUNNING.append(stack)
    try:
        stack.start()  # stops what it started if it fails
        yield stack
    finally:
        stack.stop()
        _RUNNING.remove(stack)


@pytest.fixture(scope="module")
def probe(stack: Stack) -> Iterator[ModbusProbe]:
    modbus = ModbusProbe(HOST, stack.modbus_port)
    yield modbus
    modbus.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _RUNNING:
        report.sections.append(("PV Monitor stack logs", _RUNNING[-1].logs(4000)))
    return report
