"""Fail every test during which Home Assistant reports a deprecated use by this integration.

Python `DeprecationWarning`s raised from `custom_components.pv_monitor` are errors through pytest's
`filterwarnings` (pyproject.toml). Home Assistant itself does not warn a custom integration that way: it
logs "Detected that custom integration 'pv_monitor' ..." (`homeassistant.helpers.frame.report_usage`,
e.g. `DeviceEntry.config_entries`) or "The deprecated ... was used from pv_monitor"
(`homeassistant.helpers.deprecation`), and only once per place and process. The hooks below forget
what was reported before each test and turn every such log line into a failure of the test.

Conftests of suites that run the integration in Home Assistant import the two hooks.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Generator

import pytest

DOMAIN = "pv_monitor"
REPORTED = re.compile(rf"Detected that custom integration '{DOMAIN}'|The deprecated .* from {DOMAIN}\b")


class _Reports(logging.Handler):
    """Keeps the report lines logged while a test runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if REPORTED.search(message):
            self.lines.append(message)


_REPORTS = _Reports()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None]:
    """Start listening; Home Assistant reports each place once per process, so forget earlier ones."""
    if (frame := sys.modules.get("homeassistant.helpers.frame")) is not None:
        frame._REPORTED_INTEGRATIONS.clear()
    _REPORTS.lines.clear()
    logging.getLogger().addHandler(_REPORTS)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """After every fixture is torn down (Home Assistant stopped): fail on what was reported."""
    try:
        result = yield
    finally:
        logging.getLogger().removeHandler(_REPORTS)
    if _REPORTS.lines:
        lines = "\n".join(_REPORTS.lines)
        _REPORTS.lines.clear()
        pytest.fail(f"Home Assistant reported a deprecated use by {DOMAIN}:\n{lines}", pytrace=False)
    return result
