"""The add-on's s6-overlay v3 service: layout, the run script and the finish script, executed for real.

There is no container here: the scripts run under /bin/sh with the s6 paths they use pointed at a
temporary folder (`halt` is a stand-in that records its call).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pv_collector.addon.start import OPTIONS_FILE
from pv_collector.errors import ExitCode
from tests.addon.conftest import ADDON

S6 = ADDON / "rootfs" / "etc" / "s6-overlay" / "s6-rc.d"
SERVICE = S6 / "pv-collector"
RESULTS = "/run/s6-linux-init-container-results"
HALT = "/run/s6/basedir/bin/halt"


def commands(script: Path) -> list[str]:
    """The script's lines without comments and blank lines."""
    lines = script.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_service_layout() -> None:
    assert (SERVICE / "type").read_text().strip() == "longrun"
    assert (SERVICE / "dependencies.d" / "base").is_file()  # starts after the base bundle (cont-init done)
    assert (S6 / "user" / "contents.d" / "pv-collector").is_file()  # part of the user bundle: started at boot
    for script in ("run", "finish"):
        path = SERVICE / script
        assert os.access(path, os.X_OK), f"{script} must be executable"
        assert path.read_text().startswith("#!/command/with-contenv sh\n")  # with the container env (token)


def test_no_legacy_services_folder() -> None:
    """s6-overlay v3 only: nothing under the v2 folders (services.d, cont-init.d)."""
    assert not (ADDON / "rootfs" / "etc" / "services.d").exists()
    assert not (ADDON / "rootfs" / "etc" / "cont-init.d").exists()


def test_run_execs_the_start_step() -> None:
    assert commands(SERVICE / "run")[-1] == "exec python3 -m pv_collector.addon"


def test_run_script_starts_the_collector_start_step(tmp_path: Path) -> None:
    """Executed with `python3` on PATH, the run script becomes the start step (its exit code and log)."""
    if Path(OPTIONS_FILE).exists():
        pytest.skip(f"{OPTIONS_FILE} exists on this machine")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = bin_dir / "python3"  # the image's interpreter; here the venv's (a symlink would lose the venv)
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key != "SUPERVISOR_TOKEN"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    result = subprocess.run(
        ["/bin/sh", str(SERVICE / "run")], capture_output=True, text=True, env=env, timeout=60, check=False
    )

    assert result.returncode == ExitCode.INVALID_CONFIG
    assert f"{OPTIONS_FILE} does not exist" in result.stderr
    assert "Traceback" not in result.stderr


class Container:
    """The finish script with its s6 paths moved into a temporary folder."""

    def __init__(self, root: Path) -> None:
        self.results = root / "results"
        self.results.mkdir()
        self.halted = root / "halted"
        halt = root / "halt"
        halt.write_text(f"#!/bin/sh\necho halted > {self.halted}\n")
        halt.chmod(0o755)
        text = (SERVICE / "finish").read_text(encoding="utf-8")
        assert f"results={RESULTS}\n" in text
        assert f"halt={HALT}\n" in text
        self.script = root / "finish"
        self.script.write_text(text.replace(RESULTS, str(self.results)).replace(HALT, str(halt)))

    def set_exit_code(self, code: int) -> None:
        (self.results / "exitcode").write_text(f"{code}\n")

    @property
    def exit_code(self) -> str | None:
        path = self.results / "exitcode"
        return path.read_text().strip() if path.exists() else None

    def finish(self, service_code: int, signal: int = 0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/sh", str(self.script), str(service_code), str(signal)],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )


@pytest.fixture
def container(tmp_path: Path) -> Container:
    assert shutil.which("sh")
    return Container(tmp_path)


@pytest.mark.parametrize("code", [ExitCode.FAILED, ExitCode.INVALID_CONFIG, ExitCode.NO_BROKER])
def test_crash_halts_the_container_with_the_exit_code(container: Container, code: int) -> None:
    container.set_exit_code(0)

    result = container.finish(code)

    assert container.halted.exists()
    assert container.exit_code == str(code)
    assert f"exited with code {code}" in result.stderr


def test_clean_exit_halts_nothing(container: Container) -> None:
    container.set_exit_code(0)

    container.finish(0)

    assert not container.halted.exists()
    assert container.exit_code == "0"


def test_sigterm_halts_with_143(container: Container) -> None:
    container.set_exit_code(0)

    container.finish(256, 15)

    assert container.halted.exists()
    assert container.exit_code == "143"


def test_other_signal_lets_s6_restart_the_service(container: Container) -> None:
    container.set_exit_code(0)

    container.finish(256, 9)

    assert not container.halted.exists()  # s6-supervise restarts the longrun in place
    assert container.exit_code == "137"


def test_first_failure_code_is_kept(container: Container) -> None:
    container.set_exit_code(3)

    container.finish(1)

    assert container.halted.exists()
    assert container.exit_code == "3"


def test_missing_results_file_still_halts(container: Container) -> None:
    container.finish(4)

    assert container.halted.exists()
    assert container.exit_code == "4"


def test_finish_uses_the_base_image_paths() -> None:
    text = (SERVICE / "finish").read_text(encoding="utf-8")

    assert re.search(r'exec "\$\{halt\}"', text)
    assert RESULTS in text
    assert HALT in text
