"""Real peer processes for tests: a Mosquitto broker started on a free 127.0.0.1 port in a temporary
directory, and `wait_for_port` for any process the tests start."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[bytes] | None, what: str, *, within: float = 10.0
) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:`port` (a process the test started, before
    any event loop uses it). Raises `AssertionError` when `process` ends first or `within` seconds pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"{what} did not listen on {port} within {within:g} s")


@dataclass
class Mosquitto:
    """One broker process; `restart()` keeps port and persistence directory."""

    directory: Path
    port: int = field(default_factory=free_port)
    extra_config: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.directory / "mosquitto.conf"

    def write_config(self) -> None:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.directory}/",
            f"log_dest file {self.directory}/mosquitto.log",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n" + self.extra_config)

    def start(self, timeout: float = 10.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.write_config()
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_port(self.port, self.process, "mosquitto", within=timeout)
        except AssertionError as err:
            raise RuntimeError(f"{err}: {self.log()}") from None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""
