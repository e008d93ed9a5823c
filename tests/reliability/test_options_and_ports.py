"""Options, ports and unusable data folders (issue 15, section 6): one line naming the option or the
folder, from `pv-collector check` and `run` alike; never a traceback.

The commands run as real processes (`python -m pv_collector`), so what is tested is what a user sees; the
matrix of every numeric option and value calls the same entry point (`pv_collector.cli.main`) in this
process, without a process start of its own per case, and one case of it runs as a real process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pv_collector.cli import main
from tests.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
collector: {id: home}
data_dir: DATA
metrics: {enabled: true, host: 127.0.0.1, port: METRICS}
mqtt: {host: 127.0.0.1, port: MQTT}
publish: {max_interval: 300, stats_interval: 60}
queue: {max_age: 3600}
site: {latitude: 52.5, longitude: 13.4}
buses:
  - name: lan
    type: tcp
    host: 127.0.0.1
    port: MODBUS
    timeout: 1.0
    quarantine_retry: 3600
    gateway: {port: 0, max_age: 10}
    devices:
      - {id: meter, unit_id: 1, profile: sdm630, poll_interval: 5, deadband: {power: 5},
         asleep_poll_interval: 300}
"""


def pv_collector(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon/collector")}
    return subprocess.run(
        [sys.executable, "-m", "pv_collector", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def write_config(directory: Path, text: str = CONFIG, **values: object) -> Path:
    values = {"DATA": directory / "data", "METRICS": 0, "MQTT": free_port(), "MODBUS": free_port(), **values}
    for name, value in values.items():
        text = text.replace(name, str(value))
    path = directory / "collector.yaml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------ every numeric option finite and in range

NUMERIC_OPTIONS = [
    ("publish: {max_interval: 300,", "publish: {max_interval: VALUE,", "publish.max_interval"),
    ("stats_interval: 60}", "stats_interval: VALUE}", "publish.stats_interval"),
    ("queue: {max_age: 3600}", "queue: {max_age: VALUE}", "queue.max_age"),
    ("latitude: 52.5,", "latitude: VALUE,", "site.latitude"),
    ("longitude: 13.4}", "longitude: VALUE}", "site.longitude"),
    ("timeout: 1.0", "timeout: VALUE", "buses[0].timeout"),
    ("quarantine_retry: 3600", "quarantine_retry: VALUE", "buses[0].quarantine_retry"),
    ("max_age: 10}", "max_age: VALUE}", "buses[0].gateway.max_age"),
    ("poll_interval: 5,", "poll_interval: VALUE,", "buses[0].devices[0].poll_interval"),
    (
        "asleep_poll_interval: 300}",
        "asleep_poll_interval: VALUE}",
        "buses[0].devices[0].asleep_poll_interval",
    ),
    ("deadband: {power: 5},", "deadband: {power: VALUE},", "buses[0].devices[0].deadband"),
]


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Exit code and standard error of `pv_collector.cli.main(args)`, the entry point of the process, run in
    a daemon thread of this one that must end within 30 s (a `run` that accepted the option would poll on,
    and is left behind)."""
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(list(args))), daemon=True)
    thread.start()
    thread.join(30)
    assert codes, f"pv-collector {' '.join(args)} did not end"
    return codes[0], capsys.readouterr().err


def check_one_line(option: str, command: str, code: int, stderr: str) -> None:
    assert code == 2, (command, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(option), lines
    assert "Traceback" not in stderr


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize(("old", "new", "option"), NUMERIC_OPTIONS, ids=[o[2] for o in NUMERIC_OPTIONS])
def test_every_numeric_option_must_be_finite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, old: str, new: str, option: str
) -> None:
    """`poll_interval: .nan` busy-looped at 78 % CPU, `stats_interval: .nan` crashed; every numeric option
    is finite and in range: exit code 2, one line naming the option, from `check` as from `run`."""
    text = CONFIG.replace(old, new.replace("VALUE", value))
    assert text != CONFIG
    path = write_config(tmp_path, text)
    for command in ("check", "run"):
        check_one_line(option, command, *in_process(capsys, command, "--config", str(path)))


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_non_finite_option_is_one_line_from_the_real_process(tmp_path: Path, command: str) -> None:
    """The matrix above, as a user sees it: `python -m pv_collector` with `poll_interval: .nan`."""
    old, new, option = next(o for o in NUMERIC_OPTIONS if o[2].endswith("poll_interval"))
    path = write_config(tmp_path, CONFIG.replace(old, new.replace("VALUE", ".nan")))
    result = pv_collector(command, "--config", str(path))
    check_one_line(option, command, result.returncode, result.stderr)


# ------------------------------------------------------------------ metrics port in use


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_metrics_port_in_use_is_one_line_naming_the_option(tmp_path: Path, busy_port: int) -> None:
    """A 55-line traceback before."""
    result = pv_collector("run", "--config", str(write_config(tmp_path, METRICS=busy_port)))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "level=error" in line]
    assert len(errors) == 1, result.stderr
    assert "metrics.port" in errors[0]
    assert str(busy_port) in errors[0]


# ------------------------------------------------------------------ unusable data folder


def _mount_read_only(folder: Path) -> bool:
    folder.mkdir()
    if os.geteuid() != 0:
        return False
    mount = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)]
    return subprocess.run(mount, capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize("kind", ["read_only", "a_file", "below_a_file"])
def test_an_unusable_data_folder_is_one_line_naming_it(tmp_path: Path, kind: str) -> None:
    """A traceback from `run`, and `check` said ok, before."""
    if kind == "read_only":
        mounted = tmp_path / "ro"
        if not _mount_read_only(mounted):
            pytest.skip("a read-only folder needs root here (a read-only tmpfs mount): root ignores modes")
        data = mounted / "data"
    elif kind == "a_file":
        data = tmp_path / "data"
        data.write_text("not a folder\n")
    else:
        (tmp_path / "file").write_text("not a folder\n")
        data = tmp_path / "file" / "data"
    try:
        path = write_config(tmp_path, DATA=data)
        for command in ("check", "run"):
            result = pv_collector(command, "--config", str(path))
            assert result.returncode == 2, (command, result.stdout, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, lines
            assert lines[0].startswith("data_dir:"), lines
            assert str(data) in lines[0]
            assert "Traceback" not in result.stderr
    finally:
        if kind == "read_only":
            subprocess.run(["umount", "-l", str(tmp_path / "ro")], check=False)


def test_check_output_into_a_closed_pipe_is_no_traceback(tmp_path: Path) -> None:
    """`pv-collector check | head` ended with a BrokenPipeError traceback (issue 15, section 7): the read
    plans of 480 devices are more than a pipe holds, so `head` closes it while check still writes."""
    devices = "\n".join(
        f"      - {{id: m{bus}x{unit}, unit_id: {unit}, profile: sdm630}}"
        for bus in (1, 2)
        for unit in range(1, 241)
    )
    buses = "".join(
        f"  - name: lan{bus}\n    type: tcp\n    host: 127.0.0.{bus}\n    devices:\n"
        + "\n".join(line for line in devices.splitlines() if f"m{bus}x" in line)
        + "\n"
        for bus in (1, 2)
    )
    path = write_config(tmp_path, CONFIG[: CONFIG.index("buses:")] + "buses:\n" + buses)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon/collector")}
    result = subprocess.run(
        f"'{sys.executable}' -m pv_collector check --config '{path}' | head -1",
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.stdout.startswith("configuration"), result.stdout
    assert result.stderr == "", result.stderr
