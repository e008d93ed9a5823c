"""Fixtures of every test folder (tests/helpers.py): the `broker` (a real Mosquitto)."""

import pytest

from tests.helpers import broker  # noqa: F401 - the fixture, for every folder below tests/


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "broker_config(text): extra Mosquitto configuration lines for `broker`"
    )
