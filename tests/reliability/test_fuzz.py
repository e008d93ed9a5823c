"""Fuzzing (hypothesis, a small profile; bench/fuzz.py runs >= 10,000 cases): command payloads never crash
the collector and never write anything but a declared writable point within range; configuration data
and files with every kind of mistake give one clear message per problem, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from pv_collector.cli import main
from tests.mosquitto import free_port
from tests.reliability.fuzzing import (
    COMMAND_PAYLOADS,
    CONFIGS,
    DEVICE_IDS,
    POINT_KEYS,
    YAML_TEXTS,
    CommandRig,
    check_config,
    check_config_file_output,
    command_rig,
)

EXAMPLES = int(os.environ.get("PV_FUZZ_EXAMPLES", "150"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> CommandRig:
    with command_rig(tmp_path_factory.mktemp("fuzz"), free_port()) as rig:
        yield rig  # type: ignore[misc]


@FAST
@given(device=DEVICE_IDS, point=POINT_KEYS, payload=COMMAND_PAYLOADS)
def test_commands_never_crash_and_write_only_declared_points(
    rig: CommandRig, device: str, point: str, payload: bytes
) -> None:
    rig.command(device, point, payload)
    rig.check_writes()
    assert rig.collector.pollers["meter"].availability == "online", "the collector keeps polling"


def test_the_rig_sees_a_valid_write(rig: CommandRig) -> None:
    """The write check is not vacuous: a valid command writes, and it is recorded and allowed."""
    rig.command("battery", "battery_mode", b"charge")
    rig.command("battery", "charge_power_limit", b"1500")
    assert rig.writes, "a valid command reached the simulator"
    rig.check_writes()


@FAST
@given(CONFIGS)
def test_configuration_mistakes_give_clear_messages(data: object) -> None:
    check_config(data)


@settings(
    max_examples=max(EXAMPLES // 3, 20), deadline=None, suppress_health_check=list(HealthCheck), database=None
)
@given(YAML_TEXTS)
def test_configuration_files_never_crash_the_cli(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = Path(tmp_path_factory.mktemp("cfg")) / "collector.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    code = main(["check", "--config", str(path)])
    out, err = capsys.readouterr()
    check_config_file_output(text, code, out, err)
